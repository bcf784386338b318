//! ipintel's own API: JSON, XML and CSV (each parsed back), fields, lang, batch, errors.

use crate::support::{create_key, raw, request, wait_for_keys, Response, Setup, TestServer};

async fn get(server: &TestServer, path: &str) -> Response {
    let auth = format!("Bearer {}", server.key);
    request(
        server.addr,
        "GET",
        path,
        &[("Authorization", auth.as_str())],
    )
    .await
}

async fn post(server: &TestServer, path: &str, body: &str) -> Response {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.key,
        body.len()
    );
    raw(server.addr, head.as_bytes()).await
}

/// XML back into JSON-like nesting: elements with children become objects (repeated `item`
/// children an array), text elements strings.
fn xml_to_json(bytes: &[u8]) -> serde_json::Value {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(bytes);
    // Open elements: name, children so far, text so far.
    type Open = (String, Vec<(String, serde_json::Value)>, String);
    let mut stack: Vec<Open> = vec![("#".into(), vec![], String::new())];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push((
                String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
                vec![],
                String::new(),
            )),
            Event::Text(t) => stack.last_mut().unwrap().2.push_str(&t.decode().unwrap()),
            Event::GeneralRef(r) => {
                let entity = match &*r.decode().unwrap() {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    other => r
                        .resolve_char_ref()
                        .unwrap()
                        .unwrap_or_else(|| panic!("entity {other}")),
                };
                stack.last_mut().unwrap().2.push(entity);
            }
            Event::End(_) => {
                let (name, children, text) = stack.pop().unwrap();
                let value = if children.is_empty() {
                    serde_json::Value::String(text)
                } else if children.iter().all(|(n, _)| n == "item") {
                    serde_json::Value::Array(children.into_iter().map(|(_, v)| v).collect())
                } else {
                    serde_json::Value::Object(children.into_iter().collect())
                };
                stack.last_mut().unwrap().1.push((name, value));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let (_, mut root, _) = stack.pop().unwrap();
    root.pop().unwrap().1
}

#[tokio::test]
async fn json_lang_and_fields() {
    let server = TestServer::with(Setup {
        toml: "[[local_networks]]\ncidr = \"10.0.0.0/8\"\nname = \"corp\"\ndomain_id = 4\n".into(),
        ..Default::default()
    })
    .await;
    let r = get(&server, "/v1/ip/81.2.69.165").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert_eq!(j["ip"], "81.2.69.165");
    assert_eq!(j["network"], "81.2.69.160/29");
    assert_eq!(j["found"], true);
    assert_eq!(j["city"]["name"], "London");
    assert_eq!(j["country"]["is_in_european_union"], false);
    assert_eq!(j["asn"]["number"], 20712);
    assert_eq!(j["anonymity"]["is_tor_exit_node"], true);
    assert_eq!(j["subdivisions"][1]["iso_code"], "WBK");

    let j = get(
        &server,
        "/v1/ip/81.2.69.165?lang=de&fields=city(name),country(name)",
    )
    .await
    .json();
    assert_eq!(
        j,
        serde_json::json!({"city": {"name": "London"}, "country": {"name": "Vereinigtes Königreich"}})
    );
    let j = get(&server, "/v1/ip/81.2.69.165?lang=zh-cn&fields=city")
        .await
        .json();
    assert_eq!(j["city"]["name"], "伦敦");

    let j = get(&server, "/v1/ip/10.9.8.7").await.json();
    assert_eq!(
        (j["found"].as_bool(), j["reserved"].as_str()),
        (Some(false), Some("Rfc 1918"))
    );
    assert_eq!(
        j["local_network"],
        serde_json::json!({"name": "corp", "domain_id": 4})
    );
    server.stop().await;
}

#[tokio::test]
async fn xml_and_csv_parse_back() {
    let server = TestServer::start().await;
    let r = get(&server, "/v1/ip/81.2.69.165?format=xml&lang=fr").await;
    assert_eq!(
        r.header("content-type"),
        Some("application/xml; charset=utf-8")
    );
    let x = xml_to_json(&r.body);
    assert_eq!(x["city"]["name"], "Londres");
    assert_eq!(
        x["asn"]["organization"], "Andrews & Arnold Ltd",
        "escaped and unescaped"
    );
    assert_eq!(x["subdivisions"][0]["iso_code"], "ENG");
    assert_eq!(x["location"]["latitude"], "51.5142");

    let body = r#"{"ips": ["81.2.69.165", "2001:218::1", "1.2.3.4", "81.2.69.165"]}"#;
    let r = post(&server, "/v1/batch?format=csv", body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    let mut reader = csv::Reader::from_reader(r.body.as_slice());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(&header[..3], ["ip", "network", "found"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3, "duplicates answered once");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("city.name")], "London");
    assert_eq!(&rows[0][col("subdivisions.iso_code")], "ENG;WBK");
    assert_eq!(&rows[0][col("isp")], "Andrews & Arnold Ltd");
    assert_eq!(&rows[1][col("country.iso_code")], "JP");
    assert_eq!(&rows[2][col("found")], "false");

    let r = post(
        &server,
        "/v1/batch?format=csv&fields=ip,country(iso_code)",
        body,
    )
    .await;
    let text = String::from_utf8(r.body).unwrap();
    assert_eq!(text.lines().next(), Some("ip,country.iso_code"));
    assert_eq!(text.lines().nth(2), Some("2001:218::1,JP"));

    let r = post(
        &server,
        "/v1/batch?format=xml&fields=ip",
        r#"{"ips": ["81.2.69.165", "89.160.20.115"]}"#,
    )
    .await;
    assert_eq!(
        xml_to_json(&r.body),
        serde_json::json!([{"ip": "81.2.69.165"}, {"ip": "89.160.20.115"}])
    );
    let j = post(&server, "/v1/batch", r#"{"ips": ["89.160.20.115"]}"#)
        .await
        .json();
    assert_eq!(j["results"][0]["domain"], "bredband2.com");
    server.stop().await;
}

#[tokio::test]
async fn errors() {
    let server = TestServer::start().await;
    for (path, status, code) in [
        ("/v1/ip/nope", 400, "invalid_ip"),
        ("/v1/ip/81.2.69.165?format=yaml", 400, "invalid_parameter"),
        ("/v1/ip/81.2.69.165?lang=tlh", 400, "invalid_parameter"),
        (
            "/v1/ip/81.2.69.165?fields=city(zip)",
            400,
            "invalid_parameter",
        ),
        ("/v1/ip/81.2.69.165?colour=red", 400, "invalid_parameter"),
    ] {
        let r = get(&server, path).await;
        assert_eq!(
            (r.status, r.json()["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}"
        );
    }
    let r = request(server.addr, "GET", "/v1/ip/81.2.69.165", &[]).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    for body in [
        r#"{"ips": []}"#,
        r#"{"ips": "1.2.3.4"}"#,
        "not json",
        r#"{"ips": ["1.2.3.4"], "x": 1}"#,
    ] {
        let r = post(&server, "/v1/batch", body).await;
        assert_eq!(
            (r.status, r.json()["error"]["code"].as_str()),
            (400, Some("invalid_parameter")),
            "{body}"
        );
    }
    let r = post(&server, "/v1/batch", r#"{"ips": ["81.2.69.165", "bad"]}"#).await;
    assert_eq!(r.json()["error"]["code"], "invalid_ip");
    let (_, free) = create_key(&server, &["--plan", "free"]).await;
    wait_for_keys(&server, 2).await;
    let many: Vec<String> = (1..=33).map(|n| format!("\"81.2.69.{n}\"")).collect();
    let body = format!(r#"{{"ips": [{}]}}"#, many.join(","));
    let head = format!("POST /v1/batch HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: {free}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    let r = raw(server.addr, head.as_bytes()).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (400, Some("invalid_parameter"))
    );
    server.stop().await;
}
