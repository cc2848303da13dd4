//! Cluster mode: several server processes on one PostgreSQL database,
//! relaying through Redis. Real services: a fresh database on the machine's
//! PostgreSQL, and a Redis server of the test's own.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use app::protocol::ChangeKind;
use common::db::TestDb;
use common::process::ServerProcess;
use common::resilient::*;
use common::services::{Proxy, RedisProcess};
use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

async fn node(db: &str, redis: &str, name: &str) -> ServerProcess {
    ServerProcess::node(db, redis, name, &["--admins", "alice"]).await
}

/// Two nodes on a fresh database and a Redis of their own.
async fn two_nodes() -> (TestDb, RedisProcess, ServerProcess, ServerProcess) {
    let db = TestDb::postgres().await;
    let redis = RedisProcess::start().await;
    let a = node(&db.url, &redis.url(), "a").await;
    let b = node(&db.url, &redis.url(), "b").await;
    (db, redis, a, b)
}

/// Read frames until one matches; panics on timeout or close.
async fn until(ws: &mut Ws, what: &str, mut pred: impl FnMut(&ServerFrame) -> bool) -> ServerFrame {
    let deadline = tokio::time::Instant::now() + TIMEOUT * 2;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {what} in time"));
        match next {
            Some(Ok(WsMessage::Text(text))) => {
                let frame = decode_server(&text).expect("server frame");
                if pred(&frame) {
                    return frame;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("connection ended waiting for {what}: {other:?}"),
        }
    }
}

async fn message(ws: &mut Ws) -> Message {
    match until(ws, "a message", |f| {
        matches!(f, ServerFrame::Message { .. })
    })
    .await
    {
        ServerFrame::Message { message } => message,
        _ => unreachable!(),
    }
}

async fn send(ws: &mut Ws, client_id: &str, conv: Conv, body: &str) {
    let frame = ClientFrame::Send {
        client_id: client_id.into(),
        conv,
        body: body.into(),
        reply_to: None,
    };
    ws.send(WsMessage::text(encode(&frame))).await.unwrap();
}

async fn post(ws: &mut Ws, client_id: &str, conv: Conv, body: &str) -> i64 {
    send(ws, client_id, conv, body).await;
    acked(ws, client_id).await
}

/// Wait for the ack of `id`; its seq.
async fn acked(ws: &mut Ws, id: &str) -> i64 {
    match until(
        ws,
        "an ack",
        |f| matches!(f, ServerFrame::Ack { client_id, .. } if client_id == id),
    )
    .await
    {
        ServerFrame::Ack { seq, .. } => seq,
        _ => unreachable!(),
    }
}

/// Read `n` messages; each seq once, in order, without a gap.
async fn read_all(ws: &mut Ws, n: usize) -> BTreeMap<i64, i64> {
    let mut seen = BTreeMap::new();
    while seen.len() < n {
        let m = message(ws).await;
        assert!(
            seen.insert(m.seq, m.id).is_none(),
            "duplicate seq {}",
            m.seq
        );
        assert_eq!(
            m.seq as usize,
            seen.len(),
            "out of order or gap at {}",
            m.seq
        );
    }
    seen
}

async fn user(addr: SocketAddr, name: &str, cursors: Vec<Cursor>) -> (String, Ws, Vec<Message>) {
    let cookie = sign_in_at(addr, name).await;
    let mut ws = native(addr, &cookie).await;
    let (_, backlog) = hello(&mut ws, cursors).await;
    (cookie, ws, backlog)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_two_nodes_chat_in_rooms_and_by_dm_and_offline_messages_follow_them() {
    let (_db, _redis, a, b) = two_nodes().await;
    let (_, mut alice, _) = user(a.addr, "alice", vec![]).await;
    let (_, mut bob, _) = user(b.addr, "bob", vec![]).await;
    // Carol registers on B and goes away.
    let carol_cookie = sign_in_at(b.addr, "carol").await;

    // A room message from node A reaches node B, and back.
    post(&mut alice, "a1", lobby(), "hello from A").await;
    let got = message(&mut bob).await;
    assert_eq!(
        (got.sender.as_str(), got.body.as_str()),
        ("alice", "hello from A")
    );
    post(&mut bob, "b1", lobby(), "hello from B").await;
    assert_eq!(message(&mut alice).await.body, "hello from B");

    // Direct messages both ways.
    post(&mut alice, "a2", dm("bob"), "psst").await;
    let got = message(&mut bob).await;
    assert_eq!((got.conv, got.body.as_str()), (dm("alice"), "psst"));
    post(&mut bob, "b2", dm("alice"), "yes?").await;
    assert_eq!(message(&mut alice).await.conv, dm("bob"));

    // A room created and joined across nodes.
    alice
        .send(WsMessage::text(encode(&ClientFrame::create_room("ops"))))
        .await
        .unwrap();
    until(&mut alice, "joined", |f| {
        matches!(f, ServerFrame::Joined { .. })
    })
    .await;
    bob.send(WsMessage::text(encode(&ClientFrame::JoinRoom {
        room: "ops".into(),
    })))
    .await
    .unwrap();
    until(&mut bob, "joined", |f| {
        matches!(f, ServerFrame::Joined { .. })
    })
    .await;
    post(&mut alice, "a3", room("ops"), "ops on A").await;
    assert_eq!(message(&mut bob).await.conv, room("ops"));

    // Carol was offline; she connects to node A and gets what was sent on
    // node B while she was away.
    post(&mut bob, "b3", dm("carol"), "for later").await;
    let mut carol = native(a.addr, &carol_cookie).await;
    let (_, backlog) = hello(&mut carol, vec![]).await;
    assert!(
        backlog
            .iter()
            .any(|m| m.conv == dm("bob") && m.body == "for later"),
        "{backlog:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_numbers_stay_gap_free_with_writers_on_both_nodes() {
    let (_db, _redis, a, b) = two_nodes().await;
    let (_, mut alice, _) = user(a.addr, "alice", vec![]).await;
    let (_, mut bob, _) = user(b.addr, "bob", vec![]).await;
    let (_, mut carol, _) = user(a.addr, "carol", vec![]).await;
    let (_, mut dave, _) = user(b.addr, "dave", vec![]).await;
    const EACH: usize = 100;
    // Both write at once, pipelined, without waiting for acks.
    let writers = async {
        for i in 0..EACH {
            send(&mut alice, &format!("a{i}"), lobby(), "from A").await;
            send(&mut bob, &format!("b{i}"), lobby(), "from B").await;
        }
    };
    let (_, carols, daves) = tokio::join!(
        writers,
        read_all(&mut carol, 2 * EACH),
        read_all(&mut dave, 2 * EACH)
    );
    assert_eq!(carols, daves, "both nodes delivered the same messages");
    let seqs: Vec<i64> = carols.keys().copied().collect();
    assert_eq!(seqs, (1..=2 * EACH as i64).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_moves_to_another_node_resumes_without_gap_or_duplicate() {
    let (_db, _redis, a, b) = two_nodes().await;
    let (_, mut alice, _) = user(a.addr, "alice", vec![]).await;
    let (bob_cookie, mut bob, _) = user(a.addr, "bob", vec![]).await;
    let mut last = 0;
    for i in 0..20 {
        post(&mut alice, &format!("m{i}"), lobby(), "before").await;
        last = message(&mut bob).await.seq;
    }
    drop(bob); // the connection to A is gone mid-conversation
    for i in 20..40 {
        post(&mut alice, &format!("m{i}"), lobby(), "while away").await;
    }
    // Bob comes back through the load balancer, which picks node B.
    let mut bob = native(b.addr, &bob_cookie).await;
    let (_, backlog) = hello(&mut bob, vec![cursor(lobby(), last)]).await;
    let mut seqs: Vec<i64> = backlog.iter().map(|m| m.seq).collect();
    for i in 40..50 {
        post(&mut alice, &format!("m{i}"), lobby(), "live").await;
        seqs.push(message(&mut bob).await.seq);
    }
    assert_eq!(seqs, (last + 1..=50).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_nothing_acknowledged_and_its_clients_move() {
    let (_db, _redis, a, b) = two_nodes().await;
    let (a_addr, b_addr) = (a.addr, b.addr);
    let alice = sign_in_at(a_addr, "alice").await;
    let bob = sign_in_at(b_addr, "bob").await;
    let carol = sign_in_at(a_addr, "carol").await;
    let (_, mut observer, _) = user(b_addr, "dave", vec![]).await;
    const EACH: usize = 200;
    let deadline = Instant::now() + Duration::from_secs(90);
    // Alice and carol start on A, bob on B; each falls back to the other node.
    let a_first = vec![a_addr, b_addr];
    let b_first = vec![b_addr, a_addr];
    let ta = tokio::spawn(resilient_client(
        a_first.clone(),
        alice,
        "alice",
        EACH,
        EACH,
        deadline,
    ));
    let tb = tokio::spawn(resilient_client(b_first, bob, "bob", EACH, EACH, deadline));
    let tc = tokio::spawn(resilient_client(
        a_first,
        carol,
        "carol",
        0,
        2 * EACH,
        deadline,
    ));
    let mut seen = 0;
    while seen < EACH / 4 {
        message(&mut observer).await;
        seen += 1;
    }
    a.kill().await;
    // B goes on: the observer on B keeps receiving.
    message(&mut observer).await;
    let (oa, ob, oc) = (ta.await.unwrap(), tb.await.unwrap(), tc.await.unwrap());
    for (name, out) in [("alice", &oa), ("bob", &ob), ("carol", &oc)] {
        assert_eq!(out.duplicates, 0, "{name} got duplicates");
    }
    assert!(
        oa.reconnects >= 2 && oc.reconnects >= 2,
        "A's clients moved to B"
    );
    let (_, mut check, history) = user(b_addr, "erin", vec![cursor(lobby(), 0)]).await;
    assert_eq!(history.len(), 2 * EACH, "every message stored exactly once");
    for (client_id, ack) in oa.acked.iter().chain(ob.acked.iter()) {
        assert!(
            history
                .iter()
                .any(|m| m.client_id.as_deref() == Some(client_id) && (m.id, m.seq) == *ack),
            "{client_id} acked but not stored"
        );
    }
    let carol_seqs: Vec<i64> = oc.received.keys().copied().collect();
    assert_eq!(carol_seqs, (1..=2 * EACH as i64).collect::<Vec<_>>());
    let _ = check.close(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_nodes_reconnect_and_nothing_is_missed() {
    let (_db, mut redis, a, b) = two_nodes().await;
    let (_, mut alice, _) = user(a.addr, "alice", vec![]).await;
    let (bob_cookie, mut bob, _) = user(b.addr, "bob", vec![]).await;
    post(&mut alice, "before", lobby(), "before").await;
    assert_eq!(message(&mut bob).await.seq, 1);

    redis.kill().await;
    // The store still takes messages while Redis is down.
    for i in 0..5 {
        post(
            &mut alice,
            &format!("down{i}"),
            lobby(),
            "while Redis is down",
        )
        .await;
    }
    let port = redis.port;
    let _redis = RedisProcess::start_on(port).await;

    // Nodes reconnect by themselves: keep posting until bob gets one live.
    // What he missed comes first (filled in from the store), in order.
    let mut seqs = Vec::new();
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seqs.last().copied().unwrap_or(0) < 7 {
        assert!(
            Instant::now() < deadline,
            "nodes never reconnected to Redis"
        );
        post(&mut alice, &format!("after{n}"), lobby(), "after").await;
        n += 1;
        let live = tokio::time::timeout(Duration::from_secs(1), message(&mut bob)).await;
        if let Ok(m) = live {
            seqs.push(m.seq);
            while seqs.last().copied() < Some(6 + n as i64) {
                seqs.push(message(&mut bob).await.seq);
            }
        }
    }
    assert_eq!(
        seqs,
        (2..=6 + n as i64).collect::<Vec<_>>(),
        "in order, nothing missed"
    );

    // And a client that resumes gets everything from the store.
    let mut again = native(b.addr, &bob_cookie).await;
    let (_, backlog) = hello(&mut again, vec![cursor(lobby(), 1)]).await;
    assert_eq!(backlog.len() as i64, 5 + n as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_refuses_sends_and_acknowledges_nothing() {
    let db = TestDb::postgres().await;
    let redis = RedisProcess::start().await;
    let pg: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = Proxy::start(pg).await;
    let url = db.url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    let a = node(&url, &redis.url(), "a").await;
    let (_, mut alice, _) = user(a.addr, "alice", vec![]).await;
    post(&mut alice, "ok1", lobby(), "fine").await;

    proxy.cut();
    send(&mut alice, "lost?", lobby(), "while the store is away").await;
    let refused = until(&mut alice, "a refusal", |f| {
        matches!(f, ServerFrame::Ack { .. } | ServerFrame::Error { .. })
    })
    .await;
    match refused {
        ServerFrame::Error {
            code, client_id, ..
        } => {
            assert_eq!(code, ErrorCode::Internal);
            assert_eq!(client_id.as_deref(), Some("lost?"));
        }
        other => panic!("acknowledged without a store: {other:?}"),
    }
    let health = reqwest::get(format!("http://{}/healthz", a.addr))
        .await
        .unwrap();
    assert_eq!(health.status(), 503);

    proxy.restore();
    // The client resends; now it is stored, once.
    let seq = post(&mut alice, "lost?", lobby(), "while the store is away").await;
    assert_eq!(seq, 2, "the refused send was never stored");
    let health = reqwest::get(format!("http://{}/healthz", a.addr))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_spans_nodes_and_a_dead_nodes_users_go_offline() {
    let (_db, _redis, a, b) = two_nodes().await;
    let (_, mut bob, _) = user(b.addr, "bob", vec![]).await;
    let (_, _alice, _) = user(a.addr, "alice", vec![]).await;
    until(
        &mut bob,
        "alice online",
        |f| matches!(f, ServerFrame::Presence { user, online: true, .. } if user == "alice"),
    )
    .await;
    let killed = Instant::now();
    a.kill().await;
    until(
        &mut bob,
        "alice offline",
        |f| matches!(f, ServerFrame::Presence { user, online: false, .. } if user == "alice"),
    )
    .await;
    assert!(killed.elapsed() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_on_one_node_shuts_the_session_out_of_the_other_at_once() {
    let (_db, _redis, a, b) = two_nodes().await;
    let cookie = sign_in_at(a.addr, "alice").await;
    // Node b reads the session (and keeps it in memory) for this socket.
    let mut on_b = native(b.addr, &cookie).await;
    hello(&mut on_b, vec![]).await;

    let response = reqwest::Client::new()
        .delete(format!("http://{}/api/session", a.addr))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("sign-out");
    assert!(response.status().is_success(), "{}", response.status());

    // Node b hears of it: the socket closes with 4001...
    let closed = tokio::time::timeout(TIMEOUT * 2, async {
        loop {
            match on_b.next().await {
                Some(Ok(WsMessage::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                other => panic!("socket on b ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("closed in time");
    assert_eq!(closed, Some(4001));
    // ...and its memory of the session is gone with it: no new socket.
    assert!(
        try_native(b.addr, &cookie).await.is_none(),
        "node b let a signed-out session open a socket"
    );
}

async fn change(ws: &mut Ws, frame: ClientFrame) -> i64 {
    let id = client_id_of(&frame)
        .expect("a change has a client id")
        .to_string();
    ws.send(WsMessage::text(encode(&frame))).await.unwrap();
    acked(ws, &id).await
}

async fn next_change(ws: &mut Ws) -> Change {
    match until(ws, "a change", |f| matches!(f, ServerFrame::Change { .. })).await {
        ServerFrame::Change { change } => change,
        _ => unreachable!(),
    }
}

/// An edit, a reaction and a delete made on one node reach a member on the
/// other, live; and a member who resumes on node B gets what was changed on
/// node A while away, once and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_on_one_node_reach_the_other_and_resume_there() {
    let (_db, _redis, a, b) = two_nodes().await;
    let (_, mut alice, _) = user(a.addr, "alice", vec![]).await;
    let (bob_cookie, mut bob, _) = user(b.addr, "bob", vec![]).await;

    let first = post(&mut alice, "a1", lobby(), "helo").await;
    assert_eq!(message(&mut bob).await.seq, first);
    let edited = change(
        &mut alice,
        ClientFrame::Edit {
            client_id: "a2".into(),
            conv: lobby(),
            seq: first,
            body: "hello".into(),
        },
    )
    .await;
    let got = next_change(&mut bob).await;
    assert_eq!(
        (got.kind, got.seq, got.target, got.body.as_deref()),
        (ChangeKind::Edit, edited, first, Some("hello"))
    );
    let reacted = change(
        &mut bob,
        ClientFrame::React {
            client_id: "b1".into(),
            conv: lobby(),
            seq: first,
            emoji: "\u{1F44D}".into(),
        },
    )
    .await;
    let got = next_change(&mut alice).await;
    assert_eq!(
        (got.kind, got.seq, got.sender.as_str()),
        (ChangeKind::React, reacted, "bob")
    );
    let deleted = change(
        &mut alice,
        ClientFrame::Delete {
            client_id: "a3".into(),
            conv: lobby(),
            seq: first,
        },
    )
    .await;
    assert_eq!(next_change(&mut bob).await.seq, deleted);
    drop(bob);

    // While Bob is away: a message and two changes to it, on node A.
    let later = post(&mut alice, "a4", lobby(), "later").await;
    let e2 = change(
        &mut alice,
        ClientFrame::Edit {
            client_id: "a5".into(),
            conv: lobby(),
            seq: later,
            body: "later, edited".into(),
        },
    )
    .await;
    let r2 = change(
        &mut alice,
        ClientFrame::React {
            client_id: "a6".into(),
            conv: lobby(),
            seq: later,
            emoji: "\u{1F389}".into(),
        },
    )
    .await;
    let mut bob = native(b.addr, &bob_cookie).await;
    let log = hello_log(&mut bob, vec![cursor(lobby(), deleted)]).await;
    let seqs: Vec<i64> = log
        .iter()
        .map(|f| match f {
            ServerFrame::Message { message } => message.seq,
            ServerFrame::Change { change } => change.seq,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(seqs, vec![later, e2, r2], "once each, in order");
    match &log[0] {
        ServerFrame::Message { message } => {
            assert_eq!(message.body, "later, edited");
            assert_eq!(message.rev, r2);
        }
        other => panic!("{other:?}"),
    }
}

/// A signed-in, greeted client of `addr`.
async fn client_at(addr: SocketAddr, name: &str) -> Client {
    let cookie = sign_in_at(addr, name).await;
    let mut client = Client::new(native(addr, &cookie).await, name);
    client.hello(vec![]).await;
    client
}

/// The authorization matrix's cross-node rows: a private room hidden on
/// the other node, a mute issued on A refusing sends on B, and a ban on A
/// cutting the banned member's socket on B off within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_access_holds_on_every_node() {
    use app::protocol::{LeftReason, RoomAction};
    let (_db, _redis, a, b) = two_nodes().await;
    let mut alice = client_at(a.addr, "alice").await;
    let mut bob = client_at(b.addr, "bob").await;
    let mut carol = client_at(b.addr, "carol").await;
    let mut nora = client_at(b.addr, "nora").await;
    alice.create("vault", "", true).await;
    for user in ["bob", "carol"] {
        alice
            .must(
                &format!("i-{user}"),
                "vault",
                RoomAction::Invite { user: user.into() },
            )
            .await;
    }
    bob.join_room("vault").await;
    carol.join_room("vault").await;
    alice.post("a1", room("vault"), "on A").await;
    assert_eq!(bob.expect_message().await.body, "on A");
    assert_eq!(carol.expect_message().await.body, "on A");

    // Hidden on B exactly as a missing room is.
    for name in ["vault", "nosuch"] {
        nora.send(&ClientFrame::History {
            conv: room(name),
            before: None,
            limit: None,
        })
        .await;
        let refused = nora.expect_error(ErrorCode::UnknownRoom).await;
        assert_eq!(refused.message, format!("there is no room `{name}`"));
    }

    // Muted on A: refused on B.
    alice
        .must(
            "m",
            "vault",
            RoomAction::Mute {
                user: "bob".into(),
                minutes: 10,
            },
        )
        .await;
    bob.expect_line("bob was muted by alice for 10 minutes")
        .await;
    bob.send_msg("b1", room("vault"), "from B").await;
    bob.expect_error(ErrorCode::Muted).await;

    // Banned on A: bob's socket on B is cut off within a second.
    let started = Instant::now();
    alice
        .must("ban", "vault", RoomAction::Ban { user: "bob".into() })
        .await;
    match bob
        .recv_until(|f| matches!(f, ServerFrame::Left { .. }))
        .await
    {
        ServerFrame::Left { reason, .. } => assert_eq!(reason, Some(LeftReason::Banned)),
        _ => unreachable!(),
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    alice.post("a2", room("vault"), "after the ban").await;
    assert_eq!(carol.expect_message().await.body, "after the ban");
    bob.assert_quiet().await;
    bob.send(&ClientFrame::JoinRoom {
        room: "vault".into(),
    })
    .await;
    bob.expect_error(ErrorCode::Banned).await;

    // The admin page's nodes: each node's numbers reach the others with
    // the presence refresh (every 0.5 s here).
    let cookie = sign_in_at(a.addr, "alice").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let nodes: Vec<app::protocol::NodeStats> = reqwest::Client::new()
            .get(format!("http://{}/api/admin/nodes", a.addr))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let names: Vec<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
        // bob, carol and nora are connected to B.
        if names == ["a", "b"] && nodes[1].connections >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "node b never listed: {nodes:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A display name chosen on one node reaches the other node's open tabs at
/// once, names its people there (presence, messages, members), and a room
/// title set on one node is seen on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn display_names_and_titles_reach_every_node_live() {
    use app::protocol::{Named, RoomAction};
    let (_db, _redis, a, b) = two_nodes().await;
    let cookie = sign_in_at(a.addr, "ming").await;
    let mut ming = Client::new(native(a.addr, &cookie).await, "ming");
    ming.hello(vec![]).await;
    let mut bob = client_at(b.addr, "bob").await;
    let changed = reqwest::Client::new()
        .put(format!("http://{}/api/profile", a.addr))
        .header("cookie", &cookie)
        .json(&serde_json::json!({"display_name": "小明"}))
        .send()
        .await
        .expect("profile");
    assert_eq!(changed.status(), 204);
    let profile = bob
        .recv_until(|f| matches!(f, ServerFrame::Profile { .. }))
        .await;
    assert_eq!(
        profile,
        ServerFrame::Profile {
            user: "ming".into(),
            display: "小明".into()
        }
    );
    // Node b names ming's messages, relayed from a.
    ming.post("m1", lobby(), "你好").await;
    let got = bob.expect_message().await;
    assert_eq!(got.display.as_deref(), Some("小明"));
    bob.send(&ClientFrame::Members {
        room: "lobby".into(),
    })
    .await;
    match bob
        .recv_until(|f| matches!(f, ServerFrame::Members { .. }))
        .await
    {
        ServerFrame::Members { names, .. } => assert!(
            names.contains(&Named {
                user: "ming".into(),
                display: "小明".into()
            }),
            "{names:?}"
        ),
        other => panic!("{other:?}"),
    }
    // A room titled on a is titled on b.
    ming.create("dev", "", false).await;
    bob.join_room("dev").await;
    ming.must(
        "t1",
        "dev",
        RoomAction::SetTitle {
            title: "技术讨论".into(),
        },
    )
    .await;
    bob.expect_line("小明 renamed the room to “技术讨论”").await;
    let cookie = sign_in_at(b.addr, "bob").await;
    let mut again = Client::new(native(b.addr, &cookie).await, "bob");
    let welcome_title = again.hello(vec![]).await;
    assert_eq!(
        welcome_title.conv(&room("dev")).map(|c| c.title.as_str()),
        Some("技术讨论")
    );
}

/// One person on two nodes: a mention from a third counts on both, reading
/// it on one node clears it on the other at once, and a notification
/// setting chosen on one node reaches the other (`Event::ToUser`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_and_notification_settings_reach_every_device_on_every_node() {
    use app::protocol::NotifyLevel;
    let (_db, _redis, a, b) = two_nodes().await;
    let cookie_a = sign_in_at(a.addr, "ben").await;
    let mut phone = Client::new(native(a.addr, &cookie_a).await, "ben");
    phone.hello(vec![]).await;
    let cookie_b = sign_in_at(b.addr, "ben").await;
    let mut laptop = Client::new(native(b.addr, &cookie_b).await, "ben");
    laptop.hello(vec![]).await;
    let mut ann = client_at(b.addr, "ann").await;

    let sent = ann.post("a1", lobby(), "@ben look").await;
    for device in [&mut phone, &mut laptop] {
        let got = device.expect_message().await;
        assert_eq!(got.mentions, ["ben"]);
    }
    let mut fresh = Client::new(native(b.addr, &cookie_b).await, "ben");
    let welcome = fresh.hello(vec![]).await;
    assert_eq!(welcome.conv(&lobby()).unwrap().mentions, 1);

    phone
        .send(&ClientFrame::Read {
            conv: lobby(),
            seq: sent.seq,
        })
        .await;
    let read = laptop
        .recv_until(|f| matches!(f, ServerFrame::Read { .. }))
        .await;
    assert!(
        matches!(
            read,
            ServerFrame::Read {
                unread: 0,
                mentions: 0,
                ..
            }
        ),
        "{read:?}"
    );

    phone
        .send(&ClientFrame::Notify {
            conv: lobby(),
            level: NotifyLevel::All,
        })
        .await;
    let heard = laptop
        .recv_until(|f| matches!(f, ServerFrame::Notify { .. }))
        .await;
    assert_eq!(
        heard,
        ServerFrame::Notify {
            conv: lobby(),
            level: NotifyLevel::All
        }
    );
}

// ---- long-polling across nodes ------------------------------------------------

/// A node whose long-poll `GET`s are held 1 s at most.
async fn polling_node(db: &str, redis: &str, name: &str) -> ServerProcess {
    ServerProcess::node(db, redis, name, &["--poll-hold-secs", "1"]).await
}

/// Read messages from a socket until `done` says enough, keeping every
/// one (acks and noise are skipped); panics after twice `TIMEOUT`.
async fn collect_messages(
    ws: &mut Ws,
    who: &str,
    mut done: impl FnMut(&[Message]) -> bool,
) -> Vec<Message> {
    let mut got = Vec::new();
    while !done(&got) {
        match until(ws, who, |f| matches!(f, ServerFrame::Message { .. })).await {
            ServerFrame::Message { message } => got.push(message),
            _ => unreachable!(),
        }
    }
    got
}

/// Each conversation's messages in strictly increasing seq order, and
/// each body once.
fn assert_in_order(who: &str, messages: &[Message]) {
    let mut last: BTreeMap<Conv, i64> = BTreeMap::new();
    for m in messages {
        if let Some(before) = last.insert(m.conv.clone(), m.seq) {
            assert!(
                m.seq > before,
                "{who}: {:?} seq {} after {before}",
                m.conv,
                m.seq
            );
        }
    }
    let mut bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
    bodies.sort_unstable();
    let n = bodies.len();
    bodies.dedup();
    assert_eq!(bodies.len(), n, "{who}: a message came twice");
}

/// A long-polling tab whose every request (`GET` or `POST`) goes to the
/// other node than the one before chats both ways with a socket on each
/// node, `EACH` messages each way, interleaved.
async fn long_polling_tab_alternating_between_nodes(rule: common::poll::CursorRule) {
    use common::poll::{CursorRule, PollClient};
    const EACH: usize = 30;
    let db = TestDb::postgres().await;
    let redis = RedisProcess::start().await;
    let a = polling_node(&db.url, &redis.url(), "a").await;
    let b = polling_node(&db.url, &redis.url(), "b").await;
    let (_, mut alice, _) = user(a.addr, "alice", vec![]).await;
    let (_, mut bob, _) = user(b.addr, "bob", vec![]).await;
    let cookie = sign_in_at(a.addr, "polly").await;
    let (base_a, base_b) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
    let mut polly = PollClient::new(&base_a, &cookie, "polly");
    polly.cursor_rule = rule;
    polly.alternate(vec![base_a, base_b]);
    polly.poll().await; // greeted on A

    for i in 0..EACH {
        // Alice (on A) writes in the lobby, bob (on B) to polly directly,
        // polly to both; polly's requests go A, B, A, B, … so its GETs
        // are greeted anew on one node or go on on the same one in turn.
        send(&mut alice, &format!("a{i}"), lobby(), &format!("alice {i}")).await;
        send(&mut bob, &format!("b{i}"), dm("polly"), &format!("bob {i}")).await;
        let frames = polly
            .send(&[
                ClientFrame::Send {
                    client_id: format!("p{i}"),
                    conv: lobby(),
                    body: format!("polly {i}"),
                    reply_to: None,
                },
                ClientFrame::Send {
                    client_id: format!("q{i}"),
                    conv: dm("bob"),
                    body: format!("polly to bob {i}"),
                    reply_to: None,
                },
            ])
            .await;
        let acks = frames
            .iter()
            .filter(|f| matches!(f, ServerFrame::Ack { .. }))
            .count();
        assert_eq!(
            acks, 2,
            "round {i}: both sends acked in the answer: {frames:?}"
        );
        polly.poll().await;
        if i % 2 == 0 {
            polly.poll().await;
        }
    }
    let total = 2 * EACH as i64; // per conversation
    polly
        .poll_until("every message, its own included", |c| {
            [lobby(), dm("bob")].iter().all(|conv| {
                c.messages
                    .iter()
                    .filter(|m| m.conv == *conv && m.sender != "polly")
                    .count()
                    == EACH
                    && c.acked.get(conv).map_or(0, Vec::len) == EACH
            })
        })
        .await;

    // The sockets got everything polly wrote, once, in order.
    let alice_got = collect_messages(&mut alice, "alice", |got| {
        got.iter().filter(|m| m.sender == "polly").count() >= EACH
    })
    .await;
    assert_in_order("alice", &alice_got);
    let bob_got = collect_messages(&mut bob, "bob", |got| {
        got.iter().filter(|m| m.sender == "polly").count() >= 2 * EACH
    })
    .await;
    assert_in_order("bob", &bob_got);

    // Polly got every message of the others exactly once (counting even
    // what it dropped as held already), in seq order, with no gap.
    let received = |sender: &str| {
        let mut bodies: Vec<String> = polly
            .log
            .iter()
            .filter_map(|f| match f {
                ServerFrame::Message { message } if message.sender == sender => {
                    Some(message.body.clone())
                }
                _ => None,
            })
            .collect();
        bodies.sort();
        bodies
    };
    for (sender, prefix) in [("alice", "alice"), ("bob", "bob")] {
        let mut expected: Vec<String> = (0..EACH).map(|i| format!("{prefix} {i}")).collect();
        expected.sort();
        assert_eq!(received(sender), expected, "{sender}'s messages, each once");
    }
    assert!(polly.stale_from_others().is_empty(), "{:?}", polly.stale);
    assert!(polly.gaps.is_empty(), "{:?}", polly.gaps);
    assert!(
        polly.welcomes > 5,
        "node switches greeted anew: {}",
        polly.welcomes
    );
    for conv in [lobby(), dm("bob")] {
        let seqs: Vec<i64> = polly
            .messages
            .iter()
            .filter(|m| m.conv == conv)
            .map(|m| m.seq)
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{conv:?}: {seqs:?}");
        let acked = &polly.acked[&conv];
        let mut all: Vec<i64> = seqs.iter().chain(acked).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all, (1..=total).collect::<Vec<_>>(), "{conv:?}");
        if rule == CursorRule::Received {
            // Its own messages came in the GETs too, in their places:
            // nothing to drop.
            assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "{conv:?}");
        }
    }
    if rule == CursorRule::Received {
        assert!(polly.stale.is_empty(), "{:?}", polly.stale);
    }
    assert!(polly.outbox.is_empty());
}

/// Cursors from what the `GET`s brought: nothing is lost or doubled, and
/// each conversation comes in seq order, whatever node answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_polling_tab_alternating_between_nodes_loses_and_doubles_nothing() {
    long_polling_tab_alternating_between_nodes(common::poll::CursorRule::Received).await;
}
