//! Rooms' access and moderation on the wire: roles, the actions owners
//! and moderators take, and the system lines those actions leave in the
//! room's log.
//!
//! Every action is an entry of the room's log with the next `seq` (a
//! [`super::Message`] whose `event` is set), so it is ordered with the
//! messages, resumed like them and relayed to every node.

use serde::{Deserialize, Serialize};

/// Longest room topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 250;

/// Longest mute, in minutes (30 days).
pub const MAX_MUTE_MINUTES: u32 = 30 * 24 * 60;

/// Rooms a `directory` answer lists when the client names no limit, and
/// the most it lists.
pub const DIRECTORY_PAGE: u32 = 50;
pub const MAX_DIRECTORY_PAGE: u32 = 200;

/// Entries a `moderation_log` answer carries.
pub const MODERATION_LOG_PAGE: u32 = 100;

/// A member's role in a room, from least to most powerful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Moderator,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Moderator => "moderator",
            Role::Owner => "owner",
        }
    }
}

/// What an owner or moderator does to a room or one of its people
/// (`room_action` frame; `kind` names it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RoomAction {
    /// Invite a user; they see the invitation live and accept (`join_room`)
    /// or decline.
    Invite {
        user: String,
    },
    /// Decline your own invitation to the room.
    Decline {},
    /// Remove a member; they may rejoin a public room.
    Kick {
        user: String,
    },
    /// Remove a user (member or not) and keep them out until unbanned.
    Ban {
        user: String,
    },
    Unban {
        user: String,
    },
    /// The member can read but not send, edit or react for `minutes`.
    Mute {
        user: String,
        minutes: u32,
    },
    Unmute {
        user: String,
    },
    /// Make a member a moderator or a member again (owner only). `owner`
    /// hands the room over: the old owner becomes a moderator.
    SetRole {
        user: String,
        role: Role,
    },
    SetTopic {
        topic: String,
    },
    /// What the room is shown as, in any script (empty: its name).
    SetTitle {
        title: String,
    },
    /// Switch between public (listed, anyone may join) and private
    /// (unlisted, invitation only).
    SetVisibility {
        private: bool,
    },
}

/// What a system line records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    Joined,
    Left,
    Invited,
    Declined,
    Kicked,
    Banned,
    Unbanned,
    Muted,
    Unmuted,
    Role,
    Topic,
    Title,
    Visibility,
    /// A moderator deleted someone's message (moderation log only).
    DeletedMessage,
    /// A server admin's actions (the server-wide log only).
    Archived,
    Unarchived,
    RoomDeleted,
    AccountDisabled,
    AccountEnabled,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Joined => "joined",
            EventKind::Left => "left",
            EventKind::Invited => "invited",
            EventKind::Declined => "declined",
            EventKind::Kicked => "kicked",
            EventKind::Banned => "banned",
            EventKind::Unbanned => "unbanned",
            EventKind::Muted => "muted",
            EventKind::Unmuted => "unmuted",
            EventKind::Role => "role",
            EventKind::Topic => "topic",
            EventKind::Title => "title",
            EventKind::Visibility => "visibility",
            EventKind::DeletedMessage => "deleted_message",
            EventKind::Archived => "archived",
            EventKind::Unarchived => "unarchived",
            EventKind::RoomDeleted => "room_deleted",
            EventKind::AccountDisabled => "account_disabled",
            EventKind::AccountEnabled => "account_enabled",
        }
    }
}

/// A system line: who did what to whom. A flat record (rather than an
/// enum per kind) keeps the web app's decoder small.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomEvent {
    pub kind: Option<EventKind>,
    /// Who did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// To whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A mute's end, milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    /// A mute's length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
}

impl RoomEvent {
    pub fn new(kind: EventKind) -> RoomEvent {
        RoomEvent {
            kind: Some(kind),
            ..RoomEvent::default()
        }
    }

    /// The line as people read it: "bob was muted by alice for 10 minutes".
    pub fn sentence(&self) -> String {
        let by = self.by.as_deref().unwrap_or("someone");
        let user = self.user.as_deref().unwrap_or("someone");
        match self.kind {
            Some(EventKind::Created) => format!("{by} created the room"),
            Some(EventKind::Joined) => format!("{user} joined"),
            Some(EventKind::Left) => format!("{user} left"),
            Some(EventKind::Invited) => format!("{user} was invited by {by}"),
            Some(EventKind::Declined) => format!("{user} declined the invitation"),
            Some(EventKind::Kicked) => format!("{user} was removed by {by}"),
            Some(EventKind::Banned) => format!("{user} was banned by {by}"),
            Some(EventKind::Unbanned) => format!("{user} was unbanned by {by}"),
            Some(EventKind::Muted) => format!(
                "{user} was muted by {by} for {}",
                duration(self.minutes.unwrap_or(0))
            ),
            Some(EventKind::Unmuted) => format!("{user} was unmuted by {by}"),
            Some(EventKind::Role) => match self.role {
                Some(Role::Owner) => format!("{by} made {user} the owner"),
                Some(Role::Moderator) => format!("{by} made {user} a moderator"),
                _ => format!("{by} made {user} a member"),
            },
            Some(EventKind::Topic) => match self.topic.as_deref() {
                Some("") | None => format!("{by} cleared the topic"),
                Some(topic) => format!("{by} set the topic to “{topic}”"),
            },
            Some(EventKind::Title) => match self.title.as_deref() {
                Some("") | None => format!("{by} cleared the room's title"),
                Some(title) => format!("{by} renamed the room to “{title}”"),
            },
            Some(EventKind::Visibility) => {
                if self.private == Some(true) {
                    format!("{by} made the room private")
                } else {
                    format!("{by} made the room public")
                }
            }
            Some(EventKind::DeletedMessage) => format!("{by} deleted a message by {user}"),
            Some(EventKind::Archived) => format!("{by} archived the room"),
            Some(EventKind::Unarchived) => format!("{by} unarchived the room"),
            Some(EventKind::RoomDeleted) => format!("{by} deleted the room"),
            Some(EventKind::AccountDisabled) => format!("{by} disabled {user}'s account"),
            Some(EventKind::AccountEnabled) => format!("{by} enabled {user}'s account"),
            None => "the room changed".to_string(),
        }
    }
}

/// "10 minutes", "1 hour", "2 days": the largest whole unit.
pub fn duration(minutes: u32) -> String {
    let (n, unit) = if minutes > 0 && minutes.is_multiple_of(24 * 60) {
        (minutes / (24 * 60), "day")
    } else if minutes > 0 && minutes.is_multiple_of(60) {
        (minutes / 60, "hour")
    } else {
        (minutes, "minute")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// An invitation waiting for an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub room: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    pub by: String,
    #[serde(default)]
    pub topic: String,
    #[serde(default)]
    pub private: bool,
}

/// Someone with more than a member's role, in a `members` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staff {
    pub user: String,
    pub role: Role,
}

/// A member who may not send until `until`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Muted {
    pub user: String,
    pub until: i64,
}

/// Why you are no longer in a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftReason {
    Kicked,
    Banned,
    /// A server admin deleted the room.
    Deleted,
}

/// One entry of a room's moderation log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModEntry {
    pub id: i64,
    pub ts: i64,
    /// The room (for the server-wide log).
    pub room: String,
    pub event: RoomEvent,
    /// The line as people read it.
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_sentences() {
        let muted = RoomEvent {
            by: Some("alice".into()),
            user: Some("bob".into()),
            minutes: Some(10),
            until: Some(1),
            ..RoomEvent::new(EventKind::Muted)
        };
        assert_eq!(muted.sentence(), "bob was muted by alice for 10 minutes");
        assert_eq!(duration(60), "1 hour");
        assert_eq!(duration(3 * 24 * 60), "3 days");
        assert_eq!(duration(90), "90 minutes");
        let owner = RoomEvent {
            by: Some("alice".into()),
            user: Some("bob".into()),
            role: Some(Role::Owner),
            ..RoomEvent::new(EventKind::Role)
        };
        assert_eq!(owner.sentence(), "alice made bob the owner");
    }

    #[test]
    fn event_kinds_are_named_as_serde_names_them() {
        for kind in [
            EventKind::Created,
            EventKind::Muted,
            EventKind::DeletedMessage,
        ] {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Owner > Role::Moderator && Role::Moderator > Role::Member);
    }
}
