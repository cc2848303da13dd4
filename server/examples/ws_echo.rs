//! A WebSocket echo server on the server's own WebSocket layer, for the
//! Autobahn testsuite (`scripts/autobahn.sh`) and nothing else: never part
//! of the served app (an example, so neither `cargo leptos` nor a release
//! build of the server includes it).
//!
//! It goes the same way as `/api/ws`: the accept loop of
//! `server::http::serve`, the handshake of `server::http::upgrade`, then a
//! `server::ws::Socket` driven from the connection's one task, echoing
//! every text message back.
//!
//! Binary messages are not echoed: the layer keeps no binary payload (the
//! chat protocol is JSON text; `ws::Message::Binary` carries no data), so
//! one is answered by closing with 1003 (unsupported data).
//!
//! ```text
//! cargo run -p server --example ws_echo -- [ADDR]    (default 127.0.0.1:9001)
//! ```
//!
//! Prints `listening on ADDR` once it accepts connections (with port 0,
//! the port the system chose); stops on SIGINT or SIGTERM.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::Duration;

use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use server::http::upgrade::{Upgraded, WebSocketUpgrade};
use server::ws::{End, Heartbeat, Message, Socket};

/// Large enough for the testsuite's biggest message (9.1.6: 16 MiB).
const MAX_MESSAGE: usize = 64 << 20;
/// No pings of our own in the middle of a test case; a peer that takes
/// nothing of what is written for a minute is dropped.
const HEARTBEAT: Heartbeat = Heartbeat {
    interval: Duration::from_secs(24 * 3600),
    timeout: Duration::from_secs(60),
};
/// Echoes waiting to be written past which no more messages are read
/// until the peer takes some.
const HIGH_WATER: usize = 4 << 20;
/// Close code: a message of a type this endpoint does not take.
const CLOSE_UNSUPPORTED: u16 = 1003;
/// Close code: this side failed (a stalled peer).
const CLOSE_SERVER_ERROR: u16 = 1011;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let addr: SocketAddr = match std::env::args().nth(1) {
        None => SocketAddr::from(([127, 0, 0, 1], 9001)),
        Some(arg) => match arg.parse() {
            Ok(addr) => addr,
            Err(error) => {
                eprintln!("ws_echo: {arg:?} is not an address like 127.0.0.1:9001: {error}");
                std::process::exit(2);
            }
        },
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("ws_echo: cannot listen on {addr}: {error}");
            std::process::exit(1);
        }
    };
    let bound = listener.local_addr().expect("a bound address");
    println!("listening on {bound}");
    let router = Router::new().fallback(upgrade);
    server::http::serve::serve(listener, router, stop_signal()).await;
}

async fn upgrade(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(echo)
}

/// Echo text messages until the connection ends, then close as `/api/ws`
/// does: answer the peer's close frame, or send ours with the reason.
async fn echo(upgraded: Upgraded) {
    let mut socket = Socket::new(
        upgraded.stream,
        &upgraded.prefetched,
        MAX_MESSAGE,
        HEARTBEAT,
    );
    loop {
        let next = poll_fn(|cx| {
            if let Poll::Ready(end) = socket.poll_upkeep(cx) {
                return Poll::Ready(Err(end));
            }
            if socket.pending() >= HIGH_WATER {
                // Woken by the upkeep once the socket takes more.
                return Poll::Pending;
            }
            socket.poll_message(cx)
        })
        .await;
        match next {
            Ok(Message::Text(text)) => socket.push_text(Bytes::from(text)),
            Ok(Message::Binary) => {
                return socket
                    .close(CLOSE_UNSUPPORTED, "binary messages are not echoed")
                    .await
            }
            Err(End::PeerClosed(close)) => return socket.answer_close(close).await,
            Err(End::Violation(violation)) => {
                return socket.close(violation.code, violation.reason).await
            }
            Err(End::Gone) => return,
            Err(End::PingTimeout | End::Stalled | End::Closed) => {
                return socket.close(CLOSE_SERVER_ERROR, "peer stalled").await
            }
        }
    }
}

async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
