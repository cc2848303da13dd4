//! Who a message mentions, and what its author is notified of.

use app::protocol::{mentions, Conv, NotifyLevel, ServerFrame};

use super::{Handler, Outcome, Target};
use crate::authz::{self, RoomOp};
use crate::cluster::Event;
use crate::hub::Outbound;
use crate::relay::Route;
use crate::store::Mentions;

impl Handler {
    /// Who `body` mentions in `target`: members of the room it names (or
    /// the other person of a direct conversation), and everyone (`@room`)
    /// when the author may notify everyone there. Other `@names` stay text.
    pub(super) async fn mentions_in(&self, target: &Target, body: &str) -> Outcome<Mentions> {
        let names = mentions::mentioned(body);
        if names.is_empty() {
            return Ok(Mentions::default());
        }
        Ok(match &target.route {
            Route::Room { name } => {
                let people: Vec<String> = names
                    .iter()
                    .filter(|n| *n != mentions::ROOM)
                    .cloned()
                    .collect();
                let mut users = if people.is_empty() {
                    Vec::new()
                } else {
                    self.state
                        .store
                        .members_named(target.conv_id, &people)
                        .await?
                };
                users.sort_by_key(|(_, handle)| {
                    people.iter().position(|p| p.eq_ignore_ascii_case(handle))
                });
                let room = if names.iter().any(|n| n == mentions::ROOM) {
                    let (_, facts) = self.room_facts(name).await?;
                    authz::room(name, facts.as_ref(), RoomOp::MentionEveryone, None).is_ok()
                } else {
                    false
                };
                Mentions { users, room }
            }
            Route::Dm { receiver, .. } => {
                let named = names.iter().any(|n| n.eq_ignore_ascii_case(&receiver.name));
                Mentions {
                    users: if named {
                        vec![(receiver.id, receiver.name.clone())]
                    } else {
                        Vec::new()
                    },
                    room: false,
                }
            }
            Route::ToGuest { .. } | Route::FromGuest { .. } => Mentions::default(),
        })
    }

    /// Choose what this user is notified of in `conv`; every connection of
    /// theirs, on every node, hears it.
    pub(super) async fn notify(&mut self, conv: Conv, level: NotifyLevel) -> Outcome {
        let target = self.target(&conv, false).await?;
        self.state
            .store
            .set_notify(self.me.id, target.conv_id, level)
            .await?;
        let answer = ServerFrame::Notify {
            conv: target.wire,
            level,
        };
        self.to_all_my_connections(&answer);
        Ok(())
    }

    /// A frame for every connection of this user, here and on other nodes.
    pub(super) fn to_all_my_connections(&self, answer: &ServerFrame) {
        let text = app::protocol::encode(answer);
        let bytes = bytes::Bytes::from(text.clone());
        self.state
            .hub
            .send_user(self.me.id, &Outbound::Frame(bytes), None);
        self.state.hub.publish(Event::ToUser {
            user_id: self.me.id,
            frame: text,
        });
    }
}
