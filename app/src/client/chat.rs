//! What the browser knows about the conversation on screen, as plain data.
//!
//! Server frames fold into a [`Chat`] with [`Chat::apply`], which answers
//! with the frames to send back. Nothing here touches the browser, so the
//! logic is tested natively.
//!
//! Sending is at-least-once: a message waits in the outbox until the server
//! acknowledges its `client_id`, and everything still waiting is sent again
//! after each reconnect (the server stores a repeated `client_id` only once).

use std::collections::BTreeSet;

use crate::protocol::{
    ClientFrame, Conv, Cursor, Message, ServerFrame, LOBBY, MAX_BODY_BYTES, PROTOCOL_VERSION,
};

/// How many recent messages to ask for when the timeline is empty.
pub const HISTORY_PAGE: u32 = 50;

/// Where a message on screen stands.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// Stored by the server.
    Sent,
    /// Waiting for the server's acknowledgement.
    Sending,
    /// Refused by the server, with its reason.
    Failed(String),
}

impl Delivery {
    /// The machine name, used for the `data-status` attribute.
    pub fn as_str(&self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::Sending => "sending",
            Delivery::Failed(_) => "failed",
        }
    }
}

/// One row of the timeline, ready to render.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Stable while the row's message keeps its state.
    pub key: String,
    pub sender: String,
    pub body: String,
    /// Server time in milliseconds; absent until stored.
    pub ts: Option<i64>,
    /// Sent by the signed-in user.
    pub mine: bool,
    pub delivery: Delivery,
}

/// Why a message cannot be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DraftError {
    Empty,
    TooLong,
}

impl std::fmt::Display for DraftError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DraftError::Empty => f.write_str("Write something first."),
            DraftError::TooLong => write!(f, "Messages are at most {} KiB.", MAX_BODY_BYTES / 1024),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Outgoing {
    client_id: String,
    body: String,
    error: Option<String>,
}

/// The lobby as this browser sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chat {
    conv: Conv,
    /// The signed-in user, once the server has said who we are.
    user: Option<String>,
    /// Stored messages, ordered by `seq`, each `seq` once.
    messages: Vec<Message>,
    outbox: Vec<Outgoing>,
    online: BTreeSet<String>,
    /// The server answered `hello` on the current connection.
    greeted: bool,
    /// The last error the server reported that belongs to no message.
    notice: Option<String>,
}

impl Default for Chat {
    fn default() -> Self {
        Chat::new(Conv::Room(LOBBY.to_owned()))
    }
}

impl Chat {
    pub fn new(conv: Conv) -> Self {
        Chat {
            conv,
            user: None,
            messages: Vec::new(),
            outbox: Vec::new(),
            online: BTreeSet::new(),
            greeted: false,
            notice: None,
        }
    }

    /// The conversation shown.
    pub fn conv(&self) -> &Conv {
        &self.conv
    }

    /// The first frame of a connection: resume after the last stored
    /// message we hold, if any.
    pub fn hello(&self) -> ClientFrame {
        let cursors = self
            .last_seq()
            .map(|seq| Cursor {
                conv: self.conv.clone(),
                seq,
            })
            .into_iter()
            .collect();
        ClientFrame::Hello {
            version: PROTOCOL_VERSION,
            cursors,
        }
    }

    /// The connection closed: nothing can be sent until the next `welcome`.
    pub fn disconnected(&mut self) {
        self.greeted = false;
        self.online.clear();
    }

    /// Put a message in the outbox. Returns the frame to send now, or
    /// `None` when the connection is not ready (it goes out on the next
    /// `welcome`).
    pub fn queue(
        &mut self,
        client_id: String,
        body: &str,
    ) -> Result<Option<ClientFrame>, DraftError> {
        let body = body.trim();
        if body.is_empty() {
            return Err(DraftError::Empty);
        }
        if body.len() > MAX_BODY_BYTES {
            return Err(DraftError::TooLong);
        }
        let outgoing = Outgoing {
            client_id,
            body: body.to_owned(),
            error: None,
        };
        let frame = self.greeted.then(|| self.send_frame(&outgoing));
        self.outbox.push(outgoing);
        Ok(frame)
    }

    /// Fold one server frame in; returns the frames to send in reply.
    pub fn apply(&mut self, frame: ServerFrame) -> Vec<ClientFrame> {
        let mut replies = Vec::new();
        match frame {
            ServerFrame::Welcome { user, online, .. } => {
                self.user = Some(user);
                self.online = online.into_iter().collect();
                self.greeted = true;
                self.notice = None;
                if self.messages.is_empty() {
                    replies.push(ClientFrame::History {
                        conv: self.conv.clone(),
                        before: None,
                        limit: Some(HISTORY_PAGE),
                    });
                }
                replies.extend(
                    self.outbox
                        .iter()
                        .filter(|o| o.error.is_none())
                        .map(|o| self.send_frame(o)),
                );
            }
            ServerFrame::Message { message } => self.insert(message),
            ServerFrame::History { conv, messages, .. } if conv == self.conv => {
                for message in messages {
                    self.insert(message);
                }
            }
            ServerFrame::Ack {
                client_id,
                id,
                conv,
                seq,
                ts,
            } if conv == self.conv => {
                if let Some(at) = self.outbox.iter().position(|o| o.client_id == client_id) {
                    let outgoing = self.outbox.remove(at);
                    let sender = self.user.clone().unwrap_or_default();
                    self.insert(Message {
                        id,
                        conv,
                        seq,
                        sender,
                        body: outgoing.body,
                        ts,
                        client_id: Some(client_id),
                    });
                }
            }
            ServerFrame::Presence { user, online } => {
                if online {
                    self.online.insert(user);
                } else {
                    self.online.remove(&user);
                }
            }
            ServerFrame::Error {
                message,
                client_id: Some(client_id),
                ..
            } => {
                if let Some(o) = self.outbox.iter_mut().find(|o| o.client_id == client_id) {
                    o.error = Some(message);
                }
            }
            ServerFrame::Error { message, .. } => self.notice = Some(message),
            _ => {}
        }
        replies
    }

    /// The rows to show: stored messages by `seq`, then the outbox.
    pub fn entries(&self) -> Vec<Entry> {
        let me = self.user.as_deref();
        let stored = self.messages.iter().map(|m| Entry {
            key: format!("m{}", m.id),
            sender: m.sender.clone(),
            body: m.body.clone(),
            ts: Some(m.ts),
            mine: Some(m.sender.as_str()) == me,
            delivery: Delivery::Sent,
        });
        let waiting = self.outbox.iter().map(|o| Entry {
            key: format!("c{}", o.client_id),
            sender: me.unwrap_or_default().to_owned(),
            body: o.body.clone(),
            ts: None,
            mine: true,
            delivery: match &o.error {
                Some(reason) => Delivery::Failed(reason.clone()),
                None => Delivery::Sending,
            },
        });
        stored.chain(waiting).collect()
    }

    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Who is online, by name.
    pub fn online(&self) -> impl Iterator<Item = &str> {
        self.online.iter().map(String::as_str)
    }

    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    pub fn last_seq(&self) -> Option<i64> {
        self.messages.last().map(|m| m.seq)
    }

    fn send_frame(&self, outgoing: &Outgoing) -> ClientFrame {
        ClientFrame::Send {
            client_id: outgoing.client_id.clone(),
            conv: self.conv.clone(),
            body: outgoing.body.clone(),
        }
    }

    fn insert(&mut self, message: Message) {
        if message.conv != self.conv {
            return;
        }
        // Our own message, stored before we saw its ack (the connection
        // dropped in between): it is no longer waiting.
        if let Some(client_id) = &message.client_id {
            if self.user.as_deref() == Some(message.sender.as_str()) {
                self.outbox.retain(|o| &o.client_id != client_id);
            }
        }
        if let Err(at) = self.messages.binary_search_by_key(&message.seq, |m| m.seq) {
            self.messages.insert(at, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lobby() -> Conv {
        Conv::Room(LOBBY.into())
    }

    fn welcome(user: &str) -> ServerFrame {
        ServerFrame::Welcome {
            version: PROTOCOL_VERSION,
            user: user.into(),
            conversations: vec![],
            online: vec![user.into()],
        }
    }

    fn message(seq: i64, sender: &str, body: &str, client_id: Option<&str>) -> Message {
        Message {
            id: 100 + seq,
            conv: lobby(),
            seq,
            sender: sender.into(),
            body: body.into(),
            ts: 1_000 * seq,
            client_id: client_id.map(Into::into),
        }
    }

    fn bodies(chat: &Chat) -> Vec<(String, &'static str)> {
        chat.entries()
            .into_iter()
            .map(|e| (e.body, e.delivery.as_str()))
            .collect()
    }

    #[test]
    fn first_hello_has_no_cursor_and_welcome_asks_for_history() {
        let mut chat = Chat::default();
        assert_eq!(
            crate::protocol::encode(&chat.hello()),
            r#"{"type":"hello","version":1,"cursors":[]}"#
        );
        let replies = chat.apply(welcome("alice"));
        assert_eq!(
            replies,
            vec![ClientFrame::History {
                conv: lobby(),
                before: None,
                limit: Some(HISTORY_PAGE)
            }]
        );
        assert_eq!(chat.user(), Some("alice"));
    }

    #[test]
    fn messages_are_ordered_by_seq_and_kept_once() {
        let mut chat = Chat::default();
        chat.apply(welcome("alice"));
        chat.apply(ServerFrame::Message {
            message: message(3, "bob", "three", None),
        });
        chat.apply(ServerFrame::History {
            conv: lobby(),
            messages: vec![
                message(1, "bob", "one", None),
                message(3, "bob", "three", None),
            ],
            has_more: false,
        });
        chat.apply(ServerFrame::Message {
            message: message(2, "carol", "two", None),
        });
        assert_eq!(
            bodies(&chat),
            [
                ("one".into(), "sent"),
                ("two".into(), "sent"),
                ("three".into(), "sent")
            ]
        );
        assert_eq!(chat.last_seq(), Some(3));
    }

    #[test]
    fn other_conversations_are_ignored_for_now() {
        let mut chat = Chat::default();
        chat.apply(ServerFrame::Message {
            message: Message {
                conv: Conv::Dm("bob".into()),
                ..message(1, "bob", "psst", None)
            },
        });
        assert!(chat.entries().is_empty());
    }

    #[test]
    fn a_send_waits_for_its_ack() {
        let mut chat = Chat::default();
        chat.apply(welcome("alice"));
        let frame = chat.queue("c-1".into(), "  hi <b>all</b> ").unwrap();
        assert_eq!(
            frame.map(|f| crate::protocol::encode(&f)).as_deref(),
            Some(
                r#"{"type":"send","client_id":"c-1","conv":{"room":"lobby"},"body":"hi <b>all</b>"}"#
            )
        );
        assert_eq!(bodies(&chat), [("hi <b>all</b>".into(), "sending")]);

        chat.apply(ServerFrame::Ack {
            client_id: "c-1".into(),
            id: 9,
            conv: lobby(),
            seq: 4,
            ts: 5,
        });
        let entries = chat.entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].delivery, Delivery::Sent);
        assert_eq!(entries[0].sender, "alice");
        assert!(entries[0].mine);
        assert_eq!(chat.last_seq(), Some(4));
    }

    #[test]
    fn the_outbox_is_sent_again_after_a_reconnect() {
        let mut chat = Chat::default();
        assert_eq!(chat.queue("c-1".into(), "offline"), Ok(None));
        chat.apply(welcome("alice"));
        chat.apply(ServerFrame::Message {
            message: message(1, "bob", "hey", None),
        });
        chat.disconnected();
        assert_eq!(chat.queue("c-2".into(), "later"), Ok(None));

        assert_eq!(
            chat.hello(),
            ClientFrame::Hello {
                version: PROTOCOL_VERSION,
                cursors: vec![Cursor {
                    conv: lobby(),
                    seq: 1
                }]
            }
        );
        let replies = chat.apply(welcome("alice"));
        let ids: Vec<_> = replies
            .iter()
            .map(|f| match f {
                ClientFrame::Send { client_id, .. } => client_id.as_str(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(ids, ["c-1", "c-2"]);
    }

    #[test]
    fn a_backlog_copy_of_our_message_clears_the_outbox() {
        let mut chat = Chat::default();
        chat.apply(welcome("alice"));
        chat.queue("c-1".into(), "hi").unwrap();
        chat.apply(ServerFrame::Message {
            message: message(1, "alice", "hi", Some("c-1")),
        });
        assert_eq!(bodies(&chat), [("hi".into(), "sent")]);
    }

    #[test]
    fn refusals_mark_the_message_or_raise_a_notice() {
        let mut chat = Chat::default();
        chat.apply(welcome("alice"));
        chat.queue("c-1".into(), "spam").unwrap();
        chat.apply(ServerFrame::Error {
            code: crate::protocol::ErrorCode::RateLimited,
            message: "slow down".into(),
            client_id: Some("c-1".into()),
        });
        assert_eq!(
            chat.entries()[0].delivery,
            Delivery::Failed("slow down".into())
        );
        // A failed message is not resent automatically.
        chat.disconnected();
        assert!(!chat
            .apply(welcome("alice"))
            .iter()
            .any(|f| matches!(f, ClientFrame::Send { .. })));

        chat.apply(ServerFrame::Error {
            code: crate::protocol::ErrorCode::Internal,
            message: "oops".into(),
            client_id: None,
        });
        assert_eq!(chat.notice(), Some("oops"));
    }

    #[test]
    fn drafts_are_checked() {
        let mut chat = Chat::default();
        assert_eq!(chat.queue("c".into(), "   "), Err(DraftError::Empty));
        let long = "x".repeat(MAX_BODY_BYTES + 1);
        assert_eq!(chat.queue("c".into(), &long), Err(DraftError::TooLong));
        assert!(chat.entries().is_empty());
    }

    #[test]
    fn presence_updates_the_online_list() {
        let mut chat = Chat::default();
        chat.apply(welcome("alice"));
        chat.apply(ServerFrame::Presence {
            user: "bob".into(),
            online: true,
        });
        assert_eq!(chat.online().collect::<Vec<_>>(), ["alice", "bob"]);
        chat.apply(ServerFrame::Presence {
            user: "bob".into(),
            online: false,
        });
        assert_eq!(chat.online().collect::<Vec<_>>(), ["alice"]);
    }
}
