//! Sign-in rules, the WebSocket upgrade's session check, sign-out, and the
//! protocol's error answers (after each of which the connection still works).

mod common;

use common::*;

async fn http_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body = response.text().await.expect("error body");
    let value: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("error body not JSON: {body}: {e}"));
    assert!(
        value["message"].is_string(),
        "error body has a message: {body}"
    );
    let code = value["error"]
        .as_str()
        .unwrap_or_else(|| panic!("error body has an error code: {body}"))
        .to_string();
    (status, code)
}

async fn session_info(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    let value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    (status, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_registers_then_checks_the_password() {
    let server = TestServer::start().await;

    // First sign-in registers the name.
    let response = server
        .post_session("Alice", "correct horse violet kettle 4821")
        .await;
    assert_eq!(response.status(), 200);
    let set_cookie = session_set_cookie(&response).expect("Set-Cookie parley_session");
    let attributes: Vec<String> = set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for wanted in ["httponly", "samesite=lax", "path=/"] {
        assert!(
            attributes.iter().any(|a| a == wanted),
            "cookie attribute {wanted} missing: {set_cookie}"
        );
    }
    let cookie = session_cookie(&response).unwrap();
    assert!(
        cookie.len() > "parley_session=".len() + 15,
        "a real token: {cookie}"
    );
    let (status, info) = session_info(response).await;
    assert_eq!(status, 200);
    assert_eq!(info["username"], "Alice");
    assert_eq!(info["registered"], true);

    // The cookie identifies the user.
    let (status, info) = session_info(server.get_session(Some(&cookie)).await).await;
    assert_eq!(status, 200);
    assert_eq!(info["username"], "Alice");
    assert_eq!(server.get_session(None).await.status(), 401);

    // Same password again: signed in, not registered again, a new session.
    let response = server
        .post_session("Alice", "correct horse violet kettle 4821")
        .await;
    let second_cookie = session_cookie(&response).expect("cookie on every sign-in");
    let (status, info) = session_info(response).await;
    assert_eq!(status, 200);
    assert_eq!(info["registered"], false);
    assert_eq!(server.get_session(Some(&second_cookie)).await.status(), 200);

    // Wrong password.
    let response = server.post_session("Alice", "wrong").await;
    assert!(
        session_cookie(&response).is_none(),
        "no session for a wrong password"
    );
    assert_eq!(http_error(response).await, (401, "wrong_password".into()));

    // Names are unique ignoring case: "alice" is Alice's name.
    let response = server.post_session("alice", "another password").await;
    assert_eq!(http_error(response).await, (401, "wrong_password".into()));
    let response = server
        .post_session("ALICE", "correct horse violet kettle 4821")
        .await;
    let (status, info) = session_info(response).await;
    assert_eq!(status, 200, "right password in another case signs in");
    assert_eq!(info["registered"], false);
    assert!(
        info["username"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case("alice")),
        "{info}"
    );

    // Invalid names.
    let long = "x".repeat(33);
    for bad in ["", "a b", "é", "a/b", "<script>", "bob!", long.as_str()] {
        let response = server.post_session(bad, "pw violet kettle 4821").await;
        assert_eq!(
            http_error(response).await,
            (400, "invalid_name".into()),
            "name {bad:?}"
        );
    }
    // Boundary: 32 characters and - _ are fine.
    let ok = "a".repeat(32);
    for good in [ok.as_str(), "b_-9"] {
        let response = server.post_session(good, "pw violet kettle 4821").await;
        assert_eq!(response.status(), 200, "name {good:?}");
    }

    assert_eq!(server.get("/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_requires_a_valid_session() {
    let server = TestServer::start().await;
    assert_eq!(server.ws_refused_status("/api/ws", None).await, 401);
    assert_eq!(
        server
            .ws_refused_status("/api/ws", Some("parley_session=bogus"))
            .await,
        401
    );
    assert_eq!(
        server
            .ws_refused_status(
                "/api/ws",
                Some("parley_session=0000000000000000000000000000000000000000000000000000000000000000")
            )
            .await,
        401
    );
    assert_eq!(
        server
            .ws_refused_status("/api/ws", Some("other_cookie=1"))
            .await,
        401
    );
    // A real session gets through.
    let alice = server.sign_in("alice", "pw violet kettle 4821").await;
    let (_client, welcome) = server.join(&alice).await;
    assert_eq!(welcome.user, "alice");
    assert!(welcome.online.iter().any(|n| n == "alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_closes_that_sessions_sockets_with_4001() {
    let server = TestServer::start().await;
    let alice = server.sign_in("alice", "pw violet kettle 4821").await;
    let alice_elsewhere = server.sign_in("alice", "pw violet kettle 4821").await;
    assert_ne!(alice.cookie, alice_elsewhere.cookie);
    let (mut tab1, _) = server.join(&alice).await;
    let (mut tab2, _) = server.join(&alice).await;
    let mut not_greeted = server.connect(&alice).await;
    not_greeted.user = "alice (socket without hello)".into();
    let (mut other_device, _) = server.join(&alice_elsewhere).await;

    let response = server.delete_session(&alice.cookie).await;
    assert!(
        response.status().is_success(),
        "sign-out: {}",
        response.status()
    );

    for (label, client) in [("tab1", &mut tab1), ("tab2", &mut tab2)] {
        let close = client.expect_close().await;
        assert_eq!(
            close.as_ref().map(|c| c.0),
            Some(4001),
            "{label} closed with 4001: {close:?}"
        );
    }
    // The other session of the same user is untouched.
    other_device.assert_quiet().await;
    other_device.post("still-here", lobby(), "hi").await;

    // The old cookie is dead.
    assert_eq!(server.get_session(Some(&alice.cookie)).await.status(), 401);
    assert_eq!(
        server
            .ws_refused_status("/api/ws", Some(&alice.cookie))
            .await,
        401
    );
    assert_eq!(
        server
            .get_session(Some(&alice_elsewhere.cookie))
            .await
            .status(),
        200
    );

    // A socket of the signed-out session that had not said hello yet must
    // not get in by saying it now: it is closed with 4001 (at sign-out or at
    // its hello), never welcomed.
    let _ = not_greeted
        .try_send(&ClientFrame::Hello {
            version: PROTOCOL_VERSION,
            cursors: vec![],
        })
        .await;
    match not_greeted.recv_event().await {
        Event::Closed(close) => {
            assert_eq!(close.as_ref().map(|c| c.0), Some(4001), "{close:?}")
        }
        Event::Frame(frame) => panic!(
            "a socket opened before sign-out sent hello after it and got {frame:?} \
             instead of a 4001 close: the signed-out session still works"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_is_required_first() {
    let server = TestServer::start().await;
    let alice = server.sign_in("alice", "pw violet kettle 4821").await;
    let mut client = server.connect(&alice).await;
    client.send(&ClientFrame::Ping { nonce: 7 }).await;
    client.expect_error(ErrorCode::HelloRequired).await;
    client.send_msg("early", lobby(), "too soon").await;
    let client_id = client
        .expect_error(ErrorCode::HelloRequired)
        .await
        .client_id;
    assert!(client_id.is_none() || client_id.as_deref() == Some("early"));
    let welcome = client.hello(vec![]).await;
    assert_eq!(welcome.user, "alice");
    assert!(welcome.backlog.is_empty(), "the early send was not stored");
    client.assert_quiet().await;
    let ack = client.post("later", lobby(), "now").await;
    assert_eq!(ack.seq, 1, "nothing was stored before hello");
}

/// Each bad frame gets its error code; the connection keeps working and
/// nothing is relayed to anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_their_error_and_the_connection_keeps_working() {
    let server = TestServer::start().await;
    let alice = server.sign_in("alice", "pw violet kettle 4821").await;
    let bob = server.sign_in("bob", "pw violet kettle 4821").await;
    let carol = server.sign_in("carol", "pw violet kettle 4821").await;
    let (mut alice1, _) = server.join(&alice).await;
    let (mut bob1, _) = server.join(&bob).await;
    let (mut carol1, _) = server.join(&carol).await;

    // A room alice is not in.
    carol1.send(&ClientFrame::create_room("private")).await;
    match carol1.next().await {
        ServerFrame::Joined { info } => assert_eq!(info.conv, room("private")),
        other => panic!("expected joined, got {other:?}"),
    }

    // Unknown receiver of a DM: the client id is echoed.
    alice1.send_msg("to-nobody", dm("nobody"), "hello?").await;
    let refused = alice1.expect_error(ErrorCode::UnknownUser).await;
    assert_eq!(refused.client_id.as_deref(), Some("to-nobody"));
    assert_eq!(
        refused.conv,
        Some(dm("nobody")),
        "the error names the conversation"
    );
    alice1.assert_quiet().await;

    // A room she is not in.
    alice1
        .send_msg("to-private", room("private"), "let me in")
        .await;
    let refused = alice1.expect_error(ErrorCode::NotMember).await;
    assert_eq!(refused.client_id.as_deref(), Some("to-private"));
    assert_eq!(refused.conv, Some(room("private")));
    alice1.assert_quiet().await;

    // A room that does not exist.
    alice1.send_msg("to-void", room("void"), "anyone?").await;
    let refused = alice1.expect_error(ErrorCode::UnknownRoom).await;
    assert_eq!(refused.client_id.as_deref(), Some("to-void"));
    assert_eq!(refused.conv, Some(room("void")));
    alice1.assert_quiet().await;

    // Malformed JSON.
    for text in ["{not json", "", "[1,2]", "42"] {
        alice1.send_text(text).await;
        let refused = alice1.expect_error(ErrorCode::MalformedJson).await;
        assert_eq!(refused.conv, None, "{text:?} names no conversation");
        alice1.assert_quiet().await;
    }

    // Unknown or missing type.
    for text in [
        r#"{"type":"shout","body":"x"}"#,
        r#"{"body":"x"}"#,
        r#"{"type":"Send","client_id":"c","conv":{"room":"lobby"},"body":"x"}"#,
    ] {
        alice1.send_text(text).await;
        alice1.expect_error(ErrorCode::UnknownType).await;
        alice1.assert_quiet().await;
    }

    // Missing or mistyped fields.
    for text in [
        r#"{"type":"send","conv":{"room":"lobby"},"body":"no client id"}"#,
        r#"{"type":"send","client_id":"c-nb","conv":{"room":"lobby"}}"#,
        r#"{"type":"send","client_id":"c-nc","body":"no conv"}"#,
        r#"{"type":"send","client_id":"c-pl","conv":{"planet":"x"},"body":"x"}"#,
        r#"{"type":"ping"}"#,
        r#"{"type":"history"}"#,
        r#"{"type":"join_room"}"#,
    ] {
        alice1.send_text(text).await;
        alice1.expect_error(ErrorCode::InvalidFrame).await;
        alice1.assert_quiet().await;
    }

    // None of it reached anyone or was stored.
    bob1.assert_quiet().await;
    carol1.assert_quiet().await;
    let (history, _) = bob1.history(lobby(), None, None).await;
    assert!(history.is_empty(), "{history:?}");

    // And a send still works.
    let ack = alice1.post("after-errors", lobby(), "still here").await;
    assert_eq!(ack.seq, 1);
    let message = bob1.expect_message().await;
    assert_eq!(
        (message.sender.as_str(), message.body.as_str()),
        ("alice", "still here")
    );
    let message = carol1.expect_message().await;
    assert_eq!(message.id, ack.id);
}
