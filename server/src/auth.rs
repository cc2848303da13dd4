//! Passwords (argon2id, hashed off the async threads) and session tokens.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::Argon2;
use sha2::{Digest, Sha256};

use crate::http::error::{ApiError, Result};

/// Threads that hash passwords. argon2id takes 19 MiB per hash; a small
/// fixed pool (rather than tokio's blocking pool, which grows to hundreds of
/// threads that each keep their allocator arena) bounds that memory.
const HASH_THREADS: usize = 2;
/// Hashes waiting for a thread before sign-ins are refused as busy.
const HASH_QUEUE: usize = 256;

type Job = Box<dyn FnOnce() + Send>;

fn hash_pool() -> &'static Mutex<SyncSender<Job>> {
    static POOL: OnceLock<Mutex<SyncSender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = sync_channel::<Job>(HASH_QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..HASH_THREADS {
            let rx = rx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
        }
        Mutex::new(tx)
    })
}

/// Run CPU-heavy work on the hashing threads, off the async ones.
async fn on_hash_pool<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(work());
    });
    let queued = match hash_pool().lock() {
        Ok(pool) => pool.try_send(job).is_ok(),
        Err(_) => false,
    };
    if !queued {
        return Err(ApiError::Busy);
    }
    rx.await
        .map_err(|_| ApiError::Internal("hashing thread failed".into()))
}

/// Hash a password with argon2id.
pub async fn hash_password(password: String) -> Result<String> {
    on_hash_pool(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| ApiError::Internal(format!("hashing failed: {e}")))
    })
    .await?
}

/// Why the account `handle` (shown as `display`) may not use `password`
/// (see [`crate::names::password`]); judged on the hashing threads, since
/// the estimator is CPU work too.
pub async fn judge_password(
    password: String,
    handle: String,
    display: String,
) -> Result<Option<String>> {
    on_hash_pool(move || crate::names::password::refusal(&password, &handle, &display)).await
}

/// Check a password against a stored hash.
pub async fn verify_password(password: String, hash: String) -> Result<bool> {
    on_hash_pool(move || {
        let parsed = PasswordHash::new(&hash)
            .map_err(|e| ApiError::Internal(format!("stored hash is unreadable: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await?
}

/// A new random session token (what the cookie holds).
pub fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// What the database keeps of a token: its SHA-256, so a copy of the
/// database does not hand out live sessions.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
