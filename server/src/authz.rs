//! Who may do what: the one decision point for every frame and route
//! that touches a room or a message.
//!
//! [`room`] decides on a room: reading it, writing to it, joining,
//! leaving, and every owner's and moderator's action, from [`RoomFacts`]
//! the store read (inside the transaction that applies the action, for
//! actions). A private room is invisible to whoever is not in it, invited
//! to it or banned from it: every answer is then the one a missing room
//! gets.
//!
//! [`decide`] decides on a message: edits, deletes, reactions, replies and
//! edit histories.
//!
//! Membership of the conversation is settled before (a frame naming a
//! conversation the user is not in never gets this far, see
//! `conn::frames`); this decides on the message itself, from facts the
//! store read inside the transaction that applies the change, so two
//! changes racing each other are decided in the order they are stored.
//! Roles plug in through [`Actor`]: a moderator may delete anyone's
//! message, nobody but the author may edit it.

use app::protocol::{ErrorCode, Role, LOBBY, MAX_REACTIONS};

use crate::store::TargetFacts;

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    /// May remove others' messages (room moderators, once roles exist).
    pub moderator: bool,
}

impl Actor {
    pub fn member(user_id: i64) -> Actor {
        Actor {
            user_id,
            moderator: false,
        }
    }
}

/// What is being asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Edit,
    Delete,
    React,
    Unreact,
    Reply,
    ReadVersions,
}

/// Why it is refused, as the `error` frame says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub code: ErrorCode,
    pub message: String,
}

fn deny(code: ErrorCode, message: &str) -> Result<(), Denial> {
    Err(Denial {
        code,
        message: message.to_string(),
    })
}

/// What the room decision knows of a room and the person asking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomFacts {
    /// The room's name (for the answers' text).
    pub name: String,
    pub private: bool,
    /// Their role, when they are a member.
    pub role: Option<Role>,
    pub invited: bool,
    pub banned: bool,
    /// Muted now.
    pub muted: bool,
    /// A server admin (`--admins`).
    pub admin: bool,
    /// How many members the room has.
    pub members: u32,
    /// Archived by an admin: read-only.
    pub archived: bool,
}

impl RoomFacts {
    fn lobby(&self) -> bool {
        self.name == LOBBY
    }

    /// Does the room exist for them at all?
    fn visible(&self) -> bool {
        !self.private || self.role.is_some() || self.invited || self.banned || self.admin
    }

    /// The power they act with: their role, or an owner's for an admin.
    fn power(&self) -> Option<Role> {
        if self.admin {
            Some(Role::Owner)
        } else {
            self.role
        }
    }
}

/// What the room decision knows of the person an action names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFacts {
    pub is_self: bool,
    pub role: Option<Role>,
    pub invited: bool,
    pub banned: bool,
    pub muted: bool,
}

/// What is asked of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomOp {
    /// History, members, read marks, typing, edit histories.
    Read,
    /// Send, edit, react, unreact.
    Write,
    /// Delete one's own message.
    DeleteOwn,
    /// Delete someone else's message.
    DeleteAny,
    Join,
    Leave,
    Decline,
    Invite,
    Kick,
    Ban,
    Unban,
    Mute,
    Unmute,
    /// Make someone a member, moderator or the owner.
    SetRole(Role),
    SetTopic,
    SetVisibility,
    ReadModerationLog,
    /// Notify everyone in the room with `@room`: the owner, moderators and
    /// admins (anyone else's `@room` is text, and notifies nobody).
    MentionEveryone,
}

/// The answer for a room that does not exist: the same, word for word,
/// for a private room one may not see.
pub fn no_such_room(name: &str) -> Denial {
    Denial {
        code: ErrorCode::UnknownRoom,
        message: format!("there is no room `{}`", name.to_ascii_lowercase()),
    }
}

fn no(code: ErrorCode, message: impl Into<String>) -> Result<(), Denial> {
    Err(Denial {
        code,
        message: message.into(),
    })
}

/// May the person `room` describes do `op` (to `target`, for the actions
/// that name someone; `None` there: no such user)? `room` is `None` when
/// no room is called `name`.
pub fn room(
    name: &str,
    room: Option<&RoomFacts>,
    op: RoomOp,
    target: Option<&UserFacts>,
) -> Result<(), Denial> {
    use RoomOp::*;
    let Some(r) = room else {
        return Err(no_such_room(name));
    };
    if !r.visible() {
        return Err(no_such_room(&r.name));
    }
    let name = &r.name;
    let member = r.role.is_some();
    match op {
        Read | DeleteOwn if !member => no(
            ErrorCode::NotMember,
            format!("you are not in room `{name}`; join it first"),
        ),
        Write if !member => no(
            ErrorCode::NotMember,
            format!("you are not in room `{name}`; join it first"),
        ),
        Write if r.archived => no(
            ErrorCode::Archived,
            format!("`{name}` is archived: it can be read, not written to"),
        ),
        Write if r.muted => no(
            ErrorCode::Muted,
            format!("you are muted in `{name}`: you can read, but not write or react"),
        ),
        Read | Write | DeleteOwn => Ok(()),
        Join if r.banned => no(ErrorCode::Banned, format!("you are banned from `{name}`")),
        Join if member => Ok(()),
        Join if r.private && !r.invited && !r.admin => no(
            ErrorCode::NotInvited,
            format!("`{name}` is private: you need an invitation"),
        ),
        Join => Ok(()),
        Leave if !member => no(
            ErrorCode::NotMember,
            format!("you are not in room `{name}`"),
        ),
        Leave if r.lobby() => no(ErrorCode::CannotLeaveLobby, "everyone stays in the lobby"),
        Leave if r.role == Some(Role::Owner) && r.members > 1 => no(
            ErrorCode::NotPermitted,
            format!("you own `{name}`: hand it over to someone first"),
        ),
        Leave => Ok(()),
        Decline if !r.invited => no(
            ErrorCode::NotInvited,
            format!("you have no invitation to `{name}`"),
        ),
        Decline => Ok(()),
        _ => staff_action(r, op, target),
    }
}

/// The conversations a search may look into: those the user is in now,
/// each with its id (rooms they left, were removed or banned from, and
/// public rooms they never joined are not searched), narrowed to the one
/// `within` names when it names one of them (as the user sees it: the
/// room's name, or the peer of a direct conversation).
pub fn searchable(
    memberships: &[crate::store::Membership],
    within: Option<&app::protocol::Conv>,
) -> Vec<(i64, app::protocol::Conv)> {
    memberships
        .iter()
        .map(|m| (m.conv_id, crate::conn::wire_conv(&m.kind)))
        .filter(|(_, conv)| {
            within.is_none_or(|w| {
                std::mem::discriminant(w) == std::mem::discriminant(conv)
                    && w.name().eq_ignore_ascii_case(conv.name())
            })
        })
        .collect()
}

/// May someone write to `peer` directly, given whether `peer` blocks
/// them? (A direct conversation has no roles: the only refusal is a
/// block.)
pub fn direct(peer: &str, blocked: bool) -> Result<(), Denial> {
    if blocked {
        return no(
            ErrorCode::Blocked,
            format!("{peer} does not accept direct messages from you"),
        );
    }
    Ok(())
}

/// The actions of owners and moderators.
fn staff_action(r: &RoomFacts, op: RoomOp, target: Option<&UserFacts>) -> Result<(), Denial> {
    use RoomOp::*;
    let name = &r.name;
    if r.archived && op != ReadModerationLog {
        return no(
            ErrorCode::Archived,
            format!("`{name}` is archived: an admin must unarchive it first"),
        );
    }
    let power = r.power().unwrap_or(Role::Member);
    let needed = match op {
        SetRole(_) => Role::Owner,
        _ => Role::Moderator,
    };
    if power < needed {
        return no(
            ErrorCode::NotPermitted,
            format!(
                "only the {} of `{name}` can do that",
                if needed == Role::Owner {
                    "owner"
                } else {
                    "owner and moderators"
                }
            ),
        );
    }
    if r.lobby() && matches!(op, SetVisibility | SetRole(_) | Kick | Invite) {
        return no(
            ErrorCode::NotPermitted,
            "the lobby is everyone's: it stays public, with no owner",
        );
    }
    let Some(t) = target else {
        return match op {
            DeleteAny | SetTopic | SetVisibility | ReadModerationLog | MentionEveryone => Ok(()),
            _ => no(ErrorCode::UnknownUser, "there is no user with that name"),
        };
    };
    if t.is_self && op != Unmute {
        return no(ErrorCode::NotPermitted, "you cannot do that to yourself");
    }
    // Nobody acts on someone as powerful as themselves.
    let outranked = t.role.is_some_and(|role| role >= power);
    match op {
        Invite if t.banned => no(ErrorCode::Banned, "that user is banned; unban them first"),
        Invite if t.role.is_some() || t.invited => no(
            ErrorCode::AlreadyMember,
            "that user is already in the room or invited",
        ),
        Kick | Mute | SetRole(_) if t.role.is_none() => {
            no(ErrorCode::NotMember, "that user is not in the room")
        }
        Kick | Ban | Mute if outranked => no(
            ErrorCode::NotPermitted,
            "you cannot do that to someone whose role is as high as yours",
        ),
        Ban if t.banned => no(ErrorCode::NoChange, "that user is already banned"),
        Unban if !t.banned => no(ErrorCode::NoChange, "that user is not banned"),
        Unmute if !t.muted => no(ErrorCode::NoChange, "that user is not muted"),
        SetRole(role) if t.role == Some(role) => {
            no(ErrorCode::NoChange, "that user already has that role")
        }
        _ => Ok(()),
    }
}

/// May `actor` do `op` to the message described by `target` (`None`: no
/// message has that seq in the conversation)?
pub fn decide(actor: Actor, op: Op, target: Option<&TargetFacts>) -> Result<(), Denial> {
    let Some(target) = target.filter(|t| t.is_message) else {
        return deny(
            ErrorCode::UnknownMessage,
            "no message has that seq in this conversation",
        );
    };
    let author = target.author == Some(actor.user_id);
    if target.deleted && op != Op::Delete {
        return deny(ErrorCode::MessageDeleted, "that message was deleted");
    }
    match op {
        Op::Edit | Op::ReadVersions if !author => deny(
            ErrorCode::NotAuthor,
            "only the author can edit a message or see its earlier versions",
        ),
        Op::Delete if !author && !actor.moderator => {
            deny(ErrorCode::NotAuthor, "only the author can delete a message")
        }
        Op::Delete if target.deleted => {
            deny(ErrorCode::MessageDeleted, "that message is already deleted")
        }
        Op::React if target.mine => deny(
            ErrorCode::AlreadyReacted,
            "you already reacted with that emoji",
        ),
        Op::React if !target.emoji_used && target.distinct_emoji >= MAX_REACTIONS => deny(
            ErrorCode::TooManyReactions,
            &format!("a message takes at most {MAX_REACTIONS} different reactions"),
        ),
        Op::Unreact if !target.mine => deny(
            ErrorCode::NotReacted,
            "you have no reaction with that emoji on that message",
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: i64 = 1;
    const BOB: i64 = 2;

    fn by(author: i64) -> TargetFacts {
        TargetFacts {
            is_message: true,
            author: Some(author),
            deleted: false,
            distinct_emoji: 0,
            emoji_used: false,
            mine: false,
        }
    }

    fn code(actor: Actor, op: Op, target: Option<&TargetFacts>) -> Option<ErrorCode> {
        decide(actor, op, target).err().map(|d| d.code)
    }

    /// The whole decision as a table: actor, operation, message, answer.
    #[test]
    fn the_table() {
        use ErrorCode::*;
        let alice = Actor::member(ALICE);
        let moderator = Actor {
            user_id: BOB,
            moderator: true,
        };
        let bob = Actor::member(BOB);
        let deleted = TargetFacts {
            deleted: true,
            ..by(ALICE)
        };
        let change_row = TargetFacts {
            is_message: false,
            ..by(ALICE)
        };
        let full = TargetFacts {
            distinct_emoji: MAX_REACTIONS,
            ..by(ALICE)
        };
        let full_but_used = TargetFacts {
            emoji_used: true,
            ..full.clone()
        };
        let reacted = TargetFacts {
            emoji_used: true,
            mine: true,
            ..by(ALICE)
        };
        let mine = by(ALICE);
        let guest_message = TargetFacts {
            author: None,
            ..by(ALICE)
        };
        let rows: Vec<(Actor, Op, Option<&TargetFacts>, Option<ErrorCode>)> = vec![
            (alice, Op::Edit, Some(&mine), None),
            (bob, Op::Edit, Some(&mine), Some(NotAuthor)),
            (moderator, Op::Edit, Some(&mine), Some(NotAuthor)),
            (bob, Op::Edit, Some(&guest_message), Some(NotAuthor)),
            (alice, Op::Edit, Some(&deleted), Some(MessageDeleted)),
            (alice, Op::Edit, None, Some(UnknownMessage)),
            (alice, Op::Edit, Some(&change_row), Some(UnknownMessage)),
            (alice, Op::Delete, Some(&mine), None),
            (bob, Op::Delete, Some(&mine), Some(NotAuthor)),
            (moderator, Op::Delete, Some(&mine), None),
            (alice, Op::Delete, Some(&deleted), Some(MessageDeleted)),
            (alice, Op::Delete, None, Some(UnknownMessage)),
            (bob, Op::React, Some(&mine), None),
            (alice, Op::React, Some(&mine), None),
            (bob, Op::React, Some(&deleted), Some(MessageDeleted)),
            (bob, Op::React, Some(&reacted), Some(AlreadyReacted)),
            (bob, Op::React, Some(&full), Some(TooManyReactions)),
            (bob, Op::React, Some(&full_but_used), None),
            (bob, Op::React, None, Some(UnknownMessage)),
            (bob, Op::Unreact, Some(&reacted), None),
            (bob, Op::Unreact, Some(&mine), Some(NotReacted)),
            (bob, Op::Unreact, Some(&deleted), Some(MessageDeleted)),
            (bob, Op::Reply, Some(&mine), None),
            (bob, Op::Reply, Some(&deleted), Some(MessageDeleted)),
            (bob, Op::Reply, None, Some(UnknownMessage)),
            (alice, Op::ReadVersions, Some(&mine), None),
            (bob, Op::ReadVersions, Some(&mine), Some(NotAuthor)),
        ];
        for (actor, op, target, want) in rows {
            assert_eq!(code(actor, op, target), want, "{actor:?} {op:?} {target:?}");
        }
    }

    fn facts(role: Option<Role>) -> RoomFacts {
        RoomFacts {
            name: "ops".into(),
            private: true,
            role,
            members: 3,
            ..RoomFacts::default()
        }
    }

    fn room_code(r: Option<&RoomFacts>, op: RoomOp, t: Option<&UserFacts>) -> Option<ErrorCode> {
        room("ops", r, op, t).err().map(|d| d.code)
    }

    /// The room decision as a table: who, what, to whom, answer.
    #[test]
    fn the_room_table() {
        use ErrorCode::*;
        use RoomOp::*;
        let outsider = facts(None);
        let invited = RoomFacts {
            invited: true,
            ..facts(None)
        };
        let banned = RoomFacts {
            banned: true,
            ..facts(None)
        };
        let member = facts(Some(Role::Member));
        let muted = RoomFacts {
            muted: true,
            ..facts(Some(Role::Member))
        };
        let moderator = facts(Some(Role::Moderator));
        let owner = facts(Some(Role::Owner));
        let lone_owner = RoomFacts {
            members: 1,
            ..facts(Some(Role::Owner))
        };
        let admin = RoomFacts {
            admin: true,
            ..facts(None)
        };
        let public_outsider = RoomFacts {
            private: false,
            ..facts(None)
        };
        let lobby = RoomFacts {
            name: LOBBY.into(),
            private: false,
            ..facts(Some(Role::Member))
        };
        let lobby_admin = RoomFacts {
            admin: true,
            ..lobby.clone()
        };
        let archived = RoomFacts {
            archived: true,
            ..facts(Some(Role::Owner))
        };
        let a_member = UserFacts {
            role: Some(Role::Member),
            ..UserFacts::default()
        };
        let a_moderator = UserFacts {
            role: Some(Role::Moderator),
            ..UserFacts::default()
        };
        let a_stranger = UserFacts::default();
        let a_banned = UserFacts {
            banned: true,
            ..UserFacts::default()
        };
        let me = UserFacts {
            is_self: true,
            ..a_member.clone()
        };
        type Row<'a> = (
            Option<&'a RoomFacts>,
            RoomOp,
            Option<&'a UserFacts>,
            Option<ErrorCode>,
        );
        let rows: Vec<Row> = vec![
            (None, Read, None, Some(UnknownRoom)),
            (None, Join, None, Some(UnknownRoom)),
            (Some(&outsider), Read, None, Some(UnknownRoom)),
            (Some(&outsider), Join, None, Some(UnknownRoom)),
            (Some(&outsider), Kick, Some(&a_member), Some(UnknownRoom)),
            (Some(&public_outsider), Read, None, Some(NotMember)),
            (Some(&public_outsider), Join, None, None),
            (Some(&invited), Read, None, Some(NotMember)),
            (Some(&invited), Join, None, None),
            (Some(&invited), Decline, None, None),
            (Some(&member), Decline, None, Some(NotInvited)),
            (Some(&banned), Join, None, Some(Banned)),
            (Some(&banned), Write, None, Some(NotMember)),
            (Some(&member), Read, None, None),
            (Some(&member), Write, None, None),
            (Some(&member), Kick, Some(&a_member), Some(NotPermitted)),
            (Some(&member), ReadModerationLog, None, Some(NotPermitted)),
            (Some(&muted), Write, None, Some(Muted)),
            (Some(&muted), Read, None, None),
            (Some(&muted), DeleteOwn, None, None),
            (Some(&moderator), Kick, Some(&a_member), None),
            (
                Some(&moderator),
                Kick,
                Some(&a_moderator),
                Some(NotPermitted),
            ),
            (Some(&moderator), Ban, Some(&a_stranger), None),
            (Some(&moderator), Ban, Some(&a_banned), Some(NoChange)),
            (Some(&moderator), Unban, Some(&a_member), Some(NoChange)),
            (Some(&moderator), Kick, Some(&a_stranger), Some(NotMember)),
            (Some(&moderator), Kick, None, Some(UnknownUser)),
            (Some(&moderator), Kick, Some(&me), Some(NotPermitted)),
            (
                Some(&moderator),
                Invite,
                Some(&a_member),
                Some(AlreadyMember),
            ),
            (Some(&moderator), Invite, Some(&a_banned), Some(Banned)),
            (
                Some(&moderator),
                SetRole(Role::Moderator),
                Some(&a_member),
                Some(NotPermitted),
            ),
            (Some(&moderator), SetTopic, None, None),
            (Some(&moderator), DeleteAny, None, None),
            (Some(&member), DeleteAny, None, Some(NotPermitted)),
            (
                Some(&owner),
                SetRole(Role::Moderator),
                Some(&a_member),
                None,
            ),
            (
                Some(&owner),
                SetRole(Role::Member),
                Some(&a_member),
                Some(NoChange),
            ),
            (Some(&owner), Kick, Some(&a_moderator), None),
            (Some(&owner), Leave, None, Some(NotPermitted)),
            (Some(&lone_owner), Leave, None, None),
            (Some(&admin), Read, None, Some(NotMember)),
            (Some(&admin), Join, None, None),
            (Some(&admin), Ban, Some(&a_moderator), None),
            (Some(&lobby), Leave, None, Some(CannotLeaveLobby)),
            (Some(&lobby), Mute, Some(&a_member), Some(NotPermitted)),
            (Some(&lobby_admin), Mute, Some(&a_member), None),
            (Some(&lobby_admin), SetVisibility, None, Some(NotPermitted)),
            (Some(&archived), Write, None, Some(Archived)),
            (Some(&archived), Read, None, None),
            (Some(&archived), Mute, Some(&a_member), Some(Archived)),
            (Some(&archived), ReadModerationLog, None, None),
        ];
        for (r, op, t, want) in rows {
            assert_eq!(room_code(r, op, t), want, "{r:?} {op:?} {t:?}");
        }
        assert_eq!(direct("bob", true).err().map(|d| d.code), Some(Blocked));
        assert_eq!(direct("bob", false), Ok(()));
        // The answer for a hidden room is the missing room's, word for word.
        assert_eq!(
            room("OPS", Some(&outsider), Read, None),
            room("ops", None, Read, None)
        );
    }
}
