//! Counting and timing deliveries, and watching the server process.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latency histograms record microseconds, 1 µs to 10 minutes, 3 digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

const SHARDS: usize = 16;

/// Everything the receivers and publishers of one run count.
pub struct Recorder {
    /// Latency of deliveries between sockets on the same node (all of
    /// them when there is one node).
    shards: Vec<Mutex<Histogram<u64>>>,
    /// Latency of deliveries whose publisher is on another node.
    cross: Vec<Mutex<Histogram<u64>>>,
    placement: OnceLock<Placement>,
    /// `message` frames (or `/ws` texts) that carried one of our stamps.
    pub delivered: AtomicU64,
    /// First arrivals of a (stream, seq) at a receiver.
    pub unique: AtomicU64,
    pub duplicates: AtomicU64,
    /// Arrivals of a sequence number after a later one of the same stream.
    pub reordered: AtomicU64,
    /// Messages that were not ours (other traffic, backlog).
    pub foreign: AtomicU64,
    /// Deliveries the receivers should get, counted as publishes are
    /// acknowledged (native) or sent (seed endpoints).
    pub expected: AtomicU64,
    pub sent: AtomicU64,
    pub acks: AtomicU64,
    pub errors: AtomicU64,
    /// Sends refused with `internal` ("not stored, send again"): not
    /// acknowledged, so not expected anywhere; reported, not retried.
    pub refused: AtomicU64,
    first_errors: Mutex<Vec<String>>,
    closes: Mutex<BTreeMap<String, u64>>,
    /// The same counts for changes (edits, deletes, reactions), kept apart
    /// from messages': created on first use.
    changes: OnceLock<Box<Recorder>>,
    ack_hook: OnceLock<AckHook>,
}

/// Called by a socket's reader for every ack of one of our messages (not
/// changes): `(socket, publisher, stream, seq in the conversation)`.
pub type AckHook = Box<dyn Fn(usize, u32, u32, u64) + Send + Sync>;

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub delivered: u64,
    pub unique: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub foreign: u64,
    pub expected: u64,
    pub sent: u64,
    pub acks: u64,
    pub errors: u64,
    pub refused: u64,
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, o: Counts) -> Counts {
        Counts {
            delivered: self.delivered - o.delivered,
            unique: self.unique - o.unique,
            duplicates: self.duplicates - o.duplicates,
            reordered: self.reordered - o.reordered,
            foreign: self.foreign - o.foreign,
            expected: self.expected - o.expected,
            sent: self.sent - o.sent,
            acks: self.acks - o.acks,
            errors: self.errors - o.errors,
            refused: self.refused - o.refused,
        }
    }
}

impl Counts {
    /// Deliveries that never arrived.
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.unique)
    }
}

/// Which node each socket is on, to tell cross-node deliveries apart.
pub struct Placement {
    /// Socket number i is on node `i % nodes`.
    pub nodes: usize,
    /// The socket number of a stamp's publisher.
    pub publisher_socket: Box<dyn Fn(u32) -> usize + Send + Sync>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            shards: (0..SHARDS).map(|_| Mutex::new(histogram())).collect(),
            cross: (0..SHARDS).map(|_| Mutex::new(histogram())).collect(),
            placement: OnceLock::new(),
            delivered: AtomicU64::new(0),
            unique: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            reordered: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            acks: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            first_errors: Mutex::new(Vec::new()),
            closes: Mutex::new(BTreeMap::new()),
            changes: OnceLock::new(),
            ack_hook: OnceLock::new(),
        }
    }
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The counters of changes (created on first use).
    pub fn changes(&self) -> &Recorder {
        self.changes.get_or_init(|| Box::new(Recorder::default()))
    }

    /// The counters of changes, if any change was counted.
    pub fn changes_if_any(&self) -> Option<&Recorder> {
        self.changes.get().map(|c| &**c)
    }

    /// Have [`Recorder::message_acked`] call `hook`.
    pub fn set_ack_hook(&self, hook: AckHook) {
        let _ = self.ack_hook.set(hook);
    }

    /// A message of `(publisher, stream)` sent by `socket` was acknowledged
    /// at `seq`.
    pub fn message_acked(&self, socket: usize, publisher: u32, stream: u32, seq: u64) {
        if let Some(hook) = self.ack_hook.get() {
            hook(socket, publisher, stream, seq);
        }
    }

    /// Say which node each socket is on (a cluster run); latencies are then
    /// kept apart for same-node and cross-node deliveries.
    pub fn set_placement(&self, placement: Placement) {
        let _ = self.placement.set(placement);
    }

    /// Whether a delivery from `publisher` to socket `receiver` crossed nodes.
    pub fn is_cross(&self, receiver: usize, publisher: u32) -> bool {
        match self.placement.get() {
            Some(p) if p.nodes > 1 => {
                receiver % p.nodes != (p.publisher_socket)(publisher) % p.nodes
            }
            _ => false,
        }
    }

    /// Record a delivery latency at socket `shard`.
    pub fn latency(&self, shard: usize, micros: u64, cross: bool) {
        let shards = if cross { &self.cross } else { &self.shards };
        let mut h = shards[shard % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        h.saturating_record(micros.max(1));
    }

    /// Merge and clear the latency histograms (same-node and cross-node).
    pub fn take_latency(&self) -> Histogram<u64> {
        let (mut all, cross) = self.take_latency_split();
        let _ = all.add(&cross);
        all
    }

    /// Merge and clear the latency histograms: (same node, cross node).
    pub fn take_latency_split(&self) -> (Histogram<u64>, Histogram<u64>) {
        let take = |shards: &[Mutex<Histogram<u64>>]| {
            let mut all = histogram();
            for shard in shards {
                let mut h = shard.lock().unwrap_or_else(|e| e.into_inner());
                let _ = all.add(&*h);
                h.reset();
            }
            all
        };
        (take(&self.shards), take(&self.cross))
    }

    pub fn counts(&self) -> Counts {
        Counts {
            delivered: self.delivered.load(Relaxed),
            unique: self.unique.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            reordered: self.reordered.load(Relaxed),
            foreign: self.foreign.load(Relaxed),
            expected: self.expected.load(Relaxed),
            sent: self.sent.load(Relaxed),
            acks: self.acks.load(Relaxed),
            errors: self.errors.load(Relaxed),
            refused: self.refused.load(Relaxed),
        }
    }

    pub fn error(&self, what: String) {
        self.errors.fetch_add(1, Relaxed);
        let mut first = self.first_errors.lock().unwrap_or_else(|e| e.into_inner());
        if first.len() < 5 {
            first.push(what);
        }
    }

    pub fn refused(&self, what: String) {
        self.refused.fetch_add(1, Relaxed);
        let mut first = self.first_errors.lock().unwrap_or_else(|e| e.into_inner());
        if first.len() < 5 {
            first.push(what);
        }
    }

    /// Print the first errors and how many sends were refused, if any.
    pub fn print_problems(&self) {
        for e in self.first_errors() {
            println!("first errors: {e}");
        }
        let refused = self.counts().refused;
        if refused > 0 {
            println!(
                "note: {refused} sends were refused with `internal` (not stored, not acknowledged; the protocol says send again). See the server log."
            );
        }
    }

    pub fn first_errors(&self) -> Vec<String> {
        self.first_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Note how a connection ended (`"4008"`, `"1001"`, `"eof"`, …).
    pub fn closed(&self, how: String) {
        *self
            .closes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(how)
            .or_insert(0) += 1;
    }

    pub fn closes(&self) -> BTreeMap<String, u64> {
        self.closes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What one receiver has seen of each stream.
#[derive(Default)]
pub struct Tracker {
    streams: HashMap<(u32, u32), StreamState>,
}

struct StreamState {
    next: u64,
    missing: BTreeSet<u64>,
}

/// At most this many holes are remembered per stream (beyond: counted lost).
const MAX_MISSING: usize = 100_000;

#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    New,
    /// New, but after a later sequence number of the same stream.
    Late,
    Duplicate,
}

impl Tracker {
    pub fn observe(&mut self, publisher: u32, stream: u32, seq: u64) -> Seen {
        let s = self
            .streams
            .entry((publisher, stream))
            .or_insert(StreamState {
                next: 1,
                missing: BTreeSet::new(),
            });
        if seq == s.next {
            s.next += 1;
            Seen::New
        } else if seq > s.next {
            let mut hole = s.next;
            while hole < seq && s.missing.len() < MAX_MISSING {
                s.missing.insert(hole);
                hole += 1;
            }
            s.next = seq + 1;
            Seen::New
        } else if s.missing.remove(&seq) {
            Seen::Late
        } else {
            Seen::Duplicate
        }
    }

    /// Record one received stamp in `rec`.
    pub fn record(&mut self, rec: &Recorder, shard: usize, stamp: crate::payload::Stamp) {
        let now = crate::payload::now_ns();
        rec.delivered.fetch_add(1, Relaxed);
        let cross = rec.is_cross(shard, stamp.publisher);
        rec.latency(shard, now.saturating_sub(stamp.sent_ns) / 1000, cross);
        match self.observe(stamp.publisher, stamp.stream, stamp.seq) {
            Seen::New => {
                rec.unique.fetch_add(1, Relaxed);
            }
            Seen::Late => {
                rec.unique.fetch_add(1, Relaxed);
                rec.reordered.fetch_add(1, Relaxed);
            }
            Seen::Duplicate => {
                rec.duplicates.fetch_add(1, Relaxed);
            }
        }
    }
}

/// The server process (or the processes of a cluster's nodes, summed),
/// read from `/proc`.
#[derive(Clone, Debug)]
pub struct ServerProc {
    pub pids: Vec<u32>,
}

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

impl ServerProc {
    /// Resident memory in KiB (`VmRSS`), summed over the processes.
    pub fn rss_kib(&self) -> Option<u64> {
        self.pids.iter().map(|&pid| rss_kib(pid)).sum()
    }

    /// CPU time used so far (user + system), in seconds, summed.
    pub fn cpu_secs(&self) -> Option<f64> {
        self.pids.iter().map(|&pid| cpu_secs(pid)).sum()
    }
}

/// Resident memory of `pid` in KiB (`VmRSS`).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU time `pid` used so far (user + system), in seconds.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SEC)
}

/// CPU seconds all processes used (from `/proc/stat`), and this process.
fn machine_and_self_cpu() -> (Option<f64>, Option<f64>) {
    let machine = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        let line = s.lines().next()?.to_string();
        let f: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal
        let busy = f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)? + f.get(7)?;
        Some(busy as f64 / TICKS_PER_SEC)
    });
    let me = cpu_secs(std::process::id());
    (machine, me)
}

/// CPU of the server, of the load generator and of everything else on the
/// machine over a window, in % of one core.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSplit {
    pub server: Option<f64>,
    pub loadgen: Option<f64>,
    pub others: Option<f64>,
}

impl CpuSplit {
    pub fn describe(&self) -> String {
        let pct = |v: Option<f64>| opt(v.map(|v| format!("{v:.0}%")));
        format!(
            "{} / {} / {}",
            pct(self.server),
            pct(self.loadgen),
            pct(self.others)
        )
    }
}

/// Header text for [`CpuSplit::describe`].
pub const CPU_COLUMN: &str = "CPU server / loadgen / other";

/// CPU and memory of the server over a window.
pub struct Usage {
    proc: Option<ServerProc>,
    cpu0: Option<f64>,
    machine0: (Option<f64>, Option<f64>),
    start: std::time::Instant,
    peak_rss: Arc<AtomicU64>,
    sampler: Option<tokio::task::JoinHandle<()>>,
}

impl Usage {
    /// Start watching (samples RSS every 100 ms for the peak).
    pub fn start(proc: Option<ServerProc>) -> Usage {
        let peak_rss = Arc::new(AtomicU64::new(0));
        let sampler = proc.clone().map(|p| {
            let peak = peak_rss.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                loop {
                    tick.tick().await;
                    if let Some(rss) = p.rss_kib() {
                        peak.fetch_max(rss, Relaxed);
                    }
                }
            })
        });
        Usage {
            cpu0: proc.as_ref().and_then(|p| p.cpu_secs()),
            proc,
            machine0: machine_and_self_cpu(),
            start: std::time::Instant::now(),
            peak_rss,
            sampler,
        }
    }

    /// (CPU split as % of one core, server peak RSS KiB) since `start`.
    pub fn finish(self) -> (CpuSplit, Option<u64>) {
        if let Some(s) = &self.sampler {
            s.abort();
        }
        let wall = self.start.elapsed().as_secs_f64().max(1e-9);
        let delta = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(100.0 * (a - b) / wall),
            _ => None,
        };
        let server = delta(self.proc.as_ref().and_then(|p| p.cpu_secs()), self.cpu0);
        let (machine1, me1) = machine_and_self_cpu();
        let machine = delta(machine1, self.machine0.0);
        let loadgen = delta(me1, self.machine0.1);
        let others = match (machine, server, loadgen) {
            (Some(m), Some(s), Some(l)) => Some((m - s - l).max(0.0)),
            _ => None,
        };
        let rss = self.proc.as_ref().and_then(|p| p.rss_kib());
        let peak = self.peak_rss.load(Relaxed).max(rss.unwrap_or(0));
        (
            CpuSplit {
                server,
                loadgen,
                others,
            },
            self.proc.as_ref().map(|_| peak),
        )
    }
}

/// Selected values from the server's `GET /metrics`.
pub async fn server_metrics(
    http: &reqwest::Client,
    server: SocketAddr,
) -> Option<BTreeMap<String, f64>> {
    let text = http
        .get(format!("http://{server}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut parts = line.rsplitn(2, ' ');
        let (Some(value), Some(name)) = (parts.next(), parts.next()) else {
            continue;
        };
        if let Ok(v) = value.parse::<f64>() {
            out.insert(name.to_string(), v);
        }
    }
    Some(out)
}

pub fn metric(m: &Option<BTreeMap<String, f64>>, name: &str) -> Option<f64> {
    m.as_ref()?.get(name).copied()
}

/// Format microseconds as milliseconds.
pub fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

/// The latency columns `latency_cells` fills.
pub const LATENCY_COLUMNS: [&str; 4] = ["p50", "p99", "p99.9", "max"];

/// The columns after the latencies in the tables of messages: what went
/// wrong, and what the server used.
pub const OUTCOME_COLUMNS: [&str; 7] = [
    "lost",
    "dup",
    "reordered",
    "errors",
    "refused (internal)",
    CPU_COLUMN,
    "server RSS peak",
];

/// A delivery table's header: `lead`, the latency columns, then `tail`.
pub fn delivery_header<'a>(lead: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    lead.iter()
        .chain(LATENCY_COLUMNS.iter())
        .chain(tail)
        .copied()
        .collect()
}

/// p50, p99, p99.9 and max of a latency histogram in µs, as table cells.
pub fn latency_cells(h: &hdrhistogram::Histogram<u64>) -> [String; 4] {
    [
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
    ]
}

pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "n/a".into())
}

/// A Markdown table.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", self.header.join(" | "));
        let _ = writeln!(
            out,
            "|{}",
            self.header.iter().map(|_| "---|").collect::<String>()
        );
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out
    }
}

/// `value` against a target, with a verdict.
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_tells_new_late_and_duplicate_apart() {
        let mut t = Tracker::default();
        assert_eq!(t.observe(1, 0, 1), Seen::New);
        assert_eq!(t.observe(1, 0, 2), Seen::New);
        assert_eq!(t.observe(1, 0, 2), Seen::Duplicate);
        assert_eq!(t.observe(1, 0, 5), Seen::New);
        assert_eq!(t.observe(1, 0, 3), Seen::Late);
        assert_eq!(t.observe(1, 0, 3), Seen::Duplicate);
        // Another stream is independent.
        assert_eq!(t.observe(2, 0, 1), Seen::New);
        assert_eq!(t.observe(1, 1, 1), Seen::New);
    }

    #[test]
    fn cross_node_deliveries_are_kept_apart() {
        let rec = Recorder::new();
        // Without a placement everything is on one node.
        assert!(!rec.is_cross(1, 1));
        rec.set_placement(Placement {
            nodes: 2,
            publisher_socket: Box::new(|p| p as usize - 1),
        });
        // Publisher 1 is socket 0 (node 0), publisher 2 socket 1 (node 1).
        assert!(!rec.is_cross(4, 1));
        assert!(rec.is_cross(5, 1));
        assert!(rec.is_cross(4, 2));
        let stamp = |publisher| crate::payload::Stamp {
            publisher,
            stream: 0,
            seq: 1,
            sent_ns: 0,
        };
        let mut t = Tracker::default();
        t.record(&rec, 4, stamp(1));
        t.record(&rec, 4, stamp(2));
        t.record(&rec, 6, stamp(2));
        let (same, cross) = rec.take_latency_split();
        assert_eq!((same.len(), cross.len()), (1, 2));
        assert_eq!(rec.take_latency().len(), 0);
    }

    #[test]
    fn proc_of_this_process_is_readable() {
        let me = ServerProc {
            pids: vec![std::process::id(), std::process::id()],
        };
        let one = ServerProc {
            pids: vec![std::process::id()],
        };
        assert!(me.rss_kib().unwrap() >= one.rss_kib().unwrap());
        assert!(me.rss_kib().unwrap() > 0);
        assert!(me.cpu_secs().is_some());
    }
}
