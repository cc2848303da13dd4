//! Which transport the connection uses, and when it changes: plain data
//! and rules, tested natively. The browser side is `socket.rs` (WebSocket)
//! and `poll.rs` (HTTP long-polling).
//!
//! - A WebSocket that fails [`UPGRADE_FAILURES`] times in a row before its
//!   `welcome`, or whose `welcome` takes longer than [`UPGRADE_TIMEOUT_MS`],
//!   makes the page long-poll, if plain HTTP to the server works (else the
//!   server is down, and the socket is retried as usual).
//! - While long-polling, a WebSocket is tried again after
//!   [`probe_delay`]; when one opens, the page moves back to it. Resume by
//!   cursor and resends by `client_id` make the move lose and double
//!   nothing.
//! - The choice is remembered for the tab (`sessionStorage`), so a reload
//!   on a blocked network starts long-polling at once; it is forgotten
//!   after a WebSocket works, and [`REMEMBER_MS`] after it was made.

use serde::{Deserialize, Serialize};

use crate::protocol::{Conv, Cursor};

/// Failed upgrades in a row that make the page try long-polling.
pub const UPGRADE_FAILURES: u32 = 2;
/// An upgrade (until `welcome`) that takes longer than this has failed.
pub const UPGRADE_TIMEOUT_MS: u32 = 5_000;
/// How long a tab remembers that WebSocket did not work.
pub const REMEMBER_MS: f64 = 10.0 * 60.0 * 1000.0;
/// The `sessionStorage` key of the remembered choice.
pub const STORAGE_KEY: &str = "parley.transport";
/// The long-polling endpoint.
pub const POLL_PATH: &str = "/api/poll";
/// A long-poll `GET` with no answer after this is given up and retried
/// (the server holds one 25 s when there is nothing to say).
pub const POLL_TIMEOUT_MS: u32 = 40_000;

const FIRST_PROBE_MS: u32 = 2_000;
const MAX_PROBE_MS: u32 = 30_000;

/// How frames travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    #[default]
    WebSocket,
    LongPolling,
}

impl Transport {
    /// The machine name, for the `data-transport` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::LongPolling => "long-polling",
        }
    }
}

/// Milliseconds before the `attempt`-th WebSocket probe while
/// long-polling (`random` in [0, 1)): from 2 s doubling to 30 s, in the
/// upper half of each step.
pub fn probe_delay(attempt: u32, random: f64) -> u32 {
    super::connection::backoff(FIRST_PROBE_MS, MAX_PROBE_MS, attempt, random)
}

/// What a tab stores when it chose long-polling at `now` (ms).
pub fn remember(now: f64) -> String {
    format!("poll:{}", now as i64)
}

/// Whether a stored choice still says to long-poll at `now`.
pub fn remembered(stored: Option<&str>, now: f64) -> bool {
    stored
        .and_then(|s| s.strip_prefix("poll:"))
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|at| {
            let age = now - at as f64;
            (0.0..REMEMBER_MS).contains(&age)
        })
}

/// Counts a WebSocket's failures before `welcome`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Upgrades {
    failures: u32,
}

impl Upgrades {
    /// A socket closed (or timed out) before its `welcome`: true when the
    /// page should try long-polling now.
    pub fn failed(&mut self) -> bool {
        self.failures = self.failures.saturating_add(1);
        self.failures >= UPGRADE_FAILURES
    }

    /// A socket was greeted: WebSocket works here.
    pub fn greeted(&mut self) {
        self.failures = 0;
    }
}

/// Where a long-polling tab is in each conversation: the positions its
/// `GET`s brought (and, at the start, the chat's). An ack in a `POST`
/// answer does not move them: it can overtake messages of others that a
/// `GET` has not brought yet (a socket's ack cannot), and a greeting from
/// a cursor past them would skip them. The tab's own message comes in a
/// `GET` in its turn, like everyone's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamCursors(Vec<Cursor>);

impl StreamCursors {
    pub fn new(cursors: Vec<Cursor>) -> Self {
        StreamCursors(cursors)
    }

    pub fn list(&self) -> &[Cursor] {
        &self.0
    }

    /// A frame a `GET` brought: a `message` or `change` moves its
    /// conversation's position.
    pub fn note(&mut self, frame: &serde_json::Value) {
        let entry = match frame.get("type").and_then(|t| t.as_str()) {
            Some("message") => frame.get("message"),
            Some("change") => frame.get("change"),
            _ => None,
        };
        let Some(entry) = entry else {
            return;
        };
        let conv = entry.get("conv").and_then(|c| Conv::deserialize(c).ok());
        let seq = entry.get("seq").and_then(|s| s.as_i64());
        if let (Some(conv), Some(seq)) = (conv, seq) {
            self.advance(conv, seq);
        }
    }

    fn advance(&mut self, conv: Conv, seq: i64) {
        match self.0.iter_mut().find(|c| c.conv == conv) {
            Some(cursor) => cursor.seq = cursor.seq.max(seq),
            None => self.0.push(Cursor { conv, seq }),
        }
    }
}

/// A long-poll answer: the frames (decoded one by one, as a socket's
/// are), the token for the next `GET`, and why the tab has to start over.
#[derive(Debug, Deserialize, Serialize)]
pub struct PollAnswer {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub close: Option<PollClose>,
    pub frames: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct PollClose {
    pub code: u16,
    pub reason: String,
}

/// The query of a long-poll `GET`.
pub fn poll_query(tab: &str, since: Option<&str>, cursors: &[Cursor]) -> String {
    let cursors = serde_json::to_string(cursors).unwrap_or_else(|_| "[]".into());
    let mut query = format!(
        "{POLL_PATH}?tab={tab}&v={}&cursors={}",
        crate::protocol::PROTOCOL_VERSION,
        encode_component(&cursors)
    );
    if let Some(since) = since {
        query.push_str("&since=");
        query.push_str(&encode_component(since));
    }
    query
}

/// Percent-encoding for a query value (everything but unreserved bytes).
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ServerFrame, PROTOCOL_VERSION};

    #[test]
    fn stream_cursors_move_with_what_gets_bring_only() {
        let lobby = Conv::Room("lobby".into());
        let mut cursors = StreamCursors::new(vec![Cursor {
            conv: lobby.clone(),
            seq: 3,
        }]);
        let message = |conv: Conv, seq: i64| {
            serde_json::json!({"type": "message", "message": {
                "id": seq, "conv": conv, "seq": seq, "sender": "bob", "body": "hi", "ts": 1
            }})
        };
        cursors.note(&message(lobby.clone(), 5));
        cursors.note(&message(lobby.clone(), 4));
        cursors.note(&message(Conv::Dm("ann".into()), 2));
        // An ack is not a position of the stream.
        cursors.note(
            &serde_json::json!({"type": "ack", "client_id": "c", "id": 9,
            "conv": {"room": "lobby"}, "seq": 9, "ts": 1}),
        );
        let welcome = serde_json::to_value(ServerFrame::Synced {}).unwrap();
        cursors.note(&welcome);
        assert_eq!(
            cursors.list(),
            [
                Cursor {
                    conv: lobby,
                    seq: 5
                },
                Cursor {
                    conv: Conv::Dm("ann".into()),
                    seq: 2
                }
            ]
        );
        assert_eq!(PROTOCOL_VERSION, 1);
    }

    #[test]
    fn two_failed_upgrades_in_a_row_switch() {
        let mut upgrades = Upgrades::default();
        assert!(!upgrades.failed());
        upgrades.greeted();
        assert!(!upgrades.failed(), "a success in between starts over");
        assert!(upgrades.failed());
        assert!(upgrades.failed(), "and keeps saying so");
    }

    #[test]
    fn probes_back_off_to_30_s() {
        assert_eq!(probe_delay(0, 0.0), 1_000);
        assert_eq!(probe_delay(0, 0.999), 1_999);
        assert_eq!(probe_delay(1, 0.0), 2_000);
        assert_eq!(probe_delay(4, 0.0), 15_000);
        assert_eq!(probe_delay(30, 1.0), 30_000);
    }

    #[test]
    fn the_choice_is_forgotten_after_a_while() {
        let at = 1_000_000.0;
        let stored = remember(at);
        assert!(remembered(Some(&stored), at));
        assert!(remembered(Some(&stored), at + REMEMBER_MS - 1.0));
        assert!(!remembered(Some(&stored), at + REMEMBER_MS));
        assert!(!remembered(Some(&stored), at - 5.0), "a clock set back");
        assert!(!remembered(None, at));
        assert!(!remembered(Some("websocket"), at));
        assert!(!remembered(Some("poll:soon"), at));
    }

    #[test]
    fn the_query_carries_cursors_and_token() {
        let cursors = [Cursor {
            conv: Conv::Room("lobby".into()),
            seq: 7,
        }];
        let query = poll_query("tab_12345678", Some("99.3"), &cursors);
        assert!(query.starts_with("/api/poll?tab=tab_12345678&v=1&cursors=%5B%7B"));
        assert!(query.ends_with("&since=99.3"));
        assert!(!query.contains(' ') && !query.contains('"'));
        let answer: PollAnswer =
            serde_json::from_str(r#"{"next":"5.1","frames":[{"type":"synced"}]}"#).unwrap();
        assert_eq!(answer.next.as_deref(), Some("5.1"));
        assert_eq!(answer.frames[0].to_string(), r#"{"type":"synced"}"#);
        let closed: PollAnswer =
            serde_json::from_str(r#"{"close":{"code":4001,"reason":"signed out"},"frames":[]}"#)
                .unwrap();
        assert_eq!(closed.close.map(|c| c.code), Some(4001));
    }
}
