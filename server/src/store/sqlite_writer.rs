//! SQLite's message writer: one thread that owns one connection and runs
//! each batch's transaction synchronously, with prepared statements kept
//! across batches.
//!
//! Through sqlx every statement is a round trip to its worker thread (two
//! thread wake-ups); a batch of a handful of statements cost a dozen
//! context switches on the server's core, which is what delivery latency
//! waited for. Here a batch costs two: the hand-over and the answer.
//!
//! Direct and guest conversations are created here too, on first use: a
//! burst of first messages between new pairs would otherwise be as many
//! transactions, each with its own fsync, competing with the message
//! batches for SQLite's write lock (whose busy handler sleeps 1, 2, 5, 10 …
//! ms between tries). The thread takes every job waiting and runs them in
//! one transaction (each in a savepoint when there are several) and answers
//! only after the commit. Other writes (users, rooms, sessions) stay on sqlx's pool;
//! SQLite's write lock (`BEGIN IMMEDIATE` on both sides, with the busy
//! timeout) orders them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use rusqlite::{Connection, OpenFlags, ToSql, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::changes::commit_changes_on;
use super::commit::{
    assign, finish, index_rows, insert_sql, mention_rows, mention_sql, plan, read_marks, read_sql,
    resend_keys, resend_sql, reserve_sql, reserved, ROWS_PER_STATEMENT,
};
use super::exec::{run_ready, SqliteExec};
use super::rooms::{commit_actions_on, ActionOutcome, NewAction};
use super::search::{index_sql, Rows};
use super::sql::{INSERT_PAIR, INSERT_PAIR_MEMBER, PAIR_ID};
use super::{
    now_ms, Backend, ChangeOutcome, Committed, NewChange, NewMessage, Result, SqliteSync,
    StoreError, StoredMessage,
};

/// Jobs waiting for the thread: the relay has one batch in flight at a
/// time; conversation creations come from many connections at once.
const QUEUE: usize = 256;
/// Most jobs in one transaction.
const JOBS_PER_TRANSACTION: usize = 64;
/// Prepared statements kept: four kinds, each in a few row counts.
const STATEMENT_CACHE: usize = 64;

/// A conversation between two users, or a user and a guest, to find or
/// create.
#[derive(Debug, Clone)]
pub struct Pair {
    pub conv_key: String,
    pub kind: &'static str,
    pub guest_name: Option<String>,
    pub members: Vec<i64>,
}

/// A job; `index`: the search index is kept (`--search-index`).
enum Job {
    Commit {
        batch: Vec<NewMessage>,
        index: bool,
        answer: oneshot::Sender<Result<Vec<Committed>>>,
    },
    Changes {
        batch: Vec<NewChange>,
        index: bool,
        answer: oneshot::Sender<Result<Vec<ChangeOutcome>>>,
    },
    Actions(Vec<NewAction>, oneshot::Sender<Result<Vec<ActionOutcome>>>),
    Pair(Pair, oneshot::Sender<Result<i64>>),
}

/// A job's result, held until the transaction has committed.
enum Done {
    Commit(
        oneshot::Sender<Result<Vec<Committed>>>,
        Result<Vec<Committed>>,
    ),
    Changes(
        oneshot::Sender<Result<Vec<ChangeOutcome>>>,
        Result<Vec<ChangeOutcome>>,
    ),
    Actions(
        oneshot::Sender<Result<Vec<ActionOutcome>>>,
        Result<Vec<ActionOutcome>>,
    ),
    Pair(oneshot::Sender<Result<i64>>, Result<i64>),
}

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

    /// Commit a batch on the writer thread (`index`: with its index rows).
    pub async fn commit(&self, batch: &[&NewMessage], index: bool) -> Result<Vec<Committed>> {
        let (answer, rx) = oneshot::channel();
        let batch = batch.iter().map(|m| (*m).clone()).collect();
        self.submit(Job::Commit {
            batch,
            index,
            answer,
        })
        .await?;
        rx.await
            .map_err(|_| StoreError::Writer("the writer thread stopped mid-batch".into()))?
    }

    /// Store and apply changes on the writer thread (`index`: reindexing
    /// edits).
    pub async fn changes(&self, batch: &[&NewChange], index: bool) -> Result<Vec<ChangeOutcome>> {
        let (answer, rx) = oneshot::channel();
        let batch = batch.iter().map(|c| (*c).clone()).collect();
        self.submit(Job::Changes {
            batch,
            index,
            answer,
        })
        .await?;
        rx.await
            .map_err(|_| StoreError::Writer("the writer thread stopped mid-batch".into()))?
    }

    /// Decide, apply and log room actions on the writer thread.
    pub async fn actions(&self, batch: &[&NewAction]) -> Result<Vec<ActionOutcome>> {
        let (tx, rx) = oneshot::channel();
        let owned = batch.iter().map(|a| (*a).clone()).collect();
        self.submit(Job::Actions(owned, tx)).await?;
        rx.await
            .map_err(|_| StoreError::Writer("the writer thread stopped mid-batch".into()))?
    }

    /// Find or create a pair conversation on the writer thread.
    pub async fn pair(&self, pair: Pair) -> Result<i64> {
        let (tx, rx) = oneshot::channel();
        self.submit(Job::Pair(pair, tx)).await?;
        rx.await
            .map_err(|_| StoreError::Writer("the writer thread stopped mid-job".into()))?
    }

    async fn submit(&self, job: Job) -> Result<()> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Writer("the writer thread has stopped".into()))
    }
}

/// The thread: every job waiting (up to [`JOBS_PER_TRANSACTION`]) in one
/// transaction, until every sender is gone.
fn run(mut conn: Connection, mut jobs: mpsc::Receiver<Job>) {
    let mut taken = Vec::with_capacity(JOBS_PER_TRANSACTION);
    while let Some(job) = jobs.blocking_recv() {
        taken.push(job);
        while taken.len() < JOBS_PER_TRANSACTION {
            match jobs.try_recv() {
                Ok(job) => taken.push(job),
                Err(_) => break,
            }
        }
        run_jobs(&mut conn, &mut taken);
    }
}

/// One transaction for `jobs`, then every answer: a result only counts once
/// it is committed. When several share the transaction each runs in a
/// savepoint, so that one failing leaves the others whole; a job alone runs
/// without one (a savepoint makes SQLite copy every page it first changes
/// into a statement journal: ~15 % of scenario 5's throughput).
fn run_jobs(conn: &mut Connection, jobs: &mut Vec<Job>) {
    let mut done = Vec::with_capacity(jobs.len());
    let isolate = jobs.len() > 1;
    let committed = (|| -> Result<()> {
        let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for job in jobs.drain(..) {
            if isolate {
                let savepoint = tx.savepoint()?;
                if run_job(&savepoint, job, &mut done) {
                    savepoint.commit()?;
                } else {
                    savepoint.finish()?; // rolled back
                }
            } else if !run_job(&tx, job, &mut done) {
                // The only job failed, with its own error: roll back.
                return Ok(());
            }
        }
        tx.commit()?;
        Ok(())
    })();
    // Jobs not reached when the transaction failed were dropped by `drain`
    // with their answer, which their callers see as an error.
    let failure = committed
        .err()
        .map(|e| format!("the transaction failed: {e}"));
    fn outcome<T>(result: Result<T>, failure: &Option<String>) -> Result<T> {
        match failure {
            Some(why) => Err(StoreError::Writer(why.clone())),
            None => result,
        }
    }
    for job in done {
        match job {
            Done::Commit(answer, result) => {
                let _ = answer.send(outcome(result, &failure));
            }
            Done::Changes(answer, result) => {
                let _ = answer.send(outcome(result, &failure));
            }
            Done::Actions(answer, result) => {
                let _ = answer.send(outcome(result, &failure));
            }
            Done::Pair(answer, result) => {
                let _ = answer.send(outcome(result, &failure));
            }
        }
    }
}

/// Run one job, keeping its result in `done`; false when it failed.
fn run_job(conn: &Connection, job: Job, done: &mut Vec<Done>) -> bool {
    match job {
        Job::Commit {
            batch,
            index,
            answer,
        } => {
            let result = commit(conn, &batch, index);
            let ok = result.is_ok();
            done.push(Done::Commit(answer, result));
            ok
        }
        Job::Changes {
            batch,
            index,
            answer,
        } => {
            let batch: Vec<&NewChange> = batch.iter().collect();
            let mut exec = SqliteExec(conn);
            let result = run_ready(commit_changes_on(&mut exec, &batch, now_ms(), index));
            let ok = result.is_ok();
            done.push(Done::Changes(answer, result));
            ok
        }
        Job::Actions(batch, answer) => {
            let batch: Vec<&NewAction> = batch.iter().collect();
            let mut exec = SqliteExec(conn);
            let result = run_ready(commit_actions_on(&mut exec, &batch, now_ms()));
            let ok = result.is_ok();
            done.push(Done::Actions(answer, result));
            ok
        }
        Job::Pair(pair, answer) => {
            let result = find_or_create(conn, &pair);
            let ok = result.is_ok();
            done.push(Done::Pair(answer, result));
            ok
        }
    }
}

/// [`super::Store::dm_conversation`]'s and `guest_conversation`'s write.
fn find_or_create(tx: &Connection, pair: &Pair) -> Result<i64> {
    let now = now_ms();
    tx.prepare_cached(INSERT_PAIR)?
        .execute((&pair.conv_key, pair.kind, &pair.guest_name, now))?;
    let id: i64 = tx
        .prepare_cached(PAIR_ID)?
        .query_row([&pair.conv_key], |row| row.get(0))?;
    let mut member = tx.prepare_cached(INSERT_PAIR_MEMBER)?;
    for user in &pair.members {
        member.execute((id, user, now))?;
    }
    Ok(id)
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
        state: super::MessageState::default(),
    })
}

/// [`super::Store::commit_batch`] inside the thread's transaction
/// (`index`: with the new messages' index rows).
fn commit(tx: &Connection, batch: &[NewMessage], index: bool) -> Result<Vec<Committed>> {
    let batch: Vec<&NewMessage> = batch.iter().collect();
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
        let replies: Vec<Option<i64>> = rows
            .iter()
            .map(|(at, _)| batch[*at].reply.as_ref().map(|q| q.seq))
            .collect();
        let columns: Vec<String> = rows
            .iter()
            .map(|(at, _)| batch[*at].mentions.column())
            .collect();
        let mut params: Vec<&dyn ToSql> = Vec::with_capacity(rows.len() * 9);
        for (((at, seq), reply_to), mentions) in rows.iter().zip(&replies).zip(&columns) {
            let msg = batch[*at];
            params.extend([
                &msg.conv_id as &dyn ToSql,
                seq,
                &msg.sender_id,
                &msg.sender_name,
                &msg.client_id,
                &msg.body,
                &now,
                reply_to,
                mentions,
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

    for rows in mention_rows(&batch, &fresh).chunks(ROWS_PER_STATEMENT) {
        let mut statement = tx.prepare_cached(&mention_sql(rows.len()))?;
        let params: Vec<&dyn ToSql> = rows
            .iter()
            .flat_map(|(conv_id, seq, user_id, sender_id)| {
                [
                    conv_id as &dyn ToSql,
                    seq as &dyn ToSql,
                    user_id as &dyn ToSql,
                    sender_id as &dyn ToSql,
                ]
            })
            .collect();
        statement.execute(params.as_slice())?;
    }

    let indexed = if index {
        index_rows(Backend::Sqlite, &batch, &fresh, &ids)
    } else {
        Vec::new()
    };
    for rows in indexed.chunks(ROWS_PER_STATEMENT) {
        let mut statement =
            tx.prepare_cached(&index_sql(Backend::Sqlite, Rows::New, rows.len()))?;
        let params: Vec<&dyn ToSql> = rows
            .iter()
            .flat_map(|(id, terms)| [id as &dyn ToSql, terms as &dyn ToSql])
            .collect();
        statement.execute(params.as_slice())?;
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
    finish(plans, &batch, &ids, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use std::path::PathBuf;

    fn pair(key: &str, members: &[i64]) -> Pair {
        Pair {
            conv_key: key.into(),
            kind: "dm",
            guest_name: None,
            members: members.to_vec(),
        }
    }

    fn conversations(conn: &Connection, key: &str) -> i64 {
        conn.query_row(
            "SELECT count(*) FROM conversations WHERE conv_key = ?",
            [key],
            |row| row.get(0),
        )
        .unwrap()
    }

    /// Jobs taken together share one transaction, but one that fails (here
    /// a member who does not exist) is rolled back alone: the others are
    /// committed and answered, the failing one gets its error.
    #[tokio::test]
    async fn one_failing_job_leaves_the_others_of_its_transaction_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("w.db");
        let store = Store::open(&format!("sqlite://{}", path.display()))
            .await
            .expect("open");
        let alice = store.create_user("alice", "x").await.unwrap().unwrap();
        let bob = store.create_user("bob", "x").await.unwrap().unwrap();

        let mut conn = Connection::open(&path).expect("connection");
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        // The key `Store::dm_conversation` uses.
        let key = format!("dm:{}:{}", alice.id.min(bob.id), alice.id.max(bob.id));
        let (good_tx, good) = oneshot::channel();
        let (bad_tx, bad) = oneshot::channel();
        let (again_tx, again) = oneshot::channel();
        let mut jobs = vec![
            Job::Pair(pair(&key, &[alice.id, bob.id]), good_tx),
            Job::Pair(pair("dm:a:nobody", &[alice.id, 999_999]), bad_tx),
            Job::Pair(pair(&key, &[alice.id, bob.id]), again_tx),
        ];
        run_jobs(&mut conn, &mut jobs);

        let id = good.await.unwrap().expect("the good job");
        assert_eq!(again.await.unwrap().expect("the same pair again"), id);
        assert!(bad.await.unwrap().is_err(), "the bad job fails");
        assert_eq!(store.dm_conversation(bob.id, alice.id).await.unwrap(), id);
        assert_eq!(
            conversations(&conn, "dm:a:nobody"),
            0,
            "the failed job's conversation is gone"
        );
        let members: i64 = conn
            .query_row(
                "SELECT count(*) FROM members WHERE conv_id = ?",
                [id],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(members, 2);

        // Alone, a failing job is rolled back with its transaction.
        let (alone_tx, alone) = oneshot::channel();
        let mut jobs = vec![Job::Pair(pair("dm:a:none", &[alice.id, 999_998]), alone_tx)];
        run_jobs(&mut conn, &mut jobs);
        assert!(alone.await.unwrap().is_err(), "the job alone fails");
        assert_eq!(
            conversations(&conn, "dm:a:none"),
            0,
            "nothing of it is stored"
        );
    }

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
