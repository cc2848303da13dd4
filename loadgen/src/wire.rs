//! The wire protocol (version 1, `docs/protocol.md`) as the load generator
//! needs it: client frames built as text, and server frames classified with
//! a fast path for the two hot ones (`message` and `ack`), which serde
//! serializes with `type` first.
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
    Ack {
        client_id: &'a str,
    },
    Synced,
    Joined,
    Error {
        code: String,
        client_id: Option<String>,
    },
    /// Anything else (`welcome`, `presence`, `member`, `pong`, …).
    Other,
}

const MESSAGE: &str = r#"{"type":"message","#;
const ACK: &str = r#"{"type":"ack","client_id":""#;

/// Classify a server frame.
pub fn classify(text: &str) -> Incoming<'_> {
    if text.starts_with(MESSAGE) {
        return Incoming::Message {
            body: string_field(text, r#""body":""#),
        };
    }
    if let Some(rest) = text.strip_prefix(ACK) {
        if let Some(end) = rest.find('"') {
            return Incoming::Ack {
                client_id: &rest[..end],
            };
        }
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Incoming::Other;
    };
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_string);
    match value.get("type").and_then(|t| t.as_str()) {
        Some("synced") => Incoming::Synced,
        Some("joined") => Incoming::Joined,
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
        assert_eq!(classify(a), Incoming::Ack { client_id: "1.0.5" });
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
