//! Test harness: a real server on a temporary SQLite file, signed-in users,
//! native WebSocket clients speaking `app::protocol`, and guests of the seed
//! endpoints.
//!
//! Nothing here sleeps to synchronise. Every wait is for a frame, bounded by
//! [`TIMEOUT`]. To check that nothing more arrives, a client sends a `ping`
//! and the next frame that matters must be its `pong`.

#![allow(dead_code)]

pub mod access;
pub mod db;
pub mod poll;
pub mod process;
pub mod raw;
pub mod resilient;
pub mod services;

use std::net::SocketAddr;
use std::sync::Once;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use app::protocol::{
    decode_server, encode, Change, ClientFrame, Conv, ConversationInfo, Cursor, ErrorCode, Message,
    RoomInfo, ServerFrame, PROTOCOL_VERSION,
};

/// The client id of a frame that carries one.
pub fn client_id_of(frame: &ClientFrame) -> Option<&str> {
    match frame {
        ClientFrame::Send { client_id, .. }
        | ClientFrame::Edit { client_id, .. }
        | ClientFrame::Delete { client_id, .. }
        | ClientFrame::React { client_id, .. }
        | ClientFrame::Unreact { client_id, .. }
        | ClientFrame::RoomAction { client_id, .. } => Some(client_id),
        _ => None,
    }
}

/// Longest wait for any one frame or close.
pub const TIMEOUT: Duration = Duration::from_secs(5);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub fn room(name: &str) -> Conv {
    Conv::Room(name.to_string())
}

pub fn dm(name: &str) -> Conv {
    Conv::Dm(name.to_string())
}

pub fn guest(name: &str) -> Conv {
    Conv::Guest(name.to_string())
}

pub fn lobby() -> Conv {
    room("lobby")
}

pub fn cursor(conv: Conv, seq: i64) -> Cursor {
    Cursor { conv, seq }
}

/// `RUST_LOG=server=debug cargo test ...` shows the server's logs.
fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
    });
}

// ---- server -------------------------------------------------------------------

/// A running server on its own temporary database (see [`db::TestDb`]).
pub struct TestServer {
    server: Option<server::Server>,
    pub addr: SocketAddr,
    /// The configuration it was started with (reused by [`TestServer::restart`]).
    pub config: server::config::Config,
    http: reqwest::Client,
    // Last field: removed after everything above is dropped.
    _db: db::TestDb,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Start with a tweaked configuration. The defaults are the server's,
    /// except that the per-connection frame rate limit is raised far above
    /// what any test sends (tests pipeline hundreds of frames); a test of
    /// the rate limit sets it back in `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut server::config::Config)) -> Self {
        Self::start_on(db::TestDb::new().await, tweak).await
    }

    /// Start on a database prepared by the test.
    pub async fn start_on(db: db::TestDb, tweak: impl FnOnce(&mut server::config::Config)) -> Self {
        init_tracing();
        let mut config = server::config::Config::for_database(db.url.clone());
        config.rate_per_sec = 100_000.0;
        config.rate_burst = 100_000.0;
        config.signin_per_ip_per_min = 100_000;
        config.signin_per_name_per_min = 100_000;
        tweak(&mut config);
        let server = server::start(config.clone()).await.expect("server starts");
        TestServer {
            addr: server.addr,
            server: Some(server),
            config,
            http: reqwest::Client::new(),
            _db: db,
        }
    }

    /// Shut the server down gracefully.
    pub async fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    /// Shut down, then start a new server on the same database file (it may
    /// listen on another port: `addr` is updated).
    pub async fn restart(&mut self) {
        self.shutdown().await;
        let server = server::start(self.config.clone())
            .await
            .expect("server restarts on the same file");
        self.addr = server.addr;
        self.server = Some(server);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Give `user` the password `password` straight in the database, as
    /// an account from before the password policy would have it.
    pub async fn set_password_in_database(&self, user: &str, password: &str) {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let hash = server::auth::hash_password(password.to_string())
            .await
            .expect("hashing works");
        let mut conn = sqlx::AnyConnection::connect(&self._db.url)
            .await
            .expect("the test database opens");
        let sql = if db::on_postgres() {
            "UPDATE users SET password_hash = $1 WHERE name_key = $2"
        } else {
            "UPDATE users SET password_hash = ? WHERE name_key = ?"
        };
        let done = sqlx::query(sql)
            .bind(hash)
            .bind(user.to_ascii_lowercase())
            .execute(&mut conn)
            .await
            .expect("update the password");
        assert_eq!(done.rows_affected(), 1, "{user} exists");
    }

    /// Rows of the database (messages, the log's changes, earlier
    /// versions) whose text contains `needle`, read straight from the
    /// database file or server.
    pub async fn count_rows_containing(&self, needle: &str) -> i64 {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self._db.url)
            .await
            .expect("the test database opens");
        let pattern = format!("%{needle}%");
        let mut total = 0;
        for table in ["messages", "message_versions"] {
            let sql = if db::on_postgres() {
                format!("SELECT count(*) FROM {table} WHERE body LIKE $1")
            } else {
                format!("SELECT count(*) FROM {table} WHERE body LIKE ?")
            };
            let n: i64 = sqlx::query_scalar(&sql)
                .bind(&pattern)
                .fetch_one(&mut conn)
                .await
                .expect("count rows");
            total += n;
        }
        total
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    // ---- HTTP ----------------------------------------------------------------

    /// `POST /api/session`, whatever the answer.
    pub async fn post_session(&self, username: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.url("/api/session"))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("POST /api/session")
    }

    /// `GET /api/session` with an optional `Cookie` header.
    pub async fn get_session(&self, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url("/api/session"));
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.send().await.expect("GET /api/session")
    }

    /// `DELETE /api/session` (sign out).
    pub async fn delete_session(&self, cookie: &str) -> reqwest::Response {
        self.http
            .delete(self.url("/api/session"))
            .header(header::COOKIE, cookie)
            .send()
            .await
            .expect("DELETE /api/session")
    }

    /// Any request, with an optional session cookie and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path));
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("HTTP request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("GET request")
    }

    /// Sign in (registering a free name) and keep the session cookie.
    pub async fn sign_in(&self, username: &str, password: &str) -> Session {
        let response = self.post_session(username, password).await;
        let status = response.status();
        let cookie = session_cookie(&response);
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "sign-in of {username} failed: {body}");
        let info: serde_json::Value = serde_json::from_str(&body).expect("sign-in answer is JSON");
        Session {
            name: info["username"]
                .as_str()
                .expect("sign-in answer has a username")
                .to_string(),
            cookie: cookie.expect("sign-in sets the session cookie"),
        }
    }

    /// Sign in several users at once (password hashing is slow in debug builds).
    pub async fn sign_in_all(&self, names: &[String]) -> Vec<Session> {
        futures_util::future::join_all(
            names
                .iter()
                .map(|n| self.sign_in(n, "password-1 violet kettle 4821")),
        )
        .await
    }

    // ---- native WebSocket --------------------------------------------------

    /// Open `/api/ws` with an optional cookie; the raw result.
    pub async fn ws_connect(
        &self,
        path: &str,
        cookie: Option<&str>,
    ) -> Result<Ws, tungstenite::Error> {
        let mut request = self.ws_url(path).into_client_request()?;
        let headers = request.headers_mut();
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_str(&self.origin()).expect("origin header"),
        );
        if let Some(cookie) = cookie {
            headers.insert(
                header::COOKIE,
                HeaderValue::from_str(cookie).expect("cookie header"),
            );
        }
        let (ws, _response) = tokio::time::timeout(
            TIMEOUT,
            tokio_tungstenite::connect_async_with_config(request, None, true),
        )
        .await
        .expect("WebSocket connect timed out")?;
        Ok(ws)
    }

    /// The HTTP status of a refused upgrade; panics if the upgrade succeeds.
    pub async fn ws_refused_status(&self, path: &str, cookie: Option<&str>) -> u16 {
        match self.ws_connect(path, cookie).await {
            Ok(_) => panic!("upgrade of {path} with cookie {cookie:?} was accepted"),
            Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
            Err(other) => panic!("upgrade of {path} failed without an HTTP answer: {other}"),
        }
    }

    /// A native connection that has not sent `hello` yet.
    pub async fn connect(&self, session: &Session) -> Client {
        let ws = self
            .ws_connect("/api/ws", Some(&session.cookie))
            .await
            .unwrap_or_else(|e| panic!("upgrade for {} refused: {e}", session.name));
        Client::new(ws, &session.name)
    }

    /// Connect and say hello without cursors; returns once `synced` arrived.
    pub async fn join(&self, session: &Session) -> (Client, Welcome) {
        self.join_with(session, vec![]).await
    }

    /// Connect and say hello with `cursors`; returns once `synced` arrived.
    pub async fn join_with(&self, session: &Session, cursors: Vec<Cursor>) -> (Client, Welcome) {
        let mut client = self.connect(session).await;
        let welcome = client.hello(cursors).await;
        (client, welcome)
    }

    /// Sign in and join in one step.
    pub async fn user(&self, name: &str) -> (Session, Client, Welcome) {
        let session = self.sign_in(name, "password-1 violet kettle 4821").await;
        let (client, welcome) = self.join(&session).await;
        (session, client, welcome)
    }

    // ---- seed endpoints --------------------------------------------------------

    /// A guest of the group chat `/ws`.
    pub async fn group_guest(&self) -> SeedClient {
        let ws = self
            .ws_connect("/ws", None)
            .await
            .expect("upgrade of /ws accepted");
        SeedClient { ws }
    }

    /// A guest of `/ws/{name}` (the upgrade may still be followed by a close).
    pub async fn direct_guest(&self, name: &str) -> SeedClient {
        let ws = self
            .ws_connect(&format!("/ws/{}", percent_encode(name)), None)
            .await
            .unwrap_or_else(|e| panic!("upgrade of /ws/{name} refused: {e}"));
        SeedClient { ws }
    }
}

/// A direct-chat guest that the server has registered: it has answered a
/// frame (for nobody), so messages to it are delivered from now on.
pub async fn ready_guest(server: &TestServer, name: &str) -> SeedClient {
    let mut guest = server.direct_guest(name).await;
    guest.send_seed(name, "zz-nobody-here", "anyone?").await;
    let (sender, receiver, data) = guest.recv_seed().await;
    assert_eq!(sender, "server", "{name}: answer to a frame for nobody");
    assert_eq!(receiver, name);
    assert!(!data.is_empty());
    guest
}

/// `text` for a URL path segment: every byte but letters, digits and
/// `-_.~` as `%XX` (what a browser does with a nickname in any script).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The `name=value` part of the `parley_session` Set-Cookie header.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    session_set_cookie(response).map(|v| v.split(';').next().unwrap_or("").trim().to_string())
}

/// The full `parley_session` Set-Cookie header.
pub fn session_set_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("parley_session="))
        .map(str::to_string)
}

/// A signed-in user: the name the server answered and the cookie.
#[derive(Clone, Debug)]
pub struct Session {
    pub name: String,
    /// `parley_session=...`, ready for a `Cookie` header.
    pub cookie: String,
}

// ---- native client ----------------------------------------------------------------

/// What `welcome` said, and the backlog that came before `synced`.
#[derive(Clone, Debug)]
pub struct Welcome {
    pub user: String,
    /// Your display name, when it is not your handle.
    pub display: Option<String>,
    /// Display names of the people online and of direct conversations.
    pub names: Vec<app::protocol::Named>,
    pub conversations: Vec<ConversationInfo>,
    pub online: Vec<String>,
    pub backlog: Vec<Message>,
    /// Changes (edits, deletes, reactions) in the backlog.
    pub changes: Vec<Change>,
    /// The seq of every backlog entry, messages and changes, as they came.
    pub seqs: Vec<i64>,
}

impl Welcome {
    pub fn conv(&self, conv: &Conv) -> Option<&ConversationInfo> {
        self.conversations.iter().find(|c| &c.conv == conv)
    }
}

/// An `ack` frame.
/// An `error` frame's details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub message: String,
    /// The refused `send`'s client id.
    pub client_id: Option<String>,
    /// The conversation the refused frame named.
    pub conv: Option<Conv>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acked {
    pub client_id: String,
    pub id: i64,
    pub conv: Conv,
    pub seq: i64,
    pub ts: i64,
}

/// How a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one at a time, on the stack of a test
pub enum Event {
    Frame(ServerFrame),
    /// Close frame code and reason, `None` if the stream ended without one.
    Closed(Option<(u16, String)>),
}

/// Frames a test usually does not care about: presence, typing, member
/// counts, and rooms' system lines ("bob joined"), which the tests of
/// access and moderation wait for by name.
pub fn is_noise(frame: &ServerFrame) -> bool {
    match frame {
        ServerFrame::Presence { .. }
        | ServerFrame::Typing { .. }
        | ServerFrame::Member { .. }
        | ServerFrame::Profile { .. } => true,
        ServerFrame::Message { message } => message.event.is_some(),
        _ => false,
    }
}

fn close_parts(frame: Option<CloseFrame>) -> Option<(u16, String)> {
    frame.map(|f| (u16::from(f.code), f.reason.to_string()))
}

/// A native `/api/ws` connection.
pub struct Client {
    ws: Ws,
    pub user: String,
    next_nonce: u64,
}

impl Client {
    pub fn new(ws: Ws, user: &str) -> Self {
        Client {
            ws,
            user: user.to_string(),
            next_nonce: 1,
        }
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_text(&encode(frame)).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        tokio::time::timeout(TIMEOUT, self.ws.send(WsMessage::text(text)))
            .await
            .unwrap_or_else(|_| panic!("{}: sending timed out", self.user))
            .unwrap_or_else(|e| panic!("{}: sending {text} failed: {e}", self.user));
    }

    /// Send, reporting failure instead of panicking (the server may have
    /// closed the connection already).
    pub async fn try_send(&mut self, frame: &ClientFrame) -> bool {
        let sent = tokio::time::timeout(TIMEOUT, self.ws.send(WsMessage::text(encode(frame))));
        matches!(sent.await, Ok(Ok(())))
    }

    /// Send a message without waiting for its ack.
    pub async fn send_msg(&mut self, client_id: &str, conv: Conv, body: &str) {
        self.send(&ClientFrame::Send {
            client_id: client_id.to_string(),
            conv,
            body: body.to_string(),
            reply_to: None,
        })
        .await;
    }

    /// Send a message; the next frame that matters must be its ack.
    pub async fn post(&mut self, client_id: &str, conv: Conv, body: &str) -> Acked {
        self.send_msg(client_id, conv, body).await;
        self.expect_ack(client_id).await
    }

    /// Next frame or close, whatever it is.
    pub async fn recv_event(&mut self) -> Event {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("{}: no frame within {TIMEOUT:?}", self.user);
                });
            match next {
                Some(Ok(WsMessage::Text(text))) => {
                    let frame = decode_server(&text).unwrap_or_else(|e| {
                        panic!("{}: undecodable server frame {text}: {e}", self.user)
                    });
                    return Event::Frame(frame);
                }
                Some(Ok(WsMessage::Close(frame))) => return Event::Closed(close_parts(frame)),
                Some(Ok(WsMessage::Binary(b))) => {
                    panic!("{}: unexpected binary frame {b:?}", self.user)
                }
                Some(Ok(_)) => continue, // ping, pong, raw frame
                Some(Err(_)) | None => return Event::Closed(None),
            }
        }
    }

    /// Next frame, whatever it is; panics if the connection closes.
    pub async fn recv(&mut self) -> ServerFrame {
        match self.recv_event().await {
            Event::Frame(frame) => frame,
            Event::Closed(close) => panic!("{}: connection closed: {close:?}", self.user),
        }
    }

    /// Next frame that is not presence, typing or member noise.
    pub async fn next(&mut self) -> ServerFrame {
        loop {
            let frame = self.recv().await;
            if !is_noise(&frame) {
                return frame;
            }
        }
    }

    /// Skip frames until one matches.
    pub async fn recv_until(&mut self, mut pred: impl FnMut(&ServerFrame) -> bool) -> ServerFrame {
        loop {
            let frame = self.recv().await;
            if pred(&frame) {
                return frame;
            }
        }
    }

    /// Wait for the connection to close, skipping any frames; code and reason.
    pub async fn expect_close(&mut self) -> Option<(u16, String)> {
        loop {
            if let Event::Closed(close) = self.recv_event().await {
                return close;
            }
        }
    }

    pub async fn hello(&mut self, cursors: Vec<Cursor>) -> Welcome {
        self.send(&ClientFrame::Hello {
            version: PROTOCOL_VERSION,
            cursors,
        })
        .await;
        let welcome = match self.next().await {
            ServerFrame::Welcome {
                version,
                user,
                conversations,
                online,
                display,
                names,
                ..
            } => {
                assert_eq!(version, PROTOCOL_VERSION, "welcome version");
                Welcome {
                    user,
                    display,
                    names,
                    conversations,
                    online,
                    backlog: Vec::new(),
                    changes: Vec::new(),
                    seqs: Vec::new(),
                }
            }
            other => panic!("{}: expected welcome, got {other:?}", self.user),
        };
        let mut welcome = welcome;
        loop {
            match self.next().await {
                ServerFrame::Message { message } => {
                    welcome.seqs.push(message.seq);
                    welcome.backlog.push(message);
                }
                ServerFrame::Change { change } => {
                    welcome.seqs.push(change.seq);
                    welcome.changes.push(change);
                }
                ServerFrame::Synced {} => return welcome,
                other => panic!(
                    "{}: expected backlog messages then synced, got {other:?}",
                    self.user
                ),
            }
        }
    }

    /// Send an edit, delete, react or unreact; the next frame that matters
    /// must be its ack.
    pub async fn change(&mut self, frame: ClientFrame) -> Acked {
        let client_id = client_id_of(&frame)
            .unwrap_or_else(|| panic!("no client id in {frame:?}"))
            .to_string();
        self.send(&frame).await;
        self.expect_ack(&client_id).await
    }

    pub async fn expect_change(&mut self) -> Change {
        match self.next().await {
            ServerFrame::Change { change } => change,
            other => panic!("{}: expected a change, got {other:?}", self.user),
        }
    }

    pub async fn expect_message(&mut self) -> Message {
        match self.next().await {
            ServerFrame::Message { message } => message,
            other => panic!("{}: expected a message, got {other:?}", self.user),
        }
    }

    pub async fn expect_ack(&mut self, client_id: &str) -> Acked {
        match self.next().await {
            ServerFrame::Ack {
                client_id: acked,
                id,
                conv,
                seq,
                ts,
            } => {
                assert_eq!(acked, client_id, "{}: ack for another client id", self.user);
                Acked {
                    client_id: acked,
                    id,
                    conv,
                    seq,
                    ts,
                }
            }
            other => panic!("{}: expected ack of {client_id}, got {other:?}", self.user),
        }
    }

    /// The next frame that matters must be an error with `code`.
    pub async fn expect_error(&mut self, code: ErrorCode) -> Refused {
        match self.next().await {
            ServerFrame::Error {
                code: got,
                message,
                client_id,
                conv,
            } => {
                assert_eq!(got, code, "{}: error code ({message})", self.user);
                Refused {
                    message,
                    client_id,
                    conv,
                }
            }
            other => panic!(
                "{}: expected error {}, got {other:?}",
                self.user,
                code.as_str()
            ),
        }
    }

    /// Send a ping; return every frame (noise included) before its pong.
    pub async fn ping_collect(&mut self) -> Vec<ServerFrame> {
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        self.send(&ClientFrame::Ping { nonce }).await;
        let mut before = Vec::new();
        loop {
            match self.recv().await {
                ServerFrame::Pong { nonce: n } if n == nonce => return before,
                frame => before.push(frame),
            }
        }
    }

    /// Nothing but noise arrives before the pong of a fresh ping: the
    /// connection works and nothing it should not get is queued for it.
    pub async fn assert_quiet(&mut self) {
        let frames = self.ping_collect().await;
        let unexpected: Vec<_> = frames.into_iter().filter(|f| !is_noise(f)).collect();
        assert!(
            unexpected.is_empty(),
            "{}: expected nothing before the pong, got {unexpected:?}",
            self.user
        );
    }

    /// `history` request and answer.
    pub async fn history(
        &mut self,
        conv: Conv,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> (Vec<Message>, bool) {
        self.send(&ClientFrame::History {
            conv: conv.clone(),
            before,
            limit,
        })
        .await;
        match self.next().await {
            ServerFrame::History {
                conv: got,
                messages,
                has_more,
            } => {
                assert_eq!(got, conv, "{}: history of another conversation", self.user);
                (messages, has_more)
            }
            other => panic!("{}: expected history, got {other:?}", self.user),
        }
    }

    pub async fn list_rooms(&mut self) -> Vec<RoomInfo> {
        self.send(&ClientFrame::ListRooms {}).await;
        match self.next().await {
            ServerFrame::Rooms { rooms } => rooms,
            other => panic!("{}: expected rooms, got {other:?}", self.user),
        }
    }

    /// Close politely (close handshake).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(TIMEOUT, self.ws.close(None)).await;
        // Wait for the server's close so the server has seen it.
        let _ = tokio::time::timeout(TIMEOUT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    /// Drop the TCP connection without a close handshake.
    pub fn drop_connection(self) {
        drop(self);
    }
}

// ---- seed guests ----------------------------------------------------------------

/// A guest of `/ws` or `/ws/{username}`: plain text frames.
pub struct SeedClient {
    ws: Ws,
}

/// What a seed client saw next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedEvent {
    Text(String),
    Closed(Option<(u16, String)>),
}

impl SeedClient {
    pub async fn send_text(&mut self, text: &str) {
        tokio::time::timeout(TIMEOUT, self.ws.send(WsMessage::text(text)))
            .await
            .expect("guest send timed out")
            .expect("guest send failed");
    }

    pub async fn send_seed(&mut self, sender: &str, receiver: &str, data: &str) {
        let frame = serde_json::json!({ "sender": sender, "receiver": receiver, "data": data });
        self.send_text(&frame.to_string()).await;
    }

    pub async fn recv_event(&mut self) -> SeedEvent {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("guest: nothing within {TIMEOUT:?}"));
            match next {
                Some(Ok(WsMessage::Text(text))) => return SeedEvent::Text(text.to_string()),
                Some(Ok(WsMessage::Close(frame))) => return SeedEvent::Closed(close_parts(frame)),
                Some(Ok(WsMessage::Binary(b))) => panic!("guest: unexpected binary frame {b:?}"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return SeedEvent::Closed(None),
            }
        }
    }

    pub async fn recv_text(&mut self) -> String {
        match self.recv_event().await {
            SeedEvent::Text(text) => text,
            SeedEvent::Closed(close) => panic!("guest: connection closed: {close:?}"),
        }
    }

    pub async fn recv_json(&mut self) -> serde_json::Value {
        let text = self.recv_text().await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("guest: not JSON: {text}: {e}"))
    }

    /// Next frame must be exactly `{"sender","receiver","data"}`; returns the three.
    pub async fn recv_seed(&mut self) -> (String, String, String) {
        let value = self.recv_json().await;
        let object = value
            .as_object()
            .unwrap_or_else(|| panic!("guest: not an object: {value}"));
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["data", "receiver", "sender"],
            "guest: seed frame fields: {value}"
        );
        let field = |k: &str| {
            object[k]
                .as_str()
                .unwrap_or_else(|| panic!("guest: `{k}` is not a string: {value}"))
                .to_string()
        };
        (field("sender"), field("receiver"), field("data"))
    }

    /// Wait for the close (skipping text frames); code and reason.
    pub async fn expect_close(&mut self) -> Option<(u16, String)> {
        loop {
            if let SeedEvent::Closed(close) = self.recv_event().await {
                return close;
            }
        }
    }

    pub async fn close(mut self) {
        let _ = tokio::time::timeout(TIMEOUT, self.ws.close(None)).await;
        let _ = tokio::time::timeout(TIMEOUT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}
