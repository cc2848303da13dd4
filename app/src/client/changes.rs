//! How a [`Change`] — an edit, a deletion, a reaction or its removal —
//! folds into the message it names, as plain data.
//!
//! A change is an entry of the conversation's log with its own `seq`, and
//! a message records in `rev` the last change its state includes, so
//! applying is idempotent: a change at or below `rev` is skipped, whether
//! it comes again after a reconnect, as the ack of our own, or after a
//! `history` answer that already included it.

use crate::protocol::{clip, Change, ChangeKind, Message, Quote, Reaction, QUOTE_CHARS};

/// Apply `change` to `message` (the one at `change.target`). `me` is the
/// reader, for the `me` flag of reactions. True when the change was new
/// (whether or not it altered what is shown).
pub fn apply(message: &mut Message, change: &Change, me: Option<&str>) -> bool {
    if change.seq <= message.rev || change.seq <= message.seq {
        return false;
    }
    message.rev = change.seq;
    let deleted = message.deleted_at.is_some();
    match change.kind {
        ChangeKind::Edit => {
            if let (false, Some(body)) = (deleted, &change.body) {
                message.body.clone_from(body);
                message.mentions.clone_from(&change.mentions);
                message.edited_at = Some(change.ts);
            }
        }
        ChangeKind::Delete => {
            message.body.clear();
            message.mentions.clear();
            message.reactions.clear();
            message.deleted_at = Some(change.ts);
        }
        ChangeKind::React => {
            if let (false, Some(emoji)) = (deleted, &change.emoji) {
                add_reaction(&mut message.reactions, emoji, &change.sender, me);
            }
        }
        ChangeKind::Unreact => {
            if let Some(emoji) = &change.emoji {
                remove_reaction(&mut message.reactions, emoji, &change.sender, me);
            }
        }
    }
    true
}

/// `user` reacts with `emoji` (once).
pub fn add_reaction(reactions: &mut Vec<Reaction>, emoji: &str, user: &str, me: Option<&str>) {
    let mine = me == Some(user);
    match reactions.iter_mut().find(|r| r.emoji == emoji) {
        Some(reaction) => {
            if !reaction.users.iter().any(|u| u == user) {
                reaction.users.push(user.to_owned());
            }
            reaction.me |= mine;
        }
        None => reactions.push(Reaction {
            emoji: emoji.to_owned(),
            users: vec![user.to_owned()],
            me: mine,
        }),
    }
}

/// `user` takes their `emoji` reaction off; an emoji nobody uses goes.
pub fn remove_reaction(reactions: &mut Vec<Reaction>, emoji: &str, user: &str, me: Option<&str>) {
    if let Some(reaction) = reactions.iter_mut().find(|r| r.emoji == emoji) {
        reaction.users.retain(|u| u != user);
        if me == Some(user) {
            reaction.me = false;
        }
    }
    reactions.retain(|r| !r.users.is_empty());
}

/// A message arrives that is already held: keep whichever state is newer.
pub fn merge(held: &mut Message, incoming: Message) {
    if incoming.rev > held.rev {
        *held = incoming;
    } else if held.reply.is_none() {
        // Our own reply, built from its ack before we held the original.
        held.reply = incoming.reply;
    }
}

/// The quote of `original` as a reply shows it now.
pub fn quote_of(original: &Message) -> Quote {
    Quote {
        seq: original.seq,
        sender: original.sender.clone(),
        body: clip(&original.body, QUOTE_CHARS).to_owned(),
        deleted: original.deleted_at.is_some(),
    }
}

/// Bring the quotes of replies to `original` up to date.
pub fn refresh_quotes(messages: &mut [Message], original: &Message) {
    for message in messages {
        if let Some(quote) = &mut message.reply {
            if quote.seq == original.seq {
                *quote = quote_of(original);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Conv;

    fn message(seq: i64) -> Message {
        Message {
            mentions: Default::default(),
            id: 100 + seq,
            conv: Conv::Room("lobby".into()),
            seq,
            sender: "ann".into(),
            display: None,
            body: "hello".into(),
            ts: 1_000,
            client_id: None,
            reply: None,
            edited_at: None,
            deleted_at: None,
            reactions: Vec::new(),
            rev: 0,
            event: None,
            moderated: false,
        }
    }

    fn change(seq: i64, target: i64, sender: &str, kind: ChangeKind, arg: &str) -> Change {
        Change {
            mentions: Default::default(),
            id: 500 + seq,
            conv: Conv::Room("lobby".into()),
            seq,
            sender: sender.into(),
            ts: 10 * seq,
            client_id: None,
            target,
            kind,
            body: (kind == ChangeKind::Edit).then(|| arg.to_owned()),
            emoji: matches!(kind, ChangeKind::React | ChangeKind::Unreact).then(|| arg.to_owned()),
        }
    }

    #[test]
    fn each_change_applies_once() {
        let mut m = message(1);
        let edit = change(2, 1, "ann", ChangeKind::Edit, "hello, world");
        assert!(apply(&mut m, &edit, Some("ben")));
        assert_eq!(
            (m.body.as_str(), m.edited_at, m.rev),
            ("hello, world", Some(20), 2)
        );
        assert!(!apply(&mut m, &edit, Some("ben")));
        // An older change than the state includes is skipped too.
        assert!(!apply(
            &mut m,
            &change(1, 1, "ann", ChangeKind::Edit, "x"),
            None
        ));
        assert_eq!(m.body, "hello, world");
    }

    #[test]
    fn reactions_count_people_and_know_the_reader() {
        let mut m = message(1);
        apply(
            &mut m,
            &change(2, 1, "ben", ChangeKind::React, "👍"),
            Some("ann"),
        );
        apply(
            &mut m,
            &change(3, 1, "ann", ChangeKind::React, "👍"),
            Some("ann"),
        );
        apply(
            &mut m,
            &change(4, 1, "ben", ChangeKind::React, "🎉"),
            Some("ann"),
        );
        assert_eq!(
            m.reactions,
            [
                Reaction {
                    emoji: "👍".into(),
                    users: vec!["ben".into(), "ann".into()],
                    me: true
                },
                Reaction {
                    emoji: "🎉".into(),
                    users: vec!["ben".into()],
                    me: false
                },
            ]
        );
        apply(
            &mut m,
            &change(5, 1, "ann", ChangeKind::Unreact, "👍"),
            Some("ann"),
        );
        apply(
            &mut m,
            &change(6, 1, "ben", ChangeKind::Unreact, "🎉"),
            Some("ann"),
        );
        assert_eq!(
            m.reactions,
            [Reaction {
                emoji: "👍".into(),
                users: vec!["ben".into()],
                me: false
            }]
        );
    }

    #[test]
    fn a_deleted_message_takes_no_more_edits_or_reactions() {
        let mut m = message(1);
        apply(&mut m, &change(2, 1, "ben", ChangeKind::React, "👍"), None);
        apply(&mut m, &change(3, 1, "ann", ChangeKind::Delete, ""), None);
        assert_eq!((m.body.as_str(), m.deleted_at), ("", Some(30)));
        assert!(m.reactions.is_empty());
        assert!(apply(
            &mut m,
            &change(4, 1, "ann", ChangeKind::Edit, "back"),
            None
        ));
        assert!(apply(
            &mut m,
            &change(5, 1, "ben", ChangeKind::React, "👍"),
            None
        ));
        assert_eq!((m.body.as_str(), m.edited_at, m.rev), ("", None, 5));
        assert!(m.reactions.is_empty());
    }

    #[test]
    fn merging_keeps_the_newer_state() {
        let mut held = message(1);
        apply(
            &mut held,
            &change(4, 1, "ann", ChangeKind::Edit, "newer"),
            None,
        );
        let mut older = message(1);
        older.rev = 2;
        older.body = "older".into();
        merge(&mut held, older);
        assert_eq!(held.body, "newer");
        let mut newest = message(1);
        newest.rev = 6;
        newest.body = "newest".into();
        merge(&mut held, newest);
        assert_eq!((held.body.as_str(), held.rev), ("newest", 6));
    }

    #[test]
    fn quotes_follow_their_original() {
        let mut original = message(1);
        let mut reply = message(2);
        reply.reply = Some(quote_of(&original));
        let mut other = message(3);
        other.reply = Some(Quote {
            seq: 9,
            sender: "ben".into(),
            body: "else".into(),
            deleted: false,
        });
        apply(
            &mut original,
            &change(4, 1, "ann", ChangeKind::Edit, "changed"),
            None,
        );
        let mut messages = vec![reply, other];
        refresh_quotes(&mut messages, &original);
        assert_eq!(
            messages[0].reply.as_ref().map(|q| q.body.as_str()),
            Some("changed")
        );
        assert_eq!(
            messages[1].reply.as_ref().map(|q| q.body.as_str()),
            Some("else")
        );
        apply(
            &mut original,
            &change(5, 1, "ann", ChangeKind::Delete, ""),
            None,
        );
        refresh_quotes(&mut messages, &original);
        let quote = messages[0].reply.clone();
        assert_eq!(
            quote,
            Some(Quote {
                seq: 1,
                sender: "ann".into(),
                body: String::new(),
                deleted: true
            })
        );
    }
}
