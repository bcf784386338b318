//! Regressions for the stalls and losses issue 19 found (`r19_*`): a full disk, one request
//! that stalls every other, password guessing, an import that blocks other writers, whois
//! answers without a memory budget.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use crate::support::{create_key, post_body, wait_for_keys, Setup, TestServer};

/// A small tmpfs mounted for one test, unmounted when the guard goes (pass or fail).
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("mount(8) runs (Debian package mount)");
        assert!(
            out.status.success(),
            "this test mounts a {size} tmpfs to fill a disk for real and needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs {
            path: path.to_owned(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// Write zeros into `path` until the file system says it is full.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&block) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
                break;
            }
        }
    }
    // The last partial page, byte by byte, so not even a small write fits.
    while file.write(&[0]).map(|n| n == 1).unwrap_or(false) {
        written += 1;
    }
    written
}

fn terms(n: usize, salt: u32) -> Vec<String> {
    (0..n)
        .map(|i| {
            let v = (i as u32).wrapping_mul(2654435761).wrapping_add(salt);
            format!("81.{}.{}.{}", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff)
        })
        .collect()
}

/// Defect 1. A full disk while bulk requests are submitted: every submission the store
/// cannot hold is refused with 503 in the bulk API's own error shape; lookups that need no
/// store keep answering; once space returns the server recovers by itself; and everything
/// acknowledged (requests and the usage counted meanwhile) is in the store after a clean
/// stop, as a separate process reads it.
#[tokio::test]
async fn r19_full_disk_refuses_writes_and_loses_nothing_acknowledged() {
    let outer = tempfile::tempdir().unwrap();
    let disk = outer.path().join("disk");
    let _tmpfs = Tmpfs::mount(&disk, "24m");
    let dir = tempfile::tempdir_in(&disk).unwrap();
    let server = TestServer::with(Setup {
        dir: Some(dir),
        toml: "[bulk]\nchunk_terms = 200\n".into(),
        ..Default::default()
    })
    .await;
    let (account, key) = create_key(&server, &["--plan", "pro", "--credits", "10000000"]).await;
    wait_for_keys(&server, 2).await;
    let submit = |salt: u32| {
        let key = key.clone();
        let addr = server.addr;
        async move {
            let body = json!({"apiKey": key, "terms": terms(3000, salt)}).to_string();
            post_body(addr, "/api/bgservice/request", body.as_bytes()).await
        }
    };
    let lookup = || {
        let auth = crate::support::basic(account, &key);
        let addr = server.addr;
        async move {
            crate::support::request(
                addr,
                "GET",
                "/geoip/v2.1/city/81.2.69.160",
                &[("Authorization", auth.as_str())],
            )
            .await
        }
    };
    let first = submit(0).await;
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let mut acknowledged = vec![first.json()["response"]["id"].clone()];

    let filler = disk.join("filler");
    fill(&filler);
    // Keep submitting until the store runs out of room (its WAL may have room for a few).
    let mut refused = None;
    for salt in 1..60 {
        let r = submit(salt).await;
        match r.status {
            200 => acknowledged.push(r.json()["response"]["id"].clone()),
            503 => {
                refused = Some(r);
                break;
            }
            other => panic!(
                "a full disk gave {other}: {}",
                String::from_utf8_lossy(&r.body)
            ),
        }
        // Lookups count usage in memory; its flush fails while the disk is full.
        assert_eq!(lookup().await.status, 200);
    }
    let refused = refused.expect("a full disk refuses a submission");
    let body = refused.json();
    assert!(
        body["response"]["error"].is_string(),
        "the bulk API's error body: {body}"
    );
    // More submissions while full, each refused or stored (never a 500), and lookups
    // that need no store keep answering.
    for salt in 100..130 {
        let r = submit(salt).await;
        match r.status {
            200 => acknowledged.push(r.json()["response"]["id"].clone()),
            503 => {}
            other => panic!("{other}: {}", String::from_utf8_lossy(&r.body)),
        }
        assert_eq!(lookup().await.status, 200);
    }
    assert_eq!(
        server.get("/readyz").await.status,
        200,
        "readiness is the databases'"
    );

    std::fs::remove_file(&filler).unwrap();
    // Recovery by itself, and every later acknowledgement is a stored request.
    let start = Instant::now();
    loop {
        let r = submit(1000).await;
        if r.status == 200 {
            acknowledged.push(r.json()["response"]["id"].clone());
            break;
        }
        assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the store recovers once space returns"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for salt in 1001..1006 {
        let r = submit(salt).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        acknowledged.push(r.json()["response"]["id"].clone());
        assert_eq!(lookup().await.status, 200);
    }
    // Every acknowledged request is listed by the store and runs to its end.
    let ids: Vec<u64> = acknowledged.iter().map(|v| v.as_u64().unwrap()).collect();
    let all_done = crate::support::eventually(30, || {
        let key = key.clone();
        let ids = ids.clone();
        let addr = server.addr;
        async move {
            let body = json!({"apiKey": key, "ids": ids}).to_string();
            let r = post_body(addr, "/api/bgservice/request/status", body.as_bytes()).await;
            if r.status != 200 {
                return false;
            }
            let listed = r.json()["response"].as_array().cloned().unwrap_or_default();
            listed.len() == ids.len() && listed.iter().all(|q| q["ready"] == 1)
        }
    })
    .await;
    assert!(
        all_done,
        "every acknowledged request is stored and finishes"
    );

    let meter = server.state.accounts.meter(account).unwrap();
    let remaining = meter.remaining(SystemTime::now()).credits.unwrap();
    let dir = server.stop().await;
    // What a separate process finds in the store is exactly what was spent.
    let out = crate::support::ipintel_async(&[
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
        "keys",
        "show",
        &account.to_string(),
        "--json",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let used = shown["credits_used"].as_u64().expect("credits_used");
    assert_eq!(
        used,
        10_000_000 - remaining,
        "usage acknowledged in memory is in the store: {shown}"
    );
    drop(dir);
}
