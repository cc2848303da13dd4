//! The room directory at scale: `--rooms` public rooms (10,000 by
//! default) with topics, then one reader asking for the directory's first
//! page and for searches by name and by topic, one request at a time, each
//! timed from the frame sent to the answer received. Targets: first page
//! and search each answer within 20 ms at p95.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::fanout::Outcome;
use crate::fleet::{self, Common, Names, Rng};
use crate::net::{self, Ws};
use crate::stats::{histogram, ms, verdict, Table, Usage, CPU_COLUMN};

#[derive(Args, Debug, Clone)]
pub struct DirectoryArgs {
    #[command(flatten)]
    pub common: Common,
    /// Public rooms to create.
    #[arg(long, default_value_t = 10_000)]
    pub rooms: usize,
    /// Users creating them (the server lets one user be in 200 rooms, the
    /// lobby included: each creates at most 190).
    #[arg(long, default_value_t = 50)]
    pub creators: usize,
    /// Requests of each kind (first page, search by name, search by topic).
    #[arg(long, default_value_t = 1_000)]
    pub requests: usize,
}

/// Topic words; a search for one matches about a twentieth of the rooms.
const WORDS: [&str; 20] = [
    "rust",
    "design",
    "support",
    "music",
    "garden",
    "hiking",
    "books",
    "cinema",
    "chess",
    "coffee",
    "travel",
    "photo",
    "games",
    "science",
    "cooking",
    "running",
    "jazz",
    "讨论",
    "日本語",
    "café",
];

fn topic(i: usize) -> String {
    format!(
        "{} and {} talk, room {i}",
        WORDS[i % WORDS.len()],
        WORDS[(i / WORDS.len()) % WORDS.len()]
    )
}

fn create_frame(room: &str, topic: &str) -> String {
    serde_json::json!({"type": "create_room", "room": room, "topic": topic}).to_string()
}

fn directory_frame(query: &str) -> String {
    serde_json::json!({"type": "directory", "query": query}).to_string()
}

/// Send `text`; wait for the answer of type `kind` (failing on an error).
async fn ask(ws: &mut Ws, text: String, kind: &str) -> Result<serde_json::Value> {
    ws.send(Message::text(text)).await?;
    let deadline = tokio::time::Instant::now() + net::STEP_TIMEOUT;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| anyhow!("no `{kind}` answer in time"))?;
        let Some(Ok(Message::Text(text))) = next else {
            match next {
                Some(Ok(_)) => continue,
                _ => bail!("connection ended waiting for `{kind}`"),
            }
        };
        let value: serde_json::Value = serde_json::from_str(&text)?;
        match value.get("type").and_then(|t| t.as_str()) {
            Some(t) if t == kind => return Ok(value),
            Some("error") => bail!("refused: {text}"),
            _ => {}
        }
    }
}

pub async fn run(a: DirectoryArgs) -> Result<Outcome> {
    let common = &a.common;
    let server = common.addr();
    let http = net::http_client()?;
    let names = Names::new(common);
    let creators = a.creators.max(a.rooms.div_ceil(190)).max(1);
    let mut users: Vec<String> = (0..creators).map(|u| names.user(u)).collect();
    users.push(names.user(creators));
    let cookies = fleet::sign_in_all(common, &http, &users).await?;

    let started = Instant::now();
    let per = a.rooms.div_ceil(creators);
    let jobs: Vec<(usize, String)> = (0..creators)
        .map(|c| (c, cookies[&users[c]].clone()))
        .collect();
    let run = names.run.clone();
    let total = a.rooms;
    fleet::for_each_bounded(
        jobs,
        common.connect_concurrency,
        "creators",
        move |(c, cookie)| {
            let run = run.clone();
            let room_name = move |i: usize| format!("{run}d{i:05}");
            async move {
                let (mut ws, _) = net::open_native(server, c, &cookie).await?;
                for i in (c * per)..((c + 1) * per).min(total) {
                    ask(&mut ws, create_frame(&room_name(i), &topic(i)), "joined").await?;
                }
                Ok(())
            }
        },
    )
    .await?;
    let created = started.elapsed();

    let (mut ws, _) = net::open_native(server, creators, &cookies[&users[creators]]).await?;
    let usage = Usage::start(common.proc());
    let mut first = histogram();
    let mut by_name = histogram();
    let mut by_topic = histogram();
    let mut rng = Rng::new(7);
    let mut wrong = 0u64;
    for n in 0..a.requests {
        for (kind, hist) in [(0, &mut first), (1, &mut by_name), (2, &mut by_topic)] {
            let query = match kind {
                0 => String::new(),
                // A name prefix matching ten rooms.
                1 => format!("d{:04}", rng.below(a.rooms.div_ceil(10).max(1))),
                _ => WORDS[(n + rng.below(WORDS.len())) % WORDS.len()].to_string(),
            };
            let t0 = Instant::now();
            let answer = ask(&mut ws, directory_frame(&query), "directory").await?;
            hist.saturating_record(t0.elapsed().as_micros() as u64);
            let found = answer
                .get("rooms")
                .and_then(|r| r.as_array())
                .map_or(0, Vec::len);
            if found == 0 || (kind == 0 && found != 50) {
                wrong += 1;
            }
        }
    }
    let (cpu, rss) = usage.finish();

    println!(
        "\n## Room directory: {} public rooms (created in {:.1} s), {} requests of each kind, one at a time\n",
        a.rooms,
        created.as_secs_f64(),
        a.requests
    );
    let mut t = Table::new(&[
        "request",
        "p50",
        "p95",
        "p99",
        "max",
        CPU_COLUMN,
        "server RSS peak",
    ]);
    for (what, h) in [
        ("first page (50 rooms)", &first),
        ("search by name", &by_name),
        ("search by topic", &by_topic),
    ] {
        t.row(vec![
            what.into(),
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.95)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
            cpu.describe(),
            rss.map_or("n/a".into(), |r| format!("{:.1} MiB", r as f64 / 1024.0)),
        ]);
    }
    println!("{}", t.render());
    let target = Duration::from_millis(20).as_micros() as u64;
    let mut summary = Table::new(&["metric", "measured", "target", "verdict"]);
    let p95 = |h: &hdrhistogram::Histogram<u64>| h.value_at_quantile(0.95);
    let search = p95(&by_name).max(p95(&by_topic));
    summary.row(vec![
        "first page, p95".into(),
        ms(p95(&first)),
        "≤ 20 ms".into(),
        verdict(p95(&first) <= target).into(),
    ]);
    summary.row(vec![
        "search (name or topic), p95".into(),
        ms(search),
        "≤ 20 ms".into(),
        verdict(search <= target).into(),
    ]);
    summary.row(vec![
        "answers with the rooms expected".into(),
        format!("{} of {}", 3 * a.requests as u64 - wrong, 3 * a.requests),
        "all".into(),
        verdict(wrong == 0).into(),
    ]);
    println!("{}", summary.render());
    Ok(Outcome { clean: wrong == 0 })
}
