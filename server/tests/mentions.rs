//! Mentions (stored as the handles they name, counted per reader, kept by
//! edits and deletes, `@room` for those allowed) and notification
//! settings that follow a person to every device, on SQLite and (with
//! `PARLEY_TEST_DATABASE=postgres`) PostgreSQL.

mod common;

use app::protocol::NotifyLevel;
use common::*;

/// The unread mention count `welcome` gives for `conv`.
fn mentions_in(welcome: &Welcome, conv: &Conv) -> i64 {
    welcome
        .conv(conv)
        .unwrap_or_else(|| panic!("{conv:?} is in welcome"))
        .mentions
}

fn edit(client_id: &str, conv: Conv, seq: i64, body: &str) -> ClientFrame {
    ClientFrame::Edit {
        client_id: client_id.into(),
        conv,
        seq,
        body: body.into(),
    }
}

/// Members named with `@` are stored with the message; other `@words`
/// (nobody, an email address, someone not in the room) stay text. The
/// count survives a reload, follows edits and deletes, and reading on one
/// device clears it on the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_are_stored_counted_and_cleared_everywhere() {
    let server = TestServer::start().await;
    let (_, mut ann, _) = server.user("ann").await;
    let (ben, mut ben1, _) = server.user("ben").await;
    let (cat_session, mut cat, _) = server.user("cat").await;
    let (_, mut dan, _) = server.user("dan").await;
    ann.create("crew", "", false).await;
    ben1.join_room("crew").await;
    cat.join_room("crew").await;
    let crew = room("crew");

    let sent = ann
        .post(
            "a-1",
            crew.clone(),
            "@Ben and @cat: look (not @nobody, not @dan, not ann@example.com)",
        )
        .await;
    let got = ben1
        .recv_until(|f| matches!(f, ServerFrame::Message { message } if message.seq == sent.seq))
        .await;
    let ServerFrame::Message { message } = got else {
        unreachable!()
    };
    assert_eq!(
        message.mentions,
        ["ben", "cat"],
        "members only, as registered"
    );
    let (history, _) = dan.history(lobby(), None, None).await;
    assert!(history.iter().all(|m| m.mentions.is_empty()));

    // A reload (welcome) carries the count; the history carries the names.
    let (mut ben2, welcome) = server.join(&ben).await;
    assert_eq!(mentions_in(&welcome, &crew), 1);
    let (history, _) = ben2.history(crew.clone(), None, None).await;
    let stored = history.iter().find(|m| m.seq == sent.seq).unwrap();
    assert_eq!(stored.mentions, ["ben", "cat"]);

    // An edit names someone else: the counts follow.
    ann.change(edit("e-1", crew.clone(), sent.seq, "only @cat now"))
        .await;
    let (_, welcome) = server.join(&ben).await;
    assert_eq!(mentions_in(&welcome, &crew), 0, "no longer mentioned");
    let change = cat
        .recv_until(|f| matches!(f, ServerFrame::Change { .. }))
        .await;
    let ServerFrame::Change { change } = change else {
        unreachable!()
    };
    assert_eq!(change.mentions, ["cat"]);

    // Reading on one device clears the count on the others.
    let again = ann.post("a-2", crew.clone(), "@ben once more").await;
    let (mut ben3, welcome) = server.join(&ben).await;
    assert_eq!(mentions_in(&welcome, &crew), 1);
    ben2.send(&ClientFrame::Read {
        conv: crew.clone(),
        seq: again.seq,
    })
    .await;
    let read = ben3
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

    // A deleted message mentions nobody any more.
    let (_, welcome) = server.join(&cat_session).await;
    assert_eq!(mentions_in(&welcome, &crew), 1);
    ann.change(ClientFrame::Delete {
        client_id: "d-1".into(),
        conv: crew.clone(),
        seq: sent.seq,
    })
    .await;
    let (_, welcome) = server.join(&cat_session).await;
    assert_eq!(mentions_in(&welcome, &crew), 0);
}

/// `@room` notifies everyone only when the owner, a moderator or an admin
/// writes it; anyone else's is text. A direct conversation's `@peer` is a
/// mention; one's own is never counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_room_is_for_the_owner_and_moderators() {
    let server = TestServer::start().await;
    let (_, mut owner, _) = server.user("olga").await;
    let (member_session, mut member, _) = server.user("mo").await;
    owner.create("ops", "", false).await;
    member.join_room("ops").await;
    let ops = room("ops");

    let from_member = member.post("m-1", ops.clone(), "@room lunch?").await;
    owner.expect_message().await;
    let from_owner = owner.post("o-1", ops.clone(), "@room standup in 5").await;
    let (history, _) = owner.history(ops.clone(), None, None).await;
    let mentions = |seq| {
        history
            .iter()
            .find(|m| m.seq == seq)
            .unwrap()
            .mentions
            .clone()
    };
    assert!(
        mentions(from_member.seq).is_empty(),
        "a member's @room is text"
    );
    assert_eq!(mentions(from_owner.seq), ["room"]);
    let (_, welcome) = server.join(&member_session).await;
    assert_eq!(mentions_in(&welcome, &ops), 1, "the owner's @room counts");

    // Direct conversations: the other person can be mentioned.
    owner.post("o-2", dm("mo"), "hey @mo and @olga").await;
    let (_, welcome) = server.join(&member_session).await;
    assert_eq!(mentions_in(&welcome, &dm("olga")), 1);
}

/// The notification setting is stored on the server: every connection of
/// the person hears a change, and it comes back in `welcome`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notification_setting_follows_the_person() {
    let server = TestServer::start().await;
    let (ann, mut phone, welcome) = server.user("ann").await;
    assert_eq!(
        welcome.conv(&lobby()).unwrap().notify,
        NotifyLevel::Mentions,
        "the default"
    );
    let (mut laptop, _) = server.join(&ann).await;
    for level in [NotifyLevel::All, NotifyLevel::Nothing] {
        phone
            .send(&ClientFrame::Notify {
                conv: lobby(),
                level,
            })
            .await;
        for device in [&mut phone, &mut laptop] {
            let heard = device
                .recv_until(|f| matches!(f, ServerFrame::Notify { .. }))
                .await;
            assert_eq!(
                heard,
                ServerFrame::Notify {
                    conv: lobby(),
                    level
                }
            );
        }
        let (_, welcome) = server.join(&ann).await;
        assert_eq!(welcome.conv(&lobby()).unwrap().notify, level);
    }
    // Not in the room: refused, and nothing stored.
    phone
        .send(&ClientFrame::Notify {
            conv: room("nowhere"),
            level: NotifyLevel::All,
        })
        .await;
    phone.expect_error(ErrorCode::UnknownRoom).await;
}
