//! The search index: kept in the transaction that stores, edits or
//! deletes a message, read by [`Store::search`], and filled for messages
//! stored before it existed by [`Store::index_older`].
//!
//! Both backends are fed the same tokens (`crate::search::terms`): SQLite
//! keeps them in a contentless FTS5 table under the message's id, and
//! PostgreSQL as a `tsvector` (each token at its position) with a GIN
//! index.

use std::borrow::Cow;

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

/// Which messages an index `INSERT` is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rows {
    /// Messages stored in this very transaction: no index row can exist
    /// for their ids (SQLite gives a new message the largest id plus one,
    /// and whatever removes messages removes their index rows first, as
    /// `delete_room` does; PostgreSQL's ids never come back and its rows
    /// go with their message), so a plain `INSERT` does. On SQLite that
    /// spares FTS5 the look-up and delete of a previous row per message.
    New,
    /// Messages stored earlier (the catch-up): a row already there is
    /// replaced.
    Older,
}

/// The `INSERT` of `rows` index rows on `backend`: (message id, terms) pairs,
/// terms as [`index_value`] gives them.
pub(super) fn index_sql(backend: Backend, which: Rows, rows: usize) -> String {
    let values = match backend {
        Backend::Sqlite => vec!["(?, ?)"; rows].join(", "),
        Backend::Postgres => vec!["(?, CAST(? AS tsvector))"; rows].join(", "),
    };
    match (backend, which) {
        (Backend::Sqlite, Rows::New) => {
            format!("INSERT INTO message_search (rowid, terms) VALUES {values}")
        }
        (Backend::Sqlite, Rows::Older) => {
            format!("INSERT OR REPLACE INTO message_search (rowid, terms) VALUES {values}")
        }
        (Backend::Postgres, Rows::New) => {
            format!("INSERT INTO message_search (id, terms) VALUES {values}")
        }
        (Backend::Postgres, Rows::Older) => format!(
            "INSERT INTO message_search (id, terms) VALUES {values}
             ON CONFLICT (id) DO UPDATE SET terms = excluded.terms"
        ),
    }
}

/// What the index row of a message with these tokens holds on `backend`
/// (on SQLite the tokens themselves, not copied).
pub(super) fn index_value(backend: Backend, terms: &str) -> Cow<'_, str> {
    match backend {
        Backend::Sqlite => Cow::Borrowed(terms),
        Backend::Postgres => Cow::Owned(tsvector(terms)),
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
            let text = index_text(body);
            let value = index_value(backend, &text);
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
            exec.execute(sql, &[Param::Text(value.as_ref()), c, s])
                .await?;
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

/// A value bound to a search statement, in the order of its `?`s.
#[derive(Debug, Clone, Copy)]
enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

/// How PostgreSQL is to find a text search's matches, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// SQLite, by relevance, or no words: one plan.
    Given,
    /// Few matches (at most [`FEW_MATCHES`]): take them all from the GIN
    /// index first, then the newest of those.
    Few,
    /// Many: walk the ids from the newest and test each row's `tsvector`,
    /// with the GIN index kept out of the plan.
    Many,
}

/// Matches up to which PostgreSQL takes them all from the GIN index
/// rather than walking ids from the newest. Walking finds a page after
/// about `page × rows ÷ matches` rows (~20,000 of a million rows at this
/// bound, a few ms); counting up to it costs a few ms for a common word.
const FEW_MATCHES: i64 = 1_000;

impl Store {
    /// One page of the messages `search` finds, in its order. Deleted
    /// messages and system lines are never found.
    pub async fn search(&self, search: &Search<'_>) -> Result<Page> {
        if search.convs.is_empty() {
            return Ok(Page::default());
        }
        let query = search.query;
        let text = !query.terms.is_empty();
        let backend = self.backend();
        let matched = match backend {
            Backend::Sqlite => query.fts5(),
            Backend::Postgres => query.tsquery(),
        };
        let relevance = text && search.order == Order::Relevance;
        let offset = if relevance {
            search.cursor.unwrap_or(0).max(0)
        } else {
            0
        };
        let before = if relevance { None } else { search.cursor };
        // PostgreSQL's planner estimates a word missing from its statistics
        // at ~0.1 % of the rows whatever its real count, and then walks the
        // ids from the newest for a rare word (reading every row) or takes
        // every match of a phrase from the index before sorting them: so
        // the matches are counted first, up to a bound, and the plan
        // chosen here.
        let plan = if text && !relevance && backend == Backend::Postgres {
            if self
                .pg_matches_up_to(&matched, before, FEW_MATCHES + 1)
                .await?
                <= FEW_MATCHES
            {
                Plan::Few
            } else {
                Plan::Many
            }
        } else {
            Plan::Given
        };
        let mut binds: Vec<Bind<'_>> = Vec::new();
        let mut with = String::new();
        let (from, id) = match (text, backend, plan) {
            (false, _, _) => ("messages m", "m.id"),
            (true, Backend::Sqlite, _) => (
                "message_search s JOIN messages m ON m.id = s.rowid",
                "s.rowid",
            ),
            (true, Backend::Postgres, Plan::Few) => {
                let below = if before.is_some() { " AND id < ?" } else { "" };
                with = format!(
                    "WITH hits AS MATERIALIZED (
                         SELECT id FROM message_search WHERE terms @@ CAST(? AS tsquery){below}
                     ) "
                );
                binds.push(Bind::Text(&matched));
                binds.extend(before.map(Bind::Int));
                // One look-up by id per match (`OFFSET 0` keeps the
                // subquery apart): a join would again be planned for the
                // estimated matches, walking `messages` from the newest.
                (
                    "hits s CROSS JOIN LATERAL
                       (SELECT * FROM messages WHERE id = s.id OFFSET 0) m",
                    "s.id",
                )
            }
            (true, Backend::Postgres, _) => {
                ("message_search s JOIN messages m ON m.id = s.id", "s.id")
            }
        };
        let mut conditions = Vec::new();
        if text {
            let condition = match (backend, plan) {
                (Backend::Sqlite, _) => Some("message_search MATCH ?"),
                (Backend::Postgres, Plan::Few) => None,
                // The function behind `@@`: the same test, which no index
                // serves.
                (Backend::Postgres, Plan::Many) => Some("ts_match_vq(s.terms, CAST(? AS tsquery))"),
                (Backend::Postgres, Plan::Given) => Some("s.terms @@ CAST(? AS tsquery)"),
            };
            if let Some(condition) = condition {
                conditions.push(condition.to_owned());
                binds.push(Bind::Text(&matched));
            }
        }
        conditions.push(format!("m.conv_id IN ({})", id_list(search.convs)));
        conditions.push("m.kind = 0".to_owned());
        conditions.push("m.deleted_at IS NULL".to_owned());
        if let Some(sender) = search.sender_id {
            conditions.push("m.sender_id = ?".to_owned());
            binds.push(Bind::Int(sender));
        }
        if let Some(since) = query.since {
            conditions.push("m.created_at >= ?".to_owned());
            binds.push(Bind::Int(since));
        }
        if let Some(until) = query.until {
            conditions.push("m.created_at < ?".to_owned());
            binds.push(Bind::Int(until));
        }
        if let Some(before) = before {
            conditions.push(format!("{id} < ?"));
            binds.push(Bind::Int(before));
        }
        let order = match (relevance, backend) {
            (false, _) => format!("{id} DESC"),
            (true, Backend::Sqlite) => format!("s.rank, {id} DESC"),
            (true, Backend::Postgres) => {
                binds.push(Bind::Text(&matched));
                format!("ts_rank(s.terms, CAST(? AS tsquery)) DESC, {id} DESC")
            }
        };
        let sql = format!(
            "{with}SELECT m.id, m.conv_id, m.seq, m.sender_name, m.body, m.created_at
               FROM {from} WHERE {} ORDER BY {order} LIMIT ? OFFSET ?",
            conditions.join(" AND ")
        );
        let sql = self.q(&sql);
        let mut statement = sqlx::query(&sql).persistent(false);
        for bind in &binds {
            statement = match *bind {
                Bind::Text(t) => statement.bind(t),
                Bind::Int(n) => statement.bind(n),
            };
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

    /// How many index rows (below `before`, if given) match the PostgreSQL
    /// `tsquery`, counted up to `bound`.
    async fn pg_matches_up_to(
        &self,
        tsquery: &str,
        before: Option<i64>,
        bound: i64,
    ) -> Result<i64> {
        let below = if before.is_some() { " AND id < ?" } else { "" };
        let sql = self
            .q(&format!(
                "SELECT count(*) AS n FROM (
                 SELECT 1 FROM message_search WHERE terms @@ CAST(? AS tsquery){below} LIMIT ?
             ) AS matches"
            ))
            .into_owned();
        let mut statement = sqlx::query(&sql).bind(tsquery);
        if let Some(before) = before {
            statement = statement.bind(before);
        }
        let row = statement.bind(bound).fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
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
                index_value(self.backend(), &index_text(&body)).into_owned(),
            ));
        }
        for rows in pairs.chunks(ROWS_PER_STATEMENT) {
            let sql = index_sql(self.backend(), Rows::Older, rows.len());
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
