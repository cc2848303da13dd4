//! Statements written once, run on either path: through sqlx (PostgreSQL,
//! and reads on SQLite's pool) or on SQLite's writer thread (rusqlite).
//!
//! The changes' transaction (`changes.rs`) is a sequence of small
//! statements whose order depends on what earlier ones returned. It is
//! written as one `async fn` over [`Exec`]; on the writer thread the
//! rusqlite statements complete at once, so [`run_ready`] drives that
//! future to its end in a single poll.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use sqlx::{AnyConnection, Row as _};

use super::sql::numbered;
use super::{Backend, Result, StoreError};

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub(super) enum Param<'a> {
    Int(i64),
    Text(&'a str),
    /// A NULL of a text column (typed so, as PostgreSQL prepares it).
    NullText,
    /// A NULL of an integer column.
    NullInt,
}

/// A value read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// One row read back, by column position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Row(Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Inconsistent(format!("no column {i}")))
    }

    pub fn int(&self, i: usize) -> Result<i64> {
        match self.at(i)? {
            Value::Int(n) => Ok(*n),
            other => Err(StoreError::Inconsistent(format!(
                "column {i}: expected an integer, got {other:?}"
            ))),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    pub fn text(&self, i: usize) -> Result<String> {
        match self.at(i)? {
            Value::Text(s) => Ok(s.clone()),
            other => Err(StoreError::Inconsistent(format!(
                "column {i}: expected text, got {other:?}"
            ))),
        }
    }
}

/// Where statements run. `sql` uses `?` placeholders. (The futures are
/// `Send` where the implementation's are: sqlx's, which the relay awaits.)
pub(super) trait Exec {
    fn backend(&self) -> Backend;

    async fn fetch_optional(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Option<Row>>;

    async fn execute(&mut self, sql: &'static str, params: &[Param<'_>]) -> Result<u64>;
}

/// sqlx's connection (a transaction's, or one from the pool).
pub(super) struct SqlxExec<'c> {
    pub conn: &'c mut AnyConnection,
    pub backend: Backend,
}

fn bind<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    params: &[Param<'q>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for param in params {
        query = match *param {
            Param::Int(n) => query.bind(n),
            Param::Text(text) => query.bind(text),
            Param::NullText => query.bind(None::<String>),
            Param::NullInt => query.bind(None::<i64>),
        };
    }
    query
}

fn from_any(row: &sqlx::any::AnyRow) -> Result<Row> {
    use sqlx::Column as _;
    let mut values = Vec::with_capacity(row.columns().len());
    for column in row.columns() {
        let i = column.ordinal();
        let value = match row.try_get::<Option<i64>, _>(i) {
            Ok(Some(n)) => Value::Int(n),
            Ok(None) => Value::Null,
            Err(_) => match row.try_get::<Option<String>, _>(i)? {
                Some(text) => Value::Text(text),
                None => Value::Null,
            },
        };
        values.push(value);
    }
    Ok(Row(values))
}

impl Exec for SqlxExec<'_> {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn fetch_optional(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Option<Row>> {
        let sql = numbered(self.backend, sql);
        let row = bind(sqlx::query(&sql), params)
            .fetch_optional(&mut *self.conn)
            .await?;
        row.as_ref().map(from_any).transpose()
    }

    async fn execute(&mut self, sql: &'static str, params: &[Param<'_>]) -> Result<u64> {
        let sql = numbered(self.backend, sql);
        let done = bind(sqlx::query(&sql), params)
            .execute(&mut *self.conn)
            .await?;
        Ok(done.rows_affected())
    }
}

/// SQLite's writer thread's connection (inside its transaction).
pub(super) struct SqliteExec<'c>(pub &'c rusqlite::Connection);

fn rusqlite_params<'a>(params: &'a [Param<'a>]) -> Vec<&'a dyn rusqlite::ToSql> {
    params
        .iter()
        .map(|p| match p {
            Param::Int(n) => n as &dyn rusqlite::ToSql,
            Param::Text(text) => text as &dyn rusqlite::ToSql,
            Param::NullText | Param::NullInt => &rusqlite::types::Null as &dyn rusqlite::ToSql,
        })
        .collect()
}

impl SqliteExec<'_> {
    fn fetch_now(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>> {
        use rusqlite::types::ValueRef;
        let mut statement = self.0.prepare_cached(sql)?;
        let width = statement.column_count();
        let mut rows = statement.query(rusqlite_params(params).as_slice())?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => Value::Int(n),
                ValueRef::Text(bytes) => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
                other => {
                    return Err(StoreError::Inconsistent(format!(
                        "column {i}: unexpected {:?}",
                        other.data_type()
                    )))
                }
            });
        }
        Ok(Some(Row(values)))
    }

    fn execute_now(&self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let mut statement = self.0.prepare_cached(sql)?;
        Ok(statement.execute(rusqlite_params(params).as_slice())? as u64)
    }
}

/// Every statement completes before its future is first polled.
impl Exec for SqliteExec<'_> {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn fetch_optional(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Option<Row>> {
        self.fetch_now(sql, params)
    }

    async fn execute(&mut self, sql: &'static str, params: &[Param<'_>]) -> Result<u64> {
        self.execute_now(sql, params)
    }
}

/// Run a future whose every step completes at once (statements on the
/// writer thread) to its end, on this thread.
pub(super) fn run_ready<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(StoreError::Writer(
            "a statement on the writer thread did not complete".into(),
        )),
    }
}
