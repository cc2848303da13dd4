//! `GET /metrics`: Prometheus text format (see docs/operations.md).

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::metrics::Gauges;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let (connections, guests, online_users) = state.hub.counts();
    let rooms = state.store.total_rooms().await.unwrap_or(-1);
    let gauges = Gauges {
        connections,
        guests,
        online_users,
        rooms,
        tasks: tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
    };
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(&gauges),
    )
}
