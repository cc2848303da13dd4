//! Rooms (create, join, leave, list, member events), history paging, and a
//! restart on the same database file.

mod common;

use common::*;

fn member_events(frames: &[ServerFrame]) -> Vec<(String, String, bool, u32)> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Member {
                room,
                user,
                joined,
                members,
                ..
            } => Some((room.clone(), user.clone(), *joined, *members)),
            _ => None,
        })
        .collect()
}

/// Every frame up to and including the next member event, then whatever
/// else is queued before a fresh pong. The member event is sent by the
/// relay after the frames another tab awaits, so a bare ping can overtake it.
async fn through_member_event(client: &mut Client) -> Vec<ServerFrame> {
    let mut frames = Vec::new();
    loop {
        let frame = client.recv().await;
        let member = matches!(frame, ServerFrame::Member { .. });
        frames.push(frame);
        if member {
            break;
        }
    }
    frames.extend(client.ping_collect().await);
    frames
}

fn messages_in(frames: &[ServerFrame]) -> Vec<Message> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Message { message } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn find_room<'a>(rooms: &'a [RoomInfo], name: &str) -> &'a RoomInfo {
    rooms
        .iter()
        .find(|r| r.room == name)
        .unwrap_or_else(|| panic!("room {name} not listed: {rooms:?}"))
}

async fn expect_joined(client: &mut Client) -> ConversationInfo {
    match client.next().await {
        ServerFrame::Joined { info } => info,
        other => panic!("{}: expected joined, got {other:?}", client.user),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_create_join_leave_list_with_member_events() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (bob, mut bob1, _) = server.user("bob").await;
    let (_, mut carol, _) = server.user("carol").await;

    let rooms = alice.list_rooms().await;
    assert_eq!(
        rooms,
        [RoomInfo {
            room: "lobby".into(),
            title: String::new(),
            members: 3,
            joined: true,
            topic: String::new(),
            private: false,
        }]
    );

    // Create.
    alice.send(&ClientFrame::create_room("rust")).await;
    let info = expect_joined(&mut alice).await;
    assert_eq!(info.conv, room("rust"));
    assert_eq!(info.members, Some(1));
    // The log starts with the line "alice created the room", read.
    assert_eq!((info.last_seq, info.read_seq, info.unread), (1, 1, 0));
    alice.assert_quiet().await;

    for client in [&mut alice, &mut bob1] {
        client.send(&ClientFrame::create_room("rust")).await;
        client.expect_error(ErrorCode::RoomExists).await;
        client.assert_quiet().await;
    }
    for bad in ["bad name", "", "a/b"] {
        bob1.send(&ClientFrame::create_room(bad)).await;
        bob1.expect_error(ErrorCode::InvalidName).await;
    }

    let rooms = bob1.list_rooms().await;
    assert_eq!(rooms.len(), 2, "{rooms:?}");
    assert_eq!(
        find_room(&rooms, "rust"),
        &RoomInfo {
            room: "rust".into(),
            title: String::new(),
            members: 1,
            joined: false,
            topic: String::new(),
            private: false,
        }
    );
    assert_eq!(find_room(&rooms, "lobby").members, 3);
    assert!(find_room(&rooms, "lobby").joined);
    assert!(find_room(&alice.list_rooms().await, "rust").joined);

    // Join: the member already there hears of it, an outsider does not.
    bob1.send(&ClientFrame::JoinRoom {
        room: "rust".into(),
    })
    .await;
    let info = expect_joined(&mut bob1).await;
    assert_eq!(info.conv, room("rust"));
    assert_eq!(info.members, Some(2));
    // "alice created the room", "bob joined".
    assert_eq!(info.last_seq, 2);
    // The join's member event is queued for alice with bob's `joined`.
    bob1.assert_quiet().await;
    let alice_saw = through_member_event(&mut alice).await;
    assert_eq!(
        member_events(&alice_saw),
        [("rust".to_string(), "bob".to_string(), true, 2)],
        "alice's frames: {alice_saw:?}"
    );
    let carol_saw = carol.ping_collect().await;
    assert!(
        member_events(&carol_saw).is_empty(),
        "carol is not in rust: {carol_saw:?}"
    );

    bob1.send(&ClientFrame::JoinRoom {
        room: "nope".into(),
    })
    .await;
    let refused = bob1.expect_error(ErrorCode::UnknownRoom).await;
    assert_eq!(refused.conv, Some(room("nope")), "the error names the room");
    // So does a refused history request.
    bob1.send(&ClientFrame::History {
        conv: room("nope"),
        before: None,
        limit: None,
    })
    .await;
    let refused = bob1.expect_error(ErrorCode::UnknownRoom).await;
    assert_eq!(refused.conv, Some(room("nope")));

    // Messages in the room reach members only.
    let ack = alice.post("r1", room("rust"), "hello rustaceans").await;
    assert_eq!((ack.conv.clone(), ack.seq), (room("rust"), 3));
    let message = bob1.expect_message().await;
    assert_eq!(message.conv, room("rust"));
    assert_eq!(message.id, ack.id);
    carol.assert_quiet().await;
    carol.send_msg("c1", room("rust"), "me too").await;
    carol.expect_error(ErrorCode::NotMember).await;

    // Who is in the room: for its members, by name; not for others.
    for tab in [&mut alice, &mut bob1] {
        tab.send(&ClientFrame::Members {
            room: "Rust".into(),
        })
        .await;
        match tab.next().await {
            ServerFrame::Members {
                room, users, total, ..
            } => {
                assert_eq!(room, "rust");
                assert_eq!(users, ["alice", "bob"]);
                assert_eq!(total, 2);
            }
            other => panic!("{}: expected members, got {other:?}", tab.user),
        }
    }
    carol
        .send(&ClientFrame::Members {
            room: "rust".into(),
        })
        .await;
    let refused = carol.expect_error(ErrorCode::NotMember).await;
    assert_eq!(refused.conv, Some(room("rust")));

    // A new tab of bob lists the room with its member count.
    let (mut bob2, welcome) = server.join(&bob).await;
    let info = welcome.conv(&room("rust")).expect("rust in bob's welcome");
    assert_eq!(info.members, Some(2));
    assert_eq!(info.last_seq, 3);
    let lobby_info = welcome.conv(&lobby()).expect("lobby in welcome");
    assert_eq!(lobby_info.members, Some(3));

    // Leave.
    bob1.send(&ClientFrame::LeaveRoom {
        room: "rust".into(),
    })
    .await;
    match bob1.next().await {
        ServerFrame::Left { room, .. } => assert_eq!(room, "rust"),
        other => panic!("expected left, got {other:?}"),
    }
    bob1.assert_quiet().await;
    let alice_saw = through_member_event(&mut alice).await;
    assert_eq!(
        member_events(&alice_saw),
        [("rust".to_string(), "bob".to_string(), false, 1)],
        "alice's frames: {alice_saw:?}"
    );
    // Both of bob's tabs stop getting the room.
    let _ = bob2.ping_collect().await;
    alice.post("r2", room("rust"), "bob is gone").await;
    for tab in [&mut bob1, &mut bob2] {
        let frames = tab.ping_collect().await;
        assert!(
            messages_in(&frames).is_empty(),
            "{} still gets rust: {frames:?}",
            tab.user
        );
    }
    bob1.send_msg("b1", room("rust"), "hello?").await;
    bob1.expect_error(ErrorCode::NotMember).await;
    assert_eq!(
        find_room(&bob1.list_rooms().await, "rust"),
        &RoomInfo {
            room: "rust".into(),
            title: String::new(),
            members: 1,
            joined: false,
            topic: String::new(),
            private: false,
        }
    );

    // Nobody leaves the lobby.
    bob1.send(&ClientFrame::LeaveRoom {
        room: "lobby".into(),
    })
    .await;
    bob1.expect_error(ErrorCode::CannotLeaveLobby).await;
    bob1.assert_quiet().await;
    assert_eq!(find_room(&carol.list_rooms().await, "lobby").members, 3);

    // Joining again works and counts again.
    bob2.send(&ClientFrame::JoinRoom {
        room: "rust".into(),
    })
    .await;
    let info = expect_joined(&mut bob2).await;
    assert_eq!(info.members, Some(2));
    // Bob's leave and his second join are lines of the log too.
    assert_eq!(info.last_seq, 6);
}

/// Send `count` messages to `conv`, pipelined, and wait for every ack.
async fn fill(client: &mut Client, conv: &Conv, prefix: &str, count: i64) -> Vec<Acked> {
    for i in 1..=count {
        client
            .send_msg(
                &format!("{prefix}{i}"),
                conv.clone(),
                &format!("{prefix} {i}"),
            )
            .await;
    }
    let mut acks = Vec::new();
    for i in 1..=count {
        acks.push(client.expect_ack(&format!("{prefix}{i}")).await);
    }
    acks
}

fn seqs(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_backwards_with_before_limit_and_has_more() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    // The lobby: a room whose log holds no system lines.
    let paging = lobby();
    let acks = fill(&mut alice, &paging, "p", 25).await;
    assert_eq!(
        acks.iter().map(|a| a.seq).collect::<Vec<_>>(),
        (1..=25).collect::<Vec<_>>()
    );

    let (page, has_more) = alice.history(paging.clone(), None, Some(10)).await;
    assert_eq!(seqs(&page), (16..=25).collect::<Vec<_>>());
    assert!(has_more);
    for (message, ack) in page.iter().zip(&acks[15..]) {
        assert_eq!(message.id, ack.id);
        assert_eq!(message.ts, ack.ts);
        assert_eq!(message.sender, "alice");
        assert_eq!(message.conv, paging);
        assert_eq!(message.body, format!("p {}", message.seq));
        assert_eq!(message.client_id.as_deref(), Some(ack.client_id.as_str()));
    }

    let (page, has_more) = alice.history(paging.clone(), Some(16), Some(10)).await;
    assert_eq!(seqs(&page), (6..=15).collect::<Vec<_>>());
    assert!(has_more);

    let (page, has_more) = alice.history(paging.clone(), Some(6), Some(10)).await;
    assert_eq!(seqs(&page), (1..=5).collect::<Vec<_>>());
    assert!(!has_more, "nothing before seq 1");

    let (page, has_more) = alice.history(paging.clone(), Some(1), Some(10)).await;
    assert!(page.is_empty());
    assert!(!has_more);

    let (page, has_more) = alice.history(paging.clone(), None, Some(25)).await;
    assert_eq!(seqs(&page), (1..=25).collect::<Vec<_>>());
    assert!(!has_more, "exactly all of them");

    let (page, has_more) = alice.history(paging.clone(), Some(11), Some(10)).await;
    assert_eq!(seqs(&page), (1..=10).collect::<Vec<_>>());
    assert!(!has_more, "page ends exactly at the first message");

    // Default limit: the newest ones, ascending.
    let (page, has_more) = alice.history(paging.clone(), None, None).await;
    assert!(!page.is_empty() && page.len() <= 200);
    assert_eq!(page.last().map(|m| m.seq), Some(25));
    assert_eq!(
        seqs(&page),
        ((26 - page.len() as i64)..=25).collect::<Vec<_>>()
    );
    assert_eq!(has_more, page.len() < 25);

    // The page size is capped at 200.
    alice.send(&ClientFrame::create_room("big")).await;
    expect_joined(&mut alice).await;
    fill(&mut alice, &room("big"), "b", 210).await;
    let (page, has_more) = alice.history(room("big"), None, Some(1000)).await;
    // Seq 1 is the line "alice created the room".
    assert_eq!(seqs(&page), (12..=211).collect::<Vec<_>>());
    assert!(has_more);
    let (page, has_more) = alice.history(room("big"), Some(12), Some(1000)).await;
    assert_eq!(seqs(&page), (1..=11).collect::<Vec<_>>());
    assert!(page[0].event.is_some() && page[1..].iter().all(|m| m.event.is_none()));
    assert!(!has_more);

    // Rooms do not mix.
    let (page, _) = alice.history(lobby(), None, None).await;
    assert!(page.iter().all(|m| m.body.starts_with("p ")), "{page:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_the_same_file_keeps_history_and_sequence_numbers() {
    let mut server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (_, mut bob, _) = server.user("bob").await;

    let mut lobby_acks = Vec::new();
    for i in 1..=3 {
        lobby_acks.push(
            alice
                .post(&format!("l{i}"), lobby(), &format!("lobby {i}"))
                .await,
        );
    }
    let dm_acks = [
        alice.post("d1", dm("bob"), "dm 1").await,
        alice.post("d2", dm("bob"), "dm 2").await,
    ];
    for _ in 0..5 {
        bob.expect_message().await;
    }
    alice.send(&ClientFrame::create_room("rust")).await;
    expect_joined(&mut alice).await;
    bob.send(&ClientFrame::JoinRoom {
        room: "rust".into(),
    })
    .await;
    expect_joined(&mut bob).await;
    let rust_ack = alice.post("r1", room("rust"), "rust 1").await;
    bob.expect_message().await;
    bob.send(&ClientFrame::Read {
        conv: lobby(),
        seq: 3,
    })
    .await;
    bob.recv_until(|f| matches!(f, ServerFrame::Read { .. }))
        .await;
    let (before, _) = alice.history(lobby(), None, None).await;
    assert_eq!(seqs(&before), [1, 2, 3]);

    server.shutdown().await;
    // Open sockets were closed by the shutdown.
    alice.expect_close().await;
    bob.expect_close().await;

    server.restart().await;
    assert_eq!(server.get("/healthz").await.status(), 200);
    let response = server
        .post_session("alice", "password-1 violet kettle 4821")
        .await;
    assert_eq!(response.status(), 200, "the user survived");
    let info: serde_json::Value = response.json().await.unwrap();
    assert_eq!(info["registered"], false);
    let alice_session = server
        .sign_in("alice", "password-1 violet kettle 4821")
        .await;
    let bob_session = server.sign_in("bob", "password-1 violet kettle 4821").await;

    let (mut alice, welcome) = server
        .join_with(
            &alice_session,
            vec![
                cursor(lobby(), 0),
                cursor(dm("bob"), 2),
                cursor(room("rust"), 3),
            ],
        )
        .await;
    assert_eq!(welcome.conv(&lobby()).map(|c| c.last_seq), Some(3));
    assert_eq!(welcome.conv(&dm("bob")).map(|c| c.last_seq), Some(2));
    let rust_info = welcome.conv(&room("rust")).expect("rust survived");
    // "alice created the room", "bob joined", "rust 1".
    assert_eq!((rust_info.last_seq, rust_info.members), (3, Some(2)));
    assert_eq!(
        seqs(&welcome.backlog),
        [1, 2, 3],
        "lobby backlog from cursor 0"
    );
    for (message, ack) in welcome.backlog.iter().zip(&lobby_acks) {
        assert_eq!((message.id, message.ts), (ack.id, ack.ts));
        assert_eq!(message.body, format!("lobby {}", message.seq));
        assert_eq!(message.sender, "alice");
    }

    let (mut bob, bob_welcome) = server.join(&bob_session).await;
    let bob_lobby = bob_welcome.conv(&lobby()).unwrap();
    assert_eq!(
        (bob_lobby.read_seq, bob_lobby.unread),
        (3, 0),
        "read position kept"
    );

    let (dm_history, _) = alice.history(dm("bob"), None, None).await;
    assert_eq!(
        dm_history.iter().map(|m| m.id).collect::<Vec<_>>(),
        dm_acks.iter().map(|a| a.id).collect::<Vec<_>>()
    );

    // A resend from before the restart is still recognised.
    let again = alice.post("l2", lobby(), "lobby 2").await;
    assert_eq!(again, lobby_acks[1]);

    // Numbering continues.
    let next = alice.post("l4", lobby(), "lobby 4").await;
    assert_eq!(next.seq, 4);
    assert!(next.id > rust_ack.id, "ids keep growing");
    let message = bob.expect_message().await;
    assert_eq!((message.seq, message.id), (4, next.id));
    assert_eq!(alice.post("d3", dm("bob"), "dm 3").await.seq, 3);
    assert_eq!(bob.expect_message().await.conv, dm("alice"));
    assert_eq!(alice.post("r2", room("rust"), "rust 2").await.seq, 4);
    assert_eq!(bob.expect_message().await.seq, 4);
    bob.assert_quiet().await;

    let (after, has_more) = bob.history(lobby(), None, None).await;
    assert_eq!(seqs(&after), [1, 2, 3, 4]);
    assert!(!has_more);
}
