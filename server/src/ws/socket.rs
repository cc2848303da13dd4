//! One server-side WebSocket over a TCP socket: messages in, frames out,
//! pings, and the closing handshake, all driven from the connection's one
//! task by polling.
//!
//! What an idle socket holds is the `TcpStream`, one timer and a few
//! numbers: no read or write buffer (see [`Reader`] and [`Writer`]).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant, Sleep};

use super::frame::{Opcode, Violation};
use super::read::{Incoming, ReadError, Reader};
use super::write::Writer;

/// How long a closing socket may take to flush its close frame.
const CLOSE_FLUSH: Duration = Duration::from_secs(5);
/// How long a closing socket waits for the peer's close frame.
const LINGER: Duration = Duration::from_secs(1);

/// Ping timing.
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    /// A ping goes out this long after the last one.
    pub interval: Duration,
    /// A ping unanswered (by any frame) this long, or written frames the
    /// peer takes nothing of this long, end the connection.
    pub timeout: Duration,
}

/// A message from the peer.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary,
}

/// Why a socket can go on no longer.
#[derive(Debug)]
pub enum End {
    /// The peer sent a close frame (with this code and reason, if any).
    PeerClosed(Option<(u16, String)>),
    /// The peer broke the protocol.
    Violation(Violation),
    /// No frame came back within the timeout of a ping.
    PingTimeout,
    /// The peer took nothing of the frames written to it for the timeout.
    Stalled,
    /// The connection is gone (reset, or closed without a close frame).
    Gone,
    /// This side decided to close (never reported by a [`Socket`]; its
    /// owner records it so).
    Closed,
}

pub struct Socket {
    stream: TcpStream,
    reader: Reader,
    writer: Writer,
    heartbeat: Heartbeat,
    timer: Pin<Box<Sleep>>,
    next_ping: Instant,
    /// When the ping still waiting for an answer was sent.
    ping_sent: Option<Instant>,
    last_heard: Instant,
    /// Since when written frames have waited for the socket without any
    /// of them being taken.
    stalled_since: Option<Instant>,
}

impl Socket {
    /// A socket after the handshake; `prefetched` arrived with the request.
    pub fn new(
        stream: TcpStream,
        prefetched: &[u8],
        max_message: usize,
        heartbeat: Heartbeat,
    ) -> Self {
        let now = Instant::now();
        let next_ping = now + heartbeat.interval;
        Socket {
            stream,
            reader: Reader::new(max_message, prefetched),
            writer: Writer::default(),
            heartbeat,
            timer: Box::pin(sleep_until(next_ping)),
            next_ping,
            ping_sent: None,
            last_heard: now,
            stalled_since: None,
        }
    }

    /// Queue a text frame (written by the next flush or poll).
    pub fn push_text(&mut self, text: Bytes) {
        self.writer.push_text(text);
    }

    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.writer.pending()
    }

    /// Write what is queued and keep the heartbeat: `Pending` while all is
    /// well (woken when there is more to do), `Ready` with the reason when
    /// the connection has to end.
    pub fn poll_upkeep(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        loop {
            let before = self.writer.pending();
            match self.writer.poll_flush(&self.stream, cx) {
                Poll::Ready(Ok(())) => self.stalled_since = None,
                Poll::Ready(Err(_)) => return Poll::Ready(End::Gone),
                // Stalled: measured from the last write that made progress.
                Poll::Pending if self.stalled_since.is_none() || self.writer.pending() < before => {
                    self.stalled_since = Some(Instant::now());
                }
                Poll::Pending => {}
            }
            let deadline = self.deadline();
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            if self
                .stalled_since
                .is_some_and(|t| now >= t + self.heartbeat.timeout)
            {
                return Poll::Ready(End::Stalled);
            }
            if let Some(sent) = self.ping_sent {
                if now >= sent + self.heartbeat.timeout {
                    if self.last_heard < sent {
                        return Poll::Ready(End::PingTimeout);
                    }
                    self.ping_sent = None;
                }
            }
            if now >= self.next_ping {
                self.next_ping = now + self.heartbeat.interval;
                self.writer.push(Opcode::Ping, Bytes::new());
                self.ping_sent.get_or_insert(now);
            }
        }
    }

    /// The earliest time something has to be checked.
    fn deadline(&self) -> Instant {
        let timeout = self.heartbeat.timeout;
        [
            Some(self.next_ping),
            self.ping_sent.map(|t| t + timeout),
            self.stalled_since.map(|t| t + timeout),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(self.next_ping)
    }

    /// The next message from the peer, answering pings on the way. Does not
    /// write: call [`Socket::poll_upkeep`] for that.
    pub fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message, End>> {
        loop {
            let incoming = match self.reader.poll_next(&self.stream, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(incoming)) => incoming,
                Poll::Ready(Err(ReadError::Violation(violation))) => {
                    return Poll::Ready(Err(End::Violation(violation)))
                }
                Poll::Ready(Err(ReadError::Eof | ReadError::Io(_))) => {
                    return Poll::Ready(Err(End::Gone))
                }
            };
            self.last_heard = Instant::now();
            match incoming {
                Incoming::Text(text) => return Poll::Ready(Ok(Message::Text(text))),
                Incoming::Binary => return Poll::Ready(Ok(Message::Binary)),
                Incoming::Ping(payload) => {
                    self.writer.push(Opcode::Pong, payload.into());
                    // Out now if the socket takes it; otherwise the next
                    // upkeep (woken when it can write) does it.
                    let _ = self.writer.poll_flush(&self.stream, cx);
                }
                Incoming::Pong => {}
                Incoming::Close(close) => return Poll::Ready(Err(End::PeerClosed(close))),
            }
        }
    }

    /// Write everything queued (at most for the ping timeout).
    pub async fn flush(&mut self) -> Result<(), End> {
        let flushed = tokio::time::timeout(
            self.heartbeat.timeout,
            poll_fn(|cx| self.writer.poll_flush(&self.stream, cx)),
        )
        .await;
        match flushed {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::Stalled),
        }
    }

    /// Answer the peer's close frame (§5.5.1: with its code; a close without
    /// one is answered without one) and let the connection go.
    pub async fn answer_close(mut self, close: Option<(u16, String)>) {
        match close {
            Some((code, _)) => self.writer.push_close(code, ""),
            None => self.writer.push(Opcode::Close, Bytes::new()),
        }
        let _ = tokio::time::timeout(CLOSE_FLUSH, self.flush_all()).await;
    }

    /// Close with `code` and `reason`, then wait a little for the peer's
    /// close frame, so the TCP connection is not torn down under frames
    /// still in flight (which would reset it and could lose our close frame
    /// on the peer's side). A peer that already sent its close frame (one
    /// we refused, say, for a bad code) sends nothing more: its side of the
    /// handshake is over, and the connection is closed at once.
    pub async fn close(mut self, code: u16, reason: &str) {
        self.writer.push_close(code, reason);
        let flushed = tokio::time::timeout(CLOSE_FLUSH, self.flush_all()).await;
        if matches!(flushed, Ok(Ok(()))) && !self.reader.peer_closed() {
            let _ = tokio::time::timeout(LINGER, self.until_peer_closes()).await;
        }
    }

    async fn flush_all(&mut self) -> std::io::Result<()> {
        poll_fn(|cx| self.writer.poll_flush(&self.stream, cx)).await
    }

    /// Read (and drop) what the peer still sends, up to its close frame.
    async fn until_peer_closes(&mut self) {
        poll_fn(|cx| loop {
            match self.reader.poll_next(&self.stream, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(Incoming::Close(_)) | Err(_)) => return Poll::Ready(()),
                Poll::Ready(Ok(_)) => {}
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::ws::frame::{client_frame, close_payload, CLOSE_INVALID_DATA, CLOSE_PROTOCOL_ERROR};

    const HEARTBEAT: Heartbeat = Heartbeat {
        interval: Duration::from_secs(3600),
        timeout: Duration::from_secs(3600),
    };

    /// A server socket and the raw client end of its TCP connection.
    async fn pair() -> (Socket, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (Socket::new(server, &[], 1 << 20, HEARTBEAT), client)
    }

    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        client_frame(first, payload, [0x11, 0x22, 0x33, 0x44])
    }

    /// Everything the client reads until the server closes the TCP
    /// connection (a reset counts as closed too).
    async fn read_to_end(client: &mut TcpStream) -> Vec<u8> {
        let mut got = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match tokio::time::timeout(Duration::from_secs(5), client.read(&mut chunk)).await {
                Ok(Ok(0) | Err(_)) => return got,
                Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
                Err(_) => panic!("the server did not close the connection"),
            }
        }
    }

    /// The close code of the server's close frame at the start of `bytes`.
    fn close_code(bytes: &[u8]) -> Option<u16> {
        match bytes {
            [0x88, len, hi, lo, ..] if *len >= 2 => Some(u16::from_be_bytes([*hi, *lo])),
            _ => None,
        }
    }

    /// The server refuses the peer's close frame, answers with `code`, and
    /// the TCP connection is gone long before the linger for a peer's close
    /// frame would end: the peer's close frame already came.
    async fn refused_close_frame_ends_at_once(payload: &[u8], code: u16) {
        let (mut socket, mut client) = pair().await;
        client
            .write_all(&frame(0x88, payload))
            .await
            .expect("write");
        let end = poll_fn(|cx| socket.poll_message(cx)).await;
        let Err(End::Violation(violation)) = end else {
            panic!("expected a violation, got {end:?}");
        };
        assert_eq!(violation.code, code);
        let started = Instant::now();
        let closing = tokio::spawn(socket.close(violation.code, violation.reason));
        // The client sends nothing more and does not close its side.
        let got = read_to_end(&mut client).await;
        let took = started.elapsed();
        closing.await.expect("close");
        assert_eq!(close_code(&got), Some(code));
        assert!(
            took < LINGER / 2,
            "the connection was closed after {took:?}: the server waited for a \
             close frame the peer had already sent"
        );
    }

    #[tokio::test]
    async fn a_close_frame_of_one_byte_is_answered_with_1002_and_the_connection_closed() {
        refused_close_frame_ends_at_once(&[0x03], CLOSE_PROTOCOL_ERROR).await;
    }

    #[tokio::test]
    async fn a_close_frame_with_a_bad_code_is_answered_with_1002_and_the_connection_closed() {
        refused_close_frame_ends_at_once(&1005u16.to_be_bytes(), CLOSE_PROTOCOL_ERROR).await;
    }

    #[tokio::test]
    async fn a_close_reason_not_utf8_is_answered_with_1007_and_the_connection_closed() {
        refused_close_frame_ends_at_once(&[0x03, 0xe8, 0xce, 0xba, 0xff], CLOSE_INVALID_DATA).await;
    }

    #[tokio::test]
    async fn a_closing_server_closes_the_connection_once_the_peer_answers() {
        let (socket, mut client) = pair().await;
        let started = Instant::now();
        let closing = tokio::spawn(socket.close(1001, "going away"));
        let mut head = [0u8; 4];
        client.read_exact(&mut head).await.expect("close frame");
        assert_eq!(close_code(&head), Some(1001));
        client
            .write_all(&frame(0x88, &close_payload(1001, "")))
            .await
            .expect("write");
        read_to_end(&mut client).await;
        closing.await.expect("close");
        assert!(started.elapsed() < LINGER / 2);
    }

    #[tokio::test]
    async fn a_peers_valid_close_is_answered_with_its_code_and_the_connection_closed() {
        let (mut socket, mut client) = pair().await;
        client
            .write_all(&frame(0x88, &close_payload(4000, "done")))
            .await
            .expect("write");
        let end = poll_fn(|cx| socket.poll_message(cx)).await;
        let Err(End::PeerClosed(close)) = end else {
            panic!("expected the peer's close, got {end:?}");
        };
        assert_eq!(close, Some((4000, "done".to_string())));
        let closing = tokio::spawn(socket.answer_close(close));
        let got = read_to_end(&mut client).await;
        closing.await.expect("close");
        assert_eq!(close_code(&got), Some(4000));
    }
}
