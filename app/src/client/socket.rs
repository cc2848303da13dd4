//! The browser WebSocket behind [`Connection`] (hydrate builds only).
//!
//! Each socket event updates the connection's signals; server frames are
//! folded into its [`Chat`](super::Chat) and the replies sent back. While
//! the connection is wanted, a dropped socket is reopened after a backoff
//! of 0.5 s doubling up to 30 s, with jitter; the backoff starts over once
//! a connection has stayed up for 10 s.
//!
//! A page cannot see WebSocket pings, so the client sends its own `ping`
//! every 15 s; without a `pong` within 10 s the socket counts as dead and
//! is replaced.
//!
//! When sockets keep failing before their `welcome` (see
//! [`transport`](super::transport)), the page long-polls instead
//! (`poll.rs`) and probes for a working socket now and then.

use gloo_timers::callback::{Interval, Timeout};
use leptos::prelude::*;
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

use super::connection::{retry_delay, SOCKET_PATH};
use super::transport::{self, Transport, Upgrades};
use super::{Connection, ReadyState};
use crate::protocol::{decode_server, encode, ClientFrame, ServerFrame};

/// A connection that stayed open this long resets the backoff.
const STABLE_MS: f64 = 10_000.0;
const PING_EVERY_MS: u32 = 15_000;
const PONG_WITHIN_MS: f64 = 10_000.0;

/// The mutable, browser-only half of a [`Connection`].
#[derive(Default)]
pub(crate) struct Socket {
    live: Option<Live>,
    /// `connect` was called and `disconnect` was not.
    wanted: bool,
    /// Failed attempts since the last successful open.
    failures: u32,
    /// The pending reconnect; dropping it cancels it.
    retry: Option<Timeout>,
    /// When the current socket opened (ms).
    opened_at: Option<f64>,
    /// The heartbeat of the current socket.
    heartbeat: Option<Interval>,
    /// The unanswered ping: nonce and when it went out.
    awaiting: Option<(u64, f64)>,
    nonce: u64,
    /// The current socket got its `welcome`.
    greeted: bool,
    /// Sockets that failed before their `welcome`, in a row.
    upgrades: Upgrades,
    /// Gives up on a socket whose `welcome` is late.
    upgrade_timer: Option<Timeout>,
    /// Long-polling, while the page does.
    pub(super) poll: super::poll::Poller,
    /// The next WebSocket probe while long-polling, and the probe itself.
    probe_timer: Option<Timeout>,
    probe: Option<Live>,
    probes: u32,
    /// The cursors the next socket's `hello` says, when it takes over from
    /// long-polling (instead of the chat's), until one is greeted.
    pub(super) resume: Option<Vec<crate::protocol::Cursor>>,
}

/// A socket with its event handlers, which live exactly as long as it.
struct Live {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

impl Drop for Live {
    fn drop(&mut self) {
        // Detach first: a replaced socket must never call into freed handlers.
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        if self.ws.ready_state() <= WebSocket::OPEN {
            let _ = self.ws.close();
        }
    }
}

pub(super) fn connect(conn: Connection) {
    let busy = conn.socket.try_update_value(|s| {
        s.wanted = true;
        s.retry.is_some()
            || s.poll.active()
            || s.live
                .as_ref()
                .is_some_and(|l| l.ws.ready_state() <= WebSocket::OPEN)
    });
    if busy == Some(false) {
        let stored = storage().and_then(|s| s.get_item(transport::STORAGE_KEY).ok().flatten());
        if transport::remembered(stored.as_deref(), js_sys::Date::now()) {
            super::poll::fall_back(conn, false);
        } else {
            open(conn);
        }
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

pub(super) fn disconnect(conn: Connection) {
    super::poll::stop(conn);
    let closing = conn.socket.try_update_value(|s| {
        s.wanted = false;
        s.retry = None;
        s.heartbeat = None;
        s.upgrade_timer = None;
        s.probe_timer = None;
        s.probe = None;
        match &s.live {
            Some(live) if live.ws.ready_state() <= WebSocket::OPEN => {
                let _ = live.ws.close();
                true
            }
            _ => false,
        }
    });
    conn.retry_at.try_set(None);
    if closing == Some(true) {
        conn.ready_state.try_set(ReadyState::Closing);
    }
}

pub(super) fn transmit(conn: Connection, frame: &ClientFrame) {
    let text = encode(frame);
    if conn.socket.try_with_value(|s| s.poll.active()) == Some(true) {
        return super::poll::transmit(conn, text);
    }
    conn.socket.try_with_value(|s| match &s.live {
        Some(live) if live.ws.ready_state() == WebSocket::OPEN => {
            if let Err(error) = live.ws.send_with_str(&text) {
                leptos::logging::warn!("socket send failed: {error:?}");
            }
        }
        // Not open: anything that matters is still in the outbox and goes
        // out after the next handshake.
        _ => {}
    });
}

/// `ws://host/api/ws`, or `wss://` when the page came over HTTPS.
fn socket_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = match location.protocol().ok()?.as_str() {
        "https:" => "wss",
        _ => "ws",
    };
    Some(format!("{scheme}://{}{SOCKET_PATH}", location.host().ok()?))
}

fn open(conn: Connection) {
    let Some(url) = socket_url() else {
        return;
    };
    let ws = match WebSocket::new(&url) {
        Ok(ws) => ws,
        Err(error) => {
            leptos::logging::warn!("cannot open {url}: {error:?}");
            conn.ready_state.try_set(ReadyState::Closed);
            schedule_retry(conn);
            return;
        }
    };

    let late = Timeout::new(transport::UPGRADE_TIMEOUT_MS, move || {
        let greeted = conn.socket.try_with_value(|s| s.greeted);
        if greeted == Some(false) {
            leptos::logging::warn!("no welcome in time over WebSocket");
            upgrade_failed(conn);
        }
    });
    conn.socket.try_update_value(|s| {
        s.greeted = false;
        s.upgrade_timer = Some(late);
    });
    let on_open = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
        let heartbeat = Interval::new(PING_EVERY_MS, move || beat(conn));
        conn.socket.try_update_value(|s| {
            s.opened_at = Some(js_sys::Date::now());
            s.awaiting = None;
            s.heartbeat = Some(heartbeat);
        });
        conn.ready_state.try_set(ReadyState::Open);
        // Kept until a socket is greeted: a socket that fails first leaves
        // them to the next.
        let resume = conn.socket.try_with_value(|s| s.resume.clone()).flatten();
        let hello = match resume {
            Some(cursors) => Some(ClientFrame::Hello {
                version: crate::protocol::PROTOCOL_VERSION,
                cursors,
            }),
            None => conn.chat.try_with_untracked(|chat| chat.hello()),
        };
        if let Some(hello) = hello {
            transmit(conn, &hello);
        }
    });
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(text) = event.data().as_string() else {
            return;
        };
        if text.starts_with(r#"{"type":"welcome""#) {
            greeted(conn);
        }
        receive(conn, &text);
    });
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
        leptos::logging::log!("socket closed ({}) {}", event.code(), event.reason());
        let greeted = conn.socket.try_with_value(|s| s.greeted).unwrap_or(true);
        if greeted || event.code() == 4001 {
            lost(conn, event.code() == 4001, false);
        } else {
            upgrade_failed(conn);
        }
    });
    let socket = ws.clone();
    let on_error = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
        // The browser tells nothing more; a `close` event follows.
        conn.ready_state
            .try_set(ReadyState::from_code(socket.ready_state()));
    });

    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));

    let live = Live {
        ws,
        _on_open: on_open,
        _on_message: on_message,
        _on_close: on_close,
        _on_error: on_error,
    };
    // Replacing drops (and detaches) a previous, closed socket.
    conn.socket.try_update_value(|s| s.live = Some(live));
    conn.ready_state.try_set(ReadyState::Connecting);
}

/// A socket's `welcome`: WebSocket works here.
fn greeted(conn: Connection) {
    conn.socket.try_update_value(|s| {
        s.greeted = true;
        s.resume = None;
        s.upgrade_timer = None;
        s.upgrades.greeted();
    });
    if let Some(storage) = storage() {
        let _ = storage.remove_item(transport::STORAGE_KEY);
    }
    conn.transport.try_set(Transport::WebSocket);
}

/// One server frame, from either transport: folded into the chat, its
/// replies sent, a notification shown when one is due.
pub(super) fn receive(conn: Connection, text: &str) {
    match decode_server(text) {
        Ok(ServerFrame::Pong { nonce }) => {
            conn.socket.try_update_value(|s| {
                if s.awaiting.is_some_and(|(n, _)| n == nonce) {
                    s.awaiting = None;
                }
            });
        }
        Ok(frame) => {
            let now = js_sys::Date::now() as i64;
            // A browser notification, decided before the message is held.
            let alert = match &frame {
                ServerFrame::Message { message } => conn
                    .chat
                    // (Its text reads whether the parser is here: not a
                    // view, nothing to draw again.)
                    .try_with_untracked(|chat| untrack(|| chat.alert_for(message)))
                    .flatten()
                    .map(|alert| (message.clone(), alert)),
                ServerFrame::Read { conv, .. } => {
                    super::notifications::read(conv);
                    None
                }
                _ => None,
            };
            let replies = conn
                .chat
                .try_update(|chat| chat.apply(frame, now))
                .unwrap_or_default();
            for reply in &replies {
                transmit(conn, reply);
            }
            if let Some((message, (title, text))) = alert {
                super::notifications::show(&message, &title, &text, move |conv, seq| {
                    conn.opening.try_set(Some((conv, seq)));
                });
            }
        }
        Err(error) => leptos::logging::warn!("ignoring a server frame: {error}"),
    }
}

/// The socket is gone (closed, or silent past the heartbeat): show it and,
/// unless we were signed out, try again after a backoff.
pub(super) fn lost(conn: Connection, signed_out: bool, drop_socket: bool) {
    let wanted = conn.socket.try_update_value(|s| {
        s.heartbeat = None;
        s.upgrade_timer = None;
        s.awaiting = None;
        if drop_socket {
            // Detach and close the silent socket; its events no longer matter.
            drop_later(s.live.take());
        }
        if let Some(opened) = s.opened_at.take() {
            if js_sys::Date::now() - opened >= STABLE_MS {
                s.failures = 0;
            }
        }
        if signed_out {
            s.wanted = false;
        }
        s.wanted
    });
    conn.chat.try_update(|chat| chat.disconnected());
    conn.ready_state.try_set(ReadyState::Closed);
    if wanted == Some(true) {
        schedule_retry(conn);
    }
}

/// Every 15 s: ping, or give up on a socket whose last ping went unanswered.
fn beat(conn: Connection) {
    let now = js_sys::Date::now();
    let verdict = conn.socket.try_update_value(|s| match s.awaiting {
        Some((_, sent)) if now - sent >= PONG_WITHIN_MS => None,
        Some(_) => Some(None),
        None => {
            s.nonce = s.nonce.wrapping_add(1);
            s.awaiting = Some((s.nonce, now));
            Some(Some(s.nonce))
        }
    });
    match verdict.unwrap_or(Some(None)) {
        None => lost(conn, false, true),
        Some(None) => {}
        Some(Some(nonce)) => {
            transmit(conn, &ClientFrame::Ping { nonce });
            // Check for the answer in 10 s rather than at the next beat.
            let check = Timeout::new(PONG_WITHIN_MS as u32, move || {
                let dead = conn
                    .socket
                    .try_with_value(|s| s.awaiting.is_some_and(|(n, _)| n == nonce));
                if dead == Some(true) {
                    leptos::logging::warn!("no pong in time; reconnecting");
                    lost(conn, false, true);
                }
            });
            check.forget();
        }
    }
}

fn schedule_retry(conn: Connection) {
    let Some(delay) = conn.socket.try_update_value(|s| {
        let delay = retry_delay(s.failures, js_sys::Math::random());
        s.failures = s.failures.saturating_add(1);
        delay
    }) else {
        return;
    };
    conn.retry_at
        .try_set(Some(js_sys::Date::now() + f64::from(delay)));
    let timeout = Timeout::new(delay, move || {
        conn.retry_at.try_set(None);
        let wanted = conn.socket.try_update_value(|s| {
            s.retry = None;
            s.wanted
        });
        if wanted == Some(true) {
            open(conn);
        }
    });
    conn.socket.try_update_value(|s| s.retry = Some(timeout));
}

/// A socket failed before its `welcome` (it closed, or the welcome was
/// late): retried, or, after a few in a row while plain HTTP works, the
/// page long-polls.
fn upgrade_failed(conn: Connection) {
    let switch = conn.socket.try_update_value(|s| {
        s.upgrade_timer = None;
        s.upgrades.failed()
    });
    if switch != Some(true) {
        return lost(conn, false, true);
    }
    conn.socket.try_update_value(|s| {
        drop_later(s.live.take());
        s.heartbeat = None;
    });
    super::poll::fall_back(conn, true);
}

/// Long-poll if plain HTTP works (`check`: find out first), else retry
/// the socket. Reached only through the long-polling split module.
pub(super) async fn fall_back(conn: Connection, check: bool) {
    if check {
        let http_works = gloo_net::http::Request::get("/healthz")
            .send()
            .await
            .is_ok_and(|r| r.ok());
        if !http_works {
            return lost(conn, false, true);
        }
        leptos::logging::warn!("WebSocket does not get through here; long-polling");
        if let Some(storage) = storage() {
            let _ = storage.set_item(
                transport::STORAGE_KEY,
                &transport::remember(js_sys::Date::now()),
            );
        }
    }
    start_polling(conn);
}

/// Long-poll from now on, probing for a socket now and then.
fn start_polling(conn: Connection) {
    conn.chat.try_update(|chat| chat.disconnected());
    conn.socket.try_update_value(|s| {
        drop_later(s.live.take());
        s.heartbeat = None;
        s.retry = None;
        s.probes = 0;
    });
    conn.retry_at.try_set(None);
    conn.transport.try_set(Transport::LongPolling);
    super::poll::start(conn);
    schedule_probe(conn);
}

fn schedule_probe(conn: Connection) {
    let Some(delay) = conn.socket.try_update_value(|s| {
        let delay = transport::probe_delay(s.probes, js_sys::Math::random());
        s.probes = s.probes.saturating_add(1);
        delay
    }) else {
        return;
    };
    let timer = Timeout::new(delay, move || probe(conn));
    conn.socket
        .try_update_value(|s| s.probe_timer = Some(timer));
}

/// Try a WebSocket while long-polling: when one opens, move to it.
fn probe(conn: Connection) {
    let wanted = conn.socket.try_with_value(|s| s.wanted && s.poll.active());
    if wanted != Some(true) {
        return;
    }
    let Some(url) = socket_url() else {
        return;
    };
    let Ok(ws) = WebSocket::new(&url) else {
        return schedule_probe(conn);
    };
    let on_open = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
        conn.socket.try_update_value(|s| drop_later(s.probe.take()));
        leptos::logging::log!("WebSocket gets through again; leaving long-polling");
        let cursors = super::poll::cursors(conn);
        super::poll::stop(conn);
        conn.socket.try_update_value(|s| s.resume = Some(cursors));
        conn.chat.try_update(|chat| chat.disconnected());
        conn.socket.try_update_value(|s| s.upgrades.greeted());
        open(conn);
    });
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
        conn.socket.try_update_value(|s| drop_later(s.probe.take()));
        schedule_probe(conn);
    });
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|_: MessageEvent| {});
    let on_error = Closure::<dyn FnMut(Event)>::new(|_: Event| {});
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let probe = Live {
        ws,
        _on_open: on_open,
        _on_message: on_message,
        _on_close: on_close,
        _on_error: on_error,
    };
    conn.socket.try_update_value(|s| s.probe = Some(probe));
}

/// Drop a socket after the current event: its handlers may be the code
/// running now, which must not be freed under itself.
fn drop_later(live: Option<Live>) {
    if let Some(live) = live {
        Timeout::new(0, move || drop(live)).forget();
    }
}
