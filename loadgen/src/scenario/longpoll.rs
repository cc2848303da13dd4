//! Long-polling against WebSocket: the same room of many members, the
//! same send rate, the same server binary, once over `/api/ws` and once
//! over `/api/poll`, each on a server of its own (started here, on a free
//! loopback port, with a new SQLite database).
//!
//! A long-polling client behaves like the browser's (`app/src/client/poll.rs`):
//! a tab id of its own, one `GET` loop that carries the `since` token of
//! the last answer and the cursors it holds, and its sends queued and
//! `POST`ed one request at a time (what queued meanwhile goes in the next
//! one, at most 64 frames), their acks read from the `POST`'s answer. All
//! clients share one HTTP client whose pool keeps a keep-alive connection
//! for every held `GET` and every `POST`.
//!
//! For each transport: deliveries per second, delivery latency (the send
//! time stamped in the body to the moment the receiver has the answer
//! parsed), the server's CPU over the send window and the drain, its RSS
//! per connected idle client (RSS with every client connected and idle,
//! minus RSS before, divided by the clients: as `idle` measures it), and
//! loss: every receiver checks per publisher that it gets 1, 2, 3, … once
//! each, against the publishes the server acknowledged.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use app::client::transport::{poll_query, POLL_PATH};
use app::protocol::{Conv, Cursor};
use clap::{Args, ValueEnum};
use futures_util::SinkExt;
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::smoke::{free_port, Spawned};
use crate::fleet::{self, Common, Conn, Names, Pacer, Proto, ReaderGuard, Recipients, Setup, Sink};
use crate::net;
use crate::payload::{now_ns, Stamp};
use crate::stats::{
    delivery_header, latency_cells, ms, opt, verdict, Counts, CpuSplit, Recorder, Table, Tracker,
    Usage,
};
use crate::wire::{self, Incoming};

/// Ports other services of this machine may use: never taken.
const RESERVED_PORTS: [u16; 7] = [5432, 6379, 4222, 5672, 3306, 1883, 3000];
/// Frames one `POST` carries at most (the server's limit).
const MAX_FRAMES: usize = 64;
/// A `GET` with no answer after this is given up (the browser's 40 s).
const POLL_TIMEOUT: Duration = Duration::from_secs(40);

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Transports {
    /// WebSocket, then long-polling (alternating order in later rounds).
    Both,
    Websocket,
    LongPolling,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    WebSocket,
    LongPolling,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::WebSocket => "WebSocket",
            Kind::LongPolling => "long-polling",
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct LongpollArgs {
    /// The server binary to start (`cargo build --release -p server`).
    #[arg(long, default_value = "target/release/server")]
    pub server_bin: PathBuf,
    /// Which transports to run.
    #[arg(long, value_enum, default_value = "both")]
    pub transport: Transports,
    /// Clients (browser tabs, or sockets) in the room, publishers included;
    /// every one of them receives every message but its own.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Distinct users the clients belong to, signed in once each; their
    /// clients are spread evenly (a user with many tabs or devices).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Clients that also send (the first ones), taking turns.
    #[arg(long, default_value_t = 5)]
    pub publishers: usize,
    /// Messages per second into the room, over all publishers; several
    /// (comma-separated) are run one after the other on the same clients.
    #[arg(long, value_delimiter = ',', default_value = "20")]
    pub rate: Vec<f64>,
    /// Seconds each rate is held.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 100)]
    pub body_bytes: usize,
    /// Rounds: each runs every transport chosen on a new server; the order
    /// alternates (WebSocket first in odd rounds).
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Seconds the clients idle once all are connected, before RSS is read.
    #[arg(long, default_value_t = 3.0)]
    pub settle_secs: f64,
    /// Longest wait for late deliveries and acks after each rate.
    #[arg(long, default_value_t = 15.0)]
    pub drain_secs: f64,
    /// Before each server starts, wait up to this many seconds until the
    /// machine's other processes use < 15 % of it (as `bench.sh` does).
    #[arg(long, default_value_t = 30)]
    pub quiet_wait: u64,
    /// Do not pin the server to core 0 and this generator to core 1 (as
    /// `loadgen/bench.sh` does).
    #[arg(long)]
    pub no_pin: bool,
    /// An extra server flag, repeatable: `--server-arg=--poll-hold-secs=10`.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// Sign-ins in flight at once (each costs the server an argon2id hash).
    #[arg(long, default_value_t = 4)]
    pub signin_concurrency: usize,
    /// Client setups (connect, greeting, room) in flight at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Hard limit on the whole run, in seconds; the run fails past it.
    #[arg(long, default_value_t = 1800)]
    pub max_secs: u64,
}

/// What one transport measured at one rate.
struct Row {
    kind: Kind,
    round: usize,
    rate: f64,
    offered: f64,
    delivered_per_sec: f64,
    latency: Histogram<u64>,
    counts: Counts,
    cpu: CpuSplit,
    rss_peak: Option<u64>,
    /// Server RSS (KiB) before the clients connected, and with all idle.
    rss_before: u64,
    rss_idle: u64,
    /// The server's open sockets with every client connected and idle.
    sockets_idle: usize,
    setup: Duration,
    /// Long-polling: `GET` answers with frames, `POST`s, answer bytes in
    /// the window; a sending tab's own messages its `GET` brought back.
    gets: u64,
    posts: u64,
    get_bytes: u64,
    echoes: u64,
    closes: String,
}

impl Row {
    fn per_client_kib(&self, clients: usize) -> f64 {
        self.rss_idle.saturating_sub(self.rss_before) as f64 / clients.max(1) as f64
    }

    fn clean(&self) -> bool {
        let c = &self.counts;
        c.lost() == 0 && c.duplicates == 0 && c.reordered == 0 && c.errors == 0 && c.refused == 0
    }

    /// Delivered within the window what was offered, with nothing lost.
    fn kept_up(&self) -> bool {
        self.clean() && self.delivered_per_sec >= 0.95 * self.offered
    }

    /// Long-polling: deliveries in the window per `GET` answer with frames.
    fn deliveries_per_get(&self, secs: f64) -> Option<f64> {
        (self.kind == Kind::LongPolling && self.gets > 0)
            .then(|| self.delivered_per_sec * secs / self.gets as f64)
    }

    /// Long-polling: HTTP requests (`GET` answers and `POST`s) per delivery.
    fn requests_per_delivery(&self, secs: f64) -> Option<f64> {
        let delivered = self.delivered_per_sec * secs;
        (self.kind == Kind::LongPolling && delivered > 0.0)
            .then(|| (self.gets + self.posts) as f64 / delivered)
    }

    /// Long-polling: server CPU time per HTTP request answered (`GET`
    /// answers with frames and `POST`s), µs.
    fn cpu_per_request_us(&self, secs: f64) -> Option<f64> {
        let requests = (self.gets + self.posts) as f64 / secs;
        let pct = self.cpu.server?;
        (self.kind == Kind::LongPolling && requests > 0.0).then(|| pct / 100.0 * 1e6 / requests)
    }

    /// Server CPU time per delivery, µs.
    fn cpu_per_delivery_us(&self) -> Option<f64> {
        let deliveries = self.delivered_per_sec;
        self.cpu
            .server
            .filter(|_| deliveries > 0.0)
            .map(|pct| pct / 100.0 * 1e6 / deliveries)
    }
}

pub async fn run(a: LongpollArgs) -> Result<bool> {
    if a.clients < 2 || a.publishers == 0 || a.publishers > a.clients {
        bail!("need at least 2 clients and 1 to --clients publishers");
    }
    if a.rate.iter().any(|r| *r <= 0.0) {
        bail!("--rate must be positive");
    }
    let pinned = !a.no_pin && pin_self(1);
    let started = Instant::now();
    let mut rows = Vec::new();
    for round in 1..=a.rounds.max(1) {
        let order: Vec<Kind> = match a.transport {
            Transports::Websocket => vec![Kind::WebSocket],
            Transports::LongPolling => vec![Kind::LongPolling],
            Transports::Both if round % 2 == 1 => vec![Kind::WebSocket, Kind::LongPolling],
            Transports::Both => vec![Kind::LongPolling, Kind::WebSocket],
        };
        for kind in order {
            rows.extend(run_one(&a, kind, round, pinned).await?);
        }
    }
    report(&a, &rows, pinned, started.elapsed());
    Ok(rows.iter().all(Row::clean))
}

/// Pin this process (every thread) to `core` with `taskset`.
fn pin_self(core: usize) -> bool {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return false;
    }
    Command::new("taskset")
        .args(["-a", "-p", "-c", &core.to_string()])
        .arg(std::process::id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Busy and idle CPU ticks of the whole machine (`/proc/stat`).
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)? + f.get(7)?;
    Some((busy, f.get(3)? + f.get(4)?))
}

/// Wait (at most `within`) until the machine is < 15 % busy over 2 s.
async fn wait_for_quiet(within: Duration) {
    let start = Instant::now();
    let mut said = false;
    while start.elapsed() < within {
        let Some((b0, i0)) = machine_ticks() else {
            return;
        };
        tokio::time::sleep(Duration::from_secs(2)).await;
        let Some((b1, i1)) = machine_ticks() else {
            return;
        };
        let pct = 100 * (b1 - b0) / (b1 - b0 + i1 - i0).max(1);
        if pct < 15 {
            return;
        }
        if !said {
            eprintln!(
                "machine busy ({pct}% of all cores); waiting up to {within:?} for it to calm down"
            );
            said = true;
        }
    }
    eprintln!("the machine stayed busy: running anyway (see the `other` CPU column)");
}

/// A free loopback port that no other service here is known to use.
fn pick_addr() -> Result<SocketAddr> {
    for _ in 0..20 {
        let addr = free_port()?;
        if !RESERVED_PORTS.contains(&addr.port()) {
            return Ok(addr);
        }
    }
    bail!("no free loopback port")
}

/// Start the server on `addr` with a new SQLite database, the abuse limits
/// lifted, and (`pin`) on core 0.
fn spawn_server(a: &LongpollArgs, addr: SocketAddr, pin: bool) -> Result<Spawned> {
    let mut command = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(&a.server_bin);
        c
    } else {
        Command::new(&a.server_bin)
    };
    // The RSS baseline is taken after the sign-ins: without this, mimalloc
    // keeps their argon2 buffers (19 MiB each) resident and the clients
    // reuse them unseen (as `bench.sh idle`).
    command.env("MIMALLOC_PURGE_DELAY", "0");
    Spawned::start(command, "longpoll", addr, &a.server_args)
}

/// The first lines of the server's log with `ERROR`, if any.
fn server_errors(server: &Spawned) -> Vec<String> {
    std::fs::read_to_string(server.dir.join("server.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARN"))
        .take(5)
        .map(str::to_string)
        .collect()
}

/// One transport on a server of its own, every rate.
async fn run_one(a: &LongpollArgs, kind: Kind, round: usize, pin: bool) -> Result<Vec<Row>> {
    wait_for_quiet(Duration::from_secs(a.quiet_wait)).await;
    let addr = pick_addr()?;
    let server = spawn_server(a, addr, pin)?;
    let http = net::http_client()?;
    net::wait_healthy(&http, addr, Duration::from_secs(20)).await?;
    let common = Common {
        addrs: vec![addr],
        server_pids: vec![server.child.id()],
        password: "loadgen violet kettle 4821".into(),
        display_names: false,
        user_prefix: None,
        signin_concurrency: a.signin_concurrency,
        connect_concurrency: a.connect_concurrency,
        session_cache: None,
        max_secs: a.max_secs,
    };
    let proc = common.proc().expect("a server pid");
    eprintln!(
        "\n{} (round {round}): server {} on {addr}, pid {}",
        kind.name(),
        a.server_bin.display(),
        server.child.id()
    );
    let names = Names::new(&common);
    let users: Vec<String> = (0..a.users.clamp(1, a.clients))
        .map(|u| names.user(u))
        .collect();
    let cookies = fleet::sign_in_all(&common, &http, &users).await?;
    let cookie_of = |i: usize| cookies[&users[i % users.len()]].clone();
    // Let the sign-ins' memory settle before the baseline.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = proc.rss_kib().unwrap_or(0);
    let rec = Recorder::new();
    let per_publish = (a.clients - 1) as u64;
    let recipients: Recipients = Arc::new(move |_, _| per_publish);
    let room = names.room(0);
    let setup_start = Instant::now();
    let mut clients = match kind {
        Kind::WebSocket => {
            let mut conns = open_ws(
                a,
                &common,
                &cookie_of,
                users.len(),
                &room,
                &rec,
                &recipients,
            )
            .await?;
            let rest = conns.split_off(a.publishers);
            let publishers = conns
                .into_iter()
                .map(|c| WsPublisher {
                    sink: Some(c.sink),
                    _reader: c.reader,
                })
                .collect();
            Clients::Ws(publishers, rest)
        }
        Kind::LongPolling => {
            let sh = Arc::new(Shared::new(
                a,
                addr,
                rec.clone(),
                recipients.clone(),
                &room,
            )?);
            let tabs = open_lp(a, &sh, &names, &cookie_of, users.len()).await?;
            Clients::Lp(sh, tabs)
        }
    };
    let setup = setup_start.elapsed();
    eprintln!(
        "{}: {} clients ready in {setup:.1?}",
        kind.name(),
        a.clients
    );
    tokio::time::sleep(Duration::from_secs_f64(a.settle_secs)).await;
    let rss_idle = proc.rss_kib().unwrap_or(0);
    let sockets_idle = open_sockets(server.child.id());
    let mut rows = Vec::new();
    let mut seqs = vec![0u64; a.publishers];
    for &rate in &a.rate {
        let before = rec.counts();
        let marks = clients.marks();
        rec.take_latency();
        let usage = Usage::start(Some(proc.clone()));
        let start = Instant::now();
        let step = Duration::from_secs_f64(a.duration);
        clients
            .publish(a, rate, step, &rec, &room, &mut seqs)
            .await?;
        let window = start.elapsed();
        let at_end = rec.counts();
        let in_window = clients.marks();
        fleet::drain(&rec, true, Duration::from_secs_f64(a.drain_secs)).await;
        let (cpu, rss_peak) = usage.finish();
        let counts = rec.counts() - before;
        let delivered_per_sec = (at_end.delivered - before.delivered) as f64 / window.as_secs_f64();
        let after = clients.marks();
        let row = Row {
            kind,
            round,
            rate,
            offered: rate * per_publish as f64,
            delivered_per_sec,
            latency: rec.take_latency(),
            counts,
            cpu,
            rss_peak,
            rss_before,
            rss_idle,
            sockets_idle,
            setup,
            gets: in_window.gets - marks.gets,
            posts: in_window.posts - marks.posts,
            get_bytes: in_window.get_bytes - marks.get_bytes,
            echoes: after.echoes - marks.echoes,
            closes: format!("{:?}", rec.closes()),
        };
        eprintln!(
            "{} at {rate}/s: sent {} acked {} expected {} unique {} delivered/s {delivered_per_sec:.0} p99 {} server CPU {}",
            kind.name(),
            counts.sent,
            counts.acks,
            counts.expected,
            counts.unique,
            ms(row.latency.value_at_quantile(0.99)),
            row.cpu.describe()
        );
        rows.push(row);
    }
    rec.print_problems();
    for line in server_errors(&server) {
        println!("server log ({}): {line}", kind.name());
    }
    clients.stop();
    drop(clients);
    drop(server);
    Ok(rows)
}

/// How many sockets process `pid` has open (its listener included).
fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

/// Counters of the long-polling clients at one moment.
#[derive(Default, Clone, Copy)]
struct Marks {
    gets: u64,
    posts: u64,
    get_bytes: u64,
    echoes: u64,
}

/// What a publishing task hands back: the last seq it sent, and the
/// socket's sink (WebSocket).
type Published = (u64, Option<Sink>);

/// A publishing socket: its sink (lent to the publishing task while it
/// publishes) and its reader, which counts its acks.
struct WsPublisher {
    sink: Option<Sink>,
    _reader: ReaderGuard,
}

enum Clients {
    /// The publishers (the first sockets), and every other socket.
    Ws(Vec<WsPublisher>, Vec<Conn>),
    Lp(Arc<Shared>, Vec<LpConn>),
}

impl Clients {
    fn marks(&self) -> Marks {
        match self {
            Clients::Ws(..) => Marks::default(),
            Clients::Lp(sh, _) => Marks {
                gets: sh.gets.load(Relaxed),
                posts: sh.posts.load(Relaxed),
                get_bytes: sh.get_bytes.load(Relaxed),
                echoes: sh.echoes.load(Relaxed),
            },
        }
    }

    /// Publish at `rate` for `step` from the first clients, taking turns.
    async fn publish(
        &mut self,
        a: &LongpollArgs,
        rate: f64,
        step: Duration,
        rec: &Arc<Recorder>,
        room: &str,
        seqs: &mut [u64],
    ) -> Result<()> {
        let n = a.publishers;
        let per = rate / n as f64;
        let mut tasks: Vec<JoinHandle<Result<Published>>> = Vec::new();
        match self {
            Clients::Ws(publishers, _) => {
                // The sinks go to the publishing tasks and come back.
                for (i, p) in publishers.iter_mut().enumerate() {
                    let sink = p.sink.take().context("a publisher's sink")?;
                    let (rec, room) = (rec.clone(), room.to_string());
                    let pacer = Pacer::with_phase(per, i as f64 / n as f64);
                    let (seq, bytes) = (seqs[i], a.body_bytes);
                    tasks.push(tokio::spawn(async move {
                        ws_publish(i as u32 + 1, sink, seq, pacer, step, &rec, &room, bytes).await
                    }));
                }
            }
            Clients::Lp(sh, tabs) => {
                for (i, tab) in tabs.iter().take(n).enumerate() {
                    let (sh, tab) = (sh.clone(), tab.tab.clone());
                    let pacer = Pacer::with_phase(per, i as f64 / n as f64);
                    let (seq, bytes) = (seqs[i], a.body_bytes);
                    tasks.push(tokio::spawn(async move {
                        lp_publish(sh, tab, seq, pacer, step, bytes)
                            .await
                            .map(|seq| (seq, None))
                    }));
                }
            }
        }
        for (i, task) in tasks.into_iter().enumerate() {
            let (seq, sink) = task.await??;
            seqs[i] = seq;
            if let (Clients::Ws(publishers, _), Some(sink)) = (&mut *self, sink) {
                publishers[i].sink = Some(sink);
            }
        }
        Ok(())
    }

    fn stop(&mut self) {
        match self {
            Clients::Ws(publishers, others) => {
                publishers.clear();
                others.clear();
            }
            Clients::Lp(_, tabs) => tabs.clear(),
        }
    }
}

/// Open the WebSocket clients: the first creates the room, every user's
/// first socket joins it, the others are members from their `hello`.
async fn open_ws(
    a: &LongpollArgs,
    common: &Common,
    cookie_of: &dyn Fn(usize) -> String,
    users: usize,
    room: &str,
    rec: &Arc<Recorder>,
    recipients: &Recipients,
) -> Result<Vec<Conn>> {
    let setup = |i: usize| Setup {
        idx: i,
        path: "/api/ws".into(),
        cookie: Some(cookie_of(i)),
        room: (i < users).then(|| (room.to_string(), i == 0)),
        read: true,
        proto: Proto::Native,
    };
    let mut conns = fleet::open_all(common, vec![setup(0)], rec, recipients, "create room").await?;
    let joiners = (1..users.min(a.clients)).map(setup).collect();
    conns.extend(fleet::open_all(common, joiners, rec, recipients, "join room").await?);
    let rest = (users.min(a.clients)..a.clients).map(setup).collect();
    conns.extend(fleet::open_all(common, rest, rec, recipients, "more sockets").await?);
    Ok(conns)
}

#[allow(clippy::too_many_arguments)]
async fn ws_publish(
    id: u32,
    mut sink: Sink,
    mut seq: u64,
    mut pacer: Pacer,
    duration: Duration,
    rec: &Recorder,
    room: &str,
    body_bytes: usize,
) -> Result<Published> {
    let mut tick = fleet::ticker();
    while pacer.elapsed() < duration {
        tick.tick().await;
        let n = pacer.due();
        for _ in 0..n {
            seq += 1;
            let stamp = Stamp {
                publisher: id,
                stream: 0,
                seq,
                sent_ns: now_ns(),
            };
            let text = wire::send_room(&stamp.client_id(), room, &stamp.body(body_bytes));
            rec.sent.fetch_add(1, Relaxed);
            sink.feed(Message::text(text)).await?;
        }
        if n > 0 {
            sink.flush().await?;
        }
    }
    Ok((seq, Some(sink)))
}

/// What every long-polling client shares.
struct Shared {
    http: reqwest::Client,
    /// `http://ADDR`.
    origin: String,
    room: String,
    rec: Arc<Recorder>,
    recipients: Recipients,
    gets: AtomicU64,
    get_bytes: AtomicU64,
    posts: AtomicU64,
    echoes: AtomicU64,
}

impl Shared {
    fn new(
        a: &LongpollArgs,
        addr: SocketAddr,
        rec: Arc<Recorder>,
        recipients: Recipients,
        room: &str,
    ) -> Result<Shared> {
        // One keep-alive connection for every held GET and every POST,
        // plus room to spare: none is closed for want of a place.
        let pool = a.clients + a.publishers + 64;
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(pool)
            .pool_idle_timeout(Duration::from_secs(120))
            .tcp_nodelay(true)
            .timeout(POLL_TIMEOUT)
            .build()?;
        Ok(Shared::with(
            http,
            format!("http://{addr}"),
            room,
            rec,
            recipients,
        ))
    }

    /// The shared part over a given HTTP client, its counters at zero.
    fn with(
        http: reqwest::Client,
        origin: String,
        room: &str,
        rec: Arc<Recorder>,
        recipients: Recipients,
    ) -> Shared {
        Shared {
            http,
            origin,
            room: room.to_string(),
            rec,
            recipients,
            gets: AtomicU64::new(0),
            get_bytes: AtomicU64::new(0),
            posts: AtomicU64::new(0),
            echoes: AtomicU64::new(0),
        }
    }
}

/// One long-polling tab.
struct Tab {
    idx: usize,
    id: String,
    cookie: String,
    /// The publisher number of this tab's messages, if it sends.
    publisher: Option<u32>,
    /// The newest seq of the room this tab holds (its cursor); -1 while it
    /// is not a member.
    cursor: AtomicI64,
    /// Told when a `joined` comes (in a `GET`'s answer, like every frame
    /// of the user's state).
    joined: tokio::sync::Notify,
}

struct LpConn {
    tab: Arc<Tab>,
    task: JoinHandle<()>,
}

impl Drop for LpConn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Deserialize)]
struct PollAnswer<'a> {
    next: Option<String>,
    close: Option<PollClose>,
    #[serde(borrow)]
    frames: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct PollClose {
    code: u16,
    reason: String,
}

/// The URL of a tab's next `GET`, as the browser builds it (the web
/// app's own [`poll_query`]).
fn get_url(sh: &Shared, tab: &Tab, since: Option<&str>) -> String {
    let cursor = tab.cursor.load(Relaxed);
    let cursors = if cursor >= 0 {
        vec![Cursor {
            conv: Conv::Room(sh.room.clone()),
            seq: cursor,
        }]
    } else {
        Vec::new()
    };
    format!("{}{}", sh.origin, poll_query(&tab.id, since, &cursors))
}

/// The tab's `GET` loop, for as long as it runs; `greeted` is told when
/// the first greeting is complete (an answer with `next`).
async fn get_loop(sh: Arc<Shared>, tab: Arc<Tab>, greeted: tokio::sync::oneshot::Sender<()>) {
    let mut greeted = Some(greeted);
    let mut since: Option<String> = None;
    let mut tracker = Tracker::default();
    loop {
        let sent = sh
            .http
            .get(get_url(&sh, &tab, since.as_deref()))
            .header(reqwest::header::COOKIE, &tab.cookie)
            .header("X-Parley-Poll", "1")
            .send()
            .await;
        let body = match sent {
            Ok(response) if response.status() == reqwest::StatusCode::OK => {
                response.bytes().await.map_err(anyhow::Error::from)
            }
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                Err(anyhow::anyhow!("GET answered {status}: {text}"))
            }
            Err(error) => Err(error.into()),
        };
        let body = match body {
            Ok(body) => body,
            Err(error) => {
                // As the browser: start over with a new greeting, later.
                sh.rec.error(format!("tab {}: {error:#}", tab.idx));
                since = None;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let answer: PollAnswer<'_> = match serde_json::from_slice(&body) {
            Ok(answer) => answer,
            Err(error) => {
                sh.rec
                    .error(format!("tab {}: answer not understood: {error}", tab.idx));
                since = None;
                continue;
            }
        };
        if !answer.frames.is_empty() {
            sh.gets.fetch_add(1, Relaxed);
            sh.get_bytes.fetch_add(body.len() as u64, Relaxed);
        }
        for frame in &answer.frames {
            received(&sh, &tab, &mut tracker, frame.get());
        }
        since = answer.next.clone();
        if since.is_some() {
            if let Some(tell) = greeted.take() {
                let _ = tell.send(());
            }
        }
        if let Some(close) = answer.close {
            sh.rec.closed(format!("{} {}", close.code, close.reason));
            if close.code == 4001 {
                return;
            }
            since = None;
        }
    }
}

/// A frame a tab's `GET` brought.
fn received(sh: &Shared, tab: &Tab, tracker: &mut Tracker, text: &str) {
    let rec = &sh.rec;
    match wire::classify(text) {
        Incoming::Message { body } => {
            if let Some(seq) = wire::number_field(text, r#""seq":"#) {
                tab.cursor.fetch_max(seq as i64, Relaxed);
            }
            match body.and_then(Stamp::parse_body) {
                // The sending tab's own message, which a socket never
                // gets back (it has the ack): counted apart.
                Some(stamp) if Some(stamp.publisher) == tab.publisher => {
                    sh.echoes.fetch_add(1, Relaxed);
                }
                Some(stamp) => tracker.record(rec, tab.idx, stamp),
                None => {
                    rec.foreign.fetch_add(1, Relaxed);
                }
            }
        }
        Incoming::Joined { last_seq } => {
            tab.cursor.fetch_max(last_seq, Relaxed);
            tab.joined.notify_one();
        }
        Incoming::Ack { client_id, .. } => {
            rec.error(format!("tab {}: an ack in a GET: {client_id}", tab.idx));
        }
        Incoming::Error { code, client_id } => rec.error(format!(
            "tab {}: error frame {code} for {client_id:?}",
            tab.idx
        )),
        _ => {}
    }
}

/// `POST` frames for a tab; the frames of the answer.
async fn post(sh: &Shared, tab: &Tab, frames: &[String]) -> Result<Vec<String>> {
    let response = sh
        .http
        .post(format!("{}{POLL_PATH}?tab={}", sh.origin, tab.id))
        .header(reqwest::header::COOKIE, &tab.cookie)
        .header(reqwest::header::ORIGIN, &sh.origin)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Parley-Poll", "1")
        .body(format!("[{}]", frames.join(",")))
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    if status != reqwest::StatusCode::OK {
        bail!("POST answered {status}: {}", String::from_utf8_lossy(&body));
    }
    sh.posts.fetch_add(1, Relaxed);
    let answer: PollAnswer<'_> = serde_json::from_slice(&body)?;
    if let Some(close) = answer.close {
        bail!("POST: the tab was closed: {} {}", close.code, close.reason);
    }
    Ok(answer.frames.iter().map(|f| f.get().to_string()).collect())
}

/// Create (or join) the room from a tab, as a browser would: the frame
/// goes in a `POST` (whose answer has a refusal, if any), and the `joined`
/// comes to every tab of the user through its `GET`.
async fn enter_room(sh: &Shared, tab: &Tab, create: bool) -> Result<()> {
    let mut create = create;
    loop {
        let frame = if create {
            wire::create_room(&sh.room)
        } else {
            wire::join_room(&sh.room)
        };
        let answer = post(sh, tab, &[frame]).await?;
        let mut exists = false;
        for text in &answer {
            match wire::classify(text) {
                Incoming::Error { code, .. } if create && code == "room_exists" => exists = true,
                Incoming::Error { code, .. } => bail!("tab {}: {code} ({text})", tab.idx),
                _ => {}
            }
        }
        if !exists {
            break;
        }
        create = false;
    }
    tokio::time::timeout(net::STEP_TIMEOUT, tab.joined.notified())
        .await
        .map_err(|_| anyhow::anyhow!("tab {}: no `joined` came", tab.idx))
}

/// Start a tab: its `GET` loop, greeted; then, if asked, the room.
async fn open_tab(sh: Arc<Shared>, tab: Arc<Tab>, room_step: Option<bool>) -> Result<LpConn> {
    let (tell, greeted) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(get_loop(sh.clone(), tab.clone(), tell));
    let conn = LpConn { tab, task };
    tokio::time::timeout(net::STEP_TIMEOUT, greeted)
        .await
        .map_err(|_| anyhow::anyhow!("tab {}: not greeted in time", conn.tab.idx))?
        .map_err(|_| anyhow::anyhow!("tab {}: the GET loop ended", conn.tab.idx))?;
    if let Some(create) = room_step {
        enter_room(&sh, &conn.tab, create).await?;
    }
    Ok(conn)
}

/// Open the long-polling tabs in the order of [`open_ws`].
async fn open_lp(
    a: &LongpollArgs,
    sh: &Arc<Shared>,
    names: &Names,
    cookie_of: &dyn Fn(usize) -> String,
    users: usize,
) -> Result<Vec<LpConn>> {
    let tab = |i: usize| {
        Arc::new(Tab {
            idx: i,
            id: format!("lg{}t{i:06}", names.run),
            cookie: cookie_of(i),
            publisher: (i < a.publishers).then_some(i as u32 + 1),
            cursor: AtomicI64::new(-1),
            joined: tokio::sync::Notify::new(),
        })
    };
    let first = users.min(a.clients);
    let groups: [(Vec<usize>, &str); 3] = [
        (vec![0], "create room (long-polling)"),
        ((1..first).collect(), "join room (long-polling)"),
        ((first..a.clients).collect(), "more tabs (long-polling)"),
    ];
    let mut tabs = Vec::new();
    for (indices, what) in groups {
        let start = Instant::now();
        let n = indices.len();
        let opened = fleet::for_each_bounded(indices, a.connect_concurrency, what, |i| {
            open_tab(sh.clone(), tab(i), (i < first).then_some(i == 0))
        })
        .await?;
        tabs.extend(opened);
        if n > 0 {
            eprintln!("{what}: {n} tabs in {:.1?}", start.elapsed());
        }
    }
    Ok(tabs)
}

/// A publishing tab: messages are stamped when the pacer makes them due
/// and queued; one `POST` at a time carries what is queued (as the browser
/// does), and its answer's acks make the messages expected everywhere.
async fn lp_publish(
    sh: Arc<Shared>,
    tab: Arc<Tab>,
    mut seq: u64,
    mut pacer: Pacer,
    duration: Duration,
    body_bytes: usize,
) -> Result<u64> {
    let publisher = tab.publisher.expect("a publishing tab");
    let mut tick = fleet::ticker();
    let mut queue: Vec<String> = Vec::new();
    let mut in_flight: Option<JoinHandle<()>> = None;
    loop {
        let pacing = pacer.elapsed() < duration;
        if !pacing && queue.is_empty() && in_flight.is_none() {
            return Ok(seq);
        }
        tokio::select! {
            _ = tick.tick(), if pacing => {
                for _ in 0..pacer.due() {
                    seq += 1;
                    let stamp = Stamp { publisher, stream: 0, seq, sent_ns: now_ns() };
                    queue.push(wire::send_room(&stamp.client_id(), &sh.room, &stamp.body(body_bytes)));
                    sh.rec.sent.fetch_add(1, Relaxed);
                }
            }
            done = async { in_flight.as_mut().expect("guarded").await }, if in_flight.is_some() => {
                in_flight = None;
                done?;
            }
        }
        if in_flight.is_none() && !queue.is_empty() {
            let n = queue.len().min(MAX_FRAMES);
            let batch: Vec<String> = queue.drain(..n).collect();
            let (sh, tab) = (sh.clone(), tab.clone());
            in_flight = Some(tokio::spawn(async move {
                match post(&sh, &tab, &batch).await {
                    Ok(frames) => {
                        for text in &frames {
                            acked(&sh, &tab, text);
                        }
                    }
                    Err(error) => {
                        // Not acknowledged, so expected nowhere: an error
                        // per frame, and the drain does not wait for them.
                        for _ in &batch {
                            sh.rec.error(format!("tab {}: {error:#}", tab.idx));
                        }
                    }
                }
            }));
        }
    }
}

/// A frame of a `POST`'s answer.
fn acked(sh: &Shared, tab: &Tab, text: &str) {
    let rec = &sh.rec;
    match wire::classify(text) {
        Incoming::Ack { client_id, .. } => {
            rec.acks.fetch_add(1, Relaxed);
            if let Some((p, s)) = Stamp::parse_client_id(client_id) {
                rec.expected.fetch_add((sh.recipients)(p, s), Relaxed);
            }
        }
        Incoming::Error { code, client_id } if code == "internal" => rec.refused(format!(
            "tab {}: error frame {code} for {client_id:?}",
            tab.idx
        )),
        Incoming::Error { code, client_id } => rec.error(format!(
            "tab {}: error frame {code} for {client_id:?}",
            tab.idx
        )),
        _ => {}
    }
}

type MetricFn = fn(&Row, &LongpollArgs) -> Option<f64>;
type ShowFn = fn(f64) -> String;

/// The rows of the comparison: name, value of a row, its display.
const METRICS: [(&str, MetricFn, ShowFn); 9] = [
    (
        "deliveries/s",
        |r, _| Some(r.delivered_per_sec),
        |v| format!("{v:.0}"),
    ),
    (
        "p50 delivery latency",
        |r, _| Some(r.latency.value_at_quantile(0.5) as f64),
        |v| ms(v as u64),
    ),
    (
        "p99 delivery latency",
        |r, _| Some(r.latency.value_at_quantile(0.99) as f64),
        |v| ms(v as u64),
    ),
    (
        "server CPU (% of a core)",
        |r, _| r.cpu.server,
        |v| format!("{v:.1}%"),
    ),
    (
        "server CPU per delivery",
        |r, _| r.cpu_per_delivery_us(),
        |v| format!("{v:.1} µs"),
    ),
    (
        "server RSS per idle client",
        |r, a| Some(r.per_client_kib(a.clients)),
        |v| format!("{v:.1} KiB"),
    ),
    (
        "HTTP requests per delivery (GET answers + POSTs)",
        |r, a| r.requests_per_delivery(a.duration),
        |v| format!("{v:.3}"),
    ),
    (
        "server CPU per HTTP request",
        |r, a| r.cpu_per_request_us(a.duration),
        |v| format!("{v:.1} µs"),
    ),
    (
        "deliveries per GET answer",
        |r, a| r.deliveries_per_get(a.duration),
        |v| format!("{v:.2}"),
    ),
];

fn kib(k: u64) -> String {
    format!("{:.1} MiB", k as f64 / 1024.0)
}

fn report(a: &LongpollArgs, rows: &[Row], pinned: bool, took: Duration) {
    println!(
        "\n## Long-polling against WebSocket: {} clients ({} users) in one room, {} publishers, {} B bodies, {} s per rate\n",
        a.clients,
        a.users.clamp(1, a.clients),
        a.publishers,
        a.body_bytes,
        a.duration
    );
    println!(
        "each on a new server ({}{}); every publish goes to {} clients; took {took:.1?}\n",
        a.server_bin.display(),
        if pinned {
            ", pinned to core 0, loadgen to core 1"
        } else {
            ", not pinned"
        },
        a.clients - 1
    );
    let mut header = vec!["round", "transport"];
    header.extend(delivery_header(
        &["msgs/s", "offered deliveries/s", "delivered/s"],
        &[
            "lost",
            "dup",
            "reordered",
            "errors",
            "server CPU",
            "CPU server / loadgen / other",
            "server µs per delivery",
            "RSS before → idle (peak)",
            "RSS per client",
            "server sockets (idle)",
            "GET answers/s",
            "deliveries per GET",
            "bytes per GET",
            "POSTs/s",
            "own msgs echoed",
            "setup",
            "closes",
        ],
    ));
    let mut table = Table::new(&header);
    for r in rows {
        let c = &r.counts;
        let secs = a.duration.max(1e-9);
        let lp = r.kind == Kind::LongPolling;
        let mut row = vec![
            r.round.to_string(),
            r.kind.name().to_string(),
            format!("{:.0}", r.rate),
            format!("{:.0}", r.offered),
            format!("{:.0}", r.delivered_per_sec),
        ];
        row.extend(latency_cells(&r.latency));
        row.extend([
            c.lost().to_string(),
            c.duplicates.to_string(),
            c.reordered.to_string(),
            (c.errors + c.refused).to_string(),
            opt(r.cpu.server.map(|v| format!("{v:.0}%"))),
            r.cpu.describe(),
            opt(r.cpu_per_delivery_us().map(|v| format!("{v:.1}"))),
            format!(
                "{} → {} ({})",
                kib(r.rss_before),
                kib(r.rss_idle),
                opt(r.rss_peak.map(kib))
            ),
            format!("{:.1} KiB", r.per_client_kib(a.clients)),
            r.sockets_idle.to_string(),
        ]);
        if lp {
            row.extend([
                format!("{:.0}", r.gets as f64 / secs),
                opt(r.deliveries_per_get(secs).map(|v| format!("{v:.2}"))),
                format!("{:.0}", r.get_bytes as f64 / r.gets.max(1) as f64),
                format!("{:.1}", r.posts as f64 / secs),
                r.echoes.to_string(),
            ]);
        } else {
            row.extend(["—", "—", "—", "—", "—"].map(String::from));
        }
        row.extend([format!("{:.1?}", r.setup), r.closes.clone()]);
        table.row(row);
    }
    println!("{}", table.render());

    // WebSocket against long-polling, per rate (means over the rounds).
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    for &rate in &a.rate {
        let of = |kind: Kind| -> Vec<&Row> {
            rows.iter()
                .filter(|r| r.kind == kind && r.rate == rate)
                .collect()
        };
        let (ws, lp) = (of(Kind::WebSocket), of(Kind::LongPolling));
        let cell = |rs: &[&Row], f: MetricFn| mean(rs.iter().filter_map(|r| f(r, a)).collect());
        println!(
            "\n### {rate} messages/s into the room ({:.0} deliveries/s offered)\n",
            rate * (a.clients - 1) as f64
        );
        let mut summary = Table::new(&[
            "metric",
            "WebSocket",
            "long-polling",
            "long-polling / WebSocket",
        ]);
        for (name, f, show) in METRICS {
            let (w, l) = (cell(&ws, f), cell(&lp, f));
            let ratio = match (w, l) {
                (Some(w), Some(l)) if w > 0.0 => format!("{:.2}×", l / w),
                _ => "n/a".into(),
            };
            summary.row(vec![
                name.to_string(),
                opt(w.map(show)),
                opt(l.map(show)),
                ratio,
            ]);
        }
        let loss = |rs: &[&Row]| -> String {
            if rs.is_empty() {
                return "n/a".into();
            }
            let lost: u64 = rs.iter().map(|r| r.counts.lost()).sum();
            let dup: u64 = rs.iter().map(|r| r.counts.duplicates).sum();
            let reord: u64 = rs.iter().map(|r| r.counts.reordered).sum();
            let errors: u64 = rs.iter().map(|r| r.counts.errors + r.counts.refused).sum();
            let expected: u64 = rs.iter().map(|r| r.counts.expected).sum();
            format!("{lost} of {expected} lost, {dup} dup, {reord} reordered, {errors} errors")
        };
        summary.row(vec!["loss".into(), loss(&ws), loss(&lp), "".into()]);
        println!("{}", summary.render());
        let all: Vec<&Row> = ws.iter().chain(lp.iter()).copied().collect();
        let mut verdicts = Table::new(&["target", "measured", "verdict"]);
        verdicts.row(vec![
            "zero loss (every receiver gets every message once, in order)".into(),
            if all.iter().all(|r| r.clean()) {
                "none lost, duplicated or reordered".into()
            } else {
                "see the rows above".into()
            },
            verdict(!all.is_empty() && all.iter().all(|r| r.clean())).into(),
        ]);
        for r in &lp {
            verdicts.row(vec![
                format!(
                    "long-polling keeps up at {rate} messages/s (round {})",
                    r.round
                ),
                format!(
                    "{:.0} of {:.0} deliveries/s in the window",
                    r.delivered_per_sec, r.offered
                ),
                verdict(r.kept_up()).into(),
            ]);
        }
        println!("{}", verdicts.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_urls_are_the_browsers() {
        let rec = Recorder::new();
        let recipients: Recipients = Arc::new(|_, _| 0);
        let sh = Shared::with(
            reqwest::Client::new(),
            "http://127.0.0.1:1".into(),
            "lgabcr0",
            rec,
            recipients,
        );
        let tab = Tab {
            idx: 3,
            id: "lgabct000003".into(),
            cookie: String::new(),
            publisher: None,
            cursor: AtomicI64::new(-1),
            joined: tokio::sync::Notify::new(),
        };
        assert_eq!(
            get_url(&sh, &tab, None),
            "http://127.0.0.1:1/api/poll?tab=lgabct000003&v=1&cursors=%5B%5D"
        );
        tab.cursor.store(42, Relaxed);
        let url = get_url(&sh, &tab, Some("77.5"));
        assert!(url.ends_with("&since=77.5"), "{url}");
        let cursors = url
            .split("cursors=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        assert_eq!(
            cursors,
            "%5B%7B%22conv%22%3A%7B%22room%22%3A%22lgabcr0%22%7D%2C%22seq%22%3A42%7D%5D"
        );
    }

    #[test]
    fn answers_are_read_without_copying_frames() {
        let body = br#"{"next":"5.2","frames":[{"type":"synced"},{"type":"pong","nonce":1}]}"#;
        let answer: PollAnswer<'_> = serde_json::from_slice(body).unwrap();
        assert_eq!(answer.next.as_deref(), Some("5.2"));
        assert_eq!(answer.frames.len(), 2);
        assert_eq!(answer.frames[0].get(), r#"{"type":"synced"}"#);
        let closed = br#"{"close":{"code":4008,"reason":"slow"},"frames":[]}"#;
        let answer: PollAnswer<'_> = serde_json::from_slice(closed).unwrap();
        assert!(answer.next.is_none());
        assert_eq!(answer.close.map(|c| c.code), Some(4008));
    }
}
