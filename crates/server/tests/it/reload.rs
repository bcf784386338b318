//! Replacing databases while requests run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::support::{build_fixture, request, Setup, TestServer};

/// A City database where 81.2.69.160/27 is Paris instead of London.
pub fn write_paris_city(dir: &std::path::Path, out: &std::path::Path) {
    let source =
        std::fs::read_to_string(crate::support::source_dir().join("GeoIP2-City.json")).unwrap();
    let changed = source.replace("\"en\": \"London\"", "\"en\": \"Paris\"");
    assert_ne!(changed, source);
    let src = dir.join("paris.json");
    std::fs::write(&src, changed).unwrap();
    ipintel_core::geo::build::build_from_json(&src, "GeoIP2-City", out).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_a_file_switches_answers_without_failures() {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("geoip");
    std::fs::create_dir_all(&db_dir).unwrap();
    let city = build_fixture(&db_dir, "GeoIP2-City");
    build_fixture(&db_dir, "GeoLite2-ASN");
    let server = TestServer::with(Setup {
        mmdb: Some(vec![db_dir.clone()]),
        dir: Some(dir),
        ..Default::default()
    })
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let paris_seen = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (stop, failures, paris_seen) = (stop.clone(), failures.clone(), paris_seen.clone());
        let addr = server.addr;
        let auth = crate::support::basic(server.account_id, &server.key);
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) && n < 20_000 {
                n += 1;
                let r = request(
                    addr,
                    "GET",
                    "/geoip/v2.1/city/81.2.69.165",
                    &[("Authorization", auth.as_str())],
                )
                .await;
                if r.status != 200 {
                    failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let j = r.json();
                if j["city"]["names"]["en"] == "Paris" {
                    paris_seen.fetch_add(1, Ordering::Relaxed);
                }
                // The merge never mixes generations into nonsense: ASN data is always there.
                if j["traits"]["autonomous_system_number"] != 64512 {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            n
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Replace the way geoipupdate does: write elsewhere, rename over.
    let staging = server.dir.path().join("staging.mmdb");
    write_paris_city(server.dir.path(), &staging);
    std::fs::rename(&staging, &city).unwrap();
    let switched =
        crate::support::eventually(10, || async { paris_seen.load(Ordering::Relaxed) > 50 }).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    assert!(switched, "answers switched to the new file");
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "no request failed during the reload ({total} requests)"
    );
    assert!(server.state.geo.snapshot().generation >= 2);
    server.stop().await;
}

#[tokio::test]
async fn a_broken_replacement_is_rejected_and_the_old_set_serves() {
    let dir = tempfile::tempdir().unwrap();
    let city = build_fixture(dir.path(), "GeoIP2-City");
    let server = TestServer::with(Setup {
        mmdb: Some(vec![city.clone()]),
        dir: Some(dir),
        toml: "[admin]\ntrust_loopback = true\n".into(),
    })
    .await;
    let good = std::fs::read(&city).unwrap();
    // Truncated: the metadata marker is gone.
    let staging = server.dir.path().join("broken.mmdb");
    std::fs::write(&staging, &good[..good.len() / 2]).unwrap();
    std::fs::rename(&staging, &city).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let r = server.get("/geoip/v2.1/city/81.2.69.165").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["city"]["names"]["en"], "London");
    assert_eq!(
        server.state.geo.snapshot().generation,
        1,
        "the broken file never served"
    );
    // The admin endpoint says why.
    let r = request(
        server.addr,
        "POST",
        "/admin/reload",
        &[("Content-Length", "0")],
    )
    .await;
    assert_eq!(r.status, 422);
    let text = String::from_utf8_lossy(&r.body);
    assert!(text.contains("GeoIP2-City.mmdb"), "names the file: {text}");
    // A good file again, then a forced reload.
    let staging = server.dir.path().join("good.mmdb");
    write_paris_city(server.dir.path(), &staging);
    std::fs::rename(&staging, &city).unwrap();
    let r = request(
        server.addr,
        "POST",
        "/admin/reload",
        &[("Content-Length", "0")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        server.get("/geoip/v2.1/city/81.2.69.165").await.json()["city"]["names"]["en"],
        "Paris"
    );
    server.stop().await;
}

#[tokio::test]
async fn admin_reload_needs_the_token_when_one_is_set() {
    let server = TestServer::with(Setup {
        toml: "[admin]\ntoken = \"s3cret\"\n".into(),
        ..Default::default()
    })
    .await;
    let r = request(
        server.addr,
        "POST",
        "/admin/reload",
        &[("Content-Length", "0")],
    )
    .await;
    assert_eq!(r.status, 403);
    let r = request(
        server.addr,
        "POST",
        "/admin/reload",
        &[("Content-Length", "0"), ("Authorization", "Bearer nope")],
    )
    .await;
    assert_eq!(r.status, 403);
    let r = request(
        server.addr,
        "POST",
        "/admin/reload",
        &[("Content-Length", "0"), ("Authorization", "Bearer s3cret")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(server.state.geo.snapshot().generation, 2);
    server.stop().await;
}
