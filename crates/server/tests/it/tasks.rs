//! QRadar network tasks on a durable job engine, against WHOIS servers and TCP listeners
//! that the tests run on 127.0.0.1. Nothing else is contacted.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{create_key, request, wait_for_keys, Response, Setup, TestServer};

/// A WHOIS server on loopback: answers every query with `answer` (after `delay`), or never
/// answers at all with `silent`.
pub async fn whois_server(answer: String, delay: Duration, silent: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 512];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let query = String::from_utf8_lossy(&buf[..n]).trim().to_owned();
                if silent {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                }
                tokio::time::sleep(delay).await;
                let _ = stream
                    .write_all(answer.replace("{query}", &query).as_bytes())
                    .await;
            });
        }
    });
    addr
}

async fn post(server: &TestServer, key: &str, path: &str) -> Response {
    request(
        server.addr,
        "POST",
        path,
        &[("SEC", key), ("Content-Length", "0")],
    )
    .await
}

async fn get(server: &TestServer, key: &str, path: &str) -> Response {
    request(server.addr, "GET", path, &[("SEC", key)]).await
}

/// Create a task (expecting 201) and wait until it is final; returns its JSON.
pub async fn run_task(server: &TestServer, key: &str, path: &str) -> serde_json::Value {
    let r = post(server, key, path).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    wait_final(server, key, r.header("location").unwrap()).await
}

/// Poll a task until it is final; returns its JSON.
pub async fn wait_final(server: &TestServer, key: &str, location: &str) -> serde_json::Value {
    for _ in 0..200 {
        let j = get(server, key, location).await.json();
        if matches!(
            j["status"].as_str(),
            Some("COMPLETED" | "EXCEPTION" | "CANCELLED")
        ) {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {location} did not finish");
}

fn tasks_toml(whois: SocketAddr, extra: &str) -> String {
    format!("[tasks]\nwhois_server = \"{whois}\"\ntimeout_secs = 2\n{extra}\n")
}

#[tokio::test]
async fn whois_follows_referrals_and_belongs_to_its_account() {
    let final_server = whois_server(
        "inetnum: 81.2.69.0 - 81.2.69.255\nnetname: EXAMPLE-{query}\n".into(),
        Duration::ZERO,
        false,
    )
    .await;
    let iana = whois_server(
        format!("% IANA WHOIS server\nrefer:        {final_server}\n"),
        Duration::ZERO,
        false,
    )
    .await;
    let server = TestServer::with(Setup {
        toml: tasks_toml(
            iana,
            &format!("whois_referral_hosts = [\"{final_server}\"]"),
        ),
        ..Default::default()
    })
    .await;

    let r = post(
        &server,
        &server.key,
        "/api/services/whois_lookups?IP=81.2.69.160",
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let created = r.json();
    let id = created["id"].as_u64().unwrap();
    assert_eq!(created["ip"], "81.2.69.160");
    assert!(
        matches!(created["status"].as_str(), Some("QUEUED" | "PROCESSING")),
        "{created}"
    );
    let location = r.header("location").unwrap().to_owned();
    assert_eq!(location, format!("/api/services/whois_lookups/{id}"));

    let done = wait_final(&server, &server.key, &location).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let message = done["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("% {iana}")) && message.contains(&format!("% {final_server}")),
        "{message}"
    );
    assert!(
        message.contains("netname: EXAMPLE-81.2.69.160"),
        "{message}"
    );

    let j = get(
        &server,
        &server.key,
        &format!("{location}?fields=id,status"),
    )
    .await
    .json();
    assert_eq!(j, serde_json::json!({"id": id, "status": "COMPLETED"}));

    // Another account cannot see it; unknown ids and kinds are 404/1002.
    let (_, other) = create_key(&server, &["--plan", "pro"]).await;
    wait_for_keys(&server, 2).await;
    for (key, path) in [
        (other.as_str(), location.clone()),
        (
            server.key.as_str(),
            "/api/services/whois_lookups/999999".to_owned(),
        ),
        (
            server.key.as_str(),
            "/api/services/whois_lookups/abc".to_owned(),
        ),
        (
            server.key.as_str(),
            format!("/api/services/port_scans/{id}"),
        ),
    ] {
        let r = get(&server, key, &path).await;
        assert_eq!(
            (r.status, r.json()["code"].as_u64()),
            (404, Some(1002)),
            "{path}"
        );
    }
    // Bad input and plans without tasks.
    let r = post(
        &server,
        &server.key,
        "/api/services/whois_lookups?IP=not-an-ip",
    )
    .await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (422, Some(1005)));
    let r = post(&server, &server.key, "/api/services/whois_lookups").await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (422, Some(1010)));
    let (_, free) = create_key(&server, &["--plan", "free"]).await;
    wait_for_keys(&server, 3).await;
    let r = post(&server, &free, "/api/services/whois_lookups?IP=81.2.69.160").await;
    assert_eq!(r.status, 402, "the free plan has no tasks");
    let r = post(
        &server,
        &server.key,
        "/api/services/nslookups?IP=81.2.69.160",
    )
    .await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (404, Some(1002)));
    server.stop().await;
}

#[tokio::test]
async fn whois_timeouts_and_size_limits() {
    let silent = whois_server(String::new(), Duration::ZERO, true).await;
    let server = TestServer::with(Setup {
        toml: tasks_toml(silent, ""),
        ..Default::default()
    })
    .await;
    let done = run_task(
        &server,
        &server.key,
        "/api/services/whois_lookups?IP=81.2.69.160",
    )
    .await;
    assert_eq!(done["status"], "EXCEPTION");
    assert!(
        done["message"].as_str().unwrap().contains("timed out"),
        "{done}"
    );
    server.stop().await;

    let huge = whois_server("x".repeat(100_000), Duration::ZERO, false).await;
    let server = TestServer::with(Setup {
        toml: format!("[tasks]\nwhois_server = \"{huge}\"\nwhois_max_bytes = 1000\n"),
        ..Default::default()
    })
    .await;
    let done = run_task(
        &server,
        &server.key,
        "/api/services/whois_lookups?IP=81.2.69.160",
    )
    .await;
    assert_eq!(done["status"], "COMPLETED");
    let message = done["message"].as_str().unwrap();
    assert!(
        message.contains("truncated") && message.len() < 1200,
        "{} bytes",
        message.len()
    );
    server.stop().await;
}

#[tokio::test]
async fn port_scans_are_off_by_default_and_fenced_when_on() {
    let server = TestServer::start().await;
    let r = post(
        &server,
        &server.key,
        "/api/services/port_scans?IP=127.0.0.1",
    )
    .await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (404, Some(1002)));
    server.stop().await;

    let open = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = TestServer::with(Setup {
        toml: format!(
            "[tasks.port_scan]\nenabled = true\nallowed_networks = [\"127.0.0.0/8\"]\nports = [{open_port}, {closed_port}]\nconnect_timeout_ms = 500\n"
        ),
        ..Default::default()
    })
    .await;
    let r = post(
        &server,
        &server.key,
        "/api/services/port_scans?IP=127.0.0.1",
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let done = wait_final(&server, &server.key, r.header("location").unwrap()).await;
    assert_eq!(done["status"], "COMPLETED");
    let message = done["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{open_port}/tcp open")),
        "{message}"
    );
    assert!(
        message.contains(&format!("{closed_port}/tcp closed")),
        "{message}"
    );
    // Outside the allow-list: refused before anything is sent.
    for ip in ["192.0.2.1", "::1"] {
        let r = post(
            &server,
            &server.key,
            &format!("/api/services/port_scans?IP={ip}"),
        )
        .await;
        assert_eq!(
            (r.status, r.json()["code"].as_u64()),
            (422, Some(1010)),
            "{ip}"
        );
        assert!(r.json()["message"].as_str().unwrap().contains("outside"));
    }
    drop(open);
    server.stop().await;
}

#[tokio::test]
async fn cancel_and_retention() {
    let slow = whois_server("slow answer\n".into(), Duration::from_millis(1500), false).await;
    let server = TestServer::with(Setup {
        toml: format!("[tasks]\nwhois_server = \"{slow}\"\ntimeout_secs = 5\nretention_secs = 1\n"),
        ..Default::default()
    })
    .await;
    let r = post(
        &server,
        &server.key,
        "/api/services/whois_lookups?IP=81.2.69.160",
    )
    .await;
    let location = r.header("location").unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = request(server.addr, "DELETE", &location, &[("SEC", &server.key)]).await;
    assert_eq!(r.status, 200);
    assert!(
        matches!(
            r.json()["status"].as_str(),
            Some("CANCEL_REQUESTED" | "CANCELLED")
        ),
        "{}",
        r.json()
    );
    let done = wait_final(&server, &server.key, &location).await;
    assert_eq!(
        done["status"], "CANCELLED",
        "a running task ends cancelled, its result dropped"
    );
    // Finished tasks are swept after the retention period.
    assert!(
        crate::support::eventually(6, || async {
            get(&server, &server.key, &location).await.status == 404
        })
        .await,
        "the finished task was not swept"
    );
    server.stop().await;
}

/// A real `ipintel serve` process; its address and (on first start) its key, read from stdout.
/// Killed when dropped, so a failing test leaves no server behind.
pub struct Process {
    child: std::process::Child,
    pub addr: SocketAddr,
    pub key: Option<String>,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no flush; returns once the process is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `spawn_server` off the async runtime's threads.
pub async fn spawn_server_async(config: &std::path::Path) -> Process {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || spawn_server(&config))
        .await
        .unwrap()
}

/// `spawn_server_with` off the async runtime's threads.
pub async fn spawn_server_async_with(config: &std::path::Path, args: &[&str]) -> Process {
    let config = config.to_owned();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        spawn_server_with(&config, &args)
    })
    .await
    .unwrap()
}

fn spawn_server(config: &std::path::Path) -> Process {
    spawn_server_with(config, &["--whois-listen", "off"])
}

/// `ipintel --config CONFIG serve ARGS...`.
pub fn spawn_server_with(config: &std::path::Path, args: &[&str]) -> Process {
    use std::io::BufRead;
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ipintel"))
        .arg("--config")
        .arg(config)
        .arg("serve")
        .args(args)
        .env("IPINTEL_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start ipintel");
    // Owned by a `Process` at once, so a panic below still kills it.
    let mut process = Process {
        child,
        addr: "0.0.0.0:0".parse().unwrap(),
        key: None,
    };
    let mut lines = std::io::BufReader::new(process.child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("ipintel printed its address").unwrap();
        if let Some(rest) = line.split(" with key ").nth(1) {
            process.key = Some(rest.trim().to_owned());
        }
        if let Some(at) = line.find("http://") {
            let addr = line[at + 7..]
                .split('/')
                .next()
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            process.addr = addr.parse().unwrap();
            return process;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_finishes_its_tasks_after_restart() {
    let slow = whois_server(
        "netname: SURVIVOR\n".into(),
        Duration::from_millis(2500),
        false,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mmdb = crate::support::build_fixture(dir.path(), "GeoIP2-City");
    let config = dir.path().join("ipintel.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n[geoip]\nmmdb = [{:?}]\n[tasks]\nwhois_server = \"{slow}\"\ntimeout_secs = 10\n",
            dir.path().join("data").display().to_string(),
            mmdb.display().to_string()
        ),
    )
    .unwrap();
    let first = tokio::task::spawn_blocking({
        let config = config.clone();
        move || spawn_server(&config)
    })
    .await
    .unwrap();
    let key = first.key.clone().expect("first start prints the key");
    let r = request(
        first.addr,
        "POST",
        "/api/services/whois_lookups?IP=81.2.69.160",
        &[("SEC", &key), ("Content-Length", "0")],
    )
    .await;
    assert_eq!(r.status, 201);
    let location = r.header("location").unwrap().to_owned();
    let running = crate::support::eventually(5, || async {
        request(first.addr, "GET", &location, &[("SEC", &key)])
            .await
            .json()["status"]
            == "PROCESSING"
    })
    .await;
    assert!(running, "the task started");
    let mut first = first;
    first.kill(); // SIGKILL: no shutdown, no flush.

    let second = tokio::task::spawn_blocking(move || spawn_server(&config))
        .await
        .unwrap();
    let mut done = serde_json::Value::Null;
    for _ in 0..200 {
        done = request(second.addr, "GET", &location, &[("SEC", &key)])
            .await
            .json();
        if done["status"] == "COMPLETED" || done["status"] == "EXCEPTION" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(second);
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .contains("netname: SURVIVOR"),
        "{done}"
    );
}

/// A DNS server on loopback answering from a small zone: 81.2.69.160 <-> host.example.,
/// 81.2.69.161 -> liar.example. (whose A record points elsewhere), 2001:218::1 <->
/// v6.example.; NXDOMAIN for anything else. Counts the questions it answers.
async fn dns_server() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
    use hickory_proto::rr::rdata::{A, AAAA, PTR};
    use hickory_proto::rr::{Name, RData, Record, RecordType};
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let answered = count.clone();
    let name = |s: &str| Name::from_ascii(s).unwrap();
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
            reply.metadata.recursion_desired = query.metadata.recursion_desired;
            reply.metadata.authoritative = true;
            let mut answers = Vec::new();
            for q in &query.queries {
                reply.add_query(q.clone());
                let qname = q.name().to_ascii().to_ascii_lowercase();
                let data = match (q.query_type(), qname.as_str()) {
                    (RecordType::PTR, "160.69.2.81.in-addr.arpa.") => {
                        Some(RData::PTR(PTR(name("host.example."))))
                    }
                    (RecordType::PTR, "161.69.2.81.in-addr.arpa.") => {
                        Some(RData::PTR(PTR(name("liar.example."))))
                    }
                    (RecordType::PTR, q)
                        if q.starts_with("1.0.0.0.")
                            && q.ends_with("8.1.2.0.1.0.0.2.ip6.arpa.") =>
                    {
                        Some(RData::PTR(PTR(name("v6.example."))))
                    }
                    (RecordType::A, "host.example.") => {
                        Some(RData::A(A("81.2.69.160".parse().unwrap())))
                    }
                    (RecordType::A, "liar.example.") => {
                        Some(RData::A(A("192.0.2.1".parse().unwrap())))
                    }
                    (RecordType::AAAA, "v6.example.") => {
                        Some(RData::AAAA(AAAA("2001:218::1".parse().unwrap())))
                    }
                    _ => None,
                };
                if let Some(data) = data {
                    answers.push(Record::from_rdata(q.name().clone(), 300, data));
                }
            }
            if answers.is_empty() {
                reply.metadata.response_code = ResponseCode::NXDomain;
            }
            reply.answers = answers;
            answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
        }
    });
    (addr, count)
}

#[tokio::test]
async fn dns_and_dig_against_a_loopback_server() {
    let (dns, answered) = dns_server().await;
    let server = TestServer::with(Setup {
        toml: format!("[tasks]\ndns_server = \"{dns}\"\ntimeout_secs = 2\n"),
        ..Default::default()
    })
    .await;
    let run = |kind: &'static str, ip: &'static str| {
        let server = &server;
        async move {
            let r = post(
                server,
                &server.key,
                &format!("/api/services/{kind}?IP={ip}"),
            )
            .await;
            assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
            wait_final(server, &server.key, r.header("location").unwrap()).await
        }
    };
    let j = run("dns_lookups", "81.2.69.160").await;
    assert_eq!(
        (j["status"].as_str(), j["message"].as_str()),
        (Some("COMPLETED"), Some("host.example. (confirmed)"))
    );
    let auth = format!("Bearer {}", server.key);
    let structured = request(
        server.addr,
        "GET",
        &format!("/v1/jobs/{}", j["id"]),
        &[("Authorization", auth.as_str())],
    )
    .await
    .json();
    assert_eq!(structured["kind"], "dns_lookup");
    assert_eq!(
        structured["result"]["names"],
        serde_json::json!([{"name": "host.example.", "confirmed": true}])
    );
    assert_eq!(structured["attempts"], 1);
    let j = run("dns_lookups", "81.2.69.161").await;
    assert_eq!(j["message"], "liar.example. (not confirmed)");
    let j = run("dns_lookups", "2001:218::1").await;
    assert_eq!(j["message"], "v6.example. (confirmed)");
    let j = run("dns_lookups", "81.2.69.162").await;
    assert_eq!(j["message"], "81.2.69.162 has no PTR record");
    assert!(
        answered.load(std::sync::atomic::Ordering::Relaxed) >= 7,
        "PTR and forward questions reached the server"
    );

    let j = run("dig_lookups", "81.2.69.160").await;
    assert_eq!(j["status"], "COMPLETED");
    let report = j["message"].as_str().unwrap();
    for expected in [
        "status: NOERROR",
        ";; QUESTION SECTION:",
        ";160.69.2.81.in-addr.arpa.",
        ";; ANSWER SECTION:",
        "160.69.2.81.in-addr.arpa.\t300\tIN\tPTR\thost.example.",
        &format!(";; SERVER: 127.0.0.1#{}", dns.port()),
    ] {
        assert!(
            report.contains(expected),
            "{expected:?} missing from\n{report}"
        );
    }
    let j = run("dig_lookups", "81.2.69.170").await;
    assert!(
        j["message"].as_str().unwrap().contains("status: NXDOMAIN"),
        "{}",
        j["message"]
    );
    server.stop().await;

    // A server that never answers: the task ends in EXCEPTION with the reason.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server = TestServer::with(Setup {
        toml: format!(
            "[tasks]\ndns_server = \"{}\"\ntimeout_secs = 1\n",
            silent.local_addr().unwrap()
        ),
        ..Default::default()
    })
    .await;
    let j = run_task(
        &server,
        &server.key,
        "/api/services/dns_lookups?IP=81.2.69.160",
    )
    .await;
    assert_eq!(j["status"], "EXCEPTION");
    assert!(j["message"].as_str().unwrap().contains("timed out"), "{j}");
    server.stop().await;
}

#[tokio::test]
async fn one_account_cannot_take_every_worker() {
    // Two workers, one turn per account; a slow WHOIS server holds each task 600 ms.
    let slow = whois_server("ok\n".into(), Duration::from_millis(600), false).await;
    let server = TestServer::with(Setup {
        toml: format!("[tasks]\nwhois_server = \"{slow}\"\nworkers = 2\nper_account = 1\n"),
        ..Default::default()
    })
    .await;
    let (_, other) = create_key(&server, &["--plan", "pro"]).await;
    wait_for_keys(&server, 2).await;
    let mut busy = Vec::new();
    for _ in 0..6 {
        let r = post(
            &server,
            &server.key,
            "/api/services/whois_lookups?IP=81.2.69.160",
        )
        .await;
        busy.push(r.header("location").unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = post(
        &server,
        &other,
        "/api/services/whois_lookups?IP=81.2.69.160",
    )
    .await;
    let other_task = r.header("location").unwrap().to_owned();
    // The busy account runs one task at a time (3.6 s for six); the other account's task
    // takes the second worker at once instead of waiting behind them.
    let done = wait_final(&server, &other, &other_task).await;
    assert_eq!(done["status"], "COMPLETED");
    let mut pending = 0;
    for l in &busy {
        if get(&server, &server.key, l).await.json()["status"] != "COMPLETED" {
            pending += 1;
        }
    }
    assert!(
        pending >= 3,
        "the other account waited behind the busy one ({pending} of 6 still pending)"
    );
    for l in &busy {
        assert_eq!(
            wait_final(&server, &server.key, l).await["status"],
            "COMPLETED"
        );
    }
    server.stop().await;
}
