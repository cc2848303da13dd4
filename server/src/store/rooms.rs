//! Rooms' access: visibility, roles, invitations, bans, mutes, and the
//! system lines and moderation log their changes leave.
//!
//! An action (join, leave, invite, kick, ban, mute, a role, the topic, the
//! visibility) is decided ([`authz::room`]) and applied in one transaction,
//! from facts read in that transaction, and leaves a system line in the
//! room's log with the next `seq` (a `messages` row of kind 5 whose `body`
//! is the event as JSON). So two actions racing are decided in the order
//! they are stored, and an action is ordered, resumed, relayed and
//! idempotent by `client_id` exactly like a message. The lobby logs no
//! joins or leaves: everyone is in it.

use sqlx::Row as _;

use app::protocol::{
    EventKind, Invitation, LeftReason, ModEntry, Muted, Role, RoomAction, RoomEvent, Staff, LOBBY,
};

use super::exec::{Exec, Param, SqlxExec};
use super::{name_key, Result, Store, StoreError, StoredMessage};
use crate::authz::{self, Denial, RoomFacts, RoomOp, UserFacts};

/// `messages.kind` of a system line.
pub(super) const KIND_EVENT: i64 = 5;

pub(super) fn role_of(n: i64) -> Role {
    match n {
        2 => Role::Owner,
        1 => Role::Moderator,
        _ => Role::Member,
    }
}

fn role_number(role: Role) -> i64 {
    match role {
        Role::Member => 0,
        Role::Moderator => 1,
        Role::Owner => 2,
    }
}

/// What is done to a room: a staff action from the wire, or joining,
/// leaving, declining.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Join,
    Leave,
    Staff(RoomAction),
}

/// An action to decide, apply and log.
#[derive(Debug, Clone)]
pub struct NewAction {
    /// The room's name as asked for.
    pub room: String,
    pub actor_id: i64,
    pub actor_name: String,
    pub admin: bool,
    pub client_id: Option<String>,
    pub action: Action,
}

/// What an applied action means for live connections, on every node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Effect {
    /// Nothing beyond the system line.
    None,
    /// `user_id` joined: follow the room.
    Joined { user_id: i64 },
    /// `user_id` is out (left, kicked, banned): stop following the room.
    Removed {
        user_id: i64,
        reason: Option<LeftReason>,
        by: Option<String>,
    },
    Invited {
        user_id: i64,
        invitation: Invitation,
    },
    /// `until`: `None` when unmuted.
    Muted { user_id: i64, until: Option<i64> },
}

/// An applied action.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppliedAction {
    pub conv_id: i64,
    /// The room's name.
    pub room: String,
    /// The system line (none for the lobby's joins and leaves).
    pub line: Option<StoredMessage>,
    pub effect: Effect,
    /// Members after the action.
    pub members: u32,
    /// Who it was about (the actor for join and leave).
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    Applied(Box<AppliedAction>),
    /// It is already so (joining a room one is in): nothing stored.
    Unchanged {
        conv_id: i64,
        room: String,
    },
    /// This `client_id` was stored before.
    Duplicate {
        id: i64,
        conv_id: i64,
        room: String,
        seq: i64,
        ts: i64,
    },
    Refused(Denial),
}

/// A room as the directory lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRow {
    pub name: String,
    pub title: String,
    pub topic: String,
    pub members: u32,
    pub joined: bool,
}

/// A room as an action reads it: its id, topic and title, and what the
/// room decision needs ([`RoomFacts`]).
pub(super) struct RoomRead {
    pub conv_id: i64,
    pub topic: String,
    pub title: String,
    pub facts: RoomFacts,
}

/// What the room decision needs, read for `user_id` and room `name`;
/// `None` when no room has that name.
pub(super) async fn read_room<E: Exec>(
    exec: &mut E,
    name: &str,
    user_id: i64,
    admin: bool,
    now: i64,
) -> Result<Option<RoomRead>> {
    let key = format!("room:{}", name_key(name));
    let row = exec
        .fetch_optional(
            "SELECT c.id, c.room_name, c.private, c.topic, m.role, a.invited_by, a.banned,
                    a.muted_until, (SELECT count(*) FROM members n WHERE n.conv_id = c.id),
                    c.archived_at, c.title
               FROM conversations c
               LEFT JOIN members m ON m.conv_id = c.id AND m.user_id = ?
               LEFT JOIN room_access a ON a.conv_id = c.id AND a.user_id = ?
              WHERE c.conv_key = ?",
            &[Param::Int(user_id), Param::Int(user_id), Param::Text(&key)],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let facts = RoomFacts {
        name: row.text(1)?,
        private: row.int(2)? != 0,
        role: row.opt_int(4)?.map(role_of),
        invited: row.opt_text(5)?.is_some(),
        banned: row.opt_int(6)?.unwrap_or(0) != 0,
        muted: row.opt_int(7)?.is_some_and(|until| until > now),
        admin,
        members: row.int(8)? as u32,
        archived: row.opt_int(9)?.is_some(),
    };
    Ok(Some(RoomRead {
        conv_id: row.int(0)?,
        topic: row.text(3)?,
        title: row.text(10)?,
        facts,
    }))
}

/// The user `name` as an action in room `conv_id` sees them: id, name and
/// [`UserFacts`]; `None` when nobody has that name.
async fn read_user<E: Exec>(
    exec: &mut E,
    conv_id: i64,
    name: &str,
    actor_id: i64,
    now: i64,
) -> Result<Option<(i64, String, UserFacts)>> {
    let key = name_key(name);
    let row = exec
        .fetch_optional(
            "SELECT u.id, u.name, m.role, a.invited_by, a.banned, a.muted_until
               FROM users u
               LEFT JOIN members m ON m.conv_id = ? AND m.user_id = u.id
               LEFT JOIN room_access a ON a.conv_id = ? AND a.user_id = u.id
              WHERE u.name_key = ?",
            &[Param::Int(conv_id), Param::Int(conv_id), Param::Text(&key)],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let id = row.int(0)?;
    Ok(Some((
        id,
        row.text(1)?,
        UserFacts {
            is_self: id == actor_id,
            role: row.opt_int(2)?.map(role_of),
            invited: row.opt_text(3)?.is_some(),
            banned: row.opt_int(4)?.unwrap_or(0) != 0,
            muted: row.opt_int(5)?.is_some_and(|until| until > now),
        },
    )))
}

/// The user a staff action names, if it names one.
fn named_user(action: &RoomAction) -> Option<&str> {
    match action {
        RoomAction::Invite { user }
        | RoomAction::Kick { user }
        | RoomAction::Ban { user }
        | RoomAction::Unban { user }
        | RoomAction::Mute { user, .. }
        | RoomAction::Unmute { user }
        | RoomAction::SetRole { user, .. } => Some(user),
        RoomAction::Decline {}
        | RoomAction::SetTopic { .. }
        | RoomAction::SetTitle { .. }
        | RoomAction::SetVisibility { .. } => None,
    }
}

pub fn room_op(action: &Action) -> RoomOp {
    match action {
        Action::Join => RoomOp::Join,
        Action::Leave => RoomOp::Leave,
        Action::Staff(a) => match a {
            RoomAction::Invite { .. } => RoomOp::Invite,
            RoomAction::Decline {} => RoomOp::Decline,
            RoomAction::Kick { .. } => RoomOp::Kick,
            RoomAction::Ban { .. } => RoomOp::Ban,
            RoomAction::Unban { .. } => RoomOp::Unban,
            RoomAction::Mute { .. } => RoomOp::Mute,
            RoomAction::Unmute { .. } => RoomOp::Unmute,
            RoomAction::SetRole { role, .. } => RoomOp::SetRole(*role),
            RoomAction::SetTopic { .. } | RoomAction::SetTitle { .. } => RoomOp::SetTopic,
            RoomAction::SetVisibility { .. } => RoomOp::SetVisibility,
        },
    }
}

fn refused(code: app::protocol::ErrorCode, message: &str) -> ActionOutcome {
    ActionOutcome::Refused(Denial {
        code,
        message: message.to_string(),
    })
}

/// Decide, apply and log actions in one transaction, in order. Written
/// once for sqlx and for SQLite's writer thread.
pub(super) async fn commit_actions_on<E: Exec>(
    exec: &mut E,
    batch: &[&NewAction],
    now: i64,
) -> Result<Vec<ActionOutcome>> {
    let mut out = Vec::with_capacity(batch.len());
    for action in batch {
        out.push(commit_one(exec, action, now).await?);
    }
    Ok(out)
}

async fn commit_one<E: Exec>(exec: &mut E, a: &NewAction, now: i64) -> Result<ActionOutcome> {
    if let Some(client_id) = &a.client_id {
        let earlier = exec
            .fetch_optional(
                "SELECT m.id, m.conv_id, m.seq, m.created_at, c.room_name
                   FROM messages m JOIN conversations c ON c.id = m.conv_id
                  WHERE m.sender_id = ? AND m.client_id = ?",
                &[Param::Int(a.actor_id), Param::Text(client_id)],
            )
            .await?;
        if let Some(row) = earlier {
            return Ok(ActionOutcome::Duplicate {
                id: row.int(0)?,
                conv_id: row.int(1)?,
                seq: row.int(2)?,
                ts: row.int(3)?,
                room: row.opt_text(4)?.unwrap_or_default(),
            });
        }
    }
    let found = read_room(exec, &a.room, a.actor_id, a.admin, now).await?;
    let Some(RoomRead {
        conv_id,
        topic,
        title,
        facts,
    }) = found
    else {
        let denial = authz::room(&a.room, None, room_op(&a.action), None);
        return Ok(ActionOutcome::Refused(
            denial.err().unwrap_or_else(|| authz::no_such_room(&a.room)),
        ));
    };
    let room = facts.name.clone();
    let op = room_op(&a.action);
    let target = match &a.action {
        Action::Staff(staff) => match named_user(staff) {
            Some(name) => read_user(exec, conv_id, name, a.actor_id, now).await?,
            None => None,
        },
        _ => None,
    };
    let names_user = matches!(&a.action, Action::Staff(s) if named_user(s).is_some());
    let target_facts = target.as_ref().map(|(_, _, f)| f);
    let decided = if names_user {
        authz::room(&a.room, Some(&facts), op, target_facts)
    } else {
        authz::room(&a.room, Some(&facts), op, None)
    };
    if let Err(denial) = decided {
        return Ok(ActionOutcome::Refused(denial));
    }
    if a.action == Action::Join && facts.role.is_some() {
        return Ok(ActionOutcome::Unchanged { conv_id, room });
    }
    let (c, me) = (Param::Int(conv_id), Param::Int(a.actor_id));
    let (target_id, target_name) = match &target {
        Some((id, name, _)) => (*id, name.clone()),
        None => (a.actor_id, a.actor_name.clone()),
    };
    let t = Param::Int(target_id);
    let by = Some(a.actor_name.clone());
    let mut event = RoomEvent {
        by: by.clone(),
        user: Some(target_name.clone()),
        ..RoomEvent::default()
    };
    let mut effect = Effect::None;
    let mut staff = true;
    match &a.action {
        Action::Join => {
            staff = false;
            exec.execute(
                "INSERT INTO members (conv_id, user_id, read_seq, joined_at, role)
                 SELECT id, ?, last_seq + 1, ?, 0 FROM conversations WHERE id = ?",
                &[me, Param::Int(now), c],
            )
            .await?;
            clear_invitation(exec, conv_id, a.actor_id).await?;
            event = RoomEvent {
                user: Some(a.actor_name.clone()),
                ..RoomEvent::new(EventKind::Joined)
            };
            effect = Effect::Joined {
                user_id: a.actor_id,
            };
        }
        Action::Leave => {
            staff = false;
            remove_member(exec, conv_id, a.actor_id).await?;
            event = RoomEvent {
                user: Some(a.actor_name.clone()),
                ..RoomEvent::new(EventKind::Left)
            };
            effect = Effect::Removed {
                user_id: a.actor_id,
                reason: None,
                by: None,
            };
        }
        Action::Staff(RoomAction::Decline {}) => {
            staff = false;
            clear_invitation(exec, conv_id, a.actor_id).await?;
            event = RoomEvent {
                user: Some(a.actor_name.clone()),
                ..RoomEvent::new(EventKind::Declined)
            };
        }
        Action::Staff(RoomAction::Invite { .. }) => {
            exec.execute(
                "INSERT INTO room_access (conv_id, user_id, invited_by) VALUES (?, ?, ?)
                 ON CONFLICT (conv_id, user_id) DO UPDATE SET invited_by = excluded.invited_by",
                &[c, t, Param::Text(&a.actor_name)],
            )
            .await?;
            event.kind = Some(EventKind::Invited);
            effect = Effect::Invited {
                user_id: target_id,
                invitation: Invitation {
                    room: room.clone(),
                    title: if title == room {
                        String::new()
                    } else {
                        title.clone()
                    },
                    by: a.actor_name.clone(),
                    topic: topic.clone(),
                    private: facts.private,
                },
            };
        }
        Action::Staff(RoomAction::Kick { .. }) => {
            remove_member(exec, conv_id, target_id).await?;
            event.kind = Some(EventKind::Kicked);
            effect = Effect::Removed {
                user_id: target_id,
                reason: Some(LeftReason::Kicked),
                by,
            };
        }
        Action::Staff(RoomAction::Ban { .. }) => {
            remove_member(exec, conv_id, target_id).await?;
            exec.execute(
                "INSERT INTO room_access (conv_id, user_id, banned) VALUES (?, ?, 1)
                 ON CONFLICT (conv_id, user_id) DO UPDATE SET banned = 1, invited_by = NULL",
                &[c, t],
            )
            .await?;
            event.kind = Some(EventKind::Banned);
            effect = Effect::Removed {
                user_id: target_id,
                reason: Some(LeftReason::Banned),
                by,
            };
        }
        Action::Staff(RoomAction::Unban { .. }) => {
            exec.execute(
                "UPDATE room_access SET banned = 0 WHERE conv_id = ? AND user_id = ?",
                &[c, t],
            )
            .await?;
            event.kind = Some(EventKind::Unbanned);
        }
        Action::Staff(RoomAction::Mute { minutes, .. }) => {
            let until = now + i64::from(*minutes) * 60_000;
            exec.execute(
                "INSERT INTO room_access (conv_id, user_id, muted_until) VALUES (?, ?, ?)
                 ON CONFLICT (conv_id, user_id) DO UPDATE SET muted_until = excluded.muted_until",
                &[c, t, Param::Int(until)],
            )
            .await?;
            event.kind = Some(EventKind::Muted);
            event.until = Some(until);
            event.minutes = Some(*minutes);
            effect = Effect::Muted {
                user_id: target_id,
                until: Some(until),
            };
        }
        Action::Staff(RoomAction::Unmute { .. }) => {
            exec.execute(
                "UPDATE room_access SET muted_until = NULL WHERE conv_id = ? AND user_id = ?",
                &[c, t],
            )
            .await?;
            event.kind = Some(EventKind::Unmuted);
            effect = Effect::Muted {
                user_id: target_id,
                until: None,
            };
        }
        Action::Staff(RoomAction::SetRole { role, .. }) => {
            if *role == Role::Owner {
                // One owner: whoever owned the room moderates it now.
                exec.execute(
                    "UPDATE members SET role = 1 WHERE conv_id = ? AND role = 2",
                    &[c],
                )
                .await?;
            }
            exec.execute(
                "UPDATE members SET role = ? WHERE conv_id = ? AND user_id = ?",
                &[Param::Int(role_number(*role)), c, t],
            )
            .await?;
            event.kind = Some(EventKind::Role);
            event.role = Some(*role);
        }
        Action::Staff(RoomAction::SetTopic { topic: new }) => {
            if *new == topic {
                return Ok(refused(
                    app::protocol::ErrorCode::NoChange,
                    "that is the topic already",
                ));
            }
            exec.execute(
                "UPDATE conversations SET topic = ? WHERE id = ?",
                &[Param::Text(new), c],
            )
            .await?;
            event = RoomEvent {
                by,
                topic: Some(new.clone()),
                ..RoomEvent::new(EventKind::Topic)
            };
        }
        Action::Staff(RoomAction::SetTitle { title: new }) => {
            // An empty title means the room's name again.
            let new = if new.is_empty() { &room } else { new };
            if *new == title {
                return Ok(refused(
                    app::protocol::ErrorCode::NoChange,
                    "that is the title already",
                ));
            }
            exec.execute(
                "UPDATE conversations SET title = ? WHERE id = ?",
                &[Param::Text(new), c],
            )
            .await?;
            event = RoomEvent {
                by,
                title: Some(if *new == room {
                    String::new()
                } else {
                    new.clone()
                }),
                ..RoomEvent::new(EventKind::Title)
            };
        }
        Action::Staff(RoomAction::SetVisibility { private }) => {
            if *private == facts.private {
                return Ok(refused(
                    app::protocol::ErrorCode::NoChange,
                    if *private {
                        "the room is private already"
                    } else {
                        "the room is public already"
                    },
                ));
            }
            exec.execute(
                "UPDATE conversations SET private = ? WHERE id = ?",
                &[Param::Int(i64::from(*private)), c],
            )
            .await?;
            event = RoomEvent {
                by,
                private: Some(*private),
                ..RoomEvent::new(EventKind::Visibility)
            };
        }
    }
    let line = if !staff && room == LOBBY {
        None
    } else {
        Some(append_line(exec, conv_id, a, &event, now).await?)
    };
    if staff {
        log_moderation(exec, conv_id, &event, now).await?;
    }
    let members = exec
        .fetch_optional(
            "SELECT count(*) FROM members WHERE conv_id = ?",
            &[Param::Int(conv_id)],
        )
        .await?
        .ok_or_else(|| StoreError::Inconsistent("counting members gave no row".into()))?
        .int(0)? as u32;
    Ok(ActionOutcome::Applied(Box::new(AppliedAction {
        conv_id,
        room,
        line,
        effect,
        members,
        user: target_name,
    })))
}

async fn remove_member<E: Exec>(exec: &mut E, conv_id: i64, user_id: i64) -> Result<()> {
    exec.execute(
        "DELETE FROM members WHERE conv_id = ? AND user_id = ?",
        &[Param::Int(conv_id), Param::Int(user_id)],
    )
    .await?;
    clear_invitation(exec, conv_id, user_id).await
}

/// The user's invitation to the room, if any, is spent.
async fn clear_invitation<E: Exec>(exec: &mut E, conv_id: i64, user_id: i64) -> Result<()> {
    exec.execute(
        "UPDATE room_access SET invited_by = NULL WHERE conv_id = ? AND user_id = ?",
        &[Param::Int(conv_id), Param::Int(user_id)],
    )
    .await?;
    Ok(())
}

fn event_json(event: &RoomEvent) -> String {
    serde_json::to_string(event).unwrap_or_else(|_| String::from("{}"))
}

/// Store the system line of `event` with the next seq of the room.
async fn append_line<E: Exec>(
    exec: &mut E,
    conv_id: i64,
    a: &NewAction,
    event: &RoomEvent,
    now: i64,
) -> Result<StoredMessage> {
    let seq = exec
        .fetch_optional(
            "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq",
            &[Param::Int(conv_id)],
        )
        .await?
        .ok_or_else(|| StoreError::Inconsistent(format!("no conversation {conv_id}")))?
        .int(0)?;
    let json = event_json(event);
    let client_id = match &a.client_id {
        Some(id) => Param::Text(id),
        None => Param::NullText,
    };
    let id = exec
        .fetch_optional(
            "INSERT INTO messages
               (conv_id, seq, sender_id, sender_name, client_id, body, created_at, kind)
             VALUES (?, ?, ?, ?, ?, ?, ?, 5) RETURNING id",
            &[
                Param::Int(conv_id),
                Param::Int(seq),
                Param::Int(a.actor_id),
                Param::Text(&a.actor_name),
                client_id,
                Param::Text(&json),
                Param::Int(now),
            ],
        )
        .await?
        .ok_or_else(|| StoreError::Inconsistent("the line's insert returned no id".into()))?
        .int(0)?;
    Ok(system_line(
        id,
        conv_id,
        seq,
        a.actor_id,
        &a.actor_name,
        a.client_id.clone(),
        event.clone(),
        now,
    ))
}

/// A system line as a stored message: its text is the event's sentence.
#[allow(clippy::too_many_arguments)]
pub(super) fn system_line(
    id: i64,
    conv_id: i64,
    seq: i64,
    actor_id: i64,
    actor_name: &str,
    client_id: Option<String>,
    event: RoomEvent,
    ts: i64,
) -> StoredMessage {
    StoredMessage {
        id,
        conv_id,
        seq,
        sender_id: Some(actor_id),
        sender_name: actor_name.to_string(),
        client_id,
        body: event.sentence(),
        ts,
        state: super::MessageState {
            event: Some(Box::new(event)),
            ..super::MessageState::default()
        },
    }
}

/// The event a stored line's JSON holds.
pub(super) fn parse_event(json: &str) -> RoomEvent {
    serde_json::from_str(json).unwrap_or_default()
}

/// Record a staff action in the moderation log.
pub(super) async fn log_moderation<E: Exec>(
    exec: &mut E,
    conv_id: i64,
    event: &RoomEvent,
    now: i64,
) -> Result<()> {
    let kind = event.kind.map(|k| k.as_str()).unwrap_or("unknown");
    exec.execute(
        "INSERT INTO moderation_log (conv_id, room_name, kind, event, created_at)
         SELECT id, COALESCE(room_name, ''), ?, ?, ? FROM conversations WHERE id = ?",
        &[
            Param::Text(kind),
            Param::Text(&event_json(event)),
            Param::Int(now),
            Param::Int(conv_id),
        ],
    )
    .await?;
    Ok(())
}

impl Store {
    /// The facts of room `name` for the room decision (`None`: no such room).
    pub async fn room_facts(
        &self,
        name: &str,
        user_id: i64,
        admin: bool,
    ) -> Result<Option<(i64, RoomFacts)>> {
        let mut conn = self.pool.acquire().await?;
        let mut exec = SqlxExec {
            conn: &mut conn,
            backend: self.backend(),
        };
        let found = read_room(&mut exec, name, user_id, admin, super::now_ms()).await?;
        Ok(found.map(|r| (r.conv_id, r.facts)))
    }

    /// Decide, apply and log room actions in one transaction (on SQLite's
    /// writer thread when there is one).
    pub async fn commit_actions(&self, batch: &[&NewAction]) -> Result<Vec<ActionOutcome>> {
        if let (super::Backend::Sqlite, Some(writer)) = (self.backend(), self.sqlite_writer()) {
            return writer.actions(batch).await;
        }
        let mut tx = self.begin().await?;
        let mut exec = SqlxExec {
            conn: &mut tx,
            backend: self.backend(),
        };
        let out = commit_actions_on(&mut exec, batch, super::now_ms()).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Public rooms whose name or topic holds `query` (any case), by name,
    /// after `after`, at most `limit`; with whether `user_id` is in each.
    pub async fn directory(
        &self,
        user_id: i64,
        query: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<DirectoryRow>> {
        let pattern = super::accounts::contains_pattern(query);
        let rows = sqlx::query(&self.q("SELECT c.id, c.room_name, c.topic, c.title,
                    (SELECT count(*) FROM members m WHERE m.conv_id = c.id) AS members,
                    CAST(CASE WHEN EXISTS (SELECT 1 FROM members m
                                            WHERE m.conv_id = c.id AND m.user_id = ?)
                         THEN 1 ELSE 0 END AS BIGINT) AS joined
               FROM conversations c
              WHERE c.kind = 'room' AND c.private = 0 AND c.room_name > ?
                AND (c.room_name LIKE ? ESCAPE '\\' OR lower(c.topic) LIKE ? ESCAPE '\\'
                     OR lower(c.title) LIKE ? ESCAPE '\\')
              ORDER BY c.room_name LIMIT ?"))
        .bind(user_id)
        .bind(after)
        .bind(&pattern)
        .bind(&pattern)
        .bind(&pattern)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DirectoryRow {
                    name: r.try_get("room_name")?,
                    title: r.try_get("title")?,
                    topic: r.try_get("topic")?,
                    members: r.try_get::<i64, _>("members")? as u32,
                    joined: r.try_get::<i64, _>("joined")? != 0,
                })
            })
            .collect()
    }

    /// The owner and moderators of a room, by role then name.
    pub async fn staff(&self, conv_id: i64) -> Result<Vec<Staff>> {
        let rows = sqlx::query(&self.q(
            "SELECT u.name, m.role FROM members m JOIN users u ON u.id = m.user_id
              WHERE m.conv_id = ? AND m.role > 0 ORDER BY m.role DESC, u.name_key",
        ))
        .bind(conv_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Staff {
                    user: r.try_get("name")?,
                    role: role_of(r.try_get("role")?),
                })
            })
            .collect()
    }

    /// Members of a room who are muted now.
    pub async fn muted(&self, conv_id: i64, now: i64) -> Result<Vec<Muted>> {
        let rows = sqlx::query(&self.q("SELECT u.name, a.muted_until FROM room_access a
               JOIN members m ON m.conv_id = a.conv_id AND m.user_id = a.user_id
               JOIN users u ON u.id = a.user_id
              WHERE a.conv_id = ? AND a.muted_until > ? ORDER BY u.name_key"))
        .bind(conv_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Muted {
                    user: r.try_get("name")?,
                    until: r.try_get("muted_until")?,
                })
            })
            .collect()
    }

    /// Every mute still running: (room, user, until).
    pub async fn active_mutes(&self, now: i64) -> Result<Vec<(i64, i64, i64)>> {
        let rows = sqlx::query(
            &self.q("SELECT conv_id, user_id, muted_until FROM room_access WHERE muted_until > ?"),
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("conv_id")?,
                    r.try_get("user_id")?,
                    r.try_get("muted_until")?,
                ))
            })
            .collect()
    }

    /// The invitations `user_id` has not answered.
    pub async fn invitations(&self, user_id: i64) -> Result<Vec<Invitation>> {
        let rows = sqlx::query(&self.q(
            "SELECT c.room_name, c.title, c.topic, c.private, a.invited_by FROM room_access a
               JOIN conversations c ON c.id = a.conv_id
              WHERE a.user_id = ? AND a.invited_by IS NOT NULL ORDER BY c.room_name",
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let room: String = r.try_get("room_name")?;
                let title: String = r.try_get("title")?;
                Ok(Invitation {
                    title: if title == room { String::new() } else { title },
                    room,
                    by: r.try_get("invited_by")?,
                    topic: r.try_get("topic")?,
                    private: r.try_get::<i64, _>("private")? != 0,
                })
            })
            .collect()
    }

    /// A room's moderation log, newest first.
    pub async fn moderation_log(&self, conv_id: i64, limit: u32) -> Result<Vec<ModEntry>> {
        let rows = sqlx::query(
            &self.q("SELECT id, room_name, event, created_at FROM moderation_log
              WHERE conv_id = ? ORDER BY id DESC LIMIT ?"),
        )
        .bind(conv_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(mod_entry).collect()
    }
}

/// A `moderation_log` row (`id, room_name, event, created_at`) as sent.
pub(super) fn mod_entry(row: &sqlx::any::AnyRow) -> Result<ModEntry> {
    let event = parse_event(&row.try_get::<String, _>("event")?);
    Ok(ModEntry {
        id: row.try_get("id")?,
        ts: row.try_get("created_at")?,
        room: row.try_get("room_name")?,
        text: event.sentence(),
        event,
    })
}
