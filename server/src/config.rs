//! Command-line flags, each with an environment variable and a default.

use std::net::SocketAddr;

use clap::Parser;

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

    /// Serve the seed document's guest endpoints `/ws` and `/ws/{username}`.
    #[arg(long, env = "SEED_ENDPOINTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed_endpoints: bool,

    /// Messages a connection's outbound queue holds before the connection
    /// is closed as a slow consumer (it can reconnect and resume).
    #[arg(long, env = "OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,

    /// Mark the session cookie `Secure` (set when served over HTTPS).
    #[arg(long, env = "SECURE_COOKIES", default_value_t = false, action = clap::ArgAction::Set)]
    pub secure_cookies: bool,

    /// How long a sign-in lasts, in hours.
    #[arg(long, env = "SESSION_HOURS", default_value_t = 24 * 30)]
    pub session_hours: i64,
}

impl Config {
    /// Defaults for tests and embedding: everything as if no flag was given.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let mut config = Config::parse_from(["server"]);
        config.database_url = database_url.into();
        config.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }
}
