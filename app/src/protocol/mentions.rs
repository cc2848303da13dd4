//! `@name` in a message's text: who it mentions.
//!
//! A mention is `@` and a handle (1 to 32 ASCII letters, digits, `_` or
//! `-`), not preceded by a letter, digit, `_`, `-`, `.` or another `@` (so
//! `ann@example.com` is not one). `@room` mentions everyone in a room.
//! The server decides which of these name someone who may be mentioned
//! there and stores them with the message (`Message::mentions`); the text
//! stays as typed.

/// The handle that means "everyone in the room".
pub const ROOM: &str = "room";

/// Most people one message may mention.
pub const MAX_MENTIONS: usize = 50;

fn handle_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The `@name`s of `text`, in order: (start of the `@`, end of the name)
/// byte ranges.
pub fn spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'@' {
            i += 1;
            continue;
        }
        let before_ok = i == 0 || {
            let b = bytes[i - 1];
            !(handle_byte(b) || b == b'.' || b == b'@')
        };
        let mut end = i + 1;
        while end < bytes.len() && handle_byte(bytes[end]) && end - i <= 32 {
            end += 1;
        }
        let len = end - i - 1;
        let after_ok = end >= bytes.len() || !handle_byte(bytes[end]);
        if before_ok && (1..=32).contains(&len) && after_ok {
            out.push((i, end));
        }
        i = end.max(i + 1);
    }
    out
}

/// The names `text` mentions, lowercase, each once, in order of first
/// mention, at most [`MAX_MENTIONS`] (and `room` among them when written).
pub fn mentioned(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (start, end) in spans(text) {
        let name = text[start + 1..end].to_ascii_lowercase();
        if !names.contains(&name) {
            names.push(name);
            if names.len() == MAX_MENTIONS {
                break;
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_where_a_name_starts() {
        assert_eq!(
            mentioned("hi @Ann and @bob_2, @ann again"),
            ["ann", "bob_2"]
        );
        assert_eq!(mentioned("（@小明 is not a handle）@ming。"), ["ming"]);
        assert_eq!(
            mentioned("mail ann@example.com or @@ann or .@ann"),
            Vec::<String>::new()
        );
        assert_eq!(mentioned("@room: standup!"), ["room"]);
        assert_eq!(mentioned("@"), Vec::<String>::new());
        let long = format!("@{}", "a".repeat(33));
        assert_eq!(mentioned(&long), Vec::<String>::new());
        let text = "x @ann y";
        assert_eq!(spans(text), [(2, 6)]);
        assert_eq!(&text[2..6], "@ann");
    }
}
