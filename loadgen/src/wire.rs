//! The wire protocol (version 1, `docs/protocol.md`) as the load generator
//! needs it: client frames built as text, and server frames classified with
//! a fast path for the three hot ones (`message`, `change` and `ack`), which
//! serde serializes with `type` first.
//!
//! The bodies and client ids the generator sends contain only ASCII letters,
//! digits, spaces and dots, so they never need JSON escaping.

/// How a server text frame is understood.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A `message`; `body` is `None` when it could not be read cheaply
    /// (escaped characters: not one of ours).
    Message {
        body: Option<&'a str>,
    },
    /// A `change` (edit, delete, react, unreact); `client_id` is `None`
    /// when the change carries none or it has escapes (not one of ours).
    Change {
        client_id: Option<&'a str>,
    },
    /// The ack of a message or a change; `seq` is its place in the
    /// conversation's log (`None` if it could not be read).
    Ack {
        client_id: &'a str,
        seq: Option<u64>,
    },
    Synced,
    /// `joined`, with the room's newest seq then.
    Joined {
        last_seq: i64,
    },
    Error {
        code: String,
        client_id: Option<String>,
    },
    /// Anything else (`welcome`, `presence`, `member`, `pong`, …).
    Other,
}

const MESSAGE: &str = r#"{"type":"message","#;
const CHANGE: &str = r#"{"type":"change","change":{"#;
const ACK: &str = r#"{"type":"ack","client_id":""#;

/// Classify a server frame.
pub fn classify(text: &str) -> Incoming<'_> {
    if text.starts_with(MESSAGE) {
        return Incoming::Message {
            body: string_field(text, r#""body":""#),
        };
    }
    if text.starts_with(CHANGE) {
        // `client_id` comes before `body` and `emoji`, and after fields that
        // hold only numbers and names, so its first occurrence is the one.
        return Incoming::Change {
            client_id: string_field(text, r#""client_id":""#),
        };
    }
    if let Some(rest) = text.strip_prefix(ACK) {
        if let Some(end) = rest.find('"') {
            return Incoming::Ack {
                client_id: &rest[..end],
                seq: number_field(&rest[end..], r#""seq":"#),
            };
        }
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Incoming::Other;
    };
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_string);
    match value.get("type").and_then(|t| t.as_str()) {
        Some("synced") => Incoming::Synced,
        Some("joined") => Incoming::Joined {
            last_seq: value
                .pointer("/info/last_seq")
                .and_then(|n| n.as_i64())
                .unwrap_or(0),
        },
        Some("error") => Incoming::Error {
            code: field("code").unwrap_or_default(),
            client_id: field("client_id"),
        },
        _ => Incoming::Other,
    }
}

/// The raw value of a string field, if it has no escapes.
fn string_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let rest = &text[start..];
    let end = rest.find('"')?;
    let value = &rest[..end];
    (!value.contains('\\')).then_some(value)
}

/// An unsigned number field (the first occurrence of `key`).
pub fn number_field(text: &str, key: &str) -> Option<u64> {
    let start = text.find(key)? + key.len();
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

pub fn hello() -> String {
    r#"{"type":"hello","version":1}"#.to_string()
}

pub fn create_room(room: &str) -> String {
    format!(r#"{{"type":"create_room","room":"{room}"}}"#)
}

pub fn join_room(room: &str) -> String {
    format!(r#"{{"type":"join_room","room":"{room}"}}"#)
}

pub fn history_newest(room: &str) -> String {
    format!(r#"{{"type":"history","conv":{{"room":"{room}"}},"limit":1}}"#)
}

/// A `send` to a room.
pub fn send_room(client_id: &str, room: &str, body: &str) -> String {
    format!(
        r#"{{"type":"send","client_id":"{client_id}","conv":{{"room":"{room}"}},"body":"{body}"}}"#
    )
}

/// A `send` to a direct conversation.
pub fn send_dm(client_id: &str, user: &str, body: &str) -> String {
    format!(
        r#"{{"type":"send","client_id":"{client_id}","conv":{{"dm":"{user}"}},"body":"{body}"}}"#
    )
}

/// What a change does to the message at `seq` of a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeOp<'a> {
    Edit { body: &'a str },
    Delete,
    React { emoji: &'a str },
    Unreact { emoji: &'a str },
}

/// An `edit`, `delete`, `react` or `unreact` of the message at `seq` in `room`.
pub fn change_room(client_id: &str, room: &str, seq: u64, op: ChangeOp<'_>) -> String {
    let head = |kind: &str| {
        format!(
            r#"{{"type":"{kind}","client_id":"{client_id}","conv":{{"room":"{room}"}},"seq":{seq}"#
        )
    };
    match op {
        ChangeOp::Edit { body } => format!(r#"{},"body":"{body}"}}"#, head("edit")),
        ChangeOp::Delete => format!("{}}}", head("delete")),
        ChangeOp::React { emoji } => format!(r#"{},"emoji":"{emoji}"}}"#, head("react")),
        ChangeOp::Unreact { emoji } => format!(r#"{},"emoji":"{emoji}"}}"#, head("unreact")),
    }
}

/// A frame of the seed's direct endpoint `/ws/{name}`.
pub fn seed_direct(sender: &str, receiver: &str, data: &str) -> String {
    format!(r#"{{"sender":"{sender}","receiver":"{receiver}","data":"{data}"}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_frames_take_the_fast_path() {
        let m = r#"{"type":"message","message":{"id":7,"conv":{"room":"r"},"seq":3,"sender":"a","body":"1 0 5 99 xx","ts":1,"client_id":"1.0.5"}}"#;
        assert_eq!(
            classify(m),
            Incoming::Message {
                body: Some("1 0 5 99 xx")
            }
        );
        let escaped = r#"{"type":"message","message":{"body":"a\"b"}}"#;
        assert_eq!(classify(escaped), Incoming::Message { body: None });
        let a = r#"{"type":"ack","client_id":"1.0.5","id":7,"conv":{"room":"r"},"seq":3,"ts":1}"#;
        assert_eq!(
            classify(a),
            Incoming::Ack {
                client_id: "1.0.5",
                seq: Some(3)
            }
        );
        let a = r#"{"type":"ack","client_id":"c1.0.5.77","id":9,"conv":{"dm":"bob"},"seq":12345,"ts":1}"#;
        assert_eq!(
            classify(a),
            Incoming::Ack {
                client_id: "c1.0.5.77",
                seq: Some(12345)
            }
        );
    }

    #[test]
    fn changes_take_the_fast_path() {
        // As the server writes them (serde, fields in declaration order).
        let edit = r#"{"type":"change","change":{"id":12,"conv":{"room":"lobby"},"seq":44,"sender":"alice","ts":1764050001000,"client_id":"c3.0.7.123","target":42,"kind":"edit","body":"client_id fixed"}}"#;
        assert_eq!(
            classify(edit),
            Incoming::Change {
                client_id: Some("c3.0.7.123")
            }
        );
        let react = "{\"type\":\"change\",\"change\":{\"id\":13,\"conv\":{\"room\":\"r\"},\"seq\":45,\"sender\":\"bob\",\"ts\":1,\"client_id\":\"c4.0.1.9\",\"target\":42,\"kind\":\"react\",\"emoji\":\"\u{1F600}\"}}";
        assert_eq!(
            classify(react),
            Incoming::Change {
                client_id: Some("c4.0.1.9")
            }
        );
        // A change without a client id (made by someone else's client).
        let bare = r#"{"type":"change","change":{"id":1,"conv":{"room":"r"},"seq":2,"sender":"x","ts":1,"target":1,"kind":"delete"}}"#;
        assert_eq!(classify(bare), Incoming::Change { client_id: None });
    }

    #[test]
    fn change_frames_are_the_protocols() {
        let frame = |text: &str| serde_json::from_str::<serde_json::Value>(text).expect(text);
        let edit = frame(&change_room(
            "c1.0.1.5",
            "r1",
            42,
            ChangeOp::Edit { body: "new text" },
        ));
        assert_eq!(
            edit,
            serde_json::json!({"type":"edit","client_id":"c1.0.1.5","conv":{"room":"r1"},"seq":42,"body":"new text"})
        );
        let delete = frame(&change_room("c1.0.2.5", "r1", 42, ChangeOp::Delete));
        assert_eq!(
            delete,
            serde_json::json!({"type":"delete","client_id":"c1.0.2.5","conv":{"room":"r1"},"seq":42})
        );
        let react = frame(&change_room(
            "c1.0.3.5",
            "r1",
            7,
            ChangeOp::React { emoji: "\u{1F600}" },
        ));
        assert_eq!(
            react,
            serde_json::json!({"type":"react","client_id":"c1.0.3.5","conv":{"room":"r1"},"seq":7,"emoji":"\u{1F600}"})
        );
        let unreact = frame(&change_room(
            "c1.0.4.5",
            "r1",
            7,
            ChangeOp::Unreact { emoji: "\u{1F600}" },
        ));
        assert_eq!(unreact["type"], "unreact");
        assert_eq!(unreact["emoji"], "\u{1F600}");
    }

    #[test]
    fn other_frames_are_parsed() {
        assert_eq!(classify(r#"{"type":"synced"}"#), Incoming::Synced);
        assert_eq!(
            classify(r#"{"type":"error","code":"not_member","message":"x","client_id":"c"}"#),
            Incoming::Error {
                code: "not_member".into(),
                client_id: Some("c".into())
            }
        );
        assert_eq!(classify(r#"{"type":"pong","nonce":1}"#), Incoming::Other);
        assert_eq!(classify("not json"), Incoming::Other);
    }

    #[test]
    fn built_frames_are_json() {
        for text in [
            hello(),
            create_room("r1"),
            join_room("r1"),
            history_newest("r1"),
            send_room("1.0.1", "r1", "1 0 1 5 xxx"),
            send_dm("1.2.1", "bob", "x"),
            seed_direct("a", "b", "c"),
        ] {
            serde_json::from_str::<serde_json::Value>(&text).expect(&text);
        }
    }
}
