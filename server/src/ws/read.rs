//! The reading half of a server-side WebSocket: bytes from the socket to
//! whole messages and control frames, every rule of RFC 6455 checked.
//!
//! Nothing is kept while the peer is quiet: the read buffer exists only
//! between a read and the end of the frames it holds (or while a frame is
//! incomplete), and a fragmented message only until its last fragment.
//!
//! Text is checked as it arrives, frame by frame and read by read, so
//! invalid UTF-8 ends the connection (1007) without waiting for the rest
//! of the message ([`Utf8Check`]).

use std::io;
use std::task::{ready, Context, Poll};

use tokio::net::TcpStream;

use super::frame::{parse_client_header, parse_close, unmask_from, Opcode, Violation};
use super::utf8::Utf8Check;

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
    /// Payload bytes of the frame at `start` already unmasked (and, in a
    /// text message, checked) while the rest of the frame was on its way.
    unmasked: usize,
    /// The text message being read, checked as far as it has arrived.
    utf8: Utf8Check,
    /// A close frame came (valid or not): the peer will send nothing more.
    peer_closed: bool,
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
            unmasked: 0,
            utf8: Utf8Check::default(),
            peer_closed: false,
            max_message,
        }
    }

    /// Has the peer sent its close frame (valid or not)? Its side of the
    /// closing handshake is then over.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
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
            let text = self.carries_text(header.opcode)?;
            let payload_at = self.start + header.header_len;
            // Unmask (and check, for text) what arrived since the last look.
            let arrived = (self.buf.len() - payload_at).min(header.len);
            if arrived > self.unmasked {
                let fresh = &mut self.buf[payload_at + self.unmasked..payload_at + arrived];
                unmask_from(fresh, header.mask, self.unmasked);
                if text {
                    self.utf8.feed(fresh)?;
                }
                self.unmasked = arrived;
            }
            if arrived < header.len {
                return Ok(None);
            }
            self.unmasked = 0;
            self.start = payload_at + header.len;
            let incoming = self.frame(header.opcode, header.fin, payload_at, header.len)?;
            if let Some(incoming) = incoming {
                self.release_if_empty();
                return Ok(Some(incoming));
            }
        }
    }

    /// Is a frame with `opcode` part of a text message? Refuses a data
    /// frame out of sequence: a new message inside a fragmented one, or a
    /// continuation of none.
    fn carries_text(&self, opcode: Opcode) -> Result<bool, Violation> {
        match (opcode, &self.fragments) {
            (Opcode::Text | Opcode::Binary, Some(_)) => Err(Violation::protocol(
                "a new message began before the last one ended",
            )),
            (Opcode::Continuation, None) => {
                Err(Violation::protocol("continuation frame without a message"))
            }
            (Opcode::Continuation, Some(fragments)) => Ok(fragments.text),
            (opcode, _) => Ok(opcode == Opcode::Text),
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
                self.peer_closed = true;
                let close = parse_close(payload)?.map(|(code, reason)| (code, reason.to_string()));
                Ok(Some(Incoming::Close(close)))
            }
            // In sequence (`carries_text`), and text checked as it came.
            Opcode::Text | Opcode::Binary => {
                let text = opcode == Opcode::Text;
                if fin {
                    if text {
                        self.utf8.finish()?;
                    }
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
                if fragments.text {
                    self.utf8.finish()?;
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

/// A whole message; text was checked as it arrived (checked again here,
/// where it becomes a `String`).
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
        // "é" split across two fragments: a character cut at a fragment's
        // end waits for the next one.
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
    fn invalid_utf8_in_a_fragment_is_refused_before_the_message_ends() {
        // Cases 6.4.1/6.4.2: valid text, then a fragment with an invalid
        // sequence; the last fragment has not come yet.
        let mut bytes = frame(0x01, "κόσμε".as_bytes());
        bytes.extend(frame(0x00, &[0xf4, 0x90, 0x80, 0x80]));
        let (out, error) = parse_all(1024, &bytes);
        assert!(out.is_empty());
        assert_eq!(error, Some(Violation::NOT_UTF8));
        // Cut inside the invalid sequence, at a fragment boundary.
        let mut bytes = frame(0x01, &[b'a', 0xf4]);
        bytes.extend(frame(0x00, &[0x90]));
        let (_, error) = parse_all(1024, &bytes);
        assert_eq!(error, Some(Violation::NOT_UTF8));
        // A message that ends inside a character.
        let mut bytes = frame(0x01, b"a");
        bytes.extend(frame(0x80, &[0xe2, 0x82]));
        let (_, error) = parse_all(1024, &bytes);
        assert_eq!(error, Some(Violation::NOT_UTF8));
        // Binary messages are not text.
        let mut bytes = frame(0x02, &[0xff]);
        bytes.extend(frame(0x80, &[0xfe]));
        let (out, error) = parse_all(1024, &bytes);
        assert_eq!((out, error), (vec![Incoming::Binary], None));
    }

    #[test]
    fn invalid_utf8_in_a_frame_still_arriving_is_refused_at_once() {
        // Cases 6.4.3/6.4.4: one text frame, of which the invalid part has
        // arrived and the rest has not.
        let mut payload = "κόσμε".as_bytes().to_vec();
        payload.extend_from_slice(&[0xf4, 0x90, 0x80, 0x80]);
        payload.extend_from_slice(b"edited");
        let bytes = frame(0x81, &payload);
        let header_len = bytes.len() - payload.len();
        let valid_end = header_len + "κόσμε".len();
        // Arriving a byte at a time: nothing is refused before the 0x90
        // (F4 could still begin a valid character), then it is.
        let mut reader = Reader::new(1024, &[]);
        for (at, byte) in bytes.iter().enumerate() {
            reader.buf.push(*byte);
            let parsed = reader.next_buffered();
            if at <= valid_end {
                assert_eq!(parsed, Ok(None), "byte {at}");
            } else {
                assert_eq!(parsed, Err(Violation::NOT_UTF8), "byte {at}");
                return;
            }
        }
        panic!("never refused");
    }

    #[test]
    fn a_frame_arriving_in_pieces_is_unmasked_once() {
        // Text checked and unmasked as the pieces come, across reads that
        // cut characters and the mask's 4-byte cycle anywhere.
        let text = "aé€😀z".repeat(20);
        let bytes = frame(0x81, text.as_bytes());
        for step in 1..9 {
            let mut reader = Reader::new(1024, &[]);
            let mut out = Vec::new();
            for piece in bytes.chunks(step) {
                reader.buf.extend_from_slice(piece);
                if let Some(incoming) = reader.next_buffered().expect("valid") {
                    out.push(incoming);
                }
            }
            assert_eq!(out, vec![Incoming::Text(text.clone())], "step {step}");
            assert_eq!(reader.unmasked, 0);
        }
    }

    #[test]
    fn a_close_frame_is_noted_even_when_refused() {
        let mut reader = Reader::new(1024, &frame(0x81, b"hi"));
        assert_eq!(
            reader.next_buffered(),
            Ok(Some(Incoming::Text("hi".into())))
        );
        assert!(!reader.peer_closed());
        reader.buf.extend(frame(0x88, &[0x03]));
        assert!(reader.next_buffered().is_err());
        assert!(reader.peer_closed());
        let mut reader = Reader::new(1024, &frame(0x88, &[]));
        assert_eq!(reader.next_buffered(), Ok(Some(Incoming::Close(None))));
        assert!(reader.peer_closed());
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
