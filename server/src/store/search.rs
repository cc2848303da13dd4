//! The search index: kept in the transaction that stores, edits or
//! deletes a message, read by [`Store::search`], and filled for messages
//! stored before it existed by [`Store::index_older`].
//!
//! Both backends are fed the same tokens (`crate::search::terms`): SQLite
//! keeps them in a contentless FTS5 table under the message's id, and
//! PostgreSQL as a `tsvector` (each token at its position) with a GIN
//! index.

use sqlx::Row as _;

use super::exec::{Exec, Param};
use super::{Backend, Result, Store};
use crate::search::terms::{index_text, tsvector};
use crate::search::Query;

/// Rows per multi-row index statement.
const ROWS_PER_STATEMENT: usize = 128;

/// The order of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Newest,
    Relevance,
}

/// One message found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: i64,
    pub conv_id: i64,
    pub seq: i64,
    pub sender_name: String,
    pub body: String,
    pub ts: i64,
}

/// A search, once the caller has settled what it may see.
#[derive(Debug, Clone)]
pub struct Search<'a> {
    pub query: &'a Query,
    /// The conversations searched (at least one).
    pub convs: &'a [i64],
    /// `from:`, resolved: only this sender's messages.
    pub sender_id: Option<i64>,
    pub order: Order,
    /// Where the previous page ended: the last id (newest first) or the
    /// number of results already given (by relevance).
    pub cursor: Option<i64>,
    pub limit: u32,
}

/// A page of results, and the cursor of the next page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub found: Vec<Found>,
    pub next: Option<i64>,
}

/// The `INSERT` of `rows` index rows on `backend`: (message id, terms) pairs,
/// terms as [`index_value`] gives them. A row already there is replaced.
pub(super) fn index_sql(backend: Backend, rows: usize) -> String {
    match backend {
        Backend::Sqlite => format!(
            "INSERT OR REPLACE INTO message_search (rowid, terms) VALUES {}",
            vec!["(?, ?)"; rows].join(", ")
        ),
        Backend::Postgres => format!(
            "INSERT INTO message_search (id, terms) VALUES {}
             ON CONFLICT (id) DO UPDATE SET terms = excluded.terms",
            vec!["(?, CAST(? AS tsvector))"; rows].join(", ")
        ),
    }
}

/// What the index row of a message with these tokens holds on `backend`.
pub(super) fn index_value(backend: Backend, terms: &str) -> String {
    match backend {
        Backend::Sqlite => terms.to_owned(),
        Backend::Postgres => tsvector(terms),
    }
}

/// The index statements of a change to the message at (conversation,
/// seq): its row replaced by the new text's (`Some`), or removed (`None`).
pub(super) async fn reindex<E: Exec>(
    exec: &mut E,
    backend: Backend,
    conv_id: i64,
    seq: i64,
    body: Option<&str>,
) -> Result<()> {
    let (c, s) = (Param::Int(conv_id), Param::Int(seq));
    match body {
        Some(body) => {
            let value = index_value(backend, &index_text(body));
            let sql = match backend {
                Backend::Sqlite => {
                    "INSERT OR REPLACE INTO message_search (rowid, terms)
                     SELECT id, ? FROM messages WHERE conv_id = ? AND seq = ? AND kind = 0"
                }
                Backend::Postgres => {
                    "INSERT INTO message_search (id, terms)
                     SELECT id, CAST(? AS tsvector) FROM messages
                      WHERE conv_id = ? AND seq = ? AND kind = 0
                     ON CONFLICT (id) DO UPDATE SET terms = excluded.terms"
                }
            };
            exec.execute(sql, &[Param::Text(&value), c, s]).await?;
        }
        None => {
            let sql = match backend {
                Backend::Sqlite => {
                    "DELETE FROM message_search
                      WHERE rowid = (SELECT id FROM messages WHERE conv_id = ? AND seq = ?)"
                }
                Backend::Postgres => {
                    "DELETE FROM message_search
                      WHERE id = (SELECT id FROM messages WHERE conv_id = ? AND seq = ?)"
                }
            };
            exec.execute(sql, &[c, s]).await?;
        }
    }
    Ok(())
}

/// `a, b, c`: ids written into the statement (they come from the store,
/// never from a client), so that any number of conversations costs no
/// parameters.
fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// One page of the messages `search` finds, in its order. Deleted
    /// messages and system lines are never found.
    pub async fn search(&self, search: &Search<'_>) -> Result<Page> {
        if search.convs.is_empty() {
            return Ok(Page::default());
        }
        let query = search.query;
        let text = !query.terms.is_empty();
        let (from, id) = match (text, self.backend()) {
            (false, _) => ("messages m", "m.id"),
            (true, Backend::Sqlite) => (
                "message_search s JOIN messages m ON m.id = s.rowid",
                "s.rowid",
            ),
            (true, Backend::Postgres) => {
                ("message_search s JOIN messages m ON m.id = s.id", "s.id")
            }
        };
        let mut conditions = vec![
            format!("m.conv_id IN ({})", id_list(search.convs)),
            "m.kind = 0".to_owned(),
            "m.deleted_at IS NULL".to_owned(),
        ];
        let mut ints: Vec<i64> = Vec::new();
        let matched = match self.backend() {
            Backend::Sqlite => query.fts5(),
            Backend::Postgres => query.tsquery(),
        };
        if text {
            conditions.insert(
                0,
                match self.backend() {
                    Backend::Sqlite => "message_search MATCH ?".to_owned(),
                    Backend::Postgres => "s.terms @@ CAST(? AS tsquery)".to_owned(),
                },
            );
        }
        if let Some(sender) = search.sender_id {
            conditions.push("m.sender_id = ?".to_owned());
            ints.push(sender);
        }
        if let Some(since) = query.since {
            conditions.push("m.created_at >= ?".to_owned());
            ints.push(since);
        }
        if let Some(until) = query.until {
            conditions.push("m.created_at < ?".to_owned());
            ints.push(until);
        }
        let relevance = text && search.order == Order::Relevance;
        let offset = if relevance {
            search.cursor.unwrap_or(0).max(0)
        } else {
            0
        };
        if let (false, Some(before)) = (relevance, search.cursor) {
            conditions.push(format!("{id} < ?"));
            ints.push(before);
        }
        let order = match (relevance, self.backend()) {
            (false, _) => format!("{id} DESC"),
            (true, Backend::Sqlite) => format!("s.rank, {id} DESC"),
            (true, Backend::Postgres) => {
                format!("ts_rank(s.terms, CAST(? AS tsquery)) DESC, {id} DESC")
            }
        };
        let sql = format!(
            "SELECT m.id, m.conv_id, m.seq, m.sender_name, m.body, m.created_at
               FROM {from} WHERE {} ORDER BY {order} LIMIT ? OFFSET ?",
            conditions.join(" AND ")
        );
        let sql = self.q(&sql);
        let mut statement = sqlx::query(&sql).persistent(false);
        if text {
            statement = statement.bind(matched.as_str());
        }
        for n in &ints {
            statement = statement.bind(*n);
        }
        if relevance && self.backend() == Backend::Postgres {
            statement = statement.bind(matched.as_str());
        }
        let limit = i64::from(search.limit.max(1));
        let rows = statement
            .bind(limit + 1)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            found.push(Found {
                id: row.try_get("id")?,
                conv_id: row.try_get("conv_id")?,
                seq: row.try_get("seq")?,
                sender_name: row.try_get("sender_name")?,
                body: row.try_get("body")?,
                ts: row.try_get("created_at")?,
            });
        }
        let more = found.len() as i64 > limit;
        found.truncate(limit as usize);
        let next = more.then(|| {
            if relevance {
                offset + limit
            } else {
                found.last().map_or(0, |f| f.id)
            }
        });
        Ok(Page { found, next })
    }

    /// Index up to `chunk` of the messages stored before the index existed,
    /// newest first, in one transaction. Returns the id below which
    /// messages are still to be looked at (0: all done).
    pub async fn index_older(&self, chunk: i64) -> Result<i64> {
        let mut tx = self.begin().await?;
        let below: i64 = sqlx::query(&self.q("SELECT below FROM search_backfill WHERE id = 1"))
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get("below"))
            .transpose()?
            .unwrap_or(0);
        if below <= 1 {
            return Ok(0);
        }
        let from = (below - chunk.max(1)).max(1);
        // On PostgreSQL the rows are locked until the commit, so an edit
        // cannot slip in between reading a body and indexing it (SQLite's
        // transaction holds the write lock from its start).
        let lock = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " ORDER BY id FOR UPDATE",
        };
        let rows = sqlx::query(&self.q(&format!(
            "SELECT id, body FROM messages
              WHERE id >= ? AND id < ? AND kind = 0 AND deleted_at IS NULL{lock}"
        )))
        .bind(from)
        .bind(below)
        .fetch_all(&mut *tx)
        .await?;
        let mut pairs: Vec<(i64, String)> = Vec::with_capacity(rows.len());
        for row in &rows {
            let body: String = row.try_get("body")?;
            pairs.push((
                row.try_get("id")?,
                index_value(self.backend(), &index_text(&body)),
            ));
        }
        for rows in pairs.chunks(ROWS_PER_STATEMENT) {
            let sql = index_sql(self.backend(), rows.len());
            let sql = self.q(&sql);
            let mut statement = sqlx::query(&sql);
            for (id, value) in rows {
                statement = statement.bind(*id).bind(value.as_str());
            }
            statement.execute(&mut *tx).await?;
        }
        let left = if from <= 1 { 0 } else { from };
        sqlx::query(&self.q("UPDATE search_backfill SET below = ? WHERE id = 1"))
            .bind(left)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(left)
    }

    /// Bytes the index takes on disk, where the database can tell.
    pub async fn search_index_bytes(&self) -> Result<Option<i64>> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT SUM(pgsize) AS bytes FROM dbstat WHERE name LIKE 'message_search%'"
            }
            Backend::Postgres => "SELECT pg_total_relation_size('message_search') AS bytes",
        };
        Ok(match sqlx::query(sql).fetch_one(&self.pool).await {
            Ok(row) => row.try_get::<Option<i64>, _>("bytes").ok().flatten(),
            Err(_) => None,
        })
    }
}
