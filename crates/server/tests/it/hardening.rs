//! Regressions for the defects issue 9 found by probing a running server (`r9_*`): hostile
//! JSON, unfinished uploads, files changed under the server, admin and metrics access,
//! WHOIS referrals, DNS failures, file modes, and keys that work at once.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{
    build_fixture, create_key, eventually, parse_response, post_body, request, Setup, TestServer,
};
use crate::tasks::{run_task, whois_server};
use crate::zone::{self, Answer};

/// Defect 2: JSON that parses lexically but not as values, and other hostile JSON, is a
/// 400 in the bulk API's error body; nothing panics, the server keeps answering.
#[tokio::test]
async fn r9_hostile_json_is_a_400_never_a_panic() {
    let server = TestServer::start().await;
    let deep = "[".repeat(100_000);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("/api/bgservice/request", br#"{"apiKey":"\ud800"}"#.to_vec()),
        (
            "/api/bgservice/request",
            br#"{"apiKey":"\udfff\ud800","terms":["a"]}"#.to_vec(),
        ),
        (
            "/api/bgservice/request/status",
            br#"{"apiKey":"k","id":1e400}"#.to_vec(),
        ),
        (
            "/api/bgservice/request/status",
            br#"{"apiKey":"k","ids":[1e400, -1e999]}"#.to_vec(),
        ),
        (
            "/api/bgservice/request/list",
            br#"{"apiKey":"k","sort":"\ud800"}"#.to_vec(),
        ),
        (
            "/api/bgservice/request/list",
            br#"{"apiKey":"k","page":18446744073709551616}"#.to_vec(),
        ),
        (
            "/api/bgservice/request/completed",
            format!(r#"{{"apiKey":"k","id":{deep}"#).into_bytes(),
        ),
        (
            "/api/bgservice/request/failed",
            br#"{"apiKey":"k","terms":["\ud800"]}"#.to_vec(),
        ),
    ];
    for (path, body) in &cases {
        let r = post_body(server.addr, path, body).await;
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        assert!(
            matches!(r.status, 400 | 401),
            "{path} {shown}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        let j = r.json();
        assert!(
            j["response"]["errors"].is_array()
                || j["response"]["error"].is_string()
                || j["messages"].is_string()
                || j.is_object(),
            "{path} {shown}: {j}"
        );
    }
    // A lone surrogate in a member is named as such.
    let r = post_body(
        server.addr,
        "/api/bgservice/request",
        br#"{"apiKey":"\ud800"}"#,
    )
    .await;
    let text = r.json().to_string();
    assert!(text.contains("apiKey field is not valid JSON"), "{text}");
    assert_eq!(server.state.metrics.panics.get(), 0, "no handler panicked");
    assert_eq!(server.get("/healthz").await.status, 200);
    server.stop().await;
}

/// Open a connection from `local` (any 127.0.0.0/8 address), send a bulk request head that
/// declares 32 MiB and then `n` bytes of it, and keep the connection open.
async fn unfinished_upload(server: SocketAddr, local: &str, n: usize) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let head = "POST /api/bgservice/request HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 33554432\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut body = b"{\"apiKey\":\"none\",\"terms\":[\"".to_vec();
    body.resize(n, b'a');
    stream.write_all(&body).await.unwrap();
    stream
}

async fn read_response(stream: &mut tokio::net::TcpStream) -> crate::support::Response {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let read = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                // The refusal is small and ends the connection; read what follows.
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let Ok(n) = stream.try_read(&mut chunk) {
                    buf.extend_from_slice(&chunk[..n]);
                }
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer, not a hang");
    parse_response(&buf)
}

/// Defect 1: bodies that never finish hold only what they sent, within a total budget and a
/// per-client share; past either the client is told (503 / 429), and everything held is
/// given back when the connections close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r9_unfinished_uploads_cannot_take_the_servers_memory() {
    let server = TestServer::with(Setup {
        toml: "[http]\nbody_budget_bytes = 1048576\nbody_budget_per_client_bytes = 600000\n".into(),
        ..Default::default()
    })
    .await;
    let budget = server.state.body_budget.clone();
    let held = |n: u64| {
        let budget = budget.clone();
        async move { eventually(5, || async { budget.used() >= n }).await }
    };
    // One client holds 400 KB; the same client may not start another 400 KB.
    let first = unfinished_upload(server.addr, "127.0.0.1", 400_000).await;
    assert!(held(400_000).await, "the first upload is counted");
    let mut second = unfinished_upload(server.addr, "127.0.0.1", 400_000).await;
    let r = read_response(&mut second).await;
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(String::from_utf8_lossy(&r.body).contains("body_budget_per_client_bytes"));
    // Another client fits its share; a third address finds the total spent.
    let other = unfinished_upload(server.addr, "127.0.0.2", 400_000).await;
    assert!(held(800_000).await);
    let mut third = unfinished_upload(server.addr, "127.0.0.3", 400_000).await;
    let r = read_response(&mut third).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("body_budget_bytes"));
    assert!(server.state.body_budget.used() <= 1_048_576);
    // Closing the uploads gives everything back, and uploads work again.
    drop((first, other, second, third));
    assert!(
        eventually(5, || async { budget.used() == 0 }).await,
        "held {} after the clients left",
        budget.used()
    );
    let r = post_body(
        server.addr,
        "/api/bgservice/request",
        format!(r#"{{"apiKey":"{}","terms":["81.2.69.160"]}}"#, server.key).as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(server.state.metrics.body_budget_refusals.get() >= 2);
    server.stop().await;
}

/// Defects 3 and 6: overwriting or truncating the served file in place under load never
/// hurts a request; a rejected file is tried once, `/readyz` and the metric say the data is
/// stale, and a good rewrite in place serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r9_files_changed_in_place_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let city = build_fixture(dir.path(), "GeoIP2-City");
    let server = TestServer::with(Setup {
        mmdb: Some(vec![city.clone()]),
        dir: Some(dir),
        ..Default::default()
    })
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..3 {
        let (stop, failures) = (stop.clone(), failures.clone());
        let addr = server.addr;
        let auth = crate::support::basic(server.account_id, &server.key);
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = request(
                    addr,
                    "GET",
                    "/geoip/v2.1/city/81.2.69.165",
                    &[("Authorization", auth.as_str())],
                )
                .await;
                if r.status != 200 {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let good = std::fs::read(&city).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Truncate in place (same inode), then cut it to half in place.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&city)
        .unwrap()
        .set_len(0)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(&city, &good[..good.len() / 2]).unwrap();
    let failed = |state: &ipintel_server::state::AppState| {
        state
            .metrics
            .reloads
            .get_or_create(&ipintel_server::metrics::OutcomeLabel { outcome: "failed" })
            .get()
    };
    assert!(
        eventually(5, || async { failed(&server.state) >= 1 }).await,
        "the cut file was tried"
    );
    // It is not tried again while it stays as it is.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let tries = failed(&server.state);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        failed(&server.state),
        tries,
        "a rejected file is checked once"
    );
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, 200);
    let text = String::from_utf8_lossy(&ready.body).into_owned();
    assert!(text.starts_with("ready (stale)"), "{text}");
    assert_eq!(server.state.metrics.geo_stale.get(), 1);
    assert_eq!(server.state.geo.snapshot().generation, 1);
    // `cp new.mmdb served.mmdb`: rewritten in place with a good file.
    let staging = server.dir.path().join("paris.mmdb");
    crate::reload::write_paris_city(server.dir.path(), &staging);
    std::fs::copy(&staging, &city).unwrap();
    assert!(
        eventually(10, || async {
            server.get("/geoip/v2.1/city/81.2.69.165").await.json()["city"]["names"]["en"]
                == "Paris"
        })
        .await,
        "a good file rewritten in place serves"
    );
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0, "no request failed");
    let ready = server.get("/readyz").await;
    assert!(String::from_utf8_lossy(&ready.body).starts_with("ready: generation"));
    assert_eq!(server.state.metrics.geo_stale.get(), 0);
    server.stop().await;
}

/// Defect 4: loopback is not trusted unless configured; with a token, /metrics needs it.
#[tokio::test]
async fn r9_admin_and_metrics_access() {
    let reload = |addr, auth: Option<&'static str>| async move {
        let mut headers = vec![("Content-Length", "0")];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        request(addr, "POST", "/admin/reload", &headers)
            .await
            .status
    };
    let metrics = |addr, auth: Option<&'static str>| async move {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        request(addr, "GET", "/metrics", &headers).await.status
    };
    // Defaults: no token, loopback not trusted.
    let server = TestServer::start().await;
    assert_eq!(reload(server.addr, None).await, 403);
    assert_eq!(
        metrics(server.addr, None).await,
        200,
        "open without a token"
    );
    assert_eq!(server.state.geo.snapshot().generation, 1);
    server.stop().await;
    // A token guards both.
    let server = TestServer::with(Setup {
        toml: "[admin]\ntoken = \"s3cret\"\n".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(metrics(server.addr, None).await, 403);
    assert_eq!(metrics(server.addr, Some("Bearer nope")).await, 403);
    assert_eq!(metrics(server.addr, Some("Bearer s3cret")).await, 200);
    assert_eq!(reload(server.addr, Some("Bearer s3cret")).await, 200);
    server.stop().await;
    // Loopback trust only when asked for.
    let server = TestServer::with(Setup {
        toml: "[admin]\ntrust_loopback = true\n".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(reload(server.addr, None).await, 200);
    server.stop().await;
}

/// A WHOIS server on loopback that counts the connections it takes.
async fn counting_whois_server(answer: &'static str) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = [0u8; 512];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (addr, count)
}

/// Defect 5: a referral to a host and port the operator did not allow is not followed (and
/// the answer says so); an allowed host name is resolved by the configured DNS server.
#[tokio::test]
async fn r9_whois_referrals_go_only_where_allowed() {
    let (victim, contacted) = counting_whois_server("secret: internal service\n").await;
    let iana = whois_server(format!("% IANA\nrefer: {victim}\n"), Duration::ZERO, false).await;
    let (allowed, allowed_hits) = counting_whois_server("netname: ALLOWED\n").await;
    let by_name = whois_server(
        format!("% IANA\nrefer: Whois.Test.Example.:{}\n", allowed.port()),
        Duration::ZERO,
        false,
    )
    .await;
    let (dns, questions) = zone::serve(|name, kind| match (name, kind) {
        ("whois.test.example.", RecordType::A) => {
            Answer::Records(vec![RData::A(A("127.0.0.1".parse().unwrap()))])
        }
        ("whois.test.example.", _) => Answer::Records(vec![]),
        _ => Answer::NxDomain,
    })
    .await;
    // One WHOIS task through a server whose first WHOIS server is `first`; its message.
    let whois_through = |first: SocketAddr| async move {
        let server = TestServer::with(Setup {
            toml: format!(
                "[tasks]\nwhois_server = \"{first}\"\ndns_server = \"{dns}\"\ntimeout_secs = 2\nwhois_referral_hosts = [\"whois.test.example:{}\"]\n",
                allowed.port()
            ),
            ..Default::default()
        })
        .await;
        let done = run_task(
            &server,
            &server.key,
            "/api/services/whois_lookups?IP=81.2.69.160",
        )
        .await;
        assert_eq!(done["status"], "COMPLETED", "{done}");
        server.stop().await;
        done["message"].as_str().unwrap().to_owned()
    };
    let message = whois_through(iana).await;
    assert!(
        message.contains(&format!(
            "% referral to {victim} not followed: not in tasks.whois_referral_hosts"
        )),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");
    assert_eq!(
        contacted.load(Ordering::Relaxed),
        0,
        "the unlisted server was never contacted"
    );

    // The same allow-list, the first server refers by host name.
    let message = whois_through(by_name).await;
    assert!(
        message.contains(&format!(
            "% whois.test.example:{}\nnetname: ALLOWED",
            allowed.port()
        )),
        "{message}"
    );
    assert_eq!(allowed_hits.load(Ordering::Relaxed), 1);
    assert!(
        questions.load(Ordering::Relaxed) >= 1,
        "resolved by the configured server"
    );
}

/// Defect 7: SERVFAIL and malformed answers are errors that say so, not "no PTR record";
/// a PTR answer with 156 names costs at most ten forward questions.
#[tokio::test]
async fn r9_dns_failures_are_named_and_forward_checks_capped() {
    let forward = Arc::new(AtomicU64::new(0));
    let counted = forward.clone();
    let (dns, _) = zone::serve(move |name, kind| match (name, kind) {
        ("162.69.2.81.in-addr.arpa.", RecordType::PTR) => Answer::Code(ResponseCode::ServFail),
        ("164.69.2.81.in-addr.arpa.", RecordType::PTR) => Answer::Malformed,
        ("163.69.2.81.in-addr.arpa.", RecordType::PTR) => Answer::Records(
            (0..156)
                .map(|n| RData::PTR(PTR(Name::from_ascii(format!("n{n}.flood.test.")).unwrap())))
                .collect(),
        ),
        (n, RecordType::A) if n.ends_with(".flood.test.") => {
            counted.fetch_add(1, Ordering::Relaxed);
            Answer::Records(vec![RData::A(A("81.2.69.163".parse().unwrap()))])
        }
        _ => Answer::NxDomain,
    })
    .await;
    let server = TestServer::with(Setup {
        toml: format!("[tasks]\ndns_server = \"{dns}\"\ntimeout_secs = 2\n"),
        ..Default::default()
    })
    .await;
    let done = run_task(
        &server,
        &server.key,
        "/api/services/dns_lookups?IP=81.2.69.162",
    )
    .await;
    assert_eq!(done["status"], "EXCEPTION", "{done}");
    let message = done["message"].as_str().unwrap_or_default();
    assert!(message.contains("SERVFAIL"), "{done}");
    let done = run_task(
        &server,
        &server.key,
        "/api/services/dns_lookups?IP=81.2.69.164",
    )
    .await;
    assert_eq!(done["status"], "EXCEPTION", "{done}");
    assert!(
        done["message"]
            .as_str()
            .unwrap_or_default()
            .contains("malformed answer"),
        "{done}"
    );
    let done = run_task(
        &server,
        &server.key,
        "/api/services/dns_lookups?IP=81.2.69.163",
    )
    .await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let message = done["message"].as_str().unwrap();
    assert_eq!(message.lines().count(), 156);
    assert_eq!(message.matches("(confirmed)").count(), 10, "{message}");
    assert_eq!(message.matches("(not checked").count(), 146);
    assert_eq!(
        forward.load(Ordering::Relaxed),
        10,
        "ten forward questions, not 156"
    );
    // The NXDOMAIN case is still "no PTR record".
    let done = run_task(
        &server,
        &server.key,
        "/api/services/dns_lookups?IP=81.2.69.165",
    )
    .await;
    assert_eq!(done["message"], "81.2.69.165 has no PTR record", "{done}");
    server.stop().await;
}

/// Defect 8: the data directory and the store are the owner's only.
#[tokio::test]
async fn r9_store_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    let server = TestServer::with(Setup {
        dir: Some(dir),
        toml: String::new(),
        mmdb: None,
    })
    .await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let data = server.data_dir();
    assert_eq!(mode(&data), 0o700, "{}", data.display());
    for file in ["ipintel.db", "ipintel.db-wal", "ipintel.db-shm"] {
        let path = data.join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    assert!(data.join("ipintel.db").exists());
    // The CLI creating a fresh store does the same, parents included.
    let out = crate::support::ipintel_async(&[
        "--data-dir",
        nested.to_str().unwrap(),
        "--create",
        "keys",
        "create",
        "--json",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&nested), 0o700);
    assert_eq!(mode(&nested.join("ipintel.db")), 0o600);
    server.stop().await;
}

/// Defect 9: a key made by `ipintel keys create` works on the very next request; wrong keys
/// are still refused, and revocation still takes effect within a second.
#[tokio::test]
async fn r9_a_new_key_works_at_once() {
    let server = TestServer::start().await;
    let (account, key) = create_key(&server, &["--plan", "pro"]).await;
    let path = "/geoip/v2.1/city/81.2.69.165";
    let r = server.get_as(path, account, &key, &[]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Every dialect: DB-IP puts the key in the path.
    let (_, key2) = create_key(&server, &["--plan", "pro"]).await;
    let r = request(server.addr, "GET", &format!("/v2/{key2}/81.2.69.165"), &[]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    for _ in 0..50 {
        let r = server
            .get_as(
                path,
                account,
                "ipk_000000000000000000000000000000000000",
                &[],
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let data = server.data_dir();
    let out = crate::support::ipintel_async(&[
        "--data-dir",
        data.to_str().unwrap(),
        "keys",
        "revoke",
        &key,
    ])
    .await;
    assert!(out.status.success());
    assert!(
        eventually(1, || async {
            server.get_as(path, account, &key, &[]).await.status == 401
        })
        .await,
        "revocation within a second"
    );
    server.stop().await;
}

/// One request path: with no database loaded every dialect answers 503 in its own shape
/// (QRadar used to answer 404), and nothing is charged.
#[tokio::test]
async fn r9_no_database_is_unavailable_in_every_dialect() {
    let server = TestServer::with(Setup {
        mmdb: Some(vec![]),
        ..Default::default()
    })
    .await;
    let (account, key) = create_key(&server, &["--plan", "pro", "--credits", "10"]).await;
    let basic = crate::support::basic(account, &key);
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/geoip/v2.1/city/81.2.69.160".into(),
            vec![("Authorization", basic.as_str())],
        ),
        (format!("/v2/{key}/81.2.69.160"), vec![]),
        (
            "/api/services/geolocations?filter=ip_address%3D%2281.2.69.160%22".into(),
            vec![("SEC", key.as_str())],
        ),
        (
            "/v1/ip/81.2.69.160".into(),
            vec![("X-API-Key", key.as_str())],
        ),
    ];
    for (path, headers) in &cases {
        let r = request(server.addr, "GET", path, headers).await;
        assert_eq!(
            r.status,
            503,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.json().is_object(), "{path}: the dialect's error body");
    }
    let meter = server.state.accounts.meter(account).unwrap();
    let left = meter.remaining(std::time::SystemTime::now());
    assert_eq!(left.credits, Some(10), "nothing was charged");
    server.stop().await;
}

/// Front ends as listeners: the shared accept loop caps connections per client address
/// (others still get in) and counts them by front end.
#[tokio::test]
async fn r9_connections_are_capped_per_client() {
    let server = TestServer::with(Setup {
        toml: "[http]\nmax_connections_per_client = 3\n".into(),
        ..Default::default()
    })
    .await;
    let connect = |local: &'static str| {
        let addr = server.addr;
        async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
            socket.connect(addr).await.unwrap()
        }
    };
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect("127.0.0.1").await);
    }
    let open = |n: i64| {
        let metrics = server.state.metrics.clone();
        async move {
            eventually(5, || async {
                metrics
                    .open_connections
                    .get_or_create(&ipintel_server::metrics::FrontEndLabel { front_end: "http" })
                    .get()
                    == n
            })
            .await
        }
    };
    assert!(open(3).await, "three connections open");
    // The fourth from the same address is closed at once, unanswered.
    let mut fourth = connect("127.0.0.1").await;
    let _ = fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), fourth.read(&mut buf))
        .await
        .expect("closed, not left hanging")
        .unwrap_or(0);
    assert_eq!(n, 0, "refused");
    // Another address is served.
    let mut other = connect("127.0.0.2").await;
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    other.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let refused = server
        .state
        .metrics
        .connections
        .get_or_create(&ipintel_server::metrics::ConnectionLabels {
            front_end: "http",
            outcome: "refused_client",
        })
        .get();
    assert_eq!(refused, 1);
    // Closing gives the slots back.
    drop(held);
    assert!(open(0).await, "slots given back");
    assert_eq!(server.get("/healthz").await.status, 200);
    server.stop().await;
}
