//! WebSocket frames (RFC 6455 §5), as a server sees them: client frame
//! headers parsed and checked, server frame headers written, close payloads
//! read and made. Pure functions, no I/O.

/// Close code: a WebSocket protocol violation (an unmasked client frame, …).
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code: text that is not UTF-8.
pub const CLOSE_INVALID_DATA: u16 = 1007;
/// Close code: a message over the size limit.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// Control frames carry at most this many payload bytes (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// The longest header a server frame needs: 2 bytes and a 64-bit length.
pub const MAX_SERVER_HEADER: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// What the peer got wrong, as the close code and reason to answer it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub reason: &'static str,
}

impl Violation {
    pub const fn protocol(reason: &'static str) -> Self {
        Violation {
            code: CLOSE_PROTOCOL_ERROR,
            reason,
        }
    }

    pub const TOO_BIG: Violation = Violation {
        code: CLOSE_TOO_BIG,
        reason: "message too big",
    };

    pub const NOT_UTF8: Violation = Violation {
        code: CLOSE_INVALID_DATA,
        reason: "text is not valid UTF-8",
    };
}

/// A client frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    pub opcode: Opcode,
    pub mask: [u8; 4],
    /// Payload length in bytes (at most the limit it was parsed with).
    pub len: usize,
    /// Bytes the header itself takes.
    pub header_len: usize,
}

/// Parse the header of a client frame at the start of `buf`. `Ok(None)`
/// when `buf` does not hold the whole header yet. A data frame longer than
/// `max_payload` is refused here, before any of its payload is read
/// (control frames have their own limit).
pub fn parse_client_header(buf: &[u8], max_payload: usize) -> Result<Option<Header>, Violation> {
    let [first, second, ..] = *buf else {
        return Ok(None);
    };
    if first & 0x70 != 0 {
        return Err(Violation::protocol(
            "reserved bits set (no extension was agreed)",
        ));
    }
    let opcode = Opcode::from_bits(first & 0x0F).ok_or(Violation::protocol("unknown opcode"))?;
    let fin = first & 0x80 != 0;
    if second & 0x80 == 0 {
        return Err(Violation::protocol("client frames must be masked"));
    }
    let (len, len_bytes) = match second & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 2),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(b);
                (u64::from_be_bytes(be), 8)
            }
            None => return Ok(None),
        },
        short => (u64::from(short), 0),
    };
    if opcode.is_control() {
        if !fin {
            return Err(Violation::protocol("fragmented control frame"));
        }
        if len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(Violation::protocol("control frame too long"));
        }
    }
    if len >> 63 != 0 {
        return Err(Violation::protocol("frame length out of range"));
    }
    if !opcode.is_control() && len > max_payload as u64 {
        return Err(Violation::TOO_BIG);
    }
    let mask_at = 2 + len_bytes;
    let Some(mask) = buf.get(mask_at..mask_at + 4) else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin,
        opcode,
        mask: [mask[0], mask[1], mask[2], mask[3]],
        // Within `max_payload`, a usize.
        len: len as usize,
        header_len: mask_at + 4,
    }))
}

/// Unmask a payload in place (§5.3).
pub fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = payload.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let value = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&value.to_ne_bytes());
    }
    for (byte, key) in chunks.into_remainder().iter_mut().zip(mask) {
        *byte ^= key;
    }
}

/// Unmask part of a payload in place: `part` starts `offset` bytes into
/// the payload (the mask goes on where the part before it left off).
pub fn unmask_from(part: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut rotated = mask;
    rotated.rotate_left(offset % 4);
    unmask(part, rotated);
}

/// The header of a final, unmasked server frame with `len` payload bytes:
/// the buffer and how many of its bytes are used.
pub fn server_header(opcode: Opcode, len: usize) -> ([u8; MAX_SERVER_HEADER], usize) {
    let mut head = [0u8; MAX_SERVER_HEADER];
    head[0] = 0x80 | opcode.bits();
    let used = if len < 126 {
        head[1] = len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        head[1] = 126;
        head[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        head[1] = 127;
        head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (head, used)
}

/// May a peer send this close code (§7.4)? 1005, 1006 and 1015 are never
/// sent; 1004 and 1016–2999 are reserved; 3000–4999 belong to libraries
/// and applications.
pub fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Read a close frame's payload: its code and reason, `None` for an empty
/// payload (no code given).
pub fn parse_close(payload: &[u8]) -> Result<Option<(u16, &str)>, Violation> {
    match payload {
        [] => Ok(None),
        [_] => Err(Violation::protocol("close payload of one byte")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !close_code_allowed(code) {
                return Err(Violation::protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| Violation::NOT_UTF8)?;
            Ok(Some((code, reason)))
        }
    }
}

/// A close frame's payload: the code, then as much of `reason` as fits in
/// a control frame, cut at a character boundary.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

/// A masked frame as a client sends it: `first` is the FIN bit, the RSV
/// bits and the opcode. The server never sends one; tests and tools that
/// speak WebSocket by hand do.
pub fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(first);
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= u16::MAX as usize => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_text_frame_parses_and_unmasks() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        for len in [0usize, 1, 5, 125, 126, 1000, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let frame = client_frame(0x81, &payload, mask);
            let header = parse_client_header(&frame, 100_000)
                .expect("valid")
                .expect("complete");
            assert_eq!(header.opcode, Opcode::Text);
            assert!(header.fin);
            assert_eq!(header.len, len);
            assert_eq!(header.header_len + len, frame.len());
            let mut body = frame[header.header_len..].to_vec();
            unmask(&mut body, header.mask);
            assert_eq!(body, payload, "len {len}");
            // Every strict prefix of the header is incomplete, not an error.
            for cut in 0..header.header_len {
                assert_eq!(parse_client_header(&frame[..cut], 100_000), Ok(None));
            }
        }
    }

    #[test]
    fn protocol_violations_are_named_with_1002() {
        let mask = [1, 2, 3, 4];
        let cases: [(Vec<u8>, &str); 6] = [
            (vec![0x81, 0x05, b'h', b'e', b'l', b'l', b'o'], "unmasked"),
            (client_frame(0xC1, b"x", mask), "rsv1"),
            (client_frame(0x83, b"x", mask), "opcode 3"),
            (client_frame(0x8B, b"x", mask), "opcode 0xB"),
            (client_frame(0x09, b"x", mask), "fragmented ping"),
            (client_frame(0x89, &[0u8; 126], mask), "long ping"),
        ];
        for (frame, what) in cases {
            let refused = parse_client_header(&frame, 1 << 20).expect_err(what);
            assert_eq!(refused.code, CLOSE_PROTOCOL_ERROR, "{what}");
        }
    }

    #[test]
    fn an_oversize_frame_is_refused_from_its_header_alone() {
        let mut head = vec![0x82, 0x80 | 127];
        head.extend_from_slice(&(1u64 << 40).to_be_bytes());
        head.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(parse_client_header(&head, 65_536), Err(Violation::TOO_BIG));
        let mut head = vec![0x81, 0x80 | 126];
        head.extend_from_slice(&1001u16.to_be_bytes());
        assert_eq!(parse_client_header(&head, 1000), Err(Violation::TOO_BIG));
        let mut huge = vec![0x81, 0x80 | 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        huge.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            parse_client_header(&huge, usize::MAX).map_err(|v| v.code),
            Err(CLOSE_PROTOCOL_ERROR)
        );
    }

    #[test]
    fn server_headers_use_the_shortest_length_encoding() {
        assert_eq!(
            server_header(Opcode::Text, 5),
            ([0x81, 5, 0, 0, 0, 0, 0, 0, 0, 0], 2)
        );
        let (head, used) = server_header(Opcode::Text, 126);
        assert_eq!(&head[..used], &[0x81, 126, 0, 126]);
        let (head, used) = server_header(Opcode::Binary, 65_535);
        assert_eq!(&head[..used], &[0x82, 126, 0xff, 0xff]);
        let (head, used) = server_header(Opcode::Ping, 65_536);
        assert_eq!(&head[..used], &[0x89, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn close_payloads_round_trip_and_bad_ones_are_refused() {
        assert_eq!(parse_close(&[]), Ok(None));
        let payload = close_payload(4008, "slow consumer");
        assert_eq!(parse_close(&payload), Ok(Some((4008, "slow consumer"))));
        assert_eq!(parse_close(&[3]).map_err(|v| v.code), Err(1002));
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let payload = code.to_be_bytes();
            assert_eq!(
                parse_close(&payload).map_err(|v| v.code),
                Err(1002),
                "{code}"
            );
        }
        assert_eq!(parse_close(&[0x03, 0xe8, 0xff]), Err(Violation::NOT_UTF8));
        // A long reason is cut to fit a control frame, on a character boundary.
        let long = "é".repeat(100);
        let payload = close_payload(1000, &long);
        assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        let (_, reason) = parse_close(&payload).expect("valid").expect("code");
        assert_eq!(reason, "é".repeat(61));
    }

    #[test]
    fn unmasking_in_parts_is_unmasking_the_whole() {
        let mask = [0xa1, 0x02, 0x7f, 0xee];
        let data: Vec<u8> = (0..37u8).map(|i| i.wrapping_mul(11)).collect();
        let mut whole = data.clone();
        unmask(&mut whole, mask);
        for cut in 0..=data.len() {
            let mut parts = data.clone();
            let (head, tail) = parts.split_at_mut(cut);
            unmask_from(head, mask, 0);
            unmask_from(tail, mask, cut);
            assert_eq!(parts, whole, "cut at {cut}");
        }
    }

    #[test]
    fn unmask_matches_the_byte_by_byte_definition() {
        let mask = [0xa1, 0x02, 0x7f, 0xee];
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7)).collect();
            let mut fast = data.clone();
            unmask(&mut fast, mask);
            let slow: Vec<u8> = data
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            assert_eq!(fast, slow);
        }
    }
}
