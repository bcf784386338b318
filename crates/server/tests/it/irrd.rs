//! Mirroring both ways with a real IRRd 4.5 (issue 20): `tests/irrd/mirror.sh` starts a
//! throwaway PostgreSQL cluster, Redis, IRRd and two ipintel servers on loopback; IRRd
//! mirrors ipintel over NRTM, a second ipintel mirrors IRRd, and after ipintel imports a
//! changed dump all three must answer the same IRRd queries alike (sets as sets, objects in
//! any order and with IRRd's list spacing, the differences docs/decisions.md keeps).

use std::path::Path;

use crate::readme::{require_clients, run_bash};

/// Where `.ci/run` puts IRRd (a virtualenv of Debian's python3, readable by the user
/// IRRd drops to); `IPINTEL_TEST_IRRD_VENV` points elsewhere.
const IRRD_VENV: &str = "/opt/ipintel-test/irrd-venv";

#[test]
fn ipintel_and_irrd_mirror_each_other_and_answer_alike() {
    require_clients(&[("redis-server", "redis-server"), ("runuser", "util-linux")]);
    let postgres = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|mut d| d.next())
        .is_some();
    assert!(
        postgres,
        "PostgreSQL's initdb is missing: install the Debian package postgresql (.ci/run does)"
    );
    let venv = std::env::var("IPINTEL_TEST_IRRD_VENV").unwrap_or_else(|_| IRRD_VENV.into());
    assert!(
        Path::new(&venv).join("bin/irrd").is_file(),
        "IRRd is missing: run .ci/run, or /usr/bin/python3 -m venv {venv} && {venv}/bin/pip install irrd==4.5.4"
    );
    // The effective uid, from /proc (no libc call needed for one number).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0");
    assert!(
        root,
        "this test runs IRRd, which drops to the user irrd, and initdb as postgres: it needs root (CI runs as root)"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/irrd/mirror.sh");
    let home = tempfile::tempdir().unwrap();
    let out = run_bash(
        &format!("bash {}", script.display()),
        home.path(),
        home.path(),
        &[
            ("IRRD_VENV", venv),
            ("PORT_BASE", free_port_run(8).to_string()),
        ],
    );
    assert!(
        out.success,
        "mirroring with IRRd failed\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains(
            "same answers from ipintel, IRRd mirroring it and ipintel mirroring IRRd: 18 queries"
        ),
        "{}",
        out.stdout
    );
}

/// The first of `n` consecutive loopback ports that were all free a moment ago.
fn free_port_run(n: u16) -> u16 {
    for _ in 0..200 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        if base.checked_add(n).is_none() {
            continue;
        }
        let held: Vec<_> = (base..base + n)
            .map_while(|p| std::net::TcpListener::bind(("127.0.0.1", p)).ok())
            .collect();
        if held.len() == n as usize {
            return base;
        }
    }
    panic!("no {n} consecutive free loopback ports");
}
