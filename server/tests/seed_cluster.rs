//! The seed document's guest endpoints in cluster mode: two server
//! processes on one PostgreSQL database, relaying through a Redis of the
//! test's own, and guests speaking exactly as the seed's pages do — the
//! group page sends its input's text as is, the direct page sends
//! `JSON.stringify({receiver, sender, data})` to `/ws/{username}`.
//!
//! Nothing sleeps to synchronise: every wait is for a frame or a close,
//! bounded by a timeout. A guest proves that nothing else is queued for it
//! by writing to a receiver nobody has: the server's note about that one
//! must be the next frame it gets (a guest's frames are handled in order).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::db::TestDb;
use common::process::ServerProcess;
use common::resilient::*;
use common::services::RedisProcess;
use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A receiver no test connects.
const NOBODY: &str = "zz-nobody-here";

/// Two nodes on a fresh database and a Redis of their own.
async fn two_nodes() -> (TestDb, RedisProcess, ServerProcess, ServerProcess) {
    let db = TestDb::postgres().await;
    let redis = RedisProcess::start().await;
    let a = ServerProcess::node(&db.url, &redis.url(), "a", &[]).await;
    let b = ServerProcess::node(&db.url, &redis.url(), "b", &[]).await;
    subscribed(&redis, 2).await;
    (db, redis, a, b)
}

/// Wait until `n` nodes listen on the cluster channel. A node says it is
/// running before its subscriber is in; what is published before then
/// does not reach it, and the seed's frames are not stored to be resent.
async fn subscribed(redis: &RedisProcess, n: usize) {
    let client = redis::Client::open(redis.url()).expect("Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis connection");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (_, count): (String, usize) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("parley:events")
            .query_async(&mut conn)
            .await
            .expect("PUBSUB NUMSUB");
        if count >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{count} of {n} nodes subscribed");
        // Nothing to wait on but Redis's count.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A browser tab of one of the seed's pages.
struct Page {
    ws: Ws,
    /// The nickname typed in (`/ws/{username}`), or `/ws` for the group page.
    name: String,
}

#[derive(Debug, PartialEq, Eq)]
enum Got {
    Text(String),
    Closed(Option<(u16, String)>),
}

impl Page {
    async fn open(addr: SocketAddr, path: &str, name: &str) -> Page {
        let url = format!("ws://{addr}{path}");
        let (ws, _) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(url))
            .await
            .expect("upgrade in time")
            .unwrap_or_else(|e| panic!("upgrade of {path} refused: {e}"));
        Page {
            ws,
            name: name.to_string(),
        }
    }

    /// The group chat page (`/ws`).
    async fn group(addr: SocketAddr, label: &str) -> Page {
        Page::open(addr, "/ws", label).await
    }

    /// The direct chat page after "login": `/ws/{username}`, not yet known
    /// to be registered.
    async fn direct(addr: SocketAddr, name: &str) -> Page {
        Page::open(addr, &format!("/ws/{}", percent_encode(name)), name).await
    }

    /// The direct chat page, registered: it was answered.
    async fn ready(addr: SocketAddr, name: &str) -> Page {
        let mut page = Page::direct(addr, name).await;
        page.sync().await;
        page
    }

    async fn send_text(&mut self, text: &str) {
        tokio::time::timeout(TIMEOUT, self.ws.send(WsMessage::text(text)))
            .await
            .unwrap_or_else(|_| panic!("{}: send timed out", self.name))
            .unwrap_or_else(|e| panic!("{}: send failed: {e}", self.name));
    }

    /// What the direct page's `send_msg()` sends: its fields in the page's
    /// order, `sender` being what the user typed as their nickname.
    async fn send_msg(&mut self, receiver: &str, data: &str) {
        let json = |s: &str| serde_json::to_string(s).unwrap();
        let frame = format!(
            "{{\"receiver\":{},\"sender\":{},\"data\":{}}}",
            json(receiver),
            json(&self.name),
            json(data)
        );
        self.send_text(&frame).await;
    }

    async fn next(&mut self) -> Got {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{}: nothing within {TIMEOUT:?}", self.name));
            match next {
                Some(Ok(WsMessage::Text(text))) => return Got::Text(text.to_string()),
                Some(Ok(WsMessage::Close(frame))) => {
                    return Got::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string())))
                }
                Some(Ok(WsMessage::Binary(b))) => panic!("{}: binary frame {b:?}", self.name),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Got::Closed(None),
            }
        }
    }

    async fn recv_text(&mut self) -> String {
        match self.next().await {
            Got::Text(text) => text,
            Got::Closed(close) => panic!("{}: closed: {close:?}", self.name),
        }
    }

    /// The next frame, which must be exactly `{"sender","receiver","data"}`.
    async fn recv_seed(&mut self) -> (String, String, String) {
        let text = self.recv_text().await;
        let value: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {text}: {e}", self.name));
        let object = value.as_object().expect("an object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["data", "receiver", "sender"],
            "{}: {text}",
            self.name
        );
        let field = |k: &str| object[k].as_str().expect("a string").to_string();
        (field("sender"), field("receiver"), field("data"))
    }

    /// The next frame must be a note of the server's; its text.
    async fn recv_note(&mut self) -> String {
        let (sender, receiver, data) = self.recv_seed().await;
        assert_eq!(
            (sender.as_str(), receiver.as_str()),
            ("server", self.name.as_str()),
            "{}: expected a server note, got {data:?}",
            self.name
        );
        data
    }

    /// Write to nobody: the answer must be the next frame, so nothing else
    /// was waiting for this page (no note, no copy of anything).
    async fn sync(&mut self) {
        self.send_msg(NOBODY, "anyone?").await;
        let note = self.recv_note().await;
        assert!(
            note.contains(NOBODY),
            "{}: expected the note about {NOBODY}, got {note:?}",
            self.name
        );
    }

    /// Send to `receiver` until the server answers that it is not there;
    /// that note. A node hears of a guest leaving another node a moment
    /// after it left (or, for a node that died, when its presence expires):
    /// until then a frame is passed on to where the guest was, and no
    /// frame tells when the node heard. So this polls.
    async fn until_not_there(&mut self, receiver: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            self.send_msg(receiver, "still there?").await;
            self.send_msg(NOBODY, "anyone?").await;
            let note = self.recv_note().await;
            if !note.contains(NOBODY) {
                let next = self.recv_note().await;
                assert!(next.contains(NOBODY), "{}: {next:?}", self.name);
                return note;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {receiver} still counted as connected",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Open `/ws/{name}` and write to nobody: whether the name was given
    /// (the note came) or refused (closed with 1008).
    async fn try_name(addr: SocketAddr, name: &str) -> Option<Page> {
        let mut page = Page::direct(addr, name).await;
        // A refused page is closed, but the server reads (and drops) what
        // the page still sends until it answers the close.
        let frame = serde_json::json!({"receiver": NOBODY, "sender": name, "data": "?"});
        let _ = page.ws.send(WsMessage::text(frame.to_string())).await;
        match page.next().await {
            Got::Text(_) => Some(page),
            Got::Closed(close) => {
                let (code, reason) = close.expect("a close frame");
                assert_eq!(code, 1008, "{name}: {reason}");
                assert!(reason.contains("already connected"), "{name}: {reason}");
                None
            }
        }
    }

    /// Expect the server to close the page; code and reason.
    async fn expect_close(&mut self) -> (u16, String) {
        loop {
            if let Got::Closed(close) = self.next().await {
                return close.unwrap_or_else(|| panic!("{}: no close frame", self.name));
            }
        }
    }

    async fn close(mut self) {
        let _ = tokio::time::timeout(TIMEOUT, self.ws.close(None)).await;
        // The server's close frame comes once it has let the name go.
        let _ = tokio::time::timeout(TIMEOUT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

/// A signed-in, greeted client of `addr`.
async fn user_at(addr: SocketAddr, name: &str) -> (String, Client) {
    let cookie = sign_in_at(addr, name).await;
    let mut client = Client::new(native(addr, &cookie).await, name);
    client.hello(vec![]).await;
    (cookie, client)
}

async fn presence(client: &mut Client, who: &str, online: bool) {
    client
        .recv_until(|f| {
            matches!(f, ServerFrame::Presence { user, online: o, .. } if user == who && *o == online)
        })
        .await;
}

/// `/ws` on node A and `/ws` on node B hear each other, verbatim, exactly
/// once, and nobody hears their own frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_chat_spans_both_nodes_exactly_once() {
    let (_db, _redis, a, b) = two_nodes().await;
    // The last page to connect speaks first: the pages before it hear it
    // (they connected earlier), and its frame being read means it is in.
    let mut b1 = Page::group(b.addr, "b1").await;
    let mut b2 = Page::group(b.addr, "b2").await;
    let mut a1 = Page::group(a.addr, "a1").await;
    let mut a2 = Page::group(a.addr, "a2").await;
    a2.send_text("a-check").await;
    assert_eq!(a1.recv_text().await, "a-check", "same node");
    assert_eq!(b1.recv_text().await, "a-check", "from A to B");
    assert_eq!(b2.recv_text().await, "a-check", "from A to B");

    // From B to A; a2's next frame is it: no copy of its own "a-check".
    b2.send_text("b-check").await;
    assert_eq!(b1.recv_text().await, "b-check", "same node");
    assert_eq!(a1.recv_text().await, "b-check", "from B to A");
    assert_eq!(a2.recv_text().await, "b-check", "from B to A");

    let texts = [
        "hello everyone",
        r#"{"a": 1,  "b":[2], "sender":"someone else"}"#,
        "not json at all {",
        "ünïcödé <b>bold</b> \u{1F600} 你好",
        "",
    ];
    for text in texts {
        a1.send_text(text).await;
    }
    for text in texts {
        assert_eq!(a2.recv_text().await, text, "verbatim, same node");
        assert_eq!(b1.recv_text().await, text, "verbatim, to B");
        assert_eq!(b2.recv_text().await, text, "verbatim, to B");
    }

    // Anything delivered twice would come before these.
    a2.send_text("end A").await;
    assert_eq!(a1.recv_text().await, "end A");
    assert_eq!(b1.recv_text().await, "end A");
    assert_eq!(b2.recv_text().await, "end A");
    b2.send_text("end B").await;
    assert_eq!(a1.recv_text().await, "end B");
    assert_eq!(a2.recv_text().await, "end B");
    assert_eq!(b1.recv_text().await, "end B");

    // A page that leaves no longer counts; the others go on.
    b1.close().await;
    a1.send_text("after b1 left").await;
    assert_eq!(b2.recv_text().await, "after b1 left");
    assert_eq!(a2.recv_text().await, "after b1 left");
}

/// Guests on different nodes chat directly; a name is unique across the
/// cluster; the "not connected" note comes only when the receiver is
/// connected nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_on_two_nodes_chat_and_their_names_are_unique_across_nodes() {
    let (_db, _redis, a, b) = two_nodes().await;
    let mut ann = Page::ready(a.addr, "ann").await;
    let mut bob = Page::ready(b.addr, "bob").await;

    // Right after bob connected to B: node A may not have heard of him
    // yet, and must still not call him offline.
    ann.send_msg("bob", "hi bob").await;
    assert_eq!(
        bob.recv_seed().await,
        ("ann".into(), "bob".into(), "hi bob".into())
    );
    ann.sync().await; // no "not connected" note
    bob.send_msg("ann", "hi ann").await;
    assert_eq!(
        ann.recv_seed().await,
        ("bob".into(), "ann".into(), "hi ann".into())
    );
    bob.sync().await;
    let odd = "ünïcödé \"quoted\" <b>{json}</b> 你好";
    ann.send_msg("BOB", odd).await;
    assert_eq!(
        bob.recv_seed().await,
        ("ann".into(), "BOB".into(), odd.into()),
        "a guest's name in another case, as on one node"
    );
    // Once each: their next frames are the answers to their own syncs.
    ann.sync().await;
    bob.sync().await;

    // Somebody connected nowhere: told.
    ann.send_msg("ghost", "hello?").await;
    let note = ann.recv_note().await;
    assert!(
        note.contains("ghost") && note.contains("not connected"),
        "{note}"
    );

    // Names are unique across the nodes, in any case.
    for (addr, name) in [
        (a.addr, "bob"),
        (a.addr, "Bob"),
        (b.addr, "ann"),
        (b.addr, "ANN"),
    ] {
        let mut refused = Page::direct(addr, name).await;
        let (code, reason) = refused.expect_close().await;
        assert_eq!(code, 1008, "{name}: {reason}");
        assert!(reason.contains("already connected"), "{name}: {reason}");
    }
    // The real ones were not disturbed.
    bob.send_msg("ann", "still me").await;
    assert_eq!(
        ann.recv_seed().await,
        ("bob".into(), "ann".into(), "still me".into())
    );

    // Bob leaves B: his name is free at once, on the other node too, and
    // ann is told he is not connected.
    bob.close().await;
    let note = ann.until_not_there("bob", TIMEOUT).await;
    assert!(
        note.contains("bob") && note.contains("not connected"),
        "{note}"
    );
    let mut bob = Page::ready(a.addr, "bob").await;
    ann.send_msg("bob", "same node now").await;
    assert_eq!(
        bob.recv_seed().await,
        ("ann".into(), "bob".into(), "same node now".into())
    );
    ann.sync().await;

    // Ann moves to B while bob stays on A.
    ann.close().await;
    let mut ann = Page::ready(b.addr, "ann").await;
    ann.send_msg("bob", "from B").await;
    assert_eq!(
        bob.recv_seed().await,
        ("ann".into(), "bob".into(), "from B".into())
    );
    bob.send_msg("ann", "to B").await;
    assert_eq!(
        ann.recv_seed().await,
        ("bob".into(), "ann".into(), "to B".into())
    );
    ann.sync().await;
    bob.sync().await;
}

/// Of guests asking for one name on both nodes at once, exactly one gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_name_asked_on_both_nodes_at_once_is_given_once() {
    let (_db, _redis, a, b) = two_nodes().await;
    for round in 0..5 {
        let name = format!("zed{round}");
        let attempts = (0..8).map(|i| {
            let addr = if i % 2 == 0 { a.addr } else { b.addr };
            let name = name.clone();
            async move { Page::try_name(addr, &name).await }
        });
        let pages = futures_util::future::join_all(attempts).await;
        let admitted = pages.iter().filter(|p| p.is_some()).count();
        assert_eq!(admitted, 1, "round {round}: {admitted} guests named {name}");
    }
}

/// A guest on node A writes to a signed-in user on node B and gets their
/// answer; the "offline" note comes only when the user is connected
/// nowhere, and they find the message when they come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_and_a_signed_in_user_on_another_node_chat() {
    let (_db, _redis, a, b) = two_nodes().await;
    // Dave on A watches who is online.
    let (_, mut dave) = user_at(a.addr, "dave").await;
    let (carol_cookie, mut carol) = user_at(b.addr, "carol").await;
    presence(&mut dave, "carol", true).await;
    let mut ann = Page::ready(a.addr, "ann").await;

    ann.send_msg("carol", "hello carol").await;
    let got = carol.expect_message().await;
    assert_eq!(
        (got.conv, got.sender.as_str(), got.body.as_str()),
        (guest("ann"), "ann", "hello carol")
    );
    ann.sync().await; // carol is on B: no "offline" note

    // Carol answers from B.
    let acked = carol.post("c1", guest("ann"), "hi ann").await;
    assert_eq!(acked.seq, got.seq + 1, "one conversation");
    assert_eq!(
        ann.recv_seed().await,
        ("carol".into(), "ann".into(), "hi ann".into())
    );
    ann.sync().await;
    carol.assert_quiet().await;

    // Carol goes away: now the note comes, and the message waits for her.
    carol.close().await;
    presence(&mut dave, "carol", false).await;
    ann.send_msg("carol", "for when you are back").await;
    let note = ann.recv_note().await;
    assert!(note.contains("carol") && note.contains("offline"), "{note}");
    ann.sync().await;
    // A later message of ann's reaching dave means the earlier one was
    // stored too (one relay, in order).
    ann.send_msg("dave", "sync").await;
    assert_eq!(dave.expect_message().await.body, "sync");

    // She comes back on A and finds it; then she is online again.
    let mut carol = Client::new(native(a.addr, &carol_cookie).await, "carol");
    let welcome = carol.hello(vec![cursor(guest("ann"), acked.seq)]).await;
    let bodies: Vec<&str> = welcome.backlog.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["for when you are back"]);
    ann.send_msg("carol", "welcome back").await;
    assert_eq!(carol.expect_message().await.body, "welcome back");
    ann.sync().await;

    // A user on B answers a guest on A who has just connected (B hears of
    // the guest before any message of theirs).
    let (_, mut erin) = user_at(b.addr, "erin").await;
    let mut gus = Page::ready(a.addr, "gus").await;
    gus.send_msg("erin", "hello erin").await;
    assert_eq!(erin.expect_message().await.body, "hello erin");
    erin.post("e1", guest("gus"), "hello gus").await;
    assert_eq!(
        gus.recv_seed().await,
        ("erin".into(), "gus".into(), "hello gus".into())
    );
    // And a guest connected nowhere cannot be written to from B.
    gus.close().await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        erin.send_msg("e2", guest("gus"), "gone?").await;
        match erin.next().await {
            ServerFrame::Error { code, .. } => {
                assert_eq!(code, ErrorCode::GuestOffline);
                break;
            }
            ServerFrame::Ack { .. } => {
                // B had not heard yet that gus left A.
                assert!(Instant::now() < deadline, "gus still counted as connected");
            }
            other => panic!("{other:?}"),
        }
    }
}

/// A node that dies takes its guests with it: their names are free again
/// within the presence expiry, and writing to them earns the note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_guests_go_offline_and_free_their_names() {
    let (_db, _redis, a, b) = two_nodes().await;
    let mut ann = Page::ready(a.addr, "ann").await;
    let _bob = Page::ready(b.addr, "bob").await;
    assert!(Page::try_name(a.addr, "bob").await.is_none());
    let killed = Instant::now();
    b.kill().await;
    let note = ann.until_not_there("bob", Duration::from_secs(10)).await;
    assert!(note.contains("not connected"), "{note}");
    // The claim expired with the node's refreshes: the name is free.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Page::try_name(a.addr, "bob").await.is_none() {
        assert!(Instant::now() < deadline, "bob's name never freed");
        // Nothing to wait for but the claim's expiry.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(killed.elapsed() < Duration::from_secs(10));
}
