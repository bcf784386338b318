//! The RPSL registry and the RIPE Database REST API (issue 11): the tests' own registry
//! (`tests/registry/gen1.rpsl`, `gen2.rpsl`) imported by the real CLI into a running server's
//! store, then answered in JSON (compared structurally), XML (parsed back) and text
//! (compared exactly); history across generations; abuse contact and geolocation
//! inheritance; hostile input; an import while requests run.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::support::{eventually, ipintel_async, request, Response, Setup, TestServer};

fn registry_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/registry")
        .join(name)
}

async fn import(server: &TestServer, files: &[PathBuf]) -> std::process::Output {
    let data = server.data_dir();
    let mut args = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "registry",
        "import",
        "--source",
        "TEST",
        "--json",
    ];
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    ipintel_async(&args).await
}

/// A server with generation 1 imported and loaded.
async fn server() -> TestServer {
    server_with("").await
}

async fn server_with(extra: &str) -> TestServer {
    let server = TestServer::with(Setup {
        toml: format!("{extra}\n[registry]\nbase_url = \"https://reg.example\"\nterms_url = \"https://reg.example/terms\"\nrefresh_ms = 50\n"),
        ..Default::default()
    })
    .await;
    let out = import(&server, &[registry_file("gen1.rpsl")]).await;
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
    wait_for_generation(&server, generation).await;
    server
}

async fn wait_for_generation(server: &TestServer, generation: i64) {
    assert!(
        eventually(10, || async {
            server.state.registry.current().generation == generation
        })
        .await,
        "the server loads the import"
    );
}

async fn get(server: &TestServer, path: &str, accept: &str) -> Response {
    let mut headers = vec![];
    if !accept.is_empty() {
        headers.push(("Accept", accept));
    }
    request(server.addr, "GET", path, &headers).await
}

async fn json_of(server: &TestServer, path: &str) -> (u16, Value) {
    let r = get(server, path, "application/json").await;
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("application/json"),
        "{path}: {:?}",
        r.headers
    );
    (r.status, r.json())
}

fn text(r: &Response) -> String {
    String::from_utf8(r.body.clone()).unwrap()
}

/// (name, value, comment) of every attribute of the first object.
fn attributes(doc: &Value) -> Vec<(String, String, Option<String>)> {
    doc["objects"]["object"][0]["attributes"]["attribute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["value"].as_str().unwrap().to_string(),
                a["comment"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// The primary keys of a search answer, in order.
fn keys(doc: &Value) -> Vec<String> {
    doc["objects"]["object"]
        .as_array()
        .map(|objects| {
            objects
                .iter()
                .map(|o| {
                    o["primary-key"]["attribute"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a["value"].as_str().unwrap())
                        .collect::<String>()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every element of an XML document as (name, attributes), to check XML structurally.
fn xml_elements(body: &[u8]) -> Vec<(String, Vec<(String, String)>)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                            unescaped(&a),
                        )
                    })
                    .collect();
                out.push((name, attrs));
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

#[tokio::test]
async fn ripe_lookup_is_filtered_unless_a_maintainer_password_unlocks_it() {
    let s = server().await;
    let (status, doc) = json_of(&s, "/test/mntner/EX-MNT").await;
    assert_eq!(status, 200);
    let object = &doc["objects"]["object"][0];
    assert_eq!(object["type"], "mntner");
    assert_eq!(
        object["link"],
        json!({"type": "locator", "href": "https://reg.example/test/mntner/EX-MNT"})
    );
    assert_eq!(object["source"], json!({"id": "test"}));
    assert_eq!(
        object["primary-key"],
        json!({"attribute": [{"name": "mntner", "value": "EX-MNT"}]})
    );
    assert_eq!(
        object["attributes"]["attribute"][2],
        json!({"link": {"type": "locator", "href": "https://reg.example/test/person/AE1-TEST"},
               "name": "admin-c", "value": "AE1-TEST", "referenced-type": "person"})
    );
    let s2 =
        |a: &str, b: &str, c: Option<&str>| (a.to_string(), b.to_string(), c.map(str::to_string));
    assert_eq!(
        attributes(&doc),
        vec![
            s2("mntner", "EX-MNT", None),
            s2("descr", "Example maintainer", None),
            s2("admin-c", "AE1-TEST", None),
            s2("auth", "MD5-PW", Some("Filtered")),
            s2("mnt-by", "EX-MNT", None),
            s2("source", "TEST", Some("Filtered")),
        ],
        "upd-to and mnt-nfy removed, the hash masked"
    );
    assert_eq!(
        doc["terms-and-conditions"]["href"],
        "https://reg.example/terms"
    );
    assert_eq!(doc["version"]["version"], env!("CARGO_PKG_VERSION"));

    // The four filtering cases (docs/registry.md, "Filtering").
    let auth = |doc: &Value| attributes(doc).into_iter().find(|a| a.0 == "auth").unwrap();
    let has_upd_to = |doc: &Value| attributes(doc).iter().any(|a| a.0 == "upd-to");
    let source_comment = |doc: &Value| {
        attributes(doc)
            .into_iter()
            .find(|a| a.0 == "source")
            .unwrap()
            .2
    };
    let (_, unfiltered) = json_of(&s, "/test/mntner/EX-MNT?unfiltered").await;
    assert_eq!(auth(&unfiltered).1, "MD5-PW");
    assert!(has_upd_to(&unfiltered));
    assert_eq!(source_comment(&unfiltered).as_deref(), Some("Filtered"));
    let (_, password) = json_of(&s, "/test/mntner/EX-MNT?password=wrong&password=secret").await;
    assert_eq!(
        auth(&password),
        s2(
            "auth",
            "MD5-PW $1$SaltSalt$YhgRYajLPrYevs14poKBQ0",
            Some("ops key")
        )
    );
    assert!(!has_upd_to(&password));
    assert_eq!(source_comment(&password).as_deref(), Some("Filtered"));
    let (_, both) = json_of(&s, "/test/mntner/EX-MNT?password=secret&unfiltered").await;
    assert!(auth(&both).1.starts_with("MD5-PW $1$"));
    assert!(has_upd_to(&both));
    assert_eq!(source_comment(&both), None);
    let (status, wrong) = json_of(&s, "/test/mntner/EX-MNT?password=wrong&unfiltered").await;
    assert_eq!(
        (status, auth(&wrong).1.as_str()),
        (200, "MD5-PW"),
        "a wrong password is no error"
    );
    // HTTP Basic: the part after the colon is the password; bcrypt too.
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("BC-MNT:bsecret")
    );
    let r = request(
        s.addr,
        "GET",
        "/test/mntner/BC-MNT.json",
        &[("Authorization", &basic)],
    )
    .await;
    assert!(auth(&r.json()).1.starts_with("BCRYPT-PW $2y$"));
    // A person maintained by EX-MNT is unlocked by EX-MNT's password.
    let (_, person) = json_of(&s, "/test/person/AE1-TEST?unfiltered&password=secret").await;
    assert!(attributes(&person).iter().any(|a| a.0 == "e-mail"));
    assert_eq!(source_comment(&person), None);

    // XML: the same document, parsed back.
    let r = get(&s, "/test/mntner/EX-MNT", "").await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/xml"));
    let elements = xml_elements(&r.body);
    assert_eq!(elements[0].0, "whois-resources");
    assert!(elements[0]
        .1
        .contains(&("xmlns:xlink".into(), "http://www.w3.org/1999/xlink".into())));
    let object = elements.iter().find(|e| e.0 == "object").unwrap();
    assert_eq!(object.1, vec![("type".to_string(), "mntner".to_string())]);
    let auth_xml = elements
        .iter()
        .find(|e| e.0 == "attribute" && e.1.iter().any(|a| a.1 == "auth"))
        .unwrap();
    assert!(auth_xml.1.contains(&("comment".into(), "Filtered".into())));
    let link = elements.iter().find(|e| e.0 == "link").unwrap();
    assert!(link.1.contains(&(
        "xlink:href".into(),
        "https://reg.example/test/mntner/EX-MNT".into()
    )));

    // Text, exactly; and the .txt suffix wins over Accept.
    let r = get(
        &s,
        "/test/inetnum/192.0.2.10%20-%20192.0.2.37.txt",
        "application/json",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        text(&r),
        "inetnum:        192.0.2.10 - 192.0.2.37\nnetname:        ODD-NET\n\
         descr:          A range that is not a prefix\n                on two lines\n\
         country:        NL\ngeoloc:         51.92 4.48\nadmin-c:        BB1-TEST\n\
         tech-c:         BB1-TEST\nabuse-c:        EXAB1-TEST\nstatus:         ASSIGNED PA\n\
         mnt-by:         EX-MNT, BC-MNT\nsource:         TEST # Filtered\n\n"
    );
    // A range lookup answers that object only, never its parent; CIDR and range are one.
    let (status, _) = json_of(&s, "/test/inetnum/192.0.2.10%20-%20192.0.2.38").await;
    assert_eq!(status, 404);
    let (_, cidr) = json_of(&s, "/test/inetnum/192.0.2.0/25").await;
    assert_eq!(keys(&cidr), ["192.0.2.0 - 192.0.2.127"]);
    let (_, route) = json_of(&s, "/test/route/192.0.2.0/24AS64497").await;
    assert_eq!(keys(&route), ["192.0.2.0/24AS64497"]);
    assert_eq!(
        route["objects"]["object"][0]["link"]["href"],
        "https://reg.example/test/route/192.0.2.0/24AS64497"
    );
    // Lists are split per element; unformatted keeps the original text.
    let (_, odd) = json_of(
        &s,
        "/test/inetnum/192.0.2.10 - 192.0.2.37"
            .replace(' ', "%20")
            .as_str(),
    )
    .await;
    let mnt: Vec<_> = attributes(&odd)
        .into_iter()
        .filter(|a| a.0 == "mnt-by")
        .map(|a| a.1)
        .collect();
    assert_eq!(mnt, ["EX-MNT", "BC-MNT"]);
    let (_, raw) = json_of(&s, "/test/inetnum/192.0.2.10%20-%20192.0.2.37?unformatted").await;
    let descr = attributes(&raw)
        .into_iter()
        .find(|a| a.0 == "descr")
        .unwrap();
    assert_eq!(
        descr.1,
        "          A range that is not a prefix\n                on two lines"
    );
    assert_eq!(descr.2, None);
    // The prefix mount answers the same.
    let (status, prefixed) = json_of(&s, "/whois/test/mntner/EX-MNT").await;
    assert_eq!((status, keys(&prefixed)), (200, vec!["EX-MNT".to_string()]));
}

#[tokio::test]
async fn ripe_search_flags_hierarchies_and_paging() {
    let s = server().await;
    let search = |q: &str| {
        format!(
            "/search.json?source=TEST&query-string={}",
            q.replace(' ', "%20")
        )
    };
    // Default: the most specific range and route, grouped with their related objects.
    let (status, doc) = json_of(&s, &search("192.0.2.20")).await;
    assert_eq!(status, 200);
    assert_eq!(
        keys(&doc),
        [
            "192.0.2.10 - 192.0.2.37",
            "BB1-TEST",
            "EXAB1-TEST",
            "192.0.2.0/25AS64496"
        ]
        .iter()
        .filter(|k| **k != "EXAB1-TEST")
        .map(|k| k.to_string())
        .collect::<Vec<_>>(),
        "abuse-c is not a related attribute"
    );
    assert_eq!(
        doc["parameters"]["query-strings"],
        json!({"query-string": [{"value": "192.0.2.20"}]})
    );
    assert_eq!(
        doc["parameters"]["sources"],
        json!({"source": [{"id": "TEST"}]})
    );
    let flags = |f: &str| format!("{}&flags={f}&flags=r", search("192.0.2.20"));
    let (_, doc) = json_of(&s, &flags("exact")).await;
    assert_eq!(keys(&doc).len(), 0, "{doc}");
    let (status, _) = json_of(&s, &flags("x")).await;
    assert_eq!(status, 404);
    let (_, doc) = json_of(
        &s,
        &format!("{}&flags=x&flags=r", search("192.0.2.10 - 192.0.2.37")),
    )
    .await;
    assert_eq!(keys(&doc), ["192.0.2.10 - 192.0.2.37"]);
    let (_, doc) = json_of(
        &s,
        &format!(
            "{}&flags=l&flags=r&type-filter=inetnum",
            search("192.0.2.10 - 192.0.2.37")
        ),
    )
    .await;
    assert_eq!(keys(&doc), ["192.0.2.0 - 192.0.2.127"]);
    let (_, doc) = json_of(
        &s,
        &format!(
            "{}&flags=L&flags=r&type-filter=inetnum",
            search("192.0.2.10 - 192.0.2.37")
        ),
    )
    .await;
    assert_eq!(
        keys(&doc),
        [
            "0.0.0.0 - 255.255.255.255",
            "192.0.2.0 - 192.0.2.255",
            "192.0.2.0 - 192.0.2.127",
            "192.0.2.10 - 192.0.2.37"
        ],
        "least specific first, ending with the exact match"
    );
    let (_, doc) = json_of(
        &s,
        &format!(
            "{}&flags=m&flags=r&type-filter=inetnum",
            search("192.0.2.0/24")
        ),
    )
    .await;
    assert_eq!(
        keys(&doc),
        ["192.0.2.0 - 192.0.2.127", "192.0.2.128 - 192.0.2.200"]
    );
    let (_, doc) = json_of(
        &s,
        &format!(
            "{}&flags=all-more&flags=r&type-filter=inetnum",
            search("192.0.2.0/24")
        ),
    )
    .await;
    assert_eq!(
        keys(&doc),
        [
            "192.0.2.0 - 192.0.2.127",
            "192.0.2.10 - 192.0.2.37",
            "192.0.2.128 - 192.0.2.200"
        ]
    );
    let (_, doc) = json_of(
        &s,
        &format!("{}&flags=r&type-filter=route", search("192.0.2.0/24")),
    )
    .await;
    assert_eq!(
        keys(&doc),
        ["192.0.2.0/24AS64496", "192.0.2.0/24AS64497"],
        "every origin of the prefix"
    );
    let (_, doc) = json_of(&s, &format!("{}&flags=r", search("192.0.2.0/24AS64497"))).await;
    assert_eq!(keys(&doc), ["192.0.2.0/24AS64497"]);
    let (_, doc) = json_of(&s, &format!("{}&flags=r", search("2001:db8:1:2::1"))).await;
    assert_eq!(keys(&doc), ["2001:db8:1::/48", "2001:db8::/32AS64496"]);

    // -c: the irt of the object, else of its nearest ancestor that names one.
    let (_, doc) = json_of(
        &s,
        &format!("{}&flags=c&type-filter=inetnum", search("192.0.2.20")),
    )
    .await;
    assert!(
        keys(&doc).contains(&"IRT-EXAMPLE".to_string()),
        "{:?}",
        keys(&doc)
    );
    let (_, doc) = json_of(&s, &format!("{}&type-filter=inetnum", search("192.0.2.20"))).await;
    assert!(
        !keys(&doc).contains(&"IRT-EXAMPLE".to_string()),
        "only with irt"
    );
    let (_, doc) = json_of(
        &s,
        &format!("{}&flags=c&type-filter=inetnum", search("198.51.100.1")),
    )
    .await;
    assert!(
        !keys(&doc).contains(&"IRT-EXAMPLE".to_string()),
        "no irt above 198.51.100.0/24"
    );

    // An AS number: the as-block first, then the aut-num.
    let (_, doc) = json_of(&s, &format!("{}&flags=r", search("AS64496"))).await;
    assert_eq!(keys(&doc), ["AS64496 - AS64511", "AS64496"]);
    // Names by words, handles, sets, e-mail.
    let (_, doc) = json_of(&s, &format!("{}&flags=r", search("builder bob"))).await;
    assert_eq!(keys(&doc), ["BB1-TEST"]);
    let (_, doc) = json_of(&s, &format!("{}&flags=r", search("AS-EXAMPLE"))).await;
    assert_eq!(keys(&doc), ["AS-EXAMPLE"]);
    let (_, doc) = json_of(&s, &format!("{}&flags=r", search("ann@example.net"))).await;
    assert_eq!(keys(&doc), ["AE1-TEST"]);

    // Inverse: sorted by class order; related objects once with no-grouping.
    let (_, doc) = json_of(
        &s,
        &format!(
            "{}&inverse-attribute=mnt-by&flags=r&type-filter=inetnum",
            search("BC-MNT")
        ),
    )
    .await;
    assert_eq!(keys(&doc), ["192.0.2.10 - 192.0.2.37"]);
    let (_, grouped) = json_of(
        &s,
        &format!("{}&inverse-attribute=admin-c", search("BB1-TEST")),
    )
    .await;
    let (_, flat) = json_of(
        &s,
        &format!("{}&inverse-attribute=admin-c&flags=G", search("BB1-TEST")),
    )
    .await;
    let g = keys(&grouped);
    let f = keys(&flat);
    assert!(
        g.len() > f.len(),
        "groups repeat related objects: {g:?} vs {f:?}"
    );
    assert_eq!(f.iter().filter(|k| *k == "BB1-TEST").count(), 1);
    let (_, person) = json_of(
        &s,
        &format!("{}&inverse-attribute=person&flags=r", search("EXAB1-TEST")),
    )
    .await;
    assert_eq!(
        keys(&person),
        ["192.0.2.10 - 192.0.2.37", "AS64496"],
        "-i person covers abuse-c"
    );

    // limit and offset page over the whole stream, related objects included.
    let all = g.clone();
    for (offset, limit) in [(0, 2), (1, 3), (3, 100)] {
        let (_, page) = json_of(
            &s,
            &format!(
                "{}&inverse-attribute=admin-c&offset={offset}&limit={limit}",
                search("BB1-TEST")
            ),
        )
        .await;
        let want: Vec<String> = all.iter().skip(offset).take(limit).cloned().collect();
        assert_eq!(keys(&page), want, "offset {offset} limit {limit}");
    }

    // A hierarchy flag without an IP key still answers, with WARNING:902.
    let (status, doc) = json_of(&s, &format!("{}&flags=M&flags=r", search("AS64497"))).await;
    assert_eq!(status, 200);
    let warning = &doc["errormessages"]["errormessage"][0];
    assert_eq!(warning["severity"], "Warning");
    assert!(warning["text"].as_str().unwrap().starts_with("WARNING:902"));
}

#[tokio::test]
async fn ripe_errors_have_the_documented_status_and_message_in_the_asked_format() {
    let s = server().await;
    let error_text = |doc: &Value| {
        doc["errormessages"]["errormessage"][0]["text"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let cases: &[(&str, u16, &str)] = &[
        (
            "/search?query-string=nohit&source=TEST",
            404,
            "ERROR:101: no entries found",
        ),
        (
            "/search?source=TEST",
            400,
            "Query param 'query-string' cannot be empty",
        ),
        (
            "/search?query-string=%20%20",
            400,
            "Query param 'query-string' cannot be empty",
        ),
        (
            "/search?query-string=10.0.0.0%20-10.1.1.1",
            400,
            "Flags are not allowed in 'query-string'",
        ),
        (
            "/search?query-string=AS1&flags=k",
            400,
            "Disallowed search flag 'persistent-connection'",
        ),
        (
            "/search?query-string=AS1&flags=rz",
            400,
            "Invalid search flag 'z' (in parameter 'rz')",
        ),
        ("/search?query-string=AS1&flags=x&flags=M", 400, "ERROR:901"),
        (
            "/search?query-string=AS1&source=pez",
            400,
            "Invalid source 'pez'",
        ),
        (
            "/search?query-string=AS1&type-filter=weather",
            400,
            "ERROR:103",
        ),
        (
            "/search?query-string=AS1&inverse-attribute=nothing",
            400,
            "ERROR:104",
        ),
        (
            "/search?query-string=AS1&inverse-attribute=netname",
            400,
            "ERROR:105",
        ),
        (
            "/search?query-string=AS64496&type-filter=inetnum",
            400,
            "ERROR:115",
        ),
        ("/search?query-string=192.0.2.0/33", 400, "ERROR:115"),
        (
            "/search?query-string=192.0.2.9%20-%20192.0.2.1",
            400,
            "ERROR:115",
        ),
        ("/search?query-string=0.0.0.0/0&flags=M", 400, "ERROR:112"),
        ("/search?query-string=AS1&limit=-1", 400, "Invalid limit"),
        ("/search?query-string=%ff%fe", 400, "UTF-8"),
        ("/pez/mntner/EX-MNT", 400, "Invalid source 'pez'"),
        ("/test/weather/X", 400, "Invalid object type: weather"),
        ("/test/mntner/NOPE-MNT", 404, "ERROR:101"),
        ("/test/person/AE1-TEST/versions", 404, "ERROR:116"),
        ("/geolocation?ipkey=", 400, "ipkey is required"),
        ("/test/mntner/%FF%FE", 400, "Invalid path"),
        ("/abuse-contact/%FF", 400, "Invalid path"),
        (
            "/search?query-string=AS1&flags=brief",
            400,
            "Disallowed search flag 'brief'",
        ),
    ];
    for (path, status, message) in cases {
        let (got, doc) = json_of(&s, path).await;
        assert_eq!(got, *status, "{path}: {doc}");
        assert!(error_text(&doc).contains(message), "{path}: {doc}");
        assert!(
            doc["link"]["href"]
                .as_str()
                .unwrap()
                .starts_with("https://reg.example/"),
            "{path}"
        );
        // The same error in XML, parsed back, and in text.
        let r = get(&s, path, "application/xml").await;
        assert_eq!(r.status, *status);
        let elements = xml_elements(&r.body);
        let em = elements
            .iter()
            .find(|e| e.0 == "errormessage")
            .expect("an errormessage element");
        assert!(
            em.1.iter().any(|(k, v)| k == "text" && v.contains(message)),
            "{path}: {em:?}"
        );
        let r = get(&s, path, "text/plain").await;
        assert_eq!(r.status, *status);
        assert!(text(&r).contains("Severity: "), "{path}: {}", text(&r));
    }
    // 101 names its sources as an argument.
    let (_, doc) = json_of(&s, "/search?query-string=nohit&source=TEST").await;
    assert_eq!(
        doc["errormessages"]["errormessage"][0]["args"],
        json!([{"value": "TEST"}])
    );
    let r = get(&s, "/search?query-string=nohit&source=TEST", "text/plain").await;
    assert_eq!(
        text(&r),
        "https://reg.example/search?query-string=nohit&source=TEST\nSeverity: Error\n\
         Text: ERROR:101: no entries found\n\nNo entries found in source %s.\n\n[TEST]\nhttps://reg.example/terms\n"
    );
    // Passwords never appear in the locator.
    let (_, doc) = json_of(&s, "/test/mntner/NOPE-MNT?password=hunter2").await;
    assert!(!doc.to_string().contains("hunter2"));

    // Too many words, too long, an unknown suffix, nothing acceptable, no key, a write.
    let words = vec!["a"; 100].join("+");
    let (status, doc) = json_of(&s, &format!("/search?query-string={words}")).await;
    assert!(
        status == 400 && error_text(&doc).contains("ERROR:118"),
        "{status} {doc}"
    );
    let words = vec!["a"; 10_000].join("+");
    let r = get(
        &s,
        &format!("/search?query-string={words}"),
        "application/json",
    )
    .await;
    assert_eq!(
        r.status, 431,
        "10,000 arguments do not fit the header limit (http.max_header_bytes)"
    );
    let long = "a".repeat(2000);
    let (status, doc) = json_of(&s, &format!("/search?query-string={long}")).await;
    assert!(
        status == 400 && error_text(&doc).contains("ERROR:107"),
        "{status} {doc}"
    );
    let huge = "a".repeat(1 << 20);
    let r = get(
        &s,
        &format!("/search?query-string={huge}"),
        "application/json",
    )
    .await;
    assert_eq!(
        r.status, 431,
        "a 1 MB request line is refused by the header limit"
    );
    let r = get(&s, "/search.html?query-string=AS64496", "application/json").await;
    assert_eq!(r.status, 400);
    assert!(r.json()["errormessages"]["errormessage"][0]["text"]
        .as_str()
        .unwrap()
        .contains(".html"));
    let r = get(&s, "/test/aut-num/AS64496.html", "application/json").await;
    assert_eq!(r.status, 400);
    let r = get(&s, "/test/mntner/EX-MNT", "image/png").await;
    assert_eq!(r.status, 415);
    assert!(xml_elements(&r.body).iter().any(|e| e.0 == "errormessage"));
    let r = get(&s, "/test/mntner", "").await;
    assert_eq!(r.status, 405);
    let r = request(
        s.addr,
        "POST",
        "/test/mntner/EX-MNT",
        &[("Content-Length", "0")],
    )
    .await;
    assert_eq!(r.status, 405);
    let r = request(s.addr, "HEAD", "/test/mntner/EX-MNT", &[]).await;
    assert_eq!((r.status, r.body.len()), (200, 0));
    // Values are escaped in XML.
    let r = get(
        &s,
        "/test/inetnum/192.0.2.128%20-%20192.0.2.200",
        "application/xml",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body)
        .contains("value=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more\""));
    let remarks = xml_elements(&r.body)
        .into_iter()
        .find(|e| e.0 == "attribute" && e.1.contains(&("name".into(), "remarks".into())))
        .unwrap();
    assert!(remarks.1.contains(&(
        "value".into(),
        "<script>alert(\"x\")</script> & more".into()
    )));
}

#[tokio::test]
async fn ripe_abuse_contact_and_geolocation_are_inherited_as_specified() {
    let s = server().await;
    let contact = |doc: &Value| {
        let c = &doc["abuse-contacts"];
        (
            c["key"].as_str().unwrap().to_string(),
            c["email"].as_str().unwrap().to_string(),
            c["org-id"].as_str().unwrap().to_string(),
        )
    };
    let t = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    let cases = [
        (
            "192.0.2.20",
            "192.0.2.10 - 192.0.2.37",
            t("EXAB1-TEST", "abuse@example.net", "ORG-EX1-TEST"),
        ),
        (
            "192.0.2.50",
            "192.0.2.0 - 192.0.2.127",
            t("ORAB1-TEST", "abuse@example.org", "ORG-EX1-TEST"),
        ),
        (
            "192.0.2.0/24",
            "192.0.2.0 - 192.0.2.255",
            t("ORAB1-TEST", "abuse@example.org", "ORG-EX1-TEST"),
        ),
        (
            "198.51.100.7",
            "198.51.100.0 - 198.51.100.255",
            t("", "", "ORG-OT1-TEST"),
        ),
        (
            "2001:db8:1::5",
            "2001:db8:1::/48",
            t("ORAB1-TEST", "abuse@example.org", "ORG-EX1-TEST"),
        ),
        (
            "AS64496",
            "AS64496",
            t("EXAB1-TEST", "abuse@example.net", "ORG-EX1-TEST"),
        ),
        ("AS64497", "AS64497", t("", "", "ORG-OT1-TEST")),
    ];
    for (key, primary, want) in cases {
        let (status, doc) = json_of(&s, &format!("/abuse-contact/{key}")).await;
        assert_eq!(status, 200, "{key}: {doc}");
        assert_eq!(doc["service"], "abuse-contact");
        assert_eq!(doc["parameters"]["primary-key"]["value"], primary, "{key}");
        assert_eq!(contact(&doc), want, "{key}");
        assert_eq!(
            doc["link"]["href"],
            format!("https://reg.example/abuse-contact/{key}")
        );
    }
    let r = get(&s, "/abuse-contact/192.0.2.20", "application/xml").await;
    let elements = xml_elements(&r.body);
    assert_eq!(
        elements[0],
        (
            "abuse-resources".to_string(),
            vec![("service".to_string(), "abuse-contact".to_string())]
        )
    );
    let c = elements.iter().find(|e| e.0 == "abuse-contacts").unwrap();
    assert!(c.1.contains(&("email".into(), "abuse@example.net".into())));
    for (key, status, message) in [
        ("AS64999", 404, "No abuse contact found for AS64999"),
        ("10.0.0.1", 404, "No abuse contact found for 10.0.0.1"),
        ("1111", 400, "Invalid argument: 1111"),
        ("not-a-resource", 400, "Invalid argument: not-a-resource"),
    ] {
        let (got, doc) = json_of(&s, &format!("/abuse-contact/{key}")).await;
        assert_eq!((got, doc["message"].as_str().unwrap()), (status, message));
        let r = get(&s, &format!("/abuse-contact/{key}"), "application/xml").await;
        assert_eq!(r.status, status);
        assert!(String::from_utf8_lossy(&r.body).contains(&format!("<message>{message}</message>")));
    }
    // The abuse-contact parameter on a lookup adds the member.
    let (_, doc) = json_of(&s, "/test/aut-num/AS64496?abuse-contact&resource-holder").await;
    assert_eq!(
        doc["objects"]["object"][0]["abuse-contact"]["email"],
        "abuse@example.net"
    );
    assert_eq!(
        doc["objects"]["object"][0]["resource-holder"],
        json!({"key": "ORG-EX1-TEST", "name": "Example Networks B.V."})
    );

    // Geolocation: own geoloc, languages from the org; then through a parent that stops.
    let (status, doc) = json_of(&s, "/geolocation?ipkey=192.0.2.20").await;
    assert_eq!(status, 200);
    let geo = &doc["geolocation-attributes"];
    assert_eq!(geo["location"][0]["value"], "51.92 4.48");
    assert_eq!(
        geo["location"][0]["link"]["href"],
        "https://reg.example/lookup/test/inetnum/192.0.2.10%20-%20192.0.2.37"
    );
    let languages: Vec<&str> = geo["language"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["value"].as_str().unwrap())
        .collect();
    assert_eq!(languages, ["NL", "EN"]);
    assert_eq!(
        geo["language"][0]["link"]["href"],
        "https://reg.example/lookup/test/organisation/ORG-EX1-TEST"
    );
    // The links are served: the same object as its plain locator, also under the prefix.
    for href in [
        &geo["location"][0]["link"]["href"],
        &geo["language"][0]["link"]["href"],
    ] {
        let path = href
            .as_str()
            .unwrap()
            .strip_prefix("https://reg.example")
            .unwrap();
        let (status, linked) = json_of(&s, path).await;
        assert_eq!(status, 200, "{path}");
        let plain = path.strip_prefix("/lookup").unwrap();
        assert_eq!(
            linked["objects"],
            json_of(&s, plain).await.1["objects"],
            "{path}"
        );
        let (status, _) = json_of(&s, &format!("/whois{path}")).await;
        assert_eq!(status, 200, "/whois{path}");
    }
    let (_, doc) = json_of(&s, "/geolocation?ipkey=192.0.2.150").await;
    assert_eq!(
        doc["geolocation-attributes"]["location"][0]["value"], "52.37 4.89",
        "the allocation's org"
    );
    let (status, doc) = json_of(&s, "/geolocation?ipkey=198.51.100.1").await;
    assert_eq!(
        status, 404,
        "ASSIGNED PI stops the walk before the whole-space object: {doc}"
    );
    let (status, _) = json_of(&s, "/geolocation?ipkey=garbage").await;
    assert_eq!(status, 404);
    let r = get(&s, "/geolocation?ipkey=192.0.2.20", "application/xml").await;
    let elements = xml_elements(&r.body);
    assert!(elements
        .iter()
        .any(|e| e.0 == "location" && e.1.contains(&("value".into(), "51.92 4.48".into()))));

    // Metadata.
    let (_, doc) = json_of(&s, "/metadata/sources").await;
    assert_eq!(doc["service"]["name"], "getSupportedDataSources");
    assert_eq!(doc["sources"]["source"][0]["id"], "test");
    assert_eq!(doc["sources"]["source"][0]["objects"], 39);
    let (status, doc) = json_of(&s, "/metadata/templates/inetnum").await;
    assert_eq!(status, 200);
    assert_eq!(
        doc["templates"]["template"][0]["attributes"]["attribute"][0],
        json!({"name": "inetnum", "requirement": "MANDATORY", "cardinality": "SINGLE", "keys": ["PRIMARY_KEY", "LOOKUP_KEY"]})
    );
    let r = get(&s, "/metadata/templates/inetnum", "text/plain").await;
    assert!(
        text(&r).starts_with("inetnum:        [mandatory]  [single]     [primary/lookup key]\n"),
        "{}",
        text(&r)
    );
    let r = get(&s, "/metadata/templates/weather", "application/json").await;
    assert_eq!((r.status, r.body.len()), (404, 0));
}

#[tokio::test]
async fn ripe_versions_follow_imports_and_deletions() {
    let s = server().await;
    let gen2 = registry_file("gen2.rpsl");
    let out = import(&s, std::slice::from_ref(&gen2)).await;
    assert!(out.status.success());
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            summary["added"].as_u64(),
            summary["changed"].as_u64(),
            summary["deleted"].as_u64()
        ),
        (Some(1), Some(2), Some(1)),
        "{summary}"
    );
    assert_eq!(summary["skipped"].as_array().unwrap().len(), 2);
    wait_for_generation(
        &s,
        s.state
            .registry
            .store()
            .registry_generation()
            .await
            .unwrap(),
    )
    .await;

    let revisions = |doc: &Value| -> Vec<u64> {
        doc["versions"]["version"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["revision"].as_u64().unwrap())
            .collect()
    };
    let (status, doc) = json_of(&s, "/test/inetnum/192.0.2.10%20-%20192.0.2.37/versions").await;
    assert_eq!(status, 200);
    assert_eq!(revisions(&doc), [1, 2]);
    assert_eq!(doc["versions"]["type"], "inetnum");
    let (_, v1) = json_of(&s, "/test/inetnum/192.0.2.10%20-%20192.0.2.37/versions/1").await;
    assert_eq!(v1["objects"]["object"][0]["version"], 1);
    assert!(!v1.to_string().contains("changed in generation 2"));
    let (_, v2) = json_of(&s, "/test/inetnum/192.0.2.10%20-%20192.0.2.37/versions/2").await;
    assert!(v2.to_string().contains("changed in generation 2"));
    let (status, doc) = json_of(&s, "/test/inetnum/192.0.2.10%20-%20192.0.2.37/versions/3").await;
    assert_eq!(status, 404, "{doc}");
    // Deleted: an empty history; its versions are gone; then re-created from 1.
    let (status, doc) = json_of(&s, "/test/inetnum/203.0.113.0/24/versions").await;
    assert_eq!((status, revisions(&doc).len()), (200, 0));
    let (status, _) = json_of(&s, "/test/inetnum/203.0.113.0/24/versions/1").await;
    assert_eq!(status, 404);
    let (status, _) = json_of(&s, "/test/inetnum/203.0.113.0/24").await;
    assert_eq!(status, 404);
    let (status, _) = json_of(&s, "/test/inetnum/198.18.0.0/24/versions").await;
    assert_eq!(status, 404, "never existed");
    let dir = tempfile::tempdir().unwrap();
    let gen3 = dir.path().join("gen3.db");
    let temp_net = "inetnum: 203.0.113.0 - 203.0.113.255\nnetname: TEMP-NET-AGAIN\ncountry: NL\n\
                    admin-c: AE1-TEST\ntech-c: AE1-TEST\nstatus: ASSIGNED PA\nmnt-by: EX-MNT\nsource: TEST\n";
    std::fs::write(
        &gen3,
        format!("{}\n{temp_net}", std::fs::read_to_string(&gen2).unwrap()),
    )
    .unwrap();
    let out = import(&s, &[gen3]).await;
    assert!(out.status.success());
    wait_for_generation(
        &s,
        s.state
            .registry
            .store()
            .registry_generation()
            .await
            .unwrap(),
    )
    .await;
    let (_, doc) = json_of(&s, "/test/inetnum/203.0.113.0/24/versions").await;
    assert_eq!(
        revisions(&doc),
        [1],
        "a re-created object starts counting again"
    );
    let r = get(&s, "/test/aut-num/AS64497/versions", "text/plain").await;
    let listing = text(&r);
    assert!(
        listing.starts_with(
            "Version history for AUT-NUM object \"AS64497\"\n\nrev#  Date              Op.\n1     "
        ),
        "{listing}"
    );
    assert_eq!(listing.lines().count(), 5);
    // XML of a version object carries the version attribute.
    let r = get(&s, "/test/aut-num/AS64497/versions/1", "application/xml").await;
    let elements = xml_elements(&r.body);
    let object = elements.iter().find(|e| e.0 == "object").unwrap();
    assert!(object.1.contains(&("version".into(), "1".into())));
}

#[tokio::test]
async fn ripe_import_problems_change_nothing() {
    let s = server().await;
    let before = s
        .state
        .registry
        .store()
        .registry_generation()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A gzip cut in the middle, after a good file: nothing of either is applied.
    let good = registry_file("gen2.rpsl");
    let mut encoder = flate2_free_gzip(&std::fs::read(&good).unwrap());
    encoder.truncate(encoder.len() / 2);
    let broken = dir.path().join("ripe.db.inetnum.gz");
    std::fs::write(&broken, &encoder).unwrap();
    let out = import(&s, &[good.clone(), broken]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ripe.db.inetnum.gz")
            && stderr.contains("at line")
            && stderr.contains("nothing was imported"),
        "{stderr}"
    );
    assert_eq!(
        s.state
            .registry
            .store()
            .registry_generation()
            .await
            .unwrap(),
        before
    );
    // A missing file, a bad source name.
    let out = import(&s, &[dir.path().join("absent.db")]).await;
    assert_eq!(out.status.code(), Some(1));
    let data = s.data_dir();
    let out = ipintel_async(&[
        "--data-dir",
        data.to_str().unwrap(),
        "registry",
        "import",
        "--source",
        "a b",
        good.to_str().unwrap(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        s.state
            .registry
            .store()
            .registry_generation()
            .await
            .unwrap(),
        before
    );
    // Hostile bytes in a dump: the importer reads on, no panic.
    let hostile = dir.path().join("hostile.db");
    let mut bytes =
        b"person: \xff\xfe\x00 Weird\nnic-hdl: W1-TEST\nsource: TEST\n\n:\n\n  \n+\nx".to_vec();
    bytes.extend(std::iter::repeat_n(b'a', 100_000));
    std::fs::write(&hostile, bytes).unwrap();
    let out = import(&s, &[registry_file("gen1.rpsl"), hostile]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        summary["skipped"].as_array().unwrap().len() >= 3,
        "{summary}"
    );
    wait_for_generation(
        &s,
        s.state
            .registry
            .store()
            .registry_generation()
            .await
            .unwrap(),
    )
    .await;
    let (status, _) = json_of(&s, "/test/person/W1-TEST").await;
    assert_eq!(status, 200, "latin-1 is read as such");
}

/// A gzip stream of `bytes` without a gzip crate in the tests: `gzip -c`.
fn flate2_free_gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip runs");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    child.wait_with_output().unwrap().stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ripe_import_while_serving_shows_old_or_new_never_a_mixture() {
    let s = server().await;
    let addr = s.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut seen = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Both objects change together in generation 2.
                let r = request(addr, "GET", "/search.json?query-string=EX-MNT&inverse-attribute=mnt-by&flags=r&type-filter=inetnum,aut-num", &[]).await;
                assert_eq!(r.status, 200, "no failed request during an import");
                let body = String::from_utf8_lossy(&r.body).to_string();
                let odd_new = body.contains("changed in generation 2");
                let as_new = body.contains("NEIGHBOUR-AS-RENAMED");
                assert_eq!(odd_new, as_new, "one answer, one generation");
                if odd_new {
                    seen.1 += 1
                } else {
                    seen.0 += 1
                }
            }
            seen
        })
    };
    for file in ["gen2.rpsl", "gen1.rpsl", "gen2.rpsl"] {
        let out = import(&s, &[registry_file(file)]).await;
        assert!(out.status.success());
        wait_for_generation(
            &s,
            s.state
                .registry
                .store()
                .registry_generation()
                .await
                .unwrap(),
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (old, new) = reader.await.unwrap();
    assert!(
        old > 0 && new > 0,
        "both generations were served: {old} old, {new} new"
    );
}

/// An attribute's value with entities replaced. (`unescape_value` is deprecated in favour
/// of XML-version-aware normalisation, which these one-version documents do not need.)
#[allow(deprecated)]
fn unescaped(a: &quick_xml::events::attributes::Attribute<'_>) -> String {
    a.unescape_value().unwrap().into_owned()
}

#[tokio::test]
async fn registry_ranges_answer_in_v1_and_in_qradar_whois_tasks() {
    let upstream = crate::tasks::whois_server(
        "netname: FROM-UPSTREAM\n".into(),
        std::time::Duration::ZERO,
        false,
    )
    .await;
    let s = server_with(&format!(
        "[tasks]\nwhois_server = \"{upstream}\"\ntimeout_secs = 2\n"
    ))
    .await;
    let bearer = format!("Bearer {}", s.key);
    let r = request(
        s.addr,
        "GET",
        "/v1/ip/192.0.2.20",
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(
        r.json()["registry"],
        json!({"source": "TEST", "range": "192.0.2.10 - 192.0.2.37", "netname": "ODD-NET", "country": "NL",
               "abuse_contact": "EXAB1-TEST", "abuse_email": "abuse@example.net"})
    );
    let r = request(
        s.addr,
        "GET",
        "/v1/ip/2001:db8:1::1?fields=registry(org_id,org_name)",
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(
        r.json()["registry"],
        json!({}),
        "the /48 has no org of its own: {}",
        text(&r)
    );
    let r = request(
        s.addr,
        "GET",
        "/v1/ip/192.0.2.200?fields=registry(range)",
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(r.json()["registry"]["range"], "192.0.2.128 - 192.0.2.200");
    let r = request(
        s.addr,
        "GET",
        "/v1/ip/10.9.9.9",
        &[("Authorization", &bearer)],
    )
    .await;
    assert!(
        r.json().get("registry").is_none(),
        "the whole-space placeholder is no answer"
    );

    // QRadar WHOIS: the registry for its ranges, upstream whois for the rest.
    for (ip, want, not) in [
        ("192.0.2.20", "ODD-NET", "FROM-UPSTREAM"),
        ("10.9.9.9", "FROM-UPSTREAM", "ODD-NET"),
    ] {
        let r = request(
            s.addr,
            "POST",
            &format!("/api/services/whois_lookups?IP={ip}"),
            &[("SEC", &s.key), ("Content-Length", "0")],
        )
        .await;
        assert_eq!(r.status, 201, "{}", text(&r));
        let location = r.header("location").unwrap().to_owned();
        let done = crate::tasks::wait_final(&s, &s.key, &location).await;
        assert_eq!(done["status"], "COMPLETED", "{done}");
        let message = done["message"].as_str().unwrap();
        assert!(
            message.contains(want) && !message.contains(not),
            "{ip}: {message}"
        );
        if ip == "192.0.2.20" {
            assert!(
                message.contains(
                    "% Abuse contact for '192.0.2.10 - 192.0.2.37' is 'abuse@example.net'"
                ),
                "{message}"
            );
            assert!(
                message.contains("person:         Bob  Builder"),
                "related objects follow: {message}"
            );
            assert!(
                !message.contains("noc@example.net"),
                "filtered as public whois is: {message}"
            );
        }
    }
}

/// The CLI's import writes the generation's registry file; a service opening the store
/// again maps it without writing it; a file cut short is rebuilt from the store with the
/// same answers; `ipintel registry rebuild` writes it again.
#[tokio::test]
async fn registry_files_are_opened_as_they_are_and_rebuilt_when_cut() {
    use ipintel_core::registry::service::RegistryService;
    let s = server().await;
    let generation = s.state.registry.current().generation;
    let data = s.data_dir();
    let file = data.join(format!("registry/generation-{generation}.ipreg"));
    assert!(file.exists(), "the import wrote {}", file.display());
    let answer = |registry: &ipintel_core::registry::index::Registry| {
        let id = registry
            .get("TEST", "person", "AE1-TEST")
            .expect("AE1-TEST");
        (registry.len(), registry.object(id).object.text.to_string())
    };
    let served = answer(&s.state.registry.current().registry);
    let _dir = s.stop().await;

    let open = || async {
        let store = ipintel_core::store::Store::open_sqlite(&data.join("ipintel.db"))
            .await
            .unwrap();
        let service = RegistryService::with_dir(store.clone(), data.join("registry"));
        service.refresh().await.unwrap();
        store.close().await;
        service
    };
    let written = std::fs::read(&file).unwrap();
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    let service = open().await;
    assert_eq!(answer(&service.current().registry), served);
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        modified,
        "opened, not written again"
    );
    drop(service);

    std::fs::write(&file, &written[..written.len() / 2]).unwrap();
    let service = open().await;
    assert_eq!(answer(&service.current().registry), served, "rebuilt");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        written,
        "the same file again"
    );
    drop(service);

    std::fs::remove_file(&file).unwrap();
    let out = ipintel_async(&["--data-dir", data.to_str().unwrap(), "registry", "rebuild"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("generation-{generation}.ipreg")),
        "{stdout}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), written);
}
