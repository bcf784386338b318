//! MaxMind's Python SDK (`geoip2` from PyPI) against ipintel over TLS, with a throwaway
//! certificate for 127.0.0.1 made by `openssl` for this test only.

use std::process::Command;

use crate::support::{eventually, Setup, TestServer};

fn make_certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maxmind_python_sdk_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_certificate(dir.path());
    let server = TestServer::with(Setup {
        toml: format!(
            "[tls]\ncert = {:?}\nkey = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
        dir: Some(dir),
        ..Default::default()
    })
    .await;
    // A free-plan account with one credit: one City lookup, then out of credits.
    let data = server.data_dir();
    let out = crate::support::ipintel_async(&[
        "--data-dir",
        data.to_str().unwrap(),
        "keys",
        "create",
        "--plan",
        "free",
        "--credits",
        "1",
        "--json",
    ])
    .await;
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let free_account = j["account_id"].as_u64().unwrap();
    let free_key = j["key"].as_str().unwrap().to_owned();
    assert!(eventually(3, || async { server.state.accounts.n_live_keys() == 2 }).await);

    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/geoip2_sdk.py");
    let host = server.addr.to_string();
    let (account, key) = (server.account_id.to_string(), server.key.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .args([host, account, key, free_account.to_string(), free_key])
            // The machine's defaults point at the system bundle; this test trusts only its CA.
            .env("REQUESTS_CA_BUNDLE", &cert)
            .env("SSL_CERT_FILE", &cert)
            .env_remove("CURL_CA_BUNDLE")
            .output()
            .expect("python3")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "geoip2 SDK checks failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    server.stop().await;
}
