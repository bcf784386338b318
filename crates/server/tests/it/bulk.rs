//! The WhoisXML-style bulk API end to end, with names resolved by a DNS server on
//! 127.0.0.1 (`zone`): terms of every kind, the three download formats parsed back, credit
//! accounting, validation errors, pagination, retention, a SIGKILL mid-request, and the
//! `ipintel bulk` command locally and against a server.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use hickory_proto::rr::rdata::{A, AAAA, MX, PTR};
use hickory_proto::rr::{Name, RData, RecordType};
use serde_json::{json, Value};

use crate::support::{create_key, post_body, wait_for_keys, Response, Setup, TestServer};
use crate::zone::{self, Answer};

fn a(ip: &str) -> RData {
    RData::A(A(ip.parse().unwrap()))
}

/// The test zone: see each arm.
fn test_zone(name: &str, kind: RecordType) -> Answer {
    let name_of = |s: &str| Name::from_ascii(s).unwrap();
    match (name, kind) {
        // Two addresses, one per family.
        ("host.example.", RecordType::A) => Answer::Records(vec![a("81.2.69.160")]),
        ("host.example.", RecordType::AAAA) => {
            Answer::Records(vec![RData::AAAA(AAAA("2001:218::1".parse().unwrap()))])
        }
        // Mail goes to two exchangers, the preferred one listed second.
        ("mail.test.", RecordType::MX) => Answer::Records(vec![
            RData::MX(MX::new(20, name_of("mx2.mail.test."))),
            RData::MX(MX::new(10, name_of("mx1.mail.test."))),
        ]),
        ("mx1.mail.test.", RecordType::A) => Answer::Records(vec![a("202.196.224.1")]),
        ("mx2.mail.test.", RecordType::A) => Answer::Records(vec![a("81.2.69.160")]),
        ("mx1.mail.test." | "mx2.mail.test.", _) => Answer::Records(vec![]),
        // No MX: mail goes to the domain itself.
        ("nomx.test.", RecordType::A) => Answer::Records(vec![a("89.160.20.112")]),
        ("nomx.test.", _) => Answer::Records(vec![]),
        // Exists, no addresses.
        ("empty.example.", _) => Answer::Records(vec![]),
        // Never answers.
        ("slow.example.", _) => Answer::Silent,
        ("160.69.2.81.in-addr.arpa.", RecordType::PTR) => {
            Answer::Records(vec![RData::PTR(PTR(name_of("host.example.")))])
        }
        // Bulk names for the crash test: d<N>.bulk.test -> one address each.
        (n, RecordType::A) if n.ends_with(".bulk.test.") => Answer::Records(vec![a("81.2.69.161")]),
        (n, _) if n.ends_with(".bulk.test.") => Answer::Records(vec![]),
        _ => Answer::NxDomain,
    }
}

fn bulk_toml(dns: SocketAddr, extra: &str) -> String {
    format!(
        "[tasks]\ndns_server = \"{dns}\"\nretention_secs = 1\n[bulk]\ndns_timeout_ms = 300\nchunk_terms = 3\n{extra}\n"
    )
}

/// A server whose bulk requests resolve names with `test_zone`, with `extra` `[bulk]` keys.
async fn bulk_server(extra: &str) -> TestServer {
    let (dns, _) = zone::serve(test_zone).await;
    TestServer::with(Setup {
        toml: bulk_toml(dns, extra),
        ..Default::default()
    })
    .await
}

/// Run the real `ipintel` binary off the runtime's threads.
async fn ipintel_async(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::support::ipintel(&args)
    })
    .await
    .unwrap()
}

async fn call(addr: SocketAddr, path: &str, body: &Value) -> Response {
    post_body(
        addr,
        &format!("/api/bgservice{path}"),
        body.to_string().as_bytes(),
    )
    .await
}

/// Poll `/request/status` until the request is ready; its status object.
async fn wait_ready(addr: SocketAddr, key: &str, id: u64) -> Value {
    for _ in 0..400 {
        let r = call(
            addr,
            "/request/status",
            &json!({"apiKey": key, "ids": [id]}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let status = r.json()["response"][0].clone();
        if status["ready"] == 1 {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("request {id} did not finish");
}

async fn submit(addr: SocketAddr, key: &str, terms: &[&str], extra: Value) -> u64 {
    let mut body = json!({"apiKey": key, "terms": terms});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = call(addr, "/request", &body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["response"]["id"].as_u64().expect("an id")
}

/// `ip -> result` for one term's list.
fn by_ip(results: &Value) -> BTreeMap<String, Value> {
    results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["ip"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

/// Every `<name>` element's text in an XML document, in order.
fn xml_texts(xml: &[u8], name: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let (mut inside, mut out) = (false, Vec::new());
    loop {
        match reader.read_event_into(&mut buf).expect("well-formed XML") {
            Event::Start(e) => inside = e.name().as_ref() == name.as_bytes(),
            Event::Text(t) if inside => out.push(String::from_utf8(t.to_vec()).unwrap()),
            Event::End(_) => inside = false,
            Event::Eof => return out,
            _ => {}
        }
    }
}

const TERMS: &[&str] = &[
    "81.2.69.160",
    "host.example",
    "Host.Example.",
    "alex@mail.test",
    "user@nomx.test",
    "nx.example",
    "empty.example",
    "slow.example",
    "not a term",
    "10.0.0.1",
    "2001:218::1",
];

#[tokio::test]
async fn terms_of_every_kind_in_three_formats_with_credits() {
    let server = bulk_server("").await;
    let (account, key) = create_key(&server, &["--plan", "pro", "--credits", "100"]).await;
    wait_for_keys(&server, 2).await;
    let meter = server.state.accounts.meter(account).unwrap();
    let credits = || meter.remaining(SystemTime::now()).credits.unwrap();

    // `format` is also the format of this answer.
    let r = call(
        server.addr,
        "/request",
        &json!({"apiKey": key, "terms": TERMS, "format": "csv"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let text = String::from_utf8(r.body).unwrap();
    let id: u64 = text.strip_prefix("id\n").unwrap().trim().parse().unwrap();
    // Nine distinct valid terms are paid for when the request is accepted.
    assert_eq!(credits(), 91);
    let status = wait_ready(server.addr, &key, id).await;
    assert_eq!(status["id"], id);
    assert_eq!(
        (
            &status["total_terms"],
            &status["invalid_terms"],
            &status["processed_terms"],
            &status["failed_terms"]
        ),
        (&json!(10), &json!(1), &json!(6), &json!(3)),
        "{status}"
    );
    assert!(status["date_start"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .is_ok());
    // The three failed terms are given back.
    assert_eq!(credits(), 94);

    // JSON (asked explicitly: the request's own format, csv, is the default).
    let r = call(
        server.addr,
        "/request/completed",
        &json!({"apiKey": key, "id": id, "format": "json"}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let lists = r.json()["response"].as_array().unwrap().clone();
    let terms: Vec<&str> = lists
        .iter()
        .map(|l| l[0]["term"].as_str().unwrap())
        .collect();
    assert_eq!(
        terms,
        [
            "81.2.69.160",
            "host.example",
            "alex@mail.test",
            "user@nomx.test",
            "10.0.0.1",
            "2001:218::1"
        ]
    );
    let london = &lists[0][0];
    assert_eq!(london["ip"], "81.2.69.160");
    assert_eq!(london["location"]["country"], "GB");
    assert_eq!(london["location"]["city"], "London");
    assert!(
        london["location"]["timezone"].as_str().unwrap().len() == 6,
        "{london}"
    );
    assert_eq!(london["isp"], "Andrews & Arnold Ltd");
    // The ISP database wins over the ASN one, route included.
    assert_eq!(
        london["as"],
        json!({"asn": 20712, "name": "Andrews & Arnold Ltd", "route": "81.2.69.160/29"})
    );
    assert!(
        london.get("domains").is_none(),
        "reverse DNS was not asked for"
    );
    let host = by_ip(&lists[1]);
    assert_eq!(
        host.keys().collect::<Vec<_>>(),
        ["2001:218::1", "81.2.69.160"]
    );
    assert_eq!(host["2001:218::1"]["location"]["country"], "JP");
    assert!(host.values().all(|r| r["term"] == "host.example"));
    // MX order: mx1 (preference 10) first.
    let mail = lists[2].as_array().unwrap();
    assert_eq!(mail[0]["ip"], "202.196.224.1");
    assert!(
        mail[0].get("as").is_none(),
        "no AS data for it in the fixtures"
    );
    assert_eq!(mail[0]["location"]["country"], "PH");
    assert_eq!(mail[1]["ip"], "81.2.69.160");
    let nomx = &lists[3][0];
    assert_eq!(
        (&nomx["ip"], &nomx["as"]["asn"]),
        (&json!("89.160.20.112"), &json!(29518))
    );
    assert_eq!(nomx["as"]["route"], "89.160.20.112/29");
    // Reserved space: the address alone.
    assert_eq!(lists[4][0], json!({"ip": "10.0.0.1", "term": "10.0.0.1"}));

    // CSV by default (the request's format): one row per result.
    let r = call(
        server.addr,
        "/request/completed",
        &json!({"apiKey": key, "id": id}),
    )
    .await;
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    let mut csv = csv::Reader::from_reader(r.body.as_slice());
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(&header[..3], ["term", "ip", "location.country"]);
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    let json_ips: Vec<&str> = lists
        .iter()
        .flat_map(|l| l.as_array().unwrap())
        .map(|r| r["ip"].as_str().unwrap())
        .collect();
    let csv_ips: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    assert_eq!(csv_ips, json_ips);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("location.city")], "London");
    assert_eq!(&rows[0][col("as.asn")], "20712");
    assert_eq!(&rows[3][col("location.country")], "PH");

    // XML: the same addresses.
    let r = call(
        server.addr,
        "/request/completed",
        &json!({"apiKey": key, "id": id, "format": "xml"}),
    )
    .await;
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/xml"));
    assert_eq!(xml_texts(&r.body, "ip"), json_ips);

    // Failed and invalid terms with reasons, in JSON and CSV.
    let r = call(
        server.addr,
        "/request/failed",
        &json!({"apiKey": key, "id": id, "format": "json"}),
    )
    .await;
    let failed = r.json()["response"].as_array().unwrap().clone();
    let reasons: BTreeMap<&str, (&str, &str)> = failed
        .iter()
        .map(|f| {
            (
                f["term"].as_str().unwrap(),
                (f["type"].as_str().unwrap(), f["reason"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 4, "{failed:?}");
    assert_eq!(reasons["not a term"].0, "invalid");
    assert!(reasons["nx.example"].1.contains("NXDOMAIN"), "{reasons:?}");
    assert!(
        reasons["empty.example"].1.contains("no A or AAAA"),
        "{reasons:?}"
    );
    assert!(
        reasons["slow.example"].1.contains("timed out"),
        "{reasons:?}"
    );
    let r = call(
        server.addr,
        "/request/failed",
        &json!({"apiKey": key, "id": id}),
    )
    .await;
    let mut csv = csv::Reader::from_reader(r.body.as_slice());
    assert_eq!(csv.headers().unwrap(), vec!["term", "type", "reason"]);
    assert_eq!(csv.records().count(), 4);

    // Reverse DNS when asked: `domains`.
    let id = submit(server.addr, &key, &["81.2.69.160"], json!({"reverseIp": 1})).await;
    wait_ready(server.addr, &key, id).await;
    let r = call(
        server.addr,
        "/request/completed",
        &json!({"apiKey": key, "id": id}),
    )
    .await;
    assert_eq!(
        r.json()["response"][0][0]["domains"],
        json!(["host.example"])
    );
    assert_eq!(credits(), 93);

    // A request the balance cannot cover is refused whole, and costs nothing.
    let many: Vec<String> = (0..94).map(|i| format!("81.2.69.{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let r = call(
        server.addr,
        "/request",
        &json!({"apiKey": key, "terms": many}),
    )
    .await;
    assert_eq!(r.status, 402);
    assert_eq!(
        r.json(),
        json!({"response": {"error": "Insufficient balance"}})
    );
    assert_eq!(credits(), 93);

    // The store holds what the meter says, once written.
    server.state.accounts.sync().await.unwrap();
    let rows = server.state.accounts.store().accounts().await.unwrap();
    let row = rows.iter().find(|r| r.id == account).unwrap();
    assert_eq!(row.credits_used, 7);

    let r = crate::support::request(server.addr, "GET", "/metrics", &[]).await;
    let text = String::from_utf8(r.body).unwrap();
    for line in [
        r#"ipintel_bulk_terms_total{outcome="accepted"} 10"#,
        r#"ipintel_bulk_terms_total{outcome="invalid"} 1"#,
        r#"ipintel_bulk_terms_total{outcome="processed"} 7"#,
        r#"ipintel_bulk_terms_total{outcome="failed"} 3"#,
        r#"ipintel_http_requests_total{dialect="bulk",status="402"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_the_documented_errors() {
    let server = bulk_server("max_body_bytes = 2000000").await;
    let key = server.key.clone();
    let errors = |r: &Response| -> Vec<String> {
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        r.json()["response"]["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(&r.body)))
            .iter()
            .map(|e| e.as_str().unwrap().to_owned())
            .collect()
    };
    let path = "/api/bgservice/request";
    let r = post_body(server.addr, path, b"{\"apiKey\": ").await;
    assert!(errors(&r)[0].starts_with("The request body is not valid JSON"));
    let r = post_body(server.addr, path, b"[1, 2]").await;
    assert_eq!(errors(&r), ["The request body must be a JSON object."]);
    let r = post_body(server.addr, path, b"").await;
    assert!(errors(&r)[0].starts_with("The request body is empty"));

    let r = call(
        server.addr,
        "/request",
        &json!({"apiKey": key, "terms": "8.8.8.8", "reverseIp": "yes"}),
    )
    .await;
    assert_eq!(
        errors(&r),
        [
            "The terms field must be an array of strings, not a string.",
            "The reverseIp field must be true, false, 1 or 0."
        ]
    );
    let r = call(server.addr, "/request", &json!({"apiKey": key})).await;
    assert_eq!(errors(&r), ["The terms field is required."]);
    let r = call(
        server.addr,
        "/request",
        &json!({"apiKey": key, "terms": []}),
    )
    .await;
    assert_eq!(
        errors(&r),
        ["The terms field must contain at least one term."]
    );
    let r = call(
        server.addr,
        "/request",
        &json!({"apiKey": key, "terms": ["8.8.8.8", 5]}),
    )
    .await;
    assert_eq!(
        errors(&r),
        ["The terms field must contain only strings (item 1 is a number)."]
    );
    let r = call(
        server.addr,
        "/request",
        &json!({"apiKey": key, "terms": ["8.8.8.8"], "format": "yaml"}),
    )
    .await;
    assert_eq!(
        errors(&r),
        ["The format field should have one of the following values: json, xml, csv."]
    );
    let too_many: Vec<String> = (0..100_001)
        .map(|i| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255))
        .collect();
    let r = call(
        server.addr,
        "/request",
        &json!({"apiKey": key, "terms": too_many}),
    )
    .await;
    assert_eq!(
        errors(&r),
        ["The terms field may not have more than 100000 items (it has 100001)."]
    );
    let huge = format!(
        "{{\"apiKey\": \"{key}\", \"terms\": [\"{}\"]}}",
        "a".repeat(2_100_000)
    );
    let r = post_body(server.addr, path, huge.as_bytes()).await;
    assert_eq!(
        errors(&r),
        ["The request body is larger than 2000000 bytes (bulk.max_body_bytes)."]
    );

    // An over-long term is invalid and kept only in part.
    let long = "x".repeat(10_000);
    let id = submit(server.addr, &key, &[long.as_str()], json!({})).await;
    let r = call(
        server.addr,
        "/request/failed",
        &json!({"apiKey": key, "id": id}),
    )
    .await;
    let shown = r.json()["response"][0]["term"].as_str().unwrap().to_owned();
    assert_eq!(
        (shown.len(), r.json()["response"][0]["reason"].as_str()),
        (254, Some("longer than 254 characters"))
    );

    // Escaped strings are terms like any other; repeated members: the last one counts.
    let body = format!(
        r#"{{"apiKey": "{key}", "terms": ["x"], "terms": ["81.2.69.160", "host\u002eexample", "HOST.example"]}}"#
    );
    let r = post_body(server.addr, path, body.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["response"]["id"].as_u64().unwrap();
    let status = wait_ready(server.addr, &key, id).await;
    assert_eq!(
        (&status["total_terms"], &status["processed_terms"]),
        (&json!(2), &json!(2))
    );

    // Errors in XML when XML was asked for.
    let r = call(
        server.addr,
        "/request",
        &json!({"apiKey": key, "terms": [], "format": "xml"}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        xml_texts(&r.body, "item"),
        ["The terms field must contain at least one term."]
    );

    // Authentication and plans.
    for body in [
        json!({"terms": ["8.8.8.8"]}),
        json!({"apiKey": "ipk_nope", "terms": ["8.8.8.8"]}),
    ] {
        let r = call(server.addr, "/request", &body).await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.json(),
            json!({"response": {"error": "Authorisation or authentication failed"}})
        );
    }
    let (_, free) = create_key(&server, &["--plan", "free"]).await;
    let (_, other) = create_key(&server, &["--plan", "pro"]).await;
    wait_for_keys(&server, 3).await;
    let r = call(
        server.addr,
        "/request",
        &json!({"apiKey": free, "terms": ["8.8.8.8"]}),
    )
    .await;
    assert_eq!(r.status, 402, "{}", String::from_utf8_lossy(&r.body));

    // Another account's request, an unknown one, a malformed id.
    let id = submit(server.addr, &key, &["81.2.69.160"], json!({})).await;
    // Not a task: the task endpoints neither show nor cancel it.
    let r = crate::support::request(
        server.addr,
        "DELETE",
        &format!("/api/services/dns_lookups/{id}"),
        &[("SEC", &key)],
    )
    .await;
    assert_eq!(r.status, 404);
    let bearer = format!("Bearer {key}");
    let r = crate::support::request(
        server.addr,
        "GET",
        &format!("/v1/jobs/{id}"),
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        wait_ready(server.addr, &key, id).await["processed_terms"],
        1
    );
    // Nothing valid: finished at once, free.
    let none = submit(server.addr, &key, &["nonsense", "more nonsense"], json!({})).await;
    let r = call(
        server.addr,
        "/request/status",
        &json!({"apiKey": key, "ids": [none]}),
    )
    .await;
    let status = &r.json()["response"][0];
    assert_eq!(
        (
            &status["ready"],
            &status["total_terms"],
            &status["invalid_terms"],
            &status["processed_terms"]
        ),
        (&json!(1), &json!(2), &json!(2), &json!(0))
    );
    for (who, id) in [(&other, json!(id)), (&key, json!(999_999))] {
        for path in ["/request/completed", "/request/failed"] {
            let r = call(server.addr, path, &json!({"apiKey": who, "id": id})).await;
            assert_eq!(r.status, 422);
            assert_eq!(r.json(), json!({"response": {"error": "Wrong request id"}}));
        }
    }
    let r = call(
        server.addr,
        "/request/completed",
        &json!({"apiKey": key, "id": "one"}),
    )
    .await;
    assert_eq!(errors(&r), ["The id field must be a positive integer."]);
    let r = call(
        server.addr,
        "/request/status",
        &json!({"apiKey": other, "ids": [id]}),
    )
    .await;
    assert_eq!(r.json(), json!({"response": []}));
    let r = call(
        server.addr,
        "/request/list",
        &json!({"apiKey": key, "perPage": 5, "sort": "up", "page": u64::MAX, "onlyIds": "no"}),
    )
    .await;
    assert_eq!(
        errors(&r),
        [
            "The page field must be an integer between 1 and 1000000000.",
            "The perPage field must be an integer between 10 and 50.",
            "The onlyIds field must be true, false, 1 or 0.",
            "The sort field must be asc or desc."
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn list_paginates_and_results_expire() {
    let server = bulk_server("retention_secs = 2").await;
    let key = server.key.clone();
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(submit(server.addr, &key, &[&format!("81.2.69.{i}")], json!({})).await);
    }
    let page = |body: Value| {
        let key = key.clone();
        async move {
            let mut body = body;
            body["apiKey"] = json!(key);
            let r = call(server.addr, "/request/list", &body).await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            r.json()["response"].clone()
        }
    };
    let first = page(json!({})).await;
    let newest: Vec<u64> = ids.iter().rev().take(10).copied().collect();
    assert_eq!(
        first["data"],
        Value::Array(newest.iter().map(|id| json!({"id": id})).collect())
    );
    assert_eq!(
        (
            &first["current_page"],
            &first["last_page"],
            &first["per_page"],
            &first["from"],
            &first["to"],
            &first["total"]
        ),
        (
            &json!(1),
            &json!(2),
            &json!(10),
            &json!(1),
            &json!(10),
            &json!(12)
        )
    );
    let second = page(json!({"page": 2, "sort": "asc", "onlyIds": false})).await;
    let data = second["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["id"], ids[10]);
    assert_eq!((&second["from"], &second["to"]), (&json!(11), &json!(12)));
    assert_eq!(data[0]["total_terms"], 1);
    let beyond = page(json!({"page": 9})).await;
    assert_eq!(
        (&beyond["data"], &beyond["from"], &beyond["to"]),
        (&json!([]), &Value::Null, &Value::Null)
    );
    let r = call(
        server.addr,
        "/request/list",
        &json!({"apiKey": key, "format": "csv", "onlyIds": false}),
    )
    .await;
    let text = String::from_utf8(r.body).unwrap();
    assert!(
        text.starts_with(
            "id,date_start,total_terms,invalid_terms,processed_terms,failed_terms,ready\n"
        ),
        "{text}"
    );
    assert_eq!(text.lines().count(), 11);

    // Kept `bulk.retention_secs` after finishing, then gone with their results.
    let last = *ids.last().unwrap();
    wait_ready(server.addr, &key, last).await;
    let gone = crate::support::eventually(10, || async {
        call(
            server.addr,
            "/request/status",
            &json!({"apiKey": key, "ids": ids}),
        )
        .await
        .json()["response"]
            == json!([])
    })
    .await;
    assert!(gone, "finished requests were not swept");
    let r = call(
        server.addr,
        "/request/completed",
        &json!({"apiKey": key, "id": last}),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(page(json!({})).await["total"], 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_finishes_every_term_exactly_once() {
    // Every answer is held back 20 ms, so the request takes seconds and can be killed midway.
    let (dns, _) = zone::serve_delayed(Duration::from_millis(20), test_zone).await;
    let dir = tempfile::tempdir().unwrap();
    let mmdb = crate::support::build_fixture(dir.path(), "GeoIP2-City");
    let config = dir.path().join("ipintel.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n[geoip]\nmmdb = [{:?}]\n[tasks]\ndns_server = \"{dns}\"\n[bulk]\nchunk_terms = 40\nresolve_concurrency = 8\n",
            dir.path().join("data").display().to_string(),
            mmdb.display().to_string()
        ),
    )
    .unwrap();
    let terms: Vec<String> = (0..1500).map(|i| format!("d{i}.bulk.test")).collect();
    let refs: Vec<&str> = terms.iter().map(String::as_str).collect();
    let first = crate::tasks::spawn_server_async(&config).await;
    let key = first.key.clone().expect("first start prints the key");
    let id = submit(first.addr, &key, &refs, json!({"format": "json"})).await;
    let midway = crate::support::eventually(20, || async {
        let r = call(
            first.addr,
            "/request/status",
            &json!({"apiKey": key, "ids": [id]}),
        )
        .await;
        r.json()["response"][0]["processed_terms"]
            .as_u64()
            .unwrap_or(0)
            >= 200
    })
    .await;
    assert!(midway, "the request made progress");
    let before = call(
        first.addr,
        "/request/status",
        &json!({"apiKey": key, "ids": [id]}),
    )
    .await
    .json();
    let mut first = first;
    first.kill(); // SIGKILL: no shutdown, no flush.
    assert_eq!(before["response"][0]["ready"], 0, "killed before the end");

    let second = crate::tasks::spawn_server_async(&config).await;
    let status = wait_ready(second.addr, &key, id).await;
    assert_eq!(
        (&status["processed_terms"], &status["failed_terms"]),
        (&json!(1500), &json!(0)),
        "{status}"
    );
    let r = call(
        second.addr,
        "/request/completed",
        &json!({"apiKey": key, "id": id}),
    )
    .await;
    let lists = r.json()["response"].as_array().unwrap().clone();
    let got: Vec<&str> = lists
        .iter()
        .map(|l| l[0]["term"].as_str().unwrap())
        .collect();
    assert_eq!(got.len(), 1500, "every term exactly once");
    assert_eq!(got, refs, "in request order");
    assert!(lists.iter().all(|l| l.as_array().unwrap().len() == 1));
    drop(second);

    // Paid once: 1,500 credits, nothing charged twice by the redone chunk.
    let store = ipintel_core::store::Store::open_sqlite(&dir.path().join("data/ipintel.db"))
        .await
        .unwrap();
    let accounts = store.accounts().await.unwrap();
    assert_eq!(accounts[0].credits_used, 1500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulk_command_locally_and_against_a_server() {
    let server = bulk_server("").await;
    let dir = tempfile::tempdir().unwrap();
    let terms = dir.path().join("terms.txt");
    std::fs::write(
        &terms,
        "# a comment\n81.2.69.160\nhost.example\n\nnx.example\nbogus term\n81.2.69.160\n",
    )
    .unwrap();
    let config = server.dir.path().join("ipintel.toml");
    let out = dir.path().join("local.csv");
    let local = ipintel_async(vec![
        "--config".into(),
        config.display().to_string(),
        "bulk".into(),
        terms.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&local.stderr);
    assert!(local.status.success(), "{stderr}");
    assert!(
        stderr.contains("4 terms")
            && stderr.contains("2 processed, 1 failed, 1 invalid, 1 duplicates dropped"),
        "{stderr}"
    );
    let local_csv = std::fs::read_to_string(&out).unwrap();
    let failed_csv = std::fs::read_to_string(dir.path().join("local.failed.csv")).unwrap();
    assert_eq!(local_csv.lines().count(), 4, "{local_csv}");
    assert!(
        failed_csv.contains("nx.example,failed,") && failed_csv.contains("bogus term,invalid,"),
        "{failed_csv}"
    );

    let remote_out = dir.path().join("remote.json");
    let remote = ipintel_async(vec![
        "bulk".into(),
        terms.display().to_string(),
        "--out".into(),
        remote_out.display().to_string(),
        "--server".into(),
        format!("http://{}", server.addr),
        "--key".into(),
        server.key.clone(),
    ])
    .await;
    assert!(
        remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    let remote_json: Value = serde_json::from_slice(&std::fs::read(&remote_out).unwrap()).unwrap();
    let remote_ips: BTreeSet<String> = remote_json["response"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| {
            l.as_array()
                .unwrap()
                .iter()
                .map(|r| r["ip"].as_str().unwrap().to_owned())
        })
        .collect();
    let local_ips: BTreeSet<String> = local_csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(remote_ips, local_ips, "one pipeline, two ways in");

    let bad = ipintel_async(vec![
        "bulk".into(),
        terms.display().to_string(),
        "--out".into(),
        remote_out.display().to_string(),
        "--server".into(),
        format!("http://{}", server.addr),
        "--key".into(),
        "ipk_wrong".into(),
    ])
    .await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Authorisation or authentication failed"));
    server.stop().await;
}

/// A throwaway CA and a certificate it signed for 127.0.0.1: (CA cert, leaf cert, leaf key).
fn make_ca_and_leaf(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl is installed (.ci/run installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=ipintel test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulk_command_against_a_tls_server() {
    let (dns, _) = zone::serve(test_zone).await;
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_ca_and_leaf(certs.path());
    let server = TestServer::with(Setup {
        toml: format!(
            "[tls]\ncert = {:?}\nkey = {:?}\n{}",
            cert.display().to_string(),
            key.display().to_string(),
            bulk_toml(dns, "")
        ),
        ..Default::default()
    })
    .await;
    let terms = certs.path().join("terms.txt");
    std::fs::write(&terms, "host.example\n").unwrap();
    let out = certs.path().join("out.csv");
    let run = |extra: Vec<String>| {
        let mut args = vec![
            "bulk".to_owned(),
            terms.display().to_string(),
            "--out".into(),
            out.display().to_string(),
            "--server".into(),
            format!("https://127.0.0.1:{}", server.addr.port()),
            "--key".into(),
            server.key.clone(),
        ];
        args.extend(extra);
        ipintel_async(args)
    };
    // Not trusted without the CA.
    let untrusted = run(vec![]).await;
    assert_eq!(untrusted.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&untrusted.stderr).contains("TLS"),
        "{}",
        String::from_utf8_lossy(&untrusted.stderr)
    );
    let trusted = run(vec!["--ca-cert".into(), ca.display().to_string()]).await;
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        csv.lines().count(),
        3,
        "host.example has two addresses: {csv}"
    );
    server.stop().await;
}
