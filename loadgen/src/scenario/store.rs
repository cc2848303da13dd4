//! Scenario 5: messages accepted, committed to SQLite and acknowledged.
//!
//! Each connection is its own user writing to its own one-member room (so
//! nothing is fanned out) and keeps `--window` sends in flight: a new one
//! goes out per ack. The server acknowledges only after the commit, so acks
//! per second is committed messages per second. At the end every room's
//! newest stored `seq` (asked with `history`) must equal its acks.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::fanout::Outcome;
use crate::fleet::{self, Common, Names};
use crate::net::{self, Ws};
use crate::payload::{now_ns, Stamp};
use crate::stats::{self, histogram, ms, opt, verdict, Table, Usage};
use crate::wire::{self, classify, Incoming};

#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    #[command(flatten)]
    pub common: Common,
    /// Writers (each its own user, socket and room).
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    /// Sends each writer keeps in flight.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Seconds of sending.
    #[arg(long, default_value_t = 20.0)]
    pub secs: f64,
    #[arg(long, default_value_t = 100)]
    pub body_bytes: usize,
}

struct Writer {
    ws: Ws,
    id: u32,
    room: String,
    /// The room's seq before the first send (its "created" line).
    base: i64,
}

#[derive(Default)]
struct Tally {
    sent: u64,
    acked: u64,
    /// Acks whose `seq` was not the previous one + 1.
    out_of_order: u64,
    errors: u64,
    stored_seq: i64,
    /// The room's seq before the first send.
    base: i64,
    rtt: Option<hdrhistogram::Histogram<u64>>,
}

pub async fn run(a: StoreArgs) -> Result<Outcome> {
    let common = &a.common;
    let server = common.addr();
    let http = net::http_client()?;
    let names = Names::new(common);
    let all: Vec<String> = (0..a.connections).map(|u| names.user(u)).collect();
    let cookies = fleet::sign_in_all(common, &http, &all).await?;
    let setups: Vec<(usize, String, String)> = (0..a.connections)
        .map(|i| (i, cookies[&all[i]].clone(), names.room(i)))
        .collect();
    let writers = fleet::for_each_bounded(
        setups,
        common.connect_concurrency,
        "writers",
        move |(i, cookie, room)| async move {
            let (mut ws, _) = net::open_native(server, i, &cookie).await?;
            let base = net::enter_room(&mut ws, &room, true).await?;
            Ok(Writer {
                ws,
                id: i as u32 + 1,
                room,
                base,
            })
        },
    )
    .await?;
    let usage = Usage::start(common.proc());
    let start = Instant::now();
    let until = tokio::time::Instant::now() + Duration::from_secs_f64(a.secs);
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|w| tokio::spawn(write(w, a.window, a.body_bytes, until)))
        .collect();
    let mut total = Tally {
        rtt: Some(histogram()),
        ..Tally::default()
    };
    let mut mismatched = 0;
    for t in tasks {
        let tally = t.await??;
        total.sent += tally.sent;
        total.acked += tally.acked;
        total.out_of_order += tally.out_of_order;
        total.errors += tally.errors;
        if tally.stored_seq != tally.base + tally.acked as i64 {
            mismatched += 1;
        }
        if let (Some(all), Some(one)) = (total.rtt.as_mut(), tally.rtt.as_ref()) {
            let _ = all.add(one);
        }
    }
    let elapsed = start.elapsed();
    let (cpu, rss) = usage.finish();
    let rate = total.acked as f64 / elapsed.as_secs_f64();
    let rtt = total.rtt.unwrap_or_else(histogram);

    println!(
        "\n## Store throughput: {} writers × {} in flight, {} B bodies, {:.0} s\n",
        a.connections, a.window, a.body_bytes, a.secs
    );
    let mut t = Table::new(&[
        "sent",
        "acked",
        "acks/s",
        "ack p50",
        "ack p99",
        "ack max",
        "acks out of order",
        "rooms whose stored seq ≠ acks",
        "errors",
        stats::CPU_COLUMN,
        "server RSS peak",
    ]);
    t.row(vec![
        total.sent.to_string(),
        total.acked.to_string(),
        format!("{rate:.0}"),
        ms(rtt.value_at_quantile(0.5)),
        ms(rtt.value_at_quantile(0.99)),
        ms(rtt.max()),
        total.out_of_order.to_string(),
        mismatched.to_string(),
        total.errors.to_string(),
        cpu.describe(),
        opt(rss.map(|r| format!("{:.1} MiB", r as f64 / 1024.0))),
    ]);
    println!("{}", t.render());
    let mut summary = Table::new(&["metric", "measured", "target", "verdict"]);
    summary.row(vec![
        "messages committed and acknowledged per second".into(),
        format!("{rate:.0}"),
        "≥ 50,000".into(),
        verdict(rate >= 50_000.0).into(),
    ]);
    summary.row(vec![
        "every ack stored (newest seq = acks, per room)".into(),
        format!("{} of {} rooms", a.connections - mismatched, a.connections),
        "all".into(),
        verdict(mismatched == 0).into(),
    ]);
    println!("{}", summary.render());
    Ok(Outcome {
        clean: mismatched == 0 && total.errors == 0 && total.out_of_order == 0,
    })
}

async fn write(
    mut w: Writer,
    window: usize,
    body_bytes: usize,
    until: tokio::time::Instant,
) -> Result<Tally> {
    let mut tally = Tally {
        rtt: Some(histogram()),
        base: w.base,
        ..Tally::default()
    };
    let mut seq = 0u64;
    let send = |seq: u64| {
        let stamp = Stamp {
            publisher: w.id,
            stream: 0,
            seq,
            sent_ns: now_ns(),
        };
        Message::text(wire::send_room(
            &stamp.client_id(),
            &w.room,
            &stamp.body(body_bytes),
        ))
    };
    for _ in 0..window {
        seq += 1;
        w.ws.feed(send(seq)).await?;
    }
    w.ws.flush().await?;
    tally.sent = seq;
    let mut sent_at = std::collections::VecDeque::new();
    for _ in 0..window {
        sent_at.push_back(now_ns());
    }
    let mut last_seq = w.base;
    let deadline = until + Duration::from_secs(30);
    while tally.acked + tally.errors < tally.sent {
        let next = tokio::time::timeout_at(deadline, w.ws.next())
            .await
            .map_err(|_| anyhow!("acks did not arrive in time"))?;
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(c))) => bail!("closed by the server: {c:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("connection ended"),
        };
        match classify(&text) {
            Incoming::Ack { .. } => {
                tally.acked += 1;
                if let Some(t0) = sent_at.pop_front() {
                    if let Some(h) = tally.rtt.as_mut() {
                        h.saturating_record(now_ns().saturating_sub(t0) / 1000);
                    }
                }
                let v: serde_json::Value = serde_json::from_str(&text)?;
                let s = v.get("seq").and_then(|s| s.as_i64()).unwrap_or(-1);
                if s != last_seq + 1 {
                    tally.out_of_order += 1;
                }
                last_seq = s;
                if tokio::time::Instant::now() < until {
                    seq += 1;
                    tally.sent += 1;
                    sent_at.push_back(now_ns());
                    w.ws.send(send(seq)).await?;
                }
            }
            Incoming::Error { .. } => {
                tally.errors += 1;
                sent_at.pop_front();
            }
            _ => {}
        }
    }
    // What is stored: the room's newest message.
    w.ws.send(Message::text(wire::history_newest(&w.room)))
        .await?;
    loop {
        let next = tokio::time::timeout(net::STEP_TIMEOUT, w.ws.next())
            .await
            .map_err(|_| anyhow!("no history answer"))?;
        let Some(Ok(Message::Text(text))) = next else {
            bail!("connection ended before the history answer");
        };
        let v: serde_json::Value = serde_json::from_str(&text)?;
        if v.get("type").and_then(|t| t.as_str()) == Some("history") {
            tally.stored_seq = v
                .get("messages")
                .and_then(|m| m.as_array())
                .and_then(|m| m.last())
                .and_then(|m| m.get("seq"))
                .and_then(|s| s.as_i64())
                .unwrap_or(0);
            break;
        }
    }
    Ok(tally)
}
