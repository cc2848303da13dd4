//! The live connection to `/api/ws`, as reactive signals.

use leptos::prelude::*;

use super::chat::{Chat, DraftError};
use super::ReadyState;
use crate::protocol::{ChangeKind, ClientFrame, Conv};

/// The path of the chat socket on the page's own host.
pub const SOCKET_PATH: &str = "/api/ws";

const FIRST_RETRY_MS: u32 = 500;
const MAX_RETRY_MS: u32 = 30_000;

/// Milliseconds to wait after `failures` failed attempts, given `random` in
/// [0, 1): exponential from 0.5 s, capped at 30 s, and spread over the
/// upper half of that so that clients do not stampede.
pub fn retry_delay(failures: u32, random: f64) -> u32 {
    backoff(FIRST_RETRY_MS, MAX_RETRY_MS, failures, random)
}

/// Exponential backoff with jitter: `first` doubling `n` times, capped at
/// `max`, spread over the upper half of that (`random` in [0, 1)).
pub fn backoff(first: u32, max: u32, n: u32, random: f64) -> u32 {
    let ceiling = first.saturating_mul(1 << n.min(16)).min(max);
    let spread = f64::from(ceiling / 2) * random.clamp(0.0, 1.0);
    ceiling / 2 + spread as u32
}

/// A handle on the chat connection; cheap to copy into event handlers.
///
/// Create one per page with [`Connection::new`] and share it with
/// `provide_context`. In the browser, [`Connection::connect`] opens the
/// socket and keeps it open (reconnecting with backoff) until
/// [`Connection::disconnect`]; in the server build both do nothing.
#[derive(Clone, Copy)]
pub struct Connection {
    pub(super) ready_state: RwSignal<ReadyState>,
    /// How frames travel: a WebSocket, or long-polling where none gets through.
    pub(super) transport: RwSignal<super::Transport>,
    pub(super) chat: RwSignal<Chat>,
    /// When the next reconnect attempt starts (ms since the epoch), while one waits.
    pub(super) retry_at: RwSignal<Option<f64>>,
    /// A message to open (a notification was clicked): the page goes there.
    pub opening: RwSignal<Option<(Conv, i64)>>,
    #[cfg(feature = "hydrate")]
    pub(super) socket: StoredValue<super::socket::Socket, LocalStorage>,
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}

impl Connection {
    pub fn new() -> Self {
        Connection {
            ready_state: RwSignal::new(ReadyState::Closed),
            transport: RwSignal::new(super::Transport::WebSocket),
            chat: RwSignal::new(Chat::default()),
            retry_at: RwSignal::new(None),
            opening: RwSignal::new(None),
            #[cfg(feature = "hydrate")]
            socket: StoredValue::new_local(Default::default()),
        }
    }

    /// The socket's `readyState`.
    pub fn ready_state(&self) -> ReadSignal<ReadyState> {
        self.ready_state.read_only()
    }

    /// How frames travel now.
    pub fn transport(&self) -> ReadSignal<super::Transport> {
        self.transport.read_only()
    }

    /// What we know of the conversations.
    pub fn chat(&self) -> ReadSignal<Chat> {
        self.chat.read_only()
    }

    /// When the next reconnect attempt starts, while one is waiting.
    pub fn retry_at(&self) -> ReadSignal<Option<f64>> {
        self.retry_at.read_only()
    }

    /// Show `conv` (fetching its history and marking it read).
    pub fn view(self, conv: Option<Conv>) {
        let frames = self
            .chat
            .try_update(|chat| chat.view(conv))
            .unwrap_or_default();
        self.transmit_all(&frames);
    }

    /// `conv` leaves the screen.
    pub fn unview(self, conv: &Conv) {
        self.chat.try_update(|chat| chat.unview(conv));
    }

    /// The page became visible or hidden.
    pub fn set_hidden(self, hidden: bool) {
        let frames = self
            .chat
            .try_update(|chat| chat.set_hidden(hidden))
            .unwrap_or_default();
        self.transmit_all(&frames);
    }

    /// Ask for older messages of the conversation on screen; false when
    /// there is nothing to ask for (or a page is on its way).
    pub fn load_older(self) -> bool {
        match self.chat.try_update(|chat| chat.older()).flatten() {
            Some(frame) => {
                self.transmit(&frame);
                true
            }
            None => false,
        }
    }

    /// Send a frame that matters only now (join, typing, …).
    pub fn request(self, frame: ClientFrame) {
        self.transmit(&frame);
    }

    /// An owner's or moderator's action on `room`, or declining an
    /// invitation to it. The room's system line (or an error notice) is
    /// the answer.
    pub fn act(self, room: &str, action: crate::protocol::RoomAction) {
        if action == (crate::protocol::RoomAction::Decline {}) {
            self.chat.update(|c| c.drop_invite(room));
        }
        self.transmit(&ClientFrame::RoomAction {
            client_id: new_client_id(),
            room: room.to_owned(),
            action,
        });
    }

    /// Ask the directory for `query`'s first page, or (`more`) the next.
    pub fn directory(self, query: &str, more: bool) {
        let frame = self
            .chat
            .try_update(|c| c.directory_frame(query, more))
            .flatten();
        if let Some(frame) = frame {
            self.transmit(&frame);
        }
    }

    /// Ask for a room's moderation log.
    pub fn moderation_log(self, room: &str) {
        self.transmit(&ClientFrame::ModerationLog {
            room: room.to_owned(),
        });
    }

    /// Put back what this tab left unsent for `user` before a reload.
    pub fn restore_outbox(self, user: &str) {
        let saved = super::saved_outbox::load(user);
        if saved.is_empty() {
            return;
        }
        let frames = self
            .chat
            .try_update(|chat| chat.restore_outbox(saved))
            .unwrap_or_default();
        self.transmit_all(&frames);
    }

    /// Forget a refused message.
    pub fn discard(self, client_id: &str) {
        self.chat.try_update(|chat| chat.discard(client_id));
    }

    /// Drop typing notices older than `now`.
    pub fn expire_typing(self, now: i64) {
        if self.chat.with_untracked(|c| c.typing_expired(now)) {
            self.chat.update(|c| {
                c.expire_typing(now);
            });
        }
    }

    pub fn clear_notice(self) {
        if self.chat.with_untracked(|c| c.notice().is_some()) {
            self.chat.update(Chat::clear_notice);
        }
    }

    /// Open the socket (if it is not open or opening already) and keep it open.
    pub fn connect(self) {
        #[cfg(feature = "hydrate")]
        super::socket::connect(self);
    }

    /// Close the socket and stop reconnecting.
    pub fn disconnect(self) {
        #[cfg(feature = "hydrate")]
        super::socket::disconnect(self);
    }

    /// Close the socket and forget the conversation (after signing out).
    pub fn reset(self) {
        self.disconnect();
        // Nothing unsent is kept for the next person at this machine.
        if let Some(user) = self.chat.with_untracked(|c| c.user().map(str::to_owned)) {
            super::saved_outbox::save(&user, &[]);
        }
        self.chat.try_set(Chat::default());
    }

    /// Post `body` to the conversation, answering the message at
    /// `reply_to` if given. It shows at once as "sending" and goes out now
    /// if the connection is ready, else after the next handshake.
    pub fn send(self, conv: Conv, body: &str, reply_to: Option<i64>) -> Result<(), DraftError> {
        let client_id = new_client_id();
        let queued = self
            .chat
            .try_update(|chat| chat.queue(client_id, conv, body, reply_to))
            .unwrap_or(Ok(None))?;
        if let Some(frame) = queued {
            self.transmit(&frame);
        }
        Ok(())
    }

    /// Change the message at `seq`: `arg` is the new text of an edit or
    /// the emoji of a reaction. Like a message, the change waits in the
    /// outbox until the server acknowledges it.
    pub fn change(
        self,
        conv: Conv,
        kind: ChangeKind,
        seq: i64,
        arg: &str,
    ) -> Result<(), DraftError> {
        let client_id = new_client_id();
        let queued = self
            .chat
            .try_update(|chat| chat.queue_change(client_id, conv, kind, seq, arg))
            .unwrap_or(Ok(None))?;
        if let Some(frame) = queued {
            self.transmit(&frame);
        }
        Ok(())
    }

    /// Bring the message at `seq` on screen, fetching older pages until
    /// it is there.
    pub fn seek(self, conv: &Conv, seq: i64) {
        if let Some(Some(frame)) = self.chat.try_update(|chat| chat.seek(conv, seq)) {
            self.transmit(&frame);
        }
    }

    /// Open `conv` at the message `seq` with the history around it.
    pub fn jump(self, conv: &Conv, seq: i64) {
        if let Some(Some(frame)) = self.chat.try_update(|chat| chat.jump(conv, seq)) {
            self.transmit(&frame);
        }
    }

    /// Ask for the messages after the window on screen; false when there
    /// is nothing to ask for.
    pub fn load_newer(self) -> bool {
        match self.chat.try_update(|chat| chat.newer()).flatten() {
            Some(frame) => {
                self.transmit(&frame);
                true
            }
            None => false,
        }
    }

    /// Back from a window to the newest messages.
    pub fn leave_window(self) {
        self.chat.update(Chat::leave_window);
    }

    /// Search for `query` (or its next page, `more`).
    pub fn search(self, query: &str, order: crate::protocol::SearchOrder, more: bool) {
        #[cfg(feature = "hydrate")]
        let tz = -(js_sys::Date::new_0().get_timezone_offset() as i32);
        #[cfg(not(feature = "hydrate"))]
        let tz = 0;
        if let Some(Some(frame)) = self
            .chat
            .try_update(|chat| chat.search_frame(query, order, more, tz))
        {
            self.transmit(&frame);
        }
    }

    /// The message looked for is on screen.
    pub fn seek_done(self, conv: &Conv) {
        self.chat.try_update(|chat| chat.seek_done(conv));
    }

    pub fn clear_refusal(self) {
        if self.chat.with_untracked(|c| c.refusal().is_some()) {
            self.chat.update(Chat::clear_refusal);
        }
    }

    fn transmit_all(self, frames: &[ClientFrame]) {
        for frame in frames {
            self.transmit(frame);
        }
    }

    fn transmit(self, frame: &ClientFrame) {
        #[cfg(feature = "hydrate")]
        super::socket::transmit(self, frame);
        #[cfg(not(feature = "hydrate"))]
        let _ = (self, frame);
    }
}

/// A fresh id for an outgoing message: time plus 64 random bits, well
/// under the protocol's 64-character limit.
fn new_client_id() -> String {
    #[cfg(feature = "hydrate")]
    {
        let random = || (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
        format!(
            "c-{:x}-{:08x}{:08x}",
            js_sys::Date::now() as u64,
            random(),
            random()
        )
    }
    #[cfg(not(feature = "hydrate"))]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        format!("c-{}", NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::retry_delay;

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_30_s() {
        // (failures, least, most)
        for (failures, least, most) in [
            (0, 250, 500),
            (1, 500, 1_000),
            (2, 1_000, 2_000),
            (5, 8_000, 16_000),
            (6, 15_000, 30_000),
            (40, 15_000, 30_000),
        ] {
            assert_eq!(retry_delay(failures, 0.0), least, "{failures}");
            assert_eq!(retry_delay(failures, 1.0), most, "{failures}");
            let mid = retry_delay(failures, 0.5);
            assert!(least < mid && mid < most, "{failures}: {mid}");
        }
    }
}
