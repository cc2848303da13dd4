//! WebSocket by hand over a raw TCP socket, for what a library client
//! will not do: unmasked frames, invalid UTF-8, never answering pings.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::TIMEOUT;

/// Open `/api/ws` by hand and return the socket after the 101.
pub async fn upgrade(addr: SocketAddr, cookie: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /api/ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Origin: http://{addr}\r\nCookie: {cookie}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tokio::time::timeout(TIMEOUT, tcp.read_exact(&mut byte))
            .await
            .expect("upgrade answer timed out")
            .unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// A client text frame (payload under 126 bytes); masked unless `mask` is None.
pub fn text_frame(payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut frame = vec![0x81];
    match mask {
        Some(key) => {
            frame.push(0x80 | payload.len() as u8);
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => {
            frame.push(payload.len() as u8);
            frame.extend_from_slice(payload);
        }
    }
    frame
}

/// Read server frames (answering none) until a close frame; its code.
pub async fn read_close_code(tcp: &mut TcpStream) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let mut head = [0u8; 2];
        match tokio::time::timeout_at(deadline, tcp.read_exact(&mut head)).await {
            Ok(Ok(_)) => {}
            _ => return None,
        }
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
        if head[0] & 0x0f == 0x8 {
            return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
}
