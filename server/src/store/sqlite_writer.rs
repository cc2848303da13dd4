//! SQLite's message writer: one thread that owns one connection and runs
//! each batch's transaction synchronously, with prepared statements kept
//! across batches.
//!
//! Through sqlx every statement is a round trip to its worker thread (two
//! thread wake-ups); a batch of a handful of statements cost a dozen
//! context switches on the server's core, which is what delivery latency
//! waited for. Here a batch costs two: the hand-over and the answer.
//! Other writes (users, rooms, sessions) stay on sqlx's pool; SQLite's write
//! lock (`BEGIN IMMEDIATE` on both sides, with the busy timeout) orders them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use rusqlite::{Connection, OpenFlags, ToSql, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::commit::{
    assign, finish, insert_sql, plan, read_marks, read_sql, resend_keys, resend_sql, reserve_sql,
    reserved, ROWS_PER_STATEMENT,
};
use super::{now_ms, Committed, NewMessage, Result, SqliteSync, StoreError, StoredMessage};

/// Batches waiting for the thread (the relay has one in flight at a time).
const QUEUE: usize = 4;
/// Prepared statements kept: four kinds, each in a few row counts.
const STATEMENT_CACHE: usize = 64;

type Job = (Vec<NewMessage>, oneshot::Sender<Result<Vec<Committed>>>);

#[derive(Debug)]
pub struct SqliteWriter {
    jobs: mpsc::Sender<Job>,
}

/// The file of a `sqlite:` URL (`sqlite://chat.db`, `sqlite:///abs/path?mode=rwc`).
pub fn path_of(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

impl SqliteWriter {
    /// Open the (already migrated) database file and start the thread.
    pub fn start(path: PathBuf, sync: SqliteSync) -> Result<SqliteWriter> {
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(sync.pragma())?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let (jobs, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| StoreError::Writer(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteWriter { jobs })
    }

    /// Commit a batch on the writer thread.
    pub async fn commit(&self, batch: &[&NewMessage]) -> Result<Vec<Committed>> {
        let (tx, rx) = oneshot::channel();
        let owned = batch.iter().map(|m| (*m).clone()).collect();
        self.jobs
            .send((owned, tx))
            .await
            .map_err(|_| StoreError::Writer("the writer thread has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Writer("the writer thread stopped mid-batch".into()))?
    }
}

/// The thread: one batch after another until every sender is gone.
fn run(mut conn: Connection, mut jobs: mpsc::Receiver<Job>) {
    while let Some((batch, answer)) = jobs.blocking_recv() {
        let _ = answer.send(commit(&mut conn, &batch));
    }
}

fn stored_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        id: row.get(0)?,
        conv_id: row.get(1)?,
        seq: row.get(2)?,
        sender_id: row.get(3)?,
        sender_name: row.get(4)?,
        client_id: row.get(5)?,
        body: row.get(6)?,
        ts: row.get(7)?,
    })
}

/// [`super::Store::commit_batch`] on this thread's connection.
fn commit(conn: &mut Connection, batch: &[NewMessage]) -> Result<Vec<Committed>> {
    let batch: Vec<&NewMessage> = batch.iter().collect();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = now_ms();

    let mut stored_before = Vec::new();
    for chunk in resend_keys(&batch).chunks(ROWS_PER_STATEMENT) {
        let mut statement = tx.prepare_cached(&resend_sql(chunk.len()))?;
        let params: Vec<&dyn ToSql> = chunk
            .iter()
            .flat_map(|(sender, client_id)| [sender as &dyn ToSql, client_id as &dyn ToSql])
            .collect();
        let rows = statement.query_map(params.as_slice(), stored_from_row)?;
        for row in rows {
            stored_before.push(row?);
        }
    }
    let (plans, per_conv) = plan(&batch, &stored_before);

    let mut next_seq: BTreeMap<i64, i64> = BTreeMap::new();
    for rows in per_conv.chunks(ROWS_PER_STATEMENT) {
        let mut statement = tx.prepare_cached(&reserve_sql(rows.len()))?;
        let params: Vec<&dyn ToSql> = rows
            .iter()
            .flat_map(|(conv_id, count)| [conv_id as &dyn ToSql, count as &dyn ToSql])
            .collect();
        let returned = statement.query_map(params.as_slice(), |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })?;
        for row in returned {
            let (conv_id, last) = row?;
            reserved(&mut next_seq, rows, conv_id, last);
        }
    }
    let (plans, fresh) = assign(plans, &batch, &per_conv, next_seq)?;

    let mut ids: HashMap<(i64, i64), i64> = HashMap::with_capacity(fresh.len());
    for rows in fresh.chunks(ROWS_PER_STATEMENT) {
        let mut statement = tx.prepare_cached(&insert_sql(rows.len()))?;
        let mut params: Vec<&dyn ToSql> = Vec::with_capacity(rows.len() * 7);
        for (at, seq) in rows {
            let msg = batch[*at];
            params.extend([
                &msg.conv_id as &dyn ToSql,
                seq,
                &msg.sender_id,
                &msg.sender_name,
                &msg.client_id,
                &msg.body,
                &now,
            ]);
        }
        let returned = statement.query_map(params.as_slice(), |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })?;
        for row in returned {
            let (id, conv_id, seq) = row?;
            ids.insert((conv_id, seq), id);
        }
    }

    for rows in read_marks(&batch, &fresh).chunks(ROWS_PER_STATEMENT) {
        let mut statement = tx.prepare_cached(&read_sql(rows.len()))?;
        let params: Vec<&dyn ToSql> = rows
            .iter()
            .flat_map(|((conv_id, sender), seq)| {
                [
                    conv_id as &dyn ToSql,
                    sender as &dyn ToSql,
                    seq as &dyn ToSql,
                ]
            })
            .collect();
        statement.execute(params.as_slice())?;
    }
    tx.commit()?;
    finish(plans, &batch, &ids, now)
}

#[cfg(test)]
mod tests {
    use super::path_of;
    use std::path::PathBuf;

    #[test]
    fn the_file_of_a_url() {
        assert_eq!(path_of("sqlite://chat.db"), Some(PathBuf::from("chat.db")));
        assert_eq!(
            path_of("sqlite:///tmp/x/p.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x/p.db"))
        );
        assert_eq!(path_of("sqlite:data.db"), Some(PathBuf::from("data.db")));
        assert_eq!(path_of("sqlite::memory:"), None);
        assert_eq!(path_of("postgres://x"), None);
    }
}
