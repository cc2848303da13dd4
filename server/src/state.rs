//! Shared state every handler gets through `with_state`.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::hub::Hub;
use crate::relay::Relay;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub hub: Arc<Hub>,
    pub relay: Relay,
    pub config: Arc<Config>,
    pub leptos: LeptosOptions,
    /// Every WebSocket connection task, so shutdown can wait for them.
    pub connections: TaskTracker,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
