//! Room access for tests: every frame that touches a room, sent and
//! answered, so that the authorization matrix (`tests/access.rs`, and its
//! cross-node rows in `tests/cluster.rs`) can be written as a table.

use app::protocol::{Role, RoomAction};

use super::*;

/// A frame that touches a room, as a row of the matrix tries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    History,
    Members,
    Send,
    Read,
    Typing,
    React,
    Edit,
    Delete,
    Invite,
    Kick,
    Mute,
    Ban,
    Unban,
    Topic,
    Visibility,
    ModerationLog,
    Join,
    Leave,
}

pub const PROBES: [Probe; 18] = [
    Probe::History,
    Probe::Members,
    Probe::Send,
    Probe::Read,
    Probe::Typing,
    Probe::React,
    Probe::Edit,
    Probe::Delete,
    Probe::Invite,
    Probe::Kick,
    Probe::Mute,
    Probe::Ban,
    Probe::Unban,
    Probe::Topic,
    Probe::Visibility,
    Probe::ModerationLog,
    Probe::Join,
    Probe::Leave,
];

/// Whom and what a probe names.
#[derive(Clone, Debug)]
pub struct Aim {
    pub room: String,
    /// A message (by someone else) to react to, edit and delete.
    pub seq: i64,
    pub invitee: String,
    pub kick: String,
    pub mute: String,
    pub ban: String,
    pub unban: String,
    /// A topic never set before (a repeat is `no_change`).
    pub topic: String,
}

/// What the server answered: `Ok`, or the error's code and text.
pub type Answer = Result<(), (ErrorCode, String)>;

impl Client {
    /// Send a room action; its ack, or the error that refused it.
    pub async fn act(&mut self, client_id: &str, room: &str, action: RoomAction) -> Answer {
        self.send(&ClientFrame::RoomAction {
            client_id: client_id.into(),
            room: room.into(),
            action,
        })
        .await;
        self.answer_to(
            Some(client_id),
            room,
            |f| matches!(f, ServerFrame::Ack { client_id: c, .. } if c == client_id),
        )
        .await
    }

    /// Wait for the frame `done` accepts, or an error about this request
    /// (same client id, or same room when there is none).
    pub async fn answer_to(
        &mut self,
        client_id: Option<&str>,
        room_name: &str,
        mut done: impl FnMut(&ServerFrame) -> bool,
    ) -> Answer {
        let conv = room(room_name);
        loop {
            let frame = self.recv().await;
            if done(&frame) {
                return Ok(());
            }
            if let ServerFrame::Error {
                code,
                message,
                client_id: cid,
                conv: c,
            } = frame
            {
                let ours = match client_id {
                    Some(id) => cid.as_deref() == Some(id),
                    None => c.as_ref().is_some_and(|c| c.name() == conv.name()),
                };
                if ours {
                    return Err((code, message));
                }
                panic!(
                    "{}: an error about something else: {code:?} {message}",
                    self.user
                );
            }
        }
    }

    /// Try one probe against `aim`, as the `n`th try of this client.
    pub async fn probe(&mut self, probe: Probe, aim: &Aim, n: usize) -> Answer {
        let r = aim.room.as_str();
        let cid = format!("{}-{n}-{probe:?}", self.user);
        let conv = room(r);
        match probe {
            Probe::History => {
                self.send(&ClientFrame::History {
                    conv,
                    before: None,
                    limit: Some(5),
                })
                .await;
                self.answer_to(None, r, |f| matches!(f, ServerFrame::History { .. }))
                    .await
            }
            Probe::Members => {
                self.send(&ClientFrame::Members { room: r.into() }).await;
                self.answer_to(None, r, |f| matches!(f, ServerFrame::Members { .. }))
                    .await
            }
            Probe::Read => {
                self.send(&ClientFrame::Read { conv, seq: 1 }).await;
                self.answer_to(None, r, |f| matches!(f, ServerFrame::Read { .. }))
                    .await
            }
            Probe::Typing => {
                // Typing is answered only when refused: a pong first means
                // it was taken.
                self.send(&ClientFrame::Typing { conv }).await;
                let nonce = 1_000_000 + n as u64;
                self.send(&ClientFrame::Ping { nonce }).await;
                self.answer_to(
                    None,
                    r,
                    |f| matches!(f, ServerFrame::Pong { nonce: got } if *got == nonce),
                )
                .await
            }
            Probe::ModerationLog => {
                self.send(&ClientFrame::ModerationLog { room: r.into() })
                    .await;
                self.answer_to(None, r, |f| matches!(f, ServerFrame::ModerationLog { .. }))
                    .await
            }
            Probe::Join => {
                self.send(&ClientFrame::JoinRoom { room: r.into() }).await;
                self.answer_to(
                    None,
                    r,
                    |f| matches!(f, ServerFrame::Joined { info } if info.conv.name() == r),
                )
                .await
            }
            Probe::Leave => {
                self.send(&ClientFrame::LeaveRoom { room: r.into() }).await;
                self.answer_to(
                    None,
                    r,
                    |f| matches!(f, ServerFrame::Left { room, .. } if room == r),
                )
                .await
            }
            Probe::Send | Probe::React | Probe::Edit | Probe::Delete => {
                let frame = match probe {
                    Probe::Send => ClientFrame::Send {
                        client_id: cid.clone(),
                        conv,
                        body: "probe".into(),
                        reply_to: None,
                    },
                    Probe::React => ClientFrame::React {
                        client_id: cid.clone(),
                        conv,
                        seq: aim.seq,
                        emoji: "\u{1F44D}".into(),
                    },
                    Probe::Edit => ClientFrame::Edit {
                        client_id: cid.clone(),
                        conv,
                        seq: aim.seq,
                        body: "edited by a probe".into(),
                    },
                    _ => ClientFrame::Delete {
                        client_id: cid.clone(),
                        conv,
                        seq: aim.seq,
                    },
                };
                self.send(&frame).await;
                self.answer_to(
                    Some(&cid),
                    r,
                    |f| matches!(f, ServerFrame::Ack { client_id, .. } if *client_id == cid),
                )
                .await
            }
            Probe::Invite => {
                let user = aim.invitee.clone();
                self.act(&cid, r, RoomAction::Invite { user }).await
            }
            Probe::Kick => {
                let user = aim.kick.clone();
                self.act(&cid, r, RoomAction::Kick { user }).await
            }
            Probe::Mute => {
                let user = aim.mute.clone();
                self.act(&cid, r, RoomAction::Mute { user, minutes: 10 })
                    .await
            }
            Probe::Ban => {
                let user = aim.ban.clone();
                self.act(&cid, r, RoomAction::Ban { user }).await
            }
            Probe::Unban => {
                let user = aim.unban.clone();
                self.act(&cid, r, RoomAction::Unban { user }).await
            }
            Probe::Topic => {
                let topic = aim.topic.clone();
                self.act(&cid, r, RoomAction::SetTopic { topic }).await
            }
            Probe::Visibility => {
                // Made public and, when that is allowed, private again.
                let answer = self
                    .act(&cid, r, RoomAction::SetVisibility { private: false })
                    .await;
                if answer.is_ok() {
                    let back = format!("{cid}-back");
                    self.act(&back, r, RoomAction::SetVisibility { private: true })
                        .await
                        .expect("made private again");
                }
                answer
            }
        }
    }

    /// Owner's shorthand: an action that must be acknowledged.
    pub async fn must(&mut self, client_id: &str, room: &str, action: RoomAction) {
        if let Err(refused) = self.act(client_id, room, action.clone()).await {
            panic!("{}: {action:?} refused: {refused:?}", self.user);
        }
    }

    /// Join a room; its state.
    pub async fn join_room(&mut self, name: &str) -> ConversationInfo {
        self.send(&ClientFrame::JoinRoom { room: name.into() })
            .await;
        match self
            .recv_until(|f| matches!(f, ServerFrame::Joined { .. } | ServerFrame::Error { .. }))
            .await
        {
            ServerFrame::Joined { info } => info,
            other => panic!("{}: joining {name}: {other:?}", self.user),
        }
    }

    /// Create a room; its state.
    pub async fn create(&mut self, name: &str, topic: &str, private: bool) -> ConversationInfo {
        self.send(&ClientFrame::CreateRoom {
            room: name.into(),
            title: String::new(),
            topic: topic.into(),
            private,
        })
        .await;
        match self
            .recv_until(|f| matches!(f, ServerFrame::Joined { .. } | ServerFrame::Error { .. }))
            .await
        {
            ServerFrame::Joined { info } => info,
            other => panic!("{}: creating {name}: {other:?}", self.user),
        }
    }

    /// Wait for the system line whose text is `text`.
    pub async fn expect_line(&mut self, text: &str) -> Message {
        match self
            .recv_until(|f| {
                matches!(f, ServerFrame::Message { message } if message.event.is_some() && message.body == text)
            })
            .await
        {
            ServerFrame::Message { message } => message,
            _ => unreachable!(),
        }
    }

    /// The directory's first page for `query`.
    pub async fn directory(&mut self, query: &str) -> (Vec<RoomInfo>, Option<String>) {
        self.send(&ClientFrame::Directory {
            query: query.into(),
            after: None,
            limit: None,
        })
        .await;
        match self
            .recv_until(|f| matches!(f, ServerFrame::Directory { .. }))
            .await
        {
            ServerFrame::Directory { rooms, next, .. } => (rooms, next),
            _ => unreachable!(),
        }
    }
}

/// Make `user` a moderator (or member, or owner).
pub fn set_role(user: &str, role: Role) -> RoomAction {
    RoomAction::SetRole {
        user: user.into(),
        role,
    }
}
