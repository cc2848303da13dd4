//! Scenario 2: many small rooms and direct messages, everything stored.
//! With `--protocol direct`: guests of the seed's `/ws/{name}` writing to
//! each other (nothing stored; every message is direct).
//!
//! With `--change-share F` (native), a share F of all frames are changes
//! to room messages instead of new room messages: edits of the sender's
//! own acknowledged messages, reaction toggles and deletes of the sender's
//! oldest live message (see [`crate::changes`]). They are tracked like
//! messages (per stream, receiver and latency), with their own numbering.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use super::fanout::Outcome;
use crate::changes::{Book, Kind, Want};
use crate::fleet::{self, Common, Conn, Names, Pacer, Proto, Recipients, Rng, Setup};
use crate::payload::{now_ns, Stamp};
use crate::stats::{
    self, delivery_header, latency_cells, ms, opt, verdict, Counts, Recorder, Table, Usage,
};
use crate::wire;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum RoomsProto {
    /// `/api/ws`: rooms and direct messages, stored before delivery.
    Native,
    /// The seed's `/ws/{name}`: guests sending each other direct messages.
    Direct,
}

#[derive(Args, Debug, Clone)]
pub struct RoomsArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, value_enum, default_value = "native")]
    pub protocol: RoomsProto,
    /// Sockets in all.
    #[arg(long, default_value_t = 5000)]
    pub connections: usize,
    /// Sockets per room.
    #[arg(long, default_value_t = 10)]
    pub room_size: usize,
    /// Sockets per user (devices); must divide --room-size.
    #[arg(long, default_value_t = 2)]
    pub sockets_per_user: usize,
    /// Room messages per second, from random sockets to their room.
    #[arg(long, default_value_t = 2000.0)]
    pub room_rate: f64,
    /// Direct messages per second, from random sockets to random users.
    #[arg(long, default_value_t = 500.0)]
    pub dm_rate: f64,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 30.0)]
    pub secs: f64,
    #[arg(long, default_value_t = 100)]
    pub body_bytes: usize,
    /// Longest wait for late deliveries, in seconds.
    #[arg(long, default_value_t = 15.0)]
    pub drain_secs: f64,
    /// Seed of the random choices (runs are repeatable).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Share of all frames (room + direct) that are changes to room
    /// messages instead of new room messages (native only; taken from the
    /// room messages, so the deliveries per second stay the same): of the
    /// changes ~50 % edits of one of the sender's own acknowledged
    /// messages, ~40 % reaction toggles, ~10 % deletes of the sender's
    /// oldest live message. 0: none (the plain scenario).
    #[arg(long, default_value_t = 0.0)]
    pub change_share: f64,
}

/// Edits, toggles and deletes out of 10 changes.
const MIX: [(Want, usize); 3] = [(Want::Edit, 5), (Want::Toggle, 4), (Want::Delete, 1)];

/// What to try for a random draw below 10.
fn want_of(draw: usize) -> Want {
    let mut left = draw;
    for (want, share) in MIX {
        if left < share {
            return want;
        }
        left -= share;
    }
    Want::Delete
}

/// Random sockets tried for a change before a plain message goes instead.
const CHANGE_TRIES: usize = 8;

/// Reactions go to one of a room's newest live messages, with one of a few
/// emoji (so that toggles also take reactions off).
const REACT_WINDOW: usize = 16;
const REACT_EMOJI: usize = 4;

pub async fn run(a: RoomsArgs) -> Result<Outcome> {
    let common = &a.common;
    let http = crate::net::http_client()?;
    let names = Names::new(common);
    let rec = Recorder::new();
    let native = a.protocol == RoomsProto::Native;
    let spu = if native { a.sockets_per_user.max(1) } else { 1 };
    if a.room_size == 0
        || !a.room_size.is_multiple_of(spu)
        || !a.connections.is_multiple_of(a.room_size)
    {
        bail!("--room-size must be a multiple of --sockets-per-user, and --connections of --room-size");
    }
    // The chance that a room slot becomes a change, so that changes are
    // `change_share` of all frames.
    let change_p = if native && a.change_share > 0.0 && a.room_rate > 0.0 {
        a.change_share * (a.room_rate + a.dm_rate) / a.room_rate
    } else {
        0.0
    };
    if !(0.0..=1.0).contains(&change_p) {
        bail!("--change-share must be between 0 and (room rate) / (room rate + dm rate)");
    }
    let users = a.connections / spu;
    let users_per_room = a.room_size / spu;
    let rooms = users / users_per_room;
    let room_size = a.room_size as u64;
    let spu64 = spu as u64;
    // Stream 0 is a socket's room; stream 1 + u is user u (direct messages):
    // the receiver's sockets and the sender's other sockets get it.
    let recipients: Recipients = Arc::new(move |_, stream| {
        if stream == 0 {
            room_size - 1
        } else {
            2 * spu64 - 1
        }
    });
    let user_of = |conn: usize| conn / spu;
    let room_of = |user: usize| user / users_per_room;
    let user_name = |u: usize| {
        if native {
            names.user(u)
        } else {
            format!("{}g{u}", names.users)
        }
    };
    let setup_start = Instant::now();
    let mut conns: Vec<Option<Conn>> = (0..a.connections).map(|_| None).collect();
    if native {
        let all: Vec<String> = (0..users).map(user_name).collect();
        let cookies = fleet::sign_in_all(common, &http, &all).await?;
        let setup = |c: usize, room: Option<bool>| Setup {
            idx: c,
            path: "/api/ws".into(),
            cookie: Some(cookies[&all[user_of(c)]].clone()),
            room: room.map(|create| (names.room(room_of(user_of(c))), create)),
            read: true,
            proto: Proto::Native,
        };
        // Creators (first user of each room), joiners (other users' first
        // sockets), then every user's further sockets.
        let mut phases: [Vec<usize>; 3] = Default::default();
        for c in 0..a.connections {
            let u = user_of(c);
            let phase = match (c % spu, u % users_per_room) {
                (0, 0) => 0,
                (0, _) => 1,
                _ => 2,
            };
            phases[phase].push(c);
        }
        for (phase, list) in phases.iter().enumerate() {
            let setups = list
                .iter()
                .map(|&c| setup(c, [Some(true), Some(false), None][phase]))
                .collect();
            let what = ["create rooms", "join rooms", "more sockets"][phase];
            let opened = fleet::open_all(common, setups, &rec, &recipients, what).await?;
            for (&c, conn) in list.iter().zip(opened) {
                conns[c] = Some(conn);
            }
        }
    } else {
        let setups = (0..a.connections)
            .map(|c| Setup {
                idx: c,
                path: format!("/ws/{}", user_name(c)),
                cookie: None,
                room: None,
                read: true,
                proto: Proto::Direct,
            })
            .collect();
        let opened = fleet::open_all(common, setups, &rec, &recipients, "guests").await?;
        for (c, conn) in opened.into_iter().enumerate() {
            conns[c] = Some(conn);
        }
    }
    let mut conns: Vec<Conn> = conns.into_iter().flatten().collect();
    let setup_time = setup_start.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (room_rate, dm_rate) = if native {
        (a.room_rate, a.dm_rate)
    } else {
        (0.0, a.room_rate + a.dm_rate)
    };
    println!(
        "\n## Rooms and direct messages: {} sockets ({} users × {} sockets), {} rooms of {}, protocol {:?}\n",
        a.connections, users, spu, rooms, a.room_size, a.protocol
    );
    println!(
        "setup {setup_time:.1?}; {room_rate} room messages/s (to {} others each) + {dm_rate} direct messages/s (to {} sockets each) for {} s, {} B bodies\n",
        a.room_size - 1,
        if native { 2 * spu - 1 } else { 1 },
        a.secs,
        a.body_bytes
    );

    if change_p > 0.0 {
        println!(
            "changes: {:.0} % of all frames ({:.0}/s) are changes to room messages (edits {} %, reaction toggles {} %, deletes {} %); room changes only, none in direct conversations\n",
            100.0 * a.change_share,
            change_p * room_rate,
            MIX[0].1 * 10,
            MIX[1].1 * 10,
            MIX[2].1 * 10,
        );
    }

    // Acks of room messages feed the bookkeeping of changes.
    let (acks_tx, mut acks_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, u64)>();
    if change_p > 0.0 {
        rec.set_ack_hook(Box::new(move |socket, _, stream, seq| {
            if stream == 0 {
                let _ = acks_tx.send((socket, seq));
            }
        }));
    }
    let mut book = Book::new(a.connections, rooms, REACT_WINDOW, REACT_EMOJI);
    let mut change_seqs: HashMap<u32, u64> = HashMap::new();
    let mut kinds: HashMap<Kind, u64> = HashMap::new();
    let mut fallbacks = 0u64;

    let before = rec.counts();
    let before_changes = rec.changes().counts();
    rec.take_latency();
    rec.changes().take_latency();
    let usage = Usage::start(common.proc());
    let mut rooms_pacer = Pacer::new(room_rate);
    let mut dms_pacer = Pacer::new(dm_rate);
    let mut tick = fleet::ticker();
    let mut rng = Rng::new(a.seed);
    let mut seqs: HashMap<(u32, u32), u64> = HashMap::new();
    let duration = Duration::from_secs_f64(a.secs);
    let start = Instant::now();
    while start.elapsed() < duration {
        tick.tick().await;
        let (n_room, n_dm) = (rooms_pacer.due(), dms_pacer.due());
        while let Ok((socket, seq)) = acks_rx.try_recv() {
            book.acked(socket, room_of(user_of(socket)), seq);
        }
        for k in 0..n_room + n_dm {
            if k < n_room
                && change_p > 0.0
                && (rng.below(1 << 20) as f64) < change_p * f64::from(1 << 20)
            {
                let want = want_of(rng.below(10));
                let planned = (0..CHANGE_TRIES).find_map(|_| {
                    let mut c = rng.below(a.connections);
                    if want == Want::Toggle {
                        // Only a user's first socket reacts, so that each
                        // user's toggles are ordered.
                        c -= c % spu;
                    }
                    let u = user_of(c);
                    book.plan(&mut rng, want, c, u, room_of(u)).map(|p| (c, p))
                });
                if let Some((c, planned)) = planned {
                    let seq = change_seqs.entry(c as u32).or_insert(0);
                    *seq += 1;
                    let stamp = Stamp {
                        publisher: c as u32,
                        stream: 0,
                        seq: *seq,
                        sent_ns: now_ns(),
                    };
                    let body = stamp.body(a.body_bytes);
                    let text = wire::change_room(
                        &stamp.change_client_id(),
                        &names.room(room_of(user_of(c))),
                        planned.target,
                        planned.op(&body),
                    );
                    *kinds.entry(planned.kind).or_insert(0) += 1;
                    rec.changes().sent.fetch_add(1, Relaxed);
                    conns[c].sink.send(Message::text(text)).await?;
                    continue;
                }
                fallbacks += 1;
            }
            let c = rng.below(a.connections);
            let u = user_of(c);
            let (stream, to_user) = if k < n_room {
                (0, None)
            } else {
                let mut t = rng.below(users - 1);
                if t >= u {
                    t += 1;
                }
                (1 + t as u32, Some(t))
            };
            let seq = seqs.entry((c as u32, stream)).or_insert(0);
            *seq += 1;
            let stamp = Stamp {
                publisher: c as u32,
                stream,
                seq: *seq,
                sent_ns: now_ns(),
            };
            let body = stamp.body(a.body_bytes);
            let text = match (native, to_user) {
                (true, None) => wire::send_room(&stamp.client_id(), &names.room(room_of(u)), &body),
                (true, Some(t)) => wire::send_dm(&stamp.client_id(), &user_name(t), &body),
                (false, Some(t)) => {
                    rec.expected.fetch_add(1, Relaxed);
                    wire::seed_direct(&user_name(u), &user_name(t), &body)
                }
                (false, None) => unreachable!("guests have no rooms"),
            };
            rec.sent.fetch_add(1, Relaxed);
            conns[c].sink.send(Message::text(text)).await?;
        }
    }
    let window = start.elapsed();
    let at_end = rec.counts();
    let at_end_changes = rec.changes().counts();
    fleet::drain(&rec, native, Duration::from_secs_f64(a.drain_secs)).await;
    let (cpu, rss) = usage.finish();
    let c = rec.counts() - before;
    let ch = rec.changes().counts() - before_changes;
    let h = rec.take_latency();
    let hc = rec.changes().take_latency();
    let delivered_per_sec = (at_end.delivered - before.delivered) as f64 / window.as_secs_f64();
    let changes_per_sec =
        (at_end_changes.delivered - before_changes.delivered) as f64 / window.as_secs_f64();
    let closes = rec.closes();
    let changes_clean = changes_clean(&ch);
    let clean = c.lost() == 0
        && c.duplicates == 0
        && c.reordered == 0
        && c.errors == 0
        && changes_clean
        && closes.is_empty();

    let mut table = Table::new(&delivery_header(
        &["sent", "acked", "expected deliveries", "delivered/s"],
        &stats::OUTCOME_COLUMNS,
    ));
    let mut row = vec![
        c.sent.to_string(),
        if native {
            c.acks.to_string()
        } else {
            "n/a".into()
        },
        c.expected.to_string(),
        format!("{delivered_per_sec:.0}"),
    ];
    row.extend(latency_cells(&h));
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
    println!("{}", table.render());
    rec.print_problems();
    if change_p > 0.0 {
        let sent_kinds = Kind::ALL
            .iter()
            .map(|k| format!("{} {}", kinds.get(k).copied().unwrap_or(0), k.name()))
            .collect::<Vec<_>>()
            .join(", ");
        println!("\nchanges to room messages: {sent_kinds}; {fallbacks} room slots sent a message instead (no valid change for {CHANGE_TRIES} random sockets, mostly at the start)\n");
        println!("{}", change_table(&ch, changes_per_sec, &hc).render());
        for e in rec.changes().first_errors() {
            println!("first refused changes: {e}");
        }
    }
    if !closes.is_empty() {
        println!("sockets closed during the run: {closes:?}");
    }
    let p99 = h.value_at_quantile(0.99);
    let mut summary = Table::new(&["metric", "measured", "target", "verdict"]);
    summary.row(vec![
        "p99 delivery latency".into(),
        ms(p99),
        "≤ 10 ms".into(),
        verdict(p99 <= 10_000).into(),
    ]);
    summary.row(vec![
        "lost / duplicated / reordered".into(),
        format!("{} / {} / {}", c.lost(), c.duplicates, c.reordered),
        "0 / 0 / 0".into(),
        verdict(c.lost() == 0 && c.duplicates == 0 && c.reordered == 0).into(),
    ]);
    if change_p > 0.0 {
        change_summary(&mut summary, &ch, &hc, p99);
    }
    println!("{}", summary.render());
    drop(conns);
    Ok(Outcome { clean })
}

/// No change lost, repeated, reordered or refused.
pub fn changes_clean(ch: &Counts) -> bool {
    ch.lost() == 0 && ch.duplicates == 0 && ch.reordered == 0 && ch.errors == 0 && ch.refused == 0
}

/// The table of changes' deliveries.
pub fn change_table(ch: &Counts, per_sec: f64, h: &hdrhistogram::Histogram<u64>) -> Table {
    let mut table = Table::new(&delivery_header(
        &[
            "changes sent",
            "acked",
            "expected deliveries",
            "delivered/s",
        ],
        &[
            "lost",
            "dup",
            "reordered",
            "refused (error frames)",
            "refused (internal)",
        ],
    ));
    let mut row = vec![
        ch.sent.to_string(),
        ch.acks.to_string(),
        ch.expected.to_string(),
        format!("{per_sec:.0}"),
    ];
    row.extend(latency_cells(h));
    row.extend([
        ch.lost().to_string(),
        ch.duplicates.to_string(),
        ch.reordered.to_string(),
        ch.errors.to_string(),
        ch.refused.to_string(),
    ]);
    table.row(row);
    table
}

/// Rows of the summary for changes; `message_p99` in µs (`None`: no
/// messages to compare with).
fn change_summary(
    summary: &mut Table,
    ch: &Counts,
    h: &hdrhistogram::Histogram<u64>,
    message_p99: u64,
) {
    let p99 = h.value_at_quantile(0.99);
    // "In the same range": within 1.5× of the messages' p99 of the same
    // run, or 2 ms of it, whichever is larger.
    let same_range = p99 <= (message_p99 * 3 / 2).max(message_p99 + 2_000);
    summary.row(vec![
        "changes: p99 delivery latency".into(),
        format!("{} (messages {})", ms(p99), ms(message_p99)),
        "same range as messages (≤ 1.5× or +2 ms)".into(),
        verdict(same_range).into(),
    ]);
    summary.row(vec![
        "changes: lost / duplicated / reordered".into(),
        format!("{} / {} / {}", ch.lost(), ch.duplicates, ch.reordered),
        "0 / 0 / 0".into(),
        verdict(ch.lost() == 0 && ch.duplicates == 0 && ch.reordered == 0).into(),
    ]);
    summary.row(vec![
        "changes: refused".into(),
        format!("{} error frames, {} internal", ch.errors, ch.refused),
        "0".into(),
        verdict(ch.errors == 0 && ch.refused == 0).into(),
    ]);
}
