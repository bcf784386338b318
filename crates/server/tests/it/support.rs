//! Test support: fixtures, a server on loopback, raw HTTP requests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipintel_core::geo::build::build_from_json;
use ipintel_server::app;
use ipintel_server::config::{Config, Overrides};
use ipintel_server::state::AppState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

/// (source file stem, database_type) of every fixture.
pub const FIXTURES: &[(&str, &str)] = &[
    ("GeoIP2-City", "GeoIP2-City"),
    ("GeoLite2-Country", "GeoLite2-Country"),
    ("GeoLite2-ASN", "GeoLite2-ASN"),
    ("GeoIP2-ISP", "GeoIP2-ISP"),
    ("GeoIP2-Connection-Type", "GeoIP2-Connection-Type"),
    ("GeoIP2-Domain", "GeoIP2-Domain"),
    ("GeoIP2-Anonymous-IP", "GeoIP2-Anonymous-IP"),
];

pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Build one fixture database from its JSON source into `dir`; returns its path.
pub fn build_fixture(dir: &Path, stem: &str) -> PathBuf {
    let (_, database_type) = FIXTURES
        .iter()
        .find(|(s, _)| *s == stem)
        .expect("known fixture");
    let out = dir.join(format!("{stem}.mmdb"));
    build_from_json(
        &source_dir().join(format!("{stem}.json")),
        database_type,
        &out,
    )
    .expect("fixture builds");
    out
}

/// Build fixtures into `dir` (all but Country unless named: City supersedes it).
pub fn build_fixtures(dir: &Path, stems: &[&str]) -> Vec<PathBuf> {
    stems.iter().map(|s| build_fixture(dir, s)).collect()
}

pub const STANDARD_SET: &[&str] = &[
    "GeoIP2-City",
    "GeoLite2-ASN",
    "GeoIP2-ISP",
    "GeoIP2-Connection-Type",
    "GeoIP2-Domain",
    "GeoIP2-Anonymous-IP",
];

pub struct TestServer {
    pub addr: SocketAddr,
    /// The whois front end (RIPE-style and IRRd queries).
    pub whois: SocketAddr,
    pub state: AppState,
    pub account_id: u64,
    pub key: String,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// How to configure a test server: extra TOML and environment on top of the defaults.
#[derive(Default)]
pub struct Setup {
    pub toml: String,
    pub mmdb: Option<Vec<PathBuf>>,
    pub dir: Option<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::with(Setup::default()).await
    }

    pub async fn with(setup: Setup) -> TestServer {
        let dir = setup.dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
        let mmdb = match setup.mmdb {
            Some(paths) => paths,
            None => build_fixtures(dir.path(), STANDARD_SET),
        };
        let config_file = dir.path().join("ipintel.toml");
        let mmdb_list: Vec<String> = mmdb
            .iter()
            .map(|p| format!("{:?}", p.display().to_string()))
            .collect();
        std::fs::write(
            &config_file,
            format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n{}\n[geoip]\nmmdb = [{}]\nreload_poll_secs = 1\n",
                dir.path().join("data").display().to_string(),
                setup.toml,
                mmdb_list.join(", ")
            ),
        )
        .unwrap();
        let config = Config::load(Some(&config_file), &BTreeMap::new(), &Overrides::default())
            .expect("test config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let started = app::start(config).await.expect("server starts");
        let bootstrap = started.bootstrap.expect("a fresh store creates an account");
        let state = started.state.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let http = app::http_front_end(&started.state, listener).expect("HTTP front end");
        let whois_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let whois = whois_listener.local_addr().unwrap();
        let whois_front = app::whois_front_end(&started.state, whois_listener);
        let task = tokio::spawn(app::run(started.state, vec![http, whois_front], async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            whois,
            state,
            account_id: bootstrap.account_id,
            key: bootstrap.key,
            dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `GET path` with this server's bootstrap credentials.
    pub async fn get(&self, path: &str) -> Response {
        self.get_as(path, self.account_id, &self.key, &[]).await
    }

    pub async fn get_as(
        &self,
        path: &str,
        account_id: u64,
        key: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let auth = basic(account_id, key);
        let mut all = vec![("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        request(self.addr, "GET", path, &all).await
    }

    /// Shut down gracefully (usage is flushed to the store) and hand back the directory,
    /// so a test can inspect what the server left behind.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn basic(account_id: u64, key: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{account_id}:{key}"))
    )
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The MaxMind error code of an error response.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// One request on a fresh connection, written byte for byte as given (the path is not
/// escaped), read until the server closes.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    raw(addr, head.as_bytes()).await
}

/// Send raw bytes, parse the response.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> Response {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    // Write while reading: a server may answer (and close) before taking a whole body.
    let bytes = bytes.to_vec();
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&bytes).await;
        writer
    });
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if !buf.is_empty() => {
                eprintln!("read ended with {e} after {} bytes", buf.len());
                break;
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    drop(writing.await);
    parse_response(&buf)
}

pub fn parse_response(buf: &[u8]) -> Response {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(buf)));
    let head = std::str::from_utf8(&buf[..split]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

/// Where a test's command would find the default data directory: a path that never exists,
/// so a test that forgets `--data-dir` fails instead of touching the user's real one.
pub fn no_default_data_dir() -> PathBuf {
    std::env::temp_dir().join("ipintel-tests-have-no-default-data-dir")
}

/// Run the real `ipintel` binary.
pub fn ipintel(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ipintel"))
        .args(args)
        .env_remove("IPINTEL_CONFIG")
        .env_remove("IPINTEL_DATA_DIR")
        .env("XDG_DATA_HOME", no_default_data_dir())
        // Tests run side by side: none takes the default whois port.
        .env("IPINTEL_WHOIS__LISTEN", "127.0.0.1:0")
        .output()
        .expect("run ipintel")
}

/// Run the real `ipintel` binary without blocking the runtime: a test's server runs on the
/// test's own runtime, and a blocked runtime could stall it mid-transaction while the
/// command waits for the store.
pub async fn ipintel_async(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ipintel"))
        .args(args)
        .env_remove("IPINTEL_CONFIG")
        .env_remove("IPINTEL_DATA_DIR")
        .env("XDG_DATA_HOME", no_default_data_dir())
        .output()
        .await
        .expect("run ipintel")
}

/// Wait (up to `secs`) for `check` to pass.
pub async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// Create an account with the real CLI against a running server's store: (account id, key).
pub async fn create_key(server: &TestServer, extra: &[&str]) -> (u64, String) {
    let data = server.data_dir();
    let mut args = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "keys",
        "create",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = ipintel_async(&args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    (
        j["account_id"].as_u64().unwrap(),
        j["key"].as_str().unwrap().to_owned(),
    )
}

/// Wait until the server knows `n` live keys (CLI changes arrive within 0.5 s).
pub async fn wait_for_keys(server: &TestServer, n: usize) {
    assert!(
        eventually(3, || async { server.state.accounts.n_live_keys() == n }).await,
        "the server did not pick up the new keys"
    );
}

/// Decode a chunked transfer-encoded body (streamed answers); panics on a cut-off body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .expect("hex chunk size");
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// POST a JSON (or any) body; the response.
pub async fn post_body(addr: SocketAddr, path: &str, body: &[u8]) -> Response {
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes).await
}

/// Import `file` into `source` through the real CLI and wait until the server serves it.
pub async fn import_registry(server: &TestServer, source: &str, file: &Path) {
    let data = server.data_dir();
    let out = ipintel_async(&[
        "--data-dir",
        data.to_str().unwrap(),
        "registry",
        "import",
        "--source",
        source,
        file.to_str().unwrap(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generation = server
        .state
        .registry
        .store()
        .registry_generation()
        .await
        .unwrap();
    assert!(
        eventually(10, || async {
            server.state.registry.current().generation == generation
        })
        .await,
        "the server loads the import"
    );
}

/// Kills a whole process group when dropped: a test's child and everything it started
/// (a browser driver, the browser) go with the test, pass or fail.
pub struct GroupGuard(pub i32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .status();
    }
}

/// What a guarded program printed, and whether it finished well within its time.
pub struct Guarded {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Run `program` with `args` in its own process group, output to files, for at most
/// `limit`; whatever it started is killed before this returns.
pub async fn run_guarded(program: &str, args: &[String], limit: std::time::Duration) -> Guarded {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut command = std::process::Command::new(program);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .process_group(0);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{program} cannot start: {e}"));
    let _group = GroupGuard(child.id() as i32);
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    drop(_group);
    let _ = child.wait();
    let mut stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    if status.is_none() {
        stderr.push_str(&format!(
            "\n[{program} did not finish within {limit:?} and was killed]"
        ));
    }
    Guarded {
        success: status.is_some_and(|s| s.success()),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr,
    }
}
