//! The `ipintel` binary's non-serving commands.

use crate::support::{build_fixtures, ipintel, STANDARD_SET};

#[test]
fn lookup_prints_the_merged_record() {
    let dir = tempfile::tempdir().unwrap();
    let dbs = build_fixtures(dir.path(), STANDARD_SET);
    let mut args: Vec<String> = vec!["lookup".into(), "81.2.69.165".into()];
    for db in &dbs {
        args.push("--mmdb".into());
        args.push(db.display().to_string());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ipintel(&argv);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("city          London"), "{text}");
    assert!(text.contains("network       81.2.69.160/29"), "{text}");
    assert!(
        text.contains("asn           AS20712 Andrews & Arnold Ltd"),
        "{text}"
    );

    let mut json_args = argv.clone();
    json_args.push("--json");
    let out = ipintel(&json_args);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["anonymizer"]["is_tor_exit_node"], true);
    assert_eq!(j["traits"]["ip_address"], "81.2.69.165");

    argv_with(&argv, "10.1.2.3", 1);
    argv_with(&argv, "1.2.3.4", 1);
    argv_with(&argv, "nonsense", 2);
}

/// `ipintel lookup` judges an address as every dialect does (through the engine): a
/// reserved address is labelled, a miss says so, and the operator's local networks answer
/// for addresses no database knows.
#[test]
fn lookup_judges_reserved_missing_and_local_like_the_dialects() {
    let dir = tempfile::tempdir().unwrap();
    let dbs = build_fixtures(dir.path(), STANDARD_SET);
    let cfg = dir.path().join("ipintel.toml");
    std::fs::write(
        &cfg,
        "[[local_networks]]\ncidr = \"10.1.0.0/16\"\nname = \"corp.lab\"\ndomain_id = 7\n",
    )
    .unwrap();
    let run = |ip: &str| {
        let mut args: Vec<String> = vec!["--config".into(), cfg.display().to_string()];
        args.extend(["lookup".into(), ip.to_string()]);
        for db in &dbs {
            args.push("--mmdb".into());
            args.push(db.display().to_string());
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ipintel(&argv);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = run("10.1.2.3");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("reserved range (Rfc 1918)"), "{text}");
    assert!(
        text.contains("local network 10.1.0.0/16 corp.lab (domain 7)"),
        "{text}"
    );
    let (code, text) = run("10.9.9.9");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("10.9.9.9 is in a reserved range (Rfc 1918)"),
        "{text}"
    );
    let (code, text) = run("1.2.3.4");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("1.2.3.4 is not in any database"), "{text}");
}

fn argv_with(argv: &[&str], ip: &str, code: i32) {
    let mut a = argv.to_vec();
    a[1] = ip;
    let out = ipintel(&a);
    assert_eq!(
        out.status.code(),
        Some(code),
        "lookup {ip}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn build_asn_from_csv() {
    let dir = tempfile::tempdir().unwrap();
    let v4 = dir.path().join("asn-ipv4.csv");
    let v6 = dir.path().join("asn-ipv6.csv");
    std::fs::write(&v4, "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n8.8.8.0,8.8.8.255,15169,Google LLC\n10.0.0.0,10.0.0.255,64512,Private\n").unwrap();
    std::fs::write(&v6, "2001::,2001::ffff:ffff:ffff:ffff:ffff:ffff,6939,Hurricane Electric LLC\n2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC\n").unwrap();
    let out_db = dir.path().join("asn.mmdb");
    let out = ipintel(&[
        "data",
        "build-asn",
        "--out",
        out_db.to_str().unwrap(),
        v4.to_str().unwrap(),
        v6.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("3 networks, 2 skipped"),
        "reserved and Teredo rows are skipped and counted: {text}"
    );

    let out = ipintel(&["data", "info", out_db.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("kind asn (database_type GeoLite2-ASN)"));
    let out = ipintel(&["lookup", "1.0.0.7", "--mmdb", out_db.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("AS13335 Cloudflare, Inc."), "{text}");
    assert!(text.contains("network       1.0.0.0/24"), "{text}");
    let out = ipintel(&[
        "lookup",
        "2001:4860::8888",
        "--mmdb",
        out_db.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("AS15169 Google LLC"));

    // Malformed input names the file and line.
    std::fs::write(&v4, "1.0.0.0,1.0.0.255,13335,x\n1.0.1.0,nonsense,1,y\n").unwrap();
    let out = ipintel(&[
        "data",
        "build-asn",
        "--out",
        out_db.to_str().unwrap(),
        v4.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("asn-ipv4.csv:2") && err.contains("nonsense"),
        "{err}"
    );
}

#[test]
fn corrupt_or_foreign_databases_are_named_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.mmdb");
    std::fs::write(&bad, b"not an mmdb at all").unwrap();
    let out = ipintel(&["lookup", "81.2.69.165", "--mmdb", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.mmdb"));

    // A well-formed MMDB of a schema we don't serve.
    let src = dir.path().join("x.json");
    std::fs::write(&src, r#"[{"1.0.0.0/24": {"foo": 1}}]"#).unwrap();
    let odd = dir.path().join("odd.mmdb");
    let out = ipintel(&[
        "data",
        "build",
        "--type",
        "Some-Weather-DB",
        "--out",
        odd.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let out = ipintel(&["lookup", "1.0.0.1", "--mmdb", odd.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("odd.mmdb") && err.contains("Some-Weather-DB"),
        "{err}"
    );
}

#[test]
fn config_errors_exit_2_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[geoip]\nreload_secs = 3\n").unwrap();
    let out = ipintel(&["--config", cfg.to_str().unwrap(), "check-config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reload_secs"));
    // The example configuration in the repository is valid.
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ipintel.example.toml");
    let out = ipintel(&["--config", example.to_str().unwrap(), "check-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn help_documents_every_key_and_its_environment_name() {
    let out = ipintel(&["--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for (key, _) in ipintel_server::config::KEYS {
        assert!(text.contains(key), "--help lacks {key}");
    }
    assert!(text.contains("IPINTEL_GEOIP__MMDB"));
}

#[test]
fn data_dir_with_url_characters() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("odd ?name#here");
    let data = data.to_str().unwrap();
    let out = ipintel(&[
        "--data-dir",
        data,
        "--create",
        "keys",
        "create",
        "--plan",
        "lite",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ipintel(&["--data-dir", data, "keys", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["plan"], "lite");
    assert!(
        std::path::Path::new(data).join("ipintel.db").exists(),
        "the store is where it was asked to be"
    );
}

/// A command other than `serve` never creates a second store by accident: it says where it
/// looked and how to fix it, and creates one only with `--create`.
#[test]
fn keys_commands_refuse_to_create_a_store_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("typo");
    let out = ipintel(&["--data-dir", data.to_str().unwrap(), "keys", "list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&data.join("ipintel.db").display().to_string())
            && err.contains("--create")
            && err.contains("flag --data-dir"),
        "{err}"
    );
    assert!(!data.exists(), "nothing was created");
    // Without --data-dir the default rule applies, and is named.
    let out = ipintel(&["keys", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("ipintel-tests-have-no-default-data-dir/ipintel"),
        "{err}"
    );
    assert!(err.contains("XDG_DATA_HOME"), "{err}");

    let out = ipintel(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--create",
        "keys",
        "create",
        "--shell",
        "--label",
        "x",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], "ACCOUNT_ID=1");
    let key = lines[1].strip_prefix("KEY=ipk_").expect("KEY=ipk_...");
    assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "{key}");

    // keys list: the account, then each key's prefix with RFC 3339 dates.
    let out = ipintel(&[
        "--data-dir",
        data.to_str().unwrap(),
        "keys",
        "revoke",
        lines[1].strip_prefix("KEY=").unwrap(),
    ]);
    assert!(out.status.success());
    let out = ipintel(&["--data-dir", data.to_str().unwrap(), "keys", "list"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let key_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("key ipk_"))
        .expect(&text);
    assert!(
        key_line.contains("created 20")
            && key_line.contains("revoked 20")
            && key_line.contains('T'),
        "{text}"
    );
    assert!(text.lines().nth(1).unwrap().contains("free"), "{text}");
}

/// The store's directory cannot be written: the message says so in words, with the fix.
#[test]
fn an_unwritable_data_directory_is_named_with_the_reason() {
    if std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .ok()
        == Some(0)
    {
        // root writes everywhere; a read-only bind mount is what root would hit, and this
        // checks the same message through the permission path below when not root.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        let data = file.join("data");
        let out = ipintel(&[
            "--data-dir",
            data.to_str().unwrap(),
            "--create",
            "keys",
            "list",
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            err.contains("cannot create the data directory")
                && err.contains("a file is in the way"),
            "{err}"
        );
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ro");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o500)).unwrap();
    let out = ipintel(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--create",
        "keys",
        "list",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("permission denied") && err.contains("IPINTEL_DATA_DIR"),
        "{err}"
    );
}

/// check-config prints TOML with sources and ends quietly when its reader goes away;
/// completions and the man page come from the same command definition.
#[test]
fn check_config_completions_and_man_behave_like_unix_tools() {
    use std::io::Read;
    let out = ipintel(&["check-config"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("listen = \"127.0.0.1:8080\"  # default"),
        "{text}"
    );
    assert!(
        text.contains("[tasks]") && text.contains("workers = 16  # default"),
        "{text}"
    );
    // A reader that closes after one line, as `| head -1` does.
    for args in [&["check-config"][..], &["completions", "bash"], &["man"]] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ipintel"))
            .args(args)
            .env("XDG_DATA_HOME", crate::support::no_default_data_dir())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take());
        let status = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(status.code() == Some(0), "{args:?}: {status:?} {err}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = ipintel(&["completions", shell]);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("check-config") && text.contains("data-dir"),
            "{shell}"
        );
    }
    let out = ipintel(&["man"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(".TH ipintel 1") && text.contains("check\\-config"),
        "{text}"
    );
    // One page: subcommands are sections of it, not references to pages never shipped;
    // the settings table is preformatted, so man keeps its columns.
    assert!(
        !text.contains("(1)\n"),
        "no references to other pages: {text}"
    );
    assert!(text.contains(".SS \"ipintel registry remove\""), "{text}");
    let settings = &text[text
        .find(".SH CONFIGURATION")
        .expect("a CONFIGURATION section")..];
    assert!(settings.starts_with(".SH CONFIGURATION\n.nf\n") && settings.contains("\n.fi\n"));
    // Typos get a suggestion.
    let out = ipintel(&["regsitry", "sources"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("similar") && err.contains("registry"), "{err}");
    // Bare ports and names are listen addresses; nonsense is named.
    let out = ipintel(&["serve", "--listen", "no:such:thing"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("not a listen address"), "{err}");
    // MMDB build times are RFC 3339.
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::build_fixture(dir.path(), "GeoLite2-ASN");
    let out = ipintel(&["data", "info", db.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(", built 20") && text.trim_end().ends_with('Z'),
        "{text}"
    );
}

/// `serve` finds what is wrong before it announces anything, and its logs are plain text
/// when stderr is not a terminal.
#[test]
fn serve_checks_everything_before_announcing_and_logs_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let missing = dir.path().join("no-such-cert.pem");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ipintel"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--tls-cert")
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing)
        .env("XDG_DATA_HOME", crate::support::no_default_data_dir())
        .env("IPINTEL_WHOIS__LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no-such-cert.pem"), "{stderr}");
    assert!(stdout.is_empty(), "nothing is announced: {stdout}");
    assert!(!stderr.contains("listening"), "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "no colour codes in a file: {stderr:?}"
    );
    assert!(
        !data.join("ipintel.db").exists(),
        "no store for a server that never ran"
    );

    // A busy port is named with the fix.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = ipintel(&[
        "--data-dir",
        data.to_str().unwrap(),
        "serve",
        "--listen",
        &port,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("another process listens there"), "{stderr}");
    // The same for the whois port, named by its own key and flag.
    let out = ipintel(&[
        "--data-dir",
        data.to_str().unwrap(),
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--whois-listen",
        &port,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("whois.listen, from flag --whois-listen")
            && stderr.contains("another process listens there"),
        "{stderr}"
    );
    let out = ipintel(&["serve", "--whois-listen", "no:such:thing"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--whois-listen"), "{stderr}");
    drop(taken);

    // `lookup` without databases names where it looked.
    let out = ipintel(&[
        "--data-dir",
        data.to_str().unwrap(),
        "lookup",
        "81.2.69.160",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains(data.to_str().unwrap()) && stderr.contains("fetch-data.sh"),
        "{stderr}"
    );

    // `bulk --format yaml` says what it takes.
    let terms = dir.path().join("terms.txt");
    std::fs::write(&terms, "81.2.69.160\n").unwrap();
    let out = ipintel(&[
        "bulk",
        terms.to_str().unwrap(),
        "--out",
        dir.path().join("r.x").to_str().unwrap(),
        "--format",
        "yaml",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("--format \"yaml\": expected csv, json or xml"),
        "{stderr}"
    );
}

/// A server asked to listen on port 0 names the port it got in the links it writes (the
/// registry's default base and terms URL), not `:0`.
#[test]
fn links_name_the_port_really_bound() {
    let home = tempfile::tempdir().unwrap();
    let script = r#"
ipintel --data-dir "$HOME/data" --create serve --listen 127.0.0.1:0 --pid-file "$HOME/ipintel.pid" >"$HOME/out" 2>&1 &
for _ in $(seq 100); do grep -q 'whois on' "$HOME/out" && break; sleep 0.1; done
http=$(grep -o 'http://127.0.0.1:[0-9]*' "$HOME/out" | head -1 | sed 's|.*:||')
whois_port=$(sed -n 's|.*whois on 127.0.0.1:\([0-9]*\).*|\1|p' "$HOME/out" | head -1)
echo "http=$http"
whois -h 127.0.0.1 -p "$whois_port" -- '-q version'
kill "$(cat "$HOME/ipintel.pid")"
"#;
    let out = crate::readme::run_bash(
        script,
        home.path(),
        home.path(),
        &[("IPINTEL_WHOIS__LISTEN", "127.0.0.1:0".into())],
    );
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    let http = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("http="))
        .expect("the HTTP port");
    assert_ne!(http, "0");
    assert!(
        out.stdout
            .contains(&format!("% See http://127.0.0.1:{http}/\n")),
        "{}",
        out.stdout
    );
}
