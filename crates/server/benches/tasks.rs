//! Task throughput: queue 10,000 DNS lookup tasks, then let the server's runner (default
//! task settings) complete them against a DNS server on 127.0.0.1. Every task asks two
//! questions (PTR, then A) and makes three durable state changes (accepted, claimed, done).
//!
//! Run with `cargo bench -p ipintel --bench tasks`. `IPINTEL_BENCH_TASKS` sets the count.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use ipintel_core::jobs::{JobKind, JobStatus};
use ipintel_server::app;
use ipintel_server::config::{Config, Overrides};

/// Every PTR question gets `host.example.`, every A question 81.2.69.160.
async fn dns_server() -> std::net::SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
            for q in &query.queries {
                reply.add_query(q.clone());
                let data = match q.query_type() {
                    RecordType::PTR => RData::PTR(PTR(Name::from_ascii("host.example.").unwrap())),
                    _ => RData::A(A("81.2.69.160".parse().unwrap())),
                };
                reply
                    .answers
                    .push(Record::from_rdata(q.name().clone(), 60, data));
            }
            let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

fn main() {
    let n: u64 = std::env::var("IPINTEL_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dns = dns_server().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ipintel.toml");
        std::fs::write(
            &file,
            format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n[geoip]\nmmdb = []\n[tasks]\ndns_server = \"{dns}\"\n",
                dir.path().join("data").display().to_string()
            ),
        )
        .unwrap();
        let config = Config::load(Some(&file), &BTreeMap::new(), &Overrides::default()).unwrap();
        let started = app::start(config).await.unwrap();
        let account = started.bootstrap.as_ref().unwrap().account_id;
        let state = started.state.clone();
        let store = state.accounts.store().clone();

        let queued = Instant::now();
        for i in 0..n {
            let ip = format!("81.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
            store.insert_job(account, JobKind::DnsLookup, &ip).await.unwrap();
        }
        let queue_secs = queued.elapsed().as_secs_f64();
        println!("queued {n} tasks in {queue_secs:.2} s ({:.0} accepted/s)", n as f64 / queue_secs);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let http = app::http_front_end(&started.state, listener).unwrap();
        let run = tokio::spawn(app::run(started.state, vec![http], async {
            let _ = rx.await;
        }));
        let began = Instant::now();
        loop {
            let done = store.count_finished_jobs().await.unwrap();
            if done >= n {
                break;
            }
            assert!(began.elapsed() < Duration::from_secs(300), "only {done} of {n} tasks finished");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let secs = began.elapsed().as_secs_f64();
        println!("completed {n} DNS tasks in {secs:.2} s: {:.0} tasks/s (runner defaults: 16 workers, 8 per account)", n as f64 / secs);
        // Spot-check outcomes: completed, with the name the server gave (the forward record
        // points at 81.2.69.160, so other addresses are "not confirmed").
        for id in [1, n / 2, n] {
            let job = store.job(account, id).await.unwrap().unwrap();
            assert_eq!(job.status, JobStatus::Completed, "{job:?}");
            assert_eq!(job.message.as_deref(), Some("host.example. (not confirmed)"), "{job:?}");
        }
        let _ = tx.send(());
        run.await.unwrap().unwrap();
    });
}
