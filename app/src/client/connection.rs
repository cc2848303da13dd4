//! The live connection to `/api/ws`, as reactive signals.

use leptos::prelude::*;

use super::chat::{Chat, DraftError};
use super::ReadyState;
use crate::protocol::ClientFrame;

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
            #[cfg(feature = "hydrate")]
            socket: StoredValue::new_local(Default::default()),
        }
    }

    /// The socket's `readyState`.
    pub fn ready_state(&self) -> ReadSignal<ReadyState> {
        self.ready_state.read_only()
    }

    /// What we know of the conversation.
    pub fn chat(&self) -> ReadSignal<Chat> {
        self.chat.read_only()
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
        self.chat.try_set(Chat::default());
    }

    /// Post `body` to the conversation. It shows at once as "sending" and
    /// goes out now if the connection is ready, else after the next
    /// handshake.
    pub fn send(self, body: &str) -> Result<(), DraftError> {
        let client_id = new_client_id();
        let queued = self
            .chat
            .try_update(|chat| chat.queue(client_id, body))
            .unwrap_or(Ok(None))?;
        if let Some(frame) = queued {
            self.transmit(&frame);
        }
        Ok(())
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
