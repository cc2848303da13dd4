//! `loadgen`: load generator and benchmark driver for the Parley server.
//!
//! It speaks the native protocol (`/api/ws`, signed in over HTTP) and the
//! seed-compatible endpoints (`/ws`, `/ws/{name}`), opens many sockets from
//! `127.0.0.x` source addresses, stamps every message with its publisher,
//! stream, sequence and send time, and reports deliveries per second,
//! latency percentiles (HdrHistogram), loss, duplicates and reordering, and
//! the server's RSS and CPU from `/proc/PID`.
//!
//! Every run is bounded in time (`--max-secs`) and in count, and talks to
//! loopback addresses only. `docs/benchmarks.md` has the commands and the
//! measured results.

mod changes;
mod fleet;
mod net;
mod payload;
mod scenario;
mod stats;
mod wire;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Load generator for the Parley chat server (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Scenarios 1 and 6: one room, many members, rising publish rates
    /// (with --slow-percent: members that stop reading).
    Fanout(scenario::fanout::FanoutArgs),
    /// Scenario 2: many rooms of a few members, plus direct messages
    /// (with --change-share: edits, deletes and reactions too).
    Rooms(scenario::rooms::RoomsArgs),
    /// Reaction storm: one room of many members, reactions to a few
    /// messages at a fixed rate, every member receiving every change.
    Reactions(scenario::reactions::ReactionsArgs),
    /// Scenario 3: many idle connections held open; server memory and CPU.
    Idle(scenario::idle::IdleArgs),
    /// Scenario 4: signed-in users opening sockets as fast as they can.
    Storm(scenario::storm::StormArgs),
    /// The room directory: 10,000 public rooms, first page and searches.
    Directory(scenario::directory::DirectoryArgs),
    /// Scenario 5: messages stored and acknowledged per second.
    Store(scenario::store::StoreArgs),
    /// Full-text search: a million messages of English and Chinese stored
    /// and indexed through the server's store (no server process), then
    /// searched; latency per kind of query, and the index's size.
    Search(scenario::search::SearchArgs),
    /// Long-polling against WebSocket: one room of 1,000 clients, the same
    /// send rate over `/api/poll` and over `/api/ws`, each on a server it
    /// starts; deliveries/s, latency, server CPU, RSS per client, loss.
    Longpoll(scenario::longpoll::LongpollArgs),
    /// CI check: start a server, run small versions of scenarios 1 and 2,
    /// fail on any loss, duplicate or reordering.
    Smoke(scenario::smoke::SmokeArgs),
}

fn main() -> ExitCode {
    payload::start_clock();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command));
    // Do not wait for sockets' tasks: everything measured is reported.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("loadgen: the run saw loss, duplicates, reordering or errors");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<bool> {
    let (common, fut): (Option<fleet::Common>, _) = match command {
        Command::Fanout(a) => (Some(a.common.clone()), boxed(scenario::fanout::run(a))),
        Command::Rooms(a) => (Some(a.common.clone()), boxed(scenario::rooms::run(a))),
        Command::Reactions(a) => (Some(a.common.clone()), boxed(scenario::reactions::run(a))),
        Command::Idle(a) => (Some(a.common.clone()), boxed(scenario::idle::run(a))),
        Command::Storm(a) => (Some(a.common.clone()), boxed(scenario::storm::run(a))),
        Command::Store(a) => (Some(a.common.clone()), boxed(scenario::store::run(a))),
        Command::Directory(a) => (Some(a.common.clone()), boxed(scenario::directory::run(a))),
        Command::Smoke(a) => {
            let limit = a.max_secs;
            return bounded(limit, scenario::smoke::run(a)).await;
        }
        Command::Longpoll(a) => {
            let limit = a.max_secs;
            return bounded(limit, scenario::longpoll::run(a)).await;
        }
        Command::Search(a) => {
            let limit = a.max_secs;
            return bounded(limit, scenario::search::run(a)).await;
        }
    };
    let common = common.expect("every scenario has common options");
    for addr in &common.addrs {
        net::check_loopback(addr)?;
    }
    bounded(common.max_secs, fut).await
}

type Boxed = std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool>> + Send>>;

fn boxed<F>(f: F) -> Boxed
where
    F: std::future::Future<Output = Result<scenario::fanout::Outcome>> + Send + 'static,
{
    Box::pin(async move { f.await.map(|o| o.clean) })
}

async fn bounded<F: std::future::Future<Output = Result<bool>>>(secs: u64, f: F) -> Result<bool> {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(r) => r,
        Err(_) => anyhow::bail!("the run did not finish within --max-secs {secs}"),
    }
}
