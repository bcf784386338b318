//! QRadar `/api/services/geolocations`: filters, fields, local networks, paging, errors.

use crate::support::{create_key, request, wait_for_keys, Response, Setup, TestServer};

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn geolocations(
    server: &TestServer,
    key: &str,
    query: &str,
    extra: &[(&str, &str)],
) -> Response {
    let mut headers = vec![("SEC", key)];
    headers.extend_from_slice(extra);
    request(
        server.addr,
        "GET",
        &format!("/api/services/geolocations?{query}"),
        &headers,
    )
    .await
}

fn filter(text: &str) -> String {
    format!("filter={}", encode(text))
}

async fn server() -> TestServer {
    TestServer::with(Setup {
        toml: "[[local_networks]]\ncidr = \"10.0.0.0/8\"\nname = \"corp\"\ndomain_id = 2\n\n[[local_networks]]\ncidr = \"10.1.2.0/24\"\nname = \"corp.lab\"\ndomain_id = 7\n".into(),
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn equals_and_in() {
    let server = server().await;
    let r = geolocations(
        &server,
        &server.key,
        &filter(r#"ip_address = "81.2.69.165""#),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    let loc = &j.as_array().unwrap()[0];
    assert_eq!(loc["ip_address"], "81.2.69.165");
    assert_eq!(loc["city"]["name"], "London");
    assert_eq!(loc["city"]["geo_id"], 2643743);
    assert_eq!(loc["city"]["confidence"], 50);
    assert_eq!(loc["continent"]["code"], "EU");
    assert_eq!(loc["physical_country"]["iso_code"], "GB");
    assert_eq!(loc["registered_country"]["iso_code"], "US");
    assert_eq!(loc["subdivisions"][0]["iso_code"], "ENG");
    assert_eq!(loc["postal"]["postal_code"], "EC2V");
    assert_eq!(loc["location"]["timezone"], "Europe/London");
    assert_eq!(loc["geo_json"]["type"], "Point");
    assert_eq!(
        loc["geo_json"]["coordinates"],
        serde_json::json!([-0.0931, 51.5142])
    );
    assert_eq!(
        loc["traits"]["internet_service_provider"],
        "Andrews & Arnold Ltd"
    );
    assert_eq!(loc["is_local"], false);

    let r = geolocations(
        &server,
        &server.key,
        &filter(r#"ip_address IN ("81.2.69.165", "2001:218::1", "1.2.3.4")"#),
        &[],
    )
    .await;
    let j = r.json();
    let list = j.as_array().unwrap();
    assert_eq!(
        list.len(),
        2,
        "an address with no data is left out of an IN answer"
    );
    assert_eq!(list[1]["physical_country"]["iso_code"], "JP");
    // Keywords are case-insensitive; the field may be quoted.
    let r = geolocations(
        &server,
        &server.key,
        &filter(r#""ip_address" in ("89.160.20.115")"#),
        &[],
    )
    .await;
    assert_eq!(r.json()[0]["city"]["name"], "Linköping");
    server.stop().await;
}

#[tokio::test]
async fn local_networks_fields_and_paging() {
    let server = server().await;
    let r = geolocations(
        &server,
        &server.key,
        &filter(r#"ip_address IN ("10.1.2.3", "10.200.0.1")"#),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert_eq!(j[0]["is_local"], true);
    assert_eq!(j[0]["network"], "corp.lab");
    assert_eq!(j[0]["domain_id"], 7);
    assert_eq!(j[1]["network"], "corp");
    assert_eq!(j[1]["domain_id"], 2);

    let query = format!(
        "{}&fields={}",
        filter(r#"ip_address = "81.2.69.165""#),
        encode("ip_address, city(name), subdivisions(iso_code)")
    );
    let j = geolocations(&server, &server.key, &query, &[]).await.json();
    assert_eq!(
        j,
        serde_json::json!([{"ip_address": "81.2.69.165", "city": {"name": "London"}, "subdivisions": [{"iso_code": "ENG"}, {"iso_code": "WBK"}]}])
    );

    let three = filter(r#"ip_address IN ("81.2.69.165", "2001:218::1", "89.160.20.115")"#);
    let r = geolocations(&server, &server.key, &three, &[("Range", "items=1-5")]).await;
    assert_eq!(r.header("content-range"), Some("items 1-2/3"));
    assert_eq!(r.json().as_array().unwrap().len(), 2);
    let r = geolocations(&server, &server.key, &three, &[("Range", "items= 0-0")]).await;
    assert_eq!(r.header("content-range"), Some("items 0-0/3"));
    let r = geolocations(&server, &server.key, &three, &[("Range", "items=7-9")]).await;
    assert_eq!(r.header("content-range"), Some("items */3"));
    assert_eq!(r.json(), serde_json::json!([]));
    server.stop().await;
}

fn assert_qradar_error(r: &Response, status: u16, code: u64) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert_eq!(j["code"], code, "{j}");
    assert_eq!(j["http_response"]["code"], status);
    assert!(j["http_response"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(j["description"].as_str().is_some());
    assert!(j["details"].is_object());
}

#[tokio::test]
async fn errors() {
    let server = server().await;
    let k = &server.key;
    for (query, status, code) in [
        (String::new(), 422, 1010),
        (filter(r#"ip_address = "nope""#), 422, 1005),
        (
            filter(r#"ip_address IN ("81.2.69.165", "1.2.3")"#),
            422,
            1005,
        ),
        (filter(r#"ip_address != "81.2.69.165""#), 422, 1010),
        (filter(r#"city = "London""#), 422, 1010),
        (
            filter(r#"ip_address = "81.2.69.165" or ip_address = "1.1.1.1""#),
            422,
            1010,
        ),
        (filter(r#"ip_address not in ("81.2.69.165")"#), 422, 1010),
        (filter("ip_address = 1"), 422, 1010),
        (filter(r#"ip_address = "81.2.69.165"#), 422, 1010),
        (filter(r#"ip_address IN ("81.2.69.165""#), 422, 1010),
        (
            format!("{}&fields=nope", filter(r#"ip_address = "81.2.69.165""#)),
            422,
            1010,
        ),
        (
            format!(
                "{}&fields={}",
                filter(r#"ip_address = "81.2.69.165""#),
                encode("city(")
            ),
            422,
            1010,
        ),
        (
            format!("{}&sort=id", filter(r#"ip_address = "81.2.69.165""#)),
            422,
            1010,
        ),
        (
            format!(
                "{}&{}",
                filter(r#"ip_address = "81.2.69.165""#),
                filter(r#"ip_address = "1.1.1.1""#)
            ),
            422,
            1010,
        ),
        (filter(r#"ip_address = "1.2.3.4""#), 404, 1002),
        (filter(r#"ip_address = "192.168.7.7""#), 404, 1002),
    ] {
        let r = geolocations(&server, k, &query, &[]).await;
        assert_qradar_error(&r, status, code);
    }
    let r = geolocations(
        &server,
        k,
        &filter(r#"ip_address = "81.2.69.165""#),
        &[("Range", "items=5-1")],
    )
    .await;
    assert_qradar_error(&r, 422, 1010);
    let r = request(
        server.addr,
        "GET",
        &format!(
            "/api/services/geolocations?{}",
            filter(r#"ip_address = "81.2.69.165""#)
        ),
        &[],
    )
    .await;
    assert_qradar_error(&r, 401, 1001);
    let r = geolocations(
        &server,
        "ipk_wrong",
        &filter(r#"ip_address = "81.2.69.165""#),
        &[],
    )
    .await;
    assert_qradar_error(&r, 401, 1001);
    // Basic auth with the key as password works as well.
    let auth = crate::support::basic(0, &server.key);
    let r = request(
        server.addr,
        "GET",
        &format!(
            "/api/services/geolocations?{}",
            filter(r#"ip_address = "81.2.69.165""#)
        ),
        &[("Authorization", auth.as_str())],
    )
    .await;
    assert_eq!(r.status, 200);
    // More addresses than the plan's batch limit.
    let (_, free) = create_key(&server, &["--plan", "free"]).await;
    wait_for_keys(&server, 2).await;
    let many: Vec<String> = (1..=33).map(|n| format!("\"81.2.69.{n}\"")).collect();
    let r = geolocations(
        &server,
        &free,
        &filter(&format!("ip_address IN ({})", many.join(","))),
        &[],
    )
    .await;
    assert_qradar_error(&r, 422, 1010);
    server.stop().await;
}
