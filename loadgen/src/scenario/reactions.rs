//! Reaction storm: one room of many members, a few messages posted, then
//! reactions to them at a fixed rate by random members, every member
//! receiving every change.
//!
//! Reactions are toggles kept per user (react when that user has not
//! reacted to that message with that emoji, else unreact), only one socket
//! per user reacts, and the emoji come from a set of at most 20, so the
//! server has no reason to refuse any (see [`crate::changes`]).

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use super::fanout::Outcome;
use super::rooms::{change_table, changes_clean};
use crate::changes::{Book, Kind, Want, EMOJI};
use crate::fleet::{self, Common, Conn, Names, Pacer, Proto, Recipients, Rng, Setup};
use crate::payload::{now_ns, Stamp};
use crate::stats::{ms, opt, verdict, Recorder, Table, Usage, CPU_COLUMN};
use crate::wire;

#[derive(Args, Debug, Clone)]
pub struct ReactionsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Sockets in the room (every one receives every change).
    #[arg(long, default_value_t = 1000)]
    pub members: usize,
    /// Sockets per user; only each user's first socket reacts.
    #[arg(long, default_value_t = 1)]
    pub sockets_per_user: usize,
    /// Messages posted before the storm; the reactions go to these.
    #[arg(long, default_value_t = 5)]
    pub messages: usize,
    /// Reactions (react or unreact) per second.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Seconds of reactions.
    #[arg(long, default_value_t = 20.0)]
    pub secs: f64,
    /// Different emoji used (at most 20, the server's limit per message).
    #[arg(long, default_value_t = 20)]
    pub emoji: usize,
    /// Longest wait for late deliveries, in seconds.
    #[arg(long, default_value_t = 15.0)]
    pub drain_secs: f64,
    /// Seed of the random choices (runs are repeatable).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub async fn run(a: ReactionsArgs) -> Result<Outcome> {
    let common = &a.common;
    let spu = a.sockets_per_user.max(1);
    if a.members < 2 || !a.members.is_multiple_of(spu) {
        bail!("--members must be at least 2 and a multiple of --sockets-per-user");
    }
    if a.messages == 0 || a.messages > a.members {
        bail!("--messages must be between 1 and --members (one poster each)");
    }
    if a.emoji == 0 || a.emoji > EMOJI.len() {
        bail!("--emoji must be between 1 and {}", EMOJI.len());
    }
    let http = crate::net::http_client()?;
    let names = Names::new(common);
    let rec = Recorder::new();
    let users = a.members / spu;
    let others = a.members as u64 - 1;
    let recipients: Recipients = Arc::new(move |_, _| others);
    let room = names.room(0);

    let setup_start = Instant::now();
    let all: Vec<String> = (0..users).map(|u| names.user(u)).collect();
    let cookies = fleet::sign_in_all(common, &http, &all).await?;
    let setup = |c: usize, room_step: Option<bool>| Setup {
        idx: c,
        path: "/api/ws".into(),
        cookie: Some(cookies[&all[c / spu]].clone()),
        room: room_step.map(|create| (room.clone(), create)),
        read: true,
        proto: Proto::Native,
    };
    // The room's creator, the other users' first sockets (join), then every
    // user's further sockets (members already).
    let mut conns: Vec<Option<Conn>> = (0..a.members).map(|_| None).collect();
    let phases: [(Vec<usize>, Option<bool>, &str); 3] = [
        (vec![0], Some(true), "create the room"),
        (
            (spu..a.members).step_by(spu).collect(),
            Some(false),
            "join the room",
        ),
        (
            (0..a.members).filter(|c| c % spu != 0).collect(),
            None,
            "more sockets",
        ),
    ];
    for (list, step, what) in phases {
        let setups = list.iter().map(|&c| setup(c, step)).collect();
        let opened = fleet::open_all(common, setups, &rec, &recipients, what).await?;
        for (&c, conn) in list.iter().zip(opened) {
            conns[c] = Some(conn);
        }
    }
    let mut conns: Vec<Conn> = conns.into_iter().flatten().collect();
    let setup_time = setup_start.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;

    println!(
        "\n## Reaction storm: {} members ({} users × {} sockets) of one room, {} messages, {} reactions/s for {} s, {} emoji\n",
        a.members, users, spu, a.messages, a.rate, a.secs, a.emoji
    );
    println!("setup {setup_time:.1?}\n");

    // The messages, one from each of the first sockets; their seqs come
    // with the acks.
    let (acks_tx, mut acks_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, u64)>();
    rec.set_ack_hook(Box::new(move |socket, _, stream, seq| {
        if stream == 0 {
            let _ = acks_tx.send((socket, seq));
        }
    }));
    let mut book = Book::new(a.members, 1, a.messages, a.emoji);
    for (c, conn) in conns.iter_mut().enumerate().take(a.messages) {
        let stamp = Stamp {
            publisher: c as u32,
            stream: 0,
            seq: 1,
            sent_ns: now_ns(),
        };
        let text = wire::send_room(&stamp.client_id(), &room, &stamp.body(100));
        rec.sent.fetch_add(1, Relaxed);
        conn.sink.send(Message::text(text)).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut acked = 0;
    while acked < a.messages {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, acks_rx.recv()).await {
            Ok(Some((socket, seq))) => {
                book.acked(socket, 0, seq);
                acked += 1;
            }
            _ => bail!("only {acked} of {} messages were acknowledged", a.messages),
        }
    }
    fleet::drain(&rec, true, Duration::from_secs_f64(a.drain_secs)).await;
    let posted = rec.counts();
    let posted_clean = posted.lost() == 0 && posted.duplicates == 0 && posted.errors == 0;
    println!(
        "messages posted: {} acknowledged (seqs {:?}), {} of {} deliveries\n",
        posted.acks,
        book.live(0),
        posted.unique,
        posted.expected
    );

    let changes = rec.changes();
    let before = changes.counts();
    changes.take_latency();
    let usage = Usage::start(common.proc());
    let mut pacer = Pacer::new(a.rate);
    let mut tick = fleet::ticker();
    let mut rng = Rng::new(a.seed);
    let mut seqs: HashMap<usize, u64> = HashMap::new();
    let mut kinds: HashMap<Kind, u64> = HashMap::new();
    // Sockets the server closed (e.g. 4008, a receiver that fell behind):
    // they send nothing more; their loss shows in the counts.
    let mut closed = vec![false; a.members];
    let mut send_failures = 0u64;
    let duration = Duration::from_secs_f64(a.secs);
    let start = Instant::now();
    while start.elapsed() < duration {
        tick.tick().await;
        for _ in 0..pacer.due() {
            let user = rng.below(users);
            let c = user * spu;
            if closed[c] {
                continue;
            }
            let Some(planned) = book.plan(&mut rng, Want::Toggle, c, user, 0) else {
                bail!("no message to react to");
            };
            let seq = seqs.entry(c).or_insert(0);
            *seq += 1;
            let stamp = Stamp {
                publisher: c as u32,
                stream: 0,
                seq: *seq,
                sent_ns: now_ns(),
            };
            let text = wire::change_room(
                &stamp.change_client_id(),
                &room,
                planned.target,
                planned.op(""),
            );
            if conns[c].sink.send(Message::text(text)).await.is_err() {
                closed[c] = true;
                send_failures += 1;
                continue;
            }
            *kinds.entry(planned.kind).or_insert(0) += 1;
            changes.sent.fetch_add(1, Relaxed);
        }
    }
    let window = start.elapsed();
    let at_end = changes.counts();
    fleet::drain(&rec, true, Duration::from_secs_f64(a.drain_secs)).await;
    let (cpu, rss) = usage.finish();
    let ch = changes.counts() - before;
    let h = changes.take_latency();
    let per_sec = (at_end.delivered - before.delivered) as f64 / window.as_secs_f64();
    let closes = rec.closes();
    let clean = posted_clean && changes_clean(&ch) && closes.is_empty() && send_failures == 0;

    println!(
        "sent: {} react, {} unreact ({} reactions in place at the end); offered {:.0} deliveries/s ({} × {})\n",
        kinds.get(&Kind::React).copied().unwrap_or(0),
        kinds.get(&Kind::Unreact).copied().unwrap_or(0),
        book.reactions_in_place(),
        a.rate * others as f64,
        a.rate,
        others
    );
    println!("{}", change_table(&ch, per_sec, &h).render());
    let mut usage_table = Table::new(&[CPU_COLUMN, "server RSS peak"]);
    usage_table.row(vec![
        cpu.describe(),
        opt(rss.map(|r| format!("{:.1} MiB", r as f64 / 1024.0))),
    ]);
    println!("{}", usage_table.render());
    rec.print_problems();
    for e in changes.first_errors() {
        println!("first refused changes: {e}");
    }
    if !closes.is_empty() {
        println!(
            "sockets closed during the run: {closes:?}; {send_failures} reactions not sent (their socket was closed)"
        );
    }
    let mut summary = Table::new(&["metric", "measured", "target", "verdict"]);
    summary.row(vec![
        "delivered changes/s".into(),
        format!("{per_sec:.0} of {:.0} offered", a.rate * others as f64),
        "all offered".into(),
        verdict(ch.lost() == 0).into(),
    ]);
    summary.row(vec![
        "delivery latency p50 / p99 / max".into(),
        format!(
            "{} / {} / {}",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        ),
        "reported".into(),
        "-".into(),
    ]);
    summary.row(vec![
        "lost / duplicated / reordered".into(),
        format!("{} / {} / {}", ch.lost(), ch.duplicates, ch.reordered),
        "0 / 0 / 0".into(),
        verdict(ch.lost() == 0 && ch.duplicates == 0 && ch.reordered == 0).into(),
    ]);
    summary.row(vec![
        "refused".into(),
        format!("{} error frames, {} internal", ch.errors, ch.refused),
        "0".into(),
        verdict(ch.errors == 0 && ch.refused == 0).into(),
    ]);
    println!("{}", summary.render());
    drop(conns);
    Ok(Outcome { clean })
}
