//! Passwords (argon2id, hashed off the async threads) and session tokens.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use sha2::{Digest, Sha256};

use crate::http::error::{ApiError, Result};

/// Hash a password with argon2id on the blocking pool.
pub async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| ApiError::Internal(format!("hashing failed: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("hashing task failed: {e}")))?
}

/// Check a password against a stored hash on the blocking pool.
pub async fn verify_password(password: String, hash: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash)
            .map_err(|e| ApiError::Internal(format!("stored hash is unreadable: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| ApiError::Internal(format!("verifying task failed: {e}")))?
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
