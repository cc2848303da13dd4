//! The writing half of a server-side WebSocket: frames waiting for the
//! socket, written many at a time with one vectored write.
//!
//! A frame is its header (a few bytes, kept inline) and its payload, a
//! shared [`Bytes`]: a message fanned out to a thousand sockets is one
//! allocation, never copied into a per-socket buffer. Nothing is kept while
//! there is nothing to write.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::net::TcpStream;

use super::frame::{close_payload, server_header, Opcode, MAX_SERVER_HEADER};

/// Most slices one vectored write takes (two a frame).
const MAX_SLICES: usize = 128;

struct Frame {
    head: [u8; MAX_SERVER_HEADER],
    head_len: u8,
    payload: Bytes,
}

impl Frame {
    fn len(&self) -> usize {
        self.head_len as usize + self.payload.len()
    }
}

#[derive(Default)]
pub struct Writer {
    frames: VecDeque<Frame>,
    /// Bytes of the first frame already written.
    written: usize,
    /// Bytes waiting, the first frame's written part excluded.
    pending: usize,
}

impl Writer {
    /// Queue a final frame.
    pub fn push(&mut self, opcode: Opcode, payload: Bytes) {
        let (head, head_len) = server_header(opcode, payload.len());
        let frame = Frame {
            head,
            head_len: head_len as u8,
            payload,
        };
        self.pending += frame.len();
        self.frames.push_back(frame);
    }

    pub fn push_text(&mut self, text: Bytes) {
        self.push(Opcode::Text, text);
    }

    pub fn push_close(&mut self, code: u16, reason: &str) {
        self.push(Opcode::Close, Bytes::from(close_payload(code, reason)));
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Bytes not yet written.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Write until nothing is left (`Ready(Ok)`) or the socket takes no
    /// more for now (`Pending`, woken when it does).
    pub fn poll_flush(&mut self, stream: &TcpStream, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.frames.is_empty() {
            ready!(stream.poll_write_ready(cx))?;
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut used = 0;
            let mut skip = self.written;
            for frame in self.frames.iter() {
                if used + 2 > MAX_SLICES {
                    break;
                }
                let head = &frame.head[..frame.head_len as usize];
                for part in [head, &frame.payload[..]] {
                    if skip >= part.len() {
                        skip -= part.len();
                        continue;
                    }
                    slices[used] = IoSlice::new(&part[skip..]);
                    skip = 0;
                    used += 1;
                }
            }
            match stream.try_write_vectored(&slices[..used]) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        // Drained: an idle socket keeps no storage.
        self.frames = VecDeque::new();
        Poll::Ready(Ok(()))
    }

    /// `n` more bytes were written.
    fn advance(&mut self, mut n: usize) {
        self.pending -= n;
        while let Some(first) = self.frames.front() {
            let left = first.len() - self.written;
            if n < left {
                self.written += n;
                return;
            }
            n -= left;
            self.written = 0;
            self.frames.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_through_frames_and_their_parts() {
        let mut writer = Writer::default();
        writer.push_text(Bytes::from_static(b"hello")); // 2 + 5
        writer.push_text(Bytes::from_static(b"hi")); // 2 + 2
        assert_eq!(writer.pending(), 11);
        writer.advance(1);
        assert_eq!(
            (writer.frames.len(), writer.written, writer.pending),
            (2, 1, 10)
        );
        writer.advance(6);
        assert_eq!(
            (writer.frames.len(), writer.written, writer.pending),
            (1, 0, 4)
        );
        writer.advance(4);
        assert!(writer.is_empty());
        assert_eq!(writer.pending(), 0);
    }
}
