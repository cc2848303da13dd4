//! The database a test server runs on: a SQLite file in a temporary folder
//! (default), or, with `PARLEY_TEST_DATABASE=postgres`, a fresh database on
//! the PostgreSQL at `PARLEY_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432`), dropped when the test ends. The
//! same tests run against both.

use sqlx::{Connection, Executor, PgConnection};
use tempfile::TempDir;

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

pub struct TestDb {
    /// What `--database-url` gets.
    pub url: String,
    _dir: Option<TempDir>,
    postgres: Option<(String, String)>, // (server url, database name)
}

pub fn postgres_server() -> String {
    std::env::var("PARLEY_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.to_string())
}

/// Is the suite running against PostgreSQL?
pub fn on_postgres() -> bool {
    std::env::var("PARLEY_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

impl TestDb {
    pub async fn new() -> Self {
        if on_postgres() {
            Self::postgres().await
        } else {
            Self::sqlite()
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("chat.db").display());
        TestDb {
            url,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A new, empty PostgreSQL database.
    pub async fn postgres() -> Self {
        let server = postgres_server();
        let name = format!("parley_test_{}_{}", std::process::id(), rand_suffix());
        let mut admin = PgConnection::connect(&format!("{server}/postgres"))
            .await
            .expect("PostgreSQL is reachable (see README: starting the services)");
        admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .expect("create test database");
        TestDb {
            url: format!("{server}/{name}"),
            _dir: None,
            postgres: Some((server, name)),
        }
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos}_{}", N.fetch_add(1, Ordering::Relaxed))
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside a runtime; do the clean-up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&format!("{server}/postgres")).await {
                    let _ = admin
                        .execute(
                            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str(),
                        )
                        .await;
                }
            });
        })
        .join();
    }
}
