//! Setting up many users and sockets, and the receiving side of each socket.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Future, StreamExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::net::{self, Ws};
use crate::payload::Stamp;
use crate::stats::{Counts, Recorder, ServerProc, Tracker};
use crate::wire::{classify, Incoming};

pub type Sink = SplitSink<Ws, Message>;
pub type Stream = SplitStream<Ws>;

/// Options every scenario shares.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// Server address; must be on loopback (127.0.0.0/8 or ::1). Repeat it
    /// for the nodes of a cluster: socket number i connects to the
    /// (i mod n)-th address, so the sockets alternate between the nodes;
    /// sign-ins and other HTTP requests go to the first.
    #[arg(long = "addr", default_value = "127.0.0.1:8700")]
    pub addrs: Vec<SocketAddr>,
    /// PID of the server, to read its RSS and CPU time from /proc. Repeat it
    /// for several nodes: RSS and CPU are then the sums over them.
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Password of every generated user.
    #[arg(long, default_value = "loadgen violet kettle 4821")]
    pub password: String,
    /// Register every generated user with a display name in Chinese
    /// ("测试用户 <name>"), so that every frame naming them carries it.
    #[arg(long)]
    pub display_names: bool,
    /// Prefix of user names (default: unique per run). Rooms are always
    /// unique per run.
    #[arg(long)]
    pub user_prefix: Option<String>,
    /// Sign-ins in flight at once (each costs the server an argon2id hash).
    #[arg(long, default_value_t = 4)]
    pub signin_concurrency: usize,
    /// Socket setups (connect, upgrade, hello, synced) in flight at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// File of `user<TAB>cookie` lines: sessions of earlier runs against the
    /// same database are reused instead of signing in again.
    #[arg(long)]
    pub session_cache: Option<PathBuf>,
    /// Hard limit on the whole run, in seconds; the run fails past it.
    #[arg(long, default_value_t = 900)]
    pub max_secs: u64,
}

impl Common {
    pub fn proc(&self) -> Option<ServerProc> {
        (!self.server_pids.is_empty()).then(|| ServerProc {
            pids: self.server_pids.clone(),
        })
    }

    /// The first server address (HTTP requests, single-node scenarios).
    pub fn addr(&self) -> SocketAddr {
        self.addrs.first().copied().unwrap_or(DEFAULT_ADDR)
    }

    /// How many server addresses (cluster nodes) the sockets alternate over.
    pub fn nodes(&self) -> usize {
        self.addrs.len().max(1)
    }

    /// The node socket number `idx` connects to.
    pub fn node_of(&self, idx: usize) -> usize {
        idx % self.nodes()
    }

    /// The address socket number `idx` connects to.
    pub fn addr_for(&self, idx: usize) -> SocketAddr {
        self.addrs
            .get(self.node_of(idx))
            .copied()
            .unwrap_or(DEFAULT_ADDR)
    }
}

const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8700);

/// Names unique to this run.
#[derive(Clone, Debug)]
pub struct Names {
    pub run: String,
    pub users: String,
}

impl Names {
    pub fn new(common: &Common) -> Names {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let run = base36((nanos / 1000) as u64 % 36u64.pow(6));
        let users = common
            .user_prefix
            .clone()
            .unwrap_or_else(|| format!("lg{run}"));
        Names { run, users }
    }

    pub fn user(&self, i: usize) -> String {
        format!("{}u{i}", self.users)
    }

    pub fn publisher(&self, i: usize) -> String {
        format!("{}p{i}", self.users)
    }

    pub fn room(&self, i: usize) -> String {
        format!("lg{}r{i}", self.run)
    }
}

fn base36(mut n: u64) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Sign every name in (bounded concurrency), reusing cached sessions.
/// Returns name → `Cookie` header value.
pub async fn sign_in_all(
    common: &Common,
    http: &reqwest::Client,
    names: &[String],
) -> Result<HashMap<String, String>> {
    let start = Instant::now();
    let mut cookies: HashMap<String, String> = HashMap::new();
    if let Some(path) = &common.session_cache {
        if let Ok(text) = std::fs::read_to_string(path) {
            let cached: HashMap<&str, &str> =
                text.lines().filter_map(|l| l.split_once('\t')).collect();
            let mut checks = JoinSet::new();
            let gate = Arc::new(Semaphore::new(common.connect_concurrency.max(1)));
            for name in names {
                if let Some(cookie) = cached.get(name.as_str()) {
                    let (http, name, cookie, gate) =
                        (http.clone(), name.clone(), cookie.to_string(), gate.clone());
                    let server = common.addr();
                    checks.spawn(async move {
                        let _permit = gate.acquire_owned().await;
                        let alive = net::session_alive(&http, server, &cookie).await;
                        (name, cookie, alive)
                    });
                }
            }
            while let Some(done) = checks.join_next().await {
                let (name, cookie, alive) = done?;
                if alive {
                    cookies.insert(name, cookie);
                }
            }
        }
    }
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !cookies.contains_key(*n))
        .cloned()
        .collect();
    let reused = cookies.len();
    let fresh = for_each_bounded(
        missing.clone(),
        common.signin_concurrency,
        "sign-in",
        |name| {
            let http = http.clone();
            let server = common.addr();
            let password = common.password.clone();
            let display = common.display_names.then(|| format!("测试用户 {name}"));
            async move {
                let cookie =
                    net::sign_in(&http, server, &name, &password, display.as_deref()).await?;
                Ok((name, cookie))
            }
        },
    )
    .await?;
    if let Some(path) = &common.session_cache {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        for (name, cookie) in &fresh {
            writeln!(file, "{name}\t{cookie}")?;
        }
    }
    cookies.extend(fresh);
    eprintln!(
        "signed in {} users ({} new, {} reused sessions) in {:.1?}",
        names.len(),
        names.len() - reused,
        reused,
        start.elapsed()
    );
    Ok(cookies)
}

/// Run `f` on every item with at most `limit` in flight; results in input
/// order. Fails on the first error.
pub async fn for_each_bounded<I, T, F, Fut>(
    items: Vec<I>,
    limit: usize,
    what: &str,
    f: F,
) -> Result<Vec<T>>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    let total = items.len();
    let gate = Arc::new(Semaphore::new(limit.max(1)));
    let mut set = JoinSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let gate = gate.clone();
        let fut = f(item);
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            (i, fut.await)
        });
    }
    let mut out: Vec<Option<T>> = (0..total).map(|_| None).collect();
    let mut last_report = Instant::now();
    let mut done_count = 0;
    while let Some(done) = set.join_next().await {
        let (i, result) = done?;
        out[i] = Some(result.with_context(|| format!("{what} #{i}"))?);
        done_count += 1;
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!("  {what}: {done_count}/{total} of the last batch done");
            last_report = Instant::now();
        }
    }
    Ok(out
        .into_iter()
        .map(|o| o.expect("every task reported"))
        .collect())
}

/// What a socket speaks, for its reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// `/api/ws`.
    Native,
    /// The seed's group endpoint `/ws`: our stamp is the whole text.
    Group,
    /// The seed's direct endpoint `/ws/{name}`: our stamp is in `data`.
    Direct,
}

/// How many receivers a publish of `(publisher, stream)` has.
pub type Recipients = Arc<dyn Fn(u32, u32) -> u64 + Send + Sync>;

/// Read a socket until it closes, counting deliveries and acks.
pub async fn read_loop(
    mut stream: Stream,
    rec: Arc<Recorder>,
    shard: usize,
    proto: Proto,
    recipients: Recipients,
) {
    let mut tracker = Tracker::default();
    // Changes are numbered per stream on their own.
    let mut changes = Tracker::default();
    loop {
        let text = match stream.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => {
                let code = close.map(|c| u16::from(c.code).to_string());
                rec.closed(code.unwrap_or_else(|| "close without code".into()));
                return;
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => {
                rec.closed(format!("error: {error}"));
                return;
            }
            None => {
                rec.closed("eof".into());
                return;
            }
        };
        match proto {
            Proto::Group => match Stamp::parse_body(&text) {
                Some(stamp) => tracker.record(&rec, shard, stamp),
                None => {
                    rec.foreign.fetch_add(1, Relaxed);
                }
            },
            Proto::Direct => {
                let frame: Option<serde_json::Value> = serde_json::from_str(&text).ok();
                let data = frame
                    .as_ref()
                    .and_then(|f| f.get("data"))
                    .and_then(|d| d.as_str());
                let sender = frame
                    .as_ref()
                    .and_then(|f| f.get("sender"))
                    .and_then(|d| d.as_str());
                match (sender, data.and_then(Stamp::parse_body)) {
                    (Some("server"), _) | (_, None) => rec.error(format!("note: {text}")),
                    (_, Some(stamp)) => tracker.record(&rec, shard, stamp),
                }
            }
            Proto::Native => match classify(&text) {
                Incoming::Message { body } => match body.and_then(Stamp::parse_body) {
                    Some(stamp) => tracker.record(&rec, shard, stamp),
                    None => {
                        rec.foreign.fetch_add(1, Relaxed);
                    }
                },
                Incoming::Change { client_id } => {
                    match client_id.and_then(Stamp::parse_change_client_id) {
                        Some(stamp) => changes.record(rec.changes(), shard, stamp),
                        None => {
                            rec.changes().foreign.fetch_add(1, Relaxed);
                        }
                    }
                }
                Incoming::Ack { client_id, seq } => {
                    if let Some(stamp) = Stamp::parse_change_client_id(client_id) {
                        let changes = rec.changes();
                        changes.acks.fetch_add(1, Relaxed);
                        let n = recipients(stamp.publisher, stamp.stream);
                        changes.expected.fetch_add(n, Relaxed);
                        continue;
                    }
                    rec.acks.fetch_add(1, Relaxed);
                    if let Some((p, s)) = Stamp::parse_client_id(client_id) {
                        rec.expected.fetch_add(recipients(p, s), Relaxed);
                        if let Some(seq) = seq {
                            rec.message_acked(shard, p, s, seq);
                        }
                    }
                }
                Incoming::Error {
                    code,
                    client_id: Some(client_id),
                } if client_id.starts_with('c') => {
                    // A refused change, whatever the code: the generator's
                    // bookkeeping should make every change valid.
                    let what = format!("error frame {code} for change {client_id}");
                    if code == "internal" {
                        rec.changes().refused(what);
                    } else {
                        rec.changes().error(what);
                    }
                }
                Incoming::Error { code, client_id } if code == "internal" => {
                    rec.refused(format!("error frame {code} for {client_id:?}"))
                }
                Incoming::Error { code, client_id } => {
                    rec.error(format!("error frame {code} for {client_id:?}"))
                }
                _ => {}
            },
        }
    }
}

/// Wait until every expected delivery arrived and every publish was
/// acknowledged (native), changes as well as messages, or `within` passed. Returns how long it took.
pub async fn drain(rec: &Recorder, native: bool, within: Duration) -> Duration {
    let start = Instant::now();
    let done = |c: Counts| {
        let acked = !native || c.acks + c.errors + c.refused >= c.sent;
        acked && c.unique >= c.expected
    };
    loop {
        let changes_done = rec.changes_if_any().is_none_or(|r| done(r.counts()));
        if done(rec.counts()) && changes_done {
            return start.elapsed();
        }
        if start.elapsed() > within {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Paces sends at `rate` per second: how many are due now.
pub struct Pacer {
    start: Instant,
    rate: f64,
    /// Fraction of a period this pacer runs ahead of others of its rate.
    phase: f64,
    done: u64,
}

impl Pacer {
    pub fn new(rate: f64) -> Pacer {
        Pacer::with_phase(rate, 0.0)
    }

    /// A pacer `phase` (0 ≤ phase < 1) of a period out of step with
    /// [`Pacer::new`]: publisher `i` of `n` at `phase = i / n` makes the `n`
    /// publishers take turns, so their sum is evenly spaced instead of
    /// arriving as bursts of `n` at the same instant.
    pub fn with_phase(rate: f64, phase: f64) -> Pacer {
        Pacer {
            start: Instant::now(),
            rate,
            phase: phase.clamp(0.0, 0.999_999),
            done: 0,
        }
    }

    pub fn due(&mut self) -> u64 {
        self.due_at(self.start.elapsed())
    }

    fn due_at(&mut self, elapsed: Duration) -> u64 {
        let due = (elapsed.as_secs_f64() * self.rate + self.phase) as u64;
        let n = due.saturating_sub(self.done);
        self.done = due.max(self.done);
        n
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A tick of the publish loops (timer resolution is 1 ms).
pub fn ticker() -> tokio::time::Interval {
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick
}

/// A tiny deterministic PRNG (xorshift64*), so runs are repeatable.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// One socket of a scenario: its sending half, and its reader (aborted
/// when the connection is dropped) or, for a consumer that does not read,
/// its receiving half.
pub struct Conn {
    pub sink: Sink,
    pub unread: Option<Stream>,
    pub timing: Option<net::Opened>,
    pub reader: ReaderGuard,
}

/// Aborts a socket's reader (which owns the socket's receiving half, and so
/// keeps it open) when dropped.
pub struct ReaderGuard(Option<tokio::task::JoinHandle<()>>);

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        if let Some(reader) = &self.0 {
            reader.abort();
        }
    }
}

/// How to set up one socket.
#[derive(Clone)]
pub struct Setup {
    pub idx: usize,
    pub path: String,
    pub cookie: Option<String>,
    /// Room to enter after `synced` (native), creating it when `.1`.
    pub room: Option<(String, bool)>,
    /// Start a reader (false: a consumer that never reads).
    pub read: bool,
    pub proto: Proto,
}

/// Receive buffer of a consumer that stops reading, in bytes.
const SLOW_RECV_BUFFER: u32 = 4096;

/// Connect, handshake (native: hello → synced, then the room), and start
/// reading at once so that no socket ever sits undrained during setup.
pub async fn open(
    server: SocketAddr,
    setup: Setup,
    rec: Arc<Recorder>,
    recipients: Recipients,
) -> Result<Conn> {
    // A consumer that stops reading gets a small receive window, like a
    // client on a slow link, so that the server notices within seconds.
    let recv_buffer = (!setup.read).then_some(SLOW_RECV_BUFFER);
    let (ws, timing) = match &setup.cookie {
        Some(cookie) => {
            let (mut ws, timing) =
                net::open_native_with(server, setup.idx, cookie, recv_buffer).await?;
            if let Some((room, create)) = &setup.room {
                net::enter_room(&mut ws, room, *create).await?;
            }
            (ws, Some(timing))
        }
        None => (
            tokio::time::timeout(
                net::STEP_TIMEOUT,
                net::ws_connect_with(server, setup.idx, &setup.path, None, recv_buffer),
            )
            .await
            .map_err(|_| anyhow::anyhow!("upgrade timed out"))??,
            None,
        ),
    };
    let (sink, stream) = ws.split();
    let (unread, reader) = if setup.read {
        let task = tokio::spawn(read_loop(stream, rec, setup.idx, setup.proto, recipients));
        (None, Some(task))
    } else {
        (Some(stream), None)
    };
    Ok(Conn {
        sink,
        unread,
        timing,
        reader: ReaderGuard(reader),
    })
}

/// Open many sockets with bounded concurrency, in order.
pub async fn open_all(
    common: &Common,
    setups: Vec<Setup>,
    rec: &Arc<Recorder>,
    recipients: &Recipients,
    what: &str,
) -> Result<Vec<Conn>> {
    let start = Instant::now();
    let n = setups.len();
    let conns = for_each_bounded(setups, common.connect_concurrency, what, |setup| {
        open(
            common.addr_for(setup.idx),
            setup,
            rec.clone(),
            recipients.clone(),
        )
    })
    .await?;
    if n > 0 {
        eprintln!("{what}: {n} sockets in {:.1?}", start.elapsed());
    }
    Ok(conns)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When each of `n` phased pacers first has something due, in ms.
    fn first_due_ms(n: usize, rate: f64) -> Vec<u64> {
        let mut pacers: Vec<Pacer> = (0..n)
            .map(|i| Pacer::with_phase(rate, i as f64 / n as f64))
            .collect();
        let mut first = vec![None; n];
        for ms in 0..1000 {
            for (i, pacer) in pacers.iter_mut().enumerate() {
                if pacer.due_at(Duration::from_millis(ms)) > 0 && first[i].is_none() {
                    first[i] = Some(ms);
                }
            }
        }
        first.into_iter().map(|f| f.expect("never due")).collect()
    }

    #[test]
    fn phased_pacers_take_turns() {
        // 5 publishers at 20/s each: together one publish every 10 ms, not
        // five at once every 50 ms.
        let mut first = first_due_ms(5, 20.0);
        first.sort_unstable();
        assert_eq!(first, vec![10, 20, 30, 40, 50]);
    }

    #[test]
    fn a_pacer_keeps_its_rate_whatever_its_phase() {
        for phase in [0.0, 0.25, 0.99] {
            let mut pacer = Pacer::with_phase(200.0, phase);
            let total: u64 = (1..=1000)
                .map(|ms| pacer.due_at(Duration::from_millis(ms)))
                .sum();
            assert!((199..=200).contains(&total), "phase {phase}: {total}");
        }
    }
}
