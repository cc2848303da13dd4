//! The real server binary as a child process, for tests that kill it with
//! SIGKILL or read its file descriptors and memory from /proc.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::TIMEOUT;

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Presence refreshes every 0.5 s and expires after 1.5 s on the nodes
/// [`ServerProcess::node`] starts.
pub const PRESENCE_TTL: &str = "1.5";

impl ServerProcess {
    /// A cluster node named `name` on a free port, with the database at
    /// `db` and the Redis at `redis`; `extra` flags come last.
    pub async fn node(db: &str, redis: &str, name: &str, extra: &[&str]) -> Self {
        let mut args = vec![
            "--redis-url",
            redis,
            "--node-id",
            name,
            "--presence-ttl-secs",
            PRESENCE_TTL,
        ];
        args.extend_from_slice(extra);
        Self::start(db, free_port(), &args).await
    }

    /// Start `target/…/server` on `port` with the database at `url`, and
    /// return once it says it is listening. Abuse limits are lifted; `extra`
    /// flags come last.
    pub async fn start(url: &str, port: u16, extra: &[&str]) -> Self {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--addr", &addr.to_string()])
            .args(["--database-url", url])
            .args(["--rate-per-sec", "100000", "--rate-burst", "100000"])
            .args(["--signin-per-ip-per-min", "100000"])
            .args(["--signin-per-name-per-min", "100000"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("server binary starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(TIMEOUT * 4, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("running at") {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(ready, Ok(true), "server did not report it was listening");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ServerProcess { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("server is running")
    }

    /// SIGKILL: no shutdown, no flush, nothing.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("kill");
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then wait for the process to exit; its exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.pid().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM runs");
        assert!(status.success());
        tokio::time::timeout(TIMEOUT * 4, self.child.wait())
            .await
            .expect("server exits after SIGTERM")
            .expect("exit status")
    }

    /// Open file descriptors of the process.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(PathBuf::from(format!("/proc/{}/fd", self.pid())))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Resident memory of the process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}
