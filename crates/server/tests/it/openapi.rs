//! `/openapi.json`: a valid OpenAPI 3.1 document whose every operation is really routed.

use crate::support::{raw, request, TestServer};

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let server = TestServer::start().await;
    let r = request(server.addr, "GET", "/openapi.json", &[]).await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut n = 0;
    for (path, methods) in paths {
        for (method, op) in methods.as_object().unwrap() {
            n += 1;
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            let mut url = path.clone();
            let mut query = Vec::new();
            for p in op["parameters"].as_array().unwrap() {
                let (name, example) = (p["name"].as_str().unwrap(), p["example"].as_str().unwrap());
                let example = example.replace("KEY", &server.key);
                match p["in"].as_str().unwrap() {
                    "path" => url = url.replace(&format!("{{{name}}}"), &example),
                    "query" if p["required"] == true => query.push(format!(
                        "{name}={}",
                        percent_encoding::utf8_percent_encode(
                            &example,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    )),
                    _ => {}
                }
            }
            if !query.is_empty() {
                url = format!("{url}?{}", query.join("&"));
            }
            let body = if op.get("requestBody").is_some() {
                r#"{"ips": ["81.2.69.160"]}"#
            } else {
                ""
            };
            let head = format!(
                "{} {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {key}\r\nSEC: {key}\r\nContent-Length: {}\r\n\r\n{body}",
                method.to_ascii_uppercase(),
                body.len(),
                key = server.key,
            );
            let r = raw(server.addr, head.as_bytes()).await;
            // The router's own fallback answers "not found" as text; 405 means a wrong method.
            assert!(
                !(r.status == 404 && r.body == b"not found\n") && r.status != 405,
                "{method} {url} is documented but not routed ({})",
                r.status
            );
        }
    }
    assert!(n >= 12, "{n} operations");
    server.stop().await;
}

#[tokio::test]
async fn the_document_validates() {
    let server = TestServer::start().await;
    let r = request(server.addr, "GET", "/openapi.json", &[]).await;
    let file = server.dir.path().join("openapi.json");
    std::fs::write(&file, &r.body).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", "import sys, json; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('valid')"])
            .arg(file)
            .output()
            .expect("python3")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator (tests/python/requirements.txt) rejects the document: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop().await;
}

/// schemathesis (tests/python/requirements.txt) generates requests from `/openapi.json` and
/// runs every check against a server on loopback: statuses, content types, headers and bodies
/// as documented, security alternatives honoured (no credentials means 401), schema-valid
/// requests accepted and schema-violating ones refused. `tests/python/schemathesis.toml` holds
/// the few relaxations the document cannot express, each with its reason; `/admin/reload`
/// needs the admin token rather than an API key and is covered by the hardening tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_with_every_check() {
    // Task resolvers on a closed loopback port: nothing is looked up anywhere.
    let server = TestServer::with(crate::support::Setup {
        toml: "[tasks]\ndns_server = \"127.0.0.1:9\"\nwhois_server = \"127.0.0.1:9\"\nwhois_referral_hosts = [\"127.0.0.1:9\"]\n".into(),
        ..Default::default()
    })
    .await;
    let config =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/schemathesis.toml");
    let key = server.key.clone();
    let run = || {
        tokio::process::Command::new("python3")
            .args(["-m", "schemathesis.cli", "--config-file"])
            .arg(&config)
            .arg("run")
            .arg(format!("http://{}/openapi.json", server.addr))
            .args(["--checks", "all", "--exclude-checks", "use_after_free"])
            .args(["--exclude-path", "/admin/reload"])
            .arg("-a")
            .arg(format!("{}:{key}", server.account_id))
            .args([
                "-H",
                &format!("SEC: {key}"),
                "-H",
                &format!("X-API-Key: {key}"),
            ])
            .args(["-n", "30", "--seed", "1", "-w", "2", "--no-color"])
            .env("IPINTEL_TEST_KEY", &key)
            .current_dir(server.dir.path())
            .output()
    };
    let mut out = run()
        .await
        .expect("python3 -m schemathesis.cli (tests/python/requirements.txt)");
    // CPython 3.11 (seen with 3.11.7, once in many runs) can crash inside schemathesis' own
    // generator: hypothesis parses a lambda's source and the interpreter raises
    // "SystemError: AST constructor recursion depth mismatch", an interpreter bug and not a
    // finding against the server. That crash alone, with no failure reported, is run again
    // once; any other error or failure stands.
    let tool_crash = |stdout: &str| {
        stdout.contains("SystemError: AST constructor recursion depth mismatch")
            && !stdout.contains("FAILURES")
            && !stdout.contains("Failures:")
    };
    if !out.status.success() && tool_crash(&String::from_utf8_lossy(&out.stdout)) {
        eprintln!("schemathesis crashed in the interpreter (CPython AST bug); running it again");
        out = run()
            .await
            .expect("python3 -m schemathesis.cli (tests/python/requirements.txt)");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{stdout}\n{stderr}"
    );
    // It really ran: thousands of cases over every operation.
    let generated = stdout
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" generated, ")
                .map(|(n, _)| n.trim().to_owned())
        })
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(generated > 1000, "only {generated} cases:\n{stdout}");
    server.stop().await;
}
