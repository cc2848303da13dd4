//! Keeps this tab's outbox in `sessionStorage`, so that a reload loses
//! nothing written: messages not yet acknowledged come back, with their
//! client ids, and go out once after the next handshake.
//!
//! `sessionStorage` belongs to one tab and ends with it, so two tabs of the
//! same person never overwrite each other's outbox, and nothing unsent is
//! left behind on the machine once the tab is closed.

use super::chat::Outgoing;

/// The storage key of `user`'s outbox.
fn key(user: &str) -> String {
    format!("parley.outbox.{}", user.to_ascii_lowercase())
}

#[cfg(feature = "hydrate")]
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// What an earlier page of this tab left unsent for `user`.
pub fn load(user: &str) -> Vec<Outgoing> {
    #[cfg(feature = "hydrate")]
    {
        storage()
            .and_then(|s| s.get_item(&key(user)).ok().flatten())
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = key(user);
        Vec::new()
    }
}

/// Remember `outbox` as `user`'s (an empty one is forgotten).
pub fn save(user: &str, outbox: &[Outgoing]) {
    #[cfg(feature = "hydrate")]
    {
        let Some(storage) = storage() else {
            return;
        };
        let key = key(user);
        let result = match serde_json::to_string(outbox) {
            Ok(_) if outbox.is_empty() => storage.remove_item(&key),
            Ok(json) => storage.set_item(&key, &json),
            Err(_) => Ok(()),
        };
        if let Err(error) = result {
            // Full or disabled storage: the outbox still lives in the page.
            leptos::logging::warn!("cannot keep the outbox: {error:?}");
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (key(user), outbox);
}
