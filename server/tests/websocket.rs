//! The WebSocket protocol itself (RFC 6455), spoken by hand over TCP: the
//! opening handshake, frames sent with the request, fragments, pings and
//! the closing handshake. Through the seed's `/ws/{name}`, which needs no
//! sign-in: a frame for a receiver nobody has is answered by the server.

mod common;

use common::*;
use tokio::io::AsyncWriteExt;

const TEXT: u8 = 0x81;
const CLOSE: u8 = 0x88;
const PING: u8 = 0x89;
const PONG: u8 = 0x8A;

/// A seed frame for a receiver that is not there.
fn to_nobody(data: &str) -> Vec<u8> {
    format!(r#"{{"sender":"me","receiver":"zz-nobody","data":"{data}"}}"#).into_bytes()
}

/// The server's note to guest `name` about a frame for nobody.
async fn expect_note(tcp: &mut tokio::net::TcpStream, name: &str) {
    let (first, payload) = raw::read_frame(tcp).await.expect("a frame");
    assert_eq!(first, TEXT, "a final text frame");
    let note: serde_json::Value = serde_json::from_slice(&payload).expect("JSON");
    assert_eq!(note["sender"], "server", "{note}");
    assert_eq!(note["receiver"], name, "{note}");
    assert!(
        note["data"]
            .as_str()
            .is_some_and(|d| d.contains("zz-nobody")),
        "{note}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_answers_101_with_the_accept_key_and_refuses_what_is_not_one() {
    let server = TestServer::start().await;
    let (_tcp, head) = raw::request(server.addr, "/ws/hana", "", &[]).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let head = head.to_ascii_lowercase();
    // RFC 6455 §1.3's example key and its answer.
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    assert!(head.contains("upgrade: websocket"), "{head}");

    // Another version: 426 and the version spoken here (§4.4).
    let (_tcp, head) = raw::request(
        server.addr,
        "/ws/hana2",
        "Sec-WebSocket-Version: 8\r\n",
        &[],
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 426"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{head}"
    );

    // A plain GET of a WebSocket address: 400 with a reason, as JSON.
    let plain = server.get("/ws").await;
    assert_eq!(plain.status(), 400);
    let body: serde_json::Value = plain.json().await.expect("JSON error");
    assert_eq!(body["error"], "not_a_websocket_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_sent_with_the_upgrade_request_are_read() {
    let server = TestServer::start().await;
    // The request and a first frame in one write: the server reads both at
    // once, and the frame must not be lost in the hand-over from HTTP.
    let first = raw::frame(TEXT, &to_nobody("eager"));
    let (mut tcp, head) = raw::request(server.addr, "/ws/eager", "", &first).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    expect_note(&mut tcp, "eager").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_are_joined_and_a_ping_between_them_is_answered_first() {
    let server = TestServer::start().await;
    let (mut tcp, _) = raw::request(server.addr, "/ws/frag", "", &[]).await;
    let text = to_nobody("in three parts, é split");
    let (a, rest) = text.split_at(10);
    let (b, c) = rest.split_at(rest.len() - 3);
    let mut bytes = raw::frame(0x01, a); // text, not final
    bytes.extend(raw::frame(PING, b"are you there"));
    bytes.extend(raw::frame(0x00, b)); // continuation
    bytes.extend(raw::frame(0x80, c)); // final continuation
    tcp.write_all(&bytes).await.unwrap();
    assert_eq!(
        raw::read_frame(&mut tcp).await,
        Some((PONG, b"are you there".to_vec())),
        "the pong carries the ping's payload"
    );
    expect_note(&mut tcp, "frag").await;
    // The connection goes on.
    tcp.write_all(&raw::frame(TEXT, &to_nobody("again")))
        .await
        .unwrap();
    expect_note(&mut tcp, "frag").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_from_the_client_is_answered_with_its_code_and_the_socket_ends() {
    let server = TestServer::start().await;
    let (mut tcp, _) = raw::request(server.addr, "/ws/leaver", "", &[]).await;
    let mut close = 4321u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"see you");
    tcp.write_all(&raw::frame(CLOSE, &close)).await.unwrap();
    let (first, payload) = raw::read_frame(&mut tcp).await.expect("the close answer");
    assert_eq!(first, CLOSE);
    assert_eq!(&payload[..2], &4321u16.to_be_bytes());
    assert_eq!(raw::read_frame(&mut tcp).await, None, "then the end");
    // The name is free again.
    let (mut again, head) = raw::request(server.addr, "/ws/leaver", "", &[]).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    again
        .write_all(&raw::frame(TEXT, &to_nobody("back")))
        .await
        .unwrap();
    expect_note(&mut again, "leaver").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_frame_is_refused_from_its_header_and_bad_frames_with_1002() {
    let server = TestServer::start().await;
    // A header announcing 1 GiB, and nothing after it: refused at once.
    let (mut tcp, _) = raw::request(server.addr, "/ws/big", "", &[]).await;
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    tcp.write_all(&header).await.unwrap();
    assert_eq!(raw::read_close_code(&mut tcp).await, Some(1009));

    let bad: [(&str, Vec<u8>); 4] = [
        ("reserved bit", raw::frame(0xC1, b"x")),
        ("unknown opcode", raw::frame(0x83, b"x")),
        ("continuation first", raw::frame(0x80, b"x")),
        ("long ping", raw::frame(PING, &[0u8; 126])),
    ];
    for (i, (what, frame)) in bad.into_iter().enumerate() {
        let (mut tcp, _) = raw::request(server.addr, &format!("/ws/bad{i}"), "", &[]).await;
        tcp.write_all(&frame).await.unwrap();
        assert_eq!(raw::read_close_code(&mut tcp).await, Some(1002), "{what}");
    }
}
