//! WebSocket by hand over a raw TCP socket, for what a library client
//! will not do: unmasked frames, invalid UTF-8, never answering pings.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::TIMEOUT;

/// Open `/api/ws` by hand and return the socket after the 101.
pub async fn upgrade(addr: SocketAddr, cookie: &str) -> TcpStream {
    let (tcp, head) = request(addr, "/api/ws", &format!("Cookie: {cookie}\r\n"), &[]).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// Send a WebSocket upgrade request for `path` (with `extra` header lines,
/// each ending in CRLF), and `then` in the same write; the socket and the
/// answer's status line and headers.
pub async fn request(
    addr: SocketAddr,
    path: &str,
    extra: &str,
    then: &[u8],
) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://{addr}\r\n"
    );
    if !extra.to_ascii_lowercase().contains("sec-websocket-version") {
        request.push_str("Sec-WebSocket-Version: 13\r\n");
    }
    request.push_str(extra);
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(then);
    tcp.write_all(&bytes).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tokio::time::timeout(TIMEOUT, tcp.read_exact(&mut byte))
            .await
            .expect("upgrade answer timed out")
            .unwrap();
        head.push(byte[0]);
    }
    (tcp, String::from_utf8_lossy(&head).into_owned())
}

/// A masked client frame: `first` is the FIN bit and opcode byte.
pub fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    server::ws::frame::client_frame(first, payload, [0x5a, 0x11, 0xc3, 0x07])
}

/// The next server frame: its first byte (FIN and opcode) and payload.
/// `None` when the connection ends or nothing comes within [`TIMEOUT`].
pub async fn read_frame(tcp: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    tokio::time::timeout(TIMEOUT, async {
        let mut head = [0u8; 2];
        tcp.read_exact(&mut head).await.ok()?;
        assert_eq!(head[1] & 0x80, 0, "server frames are never masked");
        let mut len = (head[1] & 0x7f) as usize;
        if len == 126 {
            let mut ext = [0u8; 2];
            tcp.read_exact(&mut ext).await.ok()?;
            len = u16::from_be_bytes(ext) as usize;
        } else if len == 127 {
            let mut ext = [0u8; 8];
            tcp.read_exact(&mut ext).await.ok()?;
            len = u64::from_be_bytes(ext) as usize;
        }
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await.ok()?;
        Some((head[0], payload))
    })
    .await
    .ok()
    .flatten()
}

/// A client text frame (payload under 126 bytes); masked unless `mask` is None.
pub fn text_frame(payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    assert!(payload.len() < 126);
    match mask {
        Some(key) => server::ws::frame::client_frame(0x81, payload, key),
        None => {
            let mut frame = vec![0x81, payload.len() as u8];
            frame.extend_from_slice(payload);
            frame
        }
    }
}

/// Read server frames (answering none) until a close frame; its code.
pub async fn read_close_code(tcp: &mut TcpStream) -> Option<u16> {
    loop {
        let (first, payload) = read_frame(tcp).await?;
        if first & 0x0f == 0x8 {
            return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
}
