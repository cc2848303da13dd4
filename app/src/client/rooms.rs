//! What this browser knows of a room's access: your role, your mute, the
//! topic and visibility, its staff, and its moderation log; kept current
//! by the system lines of the room's log.

use crate::protocol::{EventKind, ModEntry, Muted, Role, RoomEvent, RoomInfo, Staff};

/// A room's access state, as far as this browser knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomState {
    /// Your role, once known.
    pub role: Option<Role>,
    /// You may not write before this time (ms since the epoch).
    pub muted_until: Option<i64>,
    pub topic: String,
    /// What the room is shown as (empty: its name).
    pub title: String,
    pub private: bool,
    /// The owner and moderators, from the last `members` answer.
    pub staff: Vec<Staff>,
    /// Who is muted, from the last `members` answer.
    pub muted: Vec<Muted>,
    /// The moderation log, once asked for.
    pub log: Option<Vec<ModEntry>>,
}

impl RoomState {
    /// May you moderate (invite, mute, kick, ban, set the topic)?
    pub fn is_staff(&self) -> bool {
        self.role.is_some_and(|r| r >= Role::Moderator)
    }

    pub fn is_owner(&self) -> bool {
        self.role == Some(Role::Owner)
    }

    /// The role of `user`, as the staff list says.
    pub fn role_of(&self, user: &str) -> Role {
        self.staff
            .iter()
            .find(|s| s.user.eq_ignore_ascii_case(user))
            .map_or(Role::Member, |s| s.role)
    }

    /// When `user`'s mute ends, if they are muted.
    pub fn muted_until_of(&self, user: &str) -> Option<i64> {
        self.muted
            .iter()
            .find(|m| m.user.eq_ignore_ascii_case(user))
            .map(|m| m.until)
    }

    /// Take in a system line. True when the staff or mute lists it
    /// changed should be asked for again.
    pub fn apply(&mut self, event: &RoomEvent, me: Option<&str>) -> bool {
        let about_me = |name: &Option<String>| matches!((name.as_deref(), me), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b));
        match event.kind {
            Some(EventKind::Muted) if about_me(&event.user) => self.muted_until = event.until,
            Some(EventKind::Unmuted) if about_me(&event.user) => self.muted_until = None,
            Some(EventKind::Role) => {
                if about_me(&event.user) {
                    self.role = event.role;
                }
                // Handing the room over leaves the old owner a moderator.
                if event.role == Some(Role::Owner) && about_me(&event.by) {
                    self.role = Some(Role::Moderator);
                }
            }
            Some(EventKind::Topic) => self.topic = event.topic.clone().unwrap_or_default(),
            Some(EventKind::Title) => self.title = event.title.clone().unwrap_or_default(),
            Some(EventKind::Visibility) => self.private = event.private.unwrap_or(false),
            _ => {}
        }
        matches!(
            event.kind,
            Some(
                EventKind::Muted
                    | EventKind::Unmuted
                    | EventKind::Role
                    | EventKind::Kicked
                    | EventKind::Banned
            )
        )
    }
}

/// The room directory as last asked for: the query, the rooms found so
/// far (pages appended), and where the next page starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directory {
    pub query: String,
    pub rooms: Vec<RoomInfo>,
    pub next: Option<String>,
    /// A page was asked for and has not arrived.
    pub loading: bool,
}

impl Directory {
    /// Take in a page: the first of a query replaces, a later one appends.
    pub fn page(&mut self, query: String, rooms: Vec<RoomInfo>, next: Option<String>, more: bool) {
        if !more || query != self.query {
            self.rooms.clear();
        }
        self.query = query;
        for room in rooms {
            if !self.rooms.iter().any(|r| r.room == room.room) {
                self.rooms.push(room);
            }
        }
        self.next = next;
        self.loading = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, by: &str, user: &str) -> RoomEvent {
        RoomEvent {
            by: Some(by.into()),
            user: Some(user.into()),
            ..RoomEvent::new(kind)
        }
    }

    #[test]
    fn lines_about_me_change_my_state() {
        let mut room = RoomState {
            role: Some(Role::Member),
            ..RoomState::default()
        };
        let muted = RoomEvent {
            until: Some(99),
            ..event(EventKind::Muted, "ann", "bob")
        };
        assert!(room.apply(&muted, Some("bob")));
        assert_eq!(room.muted_until, Some(99));
        room.apply(&event(EventKind::Unmuted, "ann", "bob"), Some("bob"));
        assert_eq!(room.muted_until, None);
        room.apply(&muted, Some("carl"));
        assert_eq!(room.muted_until, None, "someone else's mute");
        let promoted = RoomEvent {
            role: Some(Role::Owner),
            ..event(EventKind::Role, "ann", "bob")
        };
        room.apply(&promoted, Some("bob"));
        assert!(room.is_owner());
        let mut old_owner = RoomState {
            role: Some(Role::Owner),
            ..RoomState::default()
        };
        old_owner.apply(&promoted, Some("ann"));
        assert_eq!(old_owner.role, Some(Role::Moderator));
        let topic = RoomEvent {
            topic: Some("Deploys".into()),
            ..event(EventKind::Topic, "ann", "")
        };
        assert!(!room.apply(&topic, Some("bob")));
        assert_eq!(room.topic, "Deploys");
    }

    #[test]
    fn directory_pages_append_and_new_queries_replace() {
        let info = |name: &str| RoomInfo {
            room: name.into(),
            title: String::new(),
            members: 1,
            joined: false,
            topic: String::new(),
            private: false,
        };
        let mut dir = Directory::default();
        dir.page(
            "".into(),
            vec![info("a"), info("b")],
            Some("b".into()),
            false,
        );
        dir.page("".into(), vec![info("c")], None, true);
        assert_eq!(dir.rooms.len(), 3);
        dir.page("x".into(), vec![info("x")], None, false);
        assert_eq!(dir.rooms.len(), 1);
    }
}
