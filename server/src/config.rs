//! Command-line flags, each with an environment variable and a default.

use std::net::SocketAddr;

use clap::Parser;

pub use crate::store::SqliteSync;

#[derive(Parser, Debug, Clone)]
#[command(name = "server", version, about = "Parley: a real-time chat server")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Folder with the built site (wasm, JS, CSS) from `cargo leptos build`.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,

    /// Database to use. `sqlite://FILE` (created on first run).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://chat.db")]
    pub database_url: String,

    /// SQLite's `synchronous` setting. `full` (the default): a message is
    /// acknowledged only once it would survive a power cut (an fsync per
    /// commit). `normal`: it survives the server or its process crashing,
    /// but the last commits before a power cut or OS crash may be lost; a
    /// commit then waits for no disk. (Ignored for PostgreSQL.)
    #[arg(long, env = "SQLITE_SYNCHRONOUS", value_enum, default_value_t = SqliteSync::Full)]
    pub sqlite_synchronous: SqliteSync,

    /// Serve the seed document's guest endpoints `/ws` and `/ws/{username}`.
    #[arg(long, env = "SEED_ENDPOINTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed_endpoints: bool,

    /// Keep the full-text search index: every message indexed in the
    /// transaction that stores it. `false`: messages are stored without
    /// index rows (edits and deletes only remove rows), older messages are
    /// not indexed in the background, and `search` frames are refused
    /// (`not_permitted`). Messages stored while it is off are not found
    /// after it is turned on again.
    #[arg(long, env = "SEARCH_INDEX", default_value_t = true, action = clap::ArgAction::Set)]
    pub search_index: bool,

    /// Serve the long-polling transport (`/api/poll`), for browsers whose
    /// network breaks WebSocket upgrades.
    #[arg(long, env = "LONG_POLLING", default_value_t = true, action = clap::ArgAction::Set)]
    pub long_polling: bool,

    /// Seconds a long-poll `GET` is held open while there is nothing new.
    #[arg(long, env = "POLL_HOLD_SECS", default_value_t = 25.0)]
    pub poll_hold_secs: f64,

    /// Seconds after its last request before a long-polling tab is
    /// forgotten on a node (its presence there ends).
    #[arg(long, env = "POLL_IDLE_SECS", default_value_t = 40.0)]
    pub poll_idle_secs: f64,

    /// Messages a connection's outbound queue holds before the connection
    /// is closed as a slow consumer (it can reconnect and resume).
    #[arg(long, env = "OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,

    /// Mark the session cookie `Secure` (set when served over HTTPS).
    #[arg(long, env = "SECURE_COOKIES", default_value_t = false, action = clap::ArgAction::Set)]
    pub secure_cookies: bool,

    /// How long a sign-in lasts, in seconds (default 30 days). Connections
    /// of an expired session are closed with 4001 within a second.
    #[arg(long, env = "SESSION_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    pub session_ttl_secs: i64,

    /// Origins allowed to open `/api/ws`, comma-separated and compared
    /// exactly (scheme, host and port). Empty: only the server's own origin
    /// (the request's `Host`).
    #[arg(
        long,
        env = "ALLOWED_ORIGINS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub allowed_origins: Vec<String>,

    /// Largest WebSocket message a client may send, in bytes (close 1009).
    #[arg(long, env = "MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,

    /// Frames per second a connection may send on average.
    #[arg(long, env = "RATE_PER_SEC", default_value_t = 20.0)]
    pub rate_per_sec: f64,

    /// Frames a connection may send in a burst.
    #[arg(long, env = "RATE_BURST", default_value_t = 40.0)]
    pub rate_burst: f64,

    /// Frames over the rate a connection may send before it is closed (1008).
    #[arg(long, env = "RATE_ABUSE_LIMIT", default_value_t = 100)]
    pub rate_abuse_limit: u32,

    /// Open WebSocket connections per user.
    #[arg(long, env = "MAX_CONNECTIONS_PER_USER", default_value_t = 32)]
    pub max_connections_per_user: usize,

    /// Open WebSocket connections per client IP address.
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value_t = 1000)]
    pub max_connections_per_ip: usize,

    /// Rooms one user may be in (the lobby included).
    #[arg(long, env = "MAX_ROOMS_PER_USER", default_value_t = 200)]
    pub max_rooms_per_user: u32,

    /// Longest new user, room or guest name (at most 32, the protocol's
    /// limit); existing longer names keep working.
    #[arg(long, env = "MAX_NAME_LEN", default_value_t = 32)]
    pub max_name_len: usize,

    /// Sign-in attempts per name per minute (429 beyond).
    #[arg(long, env = "SIGNIN_PER_NAME_PER_MIN", default_value_t = 10)]
    pub signin_per_name_per_min: u32,

    /// Sign-in attempts per IP address per minute (429 beyond).
    #[arg(long, env = "SIGNIN_PER_IP_PER_MIN", default_value_t = 60)]
    pub signin_per_ip_per_min: u32,

    /// Bytes a connection's outbound queue may hold before it is closed as
    /// a slow consumer (4008).
    #[arg(long, env = "OUTBOUND_QUEUE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub outbound_queue_bytes: usize,

    /// Seconds between server pings on every WebSocket.
    #[arg(long, env = "PING_INTERVAL_SECS", default_value_t = 25.0)]
    pub ping_interval_secs: f64,

    /// Redis for cluster mode (`redis://127.0.0.1:6379`): nodes relay to
    /// each other through it. Use with a shared PostgreSQL store.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// This node's name in the cluster (default: random).
    #[arg(long, env = "NODE_ID")]
    pub node_id: Option<String>,

    /// Seconds a node's presence lives in Redis without a refresh; a dead
    /// node's users go offline within this plus a third of it.
    #[arg(long, env = "PRESENCE_TTL_SECS", default_value_t = 15.0)]
    pub presence_ttl_secs: f64,

    /// Seconds a connection has to answer a ping before it is closed.
    #[arg(long, env = "PING_TIMEOUT_SECS", default_value_t = 10.0)]
    pub ping_timeout_secs: f64,

    /// Server admins, by user name, comma-separated: they moderate every
    /// room (as its owner would) and may open `/admin`.
    #[arg(long, env = "ADMINS", value_delimiter = ',', default_value = "")]
    pub admins: Vec<String>,
}

impl Config {
    /// Is `name` acceptable as a new user, room or guest name here?
    pub fn new_name_ok(&self, name: &str) -> bool {
        app::protocol::valid_name(name) && name.len() <= self.max_name_len
    }

    /// Is this user a server admin?
    pub fn is_admin(&self, name: &str) -> bool {
        self.admins
            .iter()
            .any(|admin| !admin.is_empty() && admin.eq_ignore_ascii_case(name))
    }

    /// Defaults for tests and embedding: everything as if no flag was given.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let mut config = Config::parse_from(["server"]);
        config.database_url = database_url.into();
        config.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }
}
