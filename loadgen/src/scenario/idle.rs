//! Scenario 3: hold many idle connections; measure the server's memory per
//! connection and its CPU while they idle (only pings flow).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;

use super::fanout::{FanProto, Outcome};
use crate::fleet::{self, Common, Names, Proto, Recipients, Setup};
use crate::stats::{self, opt, verdict, Recorder, Table, Usage};

#[derive(Args, Debug, Clone)]
pub struct IdleArgs {
    #[command(flatten)]
    pub common: Common,
    /// `native` (signed-in `/api/ws`) or `group` (the seed's `/ws`).
    #[arg(long, value_enum, default_value = "native")]
    pub protocol: FanProto,
    /// Connections to hold (the open-file limit here is 20,000 per process).
    #[arg(long, default_value_t = 19_000)]
    pub connections: usize,
    /// Distinct users the native sockets belong to.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Seconds to hold them once all are open.
    #[arg(long, default_value_t = 60.0)]
    pub hold_secs: f64,
    /// Seconds to wait after the last socket opened before measuring.
    #[arg(long, default_value_t = 5.0)]
    pub settle_secs: f64,
}

pub async fn run(a: IdleArgs) -> Result<Outcome> {
    let common = &a.common;
    let Some(proc) = common.proc() else {
        bail!("idle needs --server-pid to read the server's memory and CPU");
    };
    let http = crate::net::http_client()?;
    let names = Names::new(common);
    let rec = Recorder::new();
    let recipients: Recipients = Arc::new(|_, _| 0);
    let native = a.protocol == FanProto::Native;
    let users = a.users.clamp(1, a.connections.max(1));
    let cookies = if native {
        let all: Vec<String> = (0..users).map(|u| names.user(u)).collect();
        Some((fleet::sign_in_all(common, &http, &all).await?, all))
    } else {
        None
    };
    // Let the sign-ins' memory settle before the baseline.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = proc.rss_kib().unwrap_or(0);
    let setup = |c: usize| Setup {
        idx: c,
        path: if native {
            "/api/ws".into()
        } else {
            "/ws".into()
        },
        cookie: cookies
            .as_ref()
            .map(|(cookies, all)| cookies[&all[c % users]].clone()),
        room: None,
        read: true,
        proto: if native { Proto::Native } else { Proto::Group },
    };
    let start = Instant::now();
    // Every user's first socket first (each announces the user online to
    // every open socket), then the rest.
    let first = (0..users.min(a.connections)).map(setup).collect();
    let mut conns = fleet::open_all(common, first, &rec, &recipients, "first sockets").await?;
    let rest = (users.min(a.connections)..a.connections)
        .map(setup)
        .collect();
    conns.extend(fleet::open_all(common, rest, &rec, &recipients, "sockets").await?);
    let open_time = start.elapsed();
    tokio::time::sleep(Duration::from_secs_f64(a.settle_secs)).await;
    let rss_open = proc.rss_kib().unwrap_or(0);
    let usage = Usage::start(Some(proc.clone()));
    let hold_start = Instant::now();
    let mut peak = rss_open;
    while hold_start.elapsed() < Duration::from_secs_f64(a.hold_secs) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak = peak.max(proc.rss_kib().unwrap_or(0));
    }
    let held = hold_start.elapsed().as_secs_f64();
    let (split, _) = usage.finish();
    let cpu = split.server;
    let rss_end = proc.rss_kib().unwrap_or(0);
    let closes = rec.closes();
    let still_open = a.connections as u64 - closes.values().sum::<u64>();
    let per_conn = (rss_end.saturating_sub(rss_before)) as f64 / a.connections as f64;

    println!(
        "\n## Idle capacity: {} connections ({}), held {:.0} s\n",
        a.connections,
        if native {
            format!("native, {users} users")
        } else {
            "seed /ws".to_string()
        },
        held
    );
    let mut t = Table::new(&["measure", "value"]);
    t.row(vec!["sockets opened in".into(), format!("{open_time:.1?}")]);
    t.row(vec![
        "server RSS before / all open / end of hold / peak".into(),
        format!(
            "{:.1} / {:.1} / {:.1} / {:.1} MiB",
            rss_before as f64 / 1024.0,
            rss_open as f64 / 1024.0,
            rss_end as f64 / 1024.0,
            peak as f64 / 1024.0
        ),
    ]);
    t.row(vec![
        format!("{} while held", stats::CPU_COLUMN),
        split.describe(),
    ]);
    t.row(vec![
        "still open at the end".into(),
        format!("{still_open} (closed: {closes:?})"),
    ]);
    println!("{}", t.render());
    let mut summary = Table::new(&["metric", "measured", "target", "verdict"]);
    summary.row(vec![
        "server RSS per connection".into(),
        format!("{per_conn:.1} KiB"),
        "≤ 4 KiB".into(),
        verdict(per_conn <= 4.0).into(),
    ]);
    summary.row(vec![
        "server CPU while idle (pings only)".into(),
        opt(cpu.map(|c| format!("{c:.2}% of a core"))),
        "≈ 0".into(),
        verdict(cpu.is_some_and(|c| c < 2.0)).into(),
    ]);
    summary.row(vec![
        "connections held".into(),
        format!("{still_open} of {}", a.connections),
        format!("{}", a.connections),
        verdict(still_open == a.connections as u64).into(),
    ]);
    println!("{}", summary.render());
    drop(conns);
    Ok(Outcome {
        clean: still_open == a.connections as u64,
    })
}
