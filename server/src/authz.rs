//! Who may do what to a message: the one decision point for edits,
//! deletes, reactions, replies and edit histories.
//!
//! Membership of the conversation is settled before (a frame naming a
//! conversation the user is not in never gets this far, see
//! `conn::frames`); this decides on the message itself, from facts the
//! store read inside the transaction that applies the change, so two
//! changes racing each other are decided in the order they are stored.
//! Roles plug in through [`Actor`]: a moderator may delete anyone's
//! message, nobody but the author may edit it.

use app::protocol::{ErrorCode, MAX_REACTIONS};

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
}
