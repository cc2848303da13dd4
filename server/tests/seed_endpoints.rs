//! The seed document's guest endpoints: the group chat at `/ws` and direct
//! chat at `/ws/{username}`, with their exact frames.

mod common;

use common::*;

/// Connect a guest at `/ws/{name}` and wait until the server serves it:
/// a frame to a receiver nobody has is answered by a `server` frame, which
/// only happens once the guest's connection is registered and reading.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_chat_relays_verbatim_to_everyone_but_the_sender() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let mut g1 = server.group_guest().await;
    let mut g2 = server.group_guest().await;
    let mut g3 = server.group_guest().await;

    // The last guest to connect speaks first: the two before it hear it
    // (they connected earlier), and it being relayed means g3 is served.
    g3.send_text("g3 is here").await;
    assert_eq!(g1.recv_text().await, "g3 is here");
    assert_eq!(g2.recv_text().await, "g3 is here");

    let texts = [
        "hello everyone",
        r#"{"a": 1,  "b":[2], "sender":"someone else"}"#,
        "not json at all {",
        "ünïcödé <b>bold</b> \u{1F600}",
        "",
    ];
    for text in texts {
        g1.send_text(text).await;
    }
    for text in texts {
        assert_eq!(g2.recv_text().await, text, "verbatim to g2");
        assert_eq!(g3.recv_text().await, text, "verbatim to g3");
    }
    // g1's next frame is g2's, so g1 did not get its own.
    g2.send_text("from g2").await;
    assert_eq!(g1.recv_text().await, "from g2");
    assert_eq!(g3.recv_text().await, "from g2");
    g3.send_text("from g3").await;
    assert_eq!(g1.recv_text().await, "from g3");
    assert_eq!(g2.recv_text().await, "from g3", "g2 did not get its own");

    // A guest who leaves no longer counts; the others go on.
    g3.close().await;
    g1.send_text("after g3 left").await;
    assert_eq!(g2.recv_text().await, "after g3 left");

    // The group chat and the native protocol do not mix.
    alice.assert_quiet().await;
    alice.post("a1", lobby(), "native only").await;
    g2.send_text("group only").await;
    assert_eq!(g1.recv_text().await, "group only");
    alice.assert_quiet().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_chat_between_two_guests_uses_the_path_name_as_sender() {
    let server = TestServer::start().await;
    let mut gina = ready_guest(&server, "gina").await;
    let mut hugo = ready_guest(&server, "hugo").await;

    // Whatever the client writes as sender, the path name is used.
    gina.send_seed("mallory", "hugo", "hi hugo").await;
    assert_eq!(
        hugo.recv_seed().await,
        ("gina".into(), "hugo".into(), "hi hugo".into())
    );
    let odd = "ünïcödé \"quoted\" <b>{json}</b>";
    gina.send_seed("gina", "hugo", odd).await;
    assert_eq!(
        hugo.recv_seed().await,
        ("gina".into(), "hugo".into(), odd.into())
    );

    // Gina's next frame is hugo's answer: she got no copy of her own.
    hugo.send_seed("hugo", "gina", "hi gina").await;
    assert_eq!(
        gina.recv_seed().await,
        ("hugo".into(), "gina".into(), "hi gina".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_chat_between_a_guest_and_a_native_user() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (_, mut bob, _) = server.user("bob").await;
    let mut gina = ready_guest(&server, "gina").await;

    // Guest -> native.
    gina.send_seed("gina", "alice", "hello alice").await;
    let message = alice.expect_message().await;
    assert_eq!(message.conv, guest("gina"));
    assert_eq!(message.sender, "gina");
    assert_eq!(message.body, "hello alice");
    bob.assert_quiet().await;

    // Native -> guest.
    let ack = alice.post("to-gina", guest("gina"), "hi gina").await;
    assert_eq!(ack.conv, guest("gina"));
    assert_eq!(ack.seq, message.seq + 1, "one conversation with the guest");
    assert_eq!(
        gina.recv_seed().await,
        ("alice".into(), "gina".into(), "hi gina".into()),
        "and gina got no copy of her own frame before it"
    );
    alice.assert_quiet().await;
    bob.assert_quiet().await;

    // A resend to the guest is acknowledged again but not relayed again:
    // gina's next frame is the next message.
    let again = alice.post("to-gina", guest("gina"), "hi gina").await;
    assert_eq!(again, ack);
    alice.post("to-gina-2", guest("gina"), "second").await;
    assert_eq!(
        gina.recv_seed().await,
        ("alice".into(), "gina".into(), "second".into()),
        "the resend reached gina twice"
    );

    let (history, _) = alice.history(guest("gina"), None, None).await;
    assert_eq!(
        history
            .iter()
            .map(|m| (m.sender.as_str(), m.body.as_str()))
            .collect::<Vec<_>>(),
        [
            ("gina", "hello alice"),
            ("alice", "hi gina"),
            ("alice", "second")
        ]
    );

    // A guest who is not connected cannot be written to.
    alice.send_msg("to-ghost", guest("ghost"), "boo").await;
    let client_id = alice.expect_error(ErrorCode::GuestOffline).await.client_id;
    assert_eq!(client_id.as_deref(), Some("to-ghost"));
    alice.assert_quiet().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_writing_to_an_unknown_or_offline_receiver_is_told_by_the_server() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let bob = server.sign_in("bob", "pw-bob violet kettle 4821").await; // registered, not connected
    let mut gina = ready_guest(&server, "gina").await;

    // Unknown receiver, and a guest that is not connected.
    for receiver in ["nobody", "ghost-guest"] {
        gina.send_seed("gina", receiver, "hello?").await;
        let (sender, to, data) = gina.recv_seed().await;
        assert_eq!((sender.as_str(), to.as_str()), ("server", "gina"));
        assert!(!data.is_empty(), "the server explains");
    }

    // A registered user who is offline: told, but the message is kept.
    gina.send_seed("gina", "bob", "for when you are back").await;
    let (sender, to, data) = gina.recv_seed().await;
    assert_eq!((sender.as_str(), to.as_str()), ("server", "gina"));
    assert!(!data.is_empty());

    // A later message of gina's reaching alice means the earlier one went
    // through the relay too (one relay, in order).
    gina.send_seed("gina", "alice", "sync").await;
    assert_eq!(alice.expect_message().await.body, "sync");

    let (mut bob1, welcome) = server.join(&bob).await;
    let info = welcome
        .conv(&guest("gina"))
        .unwrap_or_else(|| panic!("welcome lists gina: {:?}", welcome.conversations));
    assert_eq!(info.unread, 1);
    assert_eq!(welcome.backlog.len(), 1, "{:?}", welcome.backlog);
    let message = &welcome.backlog[0];
    assert_eq!(message.conv, guest("gina"));
    assert_eq!(message.sender, "gina");
    assert_eq!(message.body, "for when you are back");
    bob1.assert_quiet().await;

    // Bob can answer while gina is connected.
    bob1.post("b1", guest("gina"), "I am back").await;
    assert_eq!(
        gina.recv_seed().await,
        ("bob".into(), "gina".into(), "I am back".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_malformed_json_is_answered_and_the_connection_stays_usable() {
    let server = TestServer::start().await;
    let mut gina = ready_guest(&server, "gina").await;
    let mut hugo = ready_guest(&server, "hugo").await;

    for text in ["this is not json", "{\"sender\":", "[1,2"] {
        gina.send_text(text).await;
        let (sender, receiver, data) = gina.recv_seed().await;
        assert_eq!(
            (sender.as_str(), receiver.as_str()),
            ("server", "gina"),
            "answer to {text:?}"
        );
        assert!(!data.is_empty(), "the server explains");
    }

    gina.send_seed("gina", "hugo", "still working").await;
    assert_eq!(
        hugo.recv_seed().await,
        ("gina".into(), "hugo".into(), "still working".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_guest_names_are_closed_with_1008() {
    let server = TestServer::start().await;
    server.sign_in("Bob", "pw-bob violet kettle 4821").await;
    let mut gina = ready_guest(&server, "gina").await;

    let long = "x".repeat(33);
    for (name, why) in [
        ("Bob", "a registered user's name"),
        ("bob", "a registered user's name in another case"),
        ("BOB", "a registered user's name in another case"),
        ("gina", "a guest already connected"),
        ("GINA", "a guest already connected, in another case"),
        ("bad\u{202e}name", "an invisible character in the name"),
        (long.as_str(), "a name too long"),
    ] {
        let mut refused = server.direct_guest(name).await;
        let close = refused.expect_close().await;
        let (code, reason) = close.unwrap_or_else(|| panic!("{name} ({why}): no close frame"));
        assert_eq!(code, 1008, "{name} ({why}): close code, reason {reason:?}");
        assert!(!reason.is_empty(), "{name} ({why}): a reason is given");
    }

    // The real gina was not disturbed.
    let mut hugo = ready_guest(&server, "hugo").await;
    gina.send_seed("gina", "hugo", "still me").await;
    assert_eq!(
        hugo.recv_seed().await,
        ("gina".into(), "hugo".into(), "still me".into())
    );
}
