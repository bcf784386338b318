//! A throwaway PostgreSQL server for tests and benchmarks: `initdb` into a temporary
//! directory, `pg_ctl` on a free loopback port, stopped (immediate mode) and removed when
//! the guard is dropped, pass or fail. Needs the Debian package `postgresql` (its binaries
//! under /usr/lib/postgresql/*/bin); as root, the server runs as the user `postgres`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A running test server; stopped and removed on drop.
#[derive(Debug)]
pub struct TestPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
    running: bool,
}

impl TestPostgres {
    /// Start a fresh server, or say which package is missing.
    pub fn start() -> Result<TestPostgres, String> {
        let bin = find_bin().ok_or_else(|| {
            "PostgreSQL's initdb and pg_ctl are not installed: apt-get install postgresql"
                .to_string()
        })?;
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!(
            "ipintel-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut pg = TestPostgres {
            bin,
            dir,
            port: free_port()?,
            as_postgres,
            running: false,
        };
        if as_postgres {
            let status = Command::new("chown")
                .arg("postgres")
                .arg(&pg.dir)
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err("cannot give the test directory to the user postgres".into());
            }
        }
        let data = pg.dir.join("data");
        pg.run(
            "initdb",
            &[
                "-A",
                "trust",
                "-U",
                "ipintel",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
                &data.to_string_lossy(),
            ],
        )?;
        pg.start_again()?;
        Ok(pg)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` (which must exist: see [`create_database`](Self::create_database)).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://ipintel@127.0.0.1:{}/{name}", self.port)
    }

    /// Create database `name` and return its URL.
    pub async fn create_database(&self, name: &str) -> Result<String, String> {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .map_err(|e| format!("connecting to the test server: {e}"))?;
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
        let _ = conn.close().await;
        Ok(self.url(name))
    }

    /// Stop the server (fast: connections are cut, as in a crash).
    pub fn stop(&mut self) -> Result<(), String> {
        if self.running {
            self.running = false;
            self.run(
                "pg_ctl",
                &[
                    "-D",
                    &self.dir.join("data").to_string_lossy(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            )?;
        }
        Ok(())
    }

    /// Start it again on the same port, with the same data. (`fsync=off` is safe for a
    /// test: a stopped server loses nothing the OS holds; commits stay synchronous, so an
    /// immediate stop never loses an acknowledged write.)
    pub fn start_again(&mut self) -> Result<(), String> {
        let data = self.dir.join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &self.dir.join("log").to_string_lossy(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        self.running = true;
        Ok(())
    }

    /// The server's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = command
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{tool} failed: {}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log()
            ));
        }
        Ok(())
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The newest installed server's binaries.
fn find_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}
