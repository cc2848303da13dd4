//! Long-polling (`/api/poll`): the frames of `/api/ws` over plain HTTP.
//! The greeting and resume by cursor, acks in the `POST` answer, delivery
//! both ways with WebSocket clients, idempotent resends, lost answers,
//! CSRF and `Origin` refusals, the per-session, per-address and per-tab
//! limits, rate limits, forgetting idle tabs, sign-out, and the switch
//! that turns it all off.
//!
//! Nothing here sleeps to synchronise: a test waits for an answer or a
//! frame, each bounded by a timeout.

mod common;

use std::time::{Duration, Instant};

use common::poll::*;
use common::*;

const PW: &str = "pw violet kettle 4821";

/// A server whose `GET`s are held `hold` seconds at most.
async fn server_holding(hold: f64, tweak: impl FnOnce(&mut server::config::Config)) -> TestServer {
    TestServer::start_with(|c| {
        c.poll_hold_secs = hold;
        tweak(c);
    })
    .await
}

fn send(client_id: &str, conv: Conv, body: &str) -> ClientFrame {
    ClientFrame::Send {
        client_id: client_id.to_string(),
        conv,
        body: body.to_string(),
        reply_to: None,
    }
}

fn seqs(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

/// A greeting: `welcome` first, `synced` last, and the backlog between.
fn greeting(frames: &[ServerFrame], user: &str) -> (Vec<ConversationInfo>, Vec<Message>) {
    let conversations = match frames.first() {
        Some(ServerFrame::Welcome {
            user: greeted,
            conversations,
            ..
        }) => {
            assert_eq!(greeted, user, "welcome of another user");
            conversations.clone()
        }
        other => panic!("{user}: expected a welcome first, got {other:?} in {frames:?}"),
    };
    assert_eq!(
        frames.last(),
        Some(&ServerFrame::Synced {}),
        "{user}: synced last in {frames:?}"
    );
    let backlog = frames[1..frames.len() - 1]
        .iter()
        .map(|f| match f {
            ServerFrame::Message { message } => message.clone(),
            other => panic!("{user}: expected backlog messages, got {other:?}"),
        })
        .collect();
    (conversations, backlog)
}

/// Spawn a raw `GET` of `client`'s tab with `since`: its status and answer.
fn spawn_get(
    client: &PollClient,
    since: Option<String>,
) -> tokio::task::JoinHandle<(u16, Option<Answer>)> {
    let http = client.http().clone();
    let base = client.last_base.clone();
    let tab = client.tab.clone();
    let headers = client.headers(&base);
    let cursors = client.cursor_list();
    tokio::spawn(async move {
        let response = raw_get(&http, &base, &tab, &headers, since.as_deref(), &cursors).await;
        let status = response.status().as_u16();
        if status == 200 {
            (status, Some(answer_of(response).await))
        } else {
            (status, None)
        }
    })
}

/// Spawn a raw `POST` of `frames` on `client`'s tab: status and body.
fn spawn_post(
    client: &PollClient,
    frames: &[ClientFrame],
) -> tokio::task::JoinHandle<(u16, String)> {
    let http = client.http().clone();
    let base = client.last_base.clone();
    let tab = client.tab.clone();
    let headers = client.headers(&base);
    let body = format!(
        "[{}]",
        frames.iter().map(encode).collect::<Vec<_>>().join(",")
    );
    tokio::spawn(async move {
        let response = raw_post(&http, &base, &tab, &headers, body.into_bytes()).await;
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    })
}

/// Of two spawned requests, the one that ends first (within `TIMEOUT`)
/// and the other, still running.
async fn first_of<T>(
    mut a: tokio::task::JoinHandle<T>,
    mut b: tokio::task::JoinHandle<T>,
) -> (T, tokio::task::JoinHandle<T>) {
    tokio::time::timeout(TIMEOUT, async {
        tokio::select! {
            done = &mut a => (done.expect("request task"), b),
            done = &mut b => (done.expect("request task"), a),
        }
    })
    .await
    .expect("neither request was answered in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_get_greets_with_welcome_backlog_and_synced_and_cursors_resume_after_them() {
    let server = server_holding(2.0, |_| {}).await;
    let bob = server.sign_in("bob", PW).await;
    let (_, mut alice, _) = server.user("alice").await;
    for i in 1..=5 {
        alice
            .post(&format!("a{i}"), lobby(), &format!("hello {i}"))
            .await;
    }

    let mut tab = PollClient::of(&server, &bob);
    let answer = answer_of(tab.get_raw(&server.origin(), None).await).await;
    assert!(answer.close.is_none(), "{answer:?}");
    let next = answer.next.clone().expect("a greeting names its answer");
    let (epoch, n) = next.split_once('.').expect("next is epoch.n");
    assert!(
        epoch.parse::<u64>().is_ok() && n.parse::<u64>().is_ok(),
        "{next}"
    );
    let (conversations, backlog) = greeting(&answer.frames, "bob");
    let lobby_info = conversations
        .iter()
        .find(|c| c.conv == lobby())
        .expect("the welcome lists the lobby");
    assert_eq!(lobby_info.last_seq, 5);
    assert_eq!(seqs(&backlog), vec![1, 2, 3, 4, 5]);
    assert!(backlog.iter().all(|m| m.sender == "alice"));
    assert_eq!(backlog[0].body, "hello 1");
    tab.take(answer, true);
    assert_eq!(tab.cursor_of(&lobby()), 5);

    // Going on from that answer: only what is new, no second welcome.
    alice.post("a6", lobby(), "hello 6").await;
    let frames = tab.poll().await;
    let new: Vec<_> = without_noise(&frames);
    assert_eq!(new.len(), 1, "{frames:?}");
    assert!(
        matches!(new[0], ServerFrame::Message { message } if message.seq == 6 && message.body == "hello 6"),
        "{frames:?}"
    );
    assert_eq!(tab.welcomes, 1);

    // Another tab of the page, holding lobby up to 3: greeted with
    // exactly the messages after its cursor.
    let mut other = PollClient::of(&server, &bob);
    other.cursors.insert(lobby(), 3);
    let frames = other.poll().await;
    let (_, backlog) = greeting(&frames, "bob");
    assert_eq!(seqs(&backlog), vec![4, 5, 6]);
    assert!(other.stale.is_empty() && other.gaps.is_empty());
    // At the end already: an empty backlog.
    let mut current = PollClient::of(&server, &bob);
    current.cursors.insert(lobby(), 6);
    let (_, backlog) = greeting(&current.poll().await, "bob");
    assert!(backlog.is_empty(), "{backlog:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posted_send_is_acked_in_its_answer_and_messages_flow_both_ways_with_a_socket() {
    let server = server_holding(2.0, |_| {}).await;
    let bob = server.sign_in("bob", PW).await;
    let (_, mut alice, _) = server.user("alice").await;
    let mut tab = PollClient::of(&server, &bob);
    greeting(&tab.poll().await, "bob");

    // Long-poll → socket, in a room.
    let frames = tab.send(&[send("p1", lobby(), "from the poll")]).await;
    let (id, seq) = match frames.as_slice() {
        [ServerFrame::Ack {
            client_id,
            id,
            conv,
            seq,
            ..
        }] => {
            assert_eq!((client_id.as_str(), conv), ("p1", &lobby()));
            (*id, *seq)
        }
        other => panic!("the POST answers with the ack alone: {other:?}"),
    };
    assert_eq!(seq, 1);
    let got = alice.expect_message().await;
    assert_eq!(
        (got.id, got.seq, got.sender.as_str(), got.body.as_str()),
        (id, 1, "bob", "from the poll")
    );
    assert_eq!(got.client_id.as_deref(), Some("p1"));

    // Socket → long-poll, awaited by polling.
    let acked = alice.post("a1", lobby(), "from the socket").await;
    let got = tab.poll_messages(&["from the socket"]).await;
    let from_alice: Vec<_> = got.iter().filter(|m| m.sender == "alice").collect();
    assert_eq!(from_alice.len(), 1, "{got:?}");
    assert_eq!((from_alice[0].id, from_alice[0].seq), (acked.id, acked.seq));

    // Direct messages both ways.
    let frames = tab.send(&[send("p2", dm("alice"), "psst")]).await;
    assert!(
        matches!(frames.as_slice(), [ServerFrame::Ack { client_id, conv, seq: 1, .. }] if client_id == "p2" && *conv == dm("alice")),
        "{frames:?}"
    );
    let got = alice.expect_message().await;
    assert_eq!((got.conv, got.body.as_str()), (dm("bob"), "psst"));
    alice.post("a2", dm("bob"), "yes?").await;
    let got = tab.poll_messages(&["yes?"]).await;
    let answer = got.iter().find(|m| m.body == "yes?").expect("the answer");
    assert_eq!((&answer.conv, answer.seq), (&dm("alice"), 2));

    // Several frames in one POST: every answer, in order.
    let frames = tab
        .send(&[
            ClientFrame::Ping { nonce: 7 },
            send("p3", lobby(), "third"),
            ClientFrame::History {
                conv: lobby(),
                before: None,
                limit: Some(10),
            },
        ])
        .await;
    // The ping's and the history's answers right away, the ack once the
    // message is stored (the history may or may not include it).
    assert_eq!(frames.len(), 3, "{frames:?}");
    assert_eq!(frames[0], ServerFrame::Pong { nonce: 7 });
    let bodies: Vec<&str> = frames
        .iter()
        .find_map(|f| match f {
            ServerFrame::History { messages, .. } => {
                Some(messages.iter().map(|m| m.body.as_str()).collect())
            }
            _ => None,
        })
        .expect("the history");
    assert_eq!(bodies[..2], ["from the poll", "from the socket"]);
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, ServerFrame::Ack { client_id, seq: 3, .. } if client_id == "p3")),
        "{frames:?}"
    );
    assert_eq!(alice.expect_message().await.body, "third");
    // Its own messages came in its GETs as well, each in its place after
    // its ack: the GETs alone are the whole log, with nothing twice.
    tab.poll_messages(&["third"]).await;
    let own: Vec<(i64, &str)> = tab
        .messages
        .iter()
        .filter(|m| m.sender == "bob")
        .map(|m| (m.seq, m.body.as_str()))
        .collect();
    assert_eq!(own, [(1, "from the poll"), (1, "psst"), (3, "third")]);
    assert_eq!(
        tab.messages
            .iter()
            .find(|m| m.seq == 1 && m.conv == lobby())
            .map(|m| m.id),
        Some(id)
    );
    assert!(tab.stale.is_empty(), "{:?}", tab.stale);
    assert!(tab.gaps.is_empty(), "{:?}", tab.gaps);
    assert!(tab.outbox.is_empty());
    alice.assert_quiet().await;
}

/// A room joined in a POST: `joined` comes in the tab's GETs, which
/// follow the room at once (its lease is subscribed with the user).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_joined_in_a_post_is_followed_by_the_tabs_gets() {
    let server = server_holding(2.0, |_| {}).await;
    let bob = server.sign_in("bob", PW).await;
    let (_, mut alice, _) = server.user("alice").await;
    let info = alice.create("dev", "", false).await;
    assert_eq!(info.conv, room("dev"));
    let mut tab = PollClient::of(&server, &bob);
    greeting(&tab.poll().await, "bob");

    // The join is no error; `joined`, like every membership change of the
    // user, reaches all of the user's connections: the tab's GETs.
    let frames = tab
        .send(&[ClientFrame::JoinRoom { room: "dev".into() }])
        .await;
    assert!(
        !frames
            .iter()
            .any(|f| matches!(f, ServerFrame::Error { .. })),
        "{frames:?}"
    );
    tab.poll_until("joined", |t| {
        t.log
            .iter()
            .any(|f| matches!(f, ServerFrame::Joined { info } if info.conv == room("dev")))
    })
    .await;
    let sent = alice.post("d1", room("dev"), "welcome to dev").await;
    let got = tab.poll_messages(&["welcome to dev"]).await;
    let got: Vec<_> = got.iter().filter(|m| m.body == "welcome to dev").collect();
    assert_eq!(got.len(), 1);
    assert_eq!((&got[0].conv, got[0].seq), (&room("dev"), sent.seq));
    let (_, seq) = tab.post("b1", room("dev"), "thanks").await;
    assert_eq!(seq, sent.seq + 1);
    let heard = alice
        .recv_until(|f| matches!(f, ServerFrame::Message { message } if message.event.is_none()))
        .await;
    assert!(
        matches!(&heard, ServerFrame::Message { message } if message.body == "thanks" && message.sender == "bob"),
        "{heard:?}"
    );
    assert!(
        tab.stale.is_empty() && tab.gaps.is_empty(),
        "{:?} {:?}",
        tab.stale,
        tab.gaps
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_client_id_posted_twice_is_stored_once() {
    let server = server_holding(2.0, |_| {}).await;
    let bob = server.sign_in("bob", PW).await;
    let (_, mut alice, _) = server.user("alice").await;
    let mut tab = PollClient::of(&server, &bob);
    greeting(&tab.poll().await, "bob");

    let body = "exactly once over long-polling";
    let (id, seq) = tab.post("dup-1", lobby(), body).await;
    // The answer was lost, say: the same frame again, on the same tab...
    let again = tab.post("dup-1", lobby(), body).await;
    assert_eq!(again, (id, seq), "a resend is acked as the original");
    // ...and from a reloaded page (a new tab).
    let mut reloaded = tab.reload();
    greeting(&reloaded.poll().await, "bob");
    assert_eq!(reloaded.post("dup-1", lobby(), body).await, (id, seq));

    let got = alice.expect_message().await;
    assert_eq!((got.id, got.seq, got.body.as_str()), (id, seq, body));
    alice.assert_quiet().await;
    assert_eq!(server.count_rows_containing(body).await, 1);
    // A new message after it gets the next seq: no seq was spent.
    assert_eq!(tab.post("dup-2", lobby(), "next").await.1, seq + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_back_from_away_gets_exactly_what_it_missed() {
    let server = server_holding(2.0, |_| {}).await;
    let bob = server.sign_in("bob", PW).await;
    let (_, mut alice, _) = server.user("alice").await;
    let mut tab = PollClient::of(&server, &bob);
    greeting(&tab.poll().await, "bob");
    for i in 1..=3 {
        alice
            .post(&format!("b{i}"), lobby(), &format!("before {i}"))
            .await;
    }
    tab.poll_messages(&["before 1", "before 2", "before 3"])
        .await;
    assert_eq!(tab.cursor_of(&lobby()), 3);
    let before = tab.reload();

    // The tab stops polling; the room goes on.
    for i in 1..=5 {
        alice
            .post(&format!("w{i}"), lobby(), &format!("while away {i}"))
            .await;
    }

    // The same tab, going on from its last answer: the queued messages.
    let got = tab
        .poll_until("the missed messages", |t| t.cursor_of(&lobby()) >= 8)
        .await;
    let got: Vec<i64> = messages_in(&got).iter().map(|m| m.seq).collect();
    assert_eq!(got, vec![4, 5, 6, 7, 8]);
    assert_eq!(tab.welcomes, 1, "went on without a new greeting");

    // A reloaded page (new tab, the cursors it held): greeted with them.
    let mut fresh = before.reload();
    let (_, backlog) = greeting(&fresh.poll().await, "bob");
    assert_eq!(seqs(&backlog), vec![4, 5, 6, 7, 8]);
    assert_eq!(backlog[0].body, "while away 1");

    // A `since` this node never issued (another node's, a forgotten
    // lease's): greeted by cursor too.
    let mut elsewhere = before.reload();
    elsewhere.since = Some("12345.6".into());
    let (_, backlog) = greeting(&elsewhere.poll().await, "bob");
    assert_eq!(seqs(&backlog), vec![4, 5, 6, 7, 8]);

    // And live again from there, once each.
    alice.post("after", lobby(), "after").await;
    for t in [&mut tab, &mut fresh, &mut elsewhere] {
        let got = t.poll_messages(&["after"]).await;
        assert_eq!(seqs(&got), vec![9]);
        assert!(t.stale.is_empty(), "{:?}", t.stale);
        assert!(t.gaps.is_empty(), "{:?}", t.gaps);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_delivered_again() {
    let server = server_holding(2.0, |_| {}).await;
    let bob = server.sign_in("bob", PW).await;
    let (_, mut alice, _) = server.user("alice").await;
    let mut tab = PollClient::of(&server, &bob);
    greeting(&tab.poll().await, "bob");
    let before_lost = tab.since.clone().expect("a token");

    let sent = alice.post("l1", lobby(), "lost on the way").await;
    // This answer never reaches the tab...
    let lost = answer_of(tab.get_raw(&server.origin(), Some(&before_lost)).await).await;
    assert!(
        messages_in(&lost.frames).iter().any(|m| m.seq == sent.seq),
        "{lost:?}"
    );
    assert_ne!(lost.next.as_deref(), Some(before_lost.as_str()));

    // ...so it asks again with the token it holds: the same frames again.
    assert_eq!(tab.since.as_deref(), Some(before_lost.as_str()));
    let again = tab.poll().await;
    assert_eq!(
        messages_in(&again),
        messages_in(&lost.frames),
        "the lost answer's messages, again"
    );
    assert_eq!(
        again
            .iter()
            .filter(|f| matches!(f, ServerFrame::Welcome { .. }))
            .count(),
        0
    );

    // From there on: what is new, once.
    alice.post("l2", lobby(), "after the loss").await;
    let got = tab.poll_messages(&["after the loss"]).await;
    assert_eq!(seqs(&got), vec![sent.seq + 1]);
    assert_eq!(seqs(&tab.messages), vec![1, 2]);
    assert!(tab.stale.is_empty(), "{:?}", tab.stale);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_the_header_from_another_origin_or_malformed_are_refused() {
    let server = server_holding(2.0, |c| c.max_message_bytes = 4096).await;
    let alice = server.sign_in("alice", PW).await;
    let tab = PollClient::of(&server, &alice);
    let base = server.origin();
    let http = tab.http();
    let good = tab.headers(&base);
    let ping = br#"[{"type":"ping","nonce":1}]"#.to_vec();

    // What a page sends is accepted.
    let answer = answer_of(raw_post(http, &base, &tab.tab, &good, ping.clone()).await).await;
    assert_eq!(answer.frames, vec![ServerFrame::Pong { nonce: 1 }]);

    let post = |headers: Headers, tab_id: &str, body: Vec<u8>| {
        let tab_id = tab_id.to_string();
        let base = base.clone();
        async move { refusal_of(raw_post(http, &base, &tab_id, &headers, body).await).await }
    };
    let get = |headers: Headers, tab_id: &str| {
        let tab_id = tab_id.to_string();
        let base = base.clone();
        async move { refusal_of(raw_get(http, &base, &tab_id, &headers, None, &[]).await).await }
    };
    let refusal = |status: u16, error: &str| Refusal {
        status,
        error: error.to_string(),
    };
    let t = tab.tab.as_str();

    // CSRF: no header, or another value.
    let no_header = Headers {
        poll: false,
        ..good.clone()
    };
    assert_eq!(
        post(no_header.clone(), t, ping.clone()).await,
        refusal(403, "poll_header_missing")
    );
    assert_eq!(get(no_header, t).await, refusal(403, "poll_header_missing"));

    // Origin: foreign or missing on a POST; foreign on a GET.
    let foreign = Headers {
        origin: Some("http://evil.example".into()),
        ..good.clone()
    };
    assert_eq!(
        post(foreign.clone(), t, ping.clone()).await,
        refusal(403, "forbidden_origin")
    );
    assert_eq!(get(foreign, t).await, refusal(403, "forbidden_origin"));
    let other_port = Headers {
        origin: Some(format!("http://127.0.0.1:{}", server.addr.port() + 1)),
        ..good.clone()
    };
    assert_eq!(
        post(other_port, t, ping.clone()).await,
        refusal(403, "forbidden_origin")
    );
    let no_origin = Headers {
        origin: None,
        ..good.clone()
    };
    assert_eq!(
        post(no_origin.clone(), t, ping.clone()).await,
        refusal(403, "forbidden_origin")
    );
    // A GET without Origin (browsers send none on same-origin GETs) is fine.
    let answer = answer_of(raw_get(http, &base, t, &no_origin, None, &[]).await).await;
    greeting(&answer.frames, "alice");

    // No session, or a dead one.
    let no_cookie = Headers {
        cookie: None,
        ..good.clone()
    };
    let fresh_tab = random_tab();
    assert_eq!(
        post(no_cookie.clone(), &fresh_tab, ping.clone()).await,
        refusal(401, "unauthorized")
    );
    assert_eq!(
        get(no_cookie, &fresh_tab).await,
        refusal(401, "unauthorized")
    );
    let bogus = Headers {
        cookie: Some("parley_session=not-a-session".into()),
        ..good.clone()
    };
    assert_eq!(
        post(bogus, t, ping.clone()).await,
        refusal(401, "unauthorized")
    );

    // Tab ids: 8 to 64 letters, digits, - or _.
    for bad in ["short", "has space here", &"x".repeat(65), "semi;colon;"] {
        assert_eq!(
            post(good.clone(), bad, ping.clone()).await,
            refusal(400, "bad_request"),
            "tab {bad:?}"
        );
        assert_eq!(get(good.clone(), bad).await, refusal(400, "bad_request"));
    }

    // Bodies: over --max-message-bytes, not a JSON array, too many frames.
    let mut big = br#"[{"type":"ping","nonce":2},"#.to_vec();
    big.extend(std::iter::repeat_n(b' ', 4096));
    big.extend_from_slice(br#"{"type":"ping","nonce":3}]"#);
    assert_eq!(post(good.clone(), t, big).await, refusal(413, "too_large"));
    for body in [
        &br#"{"type":"ping","nonce":1}"#[..],
        b"not json",
        b"",
        b"[1,2",
    ] {
        assert_eq!(
            post(good.clone(), t, body.to_vec()).await,
            refusal(400, "bad_request"),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let many = format!(
        "[{}]",
        (0..65)
            .map(|n| format!(r#"{{"type":"ping","nonce":{n}}}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(
        post(good.clone(), t, many.into_bytes()).await,
        refusal(400, "bad_request")
    );
    // Frames that are not valid frames are answered like a socket's.
    let answer = answer_of(
        raw_post(
            http,
            &base,
            t,
            &good,
            br#"[{"type":"nonsense"},42]"#.to_vec(),
        )
        .await,
    )
    .await;
    assert_eq!(answer.frames.len(), 2, "{answer:?}");
    assert!(answer
        .frames
        .iter()
        .all(|f| matches!(f, ServerFrame::Error { .. })));

    // After all that, the tab still works.
    let answer = answer_of(raw_post(http, &base, t, &good, ping).await).await;
    assert_eq!(answer.frames, vec![ServerFrame::Pong { nonce: 1 }]);
}

/// A new tab refused for too many connections: its `GET` and its `POST`.
async fn assert_too_many(server: &TestServer, tab: &PollClient) {
    let refused = refusal_of(tab.get_raw(&server.origin(), None).await).await;
    assert_eq!(
        refused,
        Refusal {
            status: 429,
            error: "too_many_connections".into()
        }
    );
    let ping = [ClientFrame::Ping { nonce: 1 }];
    let refused = refusal_of(tab.post_raw(&server.origin(), &ping).await).await;
    assert_eq!(refused.status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_per_session_and_per_address_are_limited() {
    // Per session (and user): --max-connections-per-user tabs.
    let server = server_holding(2.0, |c| c.max_connections_per_user = 2).await;
    let alice = server.sign_in("alice", PW).await;
    let mut one = PollClient::of(&server, &alice);
    let mut two = PollClient::of(&server, &alice);
    greeting(&one.poll().await, "alice");
    greeting(&two.poll().await, "alice");
    assert_too_many(&server, &PollClient::of(&server, &alice)).await;
    // The tabs it has go on working; another user is not counted with them.
    assert_eq!(
        one.send(&[ClientFrame::Ping { nonce: 2 }]).await,
        vec![ServerFrame::Pong { nonce: 2 }]
    );
    let bob = server.sign_in("bob", PW).await;
    greeting(&PollClient::of(&server, &bob).poll().await, "bob");
    // Sockets of the user count too.
    assert_eq!(
        server
            .ws_refused_status("/api/ws", Some(&alice.cookie))
            .await,
        429
    );

    // Per address: every tab holds a slot, as a socket does.
    let server = server_holding(2.0, |c| c.max_connections_per_ip = 3).await;
    let alice = server.sign_in("alice", PW).await;
    let bob = server.sign_in("bob", PW).await;
    let mut tabs = Vec::new();
    for session in [&alice, &alice, &bob] {
        let mut tab = PollClient::of(&server, session);
        greeting(&tab.poll().await, &session.name);
        tabs.push(tab);
    }
    assert_too_many(&server, &PollClient::of(&server, &bob)).await;
    assert_eq!(
        server.ws_refused_status("/api/ws", Some(&bob.cookie)).await,
        429
    );
    // Known tabs are not counted again.
    for tab in &mut tabs {
        assert_eq!(
            tab.send(&[ClientFrame::Ping { nonce: 3 }]).await,
            vec![ServerFrame::Pong { nonce: 3 }]
        );
    }
}

/// Holds the store's writes until dropped or released: an exclusive
/// transaction on SQLite, a lock of the messages table on PostgreSQL.
struct WritesHeld(sqlx::AnyConnection);

impl WritesHeld {
    async fn on(url: &str) -> Self {
        use sqlx::{Connection, Executor};
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(url)
            .await
            .expect("the test database opens");
        if common::db::on_postgres() {
            conn.execute("BEGIN").await.expect("begin");
            conn.execute("LOCK TABLE messages IN EXCLUSIVE MODE")
                .await
                .expect("lock the messages");
        } else {
            conn.execute("BEGIN EXCLUSIVE")
                .await
                .expect("begin exclusive");
        }
        WritesHeld(conn)
    }

    async fn release(mut self) {
        use sqlx::Executor;
        self.0.execute("COMMIT").await.expect("commit");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_post_on_a_tab_while_one_is_in_progress_is_refused() {
    let server = server_holding(2.0, |_| {}).await;
    let bob = server.sign_in("bob", PW).await;
    let (_, mut alice, _) = server.user("alice").await;
    let mut tab = PollClient::of(&server, &bob);
    greeting(&tab.poll().await, "bob");
    tab.post("warm", lobby(), "warm").await;
    alice.expect_message().await;

    // While the store takes no writes, a POST with a send is in progress
    // until it is stored: of two, the one that came second is refused at
    // once, the other waits for its ack.
    let held = WritesHeld::on(&server.config.database_url).await;
    let one = spawn_post(&tab, &[send("x1", lobby(), "first of two")]);
    let two = spawn_post(&tab, &[send("x2", lobby(), "second of two")]);
    let ((status, body), waiting) = first_of(one, two).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("too_many_connections"), "{body}");
    assert!(
        !waiting.is_finished(),
        "a POST answered while the store was held"
    );
    held.release().await;
    let (status, body) = tokio::time::timeout(TIMEOUT, waiting)
        .await
        .expect("the waiting POST is answered once the store is free")
        .expect("request task");
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let frames = answer["frames"].as_array().expect("frames");
    assert_eq!(frames.len(), 1, "{body}");
    assert_eq!(frames[0]["type"], "ack", "{body}");
    let stored = frames[0]["client_id"].as_str().unwrap().to_string();
    let refused = if stored == "x1" { "x2" } else { "x1" };
    assert_eq!(frames[0]["seq"], 2);

    // The refused one, sent again, is stored after it.
    let body = if refused == "x1" {
        "first of two"
    } else {
        "second of two"
    };
    assert_eq!(tab.post(refused, lobby(), body).await.1, 3);
    let got = [alice.expect_message().await, alice.expect_message().await];
    assert_eq!(
        got.iter()
            .map(|m| (m.seq, m.client_id.clone().unwrap()))
            .collect::<Vec<_>>(),
        vec![(2, stored), (3, refused.to_string())]
    );
    alice.assert_quiet().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_get_on_a_tab_makes_the_waiting_one_answer_at_once() {
    let server = server_holding(20.0, |_| {}).await;
    let bob = server.sign_in("bob", PW).await;
    let (_, mut alice, _) = server.user("alice").await;
    let mut tab = PollClient::of(&server, &bob);
    greeting(&tab.poll().await, "bob");
    let since = tab.since.clone();

    // Two GETs of the tab from the same answer (the page lost track of
    // the first): whichever came first answers at once, empty, and the
    // other waits in its place.
    let started = Instant::now();
    let a = spawn_get(&tab, since.clone());
    let b = spawn_get(&tab, since);
    let ((status, answer), waiting) = first_of(a, b).await;
    assert_eq!(status, 200);
    let answer = answer.unwrap();
    assert!(answer.frames.is_empty(), "{answer:?}");
    assert!(answer.close.is_none());
    assert!(answer.next.is_some());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered only at the end of its hold"
    );
    assert!(!waiting.is_finished(), "the newer GET waits for frames");

    // The waiting one takes what comes next.
    let sent = alice.post("s1", lobby(), "to the newer GET").await;
    let (status, answer) = tokio::time::timeout(TIMEOUT, waiting)
        .await
        .expect("the waiting GET answers with the message")
        .expect("request task");
    assert_eq!(status, 200);
    let answer = answer.unwrap();
    let got = messages_in(&answer.frames);
    assert_eq!(got.len(), 1, "{answer:?}");
    assert_eq!(
        (got[0].seq, got[0].body.as_str()),
        (sent.seq, "to the newer GET")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_past_the_burst_are_refused_and_sustained_abuse_closes_the_tab() {
    let server = server_holding(2.0, |c| {
        c.rate_per_sec = 0.001;
        c.rate_burst = 5.0;
        c.rate_abuse_limit = 10;
    })
    .await;
    let bob = server.sign_in("bob", PW).await;
    let mut tab = PollClient::of(&server, &bob);
    greeting(&tab.poll().await, "bob");

    let pings: Vec<ClientFrame> = (0..8).map(|nonce| ClientFrame::Ping { nonce }).collect();
    let frames = tab.send(&pings).await;
    assert_eq!(frames.len(), 8, "{frames:?}");
    for (nonce, frame) in frames[..5].iter().enumerate() {
        assert_eq!(
            frame,
            &ServerFrame::Pong {
                nonce: nonce as u64
            }
        );
    }
    for frame in &frames[5..] {
        assert!(
            matches!(
                frame,
                ServerFrame::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            ),
            "{frame:?}"
        );
    }
    assert!(tab.closed.is_none());

    // Keep going: past the abuse limit the tab is closed with 1008.
    let pings: Vec<ClientFrame> = (100..130)
        .map(|nonce| ClientFrame::Ping { nonce })
        .collect();
    let frames = tab.send(&pings).await;
    assert_eq!(tab.closed.as_ref().map(|c| c.0), Some(1008), "{frames:?}");
    assert!(!frames.iter().any(|f| matches!(f, ServerFrame::Pong { .. })));
    assert!(
        frames.len() < pings.len(),
        "the frames after the close were not handled: {frames:?}"
    );

    // The page starts over: a new greeting on a new connection.
    let frames = tab.poll().await;
    greeting(&frames, "bob");
    assert_eq!(tab.welcomes, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_that_stops_polling_goes_offline_and_one_that_polls_stays_online() {
    let server = server_holding(0.2, |c| c.poll_idle_secs = 0.5).await;
    let (_, mut alice, _) = server.user("alice").await;
    let bob = server.sign_in("bob", PW).await;
    let mut tab = PollClient::of(&server, &bob);
    greeting(&tab.poll().await, "bob");
    let presence = |online: bool| move |f: &ServerFrame| matches!(f, ServerFrame::Presence { user, online: o, .. } if user == "bob" && *o == online);
    alice.recv_until(presence(true)).await;

    // Polling for four idle periods: online all along.
    let polling = Instant::now();
    let mut requests = 0;
    while polling.elapsed() < Duration::from_secs(2) {
        tab.poll().await;
        requests += 1;
    }
    assert!(
        requests >= 5,
        "held GETs answer after their hold: {requests}"
    );
    let seen = alice.ping_collect().await;
    assert!(
        !seen.iter().any(presence(false)),
        "bob went offline while polling: {seen:?}"
    );
    assert_eq!(tab.welcomes, 1, "one connection all along");

    // Stops polling: offline once the tab was idle for --poll-idle-secs.
    let stopped = Instant::now();
    alice.recv_until(presence(false)).await;
    assert!(
        stopped.elapsed() >= Duration::from_millis(400),
        "offline after {:?}, before the tab was idle",
        stopped.elapsed()
    );

    // Back: greeted anew (the tab was forgotten), online again.
    let frames = tab.poll().await;
    greeting(&frames, "bob");
    alice.recv_until(presence(true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_closes_a_waiting_get_with_4001_and_refuses_the_tab_after() {
    let server = server_holding(20.0, |_| {}).await;
    let bob = server.sign_in("bob", PW).await;
    let mut tab = PollClient::of(&server, &bob);
    greeting(&tab.poll().await, "bob");
    tab.send(&[ClientFrame::Ping { nonce: 1 }]).await;

    // Two GETs: once the first answers, the other is surely waiting on
    // the server (it is what made the first answer).
    let since = tab.since.clone();
    let first = spawn_get(&tab, since.clone());
    let second = spawn_get(&tab, since);
    let ((status, _), waiting) = first_of(first, second).await;
    assert_eq!(status, 200);
    assert!(!waiting.is_finished());

    let out = server.delete_session(&bob.cookie).await;
    assert!(out.status().is_success(), "{}", out.status());
    let (status, answer) = tokio::time::timeout(TIMEOUT, waiting)
        .await
        .expect("the waiting GET answers at sign-out")
        .expect("request task");
    assert_eq!(status, 200);
    let answer = answer.unwrap();
    assert_eq!(
        answer.close,
        Some((4001, "signed out".to_string())),
        "{answer:?}"
    );
    assert!(answer.next.is_none());

    // The tab is gone with the session.
    let refused = refusal_of(tab.get_raw(&server.origin(), tab.since.as_deref()).await).await;
    assert_eq!(
        refused,
        Refusal {
            status: 401,
            error: "unauthorized".into()
        }
    );
    let refused = refusal_of(
        tab.post_raw(&server.origin(), &[ClientFrame::Ping { nonce: 2 }])
            .await,
    )
    .await;
    assert_eq!(
        refused,
        Refusal {
            status: 401,
            error: "unauthorized".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_can_be_turned_off() {
    let server = server_holding(2.0, |c| c.long_polling = false).await;
    let bob = server.sign_in("bob", PW).await;
    let tab = PollClient::of(&server, &bob);
    let refused = refusal_of(tab.get_raw(&server.origin(), None).await).await;
    assert_eq!(refused.status, 404);
    let refused = refusal_of(
        tab.post_raw(&server.origin(), &[ClientFrame::Ping { nonce: 1 }])
            .await,
    )
    .await;
    assert_eq!(refused.status, 404);
    // The socket still works.
    let (mut client, _) = server.join(&bob).await;
    client.assert_quiet().await;
}
