//! The live connection to `/api/ws`, as reactive signals.

use leptos::prelude::*;

use super::chat::{Chat, DraftError};
use super::ReadyState;
use crate::protocol::{ClientFrame, Conv};

/// The path of the chat socket on the page's own host.
pub const SOCKET_PATH: &str = "/api/ws";

/// A handle on the chat connection; cheap to copy into event handlers.
///
/// Create one per page with [`Connection::new`] and share it with
/// `provide_context`. In the browser, [`Connection::connect`] opens the
/// socket and keeps it open (reconnecting with backoff) until
/// [`Connection::disconnect`]; in the server build both do nothing.
#[derive(Clone, Copy)]
pub struct Connection {
    pub(super) ready_state: RwSignal<ReadyState>,
    pub(super) chat: RwSignal<Chat>,
    /// When the next reconnect attempt starts (ms since the epoch), while one waits.
    pub(super) retry_at: RwSignal<Option<f64>>,
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
            chat: RwSignal::new(Chat::default()),
            retry_at: RwSignal::new(None),
            #[cfg(feature = "hydrate")]
            socket: StoredValue::new_local(Default::default()),
        }
    }

    /// The socket's `readyState`.
    pub fn ready_state(&self) -> ReadSignal<ReadyState> {
        self.ready_state.read_only()
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

    /// Post `body` to the conversation. It shows at once as "sending" and
    /// goes out now if the connection is ready, else after the next
    /// handshake.
    pub fn send(self, conv: Conv, body: &str) -> Result<(), DraftError> {
        let client_id = new_client_id();
        let queued = self
            .chat
            .try_update(|chat| chat.queue(client_id, conv, body))
            .unwrap_or(Ok(None))?;
        if let Some(frame) = queued {
            self.transmit(&frame);
        }
        Ok(())
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
