//! The reading half of a server-side WebSocket: bytes from the socket to
//! whole messages and control frames, every rule of RFC 6455 checked.
//!
//! Nothing is kept while the peer is quiet: the read buffer exists only
//! between a read and the end of the frames it holds (or while a frame is
//! incomplete), and a fragmented message only until its last fragment.

use std::io;
use std::task::{ready, Context, Poll};

use tokio::net::TcpStream;

use super::frame::{parse_client_header, parse_close, unmask, Opcode, Violation};

/// The most one read takes from the socket.
const READ_CHUNK: usize = 4096;

/// What the peer sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    /// A binary message (its content is not needed by anyone here).
    Binary,
    Ping(Vec<u8>),
    Pong,
    /// A close frame, with its code and reason if it gave one.
    Close(Option<(u16, String)>),
}

/// Why nothing more can be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer broke the protocol: close with this code.
    Violation(Violation),
    /// The connection ended without a close frame.
    Eof,
    Io(io::Error),
}

impl From<Violation> for ReadError {
    fn from(violation: Violation) -> Self {
        ReadError::Violation(violation)
    }
}

/// A data message whose first fragment arrived and last has not.
struct Fragments {
    text: bool,
    data: Vec<u8>,
}

pub struct Reader {
    /// Read and not yet parsed, from `start` on.
    buf: Vec<u8>,
    start: usize,
    fragments: Option<Fragments>,
    max_message: usize,
}

impl Reader {
    /// A reader that refuses messages over `max_message` bytes (1009).
    /// `prefetched`: bytes that arrived with the upgrade request.
    pub fn new(max_message: usize, prefetched: &[u8]) -> Self {
        Reader {
            buf: prefetched.to_vec(),
            start: 0,
            fragments: None,
            max_message,
        }
    }

    /// The next message or control frame, reading from `stream` as needed.
    pub fn poll_next(
        &mut self,
        stream: &TcpStream,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Incoming, ReadError>> {
        loop {
            if let Some(incoming) = self.next_buffered()? {
                return Poll::Ready(Ok(incoming));
            }
            ready!(stream.poll_read_ready(cx)).map_err(ReadError::Io)?;
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            self.buf.reserve(READ_CHUNK);
            match stream.try_read_buf(&mut self.buf) {
                Ok(0) => return Poll::Ready(Err(ReadError::Eof)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(ReadError::Io(e))),
            }
        }
    }

    /// Parse what was read so far: the next whole message or control frame,
    /// if it is all there.
    fn next_buffered(&mut self) -> Result<Option<Incoming>, Violation> {
        loop {
            let unread = &self.buf[self.start..];
            let room = self.max_message - self.fragments.as_ref().map_or(0, |f| f.data.len());
            let Some(header) = parse_client_header(unread, room)? else {
                self.release_if_empty();
                return Ok(None);
            };
            let end = header.header_len + header.len;
            if unread.len() < end {
                return Ok(None);
            }
            let payload_at = self.start + header.header_len;
            self.start += end;
            let payload = &mut self.buf[payload_at..payload_at + header.len];
            unmask(payload, header.mask);
            let incoming = self.frame(header.opcode, header.fin, payload_at, header.len)?;
            if let Some(incoming) = incoming {
                self.release_if_empty();
                return Ok(Some(incoming));
            }
        }
    }

    /// One unmasked frame, whose payload is `buf[at..at + len]`: a message
    /// or control frame when it completes one.
    fn frame(
        &mut self,
        opcode: Opcode,
        fin: bool,
        at: usize,
        len: usize,
    ) -> Result<Option<Incoming>, Violation> {
        let payload = &self.buf[at..at + len];
        match opcode {
            Opcode::Ping => Ok(Some(Incoming::Ping(payload.to_vec()))),
            Opcode::Pong => Ok(Some(Incoming::Pong)),
            Opcode::Close => {
                let close = parse_close(payload)?.map(|(code, reason)| (code, reason.to_string()));
                Ok(Some(Incoming::Close(close)))
            }
            Opcode::Text | Opcode::Binary => {
                if self.fragments.is_some() {
                    return Err(Violation::protocol(
                        "a new message began before the last one ended",
                    ));
                }
                let text = opcode == Opcode::Text;
                if fin {
                    return message(text, payload.to_vec()).map(Some);
                }
                self.fragments = Some(Fragments {
                    text,
                    data: payload.to_vec(),
                });
                Ok(None)
            }
            Opcode::Continuation => {
                let Some(mut fragments) = self.fragments.take() else {
                    return Err(Violation::protocol("continuation frame without a message"));
                };
                // The header was checked against the room left in the limit.
                fragments.data.extend_from_slice(payload);
                if !fin {
                    self.fragments = Some(fragments);
                    return Ok(None);
                }
                message(fragments.text, fragments.data).map(Some)
            }
        }
    }

    /// A quiet connection keeps no read buffer.
    fn release_if_empty(&mut self) {
        if self.start == self.buf.len() {
            self.buf = Vec::new();
            self.start = 0;
        }
    }
}

fn message(text: bool, data: Vec<u8>) -> Result<Incoming, Violation> {
    if !text {
        return Ok(Incoming::Binary);
    }
    String::from_utf8(data)
        .map(Incoming::Text)
        .map_err(|_| Violation::NOT_UTF8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::{client_frame, CLOSE_INVALID_DATA, CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG};

    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        client_frame(first, payload, [9, 8, 7, 6])
    }

    /// Everything `bytes` holds, parsed as if read in one go.
    fn parse_all(max: usize, bytes: &[u8]) -> (Vec<Incoming>, Option<Violation>) {
        let mut reader = Reader::new(max, bytes);
        let mut out = Vec::new();
        loop {
            match reader.next_buffered() {
                Ok(Some(incoming)) => out.push(incoming),
                Ok(None) => return (out, None),
                Err(violation) => return (out, Some(violation)),
            }
        }
    }

    #[test]
    fn frames_in_one_read_come_out_one_by_one_and_the_buffer_is_released() {
        let mut bytes = frame(0x81, b"one");
        bytes.extend(frame(0x89, b"p"));
        bytes.extend(frame(0x82, &[1, 2, 3]));
        bytes.extend(frame(0x8A, b""));
        let mut reader = Reader::new(1024, &bytes);
        assert_eq!(
            reader.next_buffered(),
            Ok(Some(Incoming::Text("one".into())))
        );
        assert_eq!(
            reader.next_buffered(),
            Ok(Some(Incoming::Ping(b"p".to_vec())))
        );
        assert_eq!(reader.next_buffered(), Ok(Some(Incoming::Binary)));
        assert_eq!(reader.next_buffered(), Ok(Some(Incoming::Pong)));
        assert_eq!(reader.next_buffered(), Ok(None));
        assert_eq!(reader.buf.capacity(), 0, "an idle reader keeps no buffer");
    }

    #[test]
    fn an_incomplete_frame_waits_for_the_rest() {
        let bytes = frame(0x81, "héllo".as_bytes());
        for cut in 0..bytes.len() {
            let mut reader = Reader::new(1024, &bytes[..cut]);
            assert_eq!(reader.next_buffered(), Ok(None), "cut at {cut}");
            reader.buf.extend_from_slice(&bytes[cut..]);
            assert_eq!(
                reader.next_buffered(),
                Ok(Some(Incoming::Text("héllo".into())))
            );
        }
    }

    #[test]
    fn fragments_are_joined_with_control_frames_between_them() {
        // "é" split across two fragments: only the whole message is checked.
        let e = "é".as_bytes();
        let mut bytes = frame(0x01, &[b'a', e[0]]);
        bytes.extend(frame(0x89, b""));
        bytes.extend(frame(0x00, &[e[1]]));
        bytes.extend(frame(0x80, b"z"));
        let (out, error) = parse_all(1024, &bytes);
        assert_eq!(error, None);
        assert_eq!(
            out,
            vec![Incoming::Ping(vec![]), Incoming::Text("aéz".into())]
        );
    }

    #[test]
    fn fragment_rules_are_enforced() {
        let (_, error) = parse_all(1024, &frame(0x80, b"x"));
        assert_eq!(error.map(|v| v.code), Some(CLOSE_PROTOCOL_ERROR));
        let mut bytes = frame(0x01, b"a");
        bytes.extend(frame(0x81, b"b"));
        let (_, error) = parse_all(1024, &bytes);
        assert_eq!(error.map(|v| v.code), Some(CLOSE_PROTOCOL_ERROR));
    }

    #[test]
    fn the_size_limit_covers_the_whole_fragmented_message() {
        let mut bytes = frame(0x01, &[b'a'; 600]);
        bytes.extend(frame(0x80, &[b'b'; 500]));
        let (out, error) = parse_all(1000, &bytes);
        assert!(out.is_empty());
        assert_eq!(error.map(|v| v.code), Some(CLOSE_TOO_BIG));
        let (out, error) = parse_all(1100, &bytes);
        assert_eq!(error, None);
        assert_eq!(out.len(), 1);
    }

    proptest::proptest! {
        /// However the messages are fragmented and however the bytes are
        /// cut into reads, the same messages come out, in order.
        #[test]
        fn any_fragmentation_and_any_reads_give_the_same_messages(
            texts in proptest::collection::vec(".{0,40}", 1..6),
            cuts in proptest::collection::vec(1usize..20, 1..30),
            pieces in 1usize..4,
        ) {
            let mut bytes = Vec::new();
            for text in &texts {
                let data = text.as_bytes();
                let step = data.len().div_ceil(pieces).max(1);
                let chunks: Vec<&[u8]> = if data.is_empty() { vec![data] } else { data.chunks(step).collect() };
                for (i, chunk) in chunks.iter().enumerate() {
                    let opcode = if i == 0 { 0x1 } else { 0x0 };
                    let fin = if i + 1 == chunks.len() { 0x80 } else { 0 };
                    bytes.extend(frame(fin | opcode, chunk));
                }
            }
            let mut reader = Reader::new(1 << 16, &[]);
            let mut out = Vec::new();
            let mut at = 0;
            for cut in cuts.iter().cycle() {
                if at >= bytes.len() {
                    break;
                }
                let end = (at + cut).min(bytes.len());
                reader.buf.extend_from_slice(&bytes[at..end]);
                at = end;
                while let Some(incoming) = reader.next_buffered().expect("valid frames") {
                    out.push(incoming);
                }
            }
            let expected: Vec<Incoming> = texts.iter().cloned().map(Incoming::Text).collect();
            proptest::prop_assert_eq!(out, expected);
        }
    }

    #[test]
    fn invalid_utf8_and_bad_close_frames_are_refused() {
        let (_, error) = parse_all(1024, &frame(0x81, &[0xff, 0xfe]));
        assert_eq!(error.map(|v| v.code), Some(CLOSE_INVALID_DATA));
        let (out, error) = parse_all(1024, &frame(0x88, &[0x03, 0xe8, b'o', b'k']));
        assert_eq!(error, None);
        assert_eq!(out, vec![Incoming::Close(Some((1000, "ok".into())))]);
        let (_, error) = parse_all(1024, &frame(0x88, &[0x03]));
        assert_eq!(error.map(|v| v.code), Some(CLOSE_PROTOCOL_ERROR));
    }
}
