//! Full-text search over the messages a user may read, in every script.
//!
//! [`terms`] turns text into the tokens the index holds (words, and CJK
//! bigrams), [`query`] parses what was typed, and [`highlight`] finds the
//! matching parts of a result's text. The store keeps the index
//! (`store/search.rs`): FTS5 on SQLite, a GIN-indexed `tsvector` on
//! PostgreSQL, fed the same tokens.

pub mod highlight;
pub mod query;
pub mod terms;

pub use query::{parse, Query, QueryError};

/// Messages indexed per transaction while catching up.
const CATCH_UP_CHUNK: i64 = 2_000;

/// Index the messages stored before the index existed (a database
/// upgraded by the migration that added it), newest first, a chunk per
/// transaction, with progress in the log. Runs in the background from
/// start; new messages are indexed as they are stored meanwhile. On
/// several nodes each may run it: indexing a message twice is harmless.
pub async fn catch_up(store: crate::store::Store) {
    let started = std::time::Instant::now();
    let mut first: Option<i64> = None;
    let mut chunks = 0u64;
    loop {
        match store.index_older(CATCH_UP_CHUNK).await {
            Ok(0) => {
                if first.is_some() {
                    tracing::info!(
                        seconds = started.elapsed().as_secs_f64(),
                        "search index: every older message is indexed"
                    );
                }
                return;
            }
            Ok(left) => {
                let total = *first.get_or_insert(left + CATCH_UP_CHUNK);
                if chunks == 0 {
                    tracing::info!(messages = total, "search index: indexing older messages");
                }
                chunks += 1;
                if chunks.is_multiple_of(50) {
                    let done = 100.0 * (total - left) as f64 / total.max(1) as f64;
                    tracing::info!(
                        percent = format!("{done:.0}"),
                        "search index: indexing older messages"
                    );
                }
                tokio::task::yield_now().await;
            }
            Err(error) => {
                tracing::warn!(%error, "search index: indexing older messages stopped; it goes on at the next start");
                return;
            }
        }
    }
}
