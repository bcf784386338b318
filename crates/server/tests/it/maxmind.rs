//! The MaxMind GeoIP2 web-service dialect, against generated fixtures.

use crate::support::{basic, request, Setup, TestServer};

#[tokio::test]
async fn city_merges_every_database() {
    let server = TestServer::start().await;
    let r = server.get("/geoip/v2.1/city/81.2.69.165").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.maxmind.com-city+json; charset=UTF-8; version=2.1")
    );
    assert_eq!(
        r.header("content-length")
            .map(|v| v.parse::<usize>().unwrap()),
        Some(r.body.len())
    );
    let j = r.json();
    assert_eq!(j["city"]["names"]["en"], "London");
    assert_eq!(j["city"]["names"]["ru"], "Лондон");
    assert_eq!(
        j["country"]["names"].as_object().unwrap().len(),
        8,
        "all locales pass through"
    );
    assert_eq!(j["country"]["iso_code"], "GB");
    assert_eq!(j["registered_country"]["iso_code"], "US");
    assert_eq!(j["subdivisions"][0]["iso_code"], "ENG");
    assert_eq!(j["subdivisions"][1]["iso_code"], "WBK");
    assert_eq!(j["location"]["latitude"], 51.5142);
    assert_eq!(j["location"]["accuracy_radius"], 100);
    assert_eq!(j["postal"]["code"], "EC2V");
    // Insights-only fields stay out of City.
    assert!(j["city"].get("confidence").is_none());
    assert!(j["postal"].get("confidence").is_none());
    assert!(j["location"].get("population_density").is_none());
    assert!(j.get("anonymizer").is_none());
    // ISP wins over ASN for the AS fields; CT and ISP merge in.
    let t = &j["traits"];
    assert_eq!(t["autonomous_system_number"], 20712);
    assert_eq!(t["autonomous_system_organization"], "Andrews & Arnold Ltd");
    assert_eq!(t["isp"], "Andrews & Arnold Ltd");
    assert_eq!(t["organization"], "STONEHAM");
    assert_eq!(t["connection_type"], "Cable/DSL");
    assert_eq!(t["ip_address"], "81.2.69.165");
    // City /27, ISP /29, ASN /24, CT /27, Anonymous /24: the narrowest wins.
    assert_eq!(t["network"], "81.2.69.160/29");
    assert!(
        t.get("is_anonymous").is_none(),
        "anonymity is Insights only"
    );
    // The bootstrap account is on pro: unlimited, so no `maxmind` object.
    assert!(j.get("maxmind").is_none());
    // Omission rule: nothing null or empty anywhere.
    assert_no_empty(&j);
    server.stop().await;
}

fn assert_no_empty(v: &serde_json::Value) {
    match v {
        serde_json::Value::Null => panic!("null in response"),
        serde_json::Value::Object(m) => {
            assert!(!m.is_empty(), "empty object in response");
            m.values().for_each(assert_no_empty);
        }
        serde_json::Value::Array(a) => {
            assert!(!a.is_empty(), "empty array in response");
            a.iter().for_each(assert_no_empty);
        }
        serde_json::Value::Bool(b) => assert!(*b, "false booleans are omitted"),
        _ => {}
    }
}

#[tokio::test]
async fn country_and_insights_shapes() {
    let server = TestServer::start().await;
    let r = server.get("/geoip/v2.1/country/81.2.69.165").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.maxmind.com-country+json; charset=UTF-8; version=2.1")
    );
    let j = r.json();
    for absent in ["city", "location", "postal", "subdivisions"] {
        assert!(j.get(absent).is_none(), "country has no {absent}");
    }
    assert!(
        j["traits"].get("isp").is_none(),
        "country traits carry no ISP data"
    );
    assert_eq!(j["country"]["iso_code"], "GB");

    let r = server.get("/geoip/v2.1/insights/81.2.69.165").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.maxmind.com-insights+json; charset=UTF-8; version=2.1")
    );
    let j = r.json();
    assert_eq!(j["city"]["confidence"], 50);
    assert_eq!(j["country"]["confidence"], 90);
    assert_eq!(j["postal"]["confidence"], 20);
    assert_eq!(j["location"]["population_density"], 5400);
    for flag in [
        "is_anonymous",
        "is_anonymous_vpn",
        "is_hosting_provider",
        "is_public_proxy",
        "is_residential_proxy",
        "is_tor_exit_node",
    ] {
        assert_eq!(j["anonymizer"][flag], true, "{flag}");
        assert_eq!(j["traits"][flag], true, "deprecated copy of {flag}");
    }
    assert_no_empty(&j);

    // Represented country, anycast-only record, mobile codes, domain.
    let j = server.get("/geoip/v2.1/country/202.196.224.1").await.json();
    assert_eq!(j["represented_country"]["type"], "military");
    assert_eq!(j["represented_country"]["iso_code"], "US");
    let j = server.get("/geoip/v2.1/country/214.1.1.9").await.json();
    assert_eq!(j["traits"]["is_anycast"], true);
    assert_eq!(j["traits"]["network"], "214.1.1.0/24");
    let j = server.get("/geoip/v2.1/city/149.101.100.3").await.json();
    assert_eq!(j["traits"]["mobile_country_code"], "310");
    assert_eq!(j["traits"]["mobile_network_code"], "004");
    assert_eq!(j["traits"]["connection_type"], "Cellular");
    assert!(j.get("country").is_none(), "no City record there");
    let j = server.get("/geoip/v2.1/city/89.160.20.115").await.json();
    assert_eq!(j["traits"]["domain"], "bredband2.com");
    assert_eq!(j["traits"]["autonomous_system_number"], 29518);
    assert_eq!(j["traits"]["network"], "89.160.20.112/29");
    assert_eq!(j["country"]["is_in_european_union"], true);
    server.stop().await;
}

#[tokio::test]
async fn ipv6_forms() {
    let server = TestServer::start().await;
    for path in [
        "2001:218::1",
        "2001:0218:0000:0000:0000:0000:0000:0001",
        "2001:218:0:0::1",
        "2001%3A218%3A%3A1",
    ] {
        let r = server.get(&format!("/geoip/v2.1/city/{path}")).await;
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let j = r.json();
        assert_eq!(
            j["traits"]["ip_address"], "2001:218::1",
            "{path} is reported canonically"
        );
        assert_eq!(j["traits"]["network"], "2001:218::/32");
        assert_eq!(j["country"]["names"]["ja"], "日本");
        assert_eq!(j["traits"]["autonomous_system_number"], 2914);
    }
    // IPv4-mapped and 6to4 reach the IPv4 data; the network stays in IPv6 terms.
    let j = server
        .get("/geoip/v2.1/city/::ffff:81.2.69.165")
        .await
        .json();
    assert_eq!(j["city"]["names"]["en"], "London");
    assert_eq!(j["traits"]["ip_address"], "::ffff:81.2.69.165");
    assert_eq!(j["traits"]["network"], "::ffff:81.2.69.160/125");
    let j = server
        .get("/geoip/v2.1/city/2002:5102:45a5::1")
        .await
        .json();
    assert_eq!(j["city"]["names"]["en"], "London");
    server.stop().await;
}

#[tokio::test]
async fn address_errors() {
    let server = TestServer::start().await;
    let cases: &[(&str, u16, &str)] = &[
        ("/geoip/v2.1/city/10.0.0.1", 400, "IP_ADDRESS_RESERVED"),
        (
            "/geoip/v2.1/city/::ffff:192.168.0.1",
            400,
            "IP_ADDRESS_RESERVED",
        ),
        (
            "/geoip/v2.1/city/fe80::1%25eth0",
            400,
            "IP_ADDRESS_RESERVED",
        ),
        ("/geoip/v2.1/city/2001:db8::1", 400, "IP_ADDRESS_RESERVED"),
        ("/geoip/v2.1/city/me", 400, "IP_ADDRESS_RESERVED"),
        ("/geoip/v2.1/city/1.2.3.4", 404, "IP_ADDRESS_NOT_FOUND"),
        ("/geoip/v2.1/city/2a00::1", 404, "IP_ADDRESS_NOT_FOUND"),
        ("/geoip/v2.1/city/not-an-ip", 400, "IP_ADDRESS_INVALID"),
        ("/geoip/v2.1/city/1.2.3", 400, "IP_ADDRESS_INVALID"),
        ("/geoip/v2.1/city/010.0.0.1", 400, "IP_ADDRESS_INVALID"),
        ("/geoip/v2.1/city/1.2.3.4.5", 400, "IP_ADDRESS_INVALID"),
        ("/geoip/v2.1/city/%ZZ", 400, "IP_ADDRESS_INVALID"),
        ("/geoip/v2.1/city/%C3%28", 400, "IP_ADDRESS_INVALID"),
        ("/geoip/v2.1/city/1.2.3.4/extra", 400, "IP_ADDRESS_INVALID"),
        ("/geoip/v2.1/city/", 400, "IP_ADDRESS_REQUIRED"),
        ("/geoip/v2.1/city", 400, "IP_ADDRESS_REQUIRED"),
        ("/geoip/v2.1/weather/1.2.3.4", 404, "PATH_NOT_FOUND"),
        ("/geoip/v2.1/", 404, "PATH_NOT_FOUND"),
    ];
    for (path, status, code) in cases {
        let r = server.get(path).await;
        assert_eq!(
            r.status,
            *status,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.code(), *code, "{path}");
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.maxmind.com-error+json; charset=UTF-8; version=2.0"),
            "{path}"
        );
        assert!(!r.json()["error"].as_str().unwrap().is_empty());
    }
    // MaxMind refuses request bodies over 20,000 bytes with a bare 403.
    let auth = crate::support::basic(server.account_id, &server.key);
    let body = "x".repeat(20_001);
    let head = format!(
        "GET /geoip/v2.1/city/81.2.69.165 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = crate::support::raw(server.addr, head.as_bytes()).await;
    assert_eq!(r.status, 403);
    assert!(r.body.is_empty());
    let r = request(
        server.addr,
        "POST",
        "/admin/reload",
        &[("Content-Length", "20001")],
    )
    .await;
    assert_eq!(r.status, 413);
    let long = format!("/geoip/v2.1/city/{}", "1".repeat(5000));
    let r = server.get(&long).await;
    assert_eq!((r.status, r.code().as_str()), (400, "IP_ADDRESS_INVALID"));
    // A head beyond the configured limit is refused by the HTTP layer, not a panic.
    let huge = format!("/geoip/v2.1/city/{}", "1".repeat(100_000));
    let r = server.get(&huge).await;
    assert!(
        r.status == 431 || r.status == 414 || r.status == 400,
        "{}",
        r.status
    );
    server.stop().await;
}

/// `GET /geoip/v2.1/city/me` with an `X-Forwarded-For` header.
async fn me_forwarded_for(server: &TestServer, chain: &str) -> crate::support::Response {
    let headers = [("X-Forwarded-For", chain)];
    server
        .get_as(
            "/geoip/v2.1/city/me",
            server.account_id,
            &server.key,
            &headers,
        )
        .await
}

#[tokio::test]
async fn me_uses_the_peer_or_a_trusted_proxy() {
    let server = TestServer::with(Setup {
        toml: "[http]\ntrusted_proxies = [\"127.0.0.0/8\"]\n".into(),
        ..Default::default()
    })
    .await;
    let r = me_forwarded_for(&server, "89.160.20.115").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["traits"]["ip_address"], "89.160.20.115");
    // Only the hop the trusted proxy saw counts: a client-supplied left-most entry is ignored.
    let r = me_forwarded_for(&server, "81.2.69.165, 89.160.20.115").await;
    assert_eq!(r.json()["traits"]["ip_address"], "89.160.20.115");
    let r = me_forwarded_for(&server, "garbage").await;
    assert_eq!(
        r.code(),
        "IP_ADDRESS_RESERVED",
        "malformed chain: the peer (loopback) is used"
    );
    server.stop().await;

    // Without trusted proxies the header is ignored.
    let server = TestServer::start().await;
    let r = me_forwarded_for(&server, "89.160.20.115").await;
    assert_eq!(r.code(), "IP_ADDRESS_RESERVED");
    server.stop().await;
}

#[tokio::test]
async fn authentication_errors() {
    let server = TestServer::start().await;
    let path = "/geoip/v2.1/city/81.2.69.165";
    let with = |auth: String| async move {
        request(
            server.addr,
            "GET",
            path,
            &[("Authorization", auth.as_str())],
        )
        .await
    };
    let r = request(server.addr, "GET", path, &[]).await;
    assert_eq!((r.status, r.code().as_str()), (401, "ACCOUNT_ID_REQUIRED"));
    use base64::Engine as _;
    let b64 = |s: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (b64(&format!(":{}", server.key)), "ACCOUNT_ID_REQUIRED"),
        (
            b64(&format!("{}:", server.account_id)),
            "LICENSE_KEY_REQUIRED",
        ),
        (
            b64(&format!("{}", server.account_id)),
            "LICENSE_KEY_REQUIRED",
        ),
        (
            b64(&format!("{}:{}", server.account_id + 1, server.key)),
            "AUTHORIZATION_INVALID",
        ),
        (b64(&format!("abc:{}", server.key)), "AUTHORIZATION_INVALID"),
        (
            b64(&format!("{}:ipk_wrong", server.account_id)),
            "AUTHORIZATION_INVALID",
        ),
        ("Basic !!!not-base64!!!".into(), "AUTHORIZATION_INVALID"),
        (format!("Bearer {}", server.key), "AUTHORIZATION_INVALID"),
        ("Basic".into(), "AUTHORIZATION_INVALID"),
    ];
    for (auth, code) in cases {
        let r = with(auth.clone()).await;
        assert_eq!((r.status, r.code().as_str()), (401, code), "{auth}");
    }
    // Authentication comes before the address is looked at.
    let r = request(server.addr, "GET", "/geoip/v2.1/city/junk", &[]).await;
    assert_eq!(r.code(), "ACCOUNT_ID_REQUIRED");
    let _ = basic;
    server.stop().await;
}

#[tokio::test]
async fn content_negotiation() {
    let server = TestServer::start().await;
    let path = "/geoip/v2.1/city/81.2.69.165";
    let ok = [
        "application/json",
        "application/vnd.maxmind.com-city+json; charset=UTF-8; version=2.1",
        "*/*",
        "text/html, application/*;q=0.5",
    ];
    for accept in ok {
        let r = server
            .get_as(path, server.account_id, &server.key, &[("Accept", accept)])
            .await;
        assert_eq!(r.status, 200, "{accept}");
    }
    for accept in [
        "text/html",
        "application/xml",
        "application/vnd.maxmind.com-country+json",
        "application/json;q=0",
    ] {
        let r = server
            .get_as(path, server.account_id, &server.key, &[("Accept", accept)])
            .await;
        assert_eq!(r.status, 415, "{accept}");
        assert!(r.body.is_empty(), "negotiation errors have no body");
    }
    let r = server
        .get_as(
            path,
            server.account_id,
            &server.key,
            &[("Accept-Charset", "iso-8859-1")],
        )
        .await;
    assert_eq!(r.status, 406);
    let r = server
        .get_as(
            path,
            server.account_id,
            &server.key,
            &[("Accept-Charset", "utf-8, iso-8859-1;q=0.5")],
        )
        .await;
    assert_eq!(r.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn country_database_alone_serves_country_and_city() {
    let dir = tempfile::tempdir().unwrap();
    let mmdb = crate::support::build_fixtures(dir.path(), &["GeoLite2-Country"]);
    let server = TestServer::with(Setup {
        mmdb: Some(mmdb),
        dir: Some(dir),
        ..Default::default()
    })
    .await;
    let j = server.get("/geoip/v2.1/country/81.2.69.165").await.json();
    assert_eq!(j["country"]["names"]["de"], "Vereinigtes Königreich");
    assert_eq!(j["traits"]["network"], "81.2.69.0/24");
    let j = server.get("/geoip/v2.1/city/2001:218::5").await.json();
    assert_eq!(j["country"]["iso_code"], "JP");
    assert!(j.get("city").is_none());
    server.stop().await;
}

#[tokio::test]
async fn operations_endpoints() {
    let server = TestServer::start().await;
    let r = request(server.addr, "GET", "/healthz", &[]).await;
    assert_eq!(r.status, 200);
    let r = request(server.addr, "GET", "/readyz", &[]).await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    assert!(text.contains("city GeoIP2-City"), "{text}");
    server.get("/geoip/v2.1/city/81.2.69.165").await;
    server.get("/geoip/v2.1/city/10.0.0.1").await;
    let r = request(server.addr, "GET", "/metrics", &[]).await;
    let text = String::from_utf8(r.body).unwrap();
    assert!(
        text.contains(r#"ipintel_http_requests_total{dialect="maxmind",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ipintel_http_requests_total{dialect="maxmind",status="400"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ipintel_geo_lookups_total{outcome="reserved"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("ipintel_http_request_duration_seconds_bucket"),
        "{text}"
    );
    let r = request(server.addr, "GET", "/nope", &[]).await;
    assert_eq!(r.status, 404);
    server.stop().await;

    // Without databases the server starts, is not ready, and says why.
    let server = TestServer::with(Setup {
        mmdb: Some(vec![]),
        ..Default::default()
    })
    .await;
    let r = request(server.addr, "GET", "/readyz", &[]).await;
    assert_eq!(r.status, 503);
    let r = server.get("/geoip/v2.1/city/81.2.69.165").await;
    assert_eq!(r.status, 503);
    server.stop().await;
}
