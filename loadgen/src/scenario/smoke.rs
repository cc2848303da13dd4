//! The CI check: start a server on a free loopback port with a temporary
//! database, run small versions of scenarios 1 and 2 on both protocols
//! (scenario 2 native with edits, deletes and reactions among its frames)
//! and of the reaction storm, and fail on any loss, duplicate, reordering,
//! refused change, error or unexpected close. Timings are printed, never
//! judged.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;

use super::fanout::{self, FanProto, FanoutArgs};
use super::reactions::{self, ReactionsArgs};
use super::rooms::{self, RoomsArgs, RoomsProto};
use crate::fleet::Common;

#[derive(Args, Debug, Clone)]
pub struct SmokeArgs {
    /// The server binary to start (`cargo build --release -p server`).
    #[arg(long, default_value = "target/release/server")]
    pub server_bin: PathBuf,
    /// Hard limit on the whole check, in seconds.
    #[arg(long, default_value_t = 50)]
    pub max_secs: u64,
}

/// A server process that is stopped (and its database removed) on drop.
pub(crate) struct Spawned {
    pub(crate) child: Child,
    pub(crate) dir: PathBuf,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

fn spawn_server(bin: &PathBuf, addr: SocketAddr) -> Result<Spawned> {
    Spawned::start(Command::new(bin), "smoke", addr, &[])
}

impl Spawned {
    /// Run `command` (the server binary, or a wrapper that runs it) on
    /// `addr` with a new SQLite database in a fresh folder
    /// `parley-{what}-…`, the abuse limits lifted, then `extra` flags; its
    /// output goes to `server.log` there.
    pub(crate) fn start(
        mut command: Command,
        what: &str,
        addr: SocketAddr,
        extra: &[String],
    ) -> Result<Spawned> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("parley-{what}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let log = std::fs::File::create(dir.join("server.log"))?;
        // What it runs, for an error: the binary, behind its wrapper if any.
        let shown = format!("{command:?}");
        let child = command
            .args(["--addr", &addr.to_string()])
            .args([
                "--database-url",
                &format!("sqlite://{}", dir.join(format!("{what}.db")).display()),
            ])
            .args(lifted_limits())
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {shown}"))?;
        Ok(Spawned { child, dir })
    }
}

/// The flags that lift the abuse limits for a benchmark.
pub fn lifted_limits() -> Vec<&'static str> {
    vec![
        "--rate-per-sec",
        "1000000",
        "--rate-burst",
        "1000000",
        "--signin-per-ip-per-min",
        "1000000",
        "--signin-per-name-per-min",
        "1000000",
        "--max-connections-per-ip",
        "100000",
        "--max-connections-per-user",
        "100000",
    ]
}

pub async fn run(a: SmokeArgs) -> Result<bool> {
    let started = Instant::now();
    let addr = free_port()?;
    let server = spawn_server(&a.server_bin, addr)?;
    let http = crate::net::http_client()?;
    crate::net::wait_healthy(&http, addr, Duration::from_secs(20)).await?;
    let common = Common {
        addrs: vec![addr],
        server_pids: vec![server.child.id()],
        password: "smoke violet kettle 4821".into(),
        // Every user has a display name, so every frame naming them
        // carries it (the smoke check covers that path too).
        display_names: true,
        user_prefix: None,
        signin_concurrency: 4,
        connect_concurrency: 32,
        session_cache: None,
        max_secs: a.max_secs,
    };
    let fan = |protocol, rate: f64| FanoutArgs {
        common: common.clone(),
        protocol,
        listeners: 40,
        listener_users: 8,
        publishers: 3,
        rates: vec![rate],
        step_secs: 2.0,
        body_bytes: 100,
        slow_percent: 0.0,
        drain_secs: 10.0,
    };
    let rooms = |protocol, connections, change_share| RoomsArgs {
        common: common.clone(),
        protocol,
        connections,
        room_size: 10,
        sockets_per_user: 2,
        room_rate: 200.0,
        dm_rate: 50.0,
        secs: 2.0,
        body_bytes: 100,
        drain_secs: 10.0,
        seed: 7,
        change_share,
    };
    let mut results = Vec::new();
    results.push((
        "scenario 1, native",
        fanout::run(fan(FanProto::Native, 200.0)).await?.clean,
    ));
    results.push((
        "scenario 1, seed /ws",
        fanout::run(fan(FanProto::Group, 500.0)).await?.clean,
    ));
    results.push((
        "scenario 2, native, 20 % changes",
        rooms::run(rooms(RoomsProto::Native, 100, 0.2)).await?.clean,
    ));
    results.push((
        "scenario 2, seed /ws/{name}",
        rooms::run(rooms(RoomsProto::Direct, 60, 0.0)).await?.clean,
    ));
    results.push((
        "reaction storm",
        reactions::run(ReactionsArgs {
            common: common.clone(),
            members: 40,
            sockets_per_user: 2,
            messages: 3,
            rate: 100.0,
            secs: 2.0,
            emoji: 20,
            drain_secs: 10.0,
            seed: 7,
        })
        .await?
        .clean,
    ));
    drop(server);
    println!("\n## Smoke ({:.1?})\n", started.elapsed());
    let mut ok = true;
    for (name, clean) in &results {
        println!(
            "- {name}: {}",
            if *clean {
                "no loss, duplicate, reordering or error"
            } else {
                "FAILED"
            }
        );
        ok &= clean;
    }
    Ok(ok)
}
