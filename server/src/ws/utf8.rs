//! UTF-8 checked as it arrives: a text message is refused (1007) as soon as
//! a byte that no valid text could continue with is in, not once its last
//! fragment is (RFC 6455 §8.1: "fail fast"). The pieces may be cut
//! anywhere, inside a character too.

use super::frame::Violation;

/// The state between pieces: the start of a character the last piece cut
/// off (at most 3 bytes). Nothing else is kept.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Check {
    partial: [u8; 3],
    partial_len: u8,
}

impl Utf8Check {
    /// The next piece of the text. `Err` as soon as the text so far can no
    /// longer be the start of valid UTF-8; a character cut at the end of
    /// `bytes` waits for the next piece.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Violation> {
        if self.partial_len > 0 {
            // Finish the cut character first, from the head of `bytes`.
            let have = usize::from(self.partial_len);
            let take = (char_width(self.partial[0]) - have).min(bytes.len());
            let mut char_bytes = [0u8; 4];
            char_bytes[..have].copy_from_slice(&self.partial[..have]);
            char_bytes[have..have + take].copy_from_slice(&bytes[..take]);
            match std::str::from_utf8(&char_bytes[..have + take]) {
                Ok(_) => self.partial_len = 0,
                // Still cut: `bytes` ended first.
                Err(e) if e.error_len().is_none() => {
                    self.keep(&char_bytes[..have + take]);
                    return Ok(());
                }
                Err(_) => return Err(Violation::NOT_UTF8),
            }
            bytes = &bytes[take..];
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                self.keep(&bytes[e.valid_up_to()..]);
                Ok(())
            }
            Err(_) => Err(Violation::NOT_UTF8),
        }
    }

    /// The text is over: `Err` if it ended inside a character.
    pub fn finish(&mut self) -> Result<(), Violation> {
        let cut = self.partial_len > 0;
        *self = Utf8Check::default();
        if cut {
            Err(Violation::NOT_UTF8)
        } else {
            Ok(())
        }
    }

    /// Keep the start of a cut character (`from_utf8` says it is at most 3
    /// bytes: the start of a valid sequence).
    fn keep(&mut self, start: &[u8]) {
        self.partial[..start.len()].copy_from_slice(start);
        self.partial_len = start.len() as u8;
    }
}

/// How many bytes the character whose first byte is `lead` takes (`lead`
/// begins a valid multi-byte sequence).
fn char_width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `pieces` one by one: the index of the piece refused, if any,
    /// and whether `finish` then accepts.
    fn run(pieces: &[&[u8]]) -> (Option<usize>, bool) {
        let mut check = Utf8Check::default();
        for (i, piece) in pieces.iter().enumerate() {
            if check.feed(piece).is_err() {
                return (Some(i), false);
            }
        }
        (None, check.finish().is_ok())
    }

    #[test]
    fn characters_cut_anywhere_are_accepted() {
        let text = "aé€😀z".as_bytes();
        for a in 0..=text.len() {
            for b in a..=text.len() {
                let pieces = [&text[..a], &text[a..b], &text[b..]];
                assert_eq!(run(&pieces), (None, true), "cut at {a} and {b}");
            }
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(run(&bytes), (None, true));
    }

    #[test]
    fn an_invalid_byte_is_refused_in_the_piece_it_arrives_in() {
        // "κόσμε" then an invalid byte: refused in piece 1, before the rest.
        let good = "κόσμε".as_bytes();
        assert_eq!(run(&[good, &[0xff], b"more"]).0, Some(1));
        // A surrogate (ED A0 80), cut after its second byte: ED A0 can
        // begin nothing valid, so the second piece is refused.
        assert_eq!(run(&[b"a", &[0xed], &[0xa0], &[0x80]]).0, Some(2));
        // Past U+10FFFF (F4 90 ...), cut after the lead byte.
        assert_eq!(run(&[&[0xf4], &[0x90, 0x80, 0x80]]).0, Some(1));
        // A continuation byte completing nothing.
        assert_eq!(run(&[&[0xc3], &[0xa9, 0x80]]).0, Some(1));
        // A character cut at the very end: accepted piece by piece, refused
        // at the end.
        assert_eq!(run(&[b"ok", &[0xe2, 0x82]]), (None, false));
    }

    proptest::proptest! {
        /// Fed in any pieces, the check refuses exactly the first piece
        /// after which the text so far is no valid UTF-8 prefix (what
        /// `from_utf8` calls an error with a length), and otherwise agrees
        /// with `from_utf8` on the whole.
        #[test]
        fn piece_by_piece_agrees_with_from_utf8_on_each_prefix(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    0x00u8..0x80,
                    0x80u8..0xC0,
                    0xC2u8..0xF5,
                    proptest::prelude::any::<u8>(),
                ],
                0..40,
            ),
            cuts in proptest::collection::vec(0usize..40, 0..6),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut at = 0;
            for cut in cuts {
                pieces.push(&bytes[at..cut]);
                at = cut;
            }
            let mut expected_refusal = None;
            let mut end = 0;
            for (i, piece) in pieces.iter().enumerate() {
                end += piece.len();
                if let Err(e) = std::str::from_utf8(&bytes[..end]) {
                    if e.error_len().is_some() {
                        expected_refusal = Some(i);
                        break;
                    }
                }
            }
            let (refused, finished) = run(&pieces);
            proptest::prop_assert_eq!(refused, expected_refusal);
            if refused.is_none() {
                proptest::prop_assert_eq!(finished, std::str::from_utf8(&bytes).is_ok());
            }
        }
    }
}
