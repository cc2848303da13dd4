//! Decoding [`ServerFrame`] without serde's internally tagged enum support.
//!
//! `#[serde(tag = "type")]` decodes by first buffering the whole frame into
//! serde's private `Content` tree and then decoding each variant from it,
//! which compiles to a copy of the decoder per variant (about 50 KiB of
//! wasm). Here every frame is read, in one pass, into [`Fields`] — every
//! field any server frame has, each optional — and then checked against
//! the variant its `type` names. The wire format is exactly the derived
//! one: `every_server_frame_round_trips` encodes with the derived
//! `Serialize` and decodes with this.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::Deserialize;

use super::{
    Change, Conv, ConversationInfo, ErrorCode, Invitation, LeftReason, Message, ModEntry, Muted,
    Named, NotifyLevel, RoomInfo, SearchHit, ServerFrame, Staff, Version,
};

/// The `type` names of [`ServerFrame`], for "unknown variant" errors.
const TYPES: &[&str] = &[
    "welcome",
    "synced",
    "message",
    "change",
    "versions",
    "ack",
    "history",
    "window",
    "search_results",
    "rooms",
    "joined",
    "left",
    "directory",
    "invited",
    "moderation_log",
    "member",
    "members",
    "presence",
    "typing",
    "profile",
    "read",
    "notify",
    "pong",
    "error",
];

/// Every field of every server frame.
#[derive(Deserialize)]
struct Fields {
    #[serde(rename = "type")]
    kind: Option<String>,
    version: Option<u32>,
    user: Option<String>,
    conversations: Option<Vec<ConversationInfo>>,
    /// A list of names in `welcome`, a flag in `presence`.
    online: Option<Online>,
    /// A [`Message`] in `message`, text in `error`.
    message: Option<MessageField>,
    client_id: Option<String>,
    id: Option<i64>,
    conv: Option<Conv>,
    seq: Option<i64>,
    ts: Option<i64>,
    messages: Option<Vec<Message>>,
    has_more: Option<bool>,
    has_older: Option<bool>,
    has_newer: Option<bool>,
    hits: Option<Vec<SearchHit>>,
    cursor: Option<i64>,
    rooms: Option<Vec<RoomInfo>>,
    info: Option<ConversationInfo>,
    room: Option<String>,
    joined: Option<bool>,
    members: Option<u32>,
    unread: Option<i64>,
    users: Option<Vec<String>>,
    total: Option<u32>,
    nonce: Option<u64>,
    code: Option<ErrorCode>,
    change: Option<Change>,
    versions: Option<Vec<Version>>,
    invites: Option<Vec<Invitation>>,
    reason: Option<LeftReason>,
    by: Option<String>,
    query: Option<String>,
    next: Option<String>,
    invitation: Option<Invitation>,
    entries: Option<Vec<ModEntry>>,
    staff: Option<Vec<Staff>>,
    muted: Option<Vec<Muted>>,
    blocked: Option<Vec<String>>,
    display: Option<String>,
    names: Option<Vec<Named>>,
    mentions: Option<i64>,
    level: Option<NotifyLevel>,
}

enum Online {
    Flag(bool),
    Names(Vec<String>),
}

impl<'de> Deserialize<'de> for Online {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OnlineVisitor;
        impl<'de> Visitor<'de> for OnlineVisitor {
            type Value = Online;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a boolean or a list of names")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Online, E> {
                Ok(Online::Flag(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Online, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Online::Names)
            }
        }
        deserializer.deserialize_any(OnlineVisitor)
    }
}

enum MessageField {
    Text(String),
    // Boxed: a message is far bigger than the text of an error.
    Message(Box<Message>),
}

impl<'de> Deserialize<'de> for MessageField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MessageVisitor;
        impl<'de> Visitor<'de> for MessageVisitor {
            type Value = MessageField;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a message or a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MessageField, E> {
                Ok(MessageField::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<MessageField, E> {
                Ok(MessageField::Text(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MessageField, A::Error> {
                Message::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|m| MessageField::Message(Box::new(m)))
            }
        }
        deserializer.deserialize_any(MessageVisitor)
    }
}

/// A field the frame's type requires.
fn need<T, E: de::Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(field))
}

impl Fields {
    fn into_frame<E: de::Error>(self) -> Result<ServerFrame, E> {
        let kind = need(self.kind, "type")?;
        Ok(match kind.as_str() {
            "welcome" => ServerFrame::Welcome {
                version: need(self.version, "version")?,
                user: need(self.user, "user")?,
                conversations: need(self.conversations, "conversations")?,
                online: match need(self.online, "online")? {
                    Online::Names(names) => names,
                    Online::Flag(v) => {
                        return Err(E::invalid_type(Unexpected::Bool(v), &"a list of names"))
                    }
                },
                display: self.display,
                names: self.names.unwrap_or_default(),
                invites: self.invites.unwrap_or_default(),
                blocked: self.blocked.unwrap_or_default(),
            },
            "synced" => ServerFrame::Synced {},
            "message" => ServerFrame::Message {
                message: match need(self.message, "message")? {
                    MessageField::Message(message) => *message,
                    MessageField::Text(_) => {
                        return Err(E::invalid_type(Unexpected::Str("…"), &"a message"))
                    }
                },
            },
            "change" => ServerFrame::Change {
                change: need(self.change, "change")?,
            },
            "versions" => ServerFrame::Versions {
                conv: need(self.conv, "conv")?,
                seq: need(self.seq, "seq")?,
                versions: need(self.versions, "versions")?,
            },
            "ack" => ServerFrame::Ack {
                client_id: need(self.client_id, "client_id")?,
                id: need(self.id, "id")?,
                conv: need(self.conv, "conv")?,
                seq: need(self.seq, "seq")?,
                ts: need(self.ts, "ts")?,
            },
            "history" => ServerFrame::History {
                conv: need(self.conv, "conv")?,
                messages: need(self.messages, "messages")?,
                has_more: need(self.has_more, "has_more")?,
            },
            "window" => ServerFrame::Window {
                conv: need(self.conv, "conv")?,
                messages: need(self.messages, "messages")?,
                has_older: need(self.has_older, "has_older")?,
                has_newer: need(self.has_newer, "has_newer")?,
            },
            "search_results" => ServerFrame::SearchResults {
                query: need(self.query, "query")?,
                hits: need(self.hits, "hits")?,
                cursor: self.cursor,
            },
            "rooms" => ServerFrame::Rooms {
                rooms: need(self.rooms, "rooms")?,
            },
            "joined" => ServerFrame::Joined {
                info: need(self.info, "info")?,
            },
            "left" => ServerFrame::Left {
                room: need(self.room, "room")?,
                reason: self.reason,
                by: self.by,
            },
            "directory" => ServerFrame::Directory {
                query: need(self.query, "query")?,
                rooms: need(self.rooms, "rooms")?,
                next: self.next,
            },
            "blocked" => ServerFrame::Blocked {
                users: need(self.users, "users")?,
            },
            "invited" => ServerFrame::Invited {
                invitation: need(self.invitation, "invitation")?,
            },
            "moderation_log" => ServerFrame::ModerationLog {
                room: need(self.room, "room")?,
                entries: need(self.entries, "entries")?,
            },
            "member" => ServerFrame::Member {
                room: need(self.room, "room")?,
                user: need(self.user, "user")?,
                joined: need(self.joined, "joined")?,
                members: need(self.members, "members")?,
                display: self.display,
            },
            "members" => ServerFrame::Members {
                room: need(self.room, "room")?,
                users: need(self.users, "users")?,
                total: need(self.total, "total")?,
                staff: self.staff.unwrap_or_default(),
                muted: self.muted.unwrap_or_default(),
                names: self.names.unwrap_or_default(),
            },
            "presence" => ServerFrame::Presence {
                user: need(self.user, "user")?,
                online: match need(self.online, "online")? {
                    Online::Flag(online) => online,
                    Online::Names(_) => return Err(E::invalid_type(Unexpected::Seq, &"a boolean")),
                },
                display: self.display,
            },
            "typing" => ServerFrame::Typing {
                conv: need(self.conv, "conv")?,
                user: need(self.user, "user")?,
                display: self.display,
            },
            "profile" => ServerFrame::Profile {
                user: need(self.user, "user")?,
                display: need(self.display, "display")?,
            },
            "read" => ServerFrame::Read {
                conv: need(self.conv, "conv")?,
                seq: need(self.seq, "seq")?,
                unread: need(self.unread, "unread")?,
                mentions: self.mentions.unwrap_or(0),
            },
            "notify" => ServerFrame::Notify {
                conv: need(self.conv, "conv")?,
                level: need(self.level, "level")?,
            },
            "pong" => ServerFrame::Pong {
                nonce: need(self.nonce, "nonce")?,
            },
            "error" => ServerFrame::Error {
                code: need(self.code, "code")?,
                message: match need(self.message, "message")? {
                    MessageField::Text(text) => text,
                    MessageField::Message(_) => {
                        return Err(E::invalid_type(Unexpected::Map, &"a string"))
                    }
                },
                client_id: self.client_id,
                conv: self.conv,
            },
            other => return Err(E::unknown_variant(other, TYPES)),
        })
    }
}

impl<'de> Deserialize<'de> for ServerFrame {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Fields::deserialize(deserializer)?.into_frame()
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode_server;
    use super::*;

    #[test]
    fn fields_may_come_in_any_order() {
        let frame = decode_server(r#"{"online":true,"user":"bob","type":"presence"}"#).unwrap();
        assert_eq!(
            frame,
            ServerFrame::Presence {
                user: "bob".into(),
                online: true,
                display: None,
            }
        );
    }

    #[test]
    fn bad_frames_are_refused_with_the_reason() {
        for (text, why) in [
            (r#"{"user":"bob","online":true}"#, "missing field `type`"),
            (
                r#"{"type":"presence","user":"bob"}"#,
                "missing field `online`",
            ),
            (r#"{"type":"shout"}"#, "unknown variant `shout`"),
            (
                r#"{"type":"presence","user":"bob","online":["x"]}"#,
                "expected a boolean",
            ),
            (
                r#"{"type":"welcome","version":1,"user":"a","conversations":[],"online":false}"#,
                "expected a list of names",
            ),
            (
                r#"{"type":"error","code":"internal","message":{"x":1}}"#,
                "missing field",
            ),
            (r#"{"type":"pong","nonce":"7"}"#, "invalid type"),
        ] {
            let error = decode_server(text).expect_err(text).to_string();
            assert!(error.contains(why), "{text}: {error}");
        }
    }
}
