use leptos::prelude::*;
use leptos_router::components::A;

/// Any path without a route. (The server's fallback handler answers such
/// paths with status 404.)
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <div class="app">
            <main class="page narrow">
                <section class="card">
                    <h1>"Page not found"</h1>
                    <p class="hint">"There is nothing at this address."</p>
                    <A href="/">"Back to Parley"</A>
                </section>
            </main>
        </div>
    }
}
