//! Several real `ipintel serve` processes on one PostgreSQL that the test starts itself
//! (`TestPostgres`: initdb into a temporary directory, pg_ctl on a loopback port, stopped
//! and removed when the test ends, pass or fail). Every process is killed by its guard.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ipintel_core::store::{PgLimits, Store, TestPostgres};
use serde_json::{json, Value};

use crate::support::{eventually, parse_response, post_body, Response};
use crate::tasks::{spawn_server_async_with, Process};

/// A PostgreSQL, a database on it, and a directory for the instances' configurations.
struct Cluster {
    pg: TestPostgres,
    url: String,
    dir: tempfile::TempDir,
    mmdb: PathBuf,
}

impl Cluster {
    async fn start(db: &str) -> Cluster {
        let pg = tokio::task::spawn_blocking(TestPostgres::start)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}"));
        let url = pg.create_database(db).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mmdb = crate::support::build_fixture(dir.path(), "GeoIP2-City");
        Cluster { pg, url, dir, mmdb }
    }

    /// The configuration of instance `name`: its own data directory, the shared store.
    fn config(&self, name: &str, extra: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\nusage_sync_ms = 200\n[store]\nurl = {:?}\n[geoip]\nmmdb = [{:?}]\n{extra}\n",
                self.dir.path().join(name).display().to_string(),
                self.url,
                self.mmdb.display().to_string()
            ),
        )
        .unwrap();
        path
    }

    /// Start `n` instances; the first one creates the store's first account.
    async fn instances(&self, n: usize, extra: &str) -> Vec<Process> {
        let mut out = Vec::new();
        for i in 0..n {
            let config = self.config(&format!("i{i}"), extra);
            out.push(spawn_server_async_with(&config, &["--whois-listen", "off"]).await);
        }
        out
    }

    async fn store(&self) -> Store {
        Store::open_postgres(&self.url, PgLimits::default())
            .await
            .unwrap()
    }

    /// `ipintel --store-url URL ARGS...` (the CLI on the shared store).
    async fn cli(&self, args: &[&str]) -> std::process::Output {
        let data = self.dir.path().join("cli");
        let mut all: Vec<String> = vec![
            "--store-url".into(),
            self.url.clone(),
            "--data-dir".into(),
            data.display().to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            crate::support::ipintel(&args)
        })
        .await
        .unwrap()
    }

    /// A new account: (id, key).
    async fn account(&self, args: &[&str]) -> (u64, String) {
        let mut all = vec!["keys", "create", "--json"];
        all.extend_from_slice(args);
        let out = self.cli(&all).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            j["account_id"].as_u64().unwrap(),
            j["key"].as_str().unwrap().to_owned(),
        )
    }
}

/// One GET; `None` when the instance cannot be reached (killed).
async fn try_get(addr: SocketAddr, path: &str, auth: &str) -> Option<Response> {
    attempt(addr, path, auth).await.ok()
}

/// Why a GET got no answer.
#[derive(Debug, PartialEq)]
enum NoAnswer {
    /// Nobody listens: the request never reached a server.
    Refused,
    /// Sent, and the connection was cut before an answer: a kill mid-request.
    Cut,
}

async fn attempt(addr: SocketAddr, path: &str, auth: &str) -> Result<Response, NoAnswer> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|_| NoAnswer::Refused)?;
    let exchange = async {
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: {auth}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await.ok()?;
        (!buf.is_empty()).then(|| parse_response(&buf))
    };
    match tokio::time::timeout(Duration::from_secs(30), exchange).await {
        Ok(Some(r)) => Ok(r),
        _ => Err(NoAnswer::Cut),
    }
}

/// SIGTERM, and wait: a clean shutdown (usage written, leases given back).
async fn terminate(process: &mut Process) {
    let pid = process.pid().to_string();
    let _ = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await;
    let _ = eventually(30, || async {
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z"))
                .unwrap_or(true)
    })
    .await;
    process.kill();
}

/// 64 clients spread over `addrs` spend `account`'s credits on city lookups until each is
/// refused; a client whose instance is gone moves to the next one. Returns the number of
/// answers and of requests that got no answer (cut by a kill: such a request may have been
/// charged). `kill_at`: a signal sent once that many answers arrived.
async fn race(
    addrs: &[SocketAddr],
    account: u64,
    key: &str,
    kill_at: Option<(u64, tokio::sync::oneshot::Sender<()>)>,
) -> (u64, u64) {
    let auth = crate::support::basic(account, key);
    let ok = Arc::new(AtomicU64::new(0));
    let cut = Arc::new(AtomicU64::new(0));
    let (kill_at, mut kill) = match kill_at {
        Some((at, tx)) => (at, Some(tx)),
        None => (u64::MAX, None),
    };
    let kill_signal = Arc::new(std::sync::Mutex::new(kill.take()));
    let mut clients = Vec::new();
    for client in 0..64usize {
        let (addrs, auth, ok, cut) = (addrs.to_vec(), auth.clone(), ok.clone(), cut.clone());
        let kill_signal = kill_signal.clone();
        clients.push(tokio::spawn(async move {
            let mut at = client % addrs.len();
            let mut misses = 0;
            loop {
                let r = match attempt(addrs[at], "/geoip/v2.1/city/81.2.69.160", &auth).await {
                    Ok(r) => r,
                    Err(why) => {
                        if why == NoAnswer::Cut {
                            cut.fetch_add(1, Ordering::SeqCst);
                        }
                        // Gone: the next instance.
                        at = (at + 1) % addrs.len();
                        misses += 1;
                        assert!(misses < 1000, "no instance answers");
                        continue;
                    }
                };
                match r.status {
                    200 => {
                        let n = ok.fetch_add(1, Ordering::SeqCst) + 1;
                        if n >= kill_at {
                            if let Some(tx) = kill_signal.lock().unwrap().take() {
                                let _ = tx.send(());
                            }
                        }
                    }
                    402 => {
                        assert_eq!(r.code(), "INSUFFICIENT_FUNDS");
                        return;
                    }
                    // The store is briefly busy: ask again.
                    503 => tokio::time::sleep(Duration::from_millis(20)).await,
                    other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&r.body)),
                }
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    (ok.load(Ordering::SeqCst), cut.load(Ordering::SeqCst))
}

async fn credits_used(store: &Store, account: u64) -> u64 {
    store
        .accounts()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.id == account)
        .unwrap()
        .credits_used
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credits_raced_across_instances_are_spent_exactly() {
    let cluster = Cluster::start("race").await;
    let mut instances = cluster.instances(3, "").await;
    let addrs: Vec<SocketAddr> = instances.iter().map(|p| p.addr).collect();
    let (account, key) = cluster
        .account(&["--plan", "pro", "--credits", "100"])
        .await;
    let (answered, cut) = race(&addrs, account, &key, None).await;
    assert_eq!(
        (answered, cut),
        (100, 0),
        "exactly the balance, across three instances"
    );
    let store = cluster.store().await;
    assert_eq!(credits_used(&store, account).await, 100);

    // A second account raced while one instance is SIGKILLed midway: never more than the
    // balance. Lost to the customer: what the dead instance had leased and not spent (one
    // lease, at most 1 + 99/16 = 7 here: docs/decisions.md), and the answers it had
    // charged but not sent when it died (at most one per request the kill cut).
    let (account, key) = cluster
        .account(&["--plan", "pro", "--credits", "100"])
        .await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut victim = instances.pop().unwrap();
    let killer = tokio::spawn(async move {
        if rx.await.is_ok() {
            victim.kill();
        }
        victim
    });
    let (answered, cut) = race(&addrs, account, &key, Some((30, tx))).await;
    let _victim = killer.await.unwrap();
    assert!(answered <= 100, "overspent: {answered}");
    assert!(
        answered + cut + 7 >= 100,
        "a crash stranded more than its lease: {answered} answered, {cut} cut"
    );
    assert_eq!(
        credits_used(&store, account).await,
        100,
        "everything leased counts"
    );

    // A clean stop gives an unspent lease back.
    let (account, key) = cluster
        .account(&["--plan", "pro", "--credits", "1000"])
        .await;
    let auth = crate::support::basic(account, &key);
    let r = try_get(addrs[0], "/geoip/v2.1/city/81.2.69.160", &auth)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(
        credits_used(&store, account).await > 1,
        "a block was leased"
    );
    terminate(&mut instances[0]).await;
    assert_eq!(credits_used(&store, account).await, 1, "the rest came back");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_registry_changes_reach_every_instance() {
    let cluster = Cluster::start("keys").await;
    let instances = cluster.instances(3, "[registry]\nrefresh_ms = 200\n").await;
    let (account, key) = cluster.account(&["--plan", "pro"]).await;
    let auth = crate::support::basic(account, &key);
    for p in &instances {
        // 10.0.0.1 is reserved: answered 400 without a charge, once the key is known.
        let r = try_get(p.addr, "/geoip/v2.1/city/10.0.0.1", &auth)
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    }
    let out = cluster.cli(&["keys", "revoke", &key]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Within a second every instance refuses it (they poll the store's revision).
    for p in &instances {
        let refused = eventually(1, || async {
            try_get(p.addr, "/geoip/v2.1/city/10.0.0.1", &auth)
                .await
                .is_some_and(|r| r.status == 401)
        })
        .await;
        assert!(refused, "instance {} still takes a revoked key", p.addr);
    }

    // A registry import by the CLI is served by every instance (each builds its own file).
    let dump = cluster.dir.path().join("test.db");
    std::fs::write(
        &dump,
        "mntner:         SHARED-MNT\ndescr:          one registry\nsource:         TEST\n\n",
    )
    .unwrap();
    let out = cluster
        .cli(&[
            "registry",
            "import",
            "--source",
            "TEST",
            dump.to_str().unwrap(),
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for p in &instances {
        let seen = eventually(20, || async {
            try_get(p.addr, "/test/mntner/SHARED-MNT", "none")
                .await
                .is_some_and(|r| r.status == 200)
        })
        .await;
        assert!(seen, "instance {} does not serve the import", p.addr);
    }
}

/// The bulk test zone: `dN.bulk.test` has one address; answers are held back a little so
/// a request lasts long enough to be shared and to be killed midway.
fn zone(name: &str, kind: hickory_proto::rr::RecordType) -> crate::zone::Answer {
    use crate::zone::Answer;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, RecordType};
    match (name, kind) {
        (n, RecordType::A) if n.ends_with(".bulk.test.") => {
            Answer::Records(vec![RData::A(A("81.2.69.161".parse().unwrap()))])
        }
        (n, _) if n.ends_with(".bulk.test.") => Answer::Records(vec![]),
        _ => Answer::NxDomain,
    }
}

async fn bulk_call(addr: SocketAddr, path: &str, body: &Value) -> Option<Response> {
    let (path, body) = (format!("/api/bgservice{path}"), body.to_string());
    // A killed instance refuses the connection: `post_body` panics in its task.
    tokio::spawn(async move { post_body(addr, &path, body.as_bytes()).await })
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_request_is_shared_by_every_instance_and_survives_a_kill() {
    let (dns, _) = crate::zone::serve_delayed(Duration::from_millis(5), zone).await;
    let cluster = Cluster::start("bulk").await;
    let extra = format!(
        "[tasks]\ndns_server = \"{dns}\"\n[bulk]\nchunk_terms = 250\nresolve_concurrency = 16\nchunk_lease_secs = 3\n"
    );
    let mut instances = cluster.instances(3, &extra).await;
    let key = instances[0]
        .key
        .clone()
        .expect("the first instance prints its key");
    let terms: Vec<String> = (0..20_000).map(|i| format!("d{i}.bulk.test")).collect();
    let r = bulk_call(
        instances[0].addr,
        "/request",
        &json!({"apiKey": key, "terms": terms, "format": "json"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["response"]["id"].as_u64().unwrap();
    let status = |addr: SocketAddr| {
        let key = key.clone();
        async move {
            bulk_call(
                addr,
                "/request/status",
                &json!({"apiKey": key, "ids": [id]}),
            )
            .await
            .map(|r| r.json()["response"][0].clone())
        }
    };
    let addr0 = instances[0].addr;
    let midway = eventually(60, || async {
        status(addr0)
            .await
            .is_some_and(|s| s["processed_terms"].as_u64().unwrap_or(0) >= 4000)
    })
    .await;
    assert!(midway, "the request made progress");
    // The instance that took the request is SIGKILLed: its lease and its chunk claims
    // are taken over by the others.
    let processed_at_kill = status(addr0).await.unwrap()["processed_terms"]
        .as_u64()
        .unwrap();
    assert!(processed_at_kill < 20_000, "killed before the end");
    instances[0].kill();
    let survivor = instances[1].addr;
    let done = eventually(120, || async {
        status(survivor).await.is_some_and(|s| s["ready"] == 1)
    })
    .await;
    assert!(done, "the request finished: {:?}", status(survivor).await);
    let s = status(survivor).await.unwrap();
    assert_eq!(
        (&s["processed_terms"], &s["failed_terms"]),
        (&json!(20_000), &json!(0)),
        "{s}"
    );
    let r = bulk_call(
        survivor,
        "/request/completed",
        &json!({"apiKey": key, "id": id}),
    )
    .await
    .unwrap();
    let lists = r.json()["response"].as_array().unwrap().clone();
    let got: Vec<&str> = lists
        .iter()
        .map(|l| l[0]["term"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = terms.iter().map(String::as_str).collect();
    assert_eq!(got.len(), 20_000, "every term exactly once");
    assert_eq!(got, want, "in request order");

    // Every instance worked on it: each counted processed terms in its metrics.
    for p in &instances[1..] {
        let processed = metric(p.addr, "ipintel_bulk_terms_total{outcome=\"processed\"}").await;
        assert!(processed > 0.0, "instance {} did no bulk work", p.addr);
    }
    // Paid once: 20,000 credits.
    let store = cluster.store().await;
    let bootstrap = store.accounts().await.unwrap()[0].id;
    assert_eq!(credits_used(&store, bootstrap).await, 20_000);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_load_loses_nothing_and_heals() {
    let mut cluster = Cluster::start("restart").await;
    let mut instances = cluster
        .instances(
            1,
            "[tasks]\nwhois_server = \"127.0.0.1:9\"\ntimeout_secs = 5\n",
        )
        .await;
    let addr = instances[0].addr;
    let (account, key) = cluster
        .account(&["--plan", "pro", "--credits", "100000"])
        .await;
    let auth = crate::support::basic(account, &key);
    // Four clients submit WHOIS tasks and look addresses up, without pause, while the
    // database is stopped and started: every answer is 200/201 (counted) or a 503 in the
    // dialect's own shape, never anything else.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (stop, answered, accepted, refused) = (
            stop.clone(),
            answered.clone(),
            accepted.clone(),
            refused.clone(),
        );
        let (key, auth) = (key.clone(), auth.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let r = crate::support::request(
                    addr,
                    "POST",
                    "/api/services/whois_lookups?IP=81.2.69.160",
                    &[("SEC", &key), ("Content-Length", "0")],
                )
                .await;
                match r.status {
                    201 => accepted
                        .lock()
                        .unwrap()
                        .push(r.header("location").unwrap().to_owned()),
                    503 => {
                        // QRadar's error shape.
                        assert_eq!(
                            r.json()["http_response"]["code"],
                            503,
                            "{}",
                            String::from_utf8_lossy(&r.body)
                        );
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                    other => panic!("task: {other} {}", String::from_utf8_lossy(&r.body)),
                }
                let r = try_get(addr, "/geoip/v2.1/city/81.2.69.160", &auth)
                    .await
                    .unwrap();
                match r.status {
                    200 => {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    503 => {
                        assert_eq!(r.code(), "SERVICE_UNAVAILABLE");
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                    other => panic!("lookup: {other} {}", String::from_utf8_lossy(&r.body)),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_stop = accepted.lock().unwrap().len();
    assert!(before_stop > 0, "tasks were accepted before the outage");
    tokio::task::block_in_place(|| cluster.pg.stop()).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = accepted.lock().unwrap().len();
    assert!(
        refused.load(Ordering::SeqCst) > 0,
        "the outage was answered 503"
    );
    tokio::task::block_in_place(|| cluster.pg.start_again()).unwrap();
    // The same process recovers: new connections replace the dead ones.
    let healed = eventually(30, || async { accepted.lock().unwrap().len() > during + 4 }).await;
    assert!(healed, "no recovery without a restart");
    stop.store(true, Ordering::SeqCst);
    for client in load {
        client.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    // Every accepted task is in the store and reaches an end (its whois server refuses).
    for location in &accepted {
        let finished = eventually(60, || async {
            let s = crate::support::request(addr, "GET", location, &[("SEC", &key)]).await;
            matches!(s.json()["status"].as_str(), Some("COMPLETED" | "EXCEPTION"))
        })
        .await;
        assert!(finished, "{location} never finished");
    }
    terminate(&mut instances[0]).await;
    // Charged once each, after a clean stop gave the unspent lease back: the accepted
    // tasks and the answered lookups, nothing for the refused calls.
    let store = cluster.store().await;
    assert_eq!(
        credits_used(&store, account).await,
        accepted.len() as u64 + answered.load(Ordering::SeqCst)
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_deployment_moves_to_postgres() {
    let cluster = Cluster::start("moved").await;
    // The embedded deployment: a server on SQLite with a key, a finished bulk request,
    // some spending and a registry source.
    let sqlite_config = cluster.dir.path().join("embedded.toml");
    let embedded_dir = cluster.dir.path().join("embedded");
    std::fs::write(
        &sqlite_config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n[geoip]\nmmdb = [{:?}]\n",
            embedded_dir.display().to_string(),
            cluster.mmdb.display().to_string()
        ),
    )
    .unwrap();
    let mut old = spawn_server_async_with(&sqlite_config, &["--whois-listen", "off"]).await;
    let key = old.key.clone().unwrap();
    let r = bulk_call(
        old.addr,
        "/request",
        &json!({"apiKey": key, "terms": ["81.2.69.160", "81.2.69.161", "not a term!"], "format": "json"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["response"]["id"].as_u64().unwrap();
    let ready = eventually(20, || async {
        bulk_call(
            old.addr,
            "/request/status",
            &json!({"apiKey": key, "ids": [id]}),
        )
        .await
        .is_some_and(|r| r.json()["response"][0]["ready"] == 1)
    })
    .await;
    assert!(ready);
    let completed_before = bulk_call(
        old.addr,
        "/request/completed",
        &json!({"apiKey": key, "id": id}),
    )
    .await
    .unwrap()
    .body;
    terminate(&mut old).await;
    let dump = cluster.dir.path().join("test.db");
    std::fs::write(&dump, "mntner: MOVED-MNT\nsource: TEST\n\n").unwrap();
    let data = embedded_dir.display().to_string();
    let out = crate::support::ipintel_async(&[
        "--data-dir",
        &data,
        "registry",
        "import",
        "--source",
        "TEST",
        dump.to_str().unwrap(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let from = format!("sqlite:{}", embedded_dir.join("ipintel.db").display());
    let copy = |to: String| {
        let from = from.clone();
        async move {
            crate::support::ipintel_async(&[
                "store", "copy", "--from", &from, "--to", &to, "--json",
            ])
            .await
        }
    };
    let out = copy(cluster.url.clone()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tables"]["accounts"], 1, "{report}");
    assert_eq!(report["tables"]["api_keys"], 1);
    assert_eq!(report["tables"]["jobs"], 1);
    assert_eq!(report["tables"]["registry_objects"], 1);
    // A second copy would mix two deployments: refused, nothing written.
    let again = copy(cluster.url.clone()).await;
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds 1 accounts"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let wrong = copy(from.clone()).await;
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--to must be a PostgreSQL"));

    // The server on PostgreSQL carries on: the same key, the same results and balance, the
    // registry, and new ids after the copied ones.
    let mut moved = cluster.instances(1, "").await;
    assert!(
        moved[0].key.is_none(),
        "no new account: the copied one is there"
    );
    let addr = moved[0].addr;
    let completed_after = bulk_call(
        addr,
        "/request/completed",
        &json!({"apiKey": key, "id": id}),
    )
    .await
    .unwrap()
    .body;
    assert_eq!(completed_after, completed_before);
    let r = try_get(addr, "/test/mntner/MOVED-MNT", "none").await;
    let served = eventually(20, || async {
        try_get(addr, "/test/mntner/MOVED-MNT", "none")
            .await
            .is_some_and(|r| r.status == 200)
    })
    .await;
    assert!(served, "{:?}", r.map(|r| r.status));
    let next = bulk_call(
        addr,
        "/request",
        &json!({"apiKey": key, "terms": ["81.2.69.160"]}),
    )
    .await
    .unwrap();
    assert_eq!(next.status, 200, "{}", String::from_utf8_lossy(&next.body));
    assert!(
        next.json()["response"]["id"].as_u64().unwrap() > id,
        "ids carry on"
    );
    terminate(&mut moved[0]).await;
    let store = cluster.store().await;
    let account = store.accounts().await.unwrap()[0].clone();
    assert_eq!(
        account.credits_used, 3,
        "two terms before the move, one after"
    );
    store.close().await;
}

/// `name`'s value in a Prometheus text page (0 when absent).
async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let Some(r) = try_get(addr, "/metrics", "none").await else {
        return 0.0;
    };
    String::from_utf8_lossy(&r.body)
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_follows_an_nrtm_source_and_another_takes_over() {
    let registry = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/registry");
    let upstream = crate::support::TestServer::with(crate::support::Setup {
        toml: "[whois]\nnrtm_clients = [\"127.0.0.1/32\"]\n[registry]\nrefresh_ms = 50\n".into(),
        ..Default::default()
    })
    .await;
    crate::support::import_registry(&upstream, "TEST", &registry.join("gen1.rpsl")).await;
    let cluster = Cluster::start("nrtm").await;
    let mirror = format!(
        "[registry]\nrefresh_ms = 100\n[[registry.mirrors]]\nsource = \"TEST\"\nnrtm = \"{}\"\ndump = {:?}\ndump_serial = 0\ninterval_secs = 1\ntimeout_secs = 2\n",
        upstream.whois,
        registry.join("gen1.rpsl").display().to_string()
    );
    let mut instances = cluster.instances(2, &mirror).await;
    let serves = |addr: SocketAddr, words: &'static str| async move {
        eventually(40, || async {
            try_get(addr, "/test/aut-num/AS64497", "none")
                .await
                .is_some_and(|r| {
                    r.status == 200 && String::from_utf8_lossy(&r.body).contains(words)
                })
        })
        .await
    };
    crate::support::import_registry(&upstream, "TEST", &registry.join("gen2.rpsl")).await;
    for p in &instances {
        assert!(
            serves(p.addr, "NEIGHBOUR-AS-RENAMED").await,
            "{} follows",
            p.addr
        );
    }
    // Exactly one of them applied the upstream's changes; the other built from the store.
    let applied = [
        metric(
            instances[0].addr,
            "ipintel_registry_mirror_operations_total",
        )
        .await,
        metric(
            instances[1].addr,
            "ipintel_registry_mirror_operations_total",
        )
        .await,
    ];
    assert_eq!(
        applied.iter().filter(|&&n| n > 0.0).count(),
        1,
        "one follower: {applied:?}"
    );
    let holder = if applied[0] > 0.0 { 0 } else { 1 };
    instances[holder].kill();
    let survivor = instances[1 - holder].addr;

    let third = cluster.dir.path().join("gen3.rpsl");
    std::fs::write(
        &third,
        std::fs::read_to_string(registry.join("gen2.rpsl"))
            .unwrap()
            .replace("NEIGHBOUR-AS-RENAMED", "NEIGHBOUR-AS-THIRD"),
    )
    .unwrap();
    crate::support::import_registry(&upstream, "TEST", &third).await;
    // Once the dead holder's lease runs out (at least 10 s), the survivor follows.
    assert!(
        serves(survivor, "NEIGHBOUR-AS-THIRD").await,
        "the survivor took over"
    );
    assert!(metric(survivor, "ipintel_registry_mirror_operations_total").await > 0.0);
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let out = crate::support::ipintel_async(&[
        "--store-url",
        "postgres://u:s3cret@127.0.0.1:1/x",
        "--data-dir",
        &data,
        "keys",
        "list",
    ])
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("opening store postgres://u:***@127.0.0.1:1/x"),
        "{err}"
    );
    assert!(err.contains("store unavailable"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    let out =
        crate::support::ipintel_async(&["--store-url", "mysql://u:s3cret@h/x", "keys", "list"])
            .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("store.url") && !err.contains("s3cret"),
        "{err}"
    );
}
