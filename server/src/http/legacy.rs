//! The seed document's guest endpoints, served unchanged to its own pages.
//!
//! * `GET /ws`: group chat; every text frame is relayed verbatim to every
//!   other `/ws` client (nothing is stored, as in the seed).
//! * `GET /ws/{username}`: direct chat with `{"sender","receiver","data"}`
//!   frames. The receiver may be another guest or a signed-in user; messages
//!   to users are stored like any direct message.
//!
//! In cluster mode both reach every node: group frames and guest-to-guest
//! frames travel as cluster events ([`Event::Group`], [`Event::Guest`]),
//! and a guest's name is claimed cluster-wide (see `crate::cluster`).
//!
//! Guests carry no credentials, so these endpoints accept any `Origin`.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use serde::Deserialize;

use app::protocol::{encode, SeedFrame};

use super::error::Result;
use super::upgrade::{Upgraded, WebSocketUpgrade};
use crate::cluster::{Event, GuestClaim};
use crate::conn::SentPositions;
use crate::hub::{GuestRefusal, IpSlot, Mailbox, Outbound};
use crate::names;
use crate::relay::{Item, Party, Route, Submission};
use crate::state::AppState;
use crate::store::NewMessage;
use crate::ws::Message;

/// Close code for a refused guest name (policy violation).
const CLOSE_POLICY: u16 = 1008;
/// The sender name of the server's own notes to a guest.
const SERVER: &str = "server";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ws", get(group))
        .route("/ws/{username}", get(direct))
}

async fn group(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Result<Response> {
    let slot = super::ws::claim_ip(&state, peer)?;
    Ok(ws.on_upgrade(move |socket| {
        let tracker = state.connections.clone();
        tracker.track_future(run_group(socket, state, slot))
    }))
}

async fn run_group(socket: Upgraded, state: AppState, _slot: IpSlot) {
    let (mailbox, mut link) = state.link(socket);
    let id = state.hub.join_group(mailbox);
    link.go_live(SentPositions::default(), None);
    while let Some(message) = link.next().await {
        if let Message::Text(text) = message {
            state.hub.relay_group(text, id);
        }
    }
    state.hub.leave_group(id);
    Box::pin(link.finish()).await;
}

async fn direct(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(username): Path<String>,
    ws: WebSocketUpgrade,
) -> Result<Response> {
    let slot = super::ws::claim_ip(&state, peer)?;
    Ok(ws.on_upgrade(move |socket| {
        let tracker = state.connections.clone();
        tracker.track_future(run_direct(socket, state, username, slot))
    }))
}

/// The nickname a guest asked for (percent-decoded by the router), in
/// its clean form, or why it cannot be used. Any script is welcome; a
/// name that is, or looks like, a registered user's handle or display
/// name is not, so a guest cannot pass as someone.
async fn guest_name(state: &AppState, asked: &str) -> Result<String, &'static str> {
    let name = names::guest_name(asked).map_err(|why| why.guest_reason())?;
    if name.chars().count() > state.config.max_name_len {
        return Err("invalid name: too long for this server");
    }
    if names::confusable_key(&name) == names::confusable_key(SERVER) {
        return Err("invalid name: that name is the server's");
    }
    match state.store.name_in_use(&name).await {
        Ok(false) => Ok(name),
        Ok(true) => {
            Err("this name belongs to (or looks like) a registered user; choose another or sign in")
        }
        Err(error) => {
            tracing::error!(%error, "guest name check failed");
            Err("server error")
        }
    }
}

async fn run_direct(socket: Upgraded, state: AppState, asked: String, _slot: IpSlot) {
    let (mailbox, mut link) = state.link(socket);
    let name = match Box::pin(guest_name(&state, &asked)).await {
        Ok(name) => name,
        Err(reason) => {
            mailbox.close.close(CLOSE_POLICY, reason);
            return Box::pin(link.finish()).await;
        }
    };
    let id = match state.hub.register_guest(&name, mailbox.clone()) {
        Ok(id) => id,
        Err(GuestRefusal::AlreadyConnected) => {
            mailbox
                .close
                .close(CLOSE_POLICY, "this name is already connected");
            return Box::pin(link.finish()).await;
        }
    };
    // Cluster mode: the name must also be free on every other node.
    let cluster = state.hub.cluster().cloned();
    if let Some(cluster) = &cluster {
        match cluster.claim_guest(&name, id).await {
            GuestClaim::Claimed => {}
            GuestClaim::Taken => {
                state.hub.unregister_guest(&name, id);
                mailbox
                    .close
                    .close(CLOSE_POLICY, "this name is already connected");
                return Box::pin(link.finish()).await;
            }
            GuestClaim::Unchecked => {
                tracing::warn!(name, "guest name checked on this node only (Redis away)");
            }
        }
    }
    link.go_live(SentPositions::default(), None);
    let guest = Guest {
        state: &state,
        name: &name,
        mailbox: &mailbox,
    };
    while let Some(message) = link.next().await {
        match message {
            // Boxed: the handling's store queries take memory only while
            // they run.
            Message::Text(text) => link.alongside(Box::pin(guest.handle(&text))).await,
            Message::Binary => guest.note("send JSON text frames".to_string()),
        }
    }
    state.hub.unregister_guest(&name, id);
    // Before the close frame: a guest told it is gone may take its name
    // on another node at once.
    if let Some(cluster) = &cluster {
        cluster.release_guest(&name, id).await;
    }
    Box::pin(link.finish()).await;
}

/// What a guest sends; `sender` is read and ignored (the path name is used).
#[derive(Deserialize)]
struct SeedIncoming {
    receiver: String,
    data: serde_json::Value,
}

struct Guest<'a> {
    state: &'a AppState,
    name: &'a str,
    mailbox: &'a Mailbox,
}

impl Guest<'_> {
    fn note(&self, data: String) {
        let frame = SeedFrame {
            sender: SERVER.to_string(),
            receiver: self.name.to_string(),
            data,
        };
        self.mailbox.offer(Outbound::Frame(encode(&frame).into()));
    }

    /// Relay a seed frame to guest `to` on whichever other node it is on.
    fn to_guest_elsewhere(&self, to: String, frame: &Bytes) {
        let frame = String::from_utf8_lossy(frame).into_owned();
        self.state.hub.publish(Event::Guest { to, frame });
    }

    async fn handle(&self, text: &str) {
        let Ok(incoming) = serde_json::from_str::<SeedIncoming>(text) else {
            self.note(r#"malformed message: send JSON {"sender","receiver","data"}"#.to_string());
            return;
        };
        // The seed sends strings; anything else is passed on as its JSON text.
        let data = match incoming.data {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        let receiver = incoming.receiver;
        let relayed = SeedFrame {
            sender: self.name.to_string(),
            receiver: receiver.clone(),
            data: data.clone(),
        };
        let frame = Bytes::from(encode(&relayed));
        if self.state.hub.send_guest(&receiver, frame.clone()) {
            return;
        }
        // A guest on another node (cluster mode), as this node knows.
        if self.state.hub.is_guest_elsewhere(&receiver) {
            self.to_guest_elsewhere(receiver, &frame);
            return;
        }
        let user = match self.state.store.find_user(&receiver).await {
            Ok(user) => user,
            Err(error) => {
                tracing::error!(%error, "guest receiver look-up failed");
                self.note("server error: message not delivered".to_string());
                return;
            }
        };
        let Some((user, _)) = user else {
            // Cluster mode: a guest who connected to another node a moment
            // ago, of whom this node has not heard yet, holds its name's claim.
            if let Some(cluster) = self.state.hub.cluster() {
                if cluster.guest_elsewhere(&receiver).await {
                    self.to_guest_elsewhere(receiver, &frame);
                    return;
                }
            }
            self.note(format!(
                "{receiver} is not connected; message not delivered"
            ));
            return;
        };
        if data.is_empty() || data.len() > app::protocol::MAX_BODY_BYTES {
            self.note("message not delivered: it is empty or too long".to_string());
            return;
        }
        let conv_id = match self
            .state
            .store
            .guest_conversation(user.id, self.name)
            .await
        {
            Ok(id) => id,
            Err(error) => {
                tracing::error!(%error, "guest conversation failed");
                self.note("server error: message not delivered".to_string());
                return;
            }
        };
        let online = self.state.hub.is_user_online_anywhere(user.id, &user.name);
        let submission = Submission {
            item: Item::Message(NewMessage::new_with_index(
                conv_id,
                None,
                self.name.to_string(),
                None,
                data,
                None,
                self.state.config.search_index,
            )),
            route: Route::FromGuest {
                user: Party {
                    id: user.id,
                    name: user.name.clone(),
                },
                guest: self.name.to_string(),
            },
            origin: None,
            received: Instant::now(),
            done: None,
        };
        if !self.state.relay.submit(submission).await {
            self.note("the server is shutting down; message not delivered".to_string());
        } else if !online {
            self.note(format!(
                "{} is offline; they will get your message when they connect",
                user.name
            ));
        }
    }
}
