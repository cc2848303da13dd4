//! Scenarios 1 and 6: one room, many members, a few publishers at rising
//! rates; optionally a share of members that stop reading.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Args, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::fleet::{self, Common, Conn, Names, Pacer, Proto, ReaderGuard, Recipients, Setup, Sink};
use crate::payload::{now_ns, Stamp};
use crate::stats::{
    self, delivery_header, latency_cells, ms, opt, verdict, Placement, Recorder, Table, Usage,
};
use crate::wire;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum FanProto {
    /// `/api/ws`: signed-in users, messages stored before delivery.
    Native,
    /// The seed's `/ws` group: text relayed verbatim, nothing stored.
    Group,
}

#[derive(Args, Debug, Clone)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, value_enum, default_value = "native")]
    pub protocol: FanProto,
    /// Room members that only listen.
    #[arg(long, default_value_t = 1000)]
    pub listeners: usize,
    /// Distinct users the native listeners belong to; their sockets are
    /// spread evenly (a user may hold many sockets, like many devices).
    #[arg(long, default_value_t = 100)]
    pub listener_users: usize,
    /// Members that publish (each its own user and socket); they receive
    /// each other's messages too.
    #[arg(long, default_value_t = 5)]
    pub publishers: usize,
    /// Publish rates to step through, in messages per second over all
    /// publishers.
    #[arg(long, value_delimiter = ',', default_value = "100,200,500,1000")]
    pub rates: Vec<f64>,
    /// Seconds each rate is held.
    #[arg(long, default_value_t = 10.0)]
    pub step_secs: f64,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 100)]
    pub body_bytes: usize,
    /// Percent of listeners that never read (slow consumers, scenario 6).
    #[arg(long, default_value_t = 0.0)]
    pub slow_percent: f64,
    /// Longest wait for late deliveries after each step, in seconds.
    #[arg(long, default_value_t = 15.0)]
    pub drain_secs: f64,
}

/// What a scenario reports back (for `smoke`).
#[derive(Debug, Default)]
pub struct Outcome {
    /// No loss, duplicate, reordering, error or unexpected close.
    pub clean: bool,
}

struct Publisher {
    id: u32,
    sink: Sink,
    seq: u64,
    _reader: ReaderGuard,
}

pub async fn run(a: FanoutArgs) -> Result<Outcome> {
    let common = &a.common;
    let server = common.addr();
    let http = crate::net::http_client()?;
    let names = Names::new(common);
    let rec = Recorder::new();
    let native = a.protocol == FanProto::Native;
    let nodes = common.nodes();
    if nodes > 1 && !native {
        anyhow::bail!("several --addr (cluster nodes) need --protocol native: /ws guests are local to their node");
    }
    // Publisher number p (from 1) is socket p - 1; socket i is on node i % n.
    rec.set_placement(Placement {
        nodes,
        publisher_socket: Box::new(|p| (p as usize).saturating_sub(1)),
    });
    let slow = (((a.listeners as f64) * a.slow_percent / 100.0).round() as usize).min(a.listeners);
    let stride = a.listeners.checked_div(slow).unwrap_or(0);
    let is_slow = |j: usize| slow > 0 && j.is_multiple_of(stride) && j / stride < slow;
    let total = a.publishers + a.listeners;
    let per_publish = (total - 1 - slow) as u64;
    let recipients: Recipients = Arc::new(move |_, _| per_publish);
    let room = names.room(0);
    let setup_start = Instant::now();

    let conns: Vec<Conn> = if native {
        let listener_users = a.listener_users.clamp(1, a.listeners.max(1));
        let mut users: Vec<String> = (0..a.publishers).map(|i| names.publisher(i)).collect();
        users.extend((0..listener_users).map(|i| names.user(i)));
        let cookies = fleet::sign_in_all(common, &http, &users).await?;
        let setup = |idx: usize, user: &str, room_step: Option<bool>, read: bool| Setup {
            idx,
            path: "/api/ws".into(),
            cookie: Some(cookies[user].clone()),
            room: room_step.map(|create| (room.clone(), create)),
            read,
            proto: Proto::Native,
        };
        // The first publisher creates the room; every user's first socket
        // joins it; further sockets of a user are members from `hello` on.
        let creator = vec![setup(0, &users[0], Some(true), true)];
        let mut joiners = Vec::new();
        for (p, user) in users.iter().enumerate().take(a.publishers).skip(1) {
            joiners.push(setup(p, user, Some(false), true));
        }
        let mut rest = Vec::new();
        for j in 0..a.listeners {
            let user = &users[a.publishers + j % listener_users];
            let s = setup(
                a.publishers + j,
                user,
                (j < listener_users).then_some(false),
                !is_slow(j),
            );
            if j < listener_users {
                joiners.push(s);
            } else {
                rest.push(s);
            }
        }
        let mut conns = fleet::open_all(common, creator, &rec, &recipients, "create room").await?;
        conns.extend(fleet::open_all(common, joiners, &rec, &recipients, "join room").await?);
        conns.extend(fleet::open_all(common, rest, &rec, &recipients, "more sockets").await?);
        // In index order: publishers, then listeners.
        conns
    } else {
        let setups = (0..total)
            .map(|i| Setup {
                idx: i,
                path: "/ws".into(),
                cookie: None,
                room: None,
                read: i < a.publishers || !is_slow(i - a.publishers),
                proto: Proto::Group,
            })
            .collect();
        fleet::open_all(common, setups, &rec, &recipients, "connect /ws").await?
    };
    let setup_time = setup_start.elapsed();
    let mut conns = conns.into_iter();
    let mut publishers: Vec<Publisher> = Vec::new();
    for (i, conn) in conns.by_ref().take(a.publishers).enumerate() {
        publishers.push(Publisher {
            id: i as u32 + 1,
            sink: conn.sink,
            seq: 0,
            _reader: conn.reader,
        });
    }
    let listeners: Vec<Conn> = conns.collect();
    // Let the joins' `member` and `presence` frames pass.
    tokio::time::sleep(Duration::from_secs(1)).await;

    println!(
        "\n## Fan-out: 1 room, {} listeners ({} slow) + {} publishers, {} B bodies, protocol {:?}\n",
        a.listeners, slow, a.publishers, a.body_bytes, a.protocol
    );
    println!(
        "setup {:.1?}; every publish goes to {per_publish} reading sockets\n",
        setup_time
    );
    if nodes > 1 {
        let addrs: Vec<String> = common.addrs.iter().map(|a| a.to_string()).collect();
        println!(
            "{nodes} nodes ({}); socket i (publishers first) is on node i mod {nodes}; \
             publishers per node: {:?}; server CPU and RSS are summed over the nodes\n",
            addrs.join(", "),
            (0..nodes)
                .map(|n| (0..a.publishers).filter(|&i| i % nodes == n).count())
                .collect::<Vec<_>>()
        );
    }
    let mut header = delivery_header(&["publishes/s", "offered deliveries/s", "delivered/s"], &[]);
    if nodes > 1 {
        header.extend([
            "same-node deliveries",
            "same-node p50",
            "same-node p99",
            "cross-node deliveries",
            "cross-node p50",
            "cross-node p99",
        ]);
    }
    header.extend(stats::OUTCOME_COLUMNS);
    let mut table = Table::new(&header);
    let mut clean = true;
    let mut best_clean_rate = 0.0f64;
    let mut p99_at_100: Option<u64> = None;
    let closes_before = rec.closes().values().sum::<u64>();
    for &rate in &a.rates {
        let before = rec.counts();
        rec.take_latency();
        let usage = Usage::start(common.proc());
        let start = Instant::now();
        let step = Duration::from_secs_f64(a.step_secs);
        let mut tasks = Vec::new();
        for (i, p) in publishers.drain(..).enumerate() {
            let (rec, recipients, room) = (rec.clone(), recipients.clone(), room.clone());
            let per = rate / a.publishers as f64;
            // The publishers take turns (publisher i is i/n of a period
            // ahead): the room gets one publish every 1/rate s, like
            // independent people writing, not bursts of n at once.
            let phase = i as f64 / a.publishers as f64;
            let bytes = a.body_bytes;
            tasks.push(tokio::spawn(async move {
                publish(
                    p,
                    Pacer::with_phase(per, phase),
                    step,
                    &rec,
                    &recipients,
                    native.then_some(&room),
                    bytes,
                )
                .await
            }));
        }
        for t in tasks {
            publishers.push(t.await??);
        }
        let window = start.elapsed();
        let at_end = rec.counts();
        fleet::drain(&rec, native, Duration::from_secs_f64(a.drain_secs)).await;
        let (cpu, rss) = usage.finish();
        let c = rec.counts() - before;
        let (same, cross) = rec.take_latency_split();
        let mut h = same.clone();
        let _ = h.add(&cross);
        let delivered_per_sec = (at_end.delivered - before.delivered) as f64 / window.as_secs_f64();
        let ok = c.lost() == 0 && c.duplicates == 0 && c.reordered == 0 && c.errors == 0;
        clean &= ok;
        if ok {
            best_clean_rate = best_clean_rate.max(delivered_per_sec);
        }
        if (rate - 100.0).abs() < 1e-9 {
            p99_at_100 = Some(h.value_at_quantile(0.99));
        }
        let mut row = vec![
            format!("{rate:.0}"),
            format!("{:.0}", rate * per_publish as f64),
            format!("{delivered_per_sec:.0}"),
        ];
        row.extend(latency_cells(&h));
        if nodes > 1 {
            for part in [&same, &cross] {
                row.extend([
                    part.len().to_string(),
                    ms(part.value_at_quantile(0.5)),
                    ms(part.value_at_quantile(0.99)),
                ]);
            }
        }
        row.extend([
            c.lost().to_string(),
            c.duplicates.to_string(),
            c.reordered.to_string(),
            c.errors.to_string(),
            c.refused.to_string(),
            cpu.describe(),
            opt(rss.map(|r| format!("{:.1} MiB", r as f64 / 1024.0))),
        ]);
        table.row(row);
        eprintln!(
            "rate {rate}: sent {} acked {} expected {} unique {} delivered/s {delivered_per_sec:.0}",
            c.sent, c.acks, c.expected, c.unique
        );
    }
    println!("{}", table.render());
    rec.print_problems();

    let unexpected_closes = rec.closes().values().sum::<u64>() - closes_before;
    if unexpected_closes > 0 {
        clean = false;
        println!("reading sockets closed during the run: {:?}", rec.closes());
    }
    let mut summary = Table::new(&["metric", "measured", "target", "verdict"]);
    if slow == 0 {
        summary.row(vec![
            "highest delivered/s with zero loss, dup, reorder".into(),
            format!("{best_clean_rate:.0}"),
            "≥ 500,000".into(),
            verdict(best_clean_rate >= 500_000.0).into(),
        ]);
        if let Some(p99) = p99_at_100 {
            summary.row(vec![
                "p99 at 100 publishes/s".into(),
                ms(p99),
                "≤ 5 ms".into(),
                verdict(p99 <= 5_000).into(),
            ]);
        }
    } else {
        let (closed, how) = slow_consumers_end(listeners, &is_slow).await;
        let m = stats::server_metrics(&http, server).await;
        summary.row(vec![
            "slow consumers closed by the server".into(),
            format!("{closed} of {slow}: {how}"),
            "all (code 4008)".into(),
            verdict(closed == slow).into(),
        ]);
        summary.row(vec![
            "server slow-consumer closes (metrics)".into(),
            opt(stats::metric(&m, "parley_slow_consumer_closes_total")),
            "".into(),
            "".into(),
        ]);
    }
    println!("{}", summary.render());
    Ok(Outcome { clean })
}

async fn publish(
    mut p: Publisher,
    mut pacer: Pacer,
    duration: Duration,
    rec: &Recorder,
    recipients: &Recipients,
    room: Option<&String>,
    body_bytes: usize,
) -> Result<Publisher> {
    let mut tick = fleet::ticker();
    while pacer.elapsed() < duration {
        tick.tick().await;
        let n = pacer.due();
        for _ in 0..n {
            p.seq += 1;
            let stamp = Stamp {
                publisher: p.id,
                stream: 0,
                seq: p.seq,
                sent_ns: now_ns(),
            };
            let body = stamp.body(body_bytes);
            let text = match room {
                Some(room) => wire::send_room(&stamp.client_id(), room, &body),
                None => {
                    rec.expected.fetch_add(recipients(p.id, 0), Relaxed);
                    body
                }
            };
            rec.sent.fetch_add(1, Relaxed);
            p.sink.feed(Message::text(text)).await?;
        }
        if n > 0 {
            p.sink.flush().await?;
        }
    }
    Ok(p)
}

fn total_slow(how: &std::collections::BTreeMap<String, usize>) -> usize {
    how.values().sum()
}

/// Read what the slow consumers were sent until the server closes them.
/// Returns how many were closed (by any means), and how each ended: a
/// close frame's code, or `eof` when the server gave up on a socket whose
/// buffers were too full to take even the close frame.
async fn slow_consumers_end(
    listeners: Vec<Conn>,
    is_slow: &(dyn Fn(usize) -> bool + Sync),
) -> (usize, String) {
    let mut tasks = Vec::new();
    for (j, mut conn) in listeners.into_iter().enumerate() {
        if !is_slow(j) {
            continue;
        }
        let Some(mut stream) = conn.unread.take() else {
            continue;
        };
        tasks.push(tokio::spawn(async move {
            let _conn = conn;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                match tokio::time::timeout_at(deadline, stream.next()).await {
                    Err(_) => return "still open".to_string(),
                    Ok(Some(Ok(Message::Close(Some(f))))) => return u16::from(f.code).to_string(),
                    Ok(Some(Ok(Message::Close(None)))) => return "close without code".into(),
                    Ok(Some(Ok(_))) => {}
                    Ok(Some(Err(e))) => return format!("error {e}"),
                    Ok(None) => return "eof".into(),
                }
            }
        }));
    }
    let mut how = std::collections::BTreeMap::new();
    for t in tasks {
        let ended = t.await.unwrap_or_else(|e| e.to_string());
        *how.entry(ended).or_insert(0usize) += 1;
    }
    let still_open = how.get("still open").copied().unwrap_or(0);
    (total_slow(&how) - still_open, format!("{how:?}"))
}
