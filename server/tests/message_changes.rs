//! Messages that live: edits, deletes, replies and reactions, with the
//! guarantees of sending (stored before acknowledged, idempotent by client
//! id, ordered, resumed by cursor), on SQLite and (with
//! `PARLEY_TEST_DATABASE=postgres`) PostgreSQL.

mod common;

use app::protocol::{ChangeKind, Quote, Version, MAX_REACTIONS};
use common::*;

fn edit(client_id: &str, conv: Conv, seq: i64, body: &str) -> ClientFrame {
    ClientFrame::Edit {
        client_id: client_id.into(),
        conv,
        seq,
        body: body.into(),
    }
}

fn delete(client_id: &str, conv: Conv, seq: i64) -> ClientFrame {
    ClientFrame::Delete {
        client_id: client_id.into(),
        conv,
        seq,
    }
}

fn react(client_id: &str, conv: Conv, seq: i64, emoji: &str) -> ClientFrame {
    ClientFrame::React {
        client_id: client_id.into(),
        conv,
        seq,
        emoji: emoji.into(),
    }
}

fn unreact(client_id: &str, conv: Conv, seq: i64, emoji: &str) -> ClientFrame {
    ClientFrame::Unreact {
        client_id: client_id.into(),
        conv,
        seq,
        emoji: emoji.into(),
    }
}

fn reply(client_id: &str, conv: Conv, seq: i64, body: &str) -> ClientFrame {
    ClientFrame::Send {
        client_id: client_id.into(),
        conv,
        body: body.into(),
        reply_to: Some(seq),
    }
}

const THUMBS: &str = "\u{1F44D}";
const PARTY: &str = "\u{1F389}";

/// The one message of `history` with this seq.
async fn current(client: &mut Client, conv: Conv, seq: i64) -> Message {
    let (messages, _) = client.history(conv, None, Some(200)).await;
    messages
        .into_iter()
        .find(|m| m.seq == seq)
        .unwrap_or_else(|| panic!("message {seq} is in the history"))
}

/// Alice (two tabs) and Bob in a room: a reply, an edit, reactions and a
/// delete reach everyone else live, in order, and `history` shows the
/// final state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_reaches_every_member_and_tab_and_history_shows_the_result() {
    let server = TestServer::start().await;
    let (alice, mut a1, _) = server.user("alice").await;
    let (mut a2, _) = server.join(&alice).await;
    let (_, mut bob, _) = server.user("bob").await;

    let first = a1.post("a-1", lobby(), "helo everyone").await;
    assert_eq!(a2.expect_message().await.seq, first.seq);
    assert_eq!(bob.expect_message().await.seq, first.seq);

    // Bob answers it: the reply carries the quote, to everyone.
    let answer = bob
        .change(reply("b-1", lobby(), first.seq, "hi alice"))
        .await;
    for tab in [&mut a1, &mut a2] {
        let m = tab.expect_message().await;
        assert_eq!(m.seq, answer.seq);
        assert_eq!(
            m.reply,
            Some(Quote {
                seq: first.seq,
                sender: "alice".into(),
                body: "helo everyone".into(),
                deleted: false,
            })
        );
    }

    // Alice fixes her typo: Bob and her other tab get the change.
    let edited = a1
        .change(edit("a-2", lobby(), first.seq, "hello everyone"))
        .await;
    assert!(edited.seq > answer.seq, "a change takes the next seq");
    for client in [&mut a2, &mut bob] {
        let c = client.expect_change().await;
        assert_eq!(
            (
                c.kind,
                c.target,
                c.seq,
                c.body.as_deref(),
                c.sender.as_str()
            ),
            (
                ChangeKind::Edit,
                first.seq,
                edited.seq,
                Some("hello everyone"),
                "alice"
            )
        );
        assert_eq!(c.client_id.as_deref(), Some("a-2"));
    }

    // Bob reacts twice, then takes one back.
    let r1 = bob.change(react("b-2", lobby(), first.seq, THUMBS)).await;
    let r2 = bob.change(react("b-3", lobby(), first.seq, PARTY)).await;
    let r3 = bob.change(unreact("b-4", lobby(), first.seq, PARTY)).await;
    for client in [&mut a1, &mut a2] {
        let mut got = Vec::new();
        for _ in 0..3 {
            let c = client.expect_change().await;
            got.push((c.kind, c.seq, c.emoji.unwrap_or_default()));
        }
        assert_eq!(
            got,
            vec![
                (ChangeKind::React, r1.seq, THUMBS.to_string()),
                (ChangeKind::React, r2.seq, PARTY.to_string()),
                (ChangeKind::Unreact, r3.seq, PARTY.to_string()),
            ]
        );
    }
    // The tab that made the edit got its ack, never the change itself.
    a1.assert_quiet().await;

    // History: the edited text, when, Bob's reaction marked as his own for him.
    let seen_by_bob = current(&mut bob, lobby(), first.seq).await;
    assert_eq!(seen_by_bob.body, "hello everyone");
    assert_eq!(seen_by_bob.edited_at, Some(edited.ts));
    assert_eq!(seen_by_bob.rev, r3.seq);
    assert_eq!(seen_by_bob.reactions.len(), 1);
    assert_eq!(seen_by_bob.reactions[0].emoji, THUMBS);
    assert_eq!(seen_by_bob.reactions[0].users, vec!["bob".to_string()]);
    assert!(seen_by_bob.reactions[0].me);
    let seen_by_alice = current(&mut a1, lobby(), first.seq).await;
    assert!(!seen_by_alice.reactions[0].me, "not alice's reaction");
    let quoted = current(&mut a1, lobby(), answer.seq).await;
    assert_eq!(quoted.reply.map(|q| q.body), Some("hello everyone".into()));

    // Alice deletes it: a tombstone for everyone; the reply points at it.
    let deleted = a1.change(delete("a-3", lobby(), first.seq)).await;
    for client in [&mut a2, &mut bob] {
        let c = client.expect_change().await;
        assert_eq!(
            (c.kind, c.target, c.seq),
            (ChangeKind::Delete, first.seq, deleted.seq)
        );
    }
    let tomb = current(&mut bob, lobby(), first.seq).await;
    assert_eq!(tomb.body, "");
    assert_eq!(tomb.deleted_at, Some(deleted.ts));
    assert!(tomb.reactions.is_empty(), "a tombstone keeps no reactions");
    let quoted = current(&mut bob, lobby(), answer.seq).await;
    assert_eq!(
        quoted.reply,
        Some(Quote {
            seq: first.seq,
            sender: "alice".into(),
            body: String::new(),
            deleted: true,
        })
    );
    // History pages hold messages only, never the changes' entries.
    let (page, _) = bob.history(lobby(), None, None).await;
    let seqs: Vec<i64> = page.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![first.seq, answer.seq]);
}

/// Direct conversations carry changes both ways, each side named after the
/// other, and a change is not an unread message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_in_direct_conversations_are_not_unread_messages() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (bob_session, mut bob, _) = server.user("bob").await;
    let sent = alice.post("a-1", dm("bob"), "psst").await;
    assert_eq!(bob.expect_message().await.conv, dm("alice"));
    bob.change(react("b-1", dm("alice"), sent.seq, THUMBS))
        .await;
    let c = alice.expect_change().await;
    assert_eq!((c.conv, c.kind), (dm("bob"), ChangeKind::React));
    alice
        .change(edit("a-2", dm("bob"), sent.seq, "psst!"))
        .await;
    let c = bob.expect_change().await;
    assert_eq!((c.conv, c.kind), (dm("alice"), ChangeKind::Edit));
    bob.close().await;

    // Bob comes back: one unread message, not three log entries.
    let (mut again, welcome) = server.join(&bob_session).await;
    let info = welcome.conv(&dm("alice")).expect("the DM is listed");
    assert_eq!((info.last_seq, info.unread), (3, 1));
    alice.post("a-3", dm("bob"), "still there?").await;
    again.expect_message().await;
    alice
        .change(edit("a-4", dm("bob"), sent.seq, "psst!!"))
        .await;
    again.expect_change().await;
    again.close().await;
    let (mut again, welcome) = server.join(&bob_session).await;
    assert_eq!(welcome.conv(&dm("alice")).map(|i| i.unread), Some(2));
    // Reading up to the last entry (a change) clears it.
    again
        .send(&ClientFrame::Read {
            conv: dm("alice"),
            seq: 5,
        })
        .await;
    match again.next().await {
        ServerFrame::Read { seq, unread, .. } => assert_eq!((seq, unread), (5, 0)),
        other => panic!("expected read, got {other:?}"),
    }
}

/// Each refusal has its code, names the frame's client id and
/// conversation, stores nothing, and leaves the connection open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_has_its_code_and_the_connection_stays_open() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (_, mut bob, _) = server.user("bob").await;
    let mine = alice.post("a-1", lobby(), "mine").await;
    bob.expect_message().await;

    let refusals: Vec<(ClientFrame, ErrorCode)> = vec![
        (
            edit("b-1", lobby(), mine.seq, "hijack"),
            ErrorCode::NotAuthor,
        ),
        (delete("b-2", lobby(), mine.seq), ErrorCode::NotAuthor),
        (
            edit("b-3", lobby(), 999, "nothing"),
            ErrorCode::UnknownMessage,
        ),
        (
            react("b-4", lobby(), 999, THUMBS),
            ErrorCode::UnknownMessage,
        ),
        (
            reply("b-5", lobby(), 999, "to nothing"),
            ErrorCode::UnknownMessage,
        ),
        (
            unreact("b-6", lobby(), mine.seq, THUMBS),
            ErrorCode::NotReacted,
        ),
        (
            react("b-7", lobby(), mine.seq, "lol"),
            ErrorCode::InvalidReaction,
        ),
        (
            react("b-8", lobby(), mine.seq, "<img src=x>"),
            ErrorCode::InvalidReaction,
        ),
        (
            edit("b-9", lobby(), mine.seq, "   "),
            ErrorCode::InvalidMessage,
        ),
        (
            edit("b-10", lobby(), mine.seq, &"x".repeat(16 * 1024 + 1)),
            ErrorCode::InvalidMessage,
        ),
        (
            edit("", lobby(), mine.seq, "no id"),
            ErrorCode::InvalidMessage,
        ),
        (
            react("b-11", room("nowhere"), 1, THUMBS),
            ErrorCode::UnknownRoom,
        ),
        (
            ClientFrame::EditHistory {
                conv: lobby(),
                seq: mine.seq,
            },
            ErrorCode::NotAuthor,
        ),
    ];
    for (frame, code) in refusals {
        let client_id = client_id_of(&frame).map(str::to_string);
        bob.send(&frame).await;
        let refused = bob.expect_error(code).await;
        assert_eq!(refused.client_id, client_id, "{frame:?}");
        assert!(refused.conv.is_some(), "{frame:?} names its conversation");
    }

    // A change's own entry is no message to change.
    let reacted = bob.change(react("b-12", lobby(), mine.seq, THUMBS)).await;
    alice.expect_change().await;
    bob.send(&edit("b-13", lobby(), reacted.seq, "x")).await;
    bob.expect_error(ErrorCode::UnknownMessage).await;
    bob.send(&react("b-14", lobby(), mine.seq, THUMBS)).await;
    bob.expect_error(ErrorCode::AlreadyReacted).await;

    // A room Bob is not in.
    alice.send(&ClientFrame::create_room("secret")).await;
    alice
        .recv_until(|f| matches!(f, ServerFrame::Joined { .. }))
        .await;
    let hidden = alice.post("a-2", room("secret"), "inside").await;
    bob.send(&react("b-15", room("secret"), hidden.seq, THUMBS))
        .await;
    bob.expect_error(ErrorCode::NotMember).await;
    bob.send(&reply("b-16", room("secret"), hidden.seq, "let me in"))
        .await;
    bob.expect_error(ErrorCode::NotMember).await;

    // Deleted: nothing more can be done to it, by anyone.
    alice.change(delete("a-3", lobby(), mine.seq)).await;
    bob.expect_change().await;
    for (frame, code) in [
        (
            react("b-17", lobby(), mine.seq, PARTY),
            ErrorCode::MessageDeleted,
        ),
        (
            reply("b-18", lobby(), mine.seq, "?"),
            ErrorCode::MessageDeleted,
        ),
    ] {
        bob.send(&frame).await;
        bob.expect_error(code).await;
    }
    alice.send(&edit("a-4", lobby(), mine.seq, "back")).await;
    alice.expect_error(ErrorCode::MessageDeleted).await;
    alice.send(&delete("a-5", lobby(), mine.seq)).await;
    alice.expect_error(ErrorCode::MessageDeleted).await;

    // None of it was stored or relayed, and both connections still work.
    alice.assert_quiet().await;
    bob.assert_quiet().await;
    let (messages, _) = bob.history(lobby(), None, None).await;
    assert_eq!(messages.len(), 1);
}

/// At most MAX_REACTIONS different emoji under one message; more of an
/// emoji already there is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_takes_at_most_twenty_different_reactions() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (_, mut bob, _) = server.user("bob").await;
    let target = alice.post("a-1", lobby(), "react to me").await;
    bob.expect_message().await;
    let emoji: Vec<String> = (0..=MAX_REACTIONS as u32)
        .map(|i| char::from_u32(0x1F600 + i).unwrap().to_string())
        .collect();
    for (i, e) in emoji.iter().take(MAX_REACTIONS).enumerate() {
        alice
            .change(react(&format!("r-{i}"), lobby(), target.seq, e))
            .await;
    }
    alice
        .send(&react("r-over", lobby(), target.seq, &emoji[MAX_REACTIONS]))
        .await;
    alice.expect_error(ErrorCode::TooManyReactions).await;
    for _ in 0..MAX_REACTIONS {
        bob.expect_change().await;
    }
    // Bob may add one of the twenty.
    bob.change(react("b-1", lobby(), target.seq, &emoji[0]))
        .await;
    let m = current(&mut bob, lobby(), target.seq).await;
    assert_eq!(m.reactions.len(), MAX_REACTIONS);
    assert_eq!(m.reactions[0].users, vec!["alice", "bob"]);
}

/// Every change frame sent again with its client id (as after a
/// reconnect) is acknowledged again with the same seq and applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resends_are_acknowledged_again_and_applied_once() {
    let server = TestServer::start().await;
    let (alice_session, mut alice, _) = server.user("alice").await;
    let (_, mut bob, _) = server.user("bob").await;
    let first = alice.post("a-1", lobby(), "one").await;
    bob.expect_message().await;

    let frames = vec![
        edit("a-2", lobby(), first.seq, "one, edited"),
        react("a-3", lobby(), first.seq, THUMBS),
        unreact("a-4", lobby(), first.seq, THUMBS),
        reply("a-5", lobby(), first.seq, "answering myself"),
        delete("a-6", lobby(), first.seq),
    ];
    for frame in frames {
        let acked = alice.change(frame.clone()).await;
        // Bob gets it once.
        let seq = match bob.next().await {
            ServerFrame::Change { change } => change.seq,
            ServerFrame::Message { message } => message.seq,
            other => panic!("bob: {other:?}"),
        };
        assert_eq!(seq, acked.seq);
        // The same frame again on this connection, and on a new one.
        let again = alice.change(frame.clone()).await;
        assert_eq!((again.id, again.seq), (acked.id, acked.seq), "{frame:?}");
        let (mut other, _) = server.join(&alice_session).await;
        let again = other.change(frame.clone()).await;
        assert_eq!((again.id, again.seq), (acked.id, acked.seq), "{frame:?}");
        other.close().await;
        bob.assert_quiet().await;
    }
    // The same frames twice in one batch: stored once.
    let second = alice.post("a-7", lobby(), "two").await;
    bob.expect_message().await;
    let twice = edit("a-8", lobby(), second.seq, "two, edited");
    alice.send(&twice).await;
    alice.send(&twice).await;
    let x = alice.expect_ack("a-8").await;
    let y = alice.expect_ack("a-8").await;
    assert_eq!(x, y);
    bob.expect_change().await;
    bob.assert_quiet().await;
    // One version before the edit, one after.
    alice
        .send(&ClientFrame::EditHistory {
            conv: lobby(),
            seq: second.seq,
        })
        .await;
    match alice.next().await {
        ServerFrame::Versions { seq, versions, .. } => {
            assert_eq!(seq, second.seq);
            let bodies: Vec<&str> = versions.iter().map(|v| v.body.as_str()).collect();
            assert_eq!(bodies, vec!["two", "two, edited"]);
        }
        other => panic!("expected versions, got {other:?}"),
    }
}

/// A client that resumes with its cursors receives every change made while
/// it was away, once, in seq order, after the messages they change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_receives_the_changes_made_while_away_once_and_in_order() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (bob_session, mut bob, _) = server.user("bob").await;
    let first = alice.post("a-1", lobby(), "first").await;
    let held = bob.expect_message().await;
    assert_eq!(held.seq, first.seq);
    bob.drop_connection();

    let e = alice
        .change(edit("a-2", lobby(), first.seq, "first!"))
        .await;
    let later = alice.post("a-3", lobby(), "later").await;
    let r = alice.change(react("a-4", lobby(), later.seq, PARTY)).await;
    let d = alice.change(delete("a-5", lobby(), first.seq)).await;

    let (bob, welcome) = server
        .join_with(&bob_session, vec![cursor(lobby(), first.seq)])
        .await;
    assert_eq!(
        welcome.seqs,
        vec![e.seq, later.seq, r.seq, d.seq],
        "in order, once"
    );
    assert_eq!(
        welcome.backlog.len(),
        1,
        "only the message after the cursor"
    );
    let kinds: Vec<ChangeKind> = welcome.changes.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![ChangeKind::Edit, ChangeKind::React, ChangeKind::Delete]
    );
    // The message after the cursor comes in its current state: its
    // reaction is already in it, and its rev says so.
    assert_eq!(welcome.backlog[0].rev, r.seq);
    assert_eq!(welcome.backlog[0].reactions[0].emoji, PARTY);
    // Resuming from the end: nothing again.
    bob.close().await;
    let (mut bob, welcome) = server
        .join_with(&bob_session, vec![cursor(lobby(), d.seq)])
        .await;
    assert!(welcome.seqs.is_empty());
    bob.assert_quiet().await;
}

/// Someone who was offline the whole time sees the final state when they
/// connect: the backlog's messages are current, and each change in it is
/// one their `rev` already includes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_receiver_sees_the_final_state_on_connect() {
    let server = TestServer::start().await;
    let bob_session = server
        .sign_in("bob", "password-bob violet kettle 4821")
        .await;
    let (_, mut alice, _) = server.user("alice").await;
    let one = alice.post("a-1", dm("bob"), "one").await;
    let two = alice.post("a-2", dm("bob"), "two").await;
    alice
        .change(edit("a-3", dm("bob"), one.seq, "one (fixed)"))
        .await;
    alice.change(react("a-4", dm("bob"), two.seq, THUMBS)).await;
    let gone = alice.post("a-5", dm("bob"), "oops").await;
    alice.change(delete("a-6", dm("bob"), gone.seq)).await;

    let (_, welcome) = server.join(&bob_session).await;
    let info = welcome.conv(&dm("alice")).expect("listed");
    assert_eq!(info.unread, 3, "three messages, whatever was changed");
    let by_seq = |seq| {
        welcome
            .backlog
            .iter()
            .find(|m| m.seq == seq)
            .unwrap_or_else(|| panic!("{seq} in the backlog"))
    };
    assert_eq!(by_seq(one.seq).body, "one (fixed)");
    assert!(by_seq(one.seq).edited_at.is_some());
    assert_eq!(by_seq(two.seq).reactions[0].users, vec!["alice"]);
    assert!(by_seq(gone.seq).deleted_at.is_some());
    assert_eq!(by_seq(gone.seq).body, "");
    for change in &welcome.changes {
        assert!(
            change.seq <= by_seq(change.target).rev,
            "{change:?} is already in its message's state"
        );
    }
}

/// A deleted message's text is erased from the database, with every
/// earlier version and the text of its edits in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_erases_every_version_from_the_database() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let m = alice.post("a-1", lobby(), "secret-v1").await;
    alice.change(edit("a-2", lobby(), m.seq, "secret-v2")).await;
    alice.change(edit("a-3", lobby(), m.seq, "secret-v3")).await;
    alice
        .send(&ClientFrame::EditHistory {
            conv: lobby(),
            seq: m.seq,
        })
        .await;
    match alice.next().await {
        ServerFrame::Versions { versions, .. } => {
            let bodies: Vec<String> = versions.into_iter().map(|v: Version| v.body).collect();
            assert_eq!(bodies, vec!["secret-v1", "secret-v2", "secret-v3"]);
        }
        other => panic!("expected versions, got {other:?}"),
    }
    assert_eq!(server.count_rows_containing("secret").await, 5);
    alice.change(delete("a-4", lobby(), m.seq)).await;
    assert_eq!(server.count_rows_containing("secret").await, 0);
    alice
        .send(&ClientFrame::EditHistory {
            conv: lobby(),
            seq: m.seq,
        })
        .await;
    alice.expect_error(ErrorCode::MessageDeleted).await;
}

/// Reactions, edits and deletes count against the frame rate limit like
/// any frame: past the burst they are refused (`rate_limited`) and nothing
/// of them is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_flood_is_rate_limited_and_stores_only_what_was_let_through() {
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 0.5;
        c.rate_burst = 6.0;
        c.rate_abuse_limit = 1_000;
    })
    .await;
    let (_, mut alice, _) = server.user("alice").await;
    let target = alice.post("a-1", lobby(), "flood me").await;
    for i in 0..12_u32 {
        let emoji = char::from_u32(0x1F600 + i).unwrap().to_string();
        alice
            .send(&react(&format!("r-{i}"), lobby(), target.seq, &emoji))
            .await;
    }
    let (mut acked, mut limited) = (0, 0);
    while acked + limited < 12 {
        match alice.next().await {
            ServerFrame::Ack { .. } => acked += 1,
            ServerFrame::Error {
                code: ErrorCode::RateLimited,
                ..
            } => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(limited >= 6, "{acked} let through, {limited} limited");
    let (_, mut bob, _) = server.user("bob").await;
    let m = current(&mut bob, lobby(), target.seq).await;
    assert_eq!(m.reactions.len(), acked, "exactly what was acknowledged");
}
