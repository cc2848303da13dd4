//! Scenario 2: many small rooms and direct messages, everything stored.
//! With `--protocol direct`: guests of the seed's `/ws/{name}` writing to
//! each other (nothing stored; every message is direct).

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use super::fanout::Outcome;
use crate::fleet::{self, Common, Conn, Names, Pacer, Proto, Recipients, Rng, Setup};
use crate::payload::{now_ns, Stamp};
use crate::stats::{self, ms, opt, verdict, Recorder, Table, Usage};
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
}

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

    let before = rec.counts();
    rec.take_latency();
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
        for k in 0..n_room + n_dm {
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
    fleet::drain(&rec, native, Duration::from_secs_f64(a.drain_secs)).await;
    let (cpu, rss) = usage.finish();
    let c = rec.counts() - before;
    let h = rec.take_latency();
    let delivered_per_sec = (at_end.delivered - before.delivered) as f64 / window.as_secs_f64();
    let closes = rec.closes();
    let clean = c.lost() == 0
        && c.duplicates == 0
        && c.reordered == 0
        && c.errors == 0
        && closes.is_empty();

    let mut table = Table::new(&[
        "sent",
        "acked",
        "expected deliveries",
        "delivered/s",
        "p50",
        "p99",
        "p99.9",
        "max",
        "lost",
        "dup",
        "reordered",
        "errors",
        "refused (internal)",
        stats::CPU_COLUMN,
        "server RSS peak",
    ]);
    table.row(vec![
        c.sent.to_string(),
        if native {
            c.acks.to_string()
        } else {
            "n/a".into()
        },
        c.expected.to_string(),
        format!("{delivered_per_sec:.0}"),
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
        c.lost().to_string(),
        c.duplicates.to_string(),
        c.reordered.to_string(),
        c.errors.to_string(),
        c.refused.to_string(),
        cpu.describe(),
        opt(rss.map(|r| format!("{:.1} MiB", r as f64 / 1024.0))),
    ]);
    println!("{}", table.render());
    rec.print_problems();
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
    println!("{}", summary.render());
    drop(conns);
    Ok(Outcome { clean })
}
