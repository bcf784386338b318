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
