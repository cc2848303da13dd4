//! `/admin`: the server admins' page (the server answers 403 to everyone
//! else before the page is even sent). Users (search, disable, enable),
//! rooms (search, archive, delete), every node's connections and numbers,
//! and the server-wide moderation log, through `/api/admin/…`.

use leptos::{prelude::*, task::spawn_local};

use crate::client::http;
use crate::components::{message::when, shell::Now};
use crate::protocol::{AdminRoom, AdminUser, ModEntry, NodeStats};

/// The page's route: drawn once hydrated (the page is in the room dialogs'
/// module, which the server-rendered page does not wait for).
#[component]
pub fn AdminRoute() -> impl IntoView {
    let mounted = RwSignal::new(false);
    Effect::new(move |_| mounted.set(true));
    let close = Callback::new(|()| {});
    move || {
        mounted.get().then(|| {
            view! {
                <crate::components::room_dialogs::RoomDialogView
                    which=crate::components::room_dialogs::RoomDialog::Admin
                    close
                />
            }
        })
    }
}

/// Load `path` into `into`, or the error into `problem`.
fn load<T: serde::de::DeserializeOwned + Send + Sync + 'static>(
    path: String,
    into: RwSignal<Option<T>>,
    problem: RwSignal<Option<String>>,
) {
    spawn_local(async move {
        match http::get_json::<T>(&path).await {
            Ok(value) => {
                into.try_set(Some(value));
            }
            Err(error) => {
                problem.try_set(Some(error.message));
            }
        }
    });
}

fn query(q: &str) -> String {
    q.chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' '))
        .collect::<String>()
        .replace(' ', "%20")
}

/// The page itself.
#[component]
pub(crate) fn AdminPage() -> impl IntoView {
    let problem = RwSignal::new(None::<String>);
    #[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
    document().set_title("Admin · Parley");
    view! {
        <section class="admin" aria-labelledby="admin-title">
            <h1 id="admin-title">"Admin"</h1>
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
            <Nodes problem/>
            <Users problem/>
            <Rooms problem/>
            <Log problem/>
        </section>
    }
}

#[component]
fn Nodes(problem: RwSignal<Option<String>>) -> impl IntoView {
    let nodes = RwSignal::new(None::<Vec<NodeStats>>);
    let refresh = move || load("/api/admin/nodes".into(), nodes, problem);
    refresh();
    // Live numbers: asked again every 5 s while the page is open.
    #[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
    {
        let ticker =
            StoredValue::new_local(Some(gloo_timers::callback::Interval::new(5_000, refresh)));
        on_cleanup(move || {
            ticker.try_update_value(|t| t.take());
        });
    }
    view! {
        <section class="admin-section" aria-labelledby="nodes-title">
            <div class="admin-heading">
                <h2 id="nodes-title">"Nodes"</h2>
                <button type="button" class="small ghost" on:click=move |_| refresh()>
                    "Refresh"
                </button>
            </div>
            <div class="table-scroll">
                <table data-testid="admin-nodes">
                    <thead>
                        <tr>
                            <th scope="col">"Node"</th>
                            <th scope="col">"Connections"</th>
                            <th scope="col">"Guests"</th>
                            <th scope="col">"Online"</th>
                            <th scope="col">"Messages in"</th>
                            <th scope="col">"Delivered"</th>
                            <th scope="col">"Changes"</th>
                            <th scope="col">"Rate-limited"</th>
                            <th scope="col">"Slow consumers"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {move || {
                            nodes
                                .get()
                                .unwrap_or_default()
                                .into_iter()
                                .map(|n| {
                                    view! {
                                        <tr>
                                            <th scope="row">{n.node}</th>
                                            <td>{n.connections}</td>
                                            <td>{n.guests}</td>
                                            <td>{n.users_online}</td>
                                            <td>{n.messages_in}</td>
                                            <td>{n.messages_out}</td>
                                            <td>{n.changes_in}</td>
                                            <td>{n.rate_limited}</td>
                                            <td>{n.slow_consumers}</td>
                                        </tr>
                                    }
                                })
                                .collect_view()
                        }}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn Users(problem: RwSignal<Option<String>>) -> impl IntoView {
    let Now(now) = expect_context::<Now>();
    let q = RwSignal::new(String::new());
    let users = RwSignal::new(None::<Vec<AdminUser>>);
    let search = move || {
        load(
            format!("/api/admin/users?q={}", query(&q.get_untracked())),
            users,
            problem,
        )
    };
    search();
    let toggle = move |name: String, disabled: bool| {
        spawn_local(async move {
            let body = serde_json::json!({ "disabled": disabled });
            match http::send("POST", &format!("/api/admin/users/{name}"), Some(body)).await {
                Ok(()) => search(),
                Err(e) => {
                    problem.try_set(Some(e.message));
                }
            }
        });
    };
    view! {
        <section class="admin-section" aria-labelledby="users-title">
            <h2 id="users-title">"Users"</h2>
            <label class="field">
                <span>"Search users"</span>
                <input type="search" placeholder="Name" bind:value=q on:input=move |_| search()/>
            </label>
            <ul class="admin-list" data-testid="admin-users">
                {move || {
                    users
                        .get()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|u| {
                            let name = u.name.clone();
                            let disabled = u.disabled;
                            view! {
                                <li class="admin-row" data-user=u.name.clone()>
                                    <span class="member-name">{u.name.clone()}</span>
                                    {(!u.display_name.is_empty())
                                        .then(|| view! { <span class="display-name">{u.display_name.clone()}</span> })}
                                    {u.online.then(|| view! { <span class="tag role">"online"</span> })}
                                    {disabled.then(|| view! { <span class="tag muted">"disabled"</span> })}
                                    <span class="hint">
                                        "joined " {when(u.created_at, now.get_untracked())}
                                    </span>
                                    <button
                                        type="button"
                                        class="small"
                                        class:ghost=!disabled
                                        aria-label=format!(
                                            "{} {}",
                                            if disabled { "Enable" } else { "Disable" },
                                            u.name,
                                        )
                                        on:click=move |_| toggle(name.clone(), !disabled)
                                    >
                                        {if disabled { "Enable" } else { "Disable" }}
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
        </section>
    }
}

#[component]
fn Rooms(problem: RwSignal<Option<String>>) -> impl IntoView {
    let q = RwSignal::new(String::new());
    let rooms = RwSignal::new(None::<Vec<AdminRoom>>);
    let deleting = RwSignal::new(None::<String>);
    let search = move || {
        load(
            format!("/api/admin/rooms?q={}", query(&q.get_untracked())),
            rooms,
            problem,
        )
    };
    search();
    let act = move |method: &'static str, room: String, body: Option<serde_json::Value>| {
        spawn_local(async move {
            match http::send(method, &format!("/api/admin/rooms/{room}"), body).await {
                Ok(()) => search(),
                Err(e) => {
                    problem.try_set(Some(e.message));
                }
            }
        });
    };
    view! {
        <section class="admin-section" aria-labelledby="rooms-admin-title">
            <h2 id="rooms-admin-title">"Rooms"</h2>
            <label class="field">
                <span>"Search rooms"</span>
                <input type="search" placeholder="Name or topic" bind:value=q on:input=move |_| search()/>
            </label>
            <ul class="admin-list" data-testid="admin-rooms">
                {move || {
                    rooms
                        .get()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|r| {
                            let (archive_room, delete_room) = (r.room.clone(), r.room.clone());
                            let archived = r.archived;
                            let confirming = {
                                let room = r.room.clone();
                                move || deleting.get().as_deref() == Some(room.as_str())
                            };
                            view! {
                                <li class="admin-row" data-room=r.room.clone()>
                                    <span class="member-name">"#" {r.room.clone()}</span>
                                    {r.private.then(|| view! { <span class="tag role">"private"</span> })}
                                    {archived.then(|| view! { <span class="tag muted">"archived"</span> })}
                                    <span class="hint">{format!("{} members", r.members)}</span>
                                    <button
                                        type="button"
                                        class="small ghost"
                                        aria-label=format!(
                                            "{} #{}",
                                            if archived { "Unarchive" } else { "Archive" },
                                            r.room,
                                        )
                                        on:click=move |_| {
                                            act(
                                                "POST",
                                                archive_room.clone(),
                                                Some(serde_json::json!({ "archived": !archived })),
                                            )
                                        }
                                    >
                                        {if archived { "Unarchive" } else { "Archive" }}
                                    </button>
                                    {move || {
                                        let room = delete_room.clone();
                                        if confirming() {
                                            view! {
                                                <button
                                                    type="button"
                                                    class="danger"
                                                    on:click=move |_| {
                                                        deleting.set(None);
                                                        act("DELETE", room.clone(), None)
                                                    }
                                                >
                                                    {format!("Delete #{} for good", delete_room)}
                                                </button>
                                            }
                                                .into_any()
                                        } else {
                                            let label = format!("Delete #{room}");
                                            view! {
                                                <button
                                                    type="button"
                                                    class="small ghost"
                                                    aria-label=label
                                                    on:click=move |_| deleting.set(Some(room.clone()))
                                                >
                                                    "Delete"
                                                </button>
                                            }
                                                .into_any()
                                        }
                                    }}
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
        </section>
    }
}

#[component]
fn Log(problem: RwSignal<Option<String>>) -> impl IntoView {
    let Now(now) = expect_context::<Now>();
    let log = RwSignal::new(None::<Vec<ModEntry>>);
    load("/api/admin/log".into(), log, problem);
    view! {
        <section class="admin-section" aria-labelledby="log-admin-title">
            <h2 id="log-admin-title">"Moderation log"</h2>
            <ol class="mod-log" data-testid="admin-log">
                {move || {
                    log.get()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|e| {
                            let room = (!e.room.is_empty()).then(|| format!("#{}: ", e.room));
                            view! {
                                <li>
                                    <span class="hint">{room}</span>
                                    <span>{e.text}</span>
                                    " "
                                    <time class="hint">{when(e.ts, now.get_untracked())}</time>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ol>
        </section>
    }
}
