//! The web console (`/ui/`): every page over raw HTTP (sign-in, sessions, CSRF, the
//! address page's map and rows, tasks against a loopback DNS zone, bulk uploads, the
//! account and operator pages, the registry pages, assets), hostile input on each form,
//! and then the same pages in a real browser (`console_browser.py`: Debian's chromium and
//! chromium-driver through selenium), which also writes the screenshots.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::support::{eventually, raw, request, Response, Setup, TestServer};
use crate::zone::{self, Answer};

const ADMIN_TOKEN: &str = "console-admin-token-0123456789";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Routes, an aut-num, a set with a cycle, a range with an abuse contact: all over the
/// fixture City network 81.2.69.160/27.
const REGISTRY: &str = "\
inetnum:        81.2.69.160 - 81.2.69.191
netname:        CONSOLE-NET
country:        GB
org:            ORG-CON1-TEST
abuse-c:        CAB1-TEST
mnt-by:         CON-MNT
source:         TEST

organisation:   ORG-CON1-TEST
org-name:       Console Test Networks
abuse-c:        CAB1-TEST
mnt-by:         CON-MNT
source:         TEST

role:           Console Abuse
nic-hdl:        CAB1-TEST
abuse-mailbox:  abuse@console.example
mnt-by:         CON-MNT
source:         TEST

route:          81.2.69.160/27
origin:         AS64496
mnt-by:         CON-MNT
source:         TEST

route6:         2001:db8:10::/48
origin:         AS64496
mnt-by:         CON-MNT
source:         TEST

aut-num:        AS64496
as-name:        CONSOLE-AS
mnt-by:         CON-MNT
source:         TEST

as-set:         AS-CONSOLE
members:        AS64496, AS-LOOP
mnt-by:         CON-MNT
source:         TEST

as-set:         AS-LOOP
members:        AS64497, AS-CONSOLE
mnt-by:         CON-MNT
source:         TEST

route:          198.51.100.0/24
origin:         AS64497
mnt-by:         CON-MNT
source:         TEST
";

/// A zone on loopback: 81.2.69.165 <-> host.console.test.
async fn dns() -> SocketAddr {
    let (addr, _) = zone::serve(|name, kind| match (kind, name) {
        (RecordType::PTR, "165.69.2.81.in-addr.arpa.") => Answer::Records(vec![RData::PTR(PTR(
            Name::from_ascii("host.console.test.").unwrap(),
        ))]),
        (RecordType::A, "host.console.test.") => {
            Answer::Records(vec![RData::A(A("81.2.69.165".parse().unwrap()))])
        }
        // The name exists without data of other types.
        (_, "host.console.test.") => Answer::Records(vec![]),
        _ => Answer::NxDomain,
    })
    .await;
    addr
}

async fn console_server() -> TestServer {
    let dns = dns().await;
    let server = TestServer::with(Setup {
        toml: format!(
            "[admin]\ntoken = \"{ADMIN_TOKEN}\"\n[tasks]\ndns_server = \"{dns}\"\ntimeout_secs = 2\n"
        ),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("console.rpsl");
    std::fs::write(&file, REGISTRY).unwrap();
    crate::support::import_registry(&server, "TEST", &file).await;
    server
}

/// POST a form body with these headers.
async fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    raw(addr, &bytes).await
}

fn enc(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Sign in with a key or the token, as a browser on this site would: the cookie pair.
async fn sign_in(addr: SocketAddr, secret: &str) -> String {
    let origin = format!("http://{addr}");
    let r = post(
        addr,
        "/ui/login",
        &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
        &format!("secret={}", enc(secret)),
    )
    .await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let cookie = r.header("set-cookie").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");
    cookie.split(';').next().unwrap().to_string()
}

async fn page(addr: SocketAddr, path: &str, cookie: &str) -> Response {
    request(addr, "GET", path, &[("Cookie", cookie)]).await
}

/// The value of the first `name="csrf" value="..."` on a page.
fn csrf(body: &str) -> String {
    let at = body
        .find("name=\"csrf\" value=\"")
        .expect("a form with a token")
        + 19;
    body[at..].split('"').next().unwrap().to_string()
}

/// An attribute's number on the element with `id`.
fn attribute(body: &str, id: &str, name: &str) -> f64 {
    let at = body.find(&format!("id=\"{id}\"")).expect(id);
    let rest = &body[at..];
    let start = rest.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    rest[start..].split('"').next().unwrap().parse().unwrap()
}

fn assert_secure_page(r: &Response) {
    assert_eq!(r.header("content-security-policy"), Some(CSP));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let body = text(r);
    // Scripts only from our own files: no inline script, no handler attributes.
    assert!(
        !body.contains("<script>") && !body.contains(" onclick="),
        "{body}"
    );
    assert!(
        !body.contains("style=\""),
        "an inline style the CSP would block: {body}"
    );
    assert!(!body.contains("http://") || body.contains("/ui/"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_holder_signs_in_looks_up_runs_tasks_and_bulk() {
    let server = console_server().await;
    let addr = server.addr;
    let origin = format!("http://{addr}");
    let same = [
        ("Origin", origin.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
    ];

    // Signed out: every page leads to the sign-in form.
    let r = request(addr, "GET", "/ui/ip/81.2.69.165", &[]).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/ui/login")));
    let r = request(addr, "GET", "/ui/login", &[]).await;
    assert_eq!(r.status, 200);
    assert_secure_page(&r);
    let r = post(addr, "/ui/login", &same, "secret=ipk_not-a-key").await;
    assert_eq!(r.status, 401);
    assert!(text(&r).contains("not a live API key"));
    // A sign-in posted from another site is refused before the secret is looked at.
    let r = post(
        addr,
        "/ui/login",
        &[("Origin", "http://evil.test")],
        &format!("secret={}", server.key),
    )
    .await;
    assert_eq!(r.status, 403);
    let cookie = sign_in(addr, &server.key).await;

    // The address page: the marker sits where the coordinates say.
    let v1 = request(
        addr,
        "GET",
        "/v1/ip/81.2.69.165",
        &[("X-API-Key", &server.key)],
    )
    .await
    .json();
    let (lat, lon) = (
        v1["location"]["latitude"].as_f64().unwrap(),
        v1["location"]["longitude"].as_f64().unwrap(),
    );
    let r = page(addr, "/ui/ip/81.2.69.165", &cookie).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_secure_page(&r);
    let body = text(&r);
    assert!(
        (attribute(&body, "marker", "cx") - (lon + 180.0)).abs() < 0.01,
        "{body}"
    );
    assert!(
        (attribute(&body, "marker", "cy") - (90.0 - lat)).abs() < 0.01,
        "{body}"
    );
    for expected in [
        "81.2.69.160/29",
        "London",
        "Console Test Networks",
        "abuse@console.example",
        "81.2.69.160/27",
        "/ui/as/AS64496",
        "curl -H",
    ] {
        assert!(body.contains(expected), "{expected} missing: {body}");
    }
    assert!(body.contains("Tor exit node"), "{body}");
    // Rows appear only with data: no domain, no local network here.
    assert!(
        !body.contains("<dt>Domain</dt>") && !body.contains("<dt>Local network</dt>"),
        "{body}"
    );
    let r = page(addr, "/ui/ip/10.1.2.3", &cookie).await;
    assert!(text(&r).contains("reserved range"), "{}", text(&r));
    assert!(!text(&r).contains("id=\"marker\""));
    let r = page(addr, "/ui/ip/11.22.33.44", &cookie).await;
    assert!(
        text(&r).contains("Not found: no loaded database knows this address"),
        "{}",
        text(&r)
    );
    let r = page(addr, "/ui/ip/81.2.69.160/27", &cookie).await;
    assert!(
        text(&r).contains("first address of the prefix 81.2.69.160/27"),
        "{}",
        text(&r)
    );
    let r = page(addr, "/ui/ip/host.console.test", &cookie).await;
    assert!(
        text(&r).contains("host.console.test resolves to"),
        "{}",
        text(&r)
    );
    // Hostile subjects: refused in HTML, never echoed as markup.
    let r = page(addr, "/ui/ip/%3Cscript%3Ealert(1)%3C%2Fscript%3E", &cookie).await;
    assert_eq!(r.status, 400);
    assert!(!text(&r).contains("<script>alert") && text(&r).contains("&lt;script&gt;"));
    let long = "9".repeat(5000);
    let r = page(addr, &format!("/ui/ip/{long}"), &cookie).await;
    assert_eq!(r.status, 400);
    let r = page(addr, "/ui/ip/no-such-host.console.test", &cookie).await;
    assert_eq!(r.status, 404, "{}", text(&r));
    let r = page(addr, "/ui/search?q=as64496", &cookie).await;
    assert_eq!(r.header("location"), Some("/ui/as/AS64496"));
    let r = page(addr, "/ui/search?q=AS-CONSOLE", &cookie).await;
    assert_eq!(r.header("location"), Some("/ui/set/AS-CONSOLE"));
    let r = page(addr, "/ui/search?q=2001:db8::1", &cookie).await;
    assert_eq!(r.header("location"), Some("/ui/ip/2001:db8::1"));

    // Tasks: refused without the token, from another site, or without a session.
    let token = csrf(&body);
    let task = format!("kind=dns_lookup&target=81.2.69.165&csrf={token}");
    let jobs_before = server.state.engine.job_queue(100).await.unwrap().0.len();
    for (headers, form, status) in [
        (
            vec![("Cookie", cookie.as_str())],
            "kind=dns_lookup&target=81.2.69.165".to_string(),
            403,
        ),
        (
            vec![("Cookie", cookie.as_str()), ("Origin", "http://evil.test")],
            task.clone(),
            403,
        ),
        (
            vec![
                ("Cookie", cookie.as_str()),
                ("Sec-Fetch-Site", "cross-site"),
            ],
            task.clone(),
            403,
        ),
        (
            vec![("Cookie", cookie.as_str())],
            format!("kind=port_scan&target=81.2.69.165&csrf={token}"),
            400,
        ),
        (
            vec![("Cookie", cookie.as_str())],
            format!("kind=whois&target=%00%FF&csrf={token}"),
            400,
        ),
    ] {
        let r = post(addr, "/ui/task", &headers, &form).await;
        assert_eq!(r.status, status, "{form}: {}", text(&r));
    }
    let r = post(addr, "/ui/task", &same, &task).await;
    assert_eq!(
        r.header("location"),
        Some("/ui/login"),
        "no session, no task"
    );
    assert_eq!(
        server.state.engine.job_queue(100).await.unwrap().0.len(),
        jobs_before
    );
    let mut headers = same.to_vec();
    headers.push(("Cookie", &cookie));
    let r = post(addr, "/ui/task", &headers, &task).await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let location = r.header("location").unwrap().to_string();
    assert!(location.starts_with("/ui/task/"), "{location}");
    let done = eventually(10, || async {
        text(&page(addr, &location, &cookie).await).contains("data-status=\"COMPLETED\"")
    })
    .await;
    let r = page(addr, &location, &cookie).await;
    assert!(done, "{}", text(&r));
    assert!(text(&r).contains("host.console.test"), "{}", text(&r));
    // A running task's page refreshes itself; a finished one does not.
    assert!(!text(&r).contains("http-equiv=\"refresh\""));
    assert_eq!(page(addr, "/ui/task/999999", &cookie).await.status, 404);
    assert_eq!(page(addr, "/ui/task/abc", &cookie).await.status, 404);

    // A bulk upload: 1,000 terms, three of them invalid.
    let mut terms: Vec<String> = (0..997)
        .map(|i| format!("81.2.{}.{}", i / 250, i % 250))
        .collect();
    terms.extend([
        "not an address".replace(' ', "_"),
        "999.1.1.1".into(),
        "-".into(),
    ]);
    let r = page(addr, "/ui/bulk", &cookie).await;
    assert_eq!(r.status, 200);
    let token = csrf(&text(&r));
    let form = format!("csrf={token}&terms={}", enc(&terms.join("\r\n")));
    let r = post(addr, "/ui/bulk", &headers, &form).await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let location = r.header("location").unwrap().to_string();
    let progress = format!("{location}/progress");
    assert!(
        eventually(30, || async {
            page(addr, &progress, &cookie).await.json()["ready"] == true
        })
        .await,
        "the bulk request did not finish"
    );
    let p = page(addr, &progress, &cookie).await.json();
    assert_eq!(
        (p["total"].as_u64(), p["invalid"].as_u64()),
        (Some(1000), Some(3)),
        "{p}"
    );
    assert_eq!(
        p["processed"].as_u64().unwrap() + p["failed"].as_u64().unwrap(),
        997,
        "{p}"
    );
    let r = page(addr, &location, &cookie).await;
    assert!(
        text(&r).contains("999.1.1.1"),
        "invalid terms are listed: {}",
        text(&r)
    );
    let r = page(addr, &format!("{location}/download/completed.csv"), &cookie).await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-disposition")
        .unwrap()
        .contains("attachment"));
    let csv = text(&r);
    assert_eq!(
        csv.lines().count() as u64,
        p["processed"].as_u64().unwrap() + 1,
        "{csv}"
    );
    let r = page(addr, &format!("{location}/download/failed.json"), &cookie).await;
    assert!(text(&r).contains("999.1.1.1"));
    assert_eq!(
        page(addr, &format!("{location}/download/secrets.txt"), &cookie)
            .await
            .status,
        404
    );
    // Too many bytes for a form, and no terms at all.
    let big = format!(
        "csrf={token}&terms={}",
        "1".repeat(server.state.config.bulk.max_body_bytes + 1)
    );
    assert_eq!(post(addr, "/ui/bulk", &headers, &big).await.status, 413);
    assert_eq!(
        post(addr, "/ui/bulk", &headers, &format!("csrf={token}&terms="))
            .await
            .status,
        400
    );
    let r = post(
        addr,
        "/ui/login",
        &same,
        &format!("secret={}", "x".repeat(20_000)),
    )
    .await;
    assert_eq!(r.status, 413);

    // The account page: the plan, 30 days of bars, today's including these lookups.
    let r = page(addr, "/ui/account", &cookie).await;
    let body = text(&r);
    assert_eq!(body.matches("class=\"bar\"").count(), 30, "{body}");
    let today = body.rsplit("class=\"bar\"").next().unwrap();
    let used: u64 = today
        .split("data-used=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        used >= 5,
        "today's bar counts the lookups and the bulk terms: {used}"
    );
    assert!(
        body.contains("/ui/task/") && body.contains("/ui/bulk/"),
        "{body}"
    );

    // Key holders never reach the operator's pages.
    assert_eq!(page(addr, "/ui/admin", &cookie).await.status, 403);
    let r = post(addr, "/ui/admin/reload", &headers, &format!("csrf={token}")).await;
    assert_eq!(r.status, 403);

    // Signing out ends the session.
    let r = post(addr, "/ui/logout", &headers, &format!("csrf={token}")).await;
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(
        page(addr, "/ui/account", &cookie).await.header("location"),
        Some("/ui/login")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_manages_keys_and_sees_the_server() {
    let server = console_server().await;
    let addr = server.addr;
    let origin = format!("http://{addr}");
    let cookie = sign_in(addr, ADMIN_TOKEN).await;
    let headers = [("Origin", origin.as_str()), ("Cookie", cookie.as_str())];
    let r = page(addr, "/ui/admin", &cookie).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_secure_page(&r);
    let body = text(&r);
    for expected in [
        "id=\"accounts\"",
        "id=\"databases\"",
        "GeoIP2-City",
        "id=\"sources\"",
        "TEST",
    ] {
        assert!(body.contains(expected), "{expected}: {body}");
    }
    let token = csrf(&body);

    // Create an account: its key is shown once and works at once.
    let r = post(
        addr,
        "/ui/admin/accounts",
        &headers,
        &format!("csrf={token}&plan=lite&credits=5&daily_quota=&label=console+made"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let body = text(&r);
    let at = body.find("id=\"new-key\"><code>").expect("the new key") + 19;
    let key = body[at..].split('<').next().unwrap().to_string();
    let v1 = |key: String| async move {
        request(addr, "GET", "/v1/ip/81.2.69.165", &[("X-API-Key", &key)])
            .await
            .status
    };
    assert_eq!(v1(key.clone()).await, 200);
    // Its balance changes, then the key is revoked: refused from then on.
    let account: u64 = body
        .split("Account ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let r = post(
        addr,
        "/ui/admin/accounts/update",
        &headers,
        &format!("csrf={token}&account={account}&plan=lite&credits=0"),
    )
    .await;
    assert!(text(&r).contains("saved"), "{}", text(&r));
    assert!(
        eventually(3, || v1(key.clone()).then_is(402)).await,
        "no credit left"
    );
    let r = post(
        addr,
        "/ui/admin/keys/revoke",
        &headers,
        &format!("csrf={token}&prefix={}", &key[..12]),
    )
    .await;
    assert!(text(&r).contains("revoked"), "{}", text(&r));
    assert!(
        eventually(2, || v1(key.clone()).then_is(401)).await,
        "a revoked key still answers"
    );
    // Hostile and wrong input: a clear refusal, nothing changed.
    for (path, form) in [
        ("/ui/admin/accounts", "plan=lite&credits=-1".to_string()),
        ("/ui/admin/accounts", "plan=no-such-plan".to_string()),
        (
            "/ui/admin/accounts",
            format!("plan=lite&credits={}", "9".repeat(40)),
        ),
        ("/ui/admin/keys/revoke", "prefix=ipk".to_string()),
        (
            "/ui/admin/accounts/update",
            format!("account={account}&plan=lite&credits=%F0%9F%98%80"),
        ),
        (
            "/ui/admin/accounts/update",
            "account=-5&plan=lite".to_string(),
        ),
    ] {
        let r = post(addr, path, &headers, &format!("csrf={token}&{form}")).await;
        assert_eq!(r.status, 400, "{path} {form}: {}", text(&r));
    }
    let accounts = server
        .state
        .engine
        .accounts_and_keys()
        .await
        .unwrap()
        .0
        .len();
    assert_eq!(accounts, 2, "only the one account was created");
    // A key holder whose key is revoked is signed out at their next page.
    let (_, other) = crate::support::create_key(&server, &["--plan", "lite"]).await;
    let theirs = sign_in(addr, &other).await;
    assert_eq!(page(addr, "/ui/account", &theirs).await.status, 200);
    post(
        addr,
        "/ui/admin/keys/revoke",
        &headers,
        &format!("csrf={token}&prefix={}", &other[..12]),
    )
    .await;
    assert!(
        eventually(2, || async {
            page(addr, "/ui/account", &theirs).await.header("location") == Some("/ui/login")
        })
        .await,
        "a revoked key's session lives on"
    );
    let r = post(addr, "/ui/admin/reload", &headers, &format!("csrf={token}")).await;
    assert!(text(&r).contains("Reloaded: generation"), "{}", text(&r));
    // The operator looks addresses up unmetered, but runs no task.
    let r = page(addr, "/ui/ip/81.2.69.165", &cookie).await;
    assert!(
        text(&r).contains("sign in with an API key to run them"),
        "{}",
        text(&r)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_pages_show_routes_sets_cycles_and_commands() {
    let server = console_server().await;
    let addr = server.addr;
    let cookie = sign_in(addr, &server.key).await;
    let r = page(addr, "/ui/as/AS64496", &cookie).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let body = text(&r);
    for expected in [
        "CONSOLE-AS",
        "81.2.69.160/27",
        "2001:db8:10::/48",
        "bgpq4 -h",
        "-i origin AS64496",
    ] {
        assert!(body.contains(expected), "{expected}: {body}");
    }
    let r = page(addr, "/ui/set/as-console", &cookie).await;
    let body = text(&r);
    assert_eq!(r.status, 200, "{body}");
    // AS-LOOP names AS-CONSOLE again: drawn once as a cycle, not followed.
    assert_eq!(
        body.matches("<span class=\"badge\">cycle</span>").count(),
        1,
        "{body}"
    );
    for expected in ["AS64496", "AS64497", "81.2.69.160/27", "198.51.100.0/24"] {
        assert!(body.contains(expected), "{expected}: {body}");
    }
    let count = |id: &str| -> u64 {
        let at = body.find(&format!("id=\"{id}\">")).expect(id) + id.len() + 6;
        body[at..].split('<').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        (count("prefixes-v4-count"), count("prefixes-v6-count")),
        (2, 1),
        "{body}"
    );
    assert_eq!(page(addr, "/ui/set/AS-NOWHERE", &cookie).await.status, 404);
    assert_eq!(page(addr, "/ui/as/ASX", &cookie).await.status, 400);
    assert_eq!(
        page(addr, "/ui/as/AS99999999999", &cookie).await.status,
        400
    );
    // The assets: tagged, revalidated, and nothing else served from there.
    let r = request(addr, "GET", "/ui/assets/console.css", &[]).await;
    let etag = r.header("etag").unwrap().to_string();
    let r = request(
        addr,
        "GET",
        "/ui/assets/console.css",
        &[("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(r.status, 304);
    let r = request(addr, "GET", "/ui/assets/world.svg", &[]).await;
    assert!(
        text(&r).starts_with("<svg") && r.body.len() > 20_000,
        "{}",
        r.body.len()
    );
    assert_eq!(
        request(addr, "GET", "/ui/assets/..%2Fconsole.css", &[])
            .await
            .status,
        404
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_console_routes_nothing_and_the_apis_still_answer() {
    let server = TestServer::with(Setup {
        toml: "[console]\nenabled = false\n".into(),
        ..Default::default()
    })
    .await;
    let addr = server.addr;
    // Nothing under /ui/ is the console's: such paths fall to other routes (three
    // segments have the shape of the RIPE dialect's `/{source}/{type}/{key}`), never to
    // an HTML page or a session.
    for path in [
        "/ui/",
        "/ui/login",
        "/ui/assets/console.css",
        "/ui/ip/81.2.69.165",
    ] {
        let r = request(addr, "GET", path, &[]).await;
        let html = r
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"));
        assert!(
            r.status >= 400 && !html,
            "{path}: {} {}",
            r.status,
            text(&r)
        );
    }
    let r = post(addr, "/ui/login", &[], &format!("secret={}", server.key)).await;
    assert!(
        r.header("set-cookie").is_none() && r.status >= 400,
        "{}",
        r.status
    );
    let auth = crate::support::basic(server.account_id, &server.key);
    let r = request(
        addr,
        "GET",
        "/geoip/v2.1/city/81.2.69.165",
        &[("Authorization", &auth)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    server.stop().await;
}

/// The browser: Debian's chromium and chromium-driver, driven by selenium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    for (binary, package) in [
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
    ] {
        assert!(
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {binary}")])
                .output()
                .unwrap()
                .status
                .success(),
            "{binary} is not installed: apt-get install {package} (.ci/run does)"
        );
    }
    let server = console_server().await;
    let shots = std::env::var_os("IPINTEL_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&shots).unwrap();
    let v1 = request(
        server.addr,
        "GET",
        "/v1/ip/81.2.69.165",
        &[("X-API-Key", &server.key)],
    )
    .await
    .json();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/console_browser.py");
    let args = vec![
        script.display().to_string(),
        format!("http://{}", server.addr),
        server.key.clone(),
        ADMIN_TOKEN.to_string(),
        shots.display().to_string(),
        v1["location"]["latitude"].to_string(),
        v1["location"]["longitude"].to_string(),
    ];
    let out = crate::support::run_guarded("python3", &args, Duration::from_secs(240)).await;
    assert!(
        out.success,
        "browser checks failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains("all browser checks passed"),
        "{}",
        out.stdout
    );
    for name in [
        "address",
        "address-nojs",
        "as",
        "set",
        "bulk",
        "account",
        "operator",
        "task",
    ] {
        assert!(
            shots.join(format!("{name}.png")).exists(),
            "no screenshot {name}.png"
        );
    }
    server.stop().await;
}

/// `eventually` for a status.
trait ThenIs {
    async fn then_is(self, status: u16) -> bool;
}

impl<F: std::future::Future<Output = u16>> ThenIs for F {
    async fn then_is(self, status: u16) -> bool {
        self.await == status
    }
}

/// A sign-in whose body never finishes is answered by the request timeout with the
/// console's own 503 page, the bytes it held are given back, and the console goes on
/// answering everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_that_never_finishes_times_out_and_gives_its_memory_back() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::with(Setup {
        toml: "[http]\nrequest_timeout_secs = 1\n".into(),
        ..Default::default()
    })
    .await;
    let addr = server.addr;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /ui/login HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\nsecret=ipk_"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    assert!(
        eventually(5, || async { server.state.body_budget.used() > 0 }).await,
        "the bytes sent are counted while the request waits"
    );
    // The rest never comes: the server answers, then closes (bounded here in case not).
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), async {
        let mut chunk = [0u8; 8192];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server neither answered nor closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: text/html"),
        "{answer}"
    );
    assert!(answer.contains("took longer than 1 s"), "{answer}");
    assert!(
        eventually(5, || async { server.state.body_budget.used() == 0 }).await,
        "the unfinished body's bytes are given back"
    );
    // Everyone else is still served.
    let cookie = sign_in(addr, &server.key).await;
    assert_eq!(page(addr, "/ui/", &cookie).await.status, 200);
}
