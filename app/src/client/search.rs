//! What the page knows of a search, and of a piece of history away from a
//! conversation's newest messages (a result's context): plain data, folded
//! into [`Chat`](super::Chat) and tested natively.

use crate::protocol::{ClientFrame, Conv, Message, SearchHit, SearchOrder, MAX_HISTORY_PAGE};

/// Results asked for at a time.
pub const SEARCH_PAGE: u32 = 20;

/// The last search typed, and what came back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchState {
    pub query: String,
    pub order: SearchOrder,
    pub hits: Vec<SearchHit>,
    /// Asks for the next page, when there is one.
    pub cursor: Option<i64>,
    /// A page was asked for and has not arrived.
    pub loading: bool,
    /// At least one answer arrived for `query`.
    pub answered: bool,
    /// Why the server refused it.
    pub error: Option<String>,
}

impl SearchState {
    /// Start the search `query` (or ask for its next page, `more`); the
    /// frame to send, unless there is nothing to ask.
    pub fn ask(
        &mut self,
        query: &str,
        order: SearchOrder,
        more: bool,
        tz: i32,
    ) -> Option<ClientFrame> {
        let query = query.trim();
        if more {
            if self.loading || self.cursor.is_none() {
                return None;
            }
        } else {
            *self = SearchState {
                query: query.to_owned(),
                order,
                ..SearchState::default()
            };
            if query.is_empty() {
                return None;
            }
        }
        self.loading = true;
        Some(ClientFrame::Search {
            query: self.query.clone(),
            order: self.order,
            cursor: if more { self.cursor } else { None },
            limit: Some(SEARCH_PAGE),
            tz,
        })
    }

    /// A page of results; pages of an older search are dropped.
    pub fn answer(&mut self, query: String, hits: Vec<SearchHit>, cursor: Option<i64>) {
        if query != self.query {
            return;
        }
        if !self.answered {
            self.hits.clear();
        }
        for hit in hits {
            if !self.hits.iter().any(|h| h.id == hit.id) {
                self.hits.push(hit);
            }
        }
        self.cursor = cursor;
        self.loading = false;
        self.answered = true;
        self.error = None;
    }

    /// The server refused the search on its way.
    pub fn refused(&mut self, why: String) -> bool {
        if !self.loading {
            return false;
        }
        self.loading = false;
        self.error = Some(why);
        true
    }
}

/// A piece of one conversation's history, shown instead of its newest
/// messages while someone reads a search result's context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// The conversation (key form).
    pub conv: Conv,
    /// Oldest first, each `seq` once.
    pub messages: Vec<Message>,
    pub has_older: bool,
    pub has_newer: bool,
    /// A piece was asked for and has not arrived.
    pub loading: bool,
    /// The message to show once it is here.
    pub target: Option<i64>,
}

impl Window {
    /// A window of `conv` on its way, to show `target` in.
    pub fn around(conv: Conv, target: i64) -> Window {
        Window {
            conv,
            messages: Vec::new(),
            has_older: false,
            has_newer: false,
            loading: true,
            target: Some(target),
        }
    }

    /// Fold a piece in: messages by `seq`, and what lies beyond the ends.
    pub fn merge(&mut self, messages: Vec<Message>, has_older: bool, has_newer: bool) {
        let first = self.messages.first().map(|m| m.seq);
        let last = self.messages.last().map(|m| m.seq);
        let (lo, hi) = (
            messages.first().map(|m| m.seq),
            messages.last().map(|m| m.seq),
        );
        match (first, last) {
            (None, _) | (_, None) => {
                self.has_older = has_older;
                self.has_newer = has_newer;
            }
            (Some(first), Some(last)) => {
                if lo.is_none_or(|lo| lo < first) {
                    self.has_older = has_older;
                }
                if hi.is_none_or(|hi| hi > last) {
                    self.has_newer = has_newer;
                }
            }
        }
        for message in messages {
            match self.messages.binary_search_by_key(&message.seq, |m| m.seq) {
                Ok(at) => self.messages[at] = message,
                Err(at) => self.messages.insert(at, message),
            }
        }
        self.loading = false;
    }

    /// The next piece to fetch, older or newer, if there is one to fetch.
    pub fn more(&mut self, newer: bool) -> Option<ClientFrame> {
        if self.loading || (newer && !self.has_newer) || (!newer && !self.has_older) {
            return None;
        }
        let edge = if newer {
            self.messages.last()?
        } else {
            self.messages.first()?
        };
        let conv = edge.conv.clone();
        let seq = edge.seq;
        self.loading = true;
        Some(ClientFrame::Window {
            conv,
            around: None,
            before: (!newer).then_some(seq),
            after: newer.then_some(seq),
            limit: Some(MAX_HISTORY_PAGE / 4),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: i64) -> Message {
        Message {
            mentions: Default::default(),
            id: seq * 10,
            conv: Conv::Room("dev".into()),
            seq,
            sender: "ann".into(),
            display: None,
            body: format!("m{seq}"),
            ts: seq,
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

    fn hit(id: i64) -> SearchHit {
        SearchHit {
            conv: Conv::Room("dev".into()),
            id,
            seq: id,
            sender: "ann".into(),
            display: None,
            ts: id,
            excerpt: "消息".into(),
            marks: vec![(0, 6)],
        }
    }

    #[test]
    fn pages_of_a_search_add_up_and_stale_answers_are_dropped() {
        let mut s = SearchState::default();
        assert_eq!(s.ask("  ", SearchOrder::Newest, false, 0), None);
        let first = s.ask(" 消息 ", SearchOrder::Newest, false, 60);
        assert!(
            matches!(first, Some(ClientFrame::Search { ref query, tz: 60, cursor: None, .. }) if query == "消息")
        );
        assert_eq!(
            s.ask("消息", SearchOrder::Newest, true, 0),
            None,
            "one page at a time"
        );
        s.answer("old".into(), vec![hit(1)], None);
        assert!(s.hits.is_empty() && s.loading);
        s.answer("消息".into(), vec![hit(9), hit(8)], Some(8));
        let more = s.ask("消息", SearchOrder::Newest, true, 0);
        assert!(matches!(
            more,
            Some(ClientFrame::Search {
                cursor: Some(8),
                ..
            })
        ));
        s.answer("消息".into(), vec![hit(8), hit(7)], None);
        assert_eq!(s.hits.iter().map(|h| h.id).collect::<Vec<_>>(), [9, 8, 7]);
        assert_eq!(
            s.ask("消息", SearchOrder::Newest, true, 0),
            None,
            "no more pages"
        );
        s.ask("from:", SearchOrder::Relevance, false, 0);
        assert!(s.refused("type something".into()));
        assert_eq!(s.error.as_deref(), Some("type something"));
        assert!(!s.refused("again".into()), "only while one is on its way");
    }

    #[test]
    fn a_window_grows_both_ways() {
        let mut w = Window::around(Conv::Room("dev".into()), 50);
        w.merge((40..=60).map(message).collect(), true, true);
        assert!(!w.loading && w.has_older && w.has_newer);
        let older = w.more(false);
        assert!(matches!(
            older,
            Some(ClientFrame::Window {
                before: Some(40),
                after: None,
                ..
            })
        ));
        assert_eq!(w.more(true), None, "one piece at a time");
        w.merge((1..40).map(message).collect(), false, true);
        assert!(!w.has_older && w.has_newer);
        assert_eq!(w.more(false), None);
        let newer = w.more(true);
        assert!(matches!(
            newer,
            Some(ClientFrame::Window {
                after: Some(60),
                ..
            })
        ));
        w.merge((61..=70).map(message).collect(), true, false);
        assert!(!w.has_newer && !w.has_older);
        assert_eq!(w.messages.len(), 70);
        assert!(w.messages.windows(2).all(|p| p[0].seq + 1 == p[1].seq));
    }
}
