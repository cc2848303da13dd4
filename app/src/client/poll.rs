//! HTTP long-polling behind [`Connection`] (hydrate builds only), for
//! networks where WebSocket does not get through (see
//! [`transport`](super::transport) for when, and `docs/protocol.md` for
//! the requests).
//!
//! One loop `GET`s `/api/poll` with the token of the last answer and the
//! cursors the chat holds; each answer's frames go through the same
//! [`receive`](super::socket::receive) as a socket's. Frames to send wait
//! in a queue and go out in `POST`s, one at a time, whose answers (acks
//! included) are received the same way. Whatever a failed `POST` carried
//! that matters is still in the chat's outbox: the tab starts over (a new
//! `welcome`), which sends the outbox again.
//!
//! Few pages ever long-poll, so the request loops sit behind a split
//! point ([`loops`]): `cargo leptos build --split` puts them in a wasm
//! module of their own, fetched when a page first needs it.

use gloo_net::http::Request;
use gloo_timers::callback::Timeout;
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use web_sys::AbortController;

use super::connection::retry_delay;
use super::transport::{self, PollAnswer};
use super::{Connection, ReadyState};

/// Frames one `POST` carries at most (the server's limit).
const MAX_FRAMES: usize = 64;
/// The header that shows the server a request comes from this page.
const HEADER: &str = "X-Parley-Poll";

/// The long-polling half of the connection's browser state.
#[derive(Default)]
pub(crate) struct Poller {
    /// Polling, in loop `generation`; a loop of an older one ends.
    running: bool,
    generation: u64,
    tab: String,
    /// The token of the last answer.
    since: Option<String>,
    /// Where the `GET`s have brought the tab (what a greeting goes on from).
    cursors: transport::StreamCursors,
    /// Frames waiting to be posted.
    queue: Vec<String>,
    sending: bool,
    /// The `GET` in progress, to cut it short.
    abort: Option<AbortController>,
    /// The current `GET` was cut short on purpose: ask again at once.
    restart: bool,
    failures: u32,
}

impl Poller {
    pub(crate) fn active(&self) -> bool {
        self.running
    }
}

/// Start long-polling (a new tab id, greeted from the chat's cursors).
pub(super) fn start(conn: Connection) {
    let generation = conn.socket.try_update_value(|s| {
        let p = &mut s.poll;
        p.running = true;
        p.generation += 1;
        p.tab = tab_id();
        p.since = None;
        p.queue.clear();
        p.sending = false;
        p.failures = 0;
        p.generation
    });
    let Some(generation) = generation else {
        return;
    };
    // The chat's positions came in order from a socket: they are safe,
    // unless no socket was greeted since the last long-polling (then the
    // positions it left are).
    let resume = conn.socket.try_with_value(|s| s.resume.clone()).flatten();
    let cursors = resume.unwrap_or_else(|| {
        conn.chat
            .try_with_untracked(|chat| match chat.hello() {
                crate::protocol::ClientFrame::Hello { cursors, .. } => cursors,
                _ => Vec::new(),
            })
            .unwrap_or_default()
    });
    conn.socket
        .try_update_value(|s| s.poll.cursors = transport::StreamCursors::new(cursors));
    conn.ready_state.try_set(ReadyState::Connecting);
    launch(conn, generation, Loop::Receive);
}

/// What to run from the split module.
#[derive(Clone, Copy)]
enum Loop {
    Receive,
    Post,
    /// Move to long-polling (`true`: if plain HTTP works).
    FallBack(bool),
}

/// Sockets fail here: long-poll (see [`super::socket::fall_back`]).
pub(super) fn fall_back(conn: Connection, check: bool) {
    launch(conn, 0, Loop::FallBack(check));
}

/// Start a loop, fetching the module that holds them first if need be. A
/// module that cannot be fetched counts as a failed request.
fn launch(conn: Connection, generation: u64, which: Loop) {
    leptos::task::spawn_local(async move {
        if loops(conn, generation, which).await.is_err() {
            leptos::logging::warn!("the long-polling module could not be loaded");
            if let Loop::FallBack(_) = which {
                return super::socket::lost(conn, false, true);
            }
            if let Loop::Post = which {
                conn.socket.try_update_value(|s| s.poll.sending = false);
            }
            failed(conn, generation).await;
            if current(conn, generation) {
                launch(conn, generation, which);
            }
        }
    });
}

/// The split point: the loops, and what only they reach, load on demand.
#[leptos::wasm_split::wasm_split(longpoll, wasm_split_path = ::leptos::wasm_split, fallible)]
fn loops(
    conn: Connection,
    generation: u64,
    which: Loop,
) -> Result<(), leptos::wasm_split::SplitLoaderError> {
    match which {
        Loop::Receive => leptos::task::spawn_local(run(conn, generation)),
        Loop::Post => leptos::task::spawn_local(post(conn, generation)),
        Loop::FallBack(check) => leptos::task::spawn_local(super::socket::fall_back(conn, check)),
    }
    Ok(())
}

/// Where the `GET`s brought the tab: what a socket that takes over says
/// in its `hello` (the chat's own positions may be past messages an ack
/// overtook).
pub(super) fn cursors(conn: Connection) -> Vec<crate::protocol::Cursor> {
    conn.socket
        .try_with_value(|s| s.poll.cursors.list().to_vec())
        .unwrap_or_default()
}

/// Stop long-polling (moving to a socket, or signing out).
pub(super) fn stop(conn: Connection) {
    conn.socket.try_update_value(|s| {
        let p = &mut s.poll;
        p.running = false;
        p.generation += 1;
        p.queue.clear();
        if let Some(abort) = p.abort.take() {
            abort.abort();
        }
    });
}

/// Queue a frame; it goes out with the next `POST`. Before the tab is
/// greeted nothing is sent, as on a socket that is not open: what matters
/// is in the outbox and goes after the `welcome`.
pub(super) fn transmit(conn: Connection, text: String) {
    if conn.chat.try_with_untracked(|c| c.greeted()) != Some(true) {
        return;
    }
    let go = conn.socket.try_update_value(|s| {
        let p = &mut s.poll;
        p.queue.push(text);
        let go = p.running && !p.sending;
        if go {
            p.sending = true;
        }
        go.then_some(p.generation)
    });
    if let Some(Some(generation)) = go {
        launch(conn, generation, Loop::Post);
    }
}

fn current(conn: Connection, generation: u64) -> bool {
    conn.socket
        .try_with_value(|s| s.poll.running && s.poll.generation == generation)
        == Some(true)
}

/// A random tab id (16 hex digits).
fn tab_id() -> String {
    let a = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let b = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    format!("{:016x}", (a << 32) | b)
}

/// Start over with a new `welcome` (a `POST` failed, or the tab closed).
fn restart(conn: Connection) {
    conn.socket.try_update_value(|s| {
        let p = &mut s.poll;
        p.since = None;
        p.restart = true;
        if let Some(abort) = p.abort.take() {
            abort.abort();
        }
    });
}

async fn run(conn: Connection, generation: u64) {
    while current(conn, generation) {
        let controller = AbortController::new().ok();
        let url = conn.socket.try_update_value(|s| {
            let p = &mut s.poll;
            p.abort = controller.clone();
            p.restart = false;
            transport::poll_query(&p.tab, p.since.as_deref(), p.cursors.list())
        });
        let Some(url) = url else {
            return;
        };
        // A GET the server does not answer in time is given up.
        let watchdog = controller
            .clone()
            .map(|c| Timeout::new(transport::POLL_TIMEOUT_MS, move || c.abort()));
        let signal = controller.as_ref().map(|c| c.signal());
        let sent = Request::get(&url)
            .header(HEADER, "1")
            .abort_signal(signal.as_ref())
            .send()
            .await;
        drop(watchdog);
        if !current(conn, generation) {
            return;
        }
        let response = match sent {
            Ok(response) => response,
            Err(_) if conn.socket.try_with_value(|s| s.poll.restart) == Some(true) => continue,
            Err(error) => {
                leptos::logging::warn!("long-poll failed: {error}");
                failed(conn, generation).await;
                continue;
            }
        };
        if response.status() == 401 {
            return signed_out(conn);
        }
        let answer = match response.status() {
            200 => response.json::<PollAnswer>().await.ok(),
            _ => None,
        };
        let Some(answer) = answer else {
            leptos::logging::warn!("long-poll answered {}", response.status());
            failed(conn, generation).await;
            continue;
        };
        if !current(conn, generation) {
            return;
        }
        conn.socket.try_update_value(|s| {
            s.poll.failures = 0;
            s.poll.since = answer.next.clone();
            for frame in &answer.frames {
                s.poll.cursors.note(frame);
            }
        });
        for frame in &answer.frames {
            super::socket::receive(conn, &frame.to_string());
        }
        if conn.chat.try_with_untracked(|c| c.greeted()) == Some(true) {
            conn.ready_state.try_set(ReadyState::Open);
            conn.retry_at.try_set(None);
        }
        if let Some(close) = answer.close {
            leptos::logging::log!("long-poll tab closed ({}) {}", close.code, close.reason);
            if close.code == 4001 {
                return signed_out(conn);
            }
            conn.chat.try_update(|chat| chat.disconnected());
            conn.ready_state.try_set(ReadyState::Connecting);
            TimeoutFuture::new(retry_delay(0, js_sys::Math::random())).await;
        }
    }
}

/// A `GET` failed: offline until the next try, after a backoff.
async fn failed(conn: Connection, generation: u64) {
    let failures = conn
        .socket
        .try_update_value(|s| {
            s.poll.since = None;
            s.poll.failures = s.poll.failures.saturating_add(1);
            s.poll.failures
        })
        .unwrap_or(1);
    conn.chat.try_update(|chat| chat.disconnected());
    conn.ready_state.try_set(ReadyState::Closed);
    let delay = retry_delay(failures - 1, js_sys::Math::random());
    conn.retry_at
        .try_set(Some(js_sys::Date::now() + f64::from(delay)));
    TimeoutFuture::new(delay).await;
    if current(conn, generation) {
        conn.retry_at.try_set(None);
        conn.ready_state.try_set(ReadyState::Connecting);
    }
}

fn signed_out(conn: Connection) {
    stop(conn);
    super::socket::lost(conn, true, false);
}

/// Post what is queued, a batch at a time, until the queue is empty.
async fn post(conn: Connection, generation: u64) {
    loop {
        let batch = conn.socket.try_update_value(|s| {
            let p = &mut s.poll;
            let n = p.queue.len().min(MAX_FRAMES);
            let batch: Vec<String> = p.queue.drain(..n).collect();
            if batch.is_empty() {
                p.sending = false;
            }
            (batch, p.tab.clone())
        });
        let Some((batch, tab)) = batch else {
            return;
        };
        if batch.is_empty() || !current(conn, generation) {
            return;
        }
        let body = format!("[{}]", batch.join(","));
        let url = format!("{}?tab={tab}", transport::POLL_PATH);
        let sent = match Request::post(&url).header(HEADER, "1").body(body) {
            Ok(request) => request.send().await,
            Err(error) => Err(error),
        };
        if !current(conn, generation) {
            return;
        }
        let answer = match sent {
            Ok(response) if response.status() == 401 => return signed_out(conn),
            Ok(response) if response.ok() => response.json::<PollAnswer>().await.ok(),
            Ok(response) => {
                leptos::logging::warn!("long-poll POST answered {}", response.status());
                None
            }
            Err(error) => {
                leptos::logging::warn!("long-poll POST failed: {error}");
                None
            }
        };
        match answer {
            Some(answer) => {
                for frame in &answer.frames {
                    super::socket::receive(conn, &frame.to_string());
                }
                if let Some(close) = answer.close {
                    if close.code == 4001 {
                        return signed_out(conn);
                    }
                    restart(conn);
                }
            }
            // What it carried that matters is in the outbox: a new
            // welcome sends it again.
            None => restart(conn),
        }
    }
}
