//! Resilience: slow consumers, liveness pings, graceful shutdown, a SIGKILL
//! in the middle of traffic, and 10,000 connect/disconnect cycles.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use common::process::{free_port, ServerProcess};
use common::resilient::*;
use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

async fn metrics_of(addr: std::net::SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text")
}

/// Wait (bounded) until the server reports `n` open signed-in connections.
/// The server's own bookkeeping is the event; there is nothing to await.
async fn until_connections(addr: std::net::SocketAddr, n: f64) {
    let deadline = Instant::now() + TIMEOUT * 2;
    loop {
        let now = metric(&metrics_of(addr).await, "parley_connections");
        if now == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "connections stayed at {now}, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_closed_others_unaffected_and_it_resumes_without_loss() {
    let server = TestServer::start_with(|c| {
        c.outbound_queue = 64;
        c.outbound_queue_bytes = 256 * 1024;
        c.ping_timeout_secs = 1.0;
    })
    .await;
    let (_, mut alice, _) = server.user("alice").await;
    let (_, mut carol, _) = server.user("carol").await;
    let bob = server.sign_in("bob", "pw violet kettle 4821").await;
    let (mut slow, _) = server.join(&bob).await;
    carol.assert_quiet().await;
    alice.assert_quiet().await;

    // Bob stops reading. Alice writes until the server gives up on him;
    // Carol keeps reading and must get every message, in order.
    let body = "z".repeat(8 * 1024);
    let mut sent = 0i64;
    let mut last_seq = 0;
    loop {
        let acked = alice.post(&format!("m{sent}"), lobby(), &body).await;
        sent += 1;
        let got = carol.expect_message().await;
        assert_eq!(got.seq, acked.seq);
        assert_eq!(got.seq, last_seq + 1, "carol's delivery has a gap");
        last_seq = got.seq;
        let closes = metric(
            &server.get("/metrics").await.text().await.unwrap(),
            "parley_slow_consumer_closes_total",
        );
        if closes >= 1.0 {
            break;
        }
        assert!(sent < 4000, "bob was never closed as a slow consumer");
    }
    // His connection is gone from the hub (its queue is freed).
    until_connections(server.addr, 2.0).await;

    // Bob reads what reached him before the close, then the close itself.
    let mut seen = BTreeMap::new();
    let close = loop {
        match slow.recv_event().await {
            Event::Frame(ServerFrame::Message { message }) => {
                assert!(seen.insert(message.seq, message.id).is_none(), "duplicate");
            }
            Event::Frame(_) => {}
            Event::Closed(close) => break close,
        }
    };
    if let Some((code, _)) = close {
        assert_eq!(code, 4008);
    }
    // He comes back with his cursor and gets exactly the rest.
    let cursor_seq = seen.keys().next_back().copied().unwrap_or(0);
    let (_back, welcome) = server
        .join_with(&bob, vec![cursor(lobby(), cursor_seq)])
        .await;
    for message in welcome.backlog {
        assert!(
            seen.insert(message.seq, message.id).is_none(),
            "duplicate on resume"
        );
    }
    let seqs: Vec<i64> = seen.keys().copied().collect();
    let first = seqs.first().copied().unwrap_or(1);
    assert_eq!(
        seqs,
        (first..=last_seq).collect::<Vec<_>>(),
        "bob missed messages"
    );
    assert_eq!(
        seen.len() as i64,
        sent,
        "bob got every message exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_pings_close_the_connection_answered_ones_keep_it() {
    let server = TestServer::start_with(|c| {
        c.ping_interval_secs = 0.2;
        c.ping_timeout_secs = 0.3;
    })
    .await;
    let alice = server.sign_in("alice", "pw violet kettle 4821").await;

    // A peer that never answers (a dead or half-open connection): closed
    // with 4002 about one interval plus one timeout after it went quiet.
    let mut tcp = raw::upgrade(server.addr, &alice.cookie).await;
    let hello = encode(&ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        cursors: vec![],
    });
    tcp.write_all(&raw::text_frame(hello.as_bytes(), Some([1, 2, 3, 4])))
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(raw::read_close_code(&mut tcp).await, Some(4002));
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(3), "closed after {elapsed:?}");

    // A live client answers pings (tungstenite does while reading) and
    // stays connected across many intervals.
    let (mut live, _) = server.join(&alice).await;
    let until = Instant::now() + Duration::from_millis(1500);
    let mut n = 0;
    while Instant::now() < until {
        live.assert_quiet().await;
        live.post(&format!("k{n}"), lobby(), "still here").await;
        n += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_closes_with_1001_and_keeps_every_acked_message() {
    let db = common::db::TestDb::new().await;
    let port = free_port();
    let server = ServerProcess::start(&db.url, port, &[]).await;
    let alice = sign_in_at(server.addr, "alice").await;
    let mut ws = native(server.addr, &alice).await;
    hello(&mut ws, vec![]).await;
    // Ten sends in flight, then SIGTERM right away.
    for i in 0..10 {
        let frame = ClientFrame::Send {
            client_id: format!("g{i}"),
            conv: lobby(),
            body: format!("in flight {i}"),
            reply_to: None,
        };
        ws.send(WsMessage::text(encode(&frame))).await.unwrap();
    }
    let status = server.terminate().await;
    assert!(status.success(), "{status:?}");
    let mut acked = HashSet::new();
    let mut close = None;
    while let Ok(Some(Ok(message))) = tokio::time::timeout(TIMEOUT, ws.next()).await {
        match message {
            WsMessage::Text(text) => {
                if let Ok(ServerFrame::Ack { client_id, .. }) = decode_server(&text) {
                    acked.insert(client_id);
                }
            }
            WsMessage::Close(frame) => {
                close = frame.map(|f| u16::from(f.code));
                break;
            }
            _ => {}
        }
    }
    assert_eq!(close, Some(1001));
    let server = ServerProcess::start(&db.url, port, &[]).await;
    let mut ws = native(server.addr, &alice).await;
    let (_, backlog) = hello(&mut ws, vec![cursor(lobby(), 0)]).await;
    let stored: HashSet<String> = backlog.iter().filter_map(|m| m.client_id.clone()).collect();
    assert!(
        acked.is_subset(&stored),
        "acked {acked:?}, stored {stored:?}"
    );
    // Nothing in flight was half-written: what was stored has gap-free seqs.
    let seqs: Vec<i64> = backlog.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_traffic_loses_nothing_acknowledged() {
    let db = common::db::TestDb::new().await;
    let port = free_port();
    let server = ServerProcess::start(&db.url, port, &[]).await;
    let addr = server.addr;
    let alice = sign_in_at(addr, "alice").await;
    let bob = sign_in_at(addr, "bob").await;
    let carol = sign_in_at(addr, "carol").await;
    // The observer is connected before any traffic, so it can tell when
    // the kill lands in the middle of it.
    let mut observer = native(addr, &sign_in_at(addr, "dave").await).await;
    hello(&mut observer, vec![]).await;
    const EACH: usize = 300;
    let deadline = Instant::now() + Duration::from_secs(90);
    let a = tokio::spawn(resilient_client(
        vec![addr],
        alice,
        "alice",
        EACH,
        EACH,
        deadline,
    ));
    let b = tokio::spawn(resilient_client(
        vec![addr],
        bob,
        "bob",
        EACH,
        EACH,
        deadline,
    ));
    let c = tokio::spawn(resilient_client(
        vec![addr],
        carol,
        "carol",
        0,
        2 * EACH,
        deadline,
    ));

    // Kill the server once some messages are stored, while clients send.
    let mut seen = 0;
    while seen < EACH / 6 {
        match tokio::time::timeout(TIMEOUT, observer.next()).await {
            Ok(Some(Ok(WsMessage::Text(text)))) => {
                if matches!(decode_server(&text), Ok(ServerFrame::Message { .. })) {
                    seen += 1;
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("observer lost: {other:?}"),
        }
    }
    server.kill().await;
    let server = ServerProcess::start(&db.url, port, &[]).await;

    let (a, b, c) = (a.await.unwrap(), b.await.unwrap(), c.await.unwrap());
    for (name, out) in [("alice", &a), ("bob", &b), ("carol", &c)] {
        assert_eq!(out.duplicates, 0, "{name} got duplicates");
        assert!(out.reconnects >= 2, "{name} did not reconnect by itself");
    }
    assert_eq!(a.acked.len() + b.acked.len(), 2 * EACH);

    // Everything acknowledged is stored exactly once, with gap-free seqs,
    // and carol received each exactly once.
    let dave = sign_in_at(server.addr, "dave").await;
    let mut ws = native(server.addr, &dave).await;
    let (_, history) = hello(&mut ws, vec![cursor(lobby(), 0)]).await;
    assert_eq!(history.len(), 2 * EACH, "stored once each, nothing more");
    let by_client: HashMap<String, (i64, i64)> = history
        .iter()
        .map(|m| (m.client_id.clone().unwrap_or_default(), (m.id, m.seq)))
        .collect();
    for (client_id, ack) in a.acked.iter().chain(b.acked.iter()) {
        assert_eq!(
            by_client.get(client_id),
            Some(ack),
            "{client_id} acked but not stored"
        );
    }
    let seqs: Vec<i64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=2 * EACH as i64).collect::<Vec<_>>());
    let carol_seqs: Vec<i64> = c.received.keys().copied().collect();
    assert_eq!(carol_seqs, seqs, "carol got every message once");
}

/// SIGKILL while edits are being acknowledged and relayed: every edit
/// acknowledged before the kill is stored once; resending all of them after
/// the restart (same client ids) stores each once; and a member who
/// resumes from what they had gets each change exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_the_acks_and_the_fan_out_of_edits_loses_nothing() {
    const EDITS: usize = 200;
    let db = common::db::TestDb::new().await;
    let port = free_port();
    let server = ServerProcess::start(&db.url, port, &[]).await;
    let alice = sign_in_at(server.addr, "alice").await;
    let bob = sign_in_at(server.addr, "bob").await;
    let mut a = native(server.addr, &alice).await;
    hello(&mut a, vec![]).await;
    let mut b = native(server.addr, &bob).await;
    hello(&mut b, vec![]).await;
    let edit = |i: usize| ClientFrame::Edit {
        client_id: format!("e{i}"),
        conv: lobby(),
        seq: 1,
        body: format!("version {i}"),
    };
    send_lobby(&mut a, "m").await;
    // Bob holds the message; what he gets of the edits is counted.
    let mut bob_seen: Vec<(i64, String)> = Vec::new();
    loop {
        let next = tokio::time::timeout(TIMEOUT, b.next())
            .await
            .expect("message");
        if let Some(Ok(WsMessage::Text(text))) = next {
            if let Ok(ServerFrame::Message { message }) = decode_server(&text) {
                assert_eq!(message.seq, 1);
                break;
            }
        }
    }
    for i in 0..EDITS {
        a.send(WsMessage::text(encode(&edit(i)))).await.unwrap();
    }
    // Kill once some edits are acknowledged, while others are in flight.
    let mut acked: HashMap<String, i64> = HashMap::new();
    while acked.len() < EDITS / 10 {
        let next = tokio::time::timeout(TIMEOUT, a.next()).await.expect("acks");
        let Some(Ok(WsMessage::Text(text))) = next else {
            panic!("alice lost: {next:?}")
        };
        if let Ok(ServerFrame::Ack { client_id, seq, .. }) = decode_server(&text) {
            if client_id != "m" {
                acked.insert(client_id, seq);
            }
        }
    }
    server.kill().await;
    // What reached Bob before the kill.
    while let Ok(Some(Ok(WsMessage::Text(text)))) = tokio::time::timeout(TIMEOUT, b.next()).await {
        if let Ok(ServerFrame::Change { change }) = decode_server(&text) {
            bob_seen.push((change.seq, change.client_id.unwrap_or_default()));
        }
    }
    let server = ServerProcess::start(&db.url, port, &[]).await;

    // Alice resends every edit, as a client resends what it sent.
    let mut a = native(server.addr, &alice).await;
    hello(&mut a, vec![cursor(lobby(), 1)]).await;
    for i in 0..EDITS {
        a.send(WsMessage::text(encode(&edit(i)))).await.unwrap();
    }
    let mut after: HashMap<String, i64> = HashMap::new();
    while after.len() < EDITS {
        let next = tokio::time::timeout(TIMEOUT, a.next()).await.expect("acks");
        let Some(Ok(WsMessage::Text(text))) = next else {
            panic!("alice lost: {next:?}")
        };
        if let Ok(ServerFrame::Ack { client_id, seq, .. }) = decode_server(&text) {
            assert!(after.insert(client_id, seq).is_none(), "one ack per resend");
        }
    }
    for (client_id, seq) in &acked {
        assert_eq!(
            after.get(client_id),
            Some(seq),
            "{client_id} acked before the kill"
        );
    }
    let mut seqs: Vec<i64> = after.values().copied().collect();
    seqs.sort();
    assert_eq!(
        seqs,
        (2..2 + EDITS as i64).collect::<Vec<_>>(),
        "each stored once"
    );

    // Bob resumes from what he had: every change once, in order.
    let cursor_at = bob_seen.last().map_or(1, |(seq, _)| *seq);
    let mut b = native(server.addr, &bob).await;
    let log = hello_log(&mut b, vec![cursor(lobby(), cursor_at)]).await;
    for frame in log {
        match frame {
            ServerFrame::Change { change } => {
                bob_seen.push((change.seq, change.client_id.unwrap_or_default()))
            }
            other => panic!("only changes follow: {other:?}"),
        }
    }
    let got: Vec<i64> = bob_seen.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        got,
        (2..2 + EDITS as i64).collect::<Vec<_>>(),
        "bob: once each, in order"
    );
    // The message holds the text of the last edit stored.
    let last = bob_seen
        .last()
        .map(|(_, id)| id.clone())
        .unwrap_or_default();
    let (_, backlog) = hello(
        &mut native(server.addr, &bob).await,
        vec![cursor(lobby(), 0)],
    )
    .await;
    assert_eq!(backlog[0].body, format!("version {}", &last[1..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_connect_cycles_leak_nothing() {
    let db = common::db::TestDb::new().await;
    let server = ServerProcess::start(
        &db.url,
        free_port(),
        &["--max-connections-per-user", "100000"],
    )
    .await;
    let addr = server.addr;
    let cookie = sign_in_at(addr, "cycler").await;

    async fn cycles(addr: std::net::SocketAddr, cookie: &str, total: usize) {
        let workers = 16;
        let per = total / workers;
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let cookie = cookie.to_string();
                tokio::spawn(async move {
                    for _ in 0..per {
                        let mut ws = native(addr, &cookie).await;
                        hello(&mut ws, vec![]).await;
                        let _ = ws.close(None).await;
                        // Wait for the server's side of the close handshake.
                        while let Ok(Some(Ok(_))) = tokio::time::timeout(TIMEOUT, ws.next()).await {
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        until_connections(addr, 0.0).await;
    }

    // Warm up allocator pools and database caches, then take the baseline.
    cycles(addr, &cookie, 512).await;
    let tasks_at = |text: &str| metric(text, "parley_runtime_alive_tasks");
    let (fds0, rss0, tasks0) = (
        server.open_fds(),
        server.rss_kib(),
        tasks_at(&metrics_of(addr).await),
    );
    cycles(addr, &cookie, 10_000).await;
    let (fds1, rss1, tasks1) = (
        server.open_fds(),
        server.rss_kib(),
        tasks_at(&metrics_of(addr).await),
    );
    println!("after 10,000 connect/disconnect cycles:");
    println!("  open fds   {fds0} -> {fds1}");
    println!("  live tasks {tasks0} -> {tasks1}");
    println!("  RSS KiB    {rss0} -> {rss1}");
    assert!(fds1 <= fds0 + 2, "file descriptors leak: {fds0} -> {fds1}");
    assert!(tasks1 <= tasks0, "tasks leak: {tasks0} -> {tasks1}");
    assert!(
        rss1 <= rss0 + 16 * 1024,
        "memory grows: {rss0} -> {rss1} KiB"
    );
}
