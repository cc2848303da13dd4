//! Private rooms, roles and moderation, through the one authorization
//! point: the matrix of every actor against every frame that touches a
//! room, the leak checks (a private room answers a non-member exactly as a
//! missing one does), and each action's effect on live sockets, on resume
//! and after a restart. On SQLite, and on PostgreSQL with
//! `PARLEY_TEST_DATABASE=postgres`; the cross-node rows are in
//! `tests/cluster.rs`.

mod common;

use app::protocol::{LeftReason, Role, RoomAction};
use common::access::*;
use common::*;
use ErrorCode::*;

/// Everyone the matrix needs, signed in and connected.
struct People {
    clients: Vec<Client>,
}

impl People {
    async fn connect(server: &TestServer, names: &[&str]) -> People {
        let mut clients = Vec::new();
        for name in names {
            let (_, client, _) = server.user(name).await;
            clients.push(client);
        }
        People { clients }
    }

    fn get(&mut self, name: &str) -> &mut Client {
        self.clients
            .iter_mut()
            .find(|c| c.user == name)
            .unwrap_or_else(|| panic!("no client {name}"))
    }

    /// Let every queued frame arrive and drop it.
    async fn settle(&mut self) {
        for client in &mut self.clients {
            client.ping_collect().await;
        }
    }
}

const ACTORS: [&str; 10] = [
    "nora", "otto", "kim", "ivan", "ben", "mute", "mia", "mod", "olive", "ada",
];
const STAFF: [&str; 3] = ["mod", "olive", "ada"];

/// One row per actor, one column per [`PROBES`] entry: `None` is allowed.
fn expected(actor: &str) -> Vec<Option<ErrorCode>> {
    let unknown = vec![Some(UnknownRoom); PROBES.len()];
    let not_staff = vec![Some(NotPermitted); 8];
    let row = |head: Vec<Option<ErrorCode>>,
               staff: Vec<Option<ErrorCode>>,
               tail: [Option<ErrorCode>; 2]| {
        let mut row = head;
        row.extend(staff);
        row.extend(tail);
        assert_eq!(row.len(), PROBES.len());
        row
    };
    match actor {
        // Never in it / in another private room / kicked from it: for them
        // it does not exist.
        "nora" | "otto" | "kim" => unknown,
        "ivan" => row(vec![Some(NotMember); 8], not_staff, [None, None]),
        "ben" => row(
            vec![Some(NotMember); 8],
            not_staff,
            [Some(Banned), Some(NotMember)],
        ),
        "mute" => row(
            vec![
                None,
                None,
                Some(Muted),
                None,
                None,
                Some(Muted),
                Some(Muted),
                Some(NotAuthor),
            ],
            not_staff,
            [None, None],
        ),
        "mia" => row(
            vec![
                None,
                None,
                None,
                None,
                None,
                None,
                Some(NotAuthor),
                Some(NotAuthor),
            ],
            not_staff,
            [None, None],
        ),
        "mod" => row(
            vec![None, None, None, None, None, None, Some(NotAuthor), None],
            vec![None; 8],
            [None, None],
        ),
        "olive" => row(vec![None; 8], vec![None; 8], [None, Some(NotPermitted)]),
        "ada" => row(vec![Some(NotMember); 8], vec![None; 8], [None, None]),
        other => panic!("no row for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_actor_against_every_frame_that_touches_a_private_room() {
    let server = TestServer::start_with(|c| c.admins = vec!["ada".into()]).await;
    let mut names: Vec<String> = ACTORS.iter().map(|s| s.to_string()).collect();
    for staff in STAFF {
        for what in ["inv", "kick", "mute", "ban"] {
            names.push(format!("{staff}_{what}"));
        }
    }
    names.push("newbie".into());
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut people = People::connect(&server, &refs).await;

    // The owner builds the room: members, an invitation, a mute, a kick, a
    // ban and a moderator; otto has a private room of his own.
    let olive = people.get("olive");
    olive.create("vault", "secrets", true).await;
    let mut joiners: Vec<String> = ["mia", "mute", "kim", "ben", "mod"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for staff in STAFF {
        for what in ["kick", "mute", "ban"] {
            joiners.push(format!("{staff}_{what}"));
        }
    }
    for (i, user) in joiners
        .iter()
        .chain(std::iter::once(&"ivan".to_string()))
        .enumerate()
    {
        let olive = people.get("olive");
        olive
            .must(
                &format!("inv-{i}"),
                "vault",
                RoomAction::Invite { user: user.clone() },
            )
            .await;
    }
    for user in &joiners {
        people.get(user).join_room("vault").await;
    }
    let olive = people.get("olive");
    olive
        .must(
            "m",
            "vault",
            RoomAction::Mute {
                user: "mute".into(),
                minutes: 10,
            },
        )
        .await;
    olive
        .must("k", "vault", RoomAction::Kick { user: "kim".into() })
        .await;
    olive
        .must("b", "vault", RoomAction::Ban { user: "ben".into() })
        .await;
    olive
        .must("r", "vault", set_role("mod", Role::Moderator))
        .await;
    let mut seqs = std::collections::HashMap::new();
    for actor in ACTORS {
        let olive = people.get("olive");
        let ack = olive
            .post(&format!("for-{actor}"), room("vault"), actor)
            .await;
        seqs.insert(actor, ack.seq);
    }
    people.get("otto").create("den", "", true).await;
    people.settle().await;

    let mut failures = Vec::new();
    for actor in ACTORS {
        let staff = STAFF.contains(&actor);
        let aim = Aim {
            room: "vault".into(),
            seq: seqs[actor],
            invitee: if staff {
                format!("{actor}_inv")
            } else {
                "newbie".into()
            },
            kick: if staff {
                format!("{actor}_kick")
            } else {
                "mia".into()
            },
            mute: if staff {
                format!("{actor}_mute")
            } else {
                "mia".into()
            },
            ban: if staff {
                format!("{actor}_ban")
            } else {
                "mia".into()
            },
            unban: if staff {
                format!("{actor}_ban")
            } else {
                "ben".into()
            },
            topic: format!("set by {actor}"),
        };
        let want = expected(actor);
        let client = people.get(actor);
        for (n, (probe, want)) in PROBES.iter().zip(want).enumerate() {
            let got = client.probe(*probe, &aim, n).await;
            let got_code = got.as_ref().err().map(|(code, _)| *code);
            if got_code != want {
                failures.push(format!("{actor} {probe:?}: want {want:?}, got {got:?}"));
            }
        }
        client.ping_collect().await;
    }
    assert!(
        failures.is_empty(),
        "{} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The staff's actions are in the moderation log, newest first.
    let olive = people.get("olive");
    olive
        .send(&ClientFrame::ModerationLog {
            room: "vault".into(),
        })
        .await;
    let entries = match olive
        .recv_until(|f| matches!(f, ServerFrame::ModerationLog { .. }))
        .await
    {
        ServerFrame::ModerationLog { entries, .. } => entries,
        _ => unreachable!(),
    };
    let texts: Vec<&str> = entries.iter().map(|e| e.text.as_str()).collect();
    for line in [
        "ada_kick was removed by ada",
        "mod_mute was muted by mod for 10 minutes",
        "olive_ban was unbanned by olive",
        "ben was banned by olive",
        "mod deleted a message by olive",
    ] {
        assert!(texts.contains(&line), "{line} not in {texts:?}");
    }
    assert!(
        entries.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );
}

/// For a non-member, a private room and a room that does not exist give
/// the same answers, word for word, to every frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_room_looks_exactly_like_a_missing_one_to_outsiders() {
    let server = TestServer::start().await;
    let mut people = People::connect(&server, &["olive", "nora", "mia"]).await;
    people.get("olive").create("vault", "secrets", true).await;
    people
        .get("olive")
        .must("i", "vault", RoomAction::Invite { user: "mia".into() })
        .await;
    people.get("mia").join_room("vault").await;
    let seq = people
        .get("olive")
        .post("x", room("vault"), "hidden")
        .await
        .seq;
    people.settle().await;
    let aim = |name: &str| Aim {
        room: name.into(),
        seq,
        invitee: "mia".into(),
        kick: "mia".into(),
        mute: "mia".into(),
        ban: "mia".into(),
        unban: "mia".into(),
        topic: "t".into(),
    };
    let nora = people.get("nora");
    for (n, probe) in PROBES.iter().enumerate() {
        let hidden = nora.probe(*probe, &aim("vault"), 2 * n).await;
        let missing = nora.probe(*probe, &aim("nosuch"), 2 * n + 1).await;
        let missing = missing.map_err(|(code, text)| (code, text.replace("nosuch", "vault")));
        assert_eq!(hidden, missing, "{probe:?}");
        assert!(hidden.is_err(), "{probe:?} let nora in");
    }
    // Nor is it listed, or found by its name or topic.
    assert!(!nora.list_rooms().await.iter().any(|r| r.room == "vault"));
    for query in ["vault", "secrets", ""] {
        let (rooms, _) = nora.directory(query).await;
        assert!(
            !rooms.iter().any(|r| r.room == "vault"),
            "{query}: {rooms:?}"
        );
    }
    // Its members see it in their list (not in the directory).
    let mia = people.get("mia");
    assert!(mia.list_rooms().await.iter().any(|r| r.room == "vault"));
    assert!(!mia
        .directory("vault")
        .await
        .0
        .iter()
        .any(|r| r.room == "vault"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_pages_and_searches_names_and_topics() {
    let server = TestServer::start().await;
    let mut people = People::connect(&server, &["olive", "nora"]).await;
    let olive = people.get("olive");
    for i in 0..60 {
        let topic = if i % 10 == 0 {
            "日本語 and Rust"
        } else {
            "chatter"
        };
        olive.create(&format!("room-{i:02}"), topic, false).await;
    }
    olive.create("zz-secret", "Rust", true).await;
    let nora = people.get("nora");
    let (first, next) = nora.directory("").await;
    assert_eq!(first.len(), 50);
    assert_eq!(first[0].room, "lobby");
    assert_eq!(next.as_deref(), Some(first[49].room.as_str()));
    nora.send(&ClientFrame::Directory {
        query: String::new(),
        after: next,
        limit: None,
    })
    .await;
    let (second, last) = match nora
        .recv_until(|f| matches!(f, ServerFrame::Directory { .. }))
        .await
    {
        ServerFrame::Directory { rooms, next, .. } => (rooms, next),
        _ => unreachable!(),
    };
    assert_eq!(first.len() + second.len(), 61, "lobby and 60 public rooms");
    assert_eq!(last, None);
    let all: Vec<&str> = first
        .iter()
        .chain(&second)
        .map(|r| r.room.as_str())
        .collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "by name, no repeats");
    // By topic, in any case and script; never the private room.
    let (rust, _) = nora.directory("rUST").await;
    let found: Vec<&str> = rust.iter().map(|r| r.room.as_str()).collect();
    assert_eq!(
        found,
        ["room-00", "room-10", "room-20", "room-30", "room-40", "room-50"]
    );
    assert_eq!(nora.directory("日本").await.0.len(), 6);
    assert_eq!(rust[0].topic, "日本語 and Rust");
    assert_eq!((rust[0].members, rust[0].joined), (1, false));
    // Wildcards are taken literally.
    assert!(nora.directory("%").await.0.is_empty());
    assert!(
        nora.directory("room_0").await.0.is_empty(),
        "`_` is not a wildcard"
    );
    // Joining from the directory is one frame.
    let info = nora.join_room("room-10").await;
    assert_eq!((info.members, info.role), (Some(2), Some(Role::Member)));
    assert!(nora.directory("room-10").await.0[0].joined);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_cuts_the_member_off_live_and_on_resume_until_unbanned() {
    let server = TestServer::start().await;
    let (alice_session, mut alice, _) = server.user("alice").await;
    let (bob_session, mut bob, _) = server.user("bob").await;
    let (mut bob2, _) = server.join(&bob_session).await;
    alice.create("ops", "", false).await;
    bob.join_room("ops").await;
    alice.post("a1", room("ops"), "before").await;
    bob.expect_message().await;
    // The second tab followed the join too.
    bob2.recv_until(|f| matches!(f, ServerFrame::Joined { .. }))
        .await;
    bob2.expect_message().await;

    alice
        .must("ban", "ops", RoomAction::Ban { user: "bob".into() })
        .await;
    // Both of bob's tabs see the line, then are told they are out.
    for tab in [&mut bob, &mut bob2] {
        let line = tab.expect_line("bob was banned by alice").await;
        assert_eq!(line.sender, "alice");
        match tab
            .recv_until(|f| matches!(f, ServerFrame::Left { .. }))
            .await
        {
            ServerFrame::Left { room, reason, by } => {
                assert_eq!(
                    (room.as_str(), reason, by.as_deref()),
                    ("ops", Some(LeftReason::Banned), Some("alice"))
                );
            }
            _ => unreachable!(),
        }
    }
    let after = alice.post("a2", room("ops"), "after the ban").await;
    bob.assert_quiet().await;
    bob2.assert_quiet().await;
    bob.history(lobby(), None, None).await;
    bob.send(&ClientFrame::History {
        conv: room("ops"),
        before: None,
        limit: None,
    })
    .await;
    bob.expect_error(NotMember).await;
    bob.send(&ClientFrame::JoinRoom { room: "ops".into() })
        .await;
    let refused = bob.expect_error(Banned).await;
    assert!(refused.message.contains("banned"), "{}", refused.message);
    alice
        .act("again", "ops", RoomAction::Invite { user: "bob".into() })
        .await
        .expect_err("a banned user cannot be invited");

    // A new connection resuming from before the ban gets nothing of ops.
    let (_, welcome) = server
        .join_with(&bob_session, vec![cursor(room("ops"), 1)])
        .await;
    assert!(welcome.conv(&room("ops")).is_none());
    assert!(
        welcome.backlog.iter().all(|m| m.conv != room("ops")),
        "{:?}",
        welcome.backlog
    );

    // Unbanned, then invited to the (public) room: bob is back.
    alice
        .must("unban", "ops", RoomAction::Unban { user: "bob".into() })
        .await;
    let info = bob.join_room("ops").await;
    assert!(info.last_seq > after.seq);
    alice.post("a3", room("ops"), "welcome back").await;
    assert_eq!(bob.expect_message().await.body, "welcome back");
    drop(alice_session);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_arrive_live_wait_in_the_welcome_and_can_be_declined() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (bob_session, mut bob, _) = server.user("bob").await;
    let (carol_session, mut carol, _) = server.user("carol").await;
    alice.create("vault", "plans", true).await;
    alice
        .must("i1", "vault", RoomAction::Invite { user: "bob".into() })
        .await;
    alice
        .must(
            "i2",
            "vault",
            RoomAction::Invite {
                user: "carol".into(),
            },
        )
        .await;
    match bob
        .recv_until(|f| matches!(f, ServerFrame::Invited { .. }))
        .await
    {
        ServerFrame::Invited { invitation } => {
            assert_eq!(
                (invitation.room.as_str(), invitation.by.as_str()),
                ("vault", "alice")
            );
            assert_eq!(
                (invitation.topic.as_str(), invitation.private),
                ("plans", true)
            );
        }
        _ => unreachable!(),
    }
    // Inviting twice is refused; so is inviting someone already in.
    let again = alice
        .act("i3", "vault", RoomAction::Invite { user: "bob".into() })
        .await;
    assert_eq!(again.map_err(|e| e.0), Err(AlreadyMember));
    // A new tab sees the open invitations.
    let mut raw = server.connect(&carol_session).await;
    raw.send(&ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        cursors: vec![],
    })
    .await;
    match raw
        .recv_until(|f| matches!(f, ServerFrame::Welcome { .. }))
        .await
    {
        ServerFrame::Welcome { invites, .. } => {
            assert_eq!(invites.len(), 1);
            assert_eq!(invites[0].room, "vault");
        }
        _ => unreachable!(),
    }
    // Bob accepts and chats; carol declines and cannot join after.
    let info = bob.join_room("vault").await;
    assert_eq!(info.role, Some(Role::Member));
    assert!(info.private);
    alice.expect_line("bob joined").await;
    bob.post("b1", room("vault"), "thanks!").await;
    assert_eq!(alice.expect_message().await.body, "thanks!");
    carol.must("d", "vault", RoomAction::Decline {}).await;
    alice.expect_line("carol declined the invitation").await;
    carol
        .send(&ClientFrame::JoinRoom {
            room: "vault".into(),
        })
        .await;
    carol.expect_error(UnknownRoom).await;
    let (_, welcome) = server.join(&bob_session).await;
    assert!(welcome.conv(&room("vault")).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mute_stops_writing_until_it_ends_even_across_a_restart() {
    let mut server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (bob_session, mut bob, _) = server.user("bob").await;
    alice.create("ops", "", false).await;
    bob.join_room("ops").await;
    let before = alice.post("a1", room("ops"), "hello").await;
    bob.expect_message().await;
    alice
        .must(
            "m",
            "ops",
            RoomAction::Mute {
                user: "bob".into(),
                minutes: 90,
            },
        )
        .await;
    let line = bob
        .expect_line("bob was muted by alice for 90 minutes")
        .await;
    let event = line.event.expect("an event");
    let until = event.until.expect("the end");
    assert!(until > line.ts + 89 * 60_000 && until <= line.ts + 90 * 60_000);

    bob.send_msg("b1", room("ops"), "can I?").await;
    let refused = bob.expect_error(Muted).await;
    assert_eq!(refused.client_id.as_deref(), Some("b1"));
    bob.send(&ClientFrame::React {
        client_id: "b2".into(),
        conv: room("ops"),
        seq: before.seq,
        emoji: "\u{1F44D}".into(),
    })
    .await;
    bob.expect_error(Muted).await;
    // Reading is still allowed, and the mute is part of the room's state.
    bob.history(room("ops"), None, None).await;
    bob.send(&ClientFrame::Members { room: "ops".into() }).await;
    match bob.next().await {
        ServerFrame::Members { muted, .. } => {
            assert_eq!(
                (muted.len(), muted[0].user.as_str(), muted[0].until),
                (1, "bob", until)
            );
        }
        other => panic!("{other:?}"),
    }
    // Invalid mutes are refused with a reason.
    let zero = alice
        .act(
            "m0",
            "ops",
            RoomAction::Mute {
                user: "bob".into(),
                minutes: 0,
            },
        )
        .await;
    assert_eq!(zero.map_err(|e| e.0), Err(InvalidFrame));

    // A restart keeps it.
    server.shutdown().await;
    server.restart().await;
    let (mut bob, welcome) = server.join(&bob_session).await;
    assert_eq!(
        welcome.conv(&room("ops")).and_then(|c| c.muted_until),
        Some(until)
    );
    bob.send_msg("b3", room("ops"), "now?").await;
    bob.expect_error(Muted).await;
    let alice_session = server
        .sign_in("alice", "password-1 violet kettle 4821")
        .await;
    let (mut alice, _) = server.join(&alice_session).await;
    alice
        .must("u", "ops", RoomAction::Unmute { user: "bob".into() })
        .await;
    bob.expect_line("bob was unmuted by alice").await;
    bob.post("b4", room("ops"), "thanks").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_rank_moderators_below_the_owner_and_ownership_can_be_handed_over() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (_, mut bob, _) = server.user("bob").await;
    let (_, mut carol, _) = server.user("carol").await;
    alice.create("ops", "", false).await;
    bob.join_room("ops").await;
    carol.join_room("ops").await;
    alice
        .must("r1", "ops", set_role("bob", Role::Moderator))
        .await;
    carol.expect_line("alice made bob a moderator").await;
    // A moderator acts on members, not on the owner or other moderators,
    // and cannot hand out roles.
    assert_eq!(
        bob.act(
            "k1",
            "ops",
            RoomAction::Kick {
                user: "alice".into()
            }
        )
        .await
        .map_err(|e| e.0),
        Err(NotPermitted)
    );
    assert_eq!(
        bob.act("r2", "ops", set_role("carol", Role::Moderator))
            .await
            .map_err(|e| e.0),
        Err(NotPermitted)
    );
    bob.must(
        "t",
        "ops",
        RoomAction::SetTopic {
            topic: "Deploys and incidents".into(),
        },
    )
    .await;
    carol
        .expect_line("bob set the topic to “Deploys and incidents”")
        .await;
    assert_eq!(
        bob.act(
            "t2",
            "ops",
            RoomAction::SetTopic {
                topic: "Deploys and incidents".into()
            }
        )
        .await
        .map_err(|e| e.0),
        Err(NoChange)
    );
    // Kicked from a public room: out, and free to come back.
    bob.must(
        "k2",
        "ops",
        RoomAction::Kick {
            user: "carol".into(),
        },
    )
    .await;
    match carol
        .recv_until(|f| matches!(f, ServerFrame::Left { .. }))
        .await
    {
        ServerFrame::Left { reason, .. } => assert_eq!(reason, Some(LeftReason::Kicked)),
        _ => unreachable!(),
    }
    carol.join_room("ops").await;

    // The owner cannot leave while others are in; handing over first works.
    alice
        .send(&ClientFrame::LeaveRoom { room: "ops".into() })
        .await;
    alice.expect_error(NotPermitted).await;
    alice.must("o", "ops", set_role("bob", Role::Owner)).await;
    carol.expect_line("alice made bob the owner").await;
    carol
        .send(&ClientFrame::Members { room: "ops".into() })
        .await;
    match carol.next().await {
        ServerFrame::Members { staff, .. } => {
            let staff: Vec<(&str, Role)> =
                staff.iter().map(|s| (s.user.as_str(), s.role)).collect();
            assert_eq!(staff, [("bob", Role::Owner), ("alice", Role::Moderator)]);
        }
        other => panic!("{other:?}"),
    }
    // The new owner outranks the old one.
    bob.must(
        "k3",
        "ops",
        RoomAction::Kick {
            user: "alice".into(),
        },
    )
    .await;
    let info = alice.join_room("ops").await;
    assert_eq!(info.role, Some(Role::Member));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_deletes_any_message_and_actions_are_idempotent() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (_, mut bob, _) = server.user("bob").await;
    alice.create("ops", "", false).await;
    bob.join_room("ops").await;
    let spam = bob.post("s", room("ops"), "buy now").await;
    alice.expect_message().await;
    alice
        .change(ClientFrame::Delete {
            client_id: "d".into(),
            conv: room("ops"),
            seq: spam.seq,
        })
        .await;
    assert_eq!(bob.expect_change().await.target, spam.seq);
    let (history, _) = bob.history(room("ops"), None, None).await;
    let tomb = history
        .iter()
        .find(|m| m.seq == spam.seq)
        .expect("tombstone");
    assert!(tomb.deleted_at.is_some() && tomb.moderated && tomb.body.is_empty());
    // Bob cannot do the same to alice.
    let hers = alice.post("h", room("ops"), "rules").await;
    bob.expect_message().await;
    bob.send(&ClientFrame::Delete {
        client_id: "d2".into(),
        conv: room("ops"),
        seq: hers.seq,
    })
    .await;
    bob.expect_error(NotAuthor).await;

    // The same action twice (a resend): one line, the same ack.
    let first = alice
        .act(
            "m",
            "ops",
            RoomAction::Mute {
                user: "bob".into(),
                minutes: 5,
            },
        )
        .await;
    assert!(first.is_ok());
    alice
        .send(&ClientFrame::RoomAction {
            client_id: "m".into(),
            room: "ops".into(),
            action: RoomAction::Mute {
                user: "bob".into(),
                minutes: 5,
            },
        })
        .await;
    alice.expect_ack("m").await;
    let (history, _) = alice.history(room("ops"), None, None).await;
    let mutes = history
        .iter()
        .filter(|m| m.body.starts_with("bob was muted"))
        .count();
    assert_eq!(mutes, 1);
    // Every line is in the log, in order, with the messages.
    let lines: Vec<&str> = history
        .iter()
        .filter(|m| m.event.is_some())
        .map(|m| m.body.as_str())
        .collect();
    assert_eq!(
        lines,
        [
            "alice created the room",
            "bob joined",
            "bob was muted by alice for 5 minutes"
        ]
    );
    assert!(history.windows(2).all(|w| w[0].seq < w[1].seq));
}
