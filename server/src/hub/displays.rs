//! Display names this node shows people by, where they are not handles.
//!
//! Every node holds the whole map (loaded at start, kept by `profile`
//! events from every node), so that a frame names its people without a
//! query. It holds only the users who chose a name other than their
//! handle, a few dozen bytes each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use app::protocol::Named;

#[derive(Default)]
pub struct Displays {
    by_key: RwLock<HashMap<String, Arc<str>>>,
    /// Whether the map holds anything: with no display names at all (a
    /// fresh or a benchmark server), every look-up is lock-free.
    any: AtomicBool,
}

impl Displays {
    /// What `user` (a handle) is shown as, when that is not the handle.
    pub fn of(&self, user: &str) -> Option<String> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let map = self.by_key.read().unwrap_or_else(|e| e.into_inner());
        map.get(&user.to_ascii_lowercase()).map(|d| d.to_string())
    }

    /// `user` is now shown as `display` (by the handle, when it is the
    /// handle or empty).
    pub fn set(&self, user: &str, display: &str) {
        let key = user.to_ascii_lowercase();
        let mut map = self.by_key.write().unwrap_or_else(|e| e.into_inner());
        if display.is_empty() || display == user {
            map.remove(&key);
        } else {
            map.insert(key, Arc::from(display));
        }
        self.any.store(!map.is_empty(), Ordering::Release);
    }

    /// A system line's sentence with its people by their display names,
    /// when either has one (`None`: the stored sentence says it already).
    pub fn sentence(&self, event: &app::protocol::RoomEvent) -> Option<String> {
        let by = event.by.as_deref().and_then(|u| self.of(u));
        let user = event.user.as_deref().and_then(|u| self.of(u));
        if by.is_none() && user.is_none() {
            return None;
        }
        let mut shown = event.clone();
        shown.by = by.or(shown.by);
        shown.user = user.or(shown.user);
        Some(shown.sentence())
    }

    /// The display names of those of `users` who have one.
    pub fn named<'a>(&self, users: impl IntoIterator<Item = &'a String>) -> Vec<Named> {
        if !self.any.load(Ordering::Acquire) {
            return Vec::new();
        }
        let map = self.by_key.read().unwrap_or_else(|e| e.into_inner());
        users
            .into_iter()
            .filter_map(|user| {
                map.get(&user.to_ascii_lowercase()).map(|d| Named {
                    user: user.clone(),
                    display: d.to_string(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_by_handle_in_any_case() {
        let displays = Displays::default();
        assert_eq!(displays.of("ming"), None);
        displays.set("Ming", "小明");
        assert_eq!(displays.of("ming").as_deref(), Some("小明"));
        let named = displays.named(&["MING".to_string(), "bob".to_string()]);
        assert_eq!(named.len(), 1);
        assert_eq!(named[0].display, "小明");
        displays.set("ming", "ming");
        assert_eq!(displays.of("Ming"), None);
    }
}
