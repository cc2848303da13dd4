//! The composer's `@` autocomplete: what is being typed, who fits it, and
//! the text once someone is chosen. Plain data, tested natively.

use super::Chat;
use crate::protocol::{mentions::ROOM, Conv};

/// Most people offered at once.
pub const MAX_SUGGESTIONS: usize = 8;

/// The `@…` being typed just before the caret (`caret`, a byte offset):
/// where its `@` is, and what follows it. None when the caret is not at
/// the end of one (an email address, or a word without `@`).
pub fn typed_at(text: &str, caret: usize) -> Option<(usize, &str)> {
    let before = text.get(..caret)?;
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[start..];
    let query = word.strip_prefix('@')?;
    if query.contains('@') || query.chars().count() > 32 {
        return None;
    }
    Some((start, query))
}

/// One person to offer: handle and what they are shown as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    pub handle: String,
    pub display: String,
}

/// Who in `conv` fits `query`: a handle that starts with it, then a
/// display name that starts with it or has a word that does (ASCII
/// letters in any case: Unicode case tables would weigh on the web app);
/// never the writer; `@room` first when it fits and the writer may use it.
pub fn suggestions(chat: &Chat, conv: &Conv, query: &str) -> Vec<Suggestion> {
    let me = chat.user().unwrap_or_default();
    let q = query.to_ascii_lowercase();
    let people: Vec<String> = match conv {
        Conv::Room(_) => chat
            .thread_of(conv)
            .and_then(|t| t.member_names.clone())
            .unwrap_or_default(),
        Conv::Dm(peer) => vec![peer.clone()],
        Conv::Guest(_) => Vec::new(),
    };
    let mut ranked: Vec<(u8, Suggestion)> = people
        .into_iter()
        .filter(|handle| !handle.eq_ignore_ascii_case(me))
        .filter_map(|handle| {
            let display = chat.display_of(&handle).to_owned();
            let shown = display.to_ascii_lowercase();
            let rank = if handle.to_ascii_lowercase().starts_with(&q) {
                0
            } else if shown.starts_with(&q) {
                1
            } else if shown.split_whitespace().any(|w| w.starts_with(&q)) {
                2
            } else {
                return None;
            };
            Some((rank, Suggestion { handle, display }))
        })
        .collect();
    ranked.sort_by(|a, b| (a.0, &a.1.handle).cmp(&(b.0, &b.1.handle)));
    let staff = chat.thread_of(conv).is_some_and(|t| t.room.is_staff());
    let mut out = Vec::with_capacity(MAX_SUGGESTIONS);
    if matches!(conv, Conv::Room(_)) && staff && ROOM.starts_with(&q) {
        out.push(Suggestion {
            handle: ROOM.to_owned(),
            display: "Everyone in the room".to_owned(),
        });
    }
    out.extend(ranked.into_iter().map(|(_, s)| s));
    out.truncate(MAX_SUGGESTIONS);
    out
}

/// `text` with the `@…` at `start` (typed up to `caret`) replaced by
/// `@handle ` , and where the caret goes after it.
pub fn complete(text: &str, start: usize, caret: usize, handle: &str) -> (String, usize) {
    let inserted = format!("@{handle} ");
    let rest = text.get(caret..).unwrap_or_default();
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let out = format!("{}{inserted}{rest}", text.get(..start).unwrap_or_default());
    (out, start + inserted.len())
}

/// The byte offset of the `utf16`th UTF-16 unit of `text` (a browser's
/// caret position), and back.
pub fn byte_of_utf16(text: &str, utf16: usize) -> usize {
    let mut units = 0;
    for (i, c) in text.char_indices() {
        if units >= utf16 {
            return i;
        }
        units += c.len_utf16();
    }
    text.len()
}

pub fn utf16_of_byte(text: &str, byte: usize) -> usize {
    text.get(..byte).map_or(0, |t| t.encode_utf16().count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ConversationInfo, Named, ServerFrame};

    #[test]
    fn the_at_word_before_the_caret() {
        assert_eq!(typed_at("hi @an", 6), Some((3, "an")));
        assert_eq!(typed_at("@", 1), Some((0, "")));
        assert_eq!(typed_at("hi @an and", 6), Some((3, "an")));
        assert_eq!(typed_at("mail ann@ex", 11), None);
        assert_eq!(typed_at("hi @an ", 7), None);
        assert_eq!(
            typed_at("你好 @小", "你好 @小".len()),
            Some(("你好 ".len(), "小"))
        );
    }

    #[test]
    fn carets_convert_between_utf16_and_bytes() {
        let text = "a😀小b";
        assert_eq!(byte_of_utf16(text, 3), 5);
        assert_eq!(byte_of_utf16(text, 4), 8);
        assert_eq!(byte_of_utf16(text, 99), text.len());
        assert_eq!(utf16_of_byte(text, 8), 4);
    }

    #[test]
    fn completing_replaces_the_typed_word() {
        assert_eq!(
            complete("hi @an how", 3, 6, "ann"),
            ("hi @ann how".to_owned(), 8)
        );
        assert_eq!(complete("@r", 0, 2, "room"), ("@room ".to_owned(), 6));
    }

    #[test]
    fn members_are_offered_by_handle_then_display_name() {
        let mut chat = Chat::default();
        chat.apply(
            ServerFrame::Welcome {
                version: 1,
                user: "ann".into(),
                display: None,
                names: vec![Named {
                    user: "ming".into(),
                    display: "小明 Wang".into(),
                }],
                conversations: vec![ConversationInfo {
                    conv: Conv::Room("dev".into()),
                    last_seq: 0,
                    read_seq: 0,
                    unread: 0,
                    members: Some(4),
                    role: Some(crate::protocol::Role::Owner),
                    muted_until: None,
                    topic: String::new(),
                    private: false,
                    title: String::new(),
                    mentions: 0,
                    notify: Default::default(),
                }],
                online: vec![],
                invites: vec![],
                blocked: vec![],
            },
            0,
        );
        chat.apply(
            ServerFrame::Members {
                room: "dev".into(),
                users: vec!["ann".into(), "bob".into(), "ming".into(), "wanda".into()],
                total: 4,
                staff: vec![],
                muted: vec![],
                names: vec![],
            },
            0,
        );
        let dev = Conv::Room("dev".into());
        let handles = |q: &str| -> Vec<String> {
            suggestions(&chat, &dev, q)
                .into_iter()
                .map(|s| s.handle)
                .collect()
        };
        assert_eq!(
            handles(""),
            ["room", "bob", "ming", "wanda"],
            "never oneself"
        );
        assert_eq!(
            handles("w"),
            ["wanda", "ming"],
            "handle first, then a word of a name"
        );
        assert_eq!(handles("小"), ["ming"]);
        assert_eq!(handles("ro"), ["room"]);
        assert!(handles("zz").is_empty());
    }
}
