//! Keys made and revoked by the CLI while the server runs; plans; exact metering.

use crate::support::{create_key, eventually, TestServer};

#[tokio::test]
async fn cli_keys_take_effect_while_serving() {
    let server = TestServer::start().await;
    let (account, key) = create_key(&server, &["--plan", "free"]).await;
    let path = "/geoip/v2.1/city/81.2.69.165";
    assert!(
        eventually(3, || async {
            server.get_as(path, account, &key, &[]).await.status == 200
        })
        .await,
        "a key created by the CLI works without a restart"
    );
    // The free plan has no insights.
    let r = server
        .get_as("/geoip/v2.1/insights/81.2.69.165", account, &key, &[])
        .await;
    assert_eq!((r.status, r.code().as_str()), (402, "PERMISSION_REQUIRED"));
    // Free has a daily quota, so the answer says how much is left.
    let j = server.get_as(path, account, &key, &[]).await.json();
    let left = j["maxmind"]["queries_remaining"]
        .as_u64()
        .expect("queries_remaining");
    assert!(left < 1000, "{left}");

    let data = server.data_dir();
    let out = crate::support::ipintel_async(&[
        "--data-dir",
        data.to_str().unwrap(),
        "keys",
        "revoke",
        &key,
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        eventually(3, || async {
            server.get_as(path, account, &key, &[]).await.status == 401
        })
        .await,
        "a revoked key stops working without a restart"
    );
    let r = server.get_as(path, account, &key, &[]).await;
    assert_eq!(r.code(), "AUTHORIZATION_INVALID");
    let out = crate::support::ipintel_async(&[
        "--data-dir",
        data.to_str().unwrap(),
        "keys",
        "revoke",
        &key,
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "revoking twice is an error");
    server.stop().await;
}

#[tokio::test]
async fn concurrent_requests_never_overspend() {
    let server = TestServer::start().await;
    let (account, key) = create_key(&server, &["--plan", "pro", "--credits", "50"]).await;
    let path = "/geoip/v2.1/city/81.2.69.165";
    assert!(
        eventually(3, || async {
            server
                .get_as("/geoip/v2.1/city/10.0.0.1", account, &key, &[])
                .await
                .status
                == 400
        })
        .await
    );

    let mut tasks = Vec::new();
    for _ in 0..200 {
        let addr = server.addr;
        let auth = crate::support::basic(account, &key);
        tasks.push(tokio::spawn(async move {
            crate::support::request(addr, "GET", path, &[("Authorization", auth.as_str())]).await
        }));
    }
    let mut ok = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            200 => ok.push(r.json()["maxmind"]["queries_remaining"].as_u64().unwrap()),
            402 => {
                assert_eq!(r.code(), "INSUFFICIENT_FUNDS");
                refused += 1
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok.len(), 50, "exactly the balance succeeds");
    assert_eq!(refused, 150);
    ok.sort();
    assert_eq!(
        ok,
        (0..50).collect::<Vec<u64>>(),
        "each success saw a distinct remaining count"
    );

    // Errors are free: a reserved address costs nothing, and the ledger is written on stop.
    let dir = server.stop().await;
    let data = dir.path().join("data");
    let out = crate::support::ipintel_async(&[
        "--data-dir",
        data.to_str().unwrap(),
        "keys",
        "show",
        &account.to_string(),
        "--json",
    ])
    .await;
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["credits_used"], 50);
    assert_eq!(j["credits_granted"], 50);
    assert_eq!(j["used_today"], 50);
}

#[tokio::test]
async fn daily_quota_and_credit_top_up() {
    let server = TestServer::start().await;
    let (account, key) = create_key(&server, &["--plan", "lite", "--daily-quota", "3"]).await;
    let path = "/geoip/v2.1/country/81.2.69.165";
    assert!(
        eventually(3, || async {
            server.get_as(path, account, &key, &[]).await.status == 200
        })
        .await
    );
    let mut remaining = Vec::new();
    loop {
        let r = server.get_as(path, account, &key, &[]).await;
        if r.status != 200 {
            assert_eq!((r.status, r.code().as_str()), (402, "OUT_OF_QUERIES"));
            break;
        }
        remaining.push(r.json()["maxmind"]["queries_remaining"].as_u64().unwrap());
    }
    assert_eq!(
        remaining,
        vec![1, 0],
        "three queries a day: the first was spent above"
    );
    // Raising the quota with the CLI applies at once, keeping what was used today.
    let data = server.data_dir();
    let out = crate::support::ipintel_async(&[
        "--data-dir",
        data.to_str().unwrap(),
        "keys",
        "update",
        &account.to_string(),
        "--daily-quota",
        "5",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        eventually(3, || async {
            server.get_as(path, account, &key, &[]).await.status == 200
        })
        .await
    );
    let j = server.get_as(path, account, &key, &[]).await.json();
    assert_eq!(j["maxmind"]["queries_remaining"], 0);
    server.stop().await;
}
