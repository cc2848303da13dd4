//! A database made by the previous release (the first schema only) opens
//! with this one, migrates in place, keeps every message, and takes the new
//! kinds of entries. On SQLite, and on PostgreSQL with
//! `PARLEY_TEST_DATABASE=postgres`.

mod common;

use common::db::{on_postgres, TestDb};
use common::*;
use sqlx::{Connection, Executor};

/// Apply only the first migration, as the previous release did, and write
/// its rows as it wrote them.
async fn previous_release_database() -> TestDb {
    let db = TestDb::new().await;
    let backend = if on_postgres() { "postgres" } else { "sqlite" };
    let first = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend)
        .join("0001_init.sql");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(&first, dir.path().join("0001_init.sql")).expect("copy the first migration");
    let migrator = sqlx::migrate::Migrator::new(dir.path())
        .await
        .expect("the first migration reads");
    sqlx::any::install_default_drivers();
    let url = if on_postgres() {
        db.url.clone()
    } else {
        format!("{}?mode=rwc", db.url)
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.expect("connect");
    migrator
        .run(&mut conn)
        .await
        .expect("the first schema applies");

    let hash = server::auth::hash_password("secret1".into())
        .await
        .expect("hash");
    let q = |sql: &str| {
        if on_postgres() {
            let mut n = 0;
            sql.chars()
                .map(|c| {
                    if c == '?' {
                        n += 1;
                        format!("${n}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        } else {
            sql.to_string()
        }
    };
    let alice: i64 = sqlx::query_scalar(&q(
        "INSERT INTO users (name, name_key, password_hash, created_at) VALUES ('alice', 'alice', ?, 1) RETURNING id",
    ))
    .bind(hash)
    .fetch_one(&mut conn)
    .await
    .expect("alice");
    conn.execute(
        format!(
            "INSERT INTO members (conv_id, user_id, read_seq, joined_at)
             SELECT id, {alice}, 0, 1 FROM conversations WHERE conv_key = 'room:lobby'"
        )
        .as_str(),
    )
    .await
    .expect("alice in the lobby");
    for seq in 1..=3_i64 {
        sqlx::query(&q(
            "INSERT INTO messages (conv_id, seq, sender_id, sender_name, client_id, body, created_at)
             SELECT id, ?, ?, 'alice', ?, ?, ? FROM conversations WHERE conv_key = 'room:lobby'",
        ))
        .bind(seq)
        .bind(alice)
        .bind(format!("old-{seq}"))
        .bind(format!("old message {seq}"))
        .bind(1000 + seq)
        .execute(&mut conn)
        .await
        .expect("an old message");
    }
    conn.execute("UPDATE conversations SET last_seq = 3 WHERE conv_key = 'room:lobby'")
        .await
        .expect("last_seq");
    // A room bob made (its first member) and alice joined after him.
    let bob: i64 = sqlx::query_scalar(&q(
        "INSERT INTO users (name, name_key, password_hash, created_at) VALUES ('bob', 'bob', 'x', 2) RETURNING id",
    ))
    .fetch_one(&mut conn)
    .await
    .expect("bob");
    conn.execute(
        "INSERT INTO conversations (conv_key, kind, room_name, created_at)
         VALUES ('room:rust', 'room', 'rust', 5)",
    )
    .await
    .expect("rust");
    for (user, joined) in [(alice, 9), (bob, 5)] {
        conn.execute(
            format!(
                "INSERT INTO members (conv_id, user_id, read_seq, joined_at)
                 SELECT id, {user}, 0, {joined} FROM conversations WHERE conv_key = 'room:rust'"
            )
            .as_str(),
        )
        .await
        .expect("a member of rust");
    }
    conn.close().await.expect("close");
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_previous_schema_migrates_in_place_and_keeps_its_messages() {
    let db = previous_release_database().await;
    let server = TestServer::start_on(db, |_| {}).await;
    // Her password of before (7 characters) is too short for today's policy: it still
    // signs her in, and she is asked to choose another.
    let response = server.post_session("alice", "secret1").await;
    assert_eq!(response.status(), 200);
    let alice = Session {
        name: "alice".into(),
        cookie: session_cookie(&response).expect("cookie"),
    };
    let info: serde_json::Value = response.json().await.expect("JSON");
    assert!(
        info["password_notice"]
            .as_str()
            .is_some_and(|n| !n.is_empty()),
        "{info}"
    );
    // People are shown by their handles and rooms by their names.
    assert_eq!(info["display_name"], "alice");
    let (mut client, welcome) = server.join_with(&alice, vec![cursor(lobby(), 0)]).await;
    assert_eq!(welcome.display, None);
    assert!(
        welcome.conversations.iter().all(|c| c.title.is_empty()),
        "{:?}",
        welcome.conversations
    );
    let bodies: Vec<&str> = welcome.backlog.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        vec!["old message 1", "old message 2", "old message 3"]
    );
    let info = welcome.conv(&lobby()).expect("lobby");
    assert_eq!((info.last_seq, info.unread), (3, 3));
    // An old client id is still known: its resend is a duplicate.
    let again = client.post("old-2", lobby(), "old message 2").await;
    assert_eq!(again.seq, 2);
    // And the old messages take the new kinds of entries.
    let edited = client
        .change(ClientFrame::Edit {
            client_id: "e-1".into(),
            conv: lobby(),
            seq: 1,
            body: "old message 1, edited".into(),
        })
        .await;
    assert_eq!(edited.seq, 4);
    let answer = client
        .change(ClientFrame::Send {
            client_id: "r-1".into(),
            conv: lobby(),
            body: "a reply".into(),
            reply_to: Some(2),
        })
        .await;
    let (history, _) = client.history(lobby(), None, None).await;
    assert_eq!(history.len(), 4);
    assert_eq!(history[0].body, "old message 1, edited");
    assert_eq!(history[3].seq, answer.seq);
    assert_eq!(history[3].reply.as_ref().map(|q| q.seq), Some(2));

    // Rooms became public, their creators their owners; the lobby has none.
    let rust = welcome.conv(&room("rust")).expect("rust");
    assert_eq!(
        (rust.private, rust.role),
        (false, Some(app::protocol::Role::Member))
    );
    for (name, want) in [
        ("rust", vec![("bob", app::protocol::Role::Owner)]),
        ("lobby", vec![]),
    ] {
        client
            .send(&ClientFrame::Members { room: name.into() })
            .await;
        match client.next().await {
            ServerFrame::Members { staff, .. } => {
                let staff: Vec<_> = staff.iter().map(|s| (s.user.as_str(), s.role)).collect();
                assert_eq!(staff, want, "{name}");
            }
            other => panic!("{other:?}"),
        }
    }
    let (rooms, _) = client.directory("rust").await;
    assert_eq!(rooms.len(), 1, "rust is listed: {rooms:?}");
    // And the alice of before cannot moderate bob's room.
    let kick = client
        .act(
            "k",
            "rust",
            app::protocol::RoomAction::Kick { user: "bob".into() },
        )
        .await;
    assert_eq!(kick.map_err(|e| e.0), Err(ErrorCode::NotPermitted));
}
