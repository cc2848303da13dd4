use leptos::prelude::*;

use crate::client::{Connection, ReadyState, Transport};
use crate::components::shell::Now;

/// The connection's state: a coloured dot and words. Tests read the
/// `data-ready-state` attribute (the socket's `readyState` name); people
/// read "Online", "Online · long-polling" (where WebSocket does not get
/// through), "Connecting…" or "Offline — retrying in 4 s".
#[component]
pub fn ConnectionStatus() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let Now(now) = expect_context::<Now>();
    let ready_state = conn.ready_state();
    let retry_at = conn.retry_at();
    let transport = conn.transport();
    let label = move || match ready_state.get() {
        ReadyState::Open if transport.get() == Transport::LongPolling => {
            "Online · long-polling".to_owned()
        }
        ReadyState::Open => "Online".to_owned(),
        ReadyState::Connecting => "Connecting…".to_owned(),
        state => match retry_at.get() {
            Some(at) => {
                let left = ((at - now.get() as f64) / 1000.0).ceil().max(1.0) as i64;
                format!("Offline — retrying in {left} s")
            }
            None => state.label().to_owned(),
        },
    };

    view! {
        <span
            class="status"
            data-testid="connection-status"
            data-ready-state=move || ready_state.get().as_str()
            data-transport=move || transport.get().as_str()
            role="status"
        >
            <span class="status-dot" aria-hidden="true"></span>
            <span class="status-text">{label}</span>
        </span>
    }
}
