//! README's "First steps" block, run as written: the real binary on PATH, a fresh home
//! directory holding the fixture databases where the default data directory rule puts them,
//! and the block's `127.0.0.1:8080` moved to a free loopback port. Only IP terms, so nothing
//! is resolved.

use std::path::Path;

use crate::support::{build_fixtures, STANDARD_SET};

/// The first ```sh block after `heading`.
fn shell_block<'a>(readme: &'a str, heading: &str) -> &'a str {
    let section = &readme[readme.find(heading).expect("README has the heading")..];
    let start = section.find("```sh\n").expect("a shell block") + "```sh\n".len();
    let len = section[start..].find("```").expect("the block ends");
    &section[start..start + len]
}

#[test]
fn readme_first_steps_run_as_written() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let block = shell_block(&readme, "## First steps");
    assert!(
        block.contains("127.0.0.1:8080"),
        "the block talks to the default address"
    );

    let home = tempfile::tempdir().unwrap();
    let data = home.path().join(".local/share/ipintel");
    std::fs::create_dir_all(&data).unwrap();
    build_fixtures(&data, STANDARD_SET);
    let work = home.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let script = block.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_ipintel")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&work)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home.path())
        .env("IPINTEL_LISTEN", format!("127.0.0.1:{port}"))
        // Nothing leaves loopback, even by mistake.
        .env("IPINTEL_TASKS__DNS_SERVER", "127.0.0.1:9")
        .env("IPINTEL_LOG", "warn")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Whatever happened, no server is left behind.
    if let Ok(pid) = std::fs::read_to_string(work.join("ipintel.pid")) {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
    assert!(
        out.status.success(),
        "README block failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // Each command did what its comment says.
    let serve_log = std::fs::read_to_string(work.join("serve.log")).unwrap();
    assert!(
        serve_log.contains("created account 1 with key ipk_"),
        "{serve_log}"
    );
    assert!(
        serve_log.contains(&data.display().to_string()),
        "serve names the data directory: {serve_log}"
    );
    assert!(stdout.contains("ready"), "{stdout}");
    assert!(
        stdout.contains(r#""iso_code":"GB""#),
        "MaxMind city answer: {stdout}"
    );
    assert!(
        stdout.contains(r#""countryCode":"GB""#),
        "DB-IP answer: {stdout}"
    );
    assert!(
        stdout.contains("  key ipk_"),
        "keys list shows prefixes: {stdout}"
    );
    assert!(stdout.contains("81.2.69.160"), "lookup: {stdout}");
    assert!(
        stdout.contains(r#"{"response":{"id":"#),
        "bulk request accepted: {stdout}"
    );
    assert!(stdout.contains("revoked 1 key(s)"), "{stdout}");
    let results = std::fs::read_to_string(work.join("results.csv")).unwrap();
    assert!(
        results.lines().any(|l| l.starts_with("81.2.69.160,")),
        "{results}"
    );
    assert!(stderr.contains("terms/s"), "bulk prints its rate: {stderr}");
    let gone = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        !work.join("ipintel.pid").exists()
    });
    assert!(gone, "the pid file goes when the server stops");
    assert!(
        data.join("ipintel.db").exists(),
        "one store, in the default data directory"
    );
}

#[test]
fn registry_walkthrough_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/registry.md")).unwrap();
    let block = shell_block(&doc, "## Walkthrough");
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join(".local/share/ipintel");
    std::fs::create_dir_all(&data).unwrap();
    build_fixtures(&data, STANDARD_SET);
    // The block runs from the repository root: give it the examples it names.
    let work = home.path().join("work");
    std::fs::create_dir_all(work.join("examples/registry")).unwrap();
    std::fs::copy(
        root.join("examples/registry/example.rpsl"),
        work.join("examples/registry/example.rpsl"),
    )
    .unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let script = block.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_ipintel")).parent().unwrap();
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&work)
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", home.path())
        .env("IPINTEL_LISTEN", format!("127.0.0.1:{port}"))
        .env("IPINTEL_LOG", "warn")
        .output()
        .expect("bash runs");
    if let Ok(pid) = std::fs::read_to_string(work.join("ipintel.pid")) {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "walkthrough failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for expected in [
        "EXAMPLE: read 39 objects",
        "<whois-resources xmlns:xlink=\"http://www.w3.org/1999/xlink\">",
        "\"value\":\"ODD-NET\"",
        "auth:           MD5-PW $1$SaltSalt$YhgRYajLPrYevs14poKBQ0 # ops key",
        "inetnum:        192.0.2.10 - 192.0.2.37",
        "\"email\":\"abuse@example.org\"",
        "\"location\":[{\"value\":\"51.92 4.48\"",
        "\"versions\":{\"type\":\"aut-num\",\"key\":\"AS64497\"",
        "\"id\":\"example\"",
        "route:          [mandatory]  [single]     [primary/lookup key]",
        "\n404\n",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
}
