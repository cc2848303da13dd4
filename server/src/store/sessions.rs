//! Live sessions, remembered in memory so that opening a socket does not
//! cost a database look-up (two, counting the re-check after registering).
//!
//! Correctness rests on three rules:
//! - a sign-out on this node deletes the row first, then [`SessionCache::revoke`]s;
//! - a look-up that missed inserts what it read only if no revocation
//!   happened while it was reading (a revocation epoch), so a read that
//!   raced a sign-out can never put the dead session back;
//! - an entry is trusted for at most [`MAX_AGE`], which bounds how long a
//!   sign-out on *another* node can go unnoticed here if its cluster event
//!   is lost (the event normally revokes at once, see `cluster.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::User;

/// How long a cached session is trusted without asking the database again.
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// Entries kept at most; past it the cache starts over (a miss is only a query).
const MAX_ENTRIES: usize = 100_000;

struct Entry {
    user: User,
    expires_at: i64,
    read_at: Instant,
}

#[derive(Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<String, Entry>>,
    revocations: AtomicU64,
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache").finish_non_exhaustive()
    }
}

impl SessionCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached user of a session that is live at `now_ms`.
    pub fn get(&self, token_hash: &str, now_ms: i64) -> Option<(User, i64)> {
        let mut entries = self.entries();
        let entry = entries.get(token_hash)?;
        if entry.expires_at > now_ms && entry.read_at.elapsed() < MAX_AGE {
            return Some((entry.user.clone(), entry.expires_at));
        }
        entries.remove(token_hash);
        None
    }

    /// Taken before reading a session from the database; see [`SessionCache::insert`].
    pub fn epoch(&self) -> u64 {
        self.revocations.load(Ordering::SeqCst)
    }

    /// Remember a session read from the database, unless a session was
    /// revoked since `epoch` (the read may then predate that sign-out).
    pub fn insert(&self, epoch: u64, token_hash: &str, user: User, expires_at: i64) {
        let mut entries = self.entries();
        if self.revocations.load(Ordering::SeqCst) != epoch {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            token_hash.to_string(),
            Entry {
                user,
                expires_at,
                read_at: Instant::now(),
            },
        );
    }

    /// Forget a session that was signed out (after its row is deleted).
    pub fn revoke(&self, token_hash: &str) {
        self.revocations.fetch_add(1, Ordering::SeqCst);
        self.entries().remove(token_hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> User {
        User {
            id: 7,
            name: "ann".into(),
        }
    }

    #[test]
    fn remembers_live_sessions_only() {
        let cache = SessionCache::default();
        cache.insert(cache.epoch(), "h", ann(), 1_000);
        assert_eq!(cache.get("h", 999), Some((ann(), 1_000)));
        assert_eq!(cache.get("h", 1_000), None, "expired");
        assert_eq!(cache.get("h", 0), None, "an expired entry is dropped");
        assert_eq!(cache.get("other", 0), None);
    }

    #[test]
    fn a_revoked_session_is_gone() {
        let cache = SessionCache::default();
        cache.insert(cache.epoch(), "h", ann(), 1_000);
        cache.revoke("h");
        assert_eq!(cache.get("h", 0), None);
    }

    #[test]
    fn a_read_that_raced_a_sign_out_is_not_cached() {
        let cache = SessionCache::default();
        // A look-up misses and starts reading the row...
        let epoch = cache.epoch();
        // ...while a sign-out deletes the row and revokes...
        cache.revoke("h");
        // ...so what the read found must not come back.
        cache.insert(epoch, "h", ann(), 1_000);
        assert_eq!(cache.get("h", 0), None);
        // A later read is cached again.
        cache.insert(cache.epoch(), "h", ann(), 1_000);
        assert_eq!(cache.get("h", 0), Some((ann(), 1_000)));
    }
}
