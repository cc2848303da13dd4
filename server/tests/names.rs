//! Names in every script and passwords that protect: display names beside
//! ASCII handles, room titles, the seed's guest nicknames in any script
//! (and never passing for a registered user), and the password policy. On
//! SQLite, and on PostgreSQL with `PARLEY_TEST_DATABASE=postgres`.

mod common;

use app::protocol::{EventKind, Named, RoomAction};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const STRONG: &str = "violet kettle 4821";

/// `POST /api/session` creating an account with a display name.
async fn sign_up(
    server: &TestServer,
    handle: &str,
    display: &str,
    password: &str,
) -> reqwest::Response {
    server
        .call(
            Method::POST,
            "/api/session",
            None,
            Some(json!({
                "username": handle,
                "display_name": display,
                "password": password,
                "register": true,
            })),
        )
        .await
}

/// Create an account shown as `display` and connect it.
async fn person(server: &TestServer, handle: &str, display: &str) -> (Session, Client, Welcome) {
    let response = sign_up(server, handle, display, STRONG).await;
    let cookie = session_cookie(&response);
    let status = response.status();
    let info: Value = response.json().await.expect("JSON answer");
    assert_eq!(status, 200, "{handle}: {info}");
    assert_eq!(info["display_name"], display);
    assert_eq!(info["registered"], true);
    let session = Session {
        name: handle.to_string(),
        cookie: cookie.expect("a session cookie"),
    };
    let (client, welcome) = server.join(&session).await;
    (session, client, welcome)
}

/// The error code and message of a refused HTTP request.
async fn refusal(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON error");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
        body["message"].as_str().unwrap_or_default().to_string(),
    )
}

async fn set_display(server: &TestServer, session: &Session, display: &str) -> reqwest::Response {
    server
        .call(
            Method::PUT,
            "/api/profile",
            Some(&session.cookie),
            Some(json!({ "display_name": display })),
        )
        .await
}

fn named(user: &str, display: &str) -> Named {
    Named {
        user: user.to_string(),
        display: display.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn display_names_in_any_script_travel_with_every_frame_that_names_people() {
    let server = TestServer::start().await;
    let (alice_session, mut alice, _) = server.user("alice").await;
    let (_, mut ming, ming_welcome) = person(&server, "ming", "小明").await;
    assert_eq!(ming_welcome.display.as_deref(), Some("小明"));
    // Alice hears that ming came online, by name.
    let presence = alice
        .recv_until(|f| matches!(f, ServerFrame::Presence { user, .. } if user == "ming"))
        .await;
    match presence {
        ServerFrame::Presence {
            display, online, ..
        } => {
            assert!(online);
            assert_eq!(display.as_deref(), Some("小明"));
        }
        other => panic!("{other:?}"),
    }
    let (_, mut layla, layla_welcome) = person(&server, "layla", "ليلى").await;
    assert!(
        layla_welcome.names.contains(&named("ming", "小明")),
        "{:?}",
        layla_welcome.names
    );
    let (fox_session, mut fox, _) = person(&server, "fox", "🦊 Fox Müller").await;

    // Messages carry the sender's display name; plain handles carry none.
    ming.post("m1", lobby(), "你好").await;
    for other in [&mut alice, &mut layla, &mut fox] {
        let got = other.expect_message().await;
        assert_eq!(
            (got.sender.as_str(), got.display.as_deref()),
            ("ming", Some("小明"))
        );
    }
    layla.post("l1", lobby(), "مرحبا").await;
    for other in [&mut alice, &mut ming, &mut fox] {
        let got = other.expect_message().await;
        assert_eq!(got.display.as_deref(), Some("ليلى"));
    }
    alice.post("a1", lobby(), "hi all").await;
    for other in [&mut ming, &mut layla, &mut fox] {
        let got = other.expect_message().await;
        assert_eq!((got.sender.as_str(), got.display), ("alice", None));
    }
    // History names them too.
    let (page, _) = alice.history(lobby(), None, None).await;
    let shown: Vec<(String, Option<String>)> = page
        .iter()
        .filter(|m| m.event.is_none())
        .map(|m| (m.sender.clone(), m.display.clone()))
        .collect();
    assert!(
        shown.contains(&("ming".into(), Some("小明".into()))),
        "{shown:?}"
    );
    assert!(
        shown.contains(&("layla".into(), Some("ليلى".into()))),
        "{shown:?}"
    );
    assert!(shown.contains(&("alice".into(), None)), "{shown:?}");

    // The member list names its people.
    alice
        .send(&ClientFrame::Members {
            room: "lobby".into(),
        })
        .await;
    match alice
        .recv_until(|f| matches!(f, ServerFrame::Members { .. }))
        .await
    {
        ServerFrame::Members { names, .. } => {
            for who in [
                named("ming", "小明"),
                named("layla", "ليلى"),
                named("fox", "🦊 Fox Müller"),
            ] {
                assert!(names.contains(&who), "{who:?} in {names:?}");
            }
            assert!(!names.iter().any(|n| n.user == "alice"), "{names:?}");
        }
        other => panic!("{other:?}"),
    }

    // Typing says who, by name.
    ming.send(&ClientFrame::Typing { conv: lobby() }).await;
    match alice
        .recv_until(|f| matches!(f, ServerFrame::Typing { .. }))
        .await
    {
        ServerFrame::Typing { user, display, .. } => {
            assert_eq!((user.as_str(), display.as_deref()), ("ming", Some("小明")));
        }
        other => panic!("{other:?}"),
    }

    // A direct conversation is titled with the other person's name.
    ming.post("m2", dm("alice"), "私信").await;
    alice.expect_message().await;
    let (_, welcome) = server.join(&alice_session).await;
    let info = welcome
        .conv(&dm("ming"))
        .expect("the conversation with ming");
    assert_eq!(info.title, "小明");

    // A new display name reaches every open tab at once.
    let changed = set_display(&server, &fox_session, "Fox 狐狸").await;
    assert_eq!(changed.status(), 204);
    let profile = alice
        .recv_until(|f| matches!(f, ServerFrame::Profile { .. }))
        .await;
    assert_eq!(
        profile,
        ServerFrame::Profile {
            user: "fox".into(),
            display: "Fox 狐狸".into()
        }
    );
    let whoami: Value = server
        .get_session(Some(&fox_session.cookie))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["display_name"], "Fox 狐狸");
    fox.post("f1", lobby(), "new name").await;
    let got = alice.expect_message().await;
    assert_eq!(got.display.as_deref(), Some("Fox 狐狸"));
    // Empty: back to the handle.
    assert_eq!(set_display(&server, &fox_session, "").await.status(), 204);
    let profile = alice
        .recv_until(|f| matches!(f, ServerFrame::Profile { .. }))
        .await;
    assert_eq!(
        profile,
        ServerFrame::Profile {
            user: "fox".into(),
            display: "fox".into()
        }
    );
    fox.post("f2", lobby(), "plain again").await;
    assert_eq!(alice.expect_message().await.display, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_pass_for_someone_elses_handle_are_refused() {
    let server = TestServer::start().await;
    server.sign_in("alice", STRONG).await;
    let cyrillic_alice = "\u{430}lice";
    for (display, code) in [
        (cyrillic_alice, "invalid_display_name"),
        ("ALICE", "invalid_display_name"),
        ("a\u{202E}b", "invalid_display_name"),
        ("a\u{200B}b", "invalid_display_name"),
        (&*"字".repeat(65), "invalid_display_name"),
    ] {
        let (status, error, message) =
            refusal(sign_up(&server, "bob", display, STRONG).await).await;
        assert_eq!(
            (status, error.as_str()),
            (400, code),
            "{display:?}: {message}"
        );
    }
    // Nothing was created by the refusals: bob is still free.
    let (bob, _, _) = person(&server, "bob", "Bob 🎸").await;
    // A handle that looks like someone's handle is taken.
    let (status, error, _) = refusal(sign_up(&server, "a1ice", "", STRONG).await).await;
    assert_eq!((status, error.as_str()), (409, "name_taken"));
    let (status, error, _) = refusal(sign_up(&server, "bob", "", STRONG).await).await;
    assert_eq!((status, error.as_str()), (409, "name_taken"));

    // The same rules when changing it later.
    for display in [cyrillic_alice, "Alice", "a\u{202E}b"] {
        let (status, error, message) = refusal(set_display(&server, &bob, display).await).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_display_name"),
            "{display:?}: {message}"
        );
    }
    // One's own handle in another case is fine; so is sharing a display
    // name with someone else (the handle tells them apart).
    assert_eq!(set_display(&server, &bob, "BOB").await.status(), 204);
    let (carol, _, _) = person(&server, "carol", "Sam").await;
    let (_, _, _) = person(&server, "dave", "Sam").await;
    assert_eq!(set_display(&server, &carol, "Sam").await.status(), 204);
    // Without a session, nothing.
    let anonymous = server
        .call(
            Method::PUT,
            "/api/profile",
            None,
            Some(json!({"display_name": "x"})),
        )
        .await;
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_chat_in_any_script_and_cannot_pass_for_a_user() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (_, _, _) = person(&server, "hong", "小红").await;

    let mut ming = ready_guest(&server, "小明").await;
    let mut zoe = ready_guest(&server, "Zoë").await;
    ming.send_seed("小明", "Zoë", "你好 Zoë").await;
    assert_eq!(
        zoe.recv_seed().await,
        ("小明".into(), "Zoë".into(), "你好 Zoë".into())
    );
    zoe.send_seed("Zoë", "小明", "hallo 小明").await;
    assert_eq!(
        ming.recv_seed().await,
        ("Zoë".into(), "小明".into(), "hallo 小明".into())
    );

    // A guest writes to a signed-in user, who answers in the conversation.
    ming.send_seed("小明", "alice", "我是小明").await;
    let got = alice.expect_message().await;
    assert_eq!(
        (got.conv.clone(), got.sender.as_str()),
        (guest("小明"), "小明")
    );
    alice.post("a1", guest("小明"), "hi 小明").await;
    assert_eq!(
        ming.recv_seed().await,
        ("alice".into(), "小明".into(), "hi 小明".into())
    );

    // Names that are, or look like, a registered user's handle or display
    // name; and names that hide characters.
    let long = "字".repeat(33);
    for (name, why) in [
        ("ALICE", "a handle in another case"),
        ("\u{430}lice", "a handle with a Cyrillic a"),
        ("a1ice", "a handle with a digit for an l"),
        ("小红", "someone's display name"),
        ("server", "the server's own name"),
        ("a\u{200B}b", "a zero-width space"),
        (long.as_str(), "33 characters"),
    ] {
        let mut refused = server.direct_guest(name).await;
        let (code, reason) = refused
            .expect_close()
            .await
            .unwrap_or_else(|| panic!("{why}: no close frame"));
        assert_eq!(code, 1008, "{why}: {reason}");
        assert!(!reason.is_empty(), "{why}: a reason is given");
    }
    // The real guests were not disturbed.
    zoe.send_seed("Zoë", "小明", "still here").await;
    assert_eq!(ming.recv_seed().await.2, "still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_policy_refuses_short_common_and_own_name_passwords() {
    let server = TestServer::start().await;
    for (password, why) in [
        ("a", "at least 8"),
        ("1234567", "at least 8"),
        ("password123", "too easy"),
        ("iloveyou", "too easy"),
        ("qwertyuiop", "too easy"),
        ("zoe_smith", "own name"),
    ] {
        let (status, error, message) =
            refusal(sign_up(&server, "zoe_smith", "", password).await).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "weak_password"),
            "{password}: {message}"
        );
        assert!(message.contains(why), "{password}: {message}");
    }
    let huge = format!("{STRONG} {}", "x".repeat(1024));
    let (status, error, _) = refusal(sign_up(&server, "zoe_smith", "", &huge).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_password"));
    // Passphrases in any script and with emoji, up to 1024 bytes.
    let long = format!("{STRONG} {}", "y".repeat(1024 - STRONG.len() - 1));
    assert_eq!(long.len(), 1024);
    for (handle, password) in [
        ("zoe_smith", "🦊 runs past the 🌵 at dawn"),
        ("ming", "我的密码是紫色的茶壶"),
        ("longpass", long.as_str()),
    ] {
        let response = sign_up(&server, handle, "", password).await;
        assert_eq!(response.status(), 200, "{password}");
        assert_eq!(server.post_session(handle, password).await.status(), 200);
    }
    // Changing the password follows the same policy.
    let zoe = server
        .sign_in("zoe_smith", "🦊 runs past the 🌵 at dawn")
        .await;
    let change = |new: &str| json!({"current": "🦊 runs past the 🌵 at dawn", "new": new});
    let weak = server
        .call(
            Method::POST,
            "/api/password",
            Some(&zoe.cookie),
            Some(change("password")),
        )
        .await;
    let (status, error, _) = refusal(weak).await;
    assert_eq!((status, error.as_str()), (400, "weak_password"));
    let good = server
        .call(
            Method::POST,
            "/api/password",
            Some(&zoe.cookie),
            Some(change(STRONG)),
        )
        .await;
    assert_eq!(good.status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_short_password_still_signs_in_and_is_asked_to_change() {
    let server = TestServer::start().await;
    server.sign_in("olga", STRONG).await;
    server.set_password_in_database("olga", "a").await;
    let response = server.post_session("olga", "a").await;
    let cookie = session_cookie(&response).expect("signed in");
    let info: Value = response.json().await.unwrap();
    let notice = info["password_notice"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(notice.contains("at least 8"), "{info}");
    // Asked again on every page load until changed.
    let whoami: Value = server
        .get_session(Some(&cookie))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["password_notice"].as_str(), Some(notice.as_str()));
    let changed = server
        .call(
            Method::POST,
            "/api/password",
            Some(&cookie),
            Some(json!({"current": "a", "new": STRONG})),
        )
        .await;
    assert_eq!(changed.status(), 204);
    let whoami: Value = server
        .get_session(Some(&cookie))
        .await
        .json()
        .await
        .unwrap();
    assert!(whoami.get("password_notice").is_none(), "{whoami}");
    let info: Value = server
        .post_session("olga", STRONG)
        .await
        .json()
        .await
        .unwrap();
    assert!(info.get("password_notice").is_none(), "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_have_titles_in_any_script() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (bob_session, mut bob, _) = server.user("bob").await;
    alice
        .send(&ClientFrame::CreateRoom {
            room: "dev".into(),
            title: "技术讨论".into(),
            topic: "构建与发布".into(),
            private: false,
        })
        .await;
    match alice
        .recv_until(|f| matches!(f, ServerFrame::Joined { .. }))
        .await
    {
        ServerFrame::Joined { info } => assert_eq!(info.title, "技术讨论"),
        other => panic!("{other:?}"),
    }
    // The directory lists it by title, and finds it by its title.
    for query in ["", "技术"] {
        bob.send(&ClientFrame::Directory {
            query: query.into(),
            after: None,
            limit: None,
        })
        .await;
        match bob
            .recv_until(|f| matches!(f, ServerFrame::Directory { .. }))
            .await
        {
            ServerFrame::Directory { rooms, .. } => {
                let dev = rooms.iter().find(|r| r.room == "dev");
                assert_eq!(
                    dev.map(|r| r.title.as_str()),
                    Some("技术讨论"),
                    "{query:?}: {rooms:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    bob.send(&ClientFrame::JoinRoom { room: "dev".into() })
        .await;
    match bob
        .recv_until(|f| matches!(f, ServerFrame::Joined { .. }))
        .await
    {
        ServerFrame::Joined { info } => assert_eq!(info.title, "技术讨论"),
        other => panic!("{other:?}"),
    }
    // Renaming is a line in the room's log that every member gets.
    alice
        .must(
            "t1",
            "dev",
            RoomAction::SetTitle {
                title: "Dev 团队".into(),
            },
        )
        .await;
    let line = bob
        .expect_line("alice renamed the room to “Dev 团队”")
        .await;
    let event = line.event.expect("a system line");
    assert_eq!(event.kind, Some(EventKind::Title));
    assert_eq!(event.title.as_deref(), Some("Dev 团队"));
    let (_, welcome) = server.join(&bob_session).await;
    assert_eq!(
        welcome.conv(&room("dev")).map(|c| c.title.as_str()),
        Some("Dev 团队")
    );
    // Bad titles are refused; members may not rename.
    alice
        .send(&ClientFrame::RoomAction {
            client_id: "t2".into(),
            room: "dev".into(),
            action: RoomAction::SetTitle {
                title: "a\u{202E}b".into(),
            },
        })
        .await;
    alice.expect_error(ErrorCode::InvalidName).await;
    bob.send(&ClientFrame::RoomAction {
        client_id: "t3".into(),
        room: "dev".into(),
        action: RoomAction::SetTitle {
            title: "mine".into(),
        },
    })
    .await;
    bob.expect_error(ErrorCode::NotPermitted).await;
    // Cleared: shown by its name again.
    alice
        .must(
            "t4",
            "dev",
            RoomAction::SetTitle {
                title: String::new(),
            },
        )
        .await;
    bob.expect_line("alice cleared the room's title").await;
    // Someone with a display name joins: the members hear it by name.
    let (_, mut ming, _) = person(&server, "ming", "小明").await;
    ming.send(&ClientFrame::JoinRoom { room: "dev".into() })
        .await;
    match alice
        .recv_until(|f| matches!(f, ServerFrame::Member { user, .. } if user == "ming"))
        .await
    {
        ServerFrame::Member {
            display, joined, ..
        } => {
            assert!(joined);
            assert_eq!(display.as_deref(), Some("小明"));
        }
        other => panic!("{other:?}"),
    }
}

/// An admin looking for whoever goes by a name finds them by their display
/// name as well as by their handle, and sees both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_find_people_by_display_name_and_see_their_handle() {
    let server = TestServer::start_with(|c| c.admins = vec!["ada".into()]).await;
    let ada = server.sign_in("ada", STRONG).await;
    person(&server, "ming", "小明").await;
    server.sign_in("bob", STRONG).await;
    for query in ["小明", "MING"] {
        let users: Vec<app::protocol::AdminUser> = server
            .call(
                Method::GET,
                &format!("/api/admin/users?q={}", percent_encode(query)),
                Some(&ada.cookie),
                None,
            )
            .await
            .json()
            .await
            .expect("a list of users");
        let found: Vec<(&str, &str)> = users
            .iter()
            .map(|u| (u.name.as_str(), u.display_name.as_str()))
            .collect();
        assert_eq!(found, [("ming", "小明")], "{query}");
    }
    let users: Vec<app::protocol::AdminUser> = server
        .call(
            Method::GET,
            "/api/admin/users?q=bob",
            Some(&ada.cookie),
            None,
        )
        .await
        .json()
        .await
        .expect("a list of users");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].display_name, "", "shown by the handle");
}
