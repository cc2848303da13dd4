use leptos::prelude::*;

use crate::client::Connection;

/// The connection's state: a coloured dot and a word. Tests read the
/// `data-ready-state` attribute (the socket's `readyState` name).
#[component]
pub fn ConnectionStatus() -> impl IntoView {
    let ready_state = expect_context::<Connection>().ready_state();

    view! {
        <span
            class="status"
            data-testid="connection-status"
            data-ready-state=move || ready_state.get().as_str()
            role="status"
        >
            <span class="status-dot" aria-hidden="true"></span>
            {move || ready_state.get().label()}
        </span>
    }
}
