//! README's "First steps" block, run as written: the real binary on PATH, a fresh home
//! directory holding the fixture databases where the default data directory rule puts them,
//! and the block's `127.0.0.1:8080` moved to a free loopback port. Only IP terms, so nothing
//! is resolved.

use std::path::Path;

use crate::support::{build_fixtures, STANDARD_SET};

/// Run the "Walkthrough" block of a document as written, from a copy of the repository's
/// examples, with the fixture databases in a fresh home's default data directory and the
/// default addresses (HTTP 8080, whois 4343) moved to free loopback ports. Its stdout.
fn run_walkthrough(doc: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join(doc)).unwrap();
    let block = shell_block(&text, "## Walkthrough");
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
    let (http, whois) = (free_port(), free_port());
    let script = block
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{http}"))
        .replace("127.0.0.1:4343", &format!("127.0.0.1:{whois}"))
        .replace("-p 4343", &format!("-p {whois}"));
    let out = run_bash(
        &script,
        &work,
        home.path(),
        &[
            ("IPINTEL_LISTEN", format!("127.0.0.1:{http}")),
            ("IPINTEL_WHOIS__LISTEN", format!("127.0.0.1:{whois}")),
        ],
    );
    assert!(
        out.success,
        "{doc}'s walkthrough failed\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    out.stdout
}

/// What a script printed, and whether it succeeded.
pub(crate) struct ScriptOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Run `script` with bash in its own process group, the ipintel binary first on PATH, a
/// fresh HOME, output to files (a server it backgrounds can't hold a pipe open), within
/// two minutes. Everything it started is killed before this returns.
pub(crate) fn run_bash(
    script: &str,
    work: &Path,
    home: &Path,
    env: &[(&str, String)],
) -> ScriptOutput {
    use std::os::unix::process::CommandExt;
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_ipintel")).parent().unwrap();
    let (out_path, err_path) = (home.join("script.out"), home.join("script.err"));
    let mut command = std::process::Command::new("bash");
    command
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(work)
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", home)
        // Nothing leaves loopback, even by mistake.
        .env("IPINTEL_TASKS__DNS_SERVER", "127.0.0.1:9")
        .env("IPINTEL_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .process_group(0);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("bash runs");
    let _group = crate::support::GroupGuard(child.id() as i32);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // The server the script started stops cleanly first (its pid file goes with it).
    if let Ok(pid) = std::fs::read_to_string(work.join("ipintel.pid")) {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
    for _ in 0..100 {
        if !work.join("ipintel.pid").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    if status.is_none() {
        stderr.push_str("\n[the script did not finish within 120 s and was killed]");
    }
    ScriptOutput {
        success: status.is_some_and(|s| s.success()),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr,
    }
}

/// Fail at once, naming the Debian package, when a real client a walkthrough drives is
/// not installed.
pub(crate) fn require_clients(clients: &[(&str, &str)]) {
    for (program, package) in clients {
        let found = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
            .unwrap_or(false);
        assert!(
            found,
            "`{program}` is not on PATH: install the Debian package `{package}` (apt-get install {package}; .ci/run does)"
        );
    }
}

/// A loopback port free a moment ago.
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

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
    let out = run_bash(
        &script,
        &work,
        home.path(),
        &[
            ("IPINTEL_LISTEN", format!("127.0.0.1:{port}")),
            (
                "IPINTEL_WHOIS__LISTEN",
                format!("127.0.0.1:{}", free_port()),
            ),
        ],
    );
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    assert!(
        out.success,
        "README block failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // Each command did what its comment says.
    let serve_log = std::fs::read_to_string(work.join("serve.log")).unwrap();
    assert!(
        serve_log.contains("created account 1 with key ipk_"),
        "{serve_log}"
    );
    assert!(
        serve_log.contains("web console on http://127.0.0.1:")
            && serve_log.contains("/ui/ (sign in with the key above)"),
        "the first start prints the console's address: {serve_log}"
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
    let stdout = run_walkthrough("docs/registry.md");
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

#[test]
fn whois_walkthrough_runs_as_written() {
    require_clients(&[("whois", "whois"), ("bgpq4", "bgpq4")]);
    let stdout = run_walkthrough("docs/whois.md");
    for expected in [
        "% Abuse contact for 'AS64496' is 'abuse@example.net'",
        "aut-num:        AS64496",
        "route:          192.0.2.0/24\ndescr:",
        "abuse-mailbox:  abuse@example.net",
        "inetnum:        192.0.2.10 - 192.0.2.37",
        "A24\nAS64496 AS64497 AS64498\nC\n",
        "permit 192.0.2.0/24",
        "2001:db8::/32",
        "192.0.2.0/24 192.0.2.0/25\n",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
}
