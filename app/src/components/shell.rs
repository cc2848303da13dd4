use leptos::{prelude::*, task::spawn_local};
use leptos_router::components::Outlet;

use crate::client::{chat::Outgoing, http, now_ms, saved_outbox, Connection};
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

/// Whether the signed-in user is one of the server's admins.
#[derive(Clone, Copy)]
pub struct IsAdmin(pub RwSignal<bool>);

/// Why the signed-in user must choose a new password, while they must.
#[derive(Clone, Copy)]
pub struct PasswordNotice(pub RwSignal<Option<String>>);

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
    let is_admin = RwSignal::new(false);
    provide_context(IsAdmin(is_admin));
    let notice = RwSignal::new(None::<String>);
    provide_context(PasswordNotice(notice));

    // Effects run only in the browser, once the page is hydrated.
    Effect::new(move |_| {
        hydrated.set(true);
        spawn_local(async move {
            let next = match http::current_session().await {
                Ok(Some(info)) => {
                    is_admin.try_set(info.admin);
                    notice.try_set(info.password_notice);
                    Session::SignedIn(info.username)
                }
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
        // A conversation counts as read only while the page is visible.
        Effect::new(move |_| conn.set_hidden(document().hidden()));
        let visibility = window_event_listener(leptos::ev::visibilitychange, move |_| {
            conn.set_hidden(document().hidden());
        });
        on_cleanup(move || visibility.remove());
    }
    // The socket is open exactly while someone is signed in, with what
    // this tab had not sent before a reload back in the outbox.
    Effect::new(move |_| {
        if let Session::SignedIn(name) = session.get() {
            conn.restore_outbox(&name);
            conn.connect();
        } else {
            conn.disconnect();
        }
    });
    // Every change to the outbox is kept for the next page of this tab.
    // The first run for a user saves nothing: the effect above restores
    // the saved outbox rather than this one overwriting it.
    let chat = conn.chat();
    Effect::new(move |prev: Option<Option<(String, Vec<Outgoing>)>>| {
        let Session::SignedIn(user) = session.get() else {
            return None;
        };
        let outbox = chat.with(|c| c.outbox().to_vec());
        if let Some(Some((was_user, was))) = prev {
            if was_user == user && was != outbox {
                saved_outbox::save(&user, &outbox);
            }
        }
        Some((user, outbox))
    });
    on_cleanup(move || conn.disconnect());
    // A clicked notification opens its message.
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some((conv, seq)) = conn.opening.get() {
            conn.opening.set(None);
            navigate(
                &crate::components::sidebar::href_of(&conv),
                leptos_router::NavigateOptions::default(),
            );
            conn.jump(&conv, seq);
        }
    });

    let on_signed_in = Callback::new(move |info: SessionInfo| {
        problem.set(None);
        is_admin.set(info.admin);
        notice.set(info.password_notice);
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
    let total_unread = Memo::new(move |_| chat.with(|c| c.total_unread()));

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
                                on:click=move |_| {
                                    sidebar_open.set(false);
                                    focus_first(&[MENU_SELECTOR]);
                                }
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

/// The `id` of the button that shows the sidebar on narrow screens.
pub const MENU_BUTTON_ID: &str = "menu-button";
/// [`MENU_BUTTON_ID`] as a selector.
pub const MENU_SELECTOR: &str = "#menu-button";

/// Move the keyboard focus to the first element that matches a selector,
/// trying the selectors in order; nothing happens when none matches.
pub fn focus_first(selectors: &[&str]) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let found = selectors
            .iter()
            .find_map(|selector| document().query_selector(selector).ok().flatten());
        if let Some(el) = found.and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok()) {
            let _ = el.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = selectors;
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
    let account = RwSignal::new(false);
    let close_account = Callback::new(move |()| account.set(false));
    let searching = RwSignal::new(false);
    let close_search = Callback::new(move |()| searching.set(false));
    // Ctrl+K (⌘K), or `/` outside a text field, opens the search.
    #[cfg(feature = "hydrate")]
    {
        let keys = window_event_listener(leptos::ev::keydown, move |ev| {
            let typing = document().active_element().is_some_and(|el| {
                matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                    || el.get_attribute("contenteditable").is_some()
            });
            let chord = (ev.ctrl_key() || ev.meta_key()) && ev.key().eq_ignore_ascii_case("k");
            let slash = ev.key() == "/" && !typing && !ev.ctrl_key() && !ev.meta_key();
            if (chord || slash) && username.with_untracked(Option::is_some) {
                ev.prevent_default();
                searching.set(true);
            }
        });
        on_cleanup(move || keys.remove());
    }
    // A password that no longer meets the policy: the account dialog
    // opens by itself and says why.
    let PasswordNotice(notice) = expect_context::<PasswordNotice>();
    Effect::new(move |_| {
        if notice.with(Option::is_some) && username.with(Option::is_some) {
            account.set(true);
        }
    });
    let chat = expect_context::<crate::client::Connection>().chat();
    view! {
            <header class="topbar">
                {move || {
                    account
                        .get()
                        .then(|| {
                            view! {
                                <crate::components::room_dialogs::RoomDialogView
                                    which=crate::components::room_dialogs::RoomDialog::Account
                                    close=close_account
                                />
                            }
                        })
                }}
                {move || {
                    searching
                        .get()
                        .then(|| {
                            view! {
                                <crate::components::room_dialogs::RoomDialogView
                                    which=crate::components::room_dialogs::RoomDialog::Search
                                    close=close_search
                                />
                            }
                        })
                }}
                {move || {
                    username.get()
                        .map(|_| {
                            view! {
                                <button
                                    type="button"
                                    id=MENU_BUTTON_ID
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
                            let label = format!("Your account ({name})");
                            let handle = name.clone();
                            view! {
                                <div class="who">
                                    <ConnectionStatus/>
                                    <button
                                        type="button"
                                        class="quiet icon-button search-button"
                                        title="Search messages (Ctrl+K)"
                                        aria-label="Search messages"
                                        aria-keyshortcuts="Control+K /"
                                        on:click=move |_| searching.set(true)
                                    >
                                        {crate::components::icons::icon(crate::components::icons::Icon::Search)}
                                    </button>
                                    <button
                                        type="button"
                                        class="user"
                                        title="Your account"
                                        aria-label=label
                                        on:click=move |_| account.set(true)
                                    >
                                        <span class="avatar" aria-hidden="true">
                                            {move || chat.with(|c| initial(c.display_of(&handle)))}
                                        </span>
                                        <span class="user-name">
                                            {move || chat.with(|c| c.display_of(&name).to_owned())}
                                        </span>
                                    </button>
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
