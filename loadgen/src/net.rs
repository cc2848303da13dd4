//! Sockets, sign-in and the two handshakes, all on loopback only.
//!
//! Every client socket is bound to a source address `127.0.0.(1 + i % 250)`
//! before it connects, so tens of thousands of connections never run out of
//! ephemeral ports on one source address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::wire::{self, Incoming};

pub type Ws = WebSocketStream<TcpStream>;

/// Longest wait for any single setup step (connect, handshake, a reply).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Refuse anything that is not on the loopback network.
pub fn check_loopback(addr: &SocketAddr) -> Result<()> {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => Ok(()),
        IpAddr::V6(ip) if ip.is_loopback() => Ok(()),
        other => {
            bail!("{other} is not a loopback address: loadgen only talks to 127.0.0.0/8 or ::1")
        }
    }
}

/// The source address of client socket number `i`.
pub fn source_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, (1 + i % 250) as u8)
}

/// A TCP connection to `server` from `127.0.0.(1 + i % 250)`, optionally
/// with a small receive buffer: a client on a slow link, whose window fills
/// quickly when it stops reading.
pub async fn tcp_connect_with(
    server: SocketAddr,
    i: usize,
    recv_buffer: Option<u32>,
) -> Result<TcpStream> {
    let (socket, source) = match server {
        SocketAddr::V4(_) => (TcpSocket::new_v4()?, SocketAddr::from((source_ip(i), 0))),
        SocketAddr::V6(_) => (TcpSocket::new_v6()?, SocketAddr::from(([0u16; 8], 0))),
    };
    socket.set_reuseaddr(true)?;
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket
        .bind(source)
        .with_context(|| format!("binding {source}"))?;
    let stream = socket
        .connect(server)
        .await
        .with_context(|| format!("connecting to {server}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Client-side WebSocket buffers: small, since tens of thousands are open.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
}

/// Open a WebSocket at `path`. With a cookie, the `Origin` header is the
/// server's own origin (what `/api/ws` requires).
/// An optional small receive buffer stands for a slow consumer.
pub async fn ws_connect_with(
    server: SocketAddr,
    i: usize,
    path: &str,
    cookie: Option<&str>,
    recv_buffer: Option<u32>,
) -> Result<Ws> {
    let mut request = format!("ws://{server}{path}").into_client_request()?;
    if let Some(cookie) = cookie {
        let headers = request.headers_mut();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookie)?);
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_str(&format!("http://{server}"))?,
        );
    }
    let stream = tcp_connect_with(server, i, recv_buffer).await?;
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config()))
            .await
            .with_context(|| format!("upgrading {path}"))?;
    Ok(ws)
}

/// Timings of one native connection's setup.
#[derive(Debug, Clone, Copy)]
pub struct Opened {
    /// TCP connect plus the HTTP upgrade (until `101`).
    pub upgrade: Duration,
    /// From the start until `synced` (hello, welcome, backlog).
    pub ready: Duration,
}

/// Open `/api/ws`, say hello and wait for `synced`.
pub async fn open_native(server: SocketAddr, i: usize, cookie: &str) -> Result<(Ws, Opened)> {
    open_native_with(server, i, cookie, None).await
}

/// [`open_native`] with an optional small receive buffer (slow consumers).
pub async fn open_native_with(
    server: SocketAddr,
    i: usize,
    cookie: &str,
    recv_buffer: Option<u32>,
) -> Result<(Ws, Opened)> {
    let start = Instant::now();
    let connect = ws_connect_with(server, i, "/api/ws", Some(cookie), recv_buffer);
    let mut ws = tokio::time::timeout(STEP_TIMEOUT, connect)
        .await
        .map_err(|_| anyhow!("upgrade timed out"))??;
    let upgrade = start.elapsed();
    ws.send(Message::text(wire::hello())).await?;
    wait_for(&mut ws, |f| matches!(f, Incoming::Synced)).await?;
    Ok((
        ws,
        Opened {
            upgrade,
            ready: start.elapsed(),
        },
    ))
}

/// Read frames until one satisfies `done`, failing on close, on an `error`
/// frame that `done` did not accept, or after [`STEP_TIMEOUT`].
pub async fn wait_for(ws: &mut Ws, mut done: impl FnMut(&Incoming<'_>) -> bool) -> Result<()> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| anyhow!("no answer within {STEP_TIMEOUT:?}"))?;
        match next {
            Some(Ok(Message::Text(text))) => {
                let frame = wire::classify(&text);
                if done(&frame) {
                    return Ok(());
                }
                if let Incoming::Error { code, .. } = frame {
                    bail!("server refused: {code} ({text})");
                }
            }
            Some(Ok(Message::Close(close))) => bail!("closed by the server: {close:?}"),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
            None => bail!("connection ended"),
        }
    }
}

/// Create `room` on this connection, or join it if it exists; wait for
/// `joined`. The room's newest seq then (its log starts with system
/// lines: "alice created the room", "bob joined").
pub async fn enter_room(ws: &mut Ws, room: &str, create: bool) -> Result<i64> {
    let mut last = 0;
    if create {
        ws.send(Message::text(wire::create_room(room))).await?;
        let mut exists = false;
        wait_for(ws, |f| match f {
            Incoming::Joined { last_seq } => {
                last = *last_seq;
                true
            }
            Incoming::Error { code, .. } if *code == "room_exists" => {
                exists = true;
                true
            }
            _ => false,
        })
        .await?;
        if !exists {
            return Ok(last);
        }
    }
    ws.send(Message::text(wire::join_room(room))).await?;
    wait_for(ws, |f| match f {
        Incoming::Joined { last_seq } => {
            last = *last_seq;
            true
        }
        _ => false,
    })
    .await?;
    Ok(last)
}

/// Sign in (registering the name on first use, shown as `display` when
/// given); returns the `Cookie` value.
pub async fn sign_in(
    http: &reqwest::Client,
    server: SocketAddr,
    user: &str,
    password: &str,
    display: Option<&str>,
) -> Result<String> {
    let mut body = serde_json::json!({ "username": user, "password": password });
    if let Some(display) = display {
        body["display_name"] = display.into();
    }
    let response = http
        .post(format!("http://{server}/api/session"))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("signing in {user}"))?;
    let status = response.status();
    let cookie = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("parley_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    match (status.is_success(), cookie) {
        (true, Some(cookie)) => Ok(cookie),
        _ => {
            let body = response.text().await.unwrap_or_default();
            bail!("sign-in of {user} failed: {status} {body}")
        }
    }
}

/// Is the cookie still a live session?
pub async fn session_alive(http: &reqwest::Client, server: SocketAddr, cookie: &str) -> bool {
    http.get(format!("http://{server}/api/session"))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false)
}

/// An HTTP client for sign-in and `/metrics` (no proxy: loopback only).
pub fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(16)
        .build()?)
}

/// Wait until `GET /healthz` answers 200.
pub async fn wait_healthy(
    http: &reqwest::Client,
    server: SocketAddr,
    within: Duration,
) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(r) = http.get(format!("http://{server}/healthz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("server at {server} not healthy within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
