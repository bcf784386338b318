//! The whois front end (issue 12): IRRd's `!` protocol and RIPE-style queries on TCP, from
//! raw sockets (framing, every error line, limits, pipelining, slow and vanishing
//! clients), from the real `whois` client and from `bgpq4` (Debian packages, installed by
//! `.ci/run`), and the HTTP mirror. The registry is the tests' own
//! (`tests/registry/gen1.rpsl`), imported by the real CLI.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{eventually, request, Setup, TestServer};

fn registry_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/registry")
        .join(name)
}

async fn server_with(whois: &str) -> TestServer {
    let server = TestServer::with(Setup {
        toml: format!(
            "[registry]\nbase_url = \"https://reg.example\"\nterms_url = \"https://reg.example/terms\"\nrefresh_ms = 50\n[whois]\n{whois}\n"
        ),
        ..Default::default()
    })
    .await;
    crate::support::import_registry(&server, "TEST", &registry_file("gen1.rpsl")).await;
    server
}

async fn server() -> TestServer {
    server_with("").await
}

/// Connect, send `input`, read until the server closes (at most 10 s).
async fn exchange(addr: SocketAddr, input: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(input).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// An `A` reply as the protocol frames it.
fn data(payload: &str) -> String {
    format!("A{}\n{payload}\nC\n", payload.len() + 1)
}

#[tokio::test]
async fn irrd_commands_answer_in_order_with_exact_framing() {
    let server = server().await;
    let route_25 = "route:          192.0.2.0/25\norigin:         AS64496\nmnt-by:         EX-MNT\nsource:         TEST";
    let mntner = "mntner:         EX-MNT\ndescr:          Example maintainer\nadmin-c:        AE1-TEST\nupd-to:         ops@example.net\nmnt-nfy:        ops@example.net\nauth:           MD5-PW DummyValue  # Filtered for security\nmnt-by:         EX-MNT\nsource:         TEST";
    let steps: Vec<(&str, String)> = vec![
        ("!!", String::new()),
        ("", String::new()),
        ("!nipintel-test", "C\n".into()),
        ("!gAS64496", data("192.0.2.0/24 192.0.2.0/25")),
        ("!gas64496", data("192.0.2.0/24 192.0.2.0/25")),
        ("!6AS64496", data("2001:db8::/32")),
        ("!gAS64497", data("192.0.2.0/24")),
        ("!gAS64498", "D\n".into()),
        (
            "!gASfoo",
            "F Invalid AS number ASFOO: number part is not numeric\n".into(),
        ),
        (
            "!g64496",
            "F Invalid AS number 64496: must start with \"AS\"\n".into(),
        ),
        ("!iAS-EXAMPLE", data("AS-EXAMPLE-NESTED AS64496 AS64497")),
        // Nested set names stay, the set's own name does not.
        ("!iAS-EXAMPLE-NESTED", data("AS-EXAMPLE AS64498")),
        ("!iAS-EXAMPLE,1", data("AS64496 AS64497 AS64498")),
        (
            "!iRS-EXAMPLE,1",
            data("192.0.2.0/24 198.51.100.0/24^+ 2001:db8::/32"),
        ),
        ("!iAS-NONE", "D\n".into()),
        ("!iAS-NONE,1", "D\n".into()),
        ("!a", "F Missing required set name for A query\n".into()),
        ("!a4AS-EXAMPLE", data("192.0.2.0/24 192.0.2.0/25")),
        ("!a6AS-EXAMPLE", data("2001:db8::/32")),
        (
            "!aAS-EXAMPLE",
            data("192.0.2.0/24 192.0.2.0/25 2001:db8::/32"),
        ),
        ("!aAS-NONE", "D\n".into()),
        ("!eAS-EXAMPLE-NESTED", "C\n".into()),
        ("!e-lc", data("AS-EXAMPLE-NESTED")),
        ("!iAS-EXAMPLE,1", data("AS64496 AS64497")),
        ("!e", "C\n".into()),
        ("!iAS-EXAMPLE,1", data("AS64496 AS64497 AS64498")),
        ("!mroute,192.0.2.0/25AS64496", data(route_25)),
        ("!mroute,192.0.2.0/25 AS64496", data(route_25)),
        ("!mrt,192.0.2.0/25-AS64496", data(route_25)),
        ("!mmntner,EX-MNT", data(mntner)),
        ("!maut-num,AS64999", "D\n".into()),
        (
            "!mfoo",
            "F Invalid argument for object lookup: foo\n".into(),
        ),
        ("!r192.0.2.0/24,o", data("AS64496 AS64497")),
        ("!r192.0.2.0/25,l", {
            let both = "route:          192.0.2.0/24\ndescr:          Example route\norigin:         AS64496\nmember-of:      RS-EXAMPLE\nmnt-by:         EX-MNT\nsource:         TEST\n\nroute:          192.0.2.0/24\ndescr:          Example route, second origin\norigin:         AS64497\nmnt-by:         EX-MNT\nsource:         TEST";
            data(both)
        }),
        ("!r192.0.2.0/24,M", data(route_25)),
        ("!r192.0.2.0/25", data(route_25)),
        ("!r198.51.100.0/24", "D\n".into()),
        ("!rz", "F Invalid input for route search: z\n".into()),
        (
            "!r192.0.2.0/24,z",
            "F Invalid route search option: z\n".into(),
        ),
        ("!s-lc", data("TEST")),
        (
            "!sNOPE",
            "F One or more selected sources are unavailable.\n".into(),
        ),
        ("!stest", "C\n".into()),
        ("!s-*", "C\n".into()),
        ("!jTEST,NOPE", data("TEST:Y:-\nNOPE:X:Database unknown")),
        ("!t300", "C\n".into()),
        ("!tfoo", "F Invalid value for timeout: foo\n".into()),
        ("!t-5", "F Invalid value for timeout: -5\n".into()),
        ("!t1001", "F Invalid value for timeout: 1001\n".into()),
        ("!x", "F Unrecognised command: x\n".into()),
        ("!", "F Missing IRRD command\n".into()),
        ("!g", "F Missing parameter for g query\n".into()),
        ("!i", "F Missing parameter for i query\n".into()),
        ("-V bgpq4 !gAS64497", data("192.0.2.0/24")),
        ("!q", String::new()),
        ("!gAS64496", String::new()),
    ];
    // Pipelined, the way bgpq4 writes: every line at once, `\r\n` on some.
    let mut input = String::new();
    for (i, (line, _)) in steps.iter().enumerate() {
        input.push_str(line);
        input.push_str(if i % 3 == 0 { "\r\n" } else { "\n" });
    }
    let got = exchange(server.whois, input.as_bytes()).await;
    let want: String = steps.iter().map(|(_, reply)| reply.as_str()).collect();
    if got != want {
        // Name the first command whose answer differs.
        let mut at = 0;
        for (line, reply) in &steps {
            if !got[at..].starts_with(reply.as_str()) {
                panic!(
                    "answer to {line:?} differs:\nwant {reply:?}\ngot  {:?}",
                    &got[at..got.len().min(at + reply.len() + 80)]
                );
            }
            at += reply.len();
        }
        panic!("extra output: {:?}", &got[at..]);
    }

    // `!v` names a protocol version of 2.2 or later, so peval uses RIPE-style queries.
    let v = exchange(server.whois, b"!v\n").await;
    let version = v.split("version ").nth(1).unwrap();
    let major: u32 = version.split('.').next().unwrap().parse().unwrap();
    assert!(major >= 3, "{v}");
    assert!(v.starts_with('A') && v.ends_with("\nC\n"), "{v:?}");
}

#[tokio::test]
async fn one_answer_closes_unless_the_client_asked_to_stay_and_nothing_comes_first() {
    let server = server().await;
    let got = exchange(server.whois, b"!gAS64497\n!gAS64496\n").await;
    assert_eq!(got, data("192.0.2.0/24"), "one answer, then close");

    // Nothing before the first line, not even a banner.
    let mut stream = TcpStream::connect(server.whois).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(400), stream.read(&mut buf)).await;
    assert!(early.is_err(), "the server spoke first: {early:?}");
    // bgpq4's handshake: each reply in one read, no banner.
    stream.write_all(b"!!\n!nbgpq4 1.9\n").await.unwrap();
    let n = stream.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"C\n");
    stream.write_all(b"!a\n").await.unwrap();
    let n = stream.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"F Missing required set name for A query\n");
    stream.write_all(b"!s-lc\n").await.unwrap();
    let n = stream.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"A5\nTEST\nC\n");
    stream.write_all(b"q\n").await.unwrap();
    let n = stream.read(&mut buf).await.unwrap();
    assert_eq!(n, 0, "a bare q ends a !! session");
}

fn banner() -> String {
    "% This is the ipintel Database query service.\n% The objects are in RPSL format.\n%\n% The ipintel Database is subject to Terms and Conditions.\n% See https://reg.example/terms\n\n".into()
}

fn served_by() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    format!(
        "% This query was served by the ipintel Database Query Service version {} ({})\n\n\n",
        env!("CARGO_PKG_VERSION"),
        host.trim()
    )
}

const FILTERED: &str = "% Note: this output has been filtered.\n%       To receive output for a database update, use the \"-B\" flag.\n\n";

#[tokio::test]
async fn ripe_queries_answer_in_port_43_form() {
    let server = server().await;
    let aut_num = "aut-num:        AS64497\nas-name:        NEIGHBOUR-AS\norg:            ORG-OT1-TEST\nadmin-c:        BB1-TEST\ntech-c:         BB1-TEST\nmnt-by:         EX-MNT\nsource:         TEST\n\n";
    let got = exchange(server.whois, b"-r -T aut-num AS64497\n").await;
    assert_eq!(
        got,
        format!(
            "{}{FILTERED}% Information related to 'AS64497'\n\n% No abuse contact registered for AS64497\n\n{aut_num}{}",
            banner(),
            served_by()
        )
    );

    // Related objects, the abuse line, the inetnum key as a range.
    let got = exchange(server.whois, b"192.0.2.20\n").await;
    let body = got
        .strip_prefix(&banner())
        .and_then(|b| b.strip_suffix(&served_by()))
        .expect("banner and served-by line");
    assert!(body.starts_with(&format!(
        "{FILTERED}% Information related to '192.0.2.10 - 192.0.2.37'\n\n% Abuse contact for '192.0.2.10 - 192.0.2.37' is 'abuse@example.net'\n\ninetnum:        192.0.2.10 - 192.0.2.37\nnetname:        ODD-NET\ndescr:          A range that is not a prefix\n                on two lines\n"
    )), "{body}");
    assert!(!body.contains("notify:"), "filtered: {body}");
    assert!(body.contains("source:         TEST # Filtered\n"), "{body}");
    assert!(
        body.contains("nic-hdl:        BB1-TEST\n"),
        "related person: {body}"
    );

    // -B: nothing filtered, no note.
    let got = exchange(server.whois, b"-B -r 192.0.2.20\n").await;
    assert!(got.contains("notify:         noc@example.net\n"), "{got}");
    assert!(
        !got.contains("% Note: this output has been filtered"),
        "{got}"
    );

    // No entries: the note still comes, then ERROR:101.
    let got = exchange(server.whois, b"-s TEST nothing-here\n").await;
    assert_eq!(
        got,
        format!(
            "{}{FILTERED}%ERROR:101: no entries found\n%\n% No entries found in source TEST.\n\n{}",
            banner(),
            served_by()
        )
    );

    // -K: keys only; -b: the abuse mailbox only.
    let got = exchange(server.whois, b"-K AS-EXAMPLE\n").await;
    assert!(
        got.contains("% Only primary keys and abuse contacts will be visible.\n"),
        "{got}"
    );
    assert!(got.contains("as-set:         AS-EXAMPLE\nmembers:        AS64496, AS64497\nmembers:        AS-EXAMPLE-NESTED\n\n"), "{got}");
    assert!(!got.contains("descr:"), "{got}");
    let got = exchange(server.whois, b"-b 192.0.2.20\n").await;
    assert_eq!(
        got,
        format!(
            "{}inetnum:        192.0.2.10 - 192.0.2.37\nabuse-mailbox:  abuse@example.net\n\n{}",
            banner(),
            served_by()
        )
    );

    // -i, -T, -G, hierarchy flags.
    let got = exchange(server.whois, b"-r -i mnt-by -T inetnum BC-MNT\n").await;
    assert!(
        got.contains("inetnum:        192.0.2.10 - 192.0.2.37\n"),
        "{got}"
    );
    assert_eq!(got.matches("% Information related to").count(), 1, "{got}");
    let got = exchange(server.whois, b"-r -M 192.0.2.0/24 -T inetnum\n").await;
    for net in ["EXAMPLE-LOW", "ODD-NET", "EXAMPLE-HIGH"] {
        assert!(got.contains(net), "{net}: {got}");
    }
    assert!(
        !got.contains("EXAMPLE-ALLOC"),
        "-M leaves the range itself out"
    );
    let got = exchange(server.whois, b"-G 192.0.2.20\n").await;
    assert!(!got.contains("% Information related"), "{got}");
    assert_eq!(got.matches("nic-hdl:        BB1-TEST").count(), 1, "{got}");

    // Server information and templates.
    let got = exchange(server.whois, b"-q sources\n").await;
    assert!(got.contains("\nTEST:3:N:Unknown\n"), "{got}");
    let got = exchange(server.whois, b"-q types\n").await;
    assert!(
        got.contains("\naut-num\n") && got.contains("\nroute6\n"),
        "{got}"
    );
    let got = exchange(server.whois, b"-q version\n").await;
    assert!(got.contains("% ipintel-server-"), "{got}");
    let got = exchange(server.whois, b"-t route\n").await;
    assert!(
        got.contains("route:          [mandatory]  [single]     [primary/lookup key]\n"),
        "{got}"
    );
    assert!(
        got.contains("origin:         [mandatory]  [single]     [primary/inverse key]\n"),
        "{got}"
    );

    // Versions from the store's history.
    let got = exchange(server.whois, b"--list-versions AS64497\n").await;
    assert!(
        got.contains("% Version history for AUT-NUM object \"AS64497\"\n"),
        "{got}"
    );
    assert!(got.contains("\n1     "), "{got}");
    let got = exchange(server.whois, b"--show-version 1 AS64497\n").await;
    assert!(
        got.contains("% Version 1 (current version) of object \"AS64497\"\n"),
        "{got}"
    );
    assert!(got.contains("as-name:        NEIGHBOUR-AS\n"), "{got}");
    let got = exchange(server.whois, b"--show-version 9 AS64497\n").await;
    assert!(
        got.contains("%ERROR:117: version cannot exceed 1 for this object\n"),
        "{got}"
    );
    let got = exchange(server.whois, b"--list-versions AE1-TEST\n").await;
    assert!(got.contains("%ERROR:116: unsupported query\n"), "{got}");
}

#[tokio::test]
async fn every_ripe_error_has_its_numbered_message() {
    let server = server().await;
    for (query, want) in [
        ("-s NOPE AS64496", "%ERROR:102: unknown source\n%\n% \"NOPE\" is not a known source.\n% Use \"-q sources\" to list known sources.\n\n"),
        ("-T nonsense AS64496", "%ERROR:103: unknown object type 'nonsense'\n\n"),
        ("-i nonsense AS64496", "%ERROR:104: unknown attribute\n%\n% \"nonsense\" is not a known attribute.\n\n"),
        ("-i descr AS64496", "%ERROR:105: attribute is not searchable\n%\n% \"descr\" is not an inverse searchable attribute.\n\n"),
        ("-r", "%ERROR:106: no search key specified\n"),
        ("-b -B 192.0.2.1", "%ERROR:109: invalid combination of flags passed\n%\n% The flags \"-b, --abuse-contact\" and \"-B, --no-filtering\" cannot be used together.\n\n"),
        ("-r -r AS64496", "%ERROR:110: multiple use of flag\n%\n% The flag \"-r\" cannot be used multiple times.\n\n"),
        ("-z AS64496", "%ERROR:111: invalid option supplied\n"),
        ("-b EX-MNT", "%ERROR:111: invalid option supplied\n"),
        ("-M 0.0.0.0/0", "%ERROR:112: unsupported query\n"),
        ("-T aut-num 192.0.2.1", "%ERROR:115: invalid search key\n"),
        ("-x -L 192.0.2.1", "%ERROR:901: duplicate IP flags passed\n%\n% More than one IP flag (-l, -L, -m, -M or -x) passed to the server.\n\n"),
        ("-V client,192.0.2.9 AS64496", "%ERROR:203: you are not allowed to act as a proxy\n\n"),
        ("-q nonsense", "%ERROR:111: invalid option supplied\n"),
        ("-t nonsense", "%ERROR:103: unknown object type 'nonsense'\n\n"),
    ] {
        let got = exchange(server.whois, format!("{query}\n").as_bytes()).await;
        assert!(got.starts_with(&banner()), "{query}: {got}");
        assert!(got.ends_with(&served_by()), "{query}: {got}");
        assert!(got.contains(want), "{query}: want {want:?} in\n{got}");
        assert!(!got.contains("% Information related"), "{query}: {got}");
    }
    // A warning does not stop the query.
    let got = exchange(server.whois, b"-x AS64496\n").await;
    assert!(got.contains("%WARNING:902: useless IP flag passed\n%\n% An IP flag (-l, -L, -m, -M, -x, -d or -b) used without an IP key.\n\n"), "{got}");
    assert!(got.contains("aut-num:        AS64496\n"), "{got}");
}

#[tokio::test]
async fn persistent_ripe_sessions_and_ripe_queries_inside_irrd_sessions() {
    let server = server().await;
    // -k: each answer framed; a bare -k ends the session.
    let got = exchange(
        server.whois,
        b"-k\n-r AS64497\n-r nothing-here\n-k\n-r AS64496\n",
    )
    .await;
    assert_eq!(
        got.matches("% This is the ipintel Database query service.")
            .count(),
        2,
        "{got}"
    );
    assert_eq!(
        got.matches("% This query was served by").count(),
        2,
        "{got}"
    );
    assert!(got.contains("aut-num:        AS64497\n"), "{got}");
    assert!(got.contains("%ERROR:101: no entries found\n"), "{got}");
    assert!(
        !got.contains("aut-num:        AS64496"),
        "the bare -k closed the connection first: {got}"
    );
    // `-k` with a query starts the session too.
    let got = exchange(server.whois, b"-k -r AS64497\n-r AS64496\n-k\n").await;
    assert_eq!(
        got.matches("% This query was served by").count(),
        2,
        "{got}"
    );

    // peval: RIPE-style queries inside `!!`, no banner, each answer ending in a blank line.
    let got = exchange(
        server.whois,
        b"!!\n-K -r -i origin AS64497\n!gAS64497\n!q\n",
    )
    .await;
    assert_eq!(
        got,
        format!(
            "% Note: this output has been filtered.\n% Only primary keys and abuse contacts will be visible.\n% No other contact information will be shown.\n\n\
             % Information related to '192.0.2.0/24AS64497'\n\n\
             route:          192.0.2.0/24\norigin:         AS64497\n\n{}",
            data("192.0.2.0/24")
        )
    );
}

#[tokio::test]
async fn limits_lines_idle_clients_rates_and_connections() {
    let server = server_with(
        "idle_timeout_secs = 1\nmax_line_bytes = 1024\nqueries_per_second = 1\nburst = 5\nmax_connections_per_client = 3\n",
    )
    .await;
    // A 64 KB line: ERROR:107, then the connection closes; the server serves on.
    let mut line = vec![b'A'; 64 * 1024];
    line.push(b'\n');
    let got = exchange(server.whois, &line).await;
    assert_eq!(
        got,
        "%ERROR:107: input line too long\n%\n% Input exceeds the maximum line length of 1024 bytes.\n\n"
    );
    // A line that never ends, longer than the cap: the same, once it passes the cap.
    let got = exchange(server.whois, &line[..4000]).await;
    assert!(got.starts_with("%ERROR:107"), "{got}");

    // Idle: a `!!` session with nothing to say is closed after the timeout.
    let started = std::time::Instant::now();
    let mut stream = TcpStream::connect(server.whois).await.unwrap();
    stream.write_all(b"!!\n").await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("closed")
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(out.is_empty(), "an IRRd session closes silently: {out:?}");
    // ... and a -k one is told why.
    let mut stream = TcpStream::connect(server.whois).await.unwrap();
    stream.write_all(b"-k\n").await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("closed")
        .unwrap();
    assert!(String::from_utf8_lossy(&out).contains("%ERROR:305: connection has been closed"));

    // Connections per client: the fourth is refused while three are open.
    let mut held = Vec::new();
    for _ in 0..3 {
        let s = TcpStream::connect(server.whois).await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = TcpStream::connect(server.whois).await.unwrap();
    let _ = fourth.write_all(b"!gAS64496\n").await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), fourth.read_to_end(&mut out)).await;
    assert!(out.is_empty(), "refused: {out:?}");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The rate: a burst of 5, then ERROR:201 and the connection closes. The burst was
    // partly spent above; wait for it to refill.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut input = "!!\n".to_string();
    input.push_str(&"!gAS64497\n".repeat(8));
    let got = exchange(server.whois, input.as_bytes()).await;
    assert_eq!(
        got,
        format!(
            "{}F access denied for 127.0.0.1: too many queries\n",
            data("192.0.2.0/24").repeat(4)
        ),
        "`!!` and four queries spend the burst of 5; the sixth line is refused and the connection closes"
    );
    let got = exchange(server.whois, b"AS64497\n").await;
    assert!(
        got.contains("%ERROR:201: access denied for 127.0.0.1\n"),
        "{got}"
    );
    let mirror = request(server.addr, "GET", "/v1/whois?q=!gAS64497", &[]).await;
    assert_eq!(mirror.status, 429, "the mirror shares the rate");
}

#[tokio::test]
async fn slow_and_vanishing_clients_do_not_hold_the_server() {
    let server = server_with("idle_timeout_secs = 1\n").await;
    // A client that pipelines thousands of queries and never reads: the server stops
    // when its writes stall for the idle timeout, and closes.
    let mut stream = TcpStream::connect(server.whois).await.unwrap();
    let mut input = b"!!\n".to_vec();
    input.extend("!oEX-MNT\n".repeat(20_000).as_bytes());
    let writer = tokio::spawn(async move {
        let _ = stream.write_all(&input).await;
        tokio::time::sleep(Duration::from_secs(6)).await;
        stream
    });
    // Clients that vanish mid-answer.
    for _ in 0..20 {
        let mut s = TcpStream::connect(server.whois).await.unwrap();
        s.write_all(b"!!\n!oEX-MNT\n!oEX-MNT\n!oEX-MNT\n")
            .await
            .unwrap();
        drop(s);
    }
    assert_eq!(
        exchange(server.whois, b"!gAS64497\n").await,
        data("192.0.2.0/24"),
        "others are served meanwhile"
    );
    let _ = writer.await;
    assert!(
        eventually(10, || async {
            server
                .state
                .metrics
                .render()
                .lines()
                .any(|l| l == "ipintel_open_connections{front_end=\"whois\"} 0")
        })
        .await,
        "every connection is closed and counted: {}",
        server.state.metrics.render()
    );
}

#[tokio::test]
async fn an_import_switches_the_set_answers_atomically() {
    let server = server().await;
    let first = exchange(server.whois, b"!!\n!iAS-EXAMPLE,1\n!a4AS-EXAMPLE\n!q\n").await;
    assert_eq!(
        first,
        format!(
            "{}{}",
            data("AS64496 AS64497 AS64498"),
            data("192.0.2.0/24 192.0.2.0/25")
        )
    );
    let dir = tempfile::tempdir().unwrap();
    let next = dir.path().join("gen1-plus.rpsl");
    let mut text = std::fs::read_to_string(registry_file("gen1.rpsl")).unwrap();
    text.push_str("\naut-num:        AS64499\nas-name:        JOINED-AS\nmember-of:      AS-EXAMPLE\nmnt-by:         EX-MNT\nsource:         TEST\n\nroute:          203.0.113.0/24\norigin:         AS64499\nmnt-by:         EX-MNT\nsource:         TEST\n");
    std::fs::write(&next, text).unwrap();
    crate::support::import_registry(&server, "TEST", &next).await;
    let second = exchange(server.whois, b"!!\n!iAS-EXAMPLE,1\n!a4AS-EXAMPLE\n!q\n").await;
    assert_eq!(
        second,
        format!(
            "{}{}",
            data("AS64496 AS64497 AS64498 AS64499"),
            data("192.0.2.0/24 192.0.2.0/25 203.0.113.0/24")
        ),
        "no answer from the old generation's cache"
    );
}

#[tokio::test]
async fn the_http_mirror_answers_whois_queries() {
    let server = server().await;
    let r = request(server.addr, "GET", "/v1/whois?q=!gAS64496", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.body, b"192.0.2.0/24 192.0.2.0/25\n");
    let r = request(server.addr, "GET", "/v1/whois?q=%21iAS-EXAMPLE%2C1", &[]).await;
    assert_eq!(r.body, b"AS64496 AS64497 AS64498\n");
    let r = request(server.addr, "GET", "/v1/whois?q=!gAS64498", &[]).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    let r = request(server.addr, "GET", "/v1/whois?q=!gASfoo", &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        b"Invalid AS number ASFOO: number part is not numeric\n"
    );
    let r = request(server.addr, "GET", "/v1/whois?q=-r+AS64497", &[]).await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body.clone()).unwrap();
    assert!(text.contains("aut-num:        AS64497\n"), "{text}");
    assert!(!text.contains("% This is the"), "no banner: {text}");
    let r = request(server.addr, "GET", "/v1/whois?q=nothing-here", &[]).await;
    assert_eq!(r.status, 204);
    let r = request(server.addr, "GET", "/v1/whois?q=-z+x", &[]).await;
    assert_eq!(r.status, 400);
    for bad in [
        "/v1/whois",
        "/v1/whois?q=",
        "/v1/whois?x=1",
        "/v1/whois?q=%ff",
    ] {
        let r = request(server.addr, "GET", bad, &[]).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    let long = format!("/v1/whois?q={}", "A".repeat(5000));
    assert_eq!(request(server.addr, "GET", &long, &[]).await.status, 400);
}

/// Run a client binary with a deadline, its output as text.
async fn run(program: &str, args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(program).args(args).output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{program} {args:?} finished"))
    .unwrap_or_else(|e| panic!("{program} runs: {e}; install the Debian package `{program}` (apt-get install {program}; .ci/run does)"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_whois_client_queries_ipintel() {
    let server = server().await;
    let port = server.whois.port().to_string();
    let whois = |args: Vec<&'static str>| {
        let port = port.clone();
        async move {
            let mut all = vec!["-h", "127.0.0.1", "-p"];
            all.push(Box::leak(port.into_boxed_str()));
            all.push("--");
            all.extend(args);
            run("whois", &all).await
        }
    };
    let (ok, out, err) = whois(vec!["AS64496"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("% Information related to 'AS64496'"), "{out}");
    assert!(
        out.contains("% Abuse contact for 'AS64496' is 'abuse@example.net'"),
        "{out}"
    );
    assert!(out.contains("aut-num:        AS64496"), "{out}");
    assert!(
        out.contains("person:         Ann Example"),
        "related objects: {out}"
    );

    let (_, out, _) = whois(vec!["-r", "-B", "192.0.2.20"]).await;
    assert!(out.contains("notify:         noc@example.net"), "{out}");
    assert!(!out.contains("person:"), "{out}");

    let (_, out, _) = whois(vec!["-r", "-T", "route", "192.0.2.0/24"]).await;
    assert_eq!(
        out.matches("\nroute:          192.0.2.0/24\n").count(),
        2,
        "{out}"
    );
    assert!(!out.contains("inetnum:"), "{out}");

    let (_, out, _) = whois(vec!["-r", "-i", "origin", "AS64496"]).await;
    assert!(out.contains("route6:         2001:db8::/32"), "{out}");
    assert!(out.contains("route:          192.0.2.0/25"), "{out}");

    let (_, out, _) = whois(vec!["-b", "192.0.2.200"]).await;
    assert!(
        out.contains("abuse-mailbox:  abuse@example.org"),
        "via the organisation: {out}"
    );

    let (_, out, _) = whois(vec!["nothing-here"]).await;
    assert!(out.contains("%ERROR:101: no entries found"), "{out}");
    assert!(out.contains("% No entries found in source TEST."), "{out}");

    let (_, out, _) = whois(vec!["!gAS64496"]).await;
    assert_eq!(out, data("192.0.2.0/24 192.0.2.0/25"));
}

/// bgpq4's prefixes, one per line (`-F "%n/%l\n"`).
async fn bgpq4(port: u16, args: &[&str]) -> Vec<String> {
    let host = format!("127.0.0.1:{port}");
    let mut all = vec!["-h", host.as_str(), "-p", "-F", "%n/%l\n"];
    all.extend_from_slice(args);
    let (ok, out, err) = run("bgpq4", &all).await;
    assert!(ok, "bgpq4 {args:?} failed: {err}");
    let mut prefixes: Vec<String> = out
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect();
    prefixes.sort();
    prefixes
}

#[tokio::test]
async fn bgpq4_builds_prefix_lists_from_nested_sets() {
    let server = server().await;
    let port = server.whois.port();
    // AS-EXAMPLE: AS64496, AS64497 and AS-EXAMPLE-NESTED (AS64498, and AS-EXAMPLE again).
    // AS64496 originates 192.0.2.0/24, 192.0.2.0/25 and 2001:db8::/32; AS64497 the /24.
    let v4 = ["192.0.2.0/24", "192.0.2.0/25"];
    assert_eq!(bgpq4(port, &["-4", "AS-EXAMPLE"]).await, v4, "the !a path");
    assert_eq!(bgpq4(port, &["-6", "AS-EXAMPLE"]).await, ["2001:db8::/32"]);
    // -L: bgpq4 recurses itself with non-recursive !i and asks !g per AS.
    assert_eq!(
        bgpq4(port, &["-4", "-L", "5", "AS-EXAMPLE"]).await,
        v4,
        "the !i path"
    );
    assert_eq!(
        bgpq4(port, &["-6", "-L", "5", "AS-EXAMPLE"]).await,
        ["2001:db8::/32"]
    );
    // A route-set: its prefixes (range operators applied by bgpq4) and member-of routes.
    let rs = bgpq4(port, &["-4", "RS-EXAMPLE"]).await;
    assert!(rs.contains(&"192.0.2.0/24".to_string()), "{rs:?}");
    assert!(rs.iter().any(|p| p.starts_with("198.51.100.0/")), "{rs:?}");
    // Aggregated: the /25 folds into the /24.
    let (ok, out, err) = run(
        "bgpq4",
        &[
            "-h",
            &format!("127.0.0.1:{port}"),
            "-p",
            "-4",
            "-A",
            "-l",
            "EXAMPLE",
            "AS-EXAMPLE",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("192.0.2.0/24"), "{out}");
    assert!(!out.contains("192.0.2.0/25 "), "aggregated: {out}");
    // An AS number alone.
    assert_eq!(bgpq4(port, &["-4", "AS64497"]).await, ["192.0.2.0/24"]);
}

#[tokio::test]
async fn bgpq4_expands_a_large_generated_set_both_ways() {
    let server = server().await;
    // 300 member ASNs, each with one IPv4 and one IPv6 route, in nested sets.
    let mut text = String::new();
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let members: Vec<String> = (0..3).map(|i| format!("AS-PART{i}")).collect();
    text.push_str(&format!(
        "as-set: AS-BIG\nmembers: {}\nsource: BIG\n\n",
        members.join(", ")
    ));
    for i in 0..300u32 {
        let asn = 65000 + i;
        if i % 100 == 0 {
            let part = i / 100;
            let list: Vec<String> = (i..i + 100).map(|j| format!("AS{}", 65000 + j)).collect();
            text.push_str(&format!(
                "as-set: AS-PART{part}\nmembers: {}, AS-BIG\nsource: BIG\n\n",
                list.join(", ")
            ));
        }
        let (a, b) = (i / 256, i % 256);
        let p4 = format!("10.{a}.{b}.0/24");
        let p6 = format!(
            "{}/48",
            std::net::Ipv6Addr::new(0x2001, 0xdb8, i as u16, 0, 0, 0, 0, 0)
        );
        text.push_str(&format!("route: {p4}\norigin: AS{asn}\nsource: BIG\n\nroute6: {p6}\norigin: AS{asn}\nsource: BIG\n\n"));
        v4.push(p4);
        v6.push(p6);
    }
    v4.sort();
    v6.sort();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.rpsl");
    std::fs::write(&file, text).unwrap();
    crate::support::import_registry(&server, "BIG", &file).await;
    let port = server.whois.port();
    assert_eq!(bgpq4(port, &["-4", "-S", "BIG", "AS-BIG"]).await, v4);
    assert_eq!(bgpq4(port, &["-6", "-S", "BIG", "AS-BIG"]).await, v6);
    assert_eq!(
        bgpq4(port, &["-4", "-S", "BIG", "-L", "9", "AS-BIG"]).await,
        v4
    );
    // -T: not pipelined, one query at a time.
    assert_eq!(
        bgpq4(port, &["-6", "-S", "BIG", "-L", "9", "-T", "AS-BIG"]).await,
        v6
    );
}

#[tokio::test]
async fn hostile_lines_get_errors_and_the_server_serves_on() {
    let server = server().await;
    // Binary junk, NULs, invalid UTF-8, huge numbers, flags without end: each line gets
    // its dialect's error (or no entries), never a dropped connection or a panic.
    let mut junk: Vec<u8> = b"!!\n".to_vec();
    for line in [
        &b"\x00\x01\xff\xfe-\x00"[..],
        b"!t99999999999999999999999",
        b"!gAS99999999999999999999",
        b"!i\xff\xfe,1",
        b"!r::/0,M",
        b"!m,",
        b"-T -T -T",
        b"-------------------- x",
        b"!aAS-\x00NUL",
    ] {
        junk.extend_from_slice(line);
        junk.push(b'\n');
    }
    junk.extend_from_slice(b"!gAS64497\n!q\n");
    let got = exchange(server.whois, &junk).await;
    assert!(
        got.contains("F Invalid value for timeout: 99999999999999999999999\n"),
        "{got}"
    );
    assert!(
        got.contains("F Invalid AS number AS99999999999999999999: number part is out of range\n"),
        "{got}"
    );
    assert!(
        got.ends_with(&data("192.0.2.0/24")),
        "the connection lived through every line: {got}"
    );
    assert!(!server
        .state
        .metrics
        .render()
        .contains("ipintel_handler_panics_total 1"));
}

/// Issue 20's differences from IRRd 4.5, on objects written the way real IRR dumps write
/// them: keys with leading zeros are admitted in IRRd's form (so `!g` and bgpq4 find
/// them), `!m` shows the object as IRRd does (every attribute, hashes replaced by IRRd's
/// placeholder, empty continuations as `+` lines), a route-set's IPv6 members come back
/// canonical, an as-block's contacts and a set's members are inverse keys, and an object
/// naming two sources is refused with the reason.
#[tokio::test]
async fn irr_objects_are_admitted_and_answered_as_irrd_answers_them() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("irr.db");
    std::fs::write(
        &dump,
        "aut-num:   AS065537\nas-name:   ZEROS\nadmin-c:  AE1-TEST\ntech-c: AE1-TEST\nmnt-by: IRR-MNT\nchanged: ops@example.net 20240101\nsource: IRR\n\n\
         as-block:  AS65536 - as065538\nadmin-c:   AE1-TEST\ntech-c:    AE1-TEST\nmnt-by:    IRR-MNT\nsource:    IRR\n\n\
         route:     192.0.02.0/24\norigin:    AS065537\nmnt-by:    IRR-MNT\nsource:    IRR\n\n\
         as-set:    AS-ZEROS\nmembers:   AS065537, AS64496\nmnt-by:    IRR-MNT\nsource:    IRR\n\n\
         route-set: RS-V6\nmp-members: 2001:DB8:0::/48, 2001:0db8:1::/48^+\nmnt-by:    IRR-MNT\nsource:    IRR\n\n\
         mntner:    IRR-MNT\ndescr:     first line\n   \n\tsecond line\nupd-to:    ops@example.net\nauth:      BCRYPT-PW $2y$05$FcsN/YSYnNFPpueKMh8HuuBZ5pqq8PFCUByXKMo2KJHpaSoKlel1S\nmnt-by:    IRR-MNT\nchanged:   ops@example.net 20240101\nsource:    IRR\n\n\
         aut-num:   AS64999\nas-name:   TWICE\nsource:    IRR\nsource:    RIPE\n",
    )
    .unwrap();
    let out = crate::support::ipintel_async(&[
        "--data-dir",
        server.data_dir().to_str().unwrap(),
        "registry",
        "import",
        "--source",
        "IRR",
        dump.to_str().unwrap(),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("2 source: lines (IRR, RIPE)"),
        "the refused object is reported: {stdout}{stderr}"
    );
    assert!(
        eventually(10, || async {
            exchange(server.whois, b"!gAS65537\n").await == data("192.0.2.0/24")
        })
        .await,
        "the route with origin AS065537 is AS65537's"
    );
    let steps: Vec<(&str, String)> = vec![
        ("!gAS065537", data("192.0.2.0/24")),
        ("!iAS-ZEROS", data("AS64496 AS65537")),
        ("!iAS-ZEROS,1", data("AS64496 AS65537")),
        ("!iRS-V6,1", data("2001:db8:1::/48^+ 2001:db8::/48")),
        (
            "!maut-num,AS65537",
            data("aut-num:        AS65537\nas-name:        ZEROS\nadmin-c:        AE1-TEST\ntech-c:         AE1-TEST\nmnt-by:         IRR-MNT\nchanged:        ops@example.net 20240101\nsource:         IRR"),
        ),
        (
            "!mmntner,IRR-MNT",
            data("mntner:         IRR-MNT\ndescr:          first line\n+               \n\t               second line\nupd-to:         ops@example.net\nauth:           BCRYPT-PW DummyValue  # Filtered for security\nmnt-by:         IRR-MNT\nchanged:        ops@example.net 20240101\nsource:         IRR"),
        ),
        ("!maut-num,AS64999", "D\n".into()),
        ("!mas-block,AS65536 - AS65538", data("as-block:       AS65536 - AS65538\nadmin-c:        AE1-TEST\ntech-c:         AE1-TEST\nmnt-by:         IRR-MNT\nsource:         IRR")),
    ];
    let mut input = String::from("!!\n");
    let mut expected = String::new();
    for (query, answer) in &steps {
        input.push_str(query);
        input.push('\n');
        expected.push_str(answer);
    }
    input.push_str("q\n");
    assert_eq!(exchange(server.whois, input.as_bytes()).await, expected);

    // RIPE-style inverse queries on an as-block's contacts and a set's members.
    let got = exchange(server.whois, b"-r -s IRR -i admin-c AE1-TEST\n").await;
    assert!(got.contains("as-block:       AS65536 - AS65538"), "{got}");
    let got = exchange(server.whois, b"-r -s IRR -i members AS65537\n").await;
    assert!(got.contains("as-set:         AS-ZEROS"), "{got}");
    let got = exchange(server.whois, b"-r -s IRR -i mp-members 2001:db8::/48\n").await;
    assert!(got.contains("route-set:      RS-V6"), "{got}");
    // RIPE text writes an empty continuation as `+`, never as a line of spaces.
    let got = exchange(server.whois, b"-r -s IRR IRR-MNT\n").await;
    assert!(
        got.contains("first line\n+\n                second line\n"),
        "{got}"
    );
}

/// Issue 20, mirroring (server side): after a source's first import, every later import
/// journals its changes, and `-g SOURCE:VERSION:FIRST-LAST` answers them as IRRd's NRTM
/// does, to the client networks in `whois.nrtm_clients` only.
#[tokio::test]
async fn nrtm_answers_the_journal_of_later_imports_to_allowed_clients() {
    let server = server_with("nrtm_clients = [\"127.0.0.1/32\"]").await;
    let g = |q: &str| {
        let line = format!("-g {q}\n");
        let addr = server.whois;
        async move { exchange(addr, line.as_bytes()).await }
    };
    assert_eq!(
        g("TEST:3:1-LAST").await,
        "% Warning: there are no updates available\n\n\n",
        "a first import is the starting point: nothing journaled"
    );
    crate::support::import_registry(&server, "TEST", &registry_file("gen2.rpsl")).await;

    let all = g("TEST:3:1-LAST").await;
    assert!(
        all.starts_with("%START Version: 3 TEST 1-4\n\nADD 1\n\n"),
        "{all}"
    );
    assert!(all.ends_with("\n%END TEST\n\n\n"), "{all}");
    assert!(!all.contains("This is the"), "no banner: {all}");
    for op in ["ADD 1\n", "ADD 2\n", "ADD 3\n", "DEL 4\n"] {
        assert!(all.contains(op), "{op:?} in {all}");
    }
    assert!(
        all.contains(
            "ADD 1\n\ninetnum:        203.0.113.64 - 203.0.113.95\nnetname:        EXTRA-NET\n"
        ),
        "{all}"
    );
    assert!(
        all.contains(
            "DEL 4\n\ninetnum:        203.0.113.0 - 203.0.113.255\nnetname:        TEMP-NET\n"
        ),
        "a deletion carries the object's last text: {all}"
    );
    assert!(
        all.contains("as-name:        NEIGHBOUR-AS-RENAMED\n"),
        "{all}"
    );
    let v1 = g("test:1:2-3").await;
    assert!(
        v1.starts_with("%START Version: 1 TEST 2-3\n\nADD\n\n"),
        "{v1}"
    );
    assert_eq!(v1.matches("\n\nADD\n\n").count(), 2, "{v1}");
    assert!(!v1.contains("DEL"), "{v1}");

    for (query, answer) in [
        ("TEST:3:5-LAST", "% Warning: there are no newer updates available\n\n\n"),
        ("TEST:3:0-LAST", "%% ERROR: Serials 0 - 1 do not exist\n\n\n"),
        ("TEST:3:1-9", "%% ERROR: Serials 4 - 9 do not exist\n\n\n"),
        ("TEST:3:9-LAST", "%% ERROR: Serials 4 - 9 do not exist\n\n\n"),
        ("TEST:3:3-2", "%% ERROR: Start of the serial range (3) must be lower or equal to end of the serial range (2)\n\n\n"),
        ("NOPE:3:1-LAST", "%% ERROR: Unknown source: NOPE\n\n\n"),
        ("TEST:2:1-LAST", "%% ERROR: Invalid NRTM version: 2\n\n\n"),
        ("TEST:3", "%% ERROR: Invalid parameter: must contain three elements\n\n\n"),
        ("TEST:3:1-99999999999999999999", "%% ERROR: Invalid serial range: 1-99999999999999999999\n\n\n"),
    ] {
        assert_eq!(g(query).await, answer, "-g {query}");
    }
    // The source's serial is the journal's: `!j` says 4, `-q sources` the journal's range
    // and that this client may mirror (`X`, as IRRd writes it).
    assert_eq!(
        exchange(server.whois, b"!jTEST\n").await,
        data("TEST:Y:0-4")
    );
    let sources = exchange(server.whois, b"-q sources\n").await;
    assert!(sources.contains("\nTEST:3:X:1-4\n"), "{sources}");

    // From an address outside whois.nrtm_clients (127.0.0.2 is loopback too).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut stream = socket.connect(server.whois).await.unwrap();
    stream.write_all(b"-g TEST:3:1-LAST\n").await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut out))
        .await
        .expect("the server answers and closes")
        .unwrap();
    assert_eq!(out, "%% ERROR: Access denied\n\n\n");
}

/// Issue 20, mirroring (client side), between two real servers: B follows A's source TEST
/// over NRTM. B starts from the same first dump (serial 0); after A imports a changed dump,
/// B takes A's journal and answers as A does, at A's serial. A gives at most two serials an
/// answer (its journal holds four), so B must ask for the capped range, then the rest.
#[tokio::test]
async fn a_mirror_follows_another_servers_journal() {
    let upstream = server_with("nrtm_clients = [\"127.0.0.1/32\"]\nnrtm_max_serials = 2").await;
    let mirror = TestServer::with(Setup {
        toml: format!(
            "[registry]\nbase_url = \"https://reg.example\"\nterms_url = \"https://reg.example/terms\"\nrefresh_ms = 50\n[[registry.mirrors]]\nsource = \"TEST\"\nnrtm = \"{}\"\ndump = \"{}\"\ndump_serial = 0\ninterval_secs = 1\n",
            upstream.whois,
            registry_file("gen1.rpsl").display()
        ),
        ..Default::default()
    })
    .await;
    let same = |query: &'static str| {
        let (a, b) = (upstream.whois, mirror.whois);
        async move {
            let line = format!("{query}\n");
            exchange(a, line.as_bytes()).await == exchange(b, line.as_bytes()).await
        }
    };
    assert!(
        eventually(10, || same("!iAS-EXAMPLE,1")).await,
        "the mirror starts from the first dump"
    );
    crate::support::import_registry(&upstream, "TEST", &registry_file("gen2.rpsl")).await;
    assert!(
        eventually(15, || async {
            exchange(mirror.whois, b"!jTEST\n").await == data("TEST:Y:0-4")
        })
        .await,
        "the mirror reaches the upstream's serial: {}",
        exchange(mirror.whois, b"!jTEST\n").await
    );
    for query in [
        "!r203.0.113.0/24,M",
        "!gAS64497",
        "-r -B -T inetnum 203.0.113.64 - 203.0.113.95",
        "-r -B AS64497",
        "-r -B 203.0.113.200",
    ] {
        let line = format!("{query}\n");
        let a = exchange(upstream.whois, line.as_bytes()).await;
        let b = exchange(mirror.whois, line.as_bytes()).await;
        assert_eq!(a, b, "{query}");
    }
    let gone = exchange(
        mirror.whois,
        b"-r -x -T inetnum 203.0.113.0 - 203.0.113.255\n",
    )
    .await;
    assert!(
        gone.contains("ERROR:101") && !gone.contains("TEMP-NET"),
        "TEMP-NET was deleted upstream: {gone}"
    );
    let changed = exchange(mirror.whois, b"-r AS64497\n").await;
    assert!(changed.contains("NEIGHBOUR-AS-RENAMED"), "{changed}");
}

/// A mirror's upstream that misbehaves: a stream cut before `%END`, a flood past
/// `max_bytes`, silence past `timeout_secs`, and a range cap whose capped range is refused
/// again are each refused, counted and retried with
/// the last good serial (the next poll asks for the same serials); then a good stream is
/// applied. A scripted peer on loopback stands in for the upstream, since no real server
/// can be made to fail in these ways on demand.
#[tokio::test]
async fn a_mirror_refuses_broken_upstream_answers_and_keeps_its_serial() {
    use std::sync::{Arc, Mutex};
    use tokio::io::AsyncBufReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let peer = {
        let asked = asked.clone();
        tokio::spawn(async move {
            for script in 0.. {
                let (stream, _) = listener.accept().await.unwrap();
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                tokio::io::BufReader::new(read)
                    .read_line(&mut line)
                    .await
                    .unwrap();
                asked.lock().unwrap().push(line.trim().to_string());
                match script {
                    0 => {
                        let cut = "%START Version: 3 TEST 1-1\n\nADD 1\n\nmntner: NEW-MNT\n";
                        let _ = write.write_all(cut.as_bytes()).await;
                    }
                    1 => {
                        let flood = "% flood\n".repeat(300_000);
                        let _ = write.write_all(flood.as_bytes()).await;
                    }
                    2 => tokio::time::sleep(Duration::from_secs(5)).await,
                    // A range cap, then the capped range refused again: an upstream
                    // that contradicts itself is a failed poll, not a loop.
                    3 | 4 => {
                        let cap =
                            "%% ERROR: Serial range requested exceeds maximum range of 1\n\n\n";
                        let _ = write.write_all(cap.as_bytes()).await;
                    }
                    _ => {
                        let good = "%START Version: 3 TEST 1-1\n\nADD 1\n\nmntner: NEW-MNT\nmnt-by: NEW-MNT\nsource: TEST\n\n%END TEST\n\n\n";
                        let _ = write.write_all(good.as_bytes()).await;
                    }
                }
            }
        })
    };
    let mirror = TestServer::with(Setup {
        toml: format!(
            "[registry]\nrefresh_ms = 50\n[[registry.mirrors]]\nsource = \"TEST\"\nnrtm = \"{upstream}\"\ndump = \"{}\"\ndump_serial = 0\ninterval_secs = 1\nmax_bytes = 1048576\ntimeout_secs = 2\n",
            registry_file("gen1.rpsl").display()
        ),
        ..Default::default()
    })
    .await;
    let found = eventually(40, || async {
        exchange(mirror.whois, b"!mmntner,NEW-MNT\n")
            .await
            .contains("NEW-MNT")
    })
    .await;
    peer.abort();
    assert!(found, "the good stream is applied after the broken ones");
    assert_eq!(mirror.state.metrics.mirror_failures.get(), 4);
    assert_eq!(
        exchange(mirror.whois, b"!jTEST\n").await,
        data("TEST:Y:0-1")
    );
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 6, "{asked:?}");
    assert_eq!(asked[4], "-g TEST:3:1-1", "the capped range: {asked:?}");
    assert!(
        asked
            .iter()
            .enumerate()
            .all(|(i, q)| i == 4 || q == "-g TEST:3:1-LAST"),
        "every retry asks from the last good serial: {asked:?}"
    );
}
