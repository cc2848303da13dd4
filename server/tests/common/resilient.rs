//! Clients for tests where the server goes away: sign in over HTTP, connect
//! without panicking, and a client that resends and resumes by itself.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::*;

pub async fn sign_in_at(addr: SocketAddr, name: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/session"))
        .json(&serde_json::json!({"username": name, "password": "pw violet kettle 4821"}))
        .send()
        .await
        .expect("sign-in");
    assert_eq!(response.status(), 200);
    session_cookie(&response).expect("cookie")
}

pub async fn try_native(addr: SocketAddr, cookie: &str) -> Option<Ws> {
    let mut request = format!("ws://{addr}/api/ws").into_client_request().ok()?;
    let headers = request.headers_mut();
    headers.insert(
        header::ORIGIN,
        HeaderValue::from_str(&format!("http://{addr}")).ok()?,
    );
    headers.insert(header::COOKIE, HeaderValue::from_str(cookie).ok()?);
    let (ws, _) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(request))
        .await
        .ok()?
        .ok()?;
    Some(ws)
}

pub async fn native(addr: SocketAddr, cookie: &str) -> Ws {
    try_native(addr, cookie).await.expect("native connection")
}

/// Say hello; the welcome's user and the backlog's messages up to `synced`.
pub async fn hello(ws: &mut Ws, cursors: Vec<Cursor>) -> (String, Vec<Message>) {
    let mut user = String::new();
    let mut backlog = Vec::new();
    for frame in hello_frames(ws, cursors).await {
        match frame {
            ServerFrame::Welcome { user: u, .. } => user = u,
            ServerFrame::Message { message } => backlog.push(message),
            _ => {}
        }
    }
    (user, backlog)
}

/// Say hello; every backlog entry (messages and changes) up to `synced`.
pub async fn hello_log(ws: &mut Ws, cursors: Vec<Cursor>) -> Vec<ServerFrame> {
    hello_frames(ws, cursors)
        .await
        .into_iter()
        .filter(|f| matches!(f, ServerFrame::Message { .. } | ServerFrame::Change { .. }))
        .collect()
}

/// Say hello; every frame before `synced`.
async fn hello_frames(ws: &mut Ws, cursors: Vec<Cursor>) -> Vec<ServerFrame> {
    let frame = ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        cursors,
    };
    ws.send(WsMessage::text(encode(&frame))).await.unwrap();
    let mut frames = Vec::new();
    loop {
        let next = tokio::time::timeout(TIMEOUT, ws.next())
            .await
            .expect("synced in time");
        let Some(Ok(WsMessage::Text(text))) = next else {
            panic!("connection ended during hello: {next:?}")
        };
        match decode_server(&text).unwrap() {
            ServerFrame::Synced {} => return frames,
            frame => frames.push(frame),
        }
    }
}

/// What a resilient client ended with.
#[derive(Default)]
pub struct Outcome {
    /// client id → (server id, seq) of every ack.
    pub acked: HashMap<String, (i64, i64)>,
    /// seq → id of every lobby message received (from others), each once.
    pub received: BTreeMap<i64, i64>,
    pub duplicates: usize,
    pub reconnects: usize,
}

/// Sends `to_send` lobby messages (resending unacked ones with their
/// original ids after every reconnect), reads everything, reconnects with
/// its cursor whenever the connection drops, until everything is acked and
/// `expect_received` messages from others arrived.
pub async fn resilient_client(
    nodes: Vec<SocketAddr>,
    cookie: String,
    name: &'static str,
    to_send: usize,
    expect_received: usize,
    deadline: Instant,
) -> Outcome {
    let mut out = Outcome::default();
    let ids: Vec<String> = (0..to_send).map(|i| format!("{name}-{i}")).collect();
    let mut last_seq = 0;
    let mut next_new = 0;
    let mut attempt = 0;
    loop {
        assert!(Instant::now() < deadline, "{name}: did not finish in time");
        // Start on the first node; after a failure, try the next one.
        let addr = nodes[attempt % nodes.len()];
        attempt += 1;
        let Some(mut ws) = try_native(addr, &cookie).await else {
            tokio::time::sleep(Duration::from_millis(50)).await; // back off while the server is down
            continue;
        };
        out.reconnects += 1;
        let hello_frame = ClientFrame::Hello {
            version: PROTOCOL_VERSION,
            cursors: vec![cursor(lobby(), last_seq)],
        };
        if ws
            .send(WsMessage::text(encode(&hello_frame)))
            .await
            .is_err()
        {
            continue;
        }
        // Resend everything sent but not acked, with the same ids.
        let mut in_flight: Vec<String> = ids[..next_new]
            .iter()
            .filter(|id| !out.acked.contains_key(*id))
            .cloned()
            .collect();
        let mut ok = true;
        for id in &in_flight {
            ok &= send_lobby(&mut ws, id).await;
        }
        while ok {
            if in_flight.len() < 8 && next_new < to_send {
                let id = ids[next_new].clone();
                next_new += 1;
                ok = send_lobby(&mut ws, &id).await;
                in_flight.push(id);
                continue;
            }
            if out.acked.len() == to_send && out.received.len() >= expect_received {
                let _ = ws.close(None).await;
                return out;
            }
            let next = tokio::time::timeout(TIMEOUT, ws.next()).await;
            let Ok(Some(Ok(WsMessage::Text(text)))) = next else {
                if matches!(next, Ok(Some(Ok(_)))) {
                    continue; // ping, pong
                }
                break; // dropped: reconnect
            };
            match decode_server(&text) {
                Ok(ServerFrame::Ack {
                    client_id, id, seq, ..
                }) => {
                    in_flight.retain(|c| *c != client_id);
                    if let Some(prev) = out.acked.insert(client_id, (id, seq)) {
                        assert_eq!(prev, (id, seq), "{name}: a resend was stored again");
                    }
                    last_seq = last_seq.max(seq);
                }
                Ok(ServerFrame::Message { message }) if message.conv == lobby() => {
                    if out.received.insert(message.seq, message.id).is_some() {
                        out.duplicates += 1;
                    }
                    last_seq = last_seq.max(message.seq);
                }
                _ => {}
            }
        }
    }
}

pub async fn send_lobby(ws: &mut Ws, client_id: &str) -> bool {
    let frame = ClientFrame::Send {
        client_id: client_id.to_string(),
        conv: lobby(),
        body: format!("body of {client_id}"),
        reply_to: None,
    };
    ws.send(WsMessage::text(encode(&frame))).await.is_ok()
}
