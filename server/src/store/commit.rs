//! Storing a batch of messages in one transaction with a handful of
//! statements, however many messages it holds: one look-up of resent
//! client ids, one sequence update per conversation, multi-row inserts, and
//! one read-marker update per sender and conversation.
//!
//! The plan (which message is a resend, which sequence numbers, which read
//! markers move) is worked out here once for both databases; the
//! statements run through sqlx on PostgreSQL and on SQLite's writer thread
//! (`sqlite_writer.rs`), where a statement is a function call rather than
//! a hop to sqlx's worker thread and back.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use sqlx::Row;

use super::search::{index_sql, index_value, Rows};
use super::sql::{message_from_row, MESSAGE_COLUMNS};
use super::{
    now_ms, Backend, Committed, MessageState, NewMessage, Result, Store, StoreError, StoredMessage,
};

/// Rows per multi-row statement: 8 parameters each stays far below both
/// SQLite's and PostgreSQL's limit on parameters per statement.
pub(super) const ROWS_PER_STATEMENT: usize = 128;

/// What to do with one message of the batch.
pub(super) enum Plan {
    /// Already stored before this batch: answer with the stored one.
    Earlier(Box<StoredMessage>),
    /// A repeat of the message at this index of the batch.
    Repeat(usize),
    /// Store it with this sequence number.
    New { seq: i64 },
}

/// `(?, ?), (?, ?), …`: `rows` tuples of `width` placeholders.
fn tuples(rows: usize, width: usize) -> String {
    let one = format!("({})", vec!["?"; width].join(", "));
    vec![one; rows].join(", ")
}

/// The stored messages of `rows` (sender, client id) pairs.
pub(super) fn resend_sql(rows: usize) -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE {}",
        vec!["(sender_id = ? AND client_id = ?)"; rows].join(" OR ")
    )
}

/// Reserve `count` sequence numbers in each of `rows` (conversation, count)
/// pairs (both backends name a VALUES list's columns column1, column2, …).
pub(super) fn reserve_sql(rows: usize) -> String {
    format!(
        "UPDATE conversations SET last_seq = last_seq + v.column2 FROM (VALUES {}) AS v
         WHERE conversations.id = v.column1
         RETURNING conversations.id AS id, conversations.last_seq AS last_seq",
        tuples(rows, 2)
    )
}

/// Insert `rows` messages; their ids come back with (conversation, seq).
pub(super) fn insert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO messages (conv_id, seq, sender_id, sender_name, client_id, body, created_at, reply_to,
                               mentions)
         VALUES {} RETURNING id, conv_id, seq",
        tuples(rows, 9)
    )
}

/// Move `rows` (conversation, user, seq) read markers forward.
pub(super) fn read_sql(rows: usize) -> String {
    format!(
        "UPDATE members SET read_seq = v.column3 FROM (VALUES {}) AS v
         WHERE members.conv_id = v.column1 AND members.user_id = v.column2
           AND members.read_seq < v.column3",
        tuples(rows, 3)
    )
}

/// The (sender, client id) pairs of a batch, to look up resends by.
pub(super) fn resend_keys<'a>(batch: &[&'a NewMessage]) -> Vec<(i64, &'a str)> {
    batch
        .iter()
        .filter_map(|m| Some((m.sender_id?, m.client_id.as_deref()?)))
        .collect()
}

/// Which messages are resends (of a stored message, or of one earlier in
/// the batch), and how many new messages each conversation gets.
pub(super) fn plan(
    batch: &[&NewMessage],
    stored_before: &[StoredMessage],
) -> (Vec<Option<Plan>>, Vec<(i64, i64)>) {
    let earlier: HashMap<(i64, &str), &StoredMessage> = stored_before
        .iter()
        .filter_map(|m| Some(((m.sender_id?, m.client_id.as_deref()?), m)))
        .collect();
    let mut first_of: HashMap<(i64, &str), usize> = HashMap::new();
    let mut plans: Vec<Option<Plan>> = Vec::with_capacity(batch.len());
    let mut per_conv: BTreeMap<i64, i64> = BTreeMap::new();
    for (at, msg) in batch.iter().enumerate() {
        let plan = match (msg.sender_id, msg.client_id.as_deref()) {
            (Some(sender), Some(client_id)) => {
                if let Some(stored) = earlier.get(&(sender, client_id)) {
                    Some(Plan::Earlier(Box::new((*stored).clone())))
                } else if let Some(first) = first_of.get(&(sender, client_id)) {
                    Some(Plan::Repeat(*first))
                } else {
                    first_of.insert((sender, client_id), at);
                    None
                }
            }
            _ => None,
        };
        if plan.is_none() {
            *per_conv.entry(msg.conv_id).or_default() += 1;
        }
        plans.push(plan);
    }
    (plans, per_conv.into_iter().collect())
}

/// Record what a reservation statement returned: the conversation's new
/// `last_seq` after reserving `rows`' count, so the first new number is
/// `last - count + 1`.
pub(super) fn reserved(
    next_seq: &mut BTreeMap<i64, i64>,
    rows: &[(i64, i64)],
    conv_id: i64,
    last: i64,
) {
    let count = rows
        .iter()
        .find(|(c, _)| *c == conv_id)
        .map_or(0, |(_, n)| *n);
    next_seq.insert(conv_id, last - count + 1);
}

/// (index in the batch, seq) of each message stored now.
pub(super) type Fresh = Vec<(usize, i64)>;

/// Give every new message its sequence number; the new ones as (index in
/// the batch, seq).
pub(super) fn assign(
    plans: Vec<Option<Plan>>,
    batch: &[&NewMessage],
    per_conv: &[(i64, i64)],
    mut next_seq: BTreeMap<i64, i64>,
) -> Result<(Vec<Plan>, Fresh)> {
    if let Some((conv_id, _)) = per_conv.iter().find(|(c, _)| !next_seq.contains_key(c)) {
        return Err(StoreError::Inconsistent(format!(
            "no conversation {conv_id}"
        )));
    }
    let plans: Vec<Plan> = plans
        .into_iter()
        .zip(batch)
        .map(|(plan, msg)| {
            plan.unwrap_or_else(|| {
                let next = next_seq.entry(msg.conv_id).or_default();
                *next += 1;
                Plan::New { seq: *next - 1 }
            })
        })
        .collect();
    let fresh = plans
        .iter()
        .enumerate()
        .filter_map(|(at, plan)| match plan {
            Plan::New { seq } => Some((at, *seq)),
            _ => None,
        })
        .collect();
    Ok((plans, fresh))
}

/// The search index rows of the new messages that have words:
/// (message id, what the index holds on `backend`).
pub(super) fn index_rows<'a>(
    backend: Backend,
    batch: &[&'a NewMessage],
    fresh: &[(usize, i64)],
    ids: &HashMap<(i64, i64), i64>,
) -> Vec<(i64, Cow<'a, str>)> {
    fresh
        .iter()
        .filter(|(at, _)| !batch[*at].terms.is_empty())
        .filter_map(|(at, seq)| {
            let msg = batch[*at];
            let id = ids.get(&(msg.conv_id, *seq))?;
            Some((*id, index_value(backend, &msg.terms)))
        })
        .collect()
}

/// Insert `rows` mention rows: (conversation, seq, user or NULL for
/// `@room`, sender).
pub(super) fn mention_sql(rows: usize) -> String {
    format!(
        "INSERT INTO mentions (conv_id, seq, user_id, sender_id) VALUES {}",
        tuples(rows, 4)
    )
}

/// The mention rows of the new messages: (conversation, seq, user, sender).
pub(super) fn mention_rows(
    batch: &[&NewMessage],
    fresh: &[(usize, i64)],
) -> Vec<(i64, i64, Option<i64>, Option<i64>)> {
    let mut out = Vec::new();
    for (at, seq) in fresh {
        let msg = batch[*at];
        for (user_id, _) in &msg.mentions.users {
            out.push((msg.conv_id, *seq, Some(*user_id), msg.sender_id));
        }
        if msg.mentions.room {
            out.push((msg.conv_id, *seq, None, msg.sender_id));
        }
    }
    out
}

/// Writing a message means having read the conversation up to it:
/// ((conversation, sender), seq) for every sender of a new message.
pub(super) fn read_marks(batch: &[&NewMessage], fresh: &[(usize, i64)]) -> Vec<((i64, i64), i64)> {
    let mut read_up_to: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for (at, seq) in fresh {
        if let Some(sender) = batch[*at].sender_id {
            let read = read_up_to.entry((batch[*at].conv_id, sender)).or_default();
            *read = (*read).max(*seq);
        }
    }
    read_up_to.into_iter().collect()
}

/// What became of each message, once the transaction committed.
pub(super) fn finish(
    plans: Vec<Plan>,
    batch: &[&NewMessage],
    ids: &HashMap<(i64, i64), i64>,
    now: i64,
) -> Result<Vec<Committed>> {
    let mut out: Vec<Committed> = Vec::with_capacity(batch.len());
    for (at, plan) in plans.into_iter().enumerate() {
        let committed = match plan {
            Plan::Earlier(stored) => Committed::Duplicate(*stored),
            Plan::Repeat(first) => match &out[first] {
                Committed::Stored(stored) | Committed::Duplicate(stored) => {
                    Committed::Duplicate(stored.clone())
                }
            },
            Plan::New { seq } => {
                let msg = batch[at];
                let id = ids.get(&(msg.conv_id, seq)).copied().ok_or_else(|| {
                    StoreError::Inconsistent(format!(
                        "insert returned no id for conversation {} seq {seq}",
                        msg.conv_id
                    ))
                })?;
                Committed::Stored(StoredMessage {
                    id,
                    conv_id: msg.conv_id,
                    seq,
                    sender_id: msg.sender_id,
                    sender_name: msg.sender_name.clone(),
                    client_id: msg.client_id.clone(),
                    body: msg.body.clone(),
                    ts: now,
                    state: MessageState {
                        reply: msg.reply.clone(),
                        mentions: msg.mentions.handles(),
                        ..MessageState::default()
                    },
                })
            }
        };
        out.push(committed);
    }
    Ok(out)
}

impl Store {
    /// Store a batch of messages in one transaction, in order. Each gets the
    /// next sequence number of its conversation; a resend of a client id that
    /// is already stored (or appears earlier in the batch) comes back as
    /// [`Committed::Duplicate`]. Nothing is visible to anyone before the commit.
    pub async fn commit_batch(&self, batch: &[&NewMessage]) -> Result<Vec<Committed>> {
        match (self.backend(), self.sqlite_writer()) {
            (Backend::Sqlite, Some(writer)) => writer.commit(batch, self.search_index()).await,
            _ => self.commit_batch_sqlx(batch).await,
        }
    }

    /// [`Store::commit_batch`] through sqlx (PostgreSQL).
    async fn commit_batch_sqlx(&self, batch: &[&NewMessage]) -> Result<Vec<Committed>> {
        let mut tx = self.begin().await?;
        let now = now_ms();

        let mut stored_before = Vec::new();
        for chunk in resend_keys(batch).chunks(ROWS_PER_STATEMENT) {
            let text = resend_sql(chunk.len());
            let sql = self.q(&text);
            let mut query = sqlx::query(&sql).persistent(chunk.len() == ROWS_PER_STATEMENT);
            for (sender, client_id) in chunk {
                query = query.bind(*sender).bind(*client_id);
            }
            for row in query.fetch_all(&mut *tx).await? {
                stored_before.push(message_from_row(&row)?);
            }
        }
        let (plans, per_conv) = plan(batch, &stored_before);

        let mut next_seq: BTreeMap<i64, i64> = BTreeMap::new();
        for rows in per_conv.chunks(ROWS_PER_STATEMENT) {
            let text = reserve_sql(rows.len());
            let sql = self.q(&text);
            let mut query = sqlx::query(&sql).persistent(rows.len() == ROWS_PER_STATEMENT);
            for (conv_id, count) in rows {
                query = query.bind(*conv_id).bind(*count);
            }
            for row in query.fetch_all(&mut *tx).await? {
                reserved(
                    &mut next_seq,
                    rows,
                    row.try_get("id")?,
                    row.try_get("last_seq")?,
                );
            }
        }
        let (plans, fresh) = assign(plans, batch, &per_conv, next_seq)?;

        let mut ids: HashMap<(i64, i64), i64> = HashMap::with_capacity(fresh.len());
        for rows in fresh.chunks(ROWS_PER_STATEMENT) {
            let text = insert_sql(rows.len());
            let sql = self.q(&text);
            let mut query = sqlx::query(&sql).persistent(rows.len() == ROWS_PER_STATEMENT);
            for (at, seq) in rows {
                let msg = batch[*at];
                query = query
                    .bind(msg.conv_id)
                    .bind(*seq)
                    .bind(msg.sender_id)
                    .bind(msg.sender_name.as_str())
                    .bind(msg.client_id.as_deref())
                    .bind(msg.body.as_str())
                    .bind(now)
                    .bind(msg.reply.as_ref().map(|q| q.seq))
                    .bind(msg.mentions.column());
            }
            for row in query.fetch_all(&mut *tx).await? {
                ids.insert(
                    (row.try_get("conv_id")?, row.try_get("seq")?),
                    row.try_get("id")?,
                );
            }
        }

        for rows in mention_rows(batch, &fresh).chunks(ROWS_PER_STATEMENT) {
            let text = mention_sql(rows.len());
            let sql = self.q(&text);
            let mut query = sqlx::query(&sql);
            for (conv_id, seq, user_id, sender_id) in rows {
                query = query
                    .bind(*conv_id)
                    .bind(*seq)
                    .bind(*user_id)
                    .bind(*sender_id);
            }
            query.execute(&mut *tx).await?;
        }

        let indexed = if self.search_index() {
            index_rows(self.backend(), batch, &fresh, &ids)
        } else {
            Vec::new()
        };
        for rows in indexed.chunks(ROWS_PER_STATEMENT) {
            let text = index_sql(self.backend(), Rows::New, rows.len());
            let sql = self.q(&text);
            let mut query = sqlx::query(&sql).persistent(rows.len() == ROWS_PER_STATEMENT);
            for (id, value) in rows {
                query = query.bind(*id).bind(value.as_ref());
            }
            query.execute(&mut *tx).await?;
        }

        for rows in read_marks(batch, &fresh).chunks(ROWS_PER_STATEMENT) {
            let text = read_sql(rows.len());
            let sql = self.q(&text);
            let mut query = sqlx::query(&sql).persistent(rows.len() == ROWS_PER_STATEMENT);
            for ((conv_id, sender), seq) in rows {
                query = query.bind(*conv_id).bind(*sender).bind(*seq);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        finish(plans, batch, &ids, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(
        conv_id: i64,
        sender: Option<&crate::store::User>,
        client_id: &str,
        body: &str,
    ) -> NewMessage {
        NewMessage::new(
            conv_id,
            sender.map(|u| u.id),
            sender.map_or("guest".to_owned(), |u| u.name.clone()),
            (!client_id.is_empty()).then(|| client_id.to_owned()),
            body.to_owned(),
            None,
        )
    }

    fn stored(c: &Committed) -> (bool, i64, i64, &str) {
        match c {
            Committed::Stored(m) => (true, m.id, m.seq, m.body.as_str()),
            Committed::Duplicate(m) => (false, m.id, m.seq, m.body.as_str()),
        }
    }

    /// On a real SQLite file, through the writer thread: sequence numbers,
    /// resends (before and within a batch), batches larger than one
    /// statement, and read markers.
    #[tokio::test]
    async fn batches_number_store_and_deduplicate() {
        numbers_stores_and_deduplicates(false).await;
    }

    /// The same through sqlx (the statements PostgreSQL runs), on SQLite.
    #[tokio::test]
    async fn batches_number_store_and_deduplicate_through_sqlx() {
        numbers_stores_and_deduplicates(true).await;
    }

    async fn numbers_stores_and_deduplicates(via_sqlx: bool) {
        let commit = |store: Store, batch: Vec<NewMessage>| async move {
            let refs: Vec<&NewMessage> = batch.iter().collect();
            if via_sqlx {
                store.commit_batch_sqlx(&refs).await
            } else {
                assert!(store.sqlite_writer().is_some(), "SQLite has its writer");
                store.commit_batch(&refs).await
            }
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url).await.expect("open");
        let alice = store.create_user("alice", "x").await.unwrap().unwrap();
        let bob = store.create_user("bob", "x").await.unwrap().unwrap();
        // The lobby: a room with both in it and nothing in its log yet.
        let room = store.room_id("lobby").await.unwrap().unwrap();
        let dm = store.dm_conversation(alice.id, bob.id).await.unwrap();

        let first = vec![
            msg(room, Some(&alice), "a1", "one"),
            msg(room, Some(&bob), "b1", "two"),
            msg(room, Some(&alice), "a1", "one again"),
            msg(dm, Some(&alice), "a2", "psst"),
            msg(room, None, "", "from a guest"),
        ];
        let out = commit(store.clone(), first).await.unwrap();
        let out: Vec<_> = out.iter().map(stored).collect();
        assert_eq!(out.len(), 5);
        assert_eq!((out[0].0, out[0].2, out[0].3), (true, 1, "one"));
        assert_eq!((out[1].0, out[1].2, out[1].3), (true, 2, "two"));
        assert_eq!(out[2], (false, out[0].1, 1, "one"), "a repeat in the batch");
        assert_eq!((out[3].0, out[3].2), (true, 1), "the DM counts apart");
        assert_eq!((out[4].0, out[4].2), (true, 3));
        let two = out[1].1;

        // A resend of a stored message, and more than one statement's worth.
        let mut second = vec![msg(room, Some(&bob), "b1", "two?")];
        for i in 0..300 {
            second.push(msg(
                room,
                Some(&alice),
                &format!("bulk-{i}"),
                &format!("bulk {i}"),
            ));
        }
        let out = commit(store.clone(), second).await.unwrap();
        assert_eq!(
            stored(&out[0]),
            (false, two, 2, "two"),
            "the stored one answers"
        );
        let seqs: Vec<i64> = out[1..].iter().map(|c| stored(c).2).collect();
        assert_eq!(seqs, (4..304).collect::<Vec<_>>());

        let all = store.messages_after(room, 0, 1_000).await.unwrap();
        assert_eq!(all.len(), 303);
        assert!(all
            .windows(2)
            .all(|w| w[0].seq + 1 == w[1].seq && w[0].id < w[1].id));
        assert_eq!(all[302].body, "bulk 299");
        // Alice wrote up to seq 303: read; Bob's marker stayed at his own message.
        let read = |user| {
            let store = store.clone();
            async move {
                store
                    .membership(room, user)
                    .await
                    .unwrap()
                    .unwrap()
                    .read_seq
            }
        };
        assert_eq!(read(alice.id).await, 303);
        assert_eq!(read(bob.id).await, 2);
    }
}
