//! Parley's server: an axum app that serves the Leptos web app and relays
//! room and direct messages over WebSocket, storing every message first.
//!
//! Data flows one way: socket ([`conn`]) → protocol ([`app::protocol`]) →
//! relay ([`relay`], which stores through [`store`]) → fan-out ([`hub`]).

pub mod auth;
pub mod authz;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod http;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod names;
pub mod relay;
pub mod search;
pub mod state;
pub mod store;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use leptos::config::LeptosOptions;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use config::Config;
use hub::{Hub, CLOSE_GOING_AWAY};
use limits::AttemptLimiter;
use relay::Relay;
use state::{AppState, Shared};
use store::{Store, StoreError};

const MINUTE: Duration = Duration::from_secs(60);
/// Display-name changes a user may make per minute.
const PROFILE_CHANGES_PER_MIN: u32 = 5;
/// Connections the kernel queues before the server accepts them.
const ACCEPT_BACKLOG: u32 = 8192;
/// How often sessions that expired are looked for among open connections.
const EXPIRY_SWEEP: Duration = Duration::from_secs(1);

/// Submissions the relay queue holds before senders wait.
const RELAY_QUEUE: usize = 8192;
/// How long shutdown waits for connections to close and the relay to drain.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("opening the database failed: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on the address: {0}")]
    Bind(#[from] std::io::Error),
    #[error("bad Redis URL: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A running server.
pub struct Server {
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    /// Stop gracefully: stop accepting, close every socket with 1001, store
    /// and deliver what was already submitted, then close the database.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }

    /// Run until SIGINT or SIGTERM, then shut down gracefully.
    pub async fn run_until_signal(self) {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

/// Open the store, bind the address and start serving.
pub async fn start(config: Config) -> Result<Server, StartError> {
    let mut store = Store::open_with(&config.database_url, config.sqlite_synchronous).await?;
    store.set_search_index(config.search_index);
    let hub = Hub::new();
    for (conv_id, user_id, until) in store.active_mutes(store::now_ms()).await? {
        hub.set_mute(conv_id, user_id, Some(until));
    }
    for (user, blocked) in store.all_blocks().await? {
        hub.set_block(user, blocked, true);
    }
    for conv_id in store.archived_rooms().await? {
        hub.set_archived(conv_id, true);
    }
    for (user, display) in store.custom_display_names().await? {
        hub.displays.set(&user, &display);
    }
    if config.search_index {
        tokio::spawn(search::catch_up(store.clone()));
    } else {
        tracing::info!("search index off (--search-index false): nothing is indexed");
    }
    let metrics = Arc::new(metrics::Metrics::default());
    let mut cluster_tasks = Vec::new();
    if let Some(url) = &config.redis_url {
        let node = config
            .node_id
            .clone()
            .unwrap_or_else(|| hex::encode(rand::random::<[u8; 4]>()));
        let ttl = Duration::from_secs_f64(config.presence_ttl_secs.max(0.3));
        let timing = cluster::PresenceTiming {
            ttl,
            interval: ttl / 3,
        };
        let (_link, tasks) = cluster::start(
            url,
            node.clone(),
            hub.clone(),
            store.clone(),
            metrics.clone(),
            timing,
        )?;
        tracing::info!(node, "cluster mode: relaying through Redis");
        cluster_tasks = tasks;
    }
    let (relay, relay_task) =
        Relay::start(store.clone(), hub.clone(), metrics.clone(), RELAY_QUEUE);
    let listener = listen(config.addr)?;
    let addr = listener.local_addr()?;
    let state = AppState::new(Shared {
        leptos: leptos_options(&config, addr),
        store,
        hub,
        relay,
        connections: TaskTracker::new(),
        metrics,
        signins_by_name: Arc::new(AttemptLimiter::new(config.signin_per_name_per_min, MINUTE)),
        signins_by_ip: Arc::new(AttemptLimiter::new(config.signin_per_ip_per_min, MINUTE)),
        profile_changes: Arc::new(AttemptLimiter::new(PROFILE_CHANGES_PER_MIN, MINUTE)),
        polls: Arc::default(),
        config: Arc::new(config),
    });
    let stop = CancellationToken::new();
    let stop_serving = stop.clone();
    let task = tokio::spawn(async move {
        serve(listener, state, relay_task, stop_serving).await;
        for task in cluster_tasks {
            task.abort();
        }
    });
    Ok(Server { addr, stop, task })
}

/// Bind with a deep accept queue: a burst of connections (everyone
/// reconnecting after a restart) must not overflow it and wait for SYN
/// retransmits.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

async fn serve(
    listener: TcpListener,
    state: AppState,
    relay_task: JoinHandle<()>,
    stop: CancellationToken,
) {
    let router = http::router(state.clone());
    let sweeper = tokio::spawn(sweep_expired(state.hub.clone()));
    let poll_sweeper = tokio::spawn(sweep_polls(
        state.polls.clone(),
        Duration::from_secs_f64(state.config.poll_idle_secs.max(0.1)),
    ));
    let hub = state.hub.clone();
    let graceful = async move {
        stop.cancelled().await;
        hub.close_all(CLOSE_GOING_AWAY, "server shutting down");
    };
    http::serve::serve(listener, router, graceful).await;
    sweeper.abort();
    poll_sweeper.abort();
    // Long-polling tabs hold the relay (through their handlers): forgotten
    // here, as their clients would be by the sweep.
    state.polls.clear();
    // Upgraded sockets outlive the HTTP server: wait for them to close.
    state
        .hub
        .close_all(CLOSE_GOING_AWAY, "server shutting down");
    state.connections.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, state.connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close in time");
    }
    let store = state.store.clone();
    // The relay ends once the last handle to it is gone, after its last batch.
    drop(state);
    if tokio::time::timeout(DRAIN_TIMEOUT, relay_task)
        .await
        .is_err()
    {
        tracing::warn!("the relay did not drain in time");
    }
    store.close().await;
}

/// Close connections whose session expired, within [`EXPIRY_SWEEP`].
async fn sweep_expired(hub: Arc<Hub>) {
    let mut tick = tokio::time::interval(EXPIRY_SWEEP);
    loop {
        tick.tick().await;
        hub.close_expired(store::now_ms());
    }
}

/// Forget long-polling tabs idle for `idle`, checking four times as often.
async fn sweep_polls(polls: Arc<conn::poll::Polls>, idle: Duration) {
    let mut tick = tokio::time::interval((idle / 4).min(Duration::from_secs(5)));
    loop {
        tick.tick().await;
        let gone = polls.sweep(idle);
        if gone > 0 {
            tracing::debug!(gone, "forgot idle long-polling tabs");
        }
    }
}

fn leptos_options(config: &Config, addr: SocketAddr) -> LeptosOptions {
    let built_by_cargo_leptos = option_env!("LEPTOS_OUTPUT_NAME").is_some()
        || std::env::var_os("LEPTOS_OUTPUT_NAME").is_some();
    let mut options = if built_by_cargo_leptos {
        leptos::config::get_configuration(None)
            .map(|conf| conf.leptos_options)
            .unwrap_or_else(|_| LeptosOptions::builder().output_name("parley").build())
    } else {
        LeptosOptions::builder().output_name("parley").build()
    };
    options.site_addr = addr;
    options.site_root = config.site_root.as_str().into();
    options
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
