//! The resume handshake: `welcome`, the backlog the cursors ask for, `synced`.
//!
//! The connection is registered with the hub *before* the backlog is read, so
//! a message committed meanwhile is either in the backlog, in the live queue,
//! or both; [`SentPositions`] drops the second copy. Nothing falls between.

use std::collections::HashMap;

use bytes::Bytes;

use app::protocol::{Conv, ConversationInfo, Cursor, Invitation, ServerFrame, PROTOCOL_VERSION};

use super::link::Link;
use crate::hub::{frame, Displays};
use crate::relay::log_frame;
use crate::state::AppState;
use crate::store::{ConvKind, Membership, User};

/// Without a cursor, a conversation's unread messages are sent, at most this many.
pub const UNREAD_BACKLOG: i64 = 200;
/// Backlog rows read per query.
const PAGE: u32 = 500;
/// The backlog is written out whenever this much of it is waiting.
const FLUSH_AT: usize = 64 * 1024;

/// The highest sequence sent so far, per stored conversation.
#[derive(Debug, Default, Clone)]
pub struct SentPositions(HashMap<i64, i64>);

impl SentPositions {
    /// Record `seq` as sent; false when it (or something later) already was.
    pub fn advance(&mut self, conv_id: i64, seq: i64) -> bool {
        let last = self.0.entry(conv_id).or_insert(0);
        if seq > *last {
            *last = seq;
            true
        } else {
            false
        }
    }

    /// The last sequence sent in a conversation, if it is followed at all.
    pub fn last(&self, conv_id: i64) -> Option<i64> {
        self.0.get(&conv_id).copied()
    }

    /// Stop following a conversation.
    pub fn forget(&mut self, conv_id: i64) {
        self.0.remove(&conv_id);
    }
}

/// The wire name of a stored conversation, as its member sees it.
pub fn wire_conv(kind: &ConvKind) -> Conv {
    match kind {
        ConvKind::Room { name } => Conv::Room(name.clone()),
        ConvKind::Dm { peer } => Conv::Dm(peer.clone()),
        ConvKind::Guest { guest } => Conv::Guest(guest.clone()),
    }
}

/// Names compare without regard to case.
fn cursor_key(conv: &Conv) -> (u8, String) {
    let tag = match conv {
        Conv::Room(_) => 0,
        Conv::Dm(_) => 1,
        Conv::Guest(_) => 2,
    };
    (tag, conv.name().to_ascii_lowercase())
}

/// A conversation as `welcome` and `joined` list it; `displays` names a
/// direct conversation's other person.
pub fn conversation_info(m: &Membership, displays: &Displays) -> ConversationInfo {
    let room = matches!(m.kind, ConvKind::Room { .. });
    let title = match &m.kind {
        ConvKind::Room { name } if m.title != *name => m.title.clone(),
        ConvKind::Dm { peer } => displays.of(peer).unwrap_or_default(),
        _ => String::new(),
    };
    ConversationInfo {
        conv: wire_conv(&m.kind),
        last_seq: m.last_seq,
        read_seq: m.read_seq,
        unread: m.unread,
        members: room.then_some(m.members),
        role: room.then_some(m.role),
        muted_until: m.muted_until,
        topic: m.topic.clone(),
        private: m.private,
        title,
        mentions: m.mentions,
        notify: m.notify,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the connection ended")]
    Ended,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What `welcome` tells besides the conversations.
pub struct Greeting {
    pub online: Vec<String>,
    pub invites: Vec<Invitation>,
    pub blocked: Vec<String>,
}

/// Where the handshake's frames go: a socket's link, or a long-poll
/// response.
pub trait Greet {
    /// Queue a frame.
    fn send_now(&mut self, frame: Bytes);
    /// Bytes queued and not yet written.
    fn pending(&self) -> usize;
    /// Write what is queued; false when the peer is gone (or, for a
    /// long-poll response, when it is full: the rest waits for the next).
    fn flush(&mut self) -> impl std::future::Future<Output = bool> + Send;
}

impl Greet for Link {
    fn send_now(&mut self, frame: Bytes) {
        Link::send_now(self, frame);
    }
    fn pending(&self) -> usize {
        Link::pending(self)
    }
    fn flush(&mut self) -> impl std::future::Future<Output = bool> + Send {
        Link::flush(self)
    }
}

pub async fn send_backlog(
    state: &AppState,
    link: &mut impl Greet,
    user: &User,
    memberships: &[Membership],
    cursors: &[Cursor],
    greeting: Greeting,
) -> Result<SentPositions, SyncError> {
    let Greeting {
        online,
        invites,
        blocked,
    } = greeting;
    let displays = &state.hub.displays;
    let welcome = ServerFrame::Welcome {
        version: PROTOCOL_VERSION,
        user: user.name.clone(),
        conversations: memberships
            .iter()
            .map(|m| conversation_info(m, displays))
            .collect(),
        display: displays.of(&user.name),
        names: displays.named(&online),
        online,
        invites,
        blocked,
    };
    // Everything up to `synced` is queued on the socket and written once at
    // the end (earlier only if it grows large): one system call for a
    // connection with nothing to catch up on.
    link.send_now(frame(&welcome));

    let asked: HashMap<(u8, String), i64> = cursors
        .iter()
        .map(|c| (cursor_key(&c.conv), c.seq.max(0)))
        .collect();
    let mut sent = SentPositions::default();
    for m in memberships {
        let conv = wire_conv(&m.kind);
        let mut after = match asked.get(&cursor_key(&conv)) {
            Some(seq) => *seq,
            None => m.read_seq.max(m.last_seq - UNREAD_BACKLOG),
        };
        sent.advance(m.conv_id, after);
        // Nothing to read when the cursor is at the end of the conversation
        // as of the membership snapshot (taken before this connection
        // registered) and nothing later has been fanned out here since:
        // whatever is fanned out from now on reaches this registered
        // connection live. Most reconnects skip the query this way.
        if after >= m.last_seq && state.hub.fanned(m.conv_id).is_none_or(|seq| seq <= after) {
            continue;
        }
        loop {
            let page = state.store.log_after(m.conv_id, after, PAGE).await?;
            for entry in &page {
                link.send_now(frame(&log_frame(
                    conv.clone(),
                    entry,
                    Some(user.id),
                    displays,
                )));
                sent.advance(m.conv_id, entry.seq());
                after = entry.seq();
            }
            if link.pending() >= FLUSH_AT && !link.flush().await {
                return Err(SyncError::Ended);
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
    }
    link.send_now(frame(&ServerFrame::Synced {}));
    if !link.flush().await {
        return Err(SyncError::Ended);
    }
    Ok(sent)
}
