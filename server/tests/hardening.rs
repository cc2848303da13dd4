//! Hardening: origin checks, abuse limits, authorization, metrics and
//! WebSocket protocol conformance. Each test sets the limit it is about and
//! shows the server refusing past it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue};

/// Upgrade `/api/ws` with exactly these headers; the HTTP status if refused,
/// or 101 if it went through.
async fn upgrade_status(server: &TestServer, cookie: &str, origin: Option<&str>) -> u16 {
    let mut request = server.ws_url("/api/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
    }
    match tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(request))
        .await
        .expect("upgrade timed out")
    {
        Ok(_) => 101,
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("upgrade failed without an HTTP answer: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_must_be_the_servers_own_or_allowlisted() {
    let server = TestServer::start().await;
    let alice = server.sign_in("alice", "pw violet kettle 4821").await;
    let own = server.origin();
    assert_eq!(
        upgrade_status(&server, &alice.cookie, Some(&own)).await,
        101
    );
    let suffix_trick = format!("{own}.evil.test");
    for bad in [
        None,
        Some("http://evil.test"),
        Some(suffix_trick.as_str()),
        Some("null"),
        Some("https://127.0.0.1"),
    ] {
        assert_eq!(
            upgrade_status(&server, &alice.cookie, bad).await,
            403,
            "origin {bad:?} must be refused"
        );
    }
    // The guest endpoints carry no credentials and take any origin.
    let mut request = server.ws_url("/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert(header::ORIGIN, HeaderValue::from_static("http://evil.test"));
    assert!(tokio_tungstenite::connect_async(request).await.is_ok());

    let listed = TestServer::start_with(|c| {
        c.allowed_origins = vec!["https://chat.example".into()];
    })
    .await;
    let bob = listed.sign_in("bob", "pw violet kettle 4821").await;
    assert_eq!(
        upgrade_status(&listed, &bob.cookie, Some("https://chat.example")).await,
        101
    );
    for bad in [listed.origin(), "https://chat.example.evil.test".into()] {
        assert_eq!(
            upgrade_status(&listed, &bob.cookie, Some(&bad)).await,
            403,
            "{bad}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_message_closes_with_1009() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (_, mut bob, _) = server.user("bob").await;
    // Just under the limit is fine (and refused only as a too-long body).
    let body = "x".repeat(60 * 1024);
    alice.send_msg("big", lobby(), &body).await;
    alice.expect_error(ErrorCode::InvalidMessage).await;
    // Over 64 KiB closes this connection, and only this one.
    alice.send_text(&"y".repeat(64 * 1024 + 1)).await;
    let close = alice.expect_close().await;
    assert_eq!(close.map(|c| c.0), Some(1009));
    bob.post("still-fine", lobby(), "hi").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_then_closes_sustained_abuse() {
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 2.0;
        c.rate_burst = 5.0;
        c.rate_abuse_limit = 20;
    })
    .await;
    let (_, mut alice, _) = server.user("alice").await;
    for nonce in 0..5 {
        alice.send(&ClientFrame::Ping { nonce }).await;
    }
    for nonce in 0..5 {
        assert_eq!(alice.next().await, ServerFrame::Pong { nonce });
    }
    alice.send(&ClientFrame::Ping { nonce: 99 }).await;
    alice.expect_error(ErrorCode::RateLimited).await;
    // Keep going: past the abuse limit the connection is closed with 1008.
    let mut closed = None;
    for nonce in 100..200 {
        if !alice.try_send(&ClientFrame::Ping { nonce }).await {
            break;
        }
    }
    while closed.is_none() {
        if let Event::Closed(close) = alice.recv_event().await {
            closed = Some(close);
        }
    }
    assert_eq!(closed.flatten().map(|c| c.0), Some(1008));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_user_and_per_ip_are_limited() {
    let server = TestServer::start_with(|c| c.max_connections_per_user = 2).await;
    let alice = server.sign_in("alice", "pw violet kettle 4821").await;
    let (_a1, _) = server.join(&alice).await;
    let (_a2, _) = server.join(&alice).await;
    assert_eq!(
        server
            .ws_refused_status("/api/ws", Some(&alice.cookie))
            .await,
        429
    );
    let bob = server.sign_in("bob", "pw violet kettle 4821").await;
    let (_b1, _) = server.join(&bob).await;

    let server = TestServer::start_with(|c| c.max_connections_per_ip = 3).await;
    let carol = server.sign_in("carol", "pw violet kettle 4821").await;
    let (c1, _) = server.join(&carol).await;
    let _g1 = server.group_guest().await;
    let _g2 = server.direct_guest("dave").await;
    // All three count against 127.0.0.1, guests included.
    assert_eq!(
        server
            .ws_refused_status("/api/ws", Some(&carol.cookie))
            .await,
        429
    );
    assert_eq!(server.ws_refused_status("/ws", None).await, 429);
    // A slot comes back when a connection ends.
    c1.close().await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match server.ws_connect("/api/ws", Some(&carol.cookie)).await {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => tokio::task::yield_now().await,
            Err(e) => panic!("slot not released: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_per_user_are_limited() {
    let server = TestServer::start_with(|c| c.max_rooms_per_user = 2).await;
    let (_, mut alice, _) = server.user("alice").await;
    alice.send(&ClientFrame::create_room("one")).await;
    assert!(matches!(alice.next().await, ServerFrame::Joined { .. }));
    alice.send(&ClientFrame::create_room("two")).await;
    alice.expect_error(ErrorCode::LimitReached).await;
    let (_, mut bob, _) = server.user("bob").await;
    bob.send(&ClientFrame::create_room("two")).await;
    assert!(matches!(bob.next().await, ServerFrame::Joined { .. }));
    alice
        .send(&ClientFrame::JoinRoom { room: "two".into() })
        .await;
    alice.expect_error(ErrorCode::LimitReached).await;
    // Leaving one makes room for another.
    alice
        .send(&ClientFrame::LeaveRoom { room: "one".into() })
        .await;
    assert!(matches!(alice.next().await, ServerFrame::Left { .. }));
    alice
        .send(&ClientFrame::JoinRoom { room: "two".into() })
        .await;
    assert!(matches!(alice.next().await, ServerFrame::Joined { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited_per_name_and_per_ip() {
    let server = TestServer::start_with(|c| {
        c.signin_per_name_per_min = 3;
        c.signin_per_ip_per_min = 6;
    })
    .await;
    server.sign_in("alice", "right violet kettle 4821").await;
    for _ in 0..2 {
        assert_eq!(server.post_session("alice", "wrong").await.status(), 401);
    }
    // The fourth attempt on the name is refused even with the right password.
    let refused = server
        .post_session("alice", "right violet kettle 4821")
        .await;
    assert_eq!(refused.status(), 429);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too_many_attempts");
    // Other names go on until the address's allowance is used up.
    server.sign_in("bob", "pw violet kettle 4821").await;
    server.sign_in("carol", "pw violet kettle 4821").await;
    assert_eq!(
        server
            .post_session("dave", "pw violet kettle 4821")
            .await
            .status(),
        429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_visible_only_to_participants_and_members() {
    let server = TestServer::start().await;
    let (_, mut alice, _) = server.user("alice").await;
    let (_, mut bob, _) = server.user("bob").await;
    let (_, mut carol, _) = server.user("carol").await;
    alice.post("secret", dm("bob"), "only for bob").await;
    assert_eq!(bob.expect_message().await.body, "only for bob");
    alice.send(&ClientFrame::create_room("private")).await;
    assert!(matches!(alice.next().await, ServerFrame::Joined { .. }));
    alice
        .post("room-secret", room("private"), "members only")
        .await;
    let (bobs, _) = bob.history(dm("alice"), None, None).await;
    assert_eq!(bobs.len(), 1);
    // Carol naming bob gets her own (empty) conversation with him.
    let (carols, _) = carol.history(dm("bob"), None, None).await;
    assert!(carols.is_empty(), "{carols:?}");
    let (carols, _) = carol.history(dm("alice"), None, None).await;
    assert!(carols.is_empty(), "{carols:?}");
    carol
        .send(&ClientFrame::History {
            conv: room("private"),
            before: None,
            limit: None,
        })
        .await;
    carol.expect_error(ErrorCode::NotMember).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_closes_its_sockets_within_5_seconds() {
    let server = TestServer::start_with(|c| c.session_ttl_secs = 2).await;
    let alice = server.sign_in("alice", "pw violet kettle 4821").await;
    let (mut client, _) = server.join(&alice).await;
    let opened = Instant::now();
    let close = loop {
        // `recv_event` waits up to 5 s for each event; the session has 2 s.
        match client.recv_event().await {
            Event::Closed(close) => break close,
            Event::Frame(_) => continue,
        }
    };
    assert_eq!(close.map(|c| c.0), Some(4001));
    assert!(opened.elapsed() < Duration::from_secs(2 + 5));
    assert_eq!(
        server
            .ws_refused_status("/api/ws", Some(&alice.cookie))
            .await,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_is_secure_when_configured() {
    let plain = TestServer::start().await;
    let response = plain.post_session("alice", "pw violet kettle 4821").await;
    let cookie = session_set_cookie(&response).unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    let tls = TestServer::start_with(|c| c.secure_cookies = true).await;
    let response = tls.post_session("alice", "pw violet kettle 4821").await;
    let cookie = session_set_cookie(&response).unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing from:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_connections_and_messages() {
    let server = TestServer::start().await;
    let before = server.get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&before, "parley_connections"), 0.0);
    let (_, mut alice, _) = server.user("alice").await;
    let (_, mut bob, _) = server.user("bob").await;
    alice.post("m1", lobby(), "hello").await;
    bob.expect_message().await;
    let after = server.get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&after, "parley_connections"), 2.0);
    assert_eq!(metric(&after, "parley_online_users"), 2.0);
    assert_eq!(metric(&after, "parley_messages_in_total"), 1.0);
    assert!(metric(&after, "parley_messages_out_total") >= 1.0);
    assert!(metric(&after, "parley_delivery_latency_seconds_count") >= 1.0);
    // One message, one batch: the store committed exactly once.
    assert_eq!(metric(&after, "parley_store_commit_seconds_count"), 1.0);
    assert_eq!(metric(&after, "parley_rooms"), 1.0);
    // A change stored and one refused.
    bob.send(&ClientFrame::React {
        client_id: "r1".into(),
        conv: lobby(),
        seq: 1,
        emoji: "\u{1F44D}".into(),
    })
    .await;
    bob.expect_ack("r1").await;
    bob.send(&ClientFrame::Delete {
        client_id: "d1".into(),
        conv: lobby(),
        seq: 1,
    })
    .await;
    bob.expect_error(ErrorCode::NotAuthor).await;
    let after = server.get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&after, "parley_changes_in_total"), 1.0);
    assert_eq!(metric(&after, "parley_changes_refused_total"), 1.0);
    assert_eq!(metric(&after, "parley_messages_in_total"), 1.0);
    for name in [
        "parley_queue_drops_total",
        "parley_slow_consumer_closes_total",
        "parley_rate_limited_total",
        "parley_runtime_alive_tasks",
    ] {
        metric(&after, name);
    }
}

// ---- protocol conformance with a raw socket -----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_closes_with_1007_and_unmasked_frames_with_1002() {
    let server = TestServer::start().await;
    let alice = server.sign_in("alice", "pw violet kettle 4821").await;

    let mut tcp = raw::upgrade(server.addr, &alice.cookie).await;
    tcp.write_all(&raw::text_frame(
        b"{\"type\":\"ping\",\"nonce\":\xff}",
        Some([1, 2, 3, 4]),
    ))
    .await
    .unwrap();
    assert_eq!(raw::read_close_code(&mut tcp).await, Some(1007));

    let mut tcp = raw::upgrade(server.addr, &alice.cookie).await;
    tcp.write_all(&raw::text_frame(b"{\"type\":\"ping\",\"nonce\":1}", None))
        .await
        .unwrap();
    assert_eq!(raw::read_close_code(&mut tcp).await, Some(1002));

    // A well-formed masked frame on the same kind of socket is fine.
    let mut tcp = raw::upgrade(server.addr, &alice.cookie).await;
    let hello = encode(&ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        cursors: vec![],
    });
    tcp.write_all(&raw::text_frame(hello.as_bytes(), Some([9, 8, 7, 6])))
        .await
        .unwrap();
    let mut first = [0u8; 2];
    tcp.read_exact(&mut first).await.unwrap();
    assert_eq!(first[0], 0x81, "a text frame (welcome) comes back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_names_are_limited_in_length() {
    let server = TestServer::start_with(|c| c.max_name_len = 8).await;
    let refused = server
        .post_session("ninechars", "pw violet kettle 4821")
        .await;
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_name");
    let (_, mut alice, _) = server.user("eightchr").await;
    alice.send(&ClientFrame::create_room("ninechars")).await;
    alice.expect_error(ErrorCode::InvalidName).await;
    alice.send(&ClientFrame::create_room("eightchr")).await;
    assert!(matches!(alice.next().await, ServerFrame::Joined { .. }));
    let mut guest = server.direct_guest("ninechars").await;
    assert_eq!(guest.expect_close().await.map(|c| c.0), Some(1008));
}
