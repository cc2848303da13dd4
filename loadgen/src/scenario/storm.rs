//! Scenario 4: signed-in users opening sockets as fast as they can.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;

use super::fanout::Outcome;
use crate::fleet::{self, Common, Names, Proto, Recipients, Setup};
use crate::stats::{histogram, ms, opt, verdict, Recorder, Table, Usage};

#[derive(Args, Debug, Clone)]
pub struct StormArgs {
    #[command(flatten)]
    pub common: Common,
    /// Sockets to open (the open-file limit here is 20,000 per process).
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Users signed in beforehand; the sockets are spread over them.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Socket openings in flight at once.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
}

pub async fn run(a: StormArgs) -> Result<Outcome> {
    let mut common = a.common.clone();
    let http = crate::net::http_client()?;
    let names = Names::new(&common);
    let rec = Recorder::new();
    let recipients: Recipients = Arc::new(|_, _| 0);
    let users = a.users.clamp(1, a.connections.max(1));
    let all: Vec<String> = (0..users).map(|u| names.user(u)).collect();
    let cookies = fleet::sign_in_all(&common, &http, &all).await?;
    // Each user's first socket announces them online; open those first so
    // that the storm itself is sockets of users who are already online.
    let setup = |c: usize| Setup {
        idx: c,
        path: "/api/ws".into(),
        cookie: Some(cookies[&all[c % users]].clone()),
        room: None,
        read: true,
        proto: Proto::Native,
    };
    let first = (0..users).map(setup).collect();
    let mut conns = fleet::open_all(&common, first, &rec, &recipients, "first sockets").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    common.connect_concurrency = a.concurrency;
    let storm: Vec<Setup> = (users..users + a.connections).map(setup).collect();
    let usage = Usage::start(common.proc());
    let start = Instant::now();
    let opened = fleet::open_all(&common, storm, &rec, &recipients, "storm").await?;
    let elapsed = start.elapsed();
    let (cpu, rss) = usage.finish();
    let mut upgrade = histogram();
    let mut ready = histogram();
    for c in &opened {
        if let Some(t) = c.timing {
            upgrade.saturating_record(t.upgrade.as_micros() as u64);
            ready.saturating_record(t.ready.as_micros() as u64);
        }
    }
    conns.extend(opened);
    let rate = a.connections as f64 / elapsed.as_secs_f64();

    println!(
        "\n## Connect storm: {} sockets of {} signed-in users, {} in flight\n",
        a.connections, users, a.concurrency
    );
    let mut t = Table::new(&["measure", "p50", "p99", "max"]);
    t.row(vec![
        "TCP connect + upgrade (101)".into(),
        ms(upgrade.value_at_quantile(0.5)),
        ms(upgrade.value_at_quantile(0.99)),
        ms(upgrade.max()),
    ]);
    t.row(vec![
        "… + hello → welcome → synced".into(),
        ms(ready.value_at_quantile(0.5)),
        ms(ready.value_at_quantile(0.99)),
        ms(ready.max()),
    ]);
    println!("{}", t.render());
    println!(
        "{} sockets ready in {elapsed:.2?}; CPU server / loadgen / other {}; server RSS peak {}\n",
        a.connections,
        cpu.describe(),
        opt(rss.map(|r| format!("{:.1} MiB", r as f64 / 1024.0)))
    );
    let mut summary = Table::new(&["metric", "measured", "target", "verdict"]);
    summary.row(vec![
        "upgrades/s (each socket through `synced`)".into(),
        format!("{rate:.0}"),
        "≥ 5,000".into(),
        verdict(rate >= 5000.0).into(),
    ]);
    println!("{}", summary.render());
    let clean = rec.closes().is_empty() && rec.counts().errors == 0;
    drop(conns);
    Ok(Outcome { clean })
}
