//! The store, on SQLite (the embedded default) or PostgreSQL (for several
//! nodes), through sqlx's `Any` driver: one set of queries, two backends,
//! each with its own migrations. Queries are written with `?` placeholders;
//! [`Store::q`] numbers them `$1, $2, …` for PostgreSQL.
//!
//! SQLite runs in WAL mode with `synchronous=FULL` by default: a commit
//! survives a power cut (`--sqlite-synchronous normal` trades that for
//! commits that wait for no disk; they still survive a crash of the server).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use super::sessions::SessionCache;
use super::sqlite_writer::{path_of, Pair, SqliteWriter};
use super::{
    name_key, now_ms, ConvKind, Membership, Result, RoomRow, SqliteSync, StoreError, StoredMessage,
    User,
};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A pair conversation's writes, on sqlx here and on SQLite's writer thread
/// (`sqlite_writer.rs`).
pub(super) const INSERT_PAIR: &str =
    "INSERT INTO conversations (conv_key, kind, guest_name, created_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (conv_key) DO NOTHING";
pub(super) const PAIR_ID: &str = "SELECT id FROM conversations WHERE conv_key = ?";
pub(super) const INSERT_PAIR_MEMBER: &str =
    "INSERT INTO members (conv_id, user_id, read_seq, joined_at) VALUES (?, ?, 0, ?)
     ON CONFLICT (conv_id, user_id) DO NOTHING";

/// `sql` for `backend`: `?` placeholders become `$1, $2, …` for
/// PostgreSQL. (No query here has a `?` inside a string literal.)
pub(super) fn numbered(backend: Backend, sql: &str) -> Cow<'_, str> {
    match backend {
        Backend::Sqlite => Cow::Borrowed(sql),
        Backend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 16);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(c);
                }
            }
            Cow::Owned(out)
        }
    }
}

/// Which database a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    pub(super) pool: AnyPool,
    backend: Backend,
    sessions: Arc<SessionCache>,
    /// SQLite's message writer thread (`None` on PostgreSQL).
    writer: Option<Arc<SqliteWriter>>,
    /// Keep the search index (`--search-index`): when false, nothing is
    /// indexed and edits and deletes only remove index rows.
    search_index: bool,
}

/// How many changes (edits, deletes, reactions) follow member `m`'s read
/// position in conversation `c`: they take sequence numbers but are not
/// unread messages.
const UNREAD_CHANGES: &str = "(SELECT count(*) FROM messages e
      WHERE e.conv_id = c.id AND e.kind <> 0 AND e.seq > m.read_seq)";

/// Messages after member `m`'s read position in conversation `c` that
/// mention them, or everyone (`@room`, in a room), sent by someone else.
pub(super) const UNREAD_MENTIONS: &str = "(SELECT count(DISTINCT mn.seq) FROM mentions mn
      WHERE mn.conv_id = c.id AND mn.seq > m.read_seq
        AND (mn.user_id = m.user_id OR (mn.user_id IS NULL AND c.kind = 'room'))
        AND (mn.sender_id IS NULL OR mn.sender_id <> m.user_id))";

/// A stored notification setting (no row: the default).
pub(super) fn notify_level(stored: Option<&str>) -> app::protocol::NotifyLevel {
    match stored {
        Some("all") => app::protocol::NotifyLevel::All,
        Some("none") => app::protocol::NotifyLevel::Nothing,
        _ => app::protocol::NotifyLevel::Mentions,
    }
}

pub(super) const MESSAGE_COLUMNS: &str =
    "id, conv_id, seq, sender_id, sender_name, client_id, body, created_at, mentions";

pub(super) fn message_from_row(row: &AnyRow) -> Result<StoredMessage> {
    Ok(StoredMessage {
        id: row.try_get("id")?,
        conv_id: row.try_get("conv_id")?,
        seq: row.try_get("seq")?,
        sender_id: row.try_get("sender_id")?,
        sender_name: row.try_get("sender_name")?,
        client_id: row.try_get("client_id")?,
        body: row.try_get("body")?,
        ts: row.try_get("created_at")?,
        state: super::MessageState {
            mentions: super::mentions_of_column(&row.try_get::<String, _>("mentions")?),
            ..super::MessageState::default()
        },
    })
}

impl Store {
    /// Open (creating a SQLite file if needed) the database and apply
    /// migrations.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, SqliteSync::Full).await
    }

    /// [`Store::open`] with SQLite's durability setting.
    pub async fn open_with(url: &str, sync: SqliteSync) -> Result<Self> {
        let backend =
            Backend::of(url).ok_or_else(|| StoreError::UnsupportedUrl(url.to_string()))?;
        sqlx::any::install_default_drivers();
        let (url, max_connections) = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                (format!("{url}{sep}mode=rwc"), 8)
            }
            Backend::Sqlite => (url.to_string(), 8),
            Backend::Postgres => (url.to_string(), 16),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in [
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA journal_mode = WAL",
                            sync.pragma(),
                            "PRAGMA foreign_keys = ON",
                        ] {
                            conn.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let writer = match backend {
            Backend::Sqlite => path_of(&url)
                .map(|path| SqliteWriter::start(path, sync).map(Arc::new))
                .transpose()?,
            Backend::Postgres => None,
        };
        let store = Store {
            pool,
            backend,
            sessions: Arc::default(),
            writer,
            search_index: true,
        };
        store.backfill_skeletons().await?;
        Ok(store)
    }

    /// A write transaction. On SQLite it takes the write lock at `BEGIN`
    /// (`BEGIN IMMEDIATE`), where the busy timeout applies: a deferred
    /// transaction that reads first and writes later would fail at once
    /// with "database is locked" when another writer got there first.
    pub(super) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(super) fn sqlite_writer(&self) -> Option<&SqliteWriter> {
        self.writer.as_deref()
    }

    /// Keep the search index or not (`--search-index`; on by default), set
    /// before the store is shared. Off: messages are stored without index
    /// rows, an edit or a delete removes the message's row (so no old text
    /// is found if it is turned on again), and [`Store::search`] is not to
    /// be called (the server refuses `search` frames). Messages stored
    /// while it was off are not indexed later.
    pub fn set_search_index(&mut self, on: bool) {
        self.search_index = on;
    }

    /// Is the search index kept?
    pub fn search_index(&self) -> bool {
        self.search_index
    }

    /// The query text for this backend: `?` placeholders become `$1, $2, …`
    /// for PostgreSQL. (No query here has a `?` inside a string literal.)
    pub(super) fn q<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        numbered(self.backend, sql)
    }

    /// Close every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query(&self.q("SELECT 1")).execute(&self.pool).await?;
        Ok(())
    }

    // ---- users and sessions -------------------------------------------------

    /// The user and password hash for a name (any case).
    pub async fn find_user(&self, name: &str) -> Result<Option<(User, String)>> {
        let row =
            sqlx::query(&self.q("SELECT id, name, password_hash FROM users WHERE name_key = ?"))
                .bind(name_key(name))
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok((
                User {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                },
                r.try_get("password_hash")?,
            ))
        })
        .transpose()
    }

    /// Register a name, shown as itself; `None` when it was taken meanwhile.
    pub async fn create_user(&self, name: &str, password_hash: &str) -> Result<Option<User>> {
        self.create_user_named(name, password_hash, name).await
    }

    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        expires_at: i64,
        user_agent: &str,
    ) -> Result<()> {
        sqlx::query(&self.q(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, user_agent)
             VALUES (?, ?, ?, ?, ?)",
        ))
        .bind(token_hash)
        .bind(user_id)
        .bind(now_ms())
        .bind(expires_at)
        .bind(user_agent)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user of a live session, and when it expires. Answered from
    /// memory when this node read the session recently (`sessions.rs`).
    pub async fn session_user(&self, token_hash: &str) -> Result<Option<(User, i64)>> {
        let now = now_ms();
        if let Some(hit) = self.sessions.get(token_hash, now) {
            return Ok(Some(hit));
        }
        let epoch = self.sessions.epoch();
        let row = sqlx::query(&self.q(
            "SELECT u.id, u.name, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = ? AND s.expires_at > ?",
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user = User {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
        };
        let expires_at: i64 = row.try_get("expires_at")?;
        self.sessions
            .insert(epoch, token_hash, user.clone(), expires_at);
        Ok(Some((user, expires_at)))
    }

    /// Sign a session out: delete it, then forget it here.
    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query(&self.q("DELETE FROM sessions WHERE token_hash = ?"))
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        self.forget_session(token_hash);
        Ok(())
    }

    /// Another node signed this session out (it deleted the row first).
    pub fn forget_session(&self, token_hash: &str) {
        self.sessions.revoke(token_hash);
    }

    // ---- conversations ------------------------------------------------------

    pub async fn room_id(&self, room: &str) -> Result<Option<i64>> {
        let row = sqlx::query(&self.q("SELECT id FROM conversations WHERE conv_key = ?"))
            .bind(format!("room:{}", name_key(room)))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// Create a room with its creator as its owner and first member, and
    /// the line "alice created the room" first in its log; `None` if a
    /// room has that name.
    pub async fn create_room(
        &self,
        room: &str,
        title: &str,
        topic: &str,
        private: bool,
        creator: &User,
    ) -> Result<Option<i64>> {
        let key = name_key(room);
        let mut tx = self.begin().await?;
        let now = now_ms();
        let row = sqlx::query(&self.q(
            "INSERT INTO conversations (conv_key, kind, room_name, created_at, topic, private, last_seq, title)
             VALUES (?, 'room', ?, ?, ?, ?, 1, ?)
             ON CONFLICT (conv_key) DO NOTHING RETURNING id",
        ))
        .bind(format!("room:{key}"))
        .bind(&key)
        .bind(now)
        .bind(topic)
        .bind(i64::from(private))
        .bind(if title.is_empty() { key.as_str() } else { title })
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: i64 = row.try_get("id")?;
        sqlx::query(&self.q(
            "INSERT INTO members (conv_id, user_id, read_seq, joined_at, role) VALUES (?, ?, 1, ?, 2)",
        ))
        .bind(id)
        .bind(creator.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let event = app::protocol::RoomEvent {
            by: Some(creator.name.clone()),
            topic: (!topic.is_empty()).then(|| topic.to_string()),
            title: (!title.is_empty() && title != key).then(|| title.to_string()),
            private: Some(private),
            ..app::protocol::RoomEvent::new(app::protocol::EventKind::Created)
        };
        sqlx::query(&self.q(
            "INSERT INTO messages (conv_id, seq, sender_id, sender_name, body, created_at, kind)
             VALUES (?, 1, ?, ?, ?, ?, 5)",
        ))
        .bind(id)
        .bind(creator.id)
        .bind(&creator.name)
        .bind(serde_json::to_string(&event).unwrap_or_default())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Add a member (nothing unread from before). False if already a member.
    pub async fn add_member(&self, conv_id: i64, user_id: i64) -> Result<bool> {
        let done = sqlx::query(&self.q(
            "INSERT INTO members (conv_id, user_id, read_seq, joined_at)
             SELECT id, ?, last_seq, ? FROM conversations WHERE id = ?
             ON CONFLICT (conv_id, user_id) DO NOTHING",
        ))
        .bind(user_id)
        .bind(now_ms())
        .bind(conv_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Remove a member. False if they were not one.
    pub async fn remove_member(&self, conv_id: i64, user_id: i64) -> Result<bool> {
        let done = sqlx::query(&self.q("DELETE FROM members WHERE conv_id = ? AND user_id = ?"))
            .bind(conv_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn is_member(&self, conv_id: i64, user_id: i64) -> Result<bool> {
        let row = sqlx::query(&self.q("SELECT 1 FROM members WHERE conv_id = ? AND user_id = ?"))
            .bind(conv_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// The names of a conversation's members, in name order, at most `limit`.
    pub async fn member_names(&self, conv_id: i64, limit: usize) -> Result<Vec<String>> {
        let rows = sqlx::query(&self.q(
            "SELECT u.name FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.conv_id = ? ORDER BY u.name_key LIMIT ?",
        ))
        .bind(conv_id)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<String, _>("name")?))
            .collect()
    }

    pub async fn member_count(&self, conv_id: i64) -> Result<u32> {
        let n: i64 = sqlx::query_scalar(&self.q("SELECT count(*) FROM members WHERE conv_id = ?"))
            .bind(conv_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u32)
    }

    /// How many rooms `user_id` is in.
    pub async fn room_count(&self, user_id: i64) -> Result<u32> {
        let n: i64 = sqlx::query_scalar(&self.q(
            "SELECT count(*) FROM members m JOIN conversations c ON c.id = m.conv_id
             WHERE m.user_id = ? AND c.kind = 'room'",
        ))
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u32)
    }

    /// How many rooms exist.
    pub async fn total_rooms(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar(&self.q("SELECT count(*) FROM conversations WHERE kind = 'room'"))
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Every public room and every room `user_id` is in, with member
    /// counts and whether they are in it.
    pub async fn list_rooms(&self, user_id: i64) -> Result<Vec<RoomRow>> {
        let rows = sqlx::query(
            &self.q("SELECT c.id, c.room_name,
                    (SELECT count(*) FROM members m WHERE m.conv_id = c.id) AS members,
                    CAST(CASE WHEN EXISTS (SELECT 1 FROM members m WHERE m.conv_id = c.id AND m.user_id = ?)
                         THEN 1 ELSE 0 END AS BIGINT) AS joined
             FROM conversations c WHERE c.kind = 'room'
              AND (c.private = 0 OR EXISTS (SELECT 1 FROM members m
                                             WHERE m.conv_id = c.id AND m.user_id = ?))
             ORDER BY c.room_name"),
        )
        .bind(user_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RoomRow {
                    conv_id: r.try_get("id")?,
                    name: r.try_get("room_name")?,
                    members: r.try_get::<i64, _>("members")? as u32,
                    joined: r.try_get::<i64, _>("joined")? != 0,
                })
            })
            .collect()
    }

    /// The direct conversation between two users, created on first use.
    pub async fn dm_conversation(&self, a: i64, b: i64) -> Result<i64> {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        self.pair_conversation(&format!("dm:{lo}:{hi}"), "dm", None, &[lo, hi])
            .await
    }

    /// The conversation between a user and a seed-endpoint guest.
    pub async fn guest_conversation(&self, user_id: i64, guest: &str) -> Result<i64> {
        let key = name_key(guest);
        self.pair_conversation(
            &format!("guest:{user_id}:{key}"),
            "guest",
            Some(guest),
            &[user_id],
        )
        .await
    }

    async fn pair_conversation(
        &self,
        conv_key: &str,
        kind: &'static str,
        guest_name: Option<&str>,
        members: &[i64],
    ) -> Result<i64> {
        if let Some(row) = sqlx::query(&self.q(PAIR_ID))
            .bind(conv_key)
            .fetch_optional(&self.pool)
            .await?
        {
            return Ok(row.try_get("id")?);
        }
        if let Some(writer) = &self.writer {
            return writer
                .pair(Pair {
                    conv_key: conv_key.to_string(),
                    kind,
                    guest_name: guest_name.map(str::to_string),
                    members: members.to_vec(),
                })
                .await;
        }
        let mut tx = self.begin().await?;
        let now = now_ms();
        sqlx::query(&self.q(INSERT_PAIR))
            .bind(conv_key)
            .bind(kind)
            .bind(guest_name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let id: i64 = sqlx::query_scalar(&self.q(PAIR_ID))
            .bind(conv_key)
            .fetch_one(&mut *tx)
            .await?;
        for user in members {
            sqlx::query(&self.q(INSERT_PAIR_MEMBER))
                .bind(id)
                .bind(user)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Every conversation `user_id` is in.
    pub async fn memberships(&self, user_id: i64) -> Result<Vec<Membership>> {
        self.memberships_matching(user_id, None).await
    }

    /// The user's memberships, or only the one in `conv_id`.
    async fn memberships_matching(
        &self,
        user_id: i64,
        conv_id: Option<i64>,
    ) -> Result<Vec<Membership>> {
        let one = if conv_id.is_some() {
            " AND c.id = ?"
        } else {
            ""
        };
        let sql = format!(
            "SELECT c.id, c.kind, c.room_name, c.guest_name, c.last_seq, m.read_seq,
                    -- A conversation with oneself has no other member.
                    COALESCE(
                      (SELECT u.name FROM members p JOIN users u ON u.id = p.user_id
                        WHERE p.conv_id = c.id AND p.user_id != m.user_id LIMIT 1),
                      (SELECT u.name FROM users u WHERE u.id = m.user_id)) AS peer,
                    (SELECT count(*) FROM members p WHERE p.conv_id = c.id) AS members,
                    {UNREAD_CHANGES} AS changes,
                    m.role, c.topic, c.title, c.private,
                    (SELECT a.muted_until FROM room_access a
                      WHERE a.conv_id = c.id AND a.user_id = m.user_id) AS muted_until,
                    {UNREAD_MENTIONS} AS mentions,
                    (SELECT n.level FROM notify_settings n
                      WHERE n.user_id = m.user_id AND n.conv_id = c.id) AS notify
             FROM members m JOIN conversations c ON c.id = m.conv_id
             WHERE m.user_id = ?{one} ORDER BY c.id"
        );
        let sql = self.q(&sql);
        let mut query = sqlx::query(&sql).bind(user_id);
        if let Some(conv_id) = conv_id {
            query = query.bind(conv_id);
        }
        // One query: each is a round trip to the database (on SQLite, to
        // sqlx's worker thread and back), and reconnects run this one.
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                let kind = match kind.as_str() {
                    "room" => ConvKind::Room {
                        name: r.try_get("room_name")?,
                    },
                    "guest" => ConvKind::Guest {
                        guest: r.try_get("guest_name")?,
                    },
                    _ => ConvKind::Dm {
                        peer: r.try_get::<Option<String>, _>("peer")?.unwrap_or_default(),
                    },
                };
                let last_seq: i64 = r.try_get("last_seq")?;
                let read_seq: i64 = r.try_get("read_seq")?;
                let changes: i64 = r.try_get("changes")?;
                Ok(Membership {
                    conv_id: r.try_get("id")?,
                    kind,
                    last_seq,
                    read_seq,
                    unread: (last_seq - read_seq - changes).max(0),
                    members: r.try_get::<i64, _>("members")? as u32,
                    role: super::rooms::role_of(r.try_get("role")?),
                    topic: r.try_get("topic")?,
                    title: r.try_get("title")?,
                    private: r.try_get::<i64, _>("private")? != 0,
                    muted_until: r
                        .try_get::<Option<i64>, _>("muted_until")?
                        .filter(|until| *until > now_ms()),
                    mentions: r.try_get("mentions")?,
                    notify: notify_level(r.try_get::<Option<String>, _>("notify")?.as_deref()),
                })
            })
            .collect()
    }

    /// What a conversation is, as `user_name` sees it (a direct one is named
    /// after the other participant).
    pub async fn conversation_kind(
        &self,
        conv_id: i64,
        user_name: &str,
    ) -> Result<Option<ConvKind>> {
        let row = sqlx::query(&self.q("SELECT c.kind, c.room_name, c.guest_name,
                    (SELECT u.name FROM members p JOIN users u ON u.id = p.user_id
                      WHERE p.conv_id = c.id AND u.name_key <> ? LIMIT 1) AS peer
             FROM conversations c WHERE c.id = ?"))
        .bind(name_key(user_name))
        .bind(conv_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let kind: String = r.try_get("kind")?;
        Ok(Some(match kind.as_str() {
            "room" => ConvKind::Room {
                name: r.try_get("room_name")?,
            },
            "guest" => ConvKind::Guest {
                guest: r.try_get("guest_name")?,
            },
            _ => ConvKind::Dm {
                peer: r
                    .try_get::<Option<String>, _>("peer")?
                    .unwrap_or_else(|| user_name.to_string()),
            },
        }))
    }

    /// The membership of one conversation, if `user_id` is in it.
    pub async fn membership(&self, conv_id: i64, user_id: i64) -> Result<Option<Membership>> {
        Ok(self
            .memberships_matching(user_id, Some(conv_id))
            .await?
            .pop())
    }

    /// Messages with `seq > after`, oldest first, at most `limit`.
    pub async fn messages_after(
        &self,
        conv_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>> {
        let rows = sqlx::query(&self.q(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conv_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        )))
        .bind(conv_id)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Move a member's read position forward (never back, never past the end).
    /// Returns the new read position and how many messages follow it.
    pub async fn mark_read(
        &self,
        conv_id: i64,
        user_id: i64,
        seq: i64,
    ) -> Result<Option<(i64, i64, i64)>> {
        let mut tx = self.begin().await?;
        let last: Option<i64> =
            sqlx::query_scalar(&self.q("SELECT last_seq FROM conversations WHERE id = ?"))
                .bind(conv_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(last) = last else {
            return Ok(None);
        };
        let target = seq.min(last);
        sqlx::query(&self.q(
            "UPDATE members SET read_seq = ? WHERE conv_id = ? AND user_id = ? AND read_seq < ?",
        ))
        .bind(target)
        .bind(conv_id)
        .bind(user_id)
        .bind(target)
        .execute(&mut *tx)
        .await?;
        let sql = format!(
            "SELECT m.read_seq, {UNREAD_CHANGES} AS changes, {UNREAD_MENTIONS} AS mentions
             FROM members m JOIN conversations c ON c.id = m.conv_id
             WHERE m.conv_id = ? AND m.user_id = ?"
        );
        let row = sqlx::query(&self.q(&sql))
            .bind(conv_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|row| {
            let read: i64 = row.try_get("read_seq")?;
            let changes: i64 = row.try_get("changes")?;
            let mentions: i64 = row.try_get("mentions")?;
            Ok((read, (last - read - changes).max(0), mentions))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pooled SQLite connection runs with the durability asked for.
    #[tokio::test]
    async fn sqlite_durability_follows_the_setting() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (sync, want) in [(SqliteSync::Full, 2_i64), (SqliteSync::Normal, 1)] {
            let url = format!(
                "sqlite://{}",
                dir.path().join(format!("{want}.db")).display()
            );
            let store = Store::open_with(&url, sync).await.expect("open");
            let got: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&store.pool)
                .await
                .expect("pragma");
            assert_eq!(got, want, "{sync:?}");
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&store.pool)
                .await
                .expect("pragma");
            assert_eq!(mode, "wal");
            store.close().await;
        }
    }
}
