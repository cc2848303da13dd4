//! Your account and the server's admins: blocking people, changing the
//! password, the signed-in devices and signing out everywhere, and the
//! admin API and page (403 to everyone but admins): disabling accounts,
//! archiving and deleting rooms, the nodes' numbers and the server-wide
//! moderation log. On SQLite, and on PostgreSQL with
//! `PARLEY_TEST_DATABASE=postgres`.

mod common;

use app::protocol::{AdminRoom, AdminUser, DeviceInfo, LeftReason, ModEntry, NodeStats};
use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_refuses_the_blocked_persons_direct_messages_until_lifted() {
    let mut server = TestServer::start().await;
    let (alice_session, mut alice, _) = server.user("alice").await;
    let (bob_session, mut bob, _) = server.user("bob").await;
    bob.post("b0", dm("alice"), "hi alice").await;
    alice.expect_message().await;

    alice.send(&ClientFrame::Block { user: "bob".into() }).await;
    match alice.next().await {
        ServerFrame::Blocked { users } => assert_eq!(users, ["bob"]),
        other => panic!("{other:?}"),
    }
    bob.send_msg("b1", dm("alice"), "still there?").await;
    let refused = bob.expect_error(ErrorCode::Blocked).await;
    assert_eq!(
        refused.message,
        "alice does not accept direct messages from you"
    );
    assert_eq!(refused.client_id.as_deref(), Some("b1"));
    alice.assert_quiet().await;
    // Nothing else of bob's is affected.
    bob.post("b2", lobby(), "hello room").await;
    assert_eq!(alice.expect_message().await.body, "hello room");
    // Refusals: oneself, nobody, twice.
    for (user, code) in [
        ("alice", ErrorCode::NotPermitted),
        ("nobody", ErrorCode::UnknownUser),
        ("bob", ErrorCode::NoChange),
    ] {
        alice.send(&ClientFrame::Block { user: user.into() }).await;
        alice.expect_error(code).await;
    }

    // The block outlives a restart and comes in the welcome.
    server.shutdown().await;
    server.restart().await;
    let alice_session = server
        .sign_in(&alice_session.name, "password-1 violet kettle 4821")
        .await;
    let mut raw = server.connect(&alice_session).await;
    raw.send(&ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        cursors: vec![],
    })
    .await;
    match raw
        .recv_until(|f| matches!(f, ServerFrame::Welcome { .. }))
        .await
    {
        ServerFrame::Welcome { blocked, .. } => assert_eq!(blocked, ["bob"]),
        _ => unreachable!(),
    }
    let (mut bob, _) = server.join(&bob_session).await;
    bob.send_msg("b3", dm("alice"), "after the restart").await;
    bob.expect_error(ErrorCode::Blocked).await;

    let (mut alice, _) = server.join(&alice_session).await;
    alice
        .send(&ClientFrame::Unblock { user: "bob".into() })
        .await;
    match alice.next().await {
        ServerFrame::Blocked { users } => assert!(users.is_empty()),
        other => panic!("{other:?}"),
    }
    bob.post("b4", dm("alice"), "friends again").await;
    assert_eq!(alice.expect_message().await.body, "friends again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_signs_out_the_other_devices() {
    let server = TestServer::start().await;
    let laptop = server
        .sign_in("alice", "password-1 violet kettle 4821")
        .await;
    let phone = server
        .sign_in("alice", "password-1 violet kettle 4821")
        .await;
    let (mut on_laptop, _) = server.join(&laptop).await;
    let (mut on_phone, _) = server.join(&phone).await;
    let change = |current: &str, new: &str| json!({"current": current, "new": new});

    let wrong = server
        .call(
            Method::POST,
            "/api/password",
            Some(&laptop.cookie),
            Some(change("nope", "n3w-password violet kettle 4821")),
        )
        .await;
    assert_eq!(wrong.status(), 401);
    let nobody = server
        .call(
            Method::POST,
            "/api/password",
            None,
            Some(change("password-1 violet kettle 4821", "x")),
        )
        .await;
    assert_eq!(nobody.status(), 401);
    let empty = server
        .call(
            Method::POST,
            "/api/password",
            Some(&laptop.cookie),
            Some(change("password-1 violet kettle 4821", "")),
        )
        .await;
    assert_eq!(empty.status(), 400);
    let done = server
        .call(
            Method::POST,
            "/api/password",
            Some(&laptop.cookie),
            Some(change(
                "password-1 violet kettle 4821",
                "n3w-password violet kettle 4821",
            )),
        )
        .await;
    assert_eq!(done.status(), 204);
    assert_eq!(on_phone.expect_close().await.map(|c| c.0), Some(4001));
    on_laptop.post("l1", lobby(), "still signed in here").await;
    assert_eq!(
        server
            .post_session("alice", "password-1 violet kettle 4821")
            .await
            .status(),
        401
    );
    assert_eq!(
        server
            .post_session("alice", "n3w-password violet kettle 4821")
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_are_listed_and_signed_out_one_at_a_time_or_everywhere() {
    let server = TestServer::start().await;
    let sign_in_as = |agent: &'static str| {
        let url = server.url("/api/session");
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .header(reqwest::header::USER_AGENT, agent)
                .json(&json!({"username": "alice", "password": "password-1 violet kettle 4821"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            session_cookie(&response).unwrap()
        }
    };
    let laptop = sign_in_as("Firefox on the laptop").await;
    let phone = sign_in_as("Safari on the phone").await;
    let tablet = sign_in_as("Chromium on the tablet").await;
    let session = |cookie: &str| Session {
        name: "alice".into(),
        cookie: cookie.to_string(),
    };
    let (mut on_phone, _) = server.join(&session(&phone)).await;
    let (mut on_tablet, _) = server.join(&session(&tablet)).await;
    let (mut on_laptop, _) = server.join(&session(&laptop)).await;

    let listed: Vec<DeviceInfo> = server
        .call(Method::GET, "/api/sessions", Some(&laptop), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
    let current: Vec<&str> = listed
        .iter()
        .filter(|d| d.current)
        .map(|d| d.user_agent.as_str())
        .collect();
    assert_eq!(current, ["Firefox on the laptop"]);
    assert!(listed.iter().all(|d| d.id.len() == 16), "{listed:?}");

    // One device: the phone.
    let phone_id = &listed
        .iter()
        .find(|d| d.user_agent.starts_with("Safari"))
        .unwrap()
        .id;
    let gone = server
        .call(
            Method::DELETE,
            &format!("/api/sessions/{phone_id}"),
            Some(&laptop),
            None,
        )
        .await;
    assert_eq!(gone.status(), 204);
    assert_eq!(on_phone.expect_close().await.map(|c| c.0), Some(4001));
    assert_eq!(server.get_session(Some(&phone)).await.status(), 401);
    let unknown = server
        .call(
            Method::DELETE,
            "/api/sessions/0000000000000000",
            Some(&laptop),
            None,
        )
        .await;
    assert_eq!(unknown.status(), 404);
    // Someone else's devices are not theirs to end.
    let mallory = server
        .sign_in("mallory", "password-1 violet kettle 4821")
        .await;
    let foreign = server
        .call(
            Method::DELETE,
            &format!("/api/sessions/{}", listed[0].id),
            Some(&mallory.cookie),
            None,
        )
        .await;
    assert_eq!(foreign.status(), 404);

    // Everywhere, this device included.
    let all = server
        .call(Method::DELETE, "/api/sessions", Some(&laptop), None)
        .await;
    assert_eq!(all.status(), 204);
    for socket in [&mut on_laptop, &mut on_tablet] {
        assert_eq!(socket.expect_close().await.map(|c| c.0), Some(4001));
    }
    for cookie in [&laptop, &tablet] {
        assert_eq!(server.get_session(Some(cookie)).await.status(), 401);
    }
    assert_eq!(
        server.get_session(Some(&mallory.cookie)).await.status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_and_the_admin_page_answer_admins_only() {
    let server = TestServer::start_with(|c| c.admins = vec!["ada".into()]).await;
    let ada = server.sign_in("ada", "password-1 violet kettle 4821").await;
    let bob = server.sign_in("bob", "password-1 violet kettle 4821").await;
    let routes: [(Method, &str, Option<serde_json::Value>); 8] = [
        (Method::GET, "/admin", None),
        (Method::GET, "/api/admin/users?q=b", None),
        (
            Method::POST,
            "/api/admin/users/nobody",
            Some(json!({"disabled": false})),
        ),
        (Method::GET, "/api/admin/rooms", None),
        (
            Method::POST,
            "/api/admin/rooms/nowhere",
            Some(json!({"archived": false})),
        ),
        (Method::DELETE, "/api/admin/rooms/nowhere", None),
        (Method::GET, "/api/admin/nodes", None),
        (Method::GET, "/api/admin/log", None),
    ];
    for (method, path, body) in routes {
        let anonymous = server.call(method.clone(), path, None, body.clone()).await;
        assert_eq!(anonymous.status(), 401, "{method} {path} without a session");
        let user = server
            .call(method.clone(), path, Some(&bob.cookie), body.clone())
            .await;
        assert_eq!(user.status(), 403, "{method} {path} as a user");
        let admin = server
            .call(method.clone(), path, Some(&ada.cookie), body)
            .await;
        let want = if path.contains("nobody") || path.contains("nowhere") {
            404
        } else {
            200
        };
        assert_eq!(admin.status(), want, "{method} {path} as an admin");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_disable_accounts_archive_and_delete_rooms_and_see_it_all() {
    let server = TestServer::start_with(|c| c.admins = vec!["ada".into()]).await;
    let ada = server.sign_in("ada", "password-1 violet kettle 4821").await;
    let (bob_session, mut bob, _) = server.user("bob").await;
    let (_, mut carol, _) = server.user("carol").await;
    carol.create("ops", "Incidents", true).await;
    carol
        .must(
            "i",
            "ops",
            app::protocol::RoomAction::Invite { user: "bob".into() },
        )
        .await;
    bob.join_room("ops").await;

    let users: Vec<AdminUser> = server
        .call(
            Method::GET,
            "/api/admin/users?q=bo",
            Some(&ada.cookie),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(
        (users[0].name.as_str(), users[0].online, users[0].disabled),
        ("bob", true, false)
    );
    let rooms: Vec<AdminRoom> = server
        .call(
            Method::GET,
            "/api/admin/rooms?q=incident",
            Some(&ada.cookie),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rooms.len(), 1, "private rooms too");
    assert_eq!(
        (rooms[0].room.as_str(), rooms[0].private, rooms[0].members),
        ("ops", true, 2)
    );

    // Archived: read, not written.
    let archive = |archived: bool| {
        server.call(
            Method::POST,
            "/api/admin/rooms/ops",
            Some(&ada.cookie),
            Some(json!({ "archived": archived })),
        )
    };
    assert_eq!(archive(true).await.status(), 204);
    bob.send_msg("b1", room("ops"), "anyone?").await;
    let refused = bob.expect_error(ErrorCode::Archived).await;
    assert!(refused.message.contains("archived"), "{}", refused.message);
    bob.history(room("ops"), None, None).await;
    assert_eq!(archive(false).await.status(), 204);
    bob.post("b2", room("ops"), "back").await;

    // Disabled: signed out everywhere, and cannot sign in.
    let disable = |disabled: bool| {
        server.call(
            Method::POST,
            "/api/admin/users/bob",
            Some(&ada.cookie),
            Some(json!({ "disabled": disabled })),
        )
    };
    assert_eq!(disable(true).await.status(), 204);
    assert_eq!(bob.expect_close().await.map(|c| c.0), Some(4001));
    assert_eq!(
        server.get_session(Some(&bob_session.cookie)).await.status(),
        401
    );
    let refused = server
        .post_session("bob", "password-1 violet kettle 4821")
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(disable(false).await.status(), 204);
    let bob_session = server.sign_in("bob", "password-1 violet kettle 4821").await;
    let (mut bob, _) = server.join(&bob_session).await;

    // Deleted: its members are told, and it is gone.
    let deleted = server
        .call(
            Method::DELETE,
            "/api/admin/rooms/ops",
            Some(&ada.cookie),
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    match bob
        .recv_until(|f| matches!(f, ServerFrame::Left { .. }))
        .await
    {
        ServerFrame::Left { room, reason, .. } => {
            assert_eq!((room.as_str(), reason), ("ops", Some(LeftReason::Deleted)))
        }
        _ => unreachable!(),
    }
    carol
        .recv_until(|f| matches!(f, ServerFrame::Left { .. }))
        .await;
    carol
        .send(&ClientFrame::History {
            conv: room("ops"),
            before: None,
            limit: None,
        })
        .await;
    carol.expect_error(ErrorCode::UnknownRoom).await;
    let lobby_delete = server
        .call(
            Method::DELETE,
            "/api/admin/rooms/lobby",
            Some(&ada.cookie),
            None,
        )
        .await;
    assert_eq!(lobby_delete.status(), 403);

    // The nodes and the server-wide log.
    let nodes: Vec<NodeStats> = server
        .call(Method::GET, "/api/admin/nodes", Some(&ada.cookie), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(nodes.len(), 1);
    assert!(
        nodes[0].connections >= 2 && nodes[0].messages_in >= 1,
        "{nodes:?}"
    );
    let log: Vec<ModEntry> = server
        .call(Method::GET, "/api/admin/log", Some(&ada.cookie), None)
        .await
        .json()
        .await
        .unwrap();
    let texts: Vec<&str> = log.iter().map(|e| e.text.as_str()).collect();
    for line in [
        "ada deleted the room",
        "ada enabled bob's account",
        "ada disabled bob's account",
        "ada unarchived the room",
        "ada archived the room",
        "bob was invited by carol",
    ] {
        assert!(texts.contains(&line), "{line} not in {texts:?}");
    }
}
