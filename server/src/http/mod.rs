//! The HTTP surface: API routes, WebSocket endpoints, and the Leptos app.

pub mod account;
pub mod admin;
pub mod error;
pub mod health;
pub mod legacy;
pub mod metrics;
pub mod poll;
pub mod serve;
pub mod session;
pub mod upgrade;
pub mod ws;

use axum::Router;
use leptos_axum::{generate_route_list, LeptosRoutes};

use crate::state::AppState;

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let leptos = state.leptos.clone();
    let routes = generate_route_list(app::App);
    let mut router = Router::new()
        .merge(session::router())
        .merge(account::router())
        .merge(admin::router())
        .merge(ws::router())
        .merge(poll::router())
        .merge(health::router())
        .merge(metrics::router());
    if state.config.seed_endpoints {
        router = router.merge(legacy::router());
    }
    router
        .leptos_routes(&state, routes, move || app::shell(leptos.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::page_guard,
        ))
        .with_state(state)
}
