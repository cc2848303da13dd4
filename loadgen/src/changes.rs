//! Which edits, deletes and reactions are valid to send, so that the server
//! never has a reason to refuse one.
//!
//! The generator decides every change in one loop, at send time, from the
//! acks its sockets have received; the server's rules it follows:
//!
//! - only the author edits or deletes: a socket edits and deletes only the
//!   messages *it* sent and saw acknowledged (a change of one connection is
//!   stored after that connection's earlier changes, so an edit sent before
//!   a delete of the same message is never refused);
//! - nothing may be done to a deleted message: a message leaves every list
//!   when its delete is *sent*;
//! - a reaction from one socket could reach the server after another
//!   socket's delete of the same message, so a message that was ever
//!   reacted to is never deleted (and a deleted one never reacted to);
//! - one user, one of each emoji per message: react/unreact toggles are
//!   kept per user, and the caller lets only one socket of each user react,
//!   so that a user's reactions are ordered;
//! - at most 20 different emoji per message: the emoji come from a fixed
//!   set of at most 20.

use std::collections::{BTreeSet, HashSet};

use crate::fleet::Rng;
use crate::wire::ChangeOp;

/// Twenty single-code-point pictographs (U+1F600 … U+1F613).
pub const EMOJI: [&str; 20] = [
    "\u{1F600}",
    "\u{1F601}",
    "\u{1F602}",
    "\u{1F603}",
    "\u{1F604}",
    "\u{1F605}",
    "\u{1F606}",
    "\u{1F607}",
    "\u{1F608}",
    "\u{1F609}",
    "\u{1F60A}",
    "\u{1F60B}",
    "\u{1F60C}",
    "\u{1F60D}",
    "\u{1F60E}",
    "\u{1F60F}",
    "\u{1F610}",
    "\u{1F611}",
    "\u{1F612}",
    "\u{1F613}",
];

/// The kinds of change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Edit,
    Delete,
    React,
    Unreact,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Edit, Kind::Delete, Kind::React, Kind::Unreact];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Edit => "edit",
            Kind::Delete => "delete",
            Kind::React => "react",
            Kind::Unreact => "unreact",
        }
    }
}

/// What to try: an edit, a delete, or a reaction toggle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    Edit,
    Delete,
    Toggle,
}

/// One change to send: to the message at `target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    pub target: u64,
    pub kind: Kind,
    /// Index into [`EMOJI`] (reactions only).
    pub emoji: usize,
}

impl Planned {
    /// The frame's operation; `body` is used for an edit.
    pub fn op<'a>(&self, body: &'a str) -> ChangeOp<'a> {
        match self.kind {
            Kind::Edit => ChangeOp::Edit { body },
            Kind::Delete => ChangeOp::Delete,
            Kind::React => ChangeOp::React {
                emoji: EMOJI[self.emoji],
            },
            Kind::Unreact => ChangeOp::Unreact {
                emoji: EMOJI[self.emoji],
            },
        }
    }
}

/// The state the generator keeps to make only valid changes.
pub struct Book {
    /// Per socket: its acknowledged messages not (being) deleted, by seq.
    own: Vec<BTreeSet<u64>>,
    /// Per room: acknowledged messages not (being) deleted, in ack order.
    live: Vec<Vec<u64>>,
    /// (room, seq) of messages ever reacted to: never deleted.
    reacted: HashSet<(usize, u64)>,
    /// (user, room, seq, emoji) reactions in place (as sent).
    reactions: HashSet<(usize, usize, u64, usize)>,
    /// Reactions go to one of the newest `window` live messages of a room.
    window: usize,
    /// Reactions use the first `emoji` of [`EMOJI`].
    emoji: usize,
}

impl Book {
    pub fn new(sockets: usize, rooms: usize, window: usize, emoji: usize) -> Book {
        Book {
            own: vec![BTreeSet::new(); sockets],
            live: vec![Vec::new(); rooms],
            reacted: HashSet::new(),
            reactions: HashSet::new(),
            window: window.max(1),
            emoji: emoji.clamp(1, EMOJI.len()),
        }
    }

    /// `socket`'s message in `room` was acknowledged at `seq`.
    pub fn acked(&mut self, socket: usize, room: usize, seq: u64) {
        if let Some(own) = self.own.get_mut(socket) {
            own.insert(seq);
        }
        if let Some(live) = self.live.get_mut(room) {
            live.push(seq);
        }
    }

    /// Messages of `room` that can still be changed.
    pub fn live(&self, room: usize) -> &[u64] {
        self.live.get(room).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Reactions in place (as sent).
    pub fn reactions_in_place(&self) -> usize {
        self.reactions.len()
    }

    /// Plan a change of `socket` (of `user`, in `room`), and note it as
    /// sent. `None` when that socket has nothing it may change that way.
    pub fn plan(
        &mut self,
        rng: &mut Rng,
        want: Want,
        socket: usize,
        user: usize,
        room: usize,
    ) -> Option<Planned> {
        match want {
            Want::Edit => {
                let own = self.own.get(socket)?;
                if own.is_empty() {
                    return None;
                }
                let target = *own.iter().nth(rng.below(own.len()))?;
                Some(Planned {
                    target,
                    kind: Kind::Edit,
                    emoji: 0,
                })
            }
            Want::Delete => {
                let own = self.own.get_mut(socket)?;
                let target = *own
                    .iter()
                    .find(|&&seq| !self.reacted.contains(&(room, seq)))?;
                own.remove(&target);
                if let Some(live) = self.live.get_mut(room) {
                    live.retain(|&seq| seq != target);
                }
                Some(Planned {
                    target,
                    kind: Kind::Delete,
                    emoji: 0,
                })
            }
            Want::Toggle => {
                let live = self.live.get(room)?;
                if live.is_empty() {
                    return None;
                }
                let recent = &live[live.len().saturating_sub(self.window)..];
                let target = recent[rng.below(recent.len())];
                let emoji = rng.below(self.emoji);
                self.reacted.insert((room, target));
                let kind = if self.reactions.insert((user, room, target, emoji)) {
                    Kind::React
                } else {
                    self.reactions.remove(&(user, room, target, emoji));
                    Kind::Unreact
                };
                Some(Planned {
                    target,
                    kind,
                    emoji,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_planned_before_an_ack() {
        let mut book = Book::new(4, 2, 8, 4);
        let mut rng = Rng::new(1);
        for want in [Want::Edit, Want::Delete, Want::Toggle] {
            assert_eq!(book.plan(&mut rng, want, 0, 0, 0), None);
        }
    }

    #[test]
    fn edits_and_deletes_only_touch_the_sockets_own_messages() {
        let mut book = Book::new(4, 2, 8, 4);
        let mut rng = Rng::new(3);
        book.acked(0, 0, 5);
        book.acked(1, 0, 6);
        book.acked(0, 0, 7);
        for _ in 0..50 {
            let p = book.plan(&mut rng, Want::Edit, 0, 0, 0).unwrap();
            assert!(p.target == 5 || p.target == 7);
            assert_eq!(p.kind, Kind::Edit);
        }
        // Socket 2 (same room) has sent nothing.
        assert_eq!(book.plan(&mut rng, Want::Edit, 2, 1, 0), None);
        assert_eq!(book.plan(&mut rng, Want::Delete, 2, 1, 0), None);
        // The oldest goes first, and never comes back.
        let d = book.plan(&mut rng, Want::Delete, 0, 0, 0).unwrap();
        assert_eq!((d.target, d.kind), (5, Kind::Delete));
        for _ in 0..50 {
            assert_eq!(book.plan(&mut rng, Want::Edit, 0, 0, 0).unwrap().target, 7);
            let t = book.plan(&mut rng, Want::Toggle, 3, 1, 0).unwrap();
            assert_ne!(t.target, 5, "a deleted message is never reacted to");
        }
        assert_eq!(book.live(0), &[6, 7]);
    }

    #[test]
    fn a_message_reacted_to_is_never_deleted() {
        let mut book = Book::new(2, 1, 8, 4);
        let mut rng = Rng::new(5);
        book.acked(0, 0, 1);
        book.acked(0, 0, 2);
        // Only message 1 can be reacted to at first.
        let mut single = Book::new(2, 1, 8, 4);
        single.acked(0, 0, 1);
        let t = single.plan(&mut rng, Want::Toggle, 1, 1, 0).unwrap();
        assert_eq!(t.target, 1);
        assert_eq!(single.plan(&mut rng, Want::Delete, 0, 0, 0), None);
        // In the bigger book, react to both: nothing is left to delete.
        while book.reacted.len() < 2 {
            book.plan(&mut rng, Want::Toggle, 1, 1, 0).unwrap();
        }
        assert_eq!(book.plan(&mut rng, Want::Delete, 0, 0, 0), None);
        // Edits of reacted messages are fine.
        assert!(book.plan(&mut rng, Want::Edit, 0, 0, 0).is_some());
    }

    #[test]
    fn reactions_toggle_per_user_within_the_emoji_set() {
        let mut book = Book::new(3, 1, 8, 3);
        let mut rng = Rng::new(9);
        book.acked(0, 0, 10);
        let mut state: HashSet<(usize, u64, usize)> = HashSet::new();
        let mut kinds = HashSet::new();
        for i in 0..500 {
            let user = i % 3;
            let p = book.plan(&mut rng, Want::Toggle, user, user, 0).unwrap();
            assert!(p.emoji < 3);
            kinds.insert(p.kind);
            // A user reacts only when they have not, and unreacts only when
            // they have: what the server's already_reacted / not_reacted
            // rules ask.
            let key = (user, p.target, p.emoji);
            match p.kind {
                Kind::React => assert!(state.insert(key)),
                Kind::Unreact => assert!(state.remove(&key)),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(kinds.len(), 2);
        assert_eq!(book.reactions_in_place(), state.len());
    }

    #[test]
    fn reactions_go_to_the_newest_messages() {
        let mut book = Book::new(1, 1, 2, 20);
        let mut rng = Rng::new(11);
        for seq in 1..=10 {
            book.acked(0, 0, seq);
        }
        for _ in 0..100 {
            let p = book.plan(&mut rng, Want::Toggle, 0, 0, 0).unwrap();
            assert!(p.target >= 9);
        }
    }

    #[test]
    fn the_emoji_are_distinct_pictographs() {
        let set: HashSet<&str> = EMOJI.iter().copied().collect();
        assert_eq!(set.len(), 20);
        for e in EMOJI {
            let c = e.chars().next().unwrap() as u32;
            assert!((0x1F000..=0x1FAFF).contains(&c) && e.chars().count() == 1);
        }
    }
}
