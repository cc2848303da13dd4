//! Long-polling (`/api/poll`) as a browser tab speaks it: a random tab id,
//! `POST`s of client frames answered with their replies and acks, and
//! `GET`s that carry the `since` token of the last answer and the cursors
//! the tab holds: the last seq of each conversation it received (see
//! [`CursorRule`] for whether a `POST`'s acks move them).
//!
//! Each request may go to another node ([`PollClient::alternate`]): the
//! `Origin` is then that node's own, as a load balancer's single origin
//! would be for every node behind it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

/// The header that proves a request comes from the site's own page.
pub const POLL_HEADER: &str = "x-parley-poll";

/// Longest wait for any one long-poll request (a held `GET` included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A new random tab id: 24 letters and digits.
pub fn random_tab() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 24)
}

/// The headers of one request; each can be left out or changed by a test.
#[derive(Clone, Debug)]
pub struct Headers {
    /// `parley_session=…`
    pub cookie: Option<String>,
    pub origin: Option<String>,
    /// `X-Parley-Poll: 1`
    pub poll: bool,
}

/// A `200` answer of `/api/poll`.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    pub next: Option<String>,
    pub close: Option<(u16, String)>,
    pub frames: Vec<ServerFrame>,
}

/// A refused request: its status and the `error` code of its JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub error: String,
}

/// What moves a tab's cursors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CursorRule {
    /// The `message`s and `change`s of `GET` answers (greeting backlogs
    /// included). A `POST`'s ack confirms a send; its message comes in the
    /// `GET`s, in order, like everyone else's. The `GET`s are then a gap-free
    /// log whatever node answers them.
    Received,
    /// Acks too, as the web app's `Chat::hello()` does: it holds the
    /// message an ack confirms. An ack can then move a cursor past
    /// entries the `GET`s have not brought yet (a `POST` answer is not
    /// ordered with them, unlike a socket's ack), and a greeting by that
    /// cursor leaves them out.
    WithAcks,
}

/// An HTTP client for the long-poll tests (no cookie store: the session
/// cookie is a header of its own).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("HTTP client")
}

/// `POST {base}/api/poll?tab={tab}` with `body`, whatever the answer.
pub async fn raw_post(
    http: &reqwest::Client,
    base: &str,
    tab: &str,
    headers: &Headers,
    body: Vec<u8>,
) -> reqwest::Response {
    let request = http
        .post(format!("{base}/api/poll"))
        .query(&[("tab", tab)])
        .header(header::CONTENT_TYPE, "application/json")
        .body(body);
    with_headers(request, headers)
        .send()
        .await
        .expect("POST /api/poll")
}

/// `GET {base}/api/poll?tab=…&v=1&since=…&cursors=…`, whatever the answer.
pub async fn raw_get(
    http: &reqwest::Client,
    base: &str,
    tab: &str,
    headers: &Headers,
    since: Option<&str>,
    cursors: &[Cursor],
) -> reqwest::Response {
    let mut query = vec![
        ("tab", tab.to_string()),
        ("v", PROTOCOL_VERSION.to_string()),
    ];
    if let Some(since) = since {
        query.push(("since", since.to_string()));
    }
    if !cursors.is_empty() {
        query.push(("cursors", encode(&cursors)));
    }
    let request = http.get(format!("{base}/api/poll")).query(&query);
    with_headers(request, headers)
        .send()
        .await
        .expect("GET /api/poll")
}

fn with_headers(
    mut request: reqwest::RequestBuilder,
    headers: &Headers,
) -> reqwest::RequestBuilder {
    if let Some(cookie) = &headers.cookie {
        request = request.header(header::COOKIE, cookie);
    }
    if let Some(origin) = &headers.origin {
        request = request.header(header::ORIGIN, origin);
    }
    if headers.poll {
        request = request.header(POLL_HEADER, "1");
    }
    request
}

/// The answer of a request that must have succeeded.
pub async fn answer_of(response: reqwest::Response) -> Answer {
    let status = response.status();
    let text = response.text().await.expect("answer body");
    assert_eq!(status, 200, "long-poll request refused: {text}");
    let value: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("answer is not JSON: {text}: {e}"));
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("answer is not an object: {text}"));
    for key in object.keys() {
        assert!(
            ["next", "close", "frames"].contains(&key.as_str()),
            "unexpected field {key} in {text}"
        );
    }
    let next = object.get("next").map(|n| {
        n.as_str()
            .unwrap_or_else(|| panic!("`next` is not a string: {text}"))
            .to_string()
    });
    let close = object.get("close").map(|c| {
        let code = c["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("close without a code: {text}"));
        let reason = c["reason"].as_str().unwrap_or_default().to_string();
        (code as u16, reason)
    });
    let frames = object
        .get("frames")
        .and_then(|f| f.as_array())
        .unwrap_or_else(|| panic!("answer without frames: {text}"))
        .iter()
        .map(|f| {
            decode_server(&f.to_string())
                .unwrap_or_else(|e| panic!("undecodable server frame {f}: {e}"))
        })
        .collect();
    Answer {
        next,
        close,
        frames,
    }
}

/// The status and error code of a request that must have been refused.
pub async fn refusal_of(response: reqwest::Response) -> Refusal {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert_ne!(status, 200, "expected a refusal, got {text}");
    let error = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default();
    Refusal { status, error }
}

/// A browser tab that long-polls.
pub struct PollClient {
    http: reqwest::Client,
    pub user: String,
    pub cookie: String,
    pub tab: String,
    /// Where requests go, in turn (one base: always there).
    bases: Vec<String>,
    turn: usize,
    /// Where the last request went.
    pub last_base: String,
    /// The `next` of the last `GET` answer, if it had one.
    pub since: Option<String>,
    /// The last seq received in each conversation.
    pub cursors: BTreeMap<Conv, i64>,
    pub cursor_rule: CursorRule,
    /// The seqs of the acks received, per conversation, in order.
    pub acked: BTreeMap<Conv, Vec<i64>>,
    /// Why the tab's connection ended, the last time it did.
    pub closed: Option<(u16, String)>,
    /// `welcome`s received.
    pub welcomes: usize,
    /// Every frame received, in order.
    pub log: Vec<ServerFrame>,
    /// Messages received above the cursor of their conversation, in order
    /// (what a client keeps).
    pub messages: Vec<Message>,
    /// Messages and changes that came at or below the cursor of their
    /// conversation: duplicates a client has to drop.
    pub stale: Vec<ServerFrame>,
    /// (conversation, cursor, seq) of entries that skipped past the cursor.
    pub gaps: Vec<(Conv, i64, i64)>,
    /// Sends not yet acknowledged or refused, resent by
    /// [`PollClient::resend_outbox`].
    pub outbox: Vec<ClientFrame>,
}

impl PollClient {
    /// A new tab of `session` on the server at `base` (`http://host:port`).
    pub fn new(base: &str, cookie: &str, user: &str) -> Self {
        PollClient {
            http: http_client(),
            user: user.to_string(),
            cookie: cookie.to_string(),
            tab: random_tab(),
            bases: vec![base.to_string()],
            turn: 0,
            last_base: base.to_string(),
            since: None,
            cursors: BTreeMap::new(),
            cursor_rule: CursorRule::Received,
            acked: BTreeMap::new(),
            closed: None,
            welcomes: 0,
            log: Vec::new(),
            messages: Vec::new(),
            stale: Vec::new(),
            gaps: Vec::new(),
            outbox: Vec::new(),
        }
    }

    /// A tab of a test server's signed-in user.
    pub fn of(server: &TestServer, session: &Session) -> Self {
        Self::new(&server.origin(), &session.cookie, &session.name)
    }

    /// The same page with a new tab id (a reload): it keeps its cursors
    /// but has no `since`.
    pub fn reload(&self) -> Self {
        let mut tab = Self::new(&self.bases[0], &self.cookie, &self.user);
        tab.bases = self.bases.clone();
        tab.turn = self.turn;
        tab.cursors = self.cursors.clone();
        tab.cursor_rule = self.cursor_rule;
        tab
    }

    /// Send each request to the next of `bases`, in turn.
    pub fn alternate(&mut self, bases: Vec<String>) {
        assert!(!bases.is_empty());
        self.bases = bases;
        self.turn = 0;
    }

    /// The base URL the next request goes to.
    pub fn next_base(&mut self) -> String {
        let base = self.bases[self.turn % self.bases.len()].clone();
        self.turn += 1;
        self.last_base = base.clone();
        base
    }

    /// What a browser sends to `base`: the cookie, the header, the origin.
    pub fn headers(&self, base: &str) -> Headers {
        Headers {
            cookie: Some(self.cookie.clone()),
            origin: Some(base.to_string()),
            poll: true,
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The cursors the tab holds, as a `hello` carries them.
    pub fn cursor_list(&self) -> Vec<Cursor> {
        self.cursors
            .iter()
            .map(|(conv, seq)| cursor(conv.clone(), *seq))
            .collect()
    }

    pub fn cursor_of(&self, conv: &Conv) -> i64 {
        self.cursors.get(conv).copied().unwrap_or(0)
    }

    // ---- raw requests: nothing is remembered ---------------------------------

    /// `POST` `frames` to `base`, whatever the answer.
    pub async fn post_raw(&self, base: &str, frames: &[ClientFrame]) -> reqwest::Response {
        let body = format!(
            "[{}]",
            frames.iter().map(encode).collect::<Vec<_>>().join(",")
        );
        raw_post(
            &self.http,
            base,
            &self.tab,
            &self.headers(base),
            body.into_bytes(),
        )
        .await
    }

    /// `GET` from `base` with `since` and the cursors the tab holds,
    /// whatever the answer.
    pub async fn get_raw(&self, base: &str, since: Option<&str>) -> reqwest::Response {
        raw_get(
            &self.http,
            base,
            &self.tab,
            &self.headers(base),
            since,
            &self.cursor_list(),
        )
        .await
    }

    // ---- the tab's life: answers are taken in -------------------------------

    /// `POST` `frames`; every frame they got back.
    pub async fn send(&mut self, frames: &[ClientFrame]) -> Vec<ServerFrame> {
        for frame in frames {
            if matches!(frame, ClientFrame::Send { .. }) {
                self.outbox.push(frame.clone());
            }
        }
        let base = self.next_base();
        let answer = answer_of(self.post_raw(&base, frames).await).await;
        self.take(answer, false)
    }

    /// `POST` one `send`; its ack's (id, seq).
    pub async fn post(&mut self, client_id: &str, conv: Conv, body: &str) -> (i64, i64) {
        let frames = self
            .send(&[ClientFrame::Send {
                client_id: client_id.to_string(),
                conv,
                body: body.to_string(),
                reply_to: None,
            }])
            .await;
        match frames.as_slice() {
            [ServerFrame::Ack {
                client_id: acked,
                id,
                seq,
                ..
            }] if acked == client_id => (*id, *seq),
            other => panic!(
                "{}: expected the ack of {client_id}, got {other:?}",
                self.user
            ),
        }
    }

    /// Send every unacknowledged `send` again (after a `welcome`).
    pub async fn resend_outbox(&mut self) -> Vec<ServerFrame> {
        if self.outbox.is_empty() {
            return Vec::new();
        }
        let frames = std::mem::take(&mut self.outbox);
        self.send(&frames).await
    }

    /// One `GET` with the tab's `since` and cursors; every frame it brought.
    pub async fn poll(&mut self) -> Vec<ServerFrame> {
        let base = self.next_base();
        let since = self.since.clone();
        let answer = answer_of(self.get_raw(&base, since.as_deref()).await).await;
        self.take(answer, true)
    }

    /// `GET` until `done` says the tab has what it waits for (at most
    /// twice [`TIMEOUT`]); every frame received meanwhile.
    pub async fn poll_until(
        &mut self,
        what: &str,
        mut done: impl FnMut(&PollClient) -> bool,
    ) -> Vec<ServerFrame> {
        let deadline = tokio::time::Instant::now() + TIMEOUT * 2;
        let mut frames = Vec::new();
        while !done(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: no {what} in time; holding {:?}, received {:?}",
                self.user,
                self.cursors,
                self.messages
                    .iter()
                    .map(|m| (&m.conv, m.seq, &m.body))
                    .collect::<Vec<_>>()
            );
            frames.extend(self.poll().await);
        }
        frames
    }

    /// `GET` until messages with these bodies arrived; the messages
    /// received meanwhile.
    pub async fn poll_messages(&mut self, bodies: &[&str]) -> Vec<Message> {
        let from = self.messages.len();
        let wanted: Vec<String> = bodies.iter().map(|b| b.to_string()).collect();
        self.poll_until("messages", |c| {
            wanted
                .iter()
                .all(|w| c.messages[from..].iter().any(|m| &m.body == w))
        })
        .await;
        self.messages[from..].to_vec()
    }

    /// Take an answer in: remember `next` (for a `GET`), move the cursors,
    /// note duplicates and gaps, and start over after a close.
    pub fn take(&mut self, answer: Answer, get: bool) -> Vec<ServerFrame> {
        if get {
            self.since = answer.next.clone();
        }
        for frame in &answer.frames {
            self.observe(frame);
        }
        if let Some(close) = answer.close {
            // The tab's connection ended: the next GET starts over.
            self.since = None;
            self.closed = Some(close);
        }
        answer.frames
    }

    fn observe(&mut self, frame: &ServerFrame) {
        self.log.push(frame.clone());
        match frame {
            ServerFrame::Welcome { .. } => self.welcomes += 1,
            ServerFrame::Message { message } => {
                if !self.advance(&message.conv, message.seq, frame) {
                    return;
                }
                // Its own message, stored before the ack came: sent.
                if let (Some(client_id), true) = (&message.client_id, message.sender == self.user) {
                    self.outbox.retain(|o| client_id_of(o) != Some(client_id));
                }
                self.messages.push(message.clone());
            }
            ServerFrame::Change { change } => {
                self.advance(&change.conv, change.seq, frame);
            }
            ServerFrame::Ack {
                client_id,
                conv,
                seq,
                ..
            } => {
                self.outbox
                    .retain(|o| client_id_of(o) != Some(client_id.as_str()));
                self.acked.entry(conv.clone()).or_default().push(*seq);
                if self.cursor_rule == CursorRule::WithAcks {
                    let at = self.cursors.entry(conv.clone()).or_insert(0);
                    *at = (*at).max(*seq);
                }
            }
            ServerFrame::Error {
                client_id: Some(client_id),
                ..
            } => self
                .outbox
                .retain(|o| client_id_of(o) != Some(client_id.as_str())),
            _ => {}
        }
    }

    /// Move the cursor of `conv` to `seq`; false (and noted) for an entry
    /// at or below it.
    fn advance(&mut self, conv: &Conv, seq: i64, frame: &ServerFrame) -> bool {
        let at = self.cursors.get(conv).copied();
        if let Some(at) = at {
            if seq <= at {
                self.stale.push(frame.clone());
                return false;
            }
            if seq > at + 1 {
                self.gaps.push((conv.clone(), at, seq));
            }
        }
        self.cursors.insert(conv.clone(), seq);
        true
    }

    /// Stale entries that someone else wrote (with [`CursorRule::WithAcks`],
    /// a tab's own messages come again after their acks).
    pub fn stale_from_others(&self) -> Vec<&ServerFrame> {
        self.stale
            .iter()
            .filter(|f| match f {
                ServerFrame::Message { message } => message.sender != self.user,
                ServerFrame::Change { change } => change.sender != self.user,
                _ => true,
            })
            .collect()
    }
}

/// The messages among `frames`.
pub fn messages_in(frames: &[ServerFrame]) -> Vec<&Message> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Message { message } => Some(message),
            _ => None,
        })
        .collect()
}

/// The frames that are not presence, typing, member or profile noise.
pub fn without_noise(frames: &[ServerFrame]) -> Vec<&ServerFrame> {
    frames.iter().filter(|f| !is_noise(f)).collect()
}
