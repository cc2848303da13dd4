//! Shared state every handler gets through `with_state`.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::hub::Hub;
use crate::limits::AttemptLimiter;
use crate::metrics::Metrics;
use crate::relay::Relay;
use crate::store::Store;

/// The server's shared state behind one `Arc`: axum clones the state for
/// every request (and each middleware layer again), so a clone must be one
/// reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    pub store: Store,
    pub hub: Arc<Hub>,
    pub relay: Relay,
    pub config: Arc<Config>,
    pub leptos: LeptosOptions,
    /// Every WebSocket connection task, so shutdown can wait for them.
    pub connections: TaskTracker,
    pub metrics: Arc<Metrics>,
    /// Sign-in attempts per name and per IP address.
    pub signins_by_name: Arc<AttemptLimiter>,
    pub signins_by_ip: Arc<AttemptLimiter>,
    /// Display-name changes per user (each is announced to every
    /// connection of every node).
    pub profile_changes: Arc<AttemptLimiter>,
    /// Long-polling tabs on this node.
    pub polls: Arc<crate::conn::poll::Polls>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
