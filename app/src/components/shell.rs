use leptos::{prelude::*, task::spawn_local};
use leptos_router::components::Outlet;

use crate::client::{http, now_ms, Connection};
use crate::components::{sidebar::Sidebar, sign_in::SignInForm, status::ConnectionStatus};
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

/// The clock the page shows relative times with, updated every second.
#[derive(Clone, Copy)]
pub struct Now(pub ReadSignal<i64>);

/// Whether the sidebar is shown on narrow screens.
#[derive(Clone, Copy)]
pub struct SidebarOpen(pub RwSignal<bool>);

/// Every page: the top bar, then sign-in or the sidebar and the
/// conversation the route names (the [`Outlet`]).
#[component]
pub fn Shell() -> impl IntoView {
    let hydrated = RwSignal::new(false);
    let session = RwSignal::new(Session::Checking);
    let problem = RwSignal::new(None::<String>);
    let conn = Connection::new();
    let now = RwSignal::new(now_ms());
    let sidebar_open = RwSignal::new(false);
    provide_context(conn);
    provide_context(Now(now.read_only()));
    provide_context(SidebarOpen(sidebar_open));

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
    #[cfg(feature = "hydrate")]
    {
        let ticker = StoredValue::new_local(None::<gloo_timers::callback::Interval>);
        Effect::new(move |_| {
            let interval = gloo_timers::callback::Interval::new(1_000, move || {
                let t = now_ms();
                now.try_set(t);
                conn.expire_typing(t);
            });
            ticker.set_value(Some(interval));
        });
        on_cleanup(move || {
            ticker.try_update_value(|t| t.take());
        });
    }
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
    let sign_out = move |_: ()| {
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
    let chat = conn.chat();
    let total_unread =
        Memo::new(move |_| chat.with(|c| c.threads().map(|(_, t)| t.unread).sum::<i64>()));

    view! {
        <div
            class="app"
            class:signed-in=move || username().is_some()
            data-hydrated=move || hydrated.get().then_some("true")
        >
            <a class="skip-link" href="#main">"Skip to conversation"</a>
            <TopBar username=Signal::derive(username) signing_out sign_out=Callback::new(sign_out) total_unread/>
            <Show when=move || problem.with(Option::is_some)>
                <p class="error banner" role="alert">
                    {move || problem.get().unwrap_or_default()}
                </p>
            </Show>
            {move || match session.get() {
                Session::Checking => {
                    view! {
                        <main class="page" id="main">
                            <p class="loading">"Loading…"</p>
                        </main>
                    }
                        .into_any()
                }
                Session::SignedOut => {
                    view! {
                        <main class="page" id="main">
                            <SignInForm ready=hydrated on_signed_in/>
                        </main>
                    }
                        .into_any()
                }
                Session::SignedIn(_) => {
                    view! {
                        <div class="workspace">
                            <Sidebar/>
                            <div
                                class="scrim"
                                class:shown=move || sidebar_open.get()
                                aria-hidden="true"
                                on:click=move |_| sidebar_open.set(false)
                            ></div>
                            <main class="pane" id="main" tabindex="-1">
                                <Outlet/>
                            </main>
                        </div>
                    }
                        .into_any()
                }
            }}
        </div>
    }
}

/// The first letter of a name, for its avatar.
pub fn initial(name: &str) -> String {
    name.chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default()
}

/// The bar along the top: menu button (narrow screens), brand, connection
/// status, who is signed in and the sign-out button.
#[component]
fn TopBar(
    username: Signal<Option<String>>,
    signing_out: RwSignal<bool>,
    sign_out: Callback<()>,
    total_unread: Memo<i64>,
) -> impl IntoView {
    let SidebarOpen(sidebar_open) = expect_context::<SidebarOpen>();
    view! {
            <header class="topbar">
                {move || {
                    username.get()
                        .map(|_| {
                            view! {
                                <button
                                    type="button"
                                    class="menu-button"
                                    aria-controls="sidebar"
                                    aria-expanded=move || {
                                        if sidebar_open.get() { "true" } else { "false" }
                                    }
                                    on:click=move |_| sidebar_open.update(|o| *o = !*o)
                                >
                                    <span class="menu-icon" aria-hidden="true"></span>
                                    <span class="visually-hidden">"Conversations"</span>
                                    <Show when=move || { total_unread.get() > 0 }>
                                        <span class="badge">
                                            {move || total_unread.get()}
                                            <span class="visually-hidden">" unread"</span>
                                        </span>
                                    </Show>
                                </button>
                            }
                        })
                }}
                <a class="brand" href="/">
                    <img src="/favicon.svg" alt="" width="28" height="28"/>
                    <span>"Parley"</span>
                </a>
                {move || {
                    username.get()
                        .map(|name| {
                            view! {
                                <div class="who">
                                    <ConnectionStatus/>
                                    <span class="user" title="Signed in as">
                                        <span class="avatar" aria-hidden="true">
                                            {initial(&name)}
                                        </span>
                                        <span class="user-name">{name}</span>
                                    </span>
                                    <button
                                        type="button"
                                        class="quiet"
                                        on:click=move |_| sign_out.run(())
                                        disabled=move || signing_out.get()
                                    >
                                        "Sign out"
                                    </button>
                                </div>
                            }
                        })
                }}
            </header>
    }
    .into_any()
}
