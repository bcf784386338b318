//! Regressions for what issue 10 saw in a newcomer's first hour (`r10_*`): the index page,
//! error bodies in each dialect's format when the HTTP layer refuses, DB-IP's key status for
//! unlimited keys and its empty batch items.

use crate::support::{raw, request, TestServer};

#[tokio::test]
async fn r10_the_root_says_what_is_served() {
    let server = TestServer::start().await;
    let r = request(server.addr, "GET", "/", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8(r.body.clone()).unwrap();
    for want in [
        "GeoIP2-City",
        "GeoLite2-ASN",
        "/openapi.json",
        "/readyz",
        "/geoip/v2.1/",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    server.stop().await;
}

/// A body over `http.max_body_bytes` is refused before any handler, in the dialect's own
/// error shape; chunked bodies (no length up front) too.
#[tokio::test]
async fn r10_over_limit_bodies_get_the_dialects_error_body() {
    let server = TestServer::start().await;
    let key = server.key.clone();
    let over = 20_001;
    let v1 = raw(
        server.addr,
        format!(
            "POST /v1/batch HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {over}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(v1.status, 413);
    let j = v1.json();
    assert_eq!(j["error"]["code"], "body_too_large", "{j}");
    assert!(
        j["error"]["message"].as_str().unwrap().contains("20000"),
        "{j}"
    );

    let qradar = raw(
        server.addr,
        format!(
            "POST /api/services/whois_lookups?IP=81.2.69.160 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nSEC: {key}\r\nContent-Length: {over}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(qradar.status, 413);
    let j = qradar.json();
    assert_eq!(j["http_response"]["code"], 413, "{j}");
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .contains("http.max_body_bytes"),
        "{j}"
    );

    // Chunked: the limit applies as the body arrives.
    let chunk = "a".repeat(8192);
    let mut body = String::new();
    for _ in 0..4 {
        body.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    body.push_str("0\r\n\r\n");
    let chunked = raw(
        server.addr,
        format!(
            "POST /v1/batch HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: {key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(
        chunked.status,
        413,
        "{}",
        String::from_utf8_lossy(&chunked.body)
    );
    assert!(
        chunked.json()["error"]["code"].is_string(),
        "{}",
        String::from_utf8_lossy(&chunked.body)
    );
    // Elsewhere (no dialect) the refusal is plain text that says why.
    let admin = request(
        server.addr,
        "POST",
        "/admin/reload",
        &[("Content-Length", "20001")],
    )
    .await;
    assert_eq!(admin.status, 413);
    assert!(String::from_utf8_lossy(&admin.body).contains("at most 20000"));
    server.stop().await;
}

#[tokio::test]
async fn r10_dbip_key_status_and_empty_batch_items() {
    let server = TestServer::start().await;
    // The bootstrap key is on `pro`: no daily quota, no credit limit.
    let r = request(server.addr, "GET", &format!("/v2/{}", server.key), &[]).await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["queriesPerDay"], 4_294_967_295u64, "{j}");
    assert_eq!(j["queriesLeft"], 4_294_967_295u64, "{j}");
    assert_eq!(j["unlimited"], true, "{j}");

    for (list, position) in [
        ("81.2.69.160,,81.2.69.161", 2),
        (",81.2.69.160", 1),
        ("81.2.69.160,", 2),
    ] {
        let r = request(
            server.addr,
            "GET",
            &format!("/v2/{}/{list}", server.key),
            &[],
        )
        .await;
        assert_eq!(r.status, 400, "{list}");
        let j = r.json();
        assert_eq!(j["errorCode"], "INVALID_ADDRESS", "{j}");
        assert!(
            j["error"]
                .as_str()
                .unwrap()
                .contains(&format!("empty address at position {position}")),
            "{list}: {j}"
        );
    }
    server.stop().await;
}
