//! "Your account": the name people see, changing the password (asked for
//! when it no longer meets the policy), the signed-in devices (one by one,
//! or everywhere), and the people you block.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};

use crate::client::{http, Connection};
use crate::components::{
    message::when,
    message_dialogs::Modal,
    room_settings::NameAction,
    shell::{IsAdmin, Now, PasswordNotice, SidebarOpen},
};
use crate::protocol::{ClientFrame, DeviceInfo, MAX_DISPLAY_CHARS, PASSWORD_RULE};

#[component]
pub(crate) fn AccountDialog(close: Callback<()>) -> impl IntoView {
    let IsAdmin(admin) = expect_context::<IsAdmin>();
    let SidebarOpen(sidebar) = expect_context::<SidebarOpen>();
    let navigate = leptos_router::hooks::use_navigate();
    let open_admin = move |_| {
        close.run(());
        sidebar.set(false);
        navigate("/admin", Default::default());
    };
    view! {
        <Modal label="Your account" on_close=close class="wide">
            <h2>"Your account"</h2>
            <Show when=move || admin.get()>
                <p class="side-row">
                    <span class="hint">"You are one of this server's admins."</span>
                    <button type="button" class="small" on:click=open_admin.clone()>
                        "Open the admin page"
                    </button>
                </p>
            </Show>
            <Profile/>
            <Password/>
            <Devices/>
            <Blocked/>
            <div class="modal-buttons">
                <button type="button" class="quiet" on:click=move |_| close.run(())>
                    "Close"
                </button>
            </div>
        </Modal>
    }
}

/// The display name: any script, up to 64 characters; every open tab of
/// everyone sees the change at once.
#[component]
fn Profile() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let chat = conn.chat();
    let current = chat.with_untracked(|c| c.user().map(|u| c.display_of(u).to_owned()));
    let name = RwSignal::new(current.unwrap_or_default());
    let outcome = RwSignal::new(None::<Result<(), String>>);
    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        let body = serde_json::json!({ "display_name": name.get_untracked().trim() });
        spawn_local(async move {
            let result = http::send("PUT", "/api/profile", Some(body)).await;
            outcome.try_set(Some(result.map_err(|e| e.message)));
        });
    };
    let handle = move || chat.with(|c| c.user().map(|u| format!("@{u}")).unwrap_or_default());
    view! {
        <section aria-labelledby="profile-heading">
            <h3 id="profile-heading">"Display name"</h3>
            <form class="stack" on:submit=on_submit>
                <label class="field">
                    <span>"What people see, in any language"</span>
                    <input
                        type="text"
                        autocomplete="nickname"
                        maxlength=MAX_DISPLAY_CHARS.to_string()
                        bind:value=name
                    />
                </label>
                <div class="side-row">
                    <span class="hint">"Your username stays " <strong>{handle}</strong></span>
                    <button type="submit" class="small">"Save name"</button>
                </div>
                {move || match outcome.get() {
                    Some(Ok(())) => Some(view! { <p class="hint" role="status">"Saved."</p> }.into_any()),
                    Some(Err(why)) => Some(view! { <p class="error" role="alert">{why}</p> }.into_any()),
                    None => None,
                }}
            </form>
        </section>
    }
}

#[component]
fn Password() -> impl IntoView {
    let PasswordNotice(notice) = expect_context::<PasswordNotice>();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<Result<(), String>>);
    let busy = RwSignal::new(false);
    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        let body = serde_json::json!({
            "current": current.get_untracked(),
            "new": new.get_untracked(),
        });
        busy.set(true);
        spawn_local(async move {
            let result = http::send("POST", "/api/password", Some(body)).await;
            busy.try_set(false);
            if result.is_ok() {
                current.try_set(String::new());
                new.try_set(String::new());
                notice.try_set(None);
            }
            outcome.try_set(Some(result.map_err(|e| e.message)));
        });
    };
    view! {
        <section aria-labelledby="password-heading">
            <h3 id="password-heading">"Password"</h3>
            {move || {
                notice
                    .get()
                    .map(|why| {
                        view! {
                            <p class="password-notice" role="alert" data-testid="password-notice">
                                "Please choose a new password: yours no longer meets the rule ("
                                {why}
                                ")."
                            </p>
                        }
                    })
            }}
            <form class="stack" on:submit=on_submit>
                <label class="field">
                    <span>"Current password"</span>
                    <input type="password" autocomplete="current-password" required bind:value=current/>
                </label>
                <label class="field">
                    <span>"New password"</span>
                    <input
                        type="password"
                        autocomplete="new-password"
                        required
                        aria-describedby="new-password-rule"
                        bind:value=new
                    />
                </label>
                <p class="hint" id="new-password-rule">{PASSWORD_RULE}</p>
                <div class="side-row">
                    <button type="submit" class="small" disabled=move || busy.get()>
                        "Change password"
                    </button>
                </div>
                {move || match outcome.get() {
                    Some(Ok(())) => Some(view! {
                        <p class="hint" role="status">
                            "Password changed. Your other devices were signed out."
                        </p>
                    }.into_any()),
                    Some(Err(why)) => Some(view! { <p class="error" role="alert">{why}</p> }.into_any()),
                    None => None,
                }}
            </form>
        </section>
    }
}

#[component]
fn Devices() -> impl IntoView {
    let Now(now) = expect_context::<Now>();
    let devices = RwSignal::new(None::<Vec<DeviceInfo>>);
    let problem = RwSignal::new(None::<String>);
    let load = move || {
        spawn_local(async move {
            match http::get_json::<Vec<DeviceInfo>>("/api/sessions").await {
                Ok(list) => {
                    devices.try_set(Some(list));
                }
                Err(e) => {
                    problem.try_set(Some(e.message));
                }
            }
        });
    };
    load();
    let end = move |path: String, everywhere: bool| {
        spawn_local(async move {
            match http::send("DELETE", &path, None).await {
                Ok(()) if everywhere => {
                    // This device is signed out too: start again.
                    #[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
                    let _ = window().location().assign("/");
                }
                Ok(()) => load(),
                Err(e) => {
                    problem.try_set(Some(e.message));
                }
            }
        });
    };
    view! {
        <section aria-labelledby="devices-heading">
            <h3 id="devices-heading">"Signed-in devices"</h3>
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
            <ul class="member-rows" data-testid="devices">
                {move || {
                    devices
                        .get()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|d| {
                            let name = if d.user_agent.is_empty() {
                                "Unknown browser".to_owned()
                            } else {
                                d.user_agent.clone()
                            };
                            let path = format!("/api/sessions/{}", d.id);
                            view! {
                                <li class="member-row">
                                    <span class="device-name">{name}</span>
                                    {d.current.then(|| view! { <span class="tag role">"this device"</span> })}
                                    <span class="hint">
                                        "signed in " {when(d.created_at, now.get_untracked())}
                                    </span>
                                    {(!d.current)
                                        .then(|| {
                                            view! {
                                                <button
                                                    type="button"
                                                    class="small ghost member-actions"
                                                    on:click=move |_| end(path.clone(), false)
                                                >
                                                    "Sign out"
                                                </button>
                                            }
                                        })}
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
            <div class="side-row">
                <button
                    type="button"
                    class="danger"
                    on:click=move |_| end("/api/sessions".into(), true)
                >
                    "Sign out everywhere"
                </button>
            </div>
        </section>
    }
}

#[component]
fn Blocked() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let blocked = Memo::new(move |_| conn.chat().with(|c| c.blocked().to_vec()));
    let block = Callback::new(move |user: String| conn.request(ClientFrame::Block { user }));
    view! {
        <section aria-labelledby="blocked-heading">
            <h3 id="blocked-heading">"Blocked people"</h3>
            <p class="hint">
                "Their direct messages to you are refused, and they are left out of your online list."
            </p>
            <ul class="member-rows" data-testid="blocked">
                <For
                    each=move || blocked.get()
                    key=|name| name.clone()
                    children=move |user| {
                        let label = format!("Unblock {user}");
                        let who = user.clone();
                        view! {
                            <li class="member-row">
                                <span class="member-name">{user}</span>
                                <button
                                    type="button"
                                    class="small ghost member-actions"
                                    aria-label=label
                                    on:click=move |_| conn.request(ClientFrame::Unblock { user: who.clone() })
                                >
                                    "Unblock"
                                </button>
                            </li>
                        }
                    }
                />
            </ul>
            <NameAction label="Block someone" button="Block" on_name=block/>
        </section>
    }
}
