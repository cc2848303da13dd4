//! Counters, gauges and a latency histogram, rendered in the Prometheus text
//! format at `GET /metrics`. Plain atomics: recording never takes a lock.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros().min(u64::MAX as u128) as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Every metric the server keeps.
#[derive(Default)]
pub struct Metrics {
    pub messages_in: AtomicU64,
    pub changes_in: AtomicU64,
    pub changes_refused: AtomicU64,
    pub messages_out: AtomicU64,
    pub queue_drops: AtomicU64,
    pub slow_consumer_closes: AtomicU64,
    pub rate_limited: AtomicU64,
    pub connections_opened: AtomicU64,
    pub refused_upgrades: AtomicU64,
    pub delivery_latency: Histogram,
    pub commit_latency: Histogram,
}

/// Values read when rendering, not kept as counters.
pub struct Gauges {
    pub connections: usize,
    pub guests: usize,
    pub online_users: usize,
    pub rooms: i64,
    pub tasks: usize,
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

impl Metrics {
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        gauge(
            &mut out,
            "parley_connections",
            "Open signed-in WebSocket connections.",
            gauges.connections,
        );
        gauge(
            &mut out,
            "parley_guest_connections",
            "Open connections of the seed endpoints.",
            gauges.guests,
        );
        gauge(
            &mut out,
            "parley_online_users",
            "Users with at least one open connection.",
            gauges.online_users,
        );
        gauge(&mut out, "parley_rooms", "Rooms that exist.", gauges.rooms);
        gauge(
            &mut out,
            "parley_runtime_alive_tasks",
            "Live tokio tasks.",
            gauges.tasks,
        );
        counter(
            &mut out,
            "parley_connections_opened_total",
            "WebSocket connections accepted.",
            self.connections_opened.load(Relaxed),
        );
        counter(
            &mut out,
            "parley_upgrades_refused_total",
            "WebSocket upgrades refused (origin, limits).",
            self.refused_upgrades.load(Relaxed),
        );
        counter(
            &mut out,
            "parley_messages_in_total",
            "Messages stored.",
            self.messages_in.load(Relaxed),
        );
        counter(
            &mut out,
            "parley_changes_in_total",
            "Edits, deletes and reactions stored.",
            self.changes_in.load(Relaxed),
        );
        counter(
            &mut out,
            "parley_changes_refused_total",
            "Edits, deletes and reactions refused by the authorization (not the author, deleted, …).",
            self.changes_refused.load(Relaxed),
        );
        counter(
            &mut out,
            "parley_messages_out_total",
            "Message frames written to sockets.",
            self.messages_out.load(Relaxed),
        );
        counter(
            &mut out,
            "parley_queue_drops_total",
            "Frames not queued because a connection's queue was full.",
            self.queue_drops.load(Relaxed),
        );
        counter(
            &mut out,
            "parley_slow_consumer_closes_total",
            "Connections closed as slow consumers.",
            self.slow_consumer_closes.load(Relaxed),
        );
        counter(
            &mut out,
            "parley_rate_limited_total",
            "Frames refused by the per-connection rate limit.",
            self.rate_limited.load(Relaxed),
        );
        self.delivery_latency.render(
            &mut out,
            "parley_delivery_latency_seconds",
            "From a message reaching the server to it being written to a receiver's socket.",
        );
        self.commit_latency.render(
            &mut out,
            "parley_store_commit_seconds",
            "Time to store one batch of messages (one transaction, committed).",
        );
        out
    }
}

impl Metrics {
    /// This node's numbers for the admin page.
    pub fn node_stats(&self, node: &str, hub: &crate::hub::Hub) -> crate::hub::NodeStats {
        use std::sync::atomic::Ordering::Relaxed;
        let (connections, guests, users) = hub.counts();
        crate::hub::NodeStats {
            node: node.to_string(),
            connections: connections as u64,
            guests: guests as u64,
            users_online: users as u64,
            messages_in: self.messages_in.load(Relaxed),
            messages_out: self.messages_out.load(Relaxed),
            changes_in: self.changes_in.load(Relaxed),
            rate_limited: self.rate_limited.load(Relaxed),
            slow_consumers: self.slow_consumer_closes.load(Relaxed),
        }
    }
}
