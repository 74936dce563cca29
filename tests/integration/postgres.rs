//! A real PostgreSQL server for the tests: Debian's server binaries (`initdb`, `pg_ctl`)
//! run on a cluster in a temporary directory, listening on a free loopback port, stopped
//! and removed when dropped. As root the server runs as the `postgres` user (PostgreSQL
//! refuses root). `scripts/test.sh` installs the server package.

use crate::common::TempDir;
use std::path::PathBuf;
use std::process::Command;

pub struct PgServer {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
}

/// The newest installed server's binaries (`/usr/lib/postgresql/N/bin`).
fn server_binaries() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).expect("PostgreSQL's server binaries are not installed (/usr/lib/postgresql/N/bin/initdb): scripts/test.sh installs postgresql")
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl PgServer {
    pub fn start() -> PgServer {
        let dir = TempDir::new("postgres");
        let bin = server_binaries();
        if running_as_root() {
            let owned = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
            assert!(owned.success(), "chown of the cluster directory to postgres");
        }
        let data = dir.path().join("data");
        let server = PgServer { port: free_port(), dir, bin };
        server.run("initdb", &["-D", data.to_str().unwrap(), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "-N"]);
        server.pg_ctl("start");
        server
    }

    /// `initdb`, `pg_ctl`, … of this server's binaries, as the user the cluster belongs
    /// to (PostgreSQL refuses root).
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.current_dir(self.dir.path());
        command
    }

    /// [`PgServer::command`] run to its end; panics with its output if it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{program} {args:?}: {}\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        );
    }

    /// `pg_ctl start | stop | restart`, waiting until it is done. Stops are immediate: the
    /// server goes as if killed, and recovers from its log on the next start.
    pub fn pg_ctl(&self, action: &str) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("log");
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {} -F", self.port, self.dir.path().display());
        let mut args = vec!["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-w", "-t", "60"];
        if action != "start" {
            args.extend(["-m", "immediate"]);
        }
        if action != "stop" {
            args.extend(["-o", &options]);
        }
        args.push(action);
        self.run("pg_ctl", &args);
    }

    /// A new, empty database on this server, as a `postgres://` URL.
    pub async fn new_database(&self) -> String {
        use sqlx::{Connection, Executor};
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!("demoreel_{}", COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres")).await.unwrap();
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
        admin.close().await.unwrap();
        self.url(&name)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // Already stopped is fine: the outcome is not checked.
        let data = self.dir.path().join("data");
        let _ = self.command("pg_ctl").args(["-D", data.to_str().unwrap_or_default(), "-m", "immediate", "stop"]).output();
    }
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
