use leptos::{prelude::*, task::spawn_local};

use crate::client::{http, Connection};
use crate::components::{lobby::Lobby, sign_in::SignInForm, status::ConnectionStatus};
use crate::protocol::SessionInfo;

/// Who the page is for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Session {
    /// Asking the server (also what the server renders: it does not know
    /// yet, so the browser's first render matches it).
    Checking,
    SignedOut,
    SignedIn(String),
}

/// `/`: sign in, then the lobby.
#[component]
pub fn HomePage() -> impl IntoView {
    let hydrated = RwSignal::new(false);
    let session = RwSignal::new(Session::Checking);
    let problem = RwSignal::new(None::<String>);
    let conn = Connection::new();
    provide_context(conn);

    // Effects run only in the browser, once the page is hydrated.
    Effect::new(move |_| {
        hydrated.set(true);
        spawn_local(async move {
            let next = match http::current_session().await {
                Ok(Some(info)) => Session::SignedIn(info.username),
                Ok(None) => Session::SignedOut,
                Err(failure) => {
                    problem.try_set(Some(failure.message));
                    Session::SignedOut
                }
            };
            session.try_set(next);
        });
    });
    // The socket is open exactly while someone is signed in.
    Effect::new(move |_| {
        if matches!(session.get(), Session::SignedIn(_)) {
            conn.connect();
        } else {
            conn.disconnect();
        }
    });
    on_cleanup(move || conn.disconnect());

    let on_signed_in = Callback::new(move |info: SessionInfo| {
        problem.set(None);
        session.set(Session::SignedIn(info.username));
    });
    let signing_out = RwSignal::new(false);
    let sign_out = move |_| {
        signing_out.set(true);
        // Stop reconnecting first: the server closes our sockets as well.
        conn.disconnect();
        spawn_local(async move {
            let result = http::sign_out().await;
            signing_out.try_set(false);
            match result {
                Ok(()) => {
                    conn.reset();
                    session.try_set(Session::SignedOut);
                }
                Err(failure) => {
                    problem.try_set(Some(failure.message));
                    conn.connect();
                }
            }
        });
    };
    let username = move || match session.get() {
        Session::SignedIn(name) => Some(name),
        _ => None,
    };

    view! {
        <div class="app" data-hydrated=move || hydrated.get().then_some("true")>
            <header class="topbar">
                <a class="brand" href="/">
                    <img src="/favicon.svg" alt="" width="28" height="28"/>
                    <span>"Parley"</span>
                </a>
                {move || {
                    username()
                        .map(|name| {
                            view! {
                                <div class="who">
                                    <ConnectionStatus/>
                                    <span class="user" title="Signed in">{name}</span>
                                    <button
                                        type="button"
                                        class="quiet"
                                        on:click=sign_out
                                        disabled=move || signing_out.get()
                                    >
                                        "Sign out"
                                    </button>
                                </div>
                            }
                        })
                }}
            </header>
            <main class="page">
                <Show when=move || problem.with(Option::is_some)>
                    <p class="error banner" role="alert">
                        {move || problem.get().unwrap_or_default()}
                    </p>
                </Show>
                {move || match session.get() {
                    Session::Checking => {
                        view! { <p class="loading">"Loading…"</p> }.into_any()
                    }
                    Session::SignedOut => {
                        view! { <SignInForm ready=hydrated on_signed_in/> }.into_any()
                    }
                    Session::SignedIn(_) => view! { <Lobby/> }.into_any(),
                }}
            </main>
        </div>
    }
}
