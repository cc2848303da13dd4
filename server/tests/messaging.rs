//! Delivery on the native protocol: room fan-out, tabs, direct messages,
//! offline delivery, resume after a dropped connection, idempotent resends
//! and the sender's identity.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::*;

/// 20 users each post once to the lobby: every other user gets every
/// message, in seq order, and each sender gets only its ack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_fan_out_to_many_clients() {
    const USERS: usize = 20;
    let server = TestServer::start().await;
    let names: Vec<String> = (0..USERS).map(|i| format!("user{i:02}")).collect();
    let sessions = server.sign_in_all(&names).await;
    let mut clients = Vec::new();
    for session in &sessions {
        let (client, welcome) = server.join(session).await;
        assert_eq!(welcome.user, session.name);
        let lobby_info = welcome.conv(&lobby()).expect("welcome lists the lobby");
        assert_eq!(lobby_info.last_seq, 0, "fresh lobby");
        assert!(welcome.backlog.is_empty());
        clients.push(client);
    }

    for (i, client) in clients.iter_mut().enumerate() {
        client
            .send_msg(
                &format!("c{i}"),
                lobby(),
                &format!("hello from {}", names[i]),
            )
            .await;
    }

    // seq -> (sender, id) as acknowledged to the sender.
    let mut acked: HashMap<i64, (String, i64)> = HashMap::new();
    // What each client received: (seq, sender, body, id).
    let mut received: Vec<Vec<Message>> = Vec::new();
    for (i, client) in clients.iter_mut().enumerate() {
        let mut messages = Vec::new();
        let mut ack = None;
        while messages.len() < USERS - 1 || ack.is_none() {
            match client.next().await {
                ServerFrame::Message { message } => messages.push(message),
                ServerFrame::Ack {
                    client_id,
                    id,
                    conv,
                    seq,
                    ..
                } => {
                    assert!(ack.is_none(), "{}: a second ack", names[i]);
                    assert_eq!(client_id, format!("c{i}"));
                    assert_eq!(conv, lobby());
                    ack = Some((seq, id));
                }
                other => panic!("{}: unexpected {other:?}", names[i]),
            }
        }
        let (seq, id) = ack.unwrap();
        assert!(
            acked.insert(seq, (names[i].clone(), id)).is_none(),
            "two messages acknowledged at seq {seq}"
        );
        client.assert_quiet().await;
        received.push(messages);
    }

    let seqs: BTreeSet<i64> = acked.keys().copied().collect();
    assert_eq!(
        seqs,
        (1..=USERS as i64).collect::<BTreeSet<_>>(),
        "seqs 1..=20, no gaps"
    );
    for (i, messages) in received.iter().enumerate() {
        let got: Vec<i64> = messages.iter().map(|m| m.seq).collect();
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(got, sorted, "{} got messages out of seq order", names[i]);
        for message in messages {
            assert_eq!(message.conv, lobby());
            assert_ne!(message.sender, names[i], "{} got its own message", names[i]);
            let (sender, id) = &acked[&message.seq];
            assert_eq!(&message.sender, sender);
            assert_eq!(message.id, *id);
            assert_eq!(message.body, format!("hello from {sender}"));
            let index = names.iter().position(|n| n == sender).unwrap();
            assert_eq!(
                message.client_id.as_deref(),
                Some(format!("c{index}").as_str())
            );
        }
        let senders: BTreeSet<&str> = messages.iter().map(|m| m.sender.as_str()).collect();
        assert_eq!(senders.len(), USERS - 1, "{} missed someone", names[i]);
    }
}

/// The sending tab gets only the ack; the same user's other tab and other
/// users get the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_fan_out_to_two_tabs_of_one_user() {
    let server = TestServer::start().await;
    let alice = server.sign_in("alice", "pw-alice violet kettle 4821").await;
    let bob = server.sign_in("bob", "pw-bob violet kettle 4821").await;
    let (mut tab1, _) = server.join(&alice).await;
    let (mut tab2, _) = server.join(&alice).await;
    let (mut bob1, _) = server.join(&bob).await;

    let ack = tab1.post("t1-1", lobby(), "from tab one").await;
    assert_eq!(ack.conv, lobby());
    assert_eq!(ack.seq, 1);

    for client in [&mut tab2, &mut bob1] {
        let message = client.expect_message().await;
        assert_eq!(message.id, ack.id);
        assert_eq!(message.seq, ack.seq);
        assert_eq!(message.ts, ack.ts);
        assert_eq!(message.conv, lobby());
        assert_eq!(message.sender, "alice");
        assert_eq!(message.body, "from tab one");
        assert_eq!(message.client_id.as_deref(), Some("t1-1"));
        client.assert_quiet().await;
    }
    // The sending tab never sees its own message frame.
    tab1.assert_quiet().await;

    // And the other way round, from the second tab.
    let ack2 = tab2.post("t2-1", lobby(), "from tab two").await;
    assert_eq!(ack2.seq, 2);
    for client in [&mut tab1, &mut bob1] {
        let message = client.expect_message().await;
        assert_eq!((message.seq, message.sender.as_str()), (2, "alice"));
        assert_eq!(message.body, "from tab two");
        client.assert_quiet().await;
    }
    tab2.assert_quiet().await;
}

/// A DM reaches the receiver (named by the sender) and the sender's other
/// tabs (named by the receiver), nobody else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_message_reaches_only_the_two_parties() {
    let server = TestServer::start().await;
    let alice = server.sign_in("alice", "pw-alice violet kettle 4821").await;
    let bob = server.sign_in("bob", "pw-bob violet kettle 4821").await;
    let carol = server.sign_in("carol", "pw-carol violet kettle 4821").await;
    let (mut alice1, _) = server.join(&alice).await;
    let (mut alice2, _) = server.join(&alice).await;
    let (mut bob1, _) = server.join(&bob).await;
    let (mut carol1, _) = server.join(&carol).await;

    let ack = alice1.post("dm-1", dm("bob"), "psst, bob").await;
    assert_eq!(
        ack.conv,
        dm("bob"),
        "the sender names the DM by the receiver"
    );
    assert_eq!(ack.seq, 1);

    let to_bob = bob1.expect_message().await;
    assert_eq!(
        to_bob.conv,
        dm("alice"),
        "the receiver names the DM by the sender"
    );
    assert_eq!(to_bob.sender, "alice");
    assert_eq!(to_bob.body, "psst, bob");
    assert_eq!((to_bob.id, to_bob.seq), (ack.id, ack.seq));

    let to_tab = alice2.expect_message().await;
    assert_eq!(to_tab.conv, dm("bob"));
    assert_eq!(to_tab.sender, "alice");
    assert_eq!((to_tab.id, to_tab.seq), (ack.id, ack.seq));

    carol1.assert_quiet().await;
    alice1.assert_quiet().await;
    bob1.assert_quiet().await;
    alice2.assert_quiet().await;

    // The answer: seq 2 of the same conversation, to both of alice's tabs.
    let reply = bob1.post("dm-r", dm("alice"), "hi alice").await;
    assert_eq!(reply.conv, dm("alice"));
    assert_eq!(reply.seq, 2);
    for tab in [&mut alice1, &mut alice2] {
        let message = tab.expect_message().await;
        assert_eq!(message.conv, dm("bob"));
        assert_eq!(message.sender, "bob");
        assert_eq!(message.seq, 2);
        assert_eq!(message.body, "hi alice");
        tab.assert_quiet().await;
    }
    carol1.assert_quiet().await;
    bob1.assert_quiet().await;

    // Carol cannot read it either.
    let (history, _) = alice1.history(dm("bob"), None, None).await;
    assert_eq!(
        history.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [1, 2],
        "history of the DM"
    );
    let (lobby_history, _) = carol1.history(lobby(), None, None).await;
    assert!(lobby_history.is_empty(), "the DMs did not go to the lobby");
}

/// A DM to a registered user who is offline waits for them: next connect,
/// welcome shows it unread and it arrives before `synced`; `read` clears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_direct_message_is_delivered_on_connect_and_read_clears_it() {
    let server = TestServer::start().await;
    let alice = server.sign_in("alice", "pw-alice violet kettle 4821").await;
    let bob = server.sign_in("bob", "pw-bob violet kettle 4821").await;
    let (mut alice1, _) = server.join(&alice).await;

    let ack = alice1
        .post("off-1", dm("bob"), "see this when you are back")
        .await;
    assert_eq!(ack.seq, 1);

    let (mut bob1, welcome) = server.join(&bob).await;
    let info = welcome
        .conv(&dm("alice"))
        .unwrap_or_else(|| panic!("welcome lists the DM: {:?}", welcome.conversations));
    assert_eq!(info.last_seq, 1);
    assert_eq!(info.read_seq, 0);
    assert_eq!(info.unread, 1);
    let lobby_info = welcome.conv(&lobby()).expect("lobby listed");
    assert_eq!(lobby_info.unread, 0);
    assert_eq!(welcome.backlog.len(), 1, "backlog: {:?}", welcome.backlog);
    let message = &welcome.backlog[0];
    assert_eq!(message.conv, dm("alice"));
    assert_eq!(message.sender, "alice");
    assert_eq!(message.body, "see this when you are back");
    assert_eq!((message.id, message.seq), (ack.id, 1));

    // Read it from one tab: every tab of bob hears about it.
    let (mut bob2, welcome2) = server.join(&bob).await;
    assert_eq!(welcome2.conv(&dm("alice")).map(|c| c.unread), Some(1));
    bob1.send(&ClientFrame::Read {
        conv: dm("alice"),
        seq: 1,
    })
    .await;
    for tab in [&mut bob1, &mut bob2] {
        match tab.next().await {
            ServerFrame::Read {
                conv, seq, unread, ..
            } => {
                assert_eq!(conv, dm("alice"));
                assert_eq!(seq, 1);
                assert_eq!(unread, 0);
            }
            other => panic!("expected read, got {other:?}"),
        }
        tab.assert_quiet().await;
    }
    // Alice is not told.
    alice1.assert_quiet().await;

    // It stays read.
    let (_bob3, welcome3) = server.join(&bob).await;
    let info = welcome3.conv(&dm("alice")).expect("DM still listed");
    assert_eq!((info.read_seq, info.unread, info.last_seq), (1, 0, 1));
    assert!(
        welcome3.backlog.is_empty(),
        "nothing unread, nothing resent: {:?}",
        welcome3.backlog
    );
}

/// Send `count` lobby messages numbered from `first`, pipelined, then wait
/// for every ack (in order, at the expected seq).
async fn burst(client: &mut Client, first: i64, count: i64) {
    for i in first..first + count {
        client
            .send_msg(&format!("b{i}"), lobby(), &format!("m{i}"))
            .await;
    }
    for i in first..first + count {
        let ack = client.expect_ack(&format!("b{i}")).await;
        assert_eq!(ack.seq, i, "{}'s seq", client.user);
    }
}

/// A note to oneself is a direct conversation with no other member: on the
/// next connection `welcome` still names it after its owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_conversation_with_oneself_keeps_its_name() {
    let server = TestServer::start().await;
    let alice = server.sign_in("alice", "pw-alice violet kettle 4821").await;
    let (mut first, _) = server.join(&alice).await;
    let ack = first.post("note", dm("alice"), "remember the milk").await;
    assert_eq!(ack.seq, 1);
    first.drop_connection();
    let (_again, welcome) = server.join(&alice).await;
    let info = welcome
        .conv(&dm("alice"))
        .unwrap_or_else(|| panic!("no dm:alice in {:?}", welcome.conversations));
    assert_eq!(info.last_seq, 1);
}

/// A client that is up to date reconnects while one more message is being
/// sent, again and again. Its cursor is then at the end of the conversation
/// as the server last stored it, which is when the server may skip reading
/// the backlog (`conn/sync.rs`). No later message follows within a visit
/// (a later one would make the writer fill any gap from the store), so the
/// one message must arrive by the backlog or live, exactly once, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_to_date_client_reconnecting_during_a_send_misses_nothing() {
    const VISITS: i64 = 300;
    let server = TestServer::start().await;
    let bob = server.sign_in("bob", "pw-bob violet kettle 4821").await;
    let carol = server.sign_in("carol", "pw-carol violet kettle 4821").await;
    let (mut bob1, _) = server.join(&bob).await;
    let (first, _) = server.join(&carol).await;
    first.drop_connection();

    for seq in 1..=VISITS {
        // Vary where the send lands in the other side's handshake.
        let (visit, _) = tokio::join!(
            server.join_with(&carol, vec![cursor(lobby(), seq - 1)]),
            async {
                for _ in 0..seq % 16 {
                    tokio::task::yield_now().await;
                }
                bob1.post(&format!("b{seq}"), lobby(), &format!("m{seq}"))
                    .await
            }
        );
        let (mut carol_n, welcome) = visit;
        let mut got: Vec<i64> = welcome.backlog.iter().map(|m| m.seq).collect();
        if got.is_empty() {
            got.push(carol_n.expect_message().await.seq);
        }
        assert_eq!(got, vec![seq], "visit {seq}: backlog {:?}", welcome.backlog);
        carol_n.assert_quiet().await;
        carol_n.drop_connection();
    }
    bob1.assert_quiet().await;
}

/// A client drops while others keep sending, then resumes from its cursor
/// while a sender is still sending: every later message exactly once, in
/// order, backlog then live, no gap or duplicate at the seam.
///
/// The backlog is long (several pages) and the sender keeps the relay busy
/// while it is read, so live messages are committed and queued for the
/// resuming connection while the backlog still covers them: the seam
/// really overlaps and the server must drop the doubles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_resumes_from_cursor_without_gap_or_duplicate() {
    const BEFORE_DROP: i64 = 8;
    const SEEN: i64 = 5;
    const WHILE_AWAY: i64 = 1200;
    const LIVE_BURSTS: i64 = 40;
    const BURST: i64 = 10;
    let server = TestServer::start().await;
    let bob = server.sign_in("bob", "pw-bob violet kettle 4821").await;
    let carol = server.sign_in("carol", "pw-carol violet kettle 4821").await;
    let (mut bob1, _) = server.join(&bob).await;
    let (mut carol1, _) = server.join(&carol).await;

    for i in 1..=BEFORE_DROP {
        let ack = bob1.post(&format!("b{i}"), lobby(), &format!("m{i}")).await;
        assert_eq!(ack.seq, i);
    }
    // Carol processes only the first few, then her connection dies.
    for i in 1..=SEEN {
        let message = carol1.expect_message().await;
        assert_eq!(message.seq, i);
    }
    carol1.drop_connection();

    burst(&mut bob1, BEFORE_DROP + 1, WHILE_AWAY).await;

    // Bob keeps sending while carol comes back.
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let first_live = BEFORE_DROP + WHILE_AWAY + 1;
    let final_seq = first_live + LIVE_BURSTS * BURST - 1;
    let sender = tokio::spawn(async move {
        let mut started_tx = Some(started_tx);
        for b in 0..LIVE_BURSTS {
            burst(&mut bob1, first_live + b * BURST, BURST).await;
            if let Some(tx) = started_tx.take() {
                let _ = tx.send(());
            }
        }
        bob1
    });
    started_rx.await.expect("bob started sending");

    let (mut carol2, welcome) = server.join_with(&carol, vec![cursor(lobby(), SEEN)]).await;
    let mut seqs: Vec<i64> = welcome.backlog.iter().map(|m| m.seq).collect();
    assert!(
        !seqs.is_empty() && seqs[0] == SEEN + 1,
        "backlog starts right after the cursor: {:?}",
        &seqs[..seqs.len().min(10)]
    );
    for message in &welcome.backlog {
        assert_eq!(message.conv, lobby());
        assert_eq!(message.body, format!("m{}", message.seq));
    }
    while seqs.last().copied().unwrap_or(SEEN) < final_seq {
        let message = carol2.expect_message().await;
        assert_eq!(message.body, format!("m{}", message.seq));
        seqs.push(message.seq);
    }
    let mut bob1 = sender.await.expect("bob's task");
    let expected: Vec<i64> = (SEEN + 1..=final_seq).collect();
    if seqs != expected {
        let doubles: Vec<_> = seqs.windows(2).filter(|w| w[1] <= w[0]).collect();
        let gaps: Vec<_> = seqs.windows(2).filter(|w| w[1] > w[0] + 1).collect();
        panic!(
            "every message after the cursor exactly once, in order: {} from the backlog \
             (last {:?}), {} received in all, {} expected; out of order or doubled at \
             {doubles:?}, gaps at {gaps:?}",
            welcome.backlog.len(),
            welcome.backlog.last().map(|m| m.seq),
            seqs.len(),
            expected.len()
        );
    }
    carol2.assert_quiet().await;
    bob1.assert_quiet().await;
}

/// A resend with the same client id is acknowledged with the same id and
/// seq but stored and relayed once, on the same connection and after a
/// reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_with_same_client_id_is_stored_once() {
    let server = TestServer::start().await;
    let alice = server.sign_in("alice", "pw-alice violet kettle 4821").await;
    let bob = server.sign_in("bob", "pw-bob violet kettle 4821").await;
    let (mut alice1, _) = server.join(&alice).await;
    let (mut bob1, _) = server.join(&bob).await;

    let first = alice1.post("dup-1", lobby(), "only once").await;
    let again = alice1.post("dup-1", lobby(), "only once").await;
    assert_eq!(again, first, "same connection: the same ack again");
    let message = bob1.expect_message().await;
    assert_eq!(message.id, first.id);
    bob1.assert_quiet().await;

    // Reconnect (as after a lost ack) and resend.
    alice1.drop_connection();
    let (mut alice2, _) = server
        .join_with(&alice, vec![cursor(lobby(), first.seq)])
        .await;
    let after_reconnect = alice2.post("dup-1", lobby(), "only once").await;
    assert_eq!(
        after_reconnect, first,
        "after reconnect: the same ack again"
    );
    bob1.assert_quiet().await;

    // Also within a DM.
    let dm_first = alice2.post("dup-dm", dm("bob"), "dm once").await;
    let dm_again = alice2.post("dup-dm", dm("bob"), "dm once").await;
    assert_eq!(dm_again, dm_first);
    let message = bob1.expect_message().await;
    assert_eq!(
        (message.id, message.conv.clone()),
        (dm_first.id, dm("alice"))
    );
    bob1.assert_quiet().await;

    // No seq was used up by the duplicates.
    let next = alice2.post("fresh", lobby(), "a new one").await;
    assert_eq!(next.seq, first.seq + 1);
    assert_eq!(bob1.expect_message().await.seq, first.seq + 1);

    let (history, has_more) = alice2.history(lobby(), None, None).await;
    assert!(!has_more);
    assert_eq!(
        history
            .iter()
            .map(|m| (m.seq, m.client_id.as_deref().unwrap_or("")))
            .collect::<Vec<_>>(),
        [(first.seq, "dup-1"), (first.seq + 1, "fresh")],
        "history holds the message once"
    );
    let (dm_history, _) = bob1.history(dm("alice"), None, None).await;
    assert_eq!(dm_history.len(), 1, "DM stored once: {dm_history:?}");
}

/// The sender is always the signed-in user; a frame naming a sender is
/// refused and not relayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_sender_is_refused_and_never_relayed() {
    let server = TestServer::start().await;
    let alice = server.sign_in("alice", "pw-alice violet kettle 4821").await;
    let bob = server.sign_in("bob", "pw-bob violet kettle 4821").await;
    let (mut alice1, _) = server.join(&alice).await;
    let (mut bob1, _) = server.join(&bob).await;

    alice1
        .send_text(
            r#"{"type":"send","client_id":"forged","conv":{"room":"lobby"},"body":"I am bob","sender":"bob"}"#,
        )
        .await;
    alice1.expect_error(ErrorCode::InvalidFrame).await;
    alice1.assert_quiet().await;
    bob1.assert_quiet().await;

    alice1
        .send_text(
            r#"{"type":"send","client_id":"forged-dm","conv":{"dm":"bob"},"body":"I am carol","sender":"carol"}"#,
        )
        .await;
    alice1.expect_error(ErrorCode::InvalidFrame).await;
    bob1.assert_quiet().await;

    let (history, _) = bob1.history(lobby(), None, None).await;
    assert!(history.is_empty(), "forged frame stored: {history:?}");

    // A proper send is relayed with the signed-in name.
    let ack = alice1.post("honest", lobby(), "I am alice").await;
    let message = bob1.expect_message().await;
    assert_eq!(message.sender, "alice");
    assert_eq!(message.id, ack.id);
    let ack = alice1.post("honest-dm", dm("bob"), "really").await;
    let message = bob1.expect_message().await;
    assert_eq!((message.sender.as_str(), message.id), ("alice", ack.id));
    let (history, _) = bob1.history(lobby(), None, None).await;
    assert!(history.iter().all(|m| m.sender == "alice"), "{history:?}");
}
