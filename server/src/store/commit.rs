//! Storing a batch of messages in one transaction with a handful of
//! statements, however many messages it holds: one look-up of resent
//! client ids, one sequence update per conversation, multi-row inserts, and
//! one read-marker update per sender and conversation.
//!
//! (One statement per message costs a round trip to the database each; on
//! SQLite that is a hop to sqlx's worker thread, which bounded the store at
//! about 17,000 messages a second.)

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;

use super::sql::{message_from_row, MESSAGE_COLUMNS};
use super::{now_ms, Committed, NewMessage, Result, Store, StoredMessage};

/// Rows per multi-row statement: 7 parameters each stays far below both
/// SQLite's and PostgreSQL's limit on parameters per statement.
const ROWS_PER_STATEMENT: usize = 128;

/// What to do with one message of the batch.
enum Plan {
    /// Already stored before this batch: answer with the stored one.
    Earlier(StoredMessage),
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

impl Store {
    /// Store a batch of messages in one transaction, in order. Each gets the
    /// next sequence number of its conversation; a resend of a client id that
    /// is already stored (or appears earlier in the batch) comes back as
    /// [`Committed::Duplicate`]. Nothing is visible to anyone before the commit.
    pub async fn commit_batch(&self, batch: &[&NewMessage]) -> Result<Vec<Committed>> {
        let mut tx = self.begin().await?;
        let now = now_ms();

        // Resends: stored before, or earlier in this batch.
        let stored_before = self.stored_client_ids(&mut tx, batch).await?;
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
                        Some(Plan::Earlier((*stored).clone()))
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

        // Reserve `count` sequence numbers per conversation, many
        // conversations a statement (`UPDATE … FROM (VALUES …)`; both
        // backends name a VALUES list's columns column1, column2, …).
        let per_conv: Vec<(i64, i64)> = per_conv.into_iter().collect();
        let mut next_seq: BTreeMap<i64, i64> = BTreeMap::new();
        for rows in per_conv.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE conversations SET last_seq = last_seq + v.column2 FROM (VALUES {}) AS v
                 WHERE conversations.id = v.column1
                 RETURNING conversations.id AS id, conversations.last_seq AS last_seq",
                tuples(rows.len(), 2)
            );
            let sql = self.q(&sql);
            let mut query = sqlx::query(&sql).persistent(rows.len() == ROWS_PER_STATEMENT);
            for (conv_id, count) in rows {
                query = query.bind(*conv_id).bind(*count);
            }
            for row in query.fetch_all(&mut *tx).await? {
                let (conv_id, last): (i64, i64) = (row.try_get("id")?, row.try_get("last_seq")?);
                let count = rows
                    .iter()
                    .find(|(c, _)| *c == conv_id)
                    .map_or(0, |(_, n)| *n);
                next_seq.insert(conv_id, last - count + 1);
            }
        }
        if let Some((conv_id, _)) = per_conv.iter().find(|(c, _)| !next_seq.contains_key(c)) {
            return Err(sqlx::Error::Protocol(format!("no conversation {conv_id}")).into());
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
        let fresh: Vec<(usize, i64)> = plans
            .iter()
            .enumerate()
            .filter_map(|(at, plan)| match plan {
                Plan::New { seq } => Some((at, *seq)),
                _ => None,
            })
            .collect();

        // Multi-row inserts; ids come back keyed by (conversation, seq).
        let mut ids: HashMap<(i64, i64), i64> = HashMap::with_capacity(fresh.len());
        for rows in fresh.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO messages (conv_id, seq, sender_id, sender_name, client_id, body, created_at)
                 VALUES {} RETURNING id, conv_id, seq",
                tuples(rows.len(), 7)
            );
            let sql = self.q(&sql);
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
                    .bind(now);
            }
            for row in query.fetch_all(&mut *tx).await? {
                ids.insert(
                    (row.try_get("conv_id")?, row.try_get("seq")?),
                    row.try_get("id")?,
                );
            }
        }

        // Writing a message means having read the conversation up to it.
        let mut read_up_to: BTreeMap<(i64, i64), i64> = BTreeMap::new();
        for (at, seq) in &fresh {
            if let Some(sender) = batch[*at].sender_id {
                let read = read_up_to.entry((batch[*at].conv_id, sender)).or_default();
                *read = (*read).max(*seq);
            }
        }
        let read_up_to: Vec<((i64, i64), i64)> = read_up_to.into_iter().collect();
        for rows in read_up_to.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE members SET read_seq = v.column3 FROM (VALUES {}) AS v
                 WHERE members.conv_id = v.column1 AND members.user_id = v.column2
                   AND members.read_seq < v.column3",
                tuples(rows.len(), 3)
            );
            let sql = self.q(&sql);
            let mut query = sqlx::query(&sql).persistent(rows.len() == ROWS_PER_STATEMENT);
            for ((conv_id, sender), seq) in rows {
                query = query.bind(*conv_id).bind(*sender).bind(*seq);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;

        let mut out: Vec<Committed> = Vec::with_capacity(batch.len());
        for (at, plan) in plans.into_iter().enumerate() {
            let committed = match plan {
                Plan::Earlier(stored) => Committed::Duplicate(stored),
                Plan::Repeat(first) => match &out[first] {
                    Committed::Stored(stored) | Committed::Duplicate(stored) => {
                        Committed::Duplicate(stored.clone())
                    }
                },
                Plan::New { seq } => {
                    let msg = batch[at];
                    let id = ids.get(&(msg.conv_id, seq)).copied().ok_or_else(|| {
                        sqlx::Error::Protocol(format!(
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
                    })
                }
            };
            out.push(committed);
        }
        Ok(out)
    }

    /// The messages of `batch`'s (sender, client id) pairs that are stored already.
    async fn stored_client_ids(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        batch: &[&NewMessage],
    ) -> Result<Vec<StoredMessage>> {
        let keys: Vec<(i64, &str)> = batch
            .iter()
            .filter_map(|m| Some((m.sender_id?, m.client_id.as_deref()?)))
            .collect();
        let mut found = Vec::new();
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE {}",
                vec!["(sender_id = ? AND client_id = ?)"; chunk.len()].join(" OR ")
            );
            let sql = self.q(&sql);
            let mut query = sqlx::query(&sql).persistent(chunk.len() == ROWS_PER_STATEMENT);
            for (sender, client_id) in chunk {
                query = query.bind(*sender).bind(*client_id);
            }
            for row in query.fetch_all(&mut **tx).await? {
                found.push(message_from_row(&row)?);
            }
        }
        Ok(found)
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
        NewMessage {
            conv_id,
            sender_id: sender.map(|u| u.id),
            sender_name: sender.map_or("guest".to_owned(), |u| u.name.clone()),
            client_id: (!client_id.is_empty()).then(|| client_id.to_owned()),
            body: body.to_owned(),
        }
    }

    fn stored(c: &Committed) -> (bool, i64, i64, &str) {
        match c {
            Committed::Stored(m) => (true, m.id, m.seq, m.body.as_str()),
            Committed::Duplicate(m) => (false, m.id, m.seq, m.body.as_str()),
        }
    }

    /// On a real SQLite file: sequence numbers, resends (before and within a
    /// batch), batches larger than one statement, and read markers.
    #[tokio::test]
    async fn batches_number_store_and_deduplicate() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url).await.expect("open");
        let alice = store.create_user("alice", "x").await.unwrap().unwrap();
        let bob = store.create_user("bob", "x").await.unwrap().unwrap();
        let room = store.create_room("r", alice.id).await.unwrap().unwrap();
        store.add_member(room, bob.id).await.unwrap();
        let dm = store.dm_conversation(alice.id, bob.id).await.unwrap();

        let first = [
            msg(room, Some(&alice), "a1", "one"),
            msg(room, Some(&bob), "b1", "two"),
            msg(room, Some(&alice), "a1", "one again"),
            msg(dm, Some(&alice), "a2", "psst"),
            msg(room, None, "", "from a guest"),
        ];
        let out = store
            .commit_batch(&first.iter().collect::<Vec<_>>())
            .await
            .unwrap();
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
        let out = store
            .commit_batch(&second.iter().collect::<Vec<_>>())
            .await
            .unwrap();
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
