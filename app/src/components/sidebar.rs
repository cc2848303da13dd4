use leptos::{
    ev::{KeyboardEvent, SubmitEvent},
    prelude::*,
};
use leptos_router::{hooks::use_location, hooks::use_navigate, NavigateOptions};

use crate::client::Connection;
use crate::components::rooms::{Invitations, RoomButtons};
use crate::components::shell::{focus_first, initial, SidebarOpen, MENU_SELECTOR};
use crate::protocol::{valid_name, Conv};

/// The address of a conversation.
pub fn href_of(conv: &Conv) -> String {
    match conv {
        Conv::Room(name) => format!("/c/room/{name}"),
        Conv::Dm(name) => format!("/c/dm/{name}"),
        Conv::Guest(name) => format!("/c/guest/{name}"),
    }
}

/// What a person reads for a conversation.
pub fn title_of(conv: &Conv, label: &str) -> String {
    match conv {
        Conv::Room(name) if label == name => format!("#{name}"),
        Conv::Guest(name) => format!("{name} (guest)"),
        _ => label.to_owned(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Item {
    conv: Conv,
    /// What it is shown as ([`crate::client::Chat::label_of`]).
    label: String,
    unread: i64,
    /// Unread messages that mention the reader.
    mentions: i64,
    online: bool,
}

/// Rooms, direct conversations and who is online, with ways to add to them.
#[component]
pub fn Sidebar() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let SidebarOpen(open) = expect_context::<SidebarOpen>();
    let chat = conn.chat();
    let items = Memo::new(move |_| {
        chat.with(|c| {
            c.threads()
                .map(|(key, t)| {
                    let conv = key.with_name(t.display.as_str());
                    let online = match &conv {
                        Conv::Room(_) => false,
                        Conv::Dm(name) | Conv::Guest(name) => c.is_online(name),
                    };
                    Item {
                        label: c.label_of(&conv),
                        conv,
                        unread: t.unread,
                        mentions: t.mentions,
                        online,
                    }
                })
                .collect::<Vec<_>>()
        })
    });
    // (rooms, direct conversations)
    let lists = Memo::new(move |_| {
        items.with(|all| {
            all.iter()
                .cloned()
                .partition::<Vec<_>, _>(|i| matches!(i.conv, Conv::Room(_)))
        })
    });
    let online = Memo::new(move |_| {
        chat.with(|c| {
            let me = c.user().unwrap_or_default().to_owned();
            c.online()
                .filter(|u| *u != me)
                .map(|u| (u.to_owned(), c.display_of(u).to_owned(), true))
                .collect::<Vec<_>>()
        })
    });

    // On narrow screens the sidebar opens over the conversation: focus
    // moves into it, and Escape closes it and returns to the menu button.
    #[cfg(feature = "hydrate")]
    Effect::new(move |was_open: Option<bool>| {
        let is_open = open.get();
        if is_open && was_open == Some(false) {
            // After the class has applied: hidden elements take no focus.
            // The conversation on screen, else the first control.
            request_animation_frame(|| {
                focus_first(&[
                    "#sidebar [aria-current=page]",
                    "#sidebar a, #sidebar button, #sidebar input",
                ])
            });
        }
        is_open
    });
    let on_keydown = move |event: KeyboardEvent| {
        if event.key() == "Escape" && open.get_untracked() {
            event.prevent_default();
            open.set(false);
            focus_first(&[MENU_SELECTOR]);
        }
    };

    view! {
        <nav
            class="sidebar"
            class:open=move || open.get()
            id="sidebar"
            aria-label="Conversations"
            on:keydown=on_keydown
        >
            <Invitations/>
            <section class="side-section" aria-labelledby="rooms-title">
                <h2 id="rooms-title">"Rooms"</h2>
                <ul class="conv-list" data-testid="conversations">
                    <For
                        each=move || lists.with(|(rooms, _)| rooms.clone())
                        key=|item| item.clone()
                        children=|item| view! { <ConvLink item/> }
                    />
                </ul>
                <RoomButtons/>
            </section>
            <section class="side-section" aria-labelledby="dms-title">
                <h2 id="dms-title">"Direct messages"</h2>
                <ul class="conv-list" data-testid="conversations">
                    <For
                        each=move || lists.with(|(_, people)| people.clone())
                        key=|item| item.clone()
                        children=|item| view! { <ConvLink item/> }
                    />
                </ul>
                <Show when=move || lists.with(|(_, people)| people.is_empty())>
                    <p class="side-hint">"No direct messages yet."</p>
                </Show>
                <DmForm/>
            </section>
            <section class="side-section" aria-labelledby="online-title">
                <h2 id="online-title">
                    "Online " <span class="count">{move || online.with(Vec::len)}</span>
                </h2>
                <PeopleList
                    people=online
                    label="Online"
                />
                <Show when=move || online.with(Vec::is_empty)>
                    <p class="side-hint">"Nobody else is online."</p>
                </Show>
            </section>
        </nav>
    }
    .into_any()
}

/// People with their presence, each a link to the direct conversation
/// with them (the sidebar's online list, a room's member list).
#[component]
pub fn PeopleList(
    /// (handle, display name, online)
    #[prop(into)]
    people: Signal<Vec<(String, String, bool)>>,
    label: &'static str,
) -> impl IntoView {
    let SidebarOpen(open) = expect_context::<SidebarOpen>();
    view! {
        <ul class="conv-list" aria-label=label>
            <For
                each=move || people.get()
                key=|person| person.clone()
                children=move |(name, display, online)| {
                    let href = href_of(&Conv::Dm(name.clone()));
                    // Two people may share a display name: the handle
                    // beside it tells them apart.
                    let handle = (display != name).then(|| format!("@{name}"));
                    view! {
                        <li>
                            <a class="conv-link" href=href on:click=move |_| open.set(false)>
                                <span class="avatar small" aria-hidden="true">
                                    {initial(&display)}
                                    <span class="presence" class:on=online></span>
                                </span>
                                <span class="conv-name person">{display.clone()}</span>
                                {handle.map(|h| view! { <span class="handle">{h}</span> })}
                                <span class="visually-hidden">
                                    {if online { ", online" } else { ", offline" }}
                                </span>
                            </a>
                        </li>
                    }
                }
            />
        </ul>
    }
}

/// One conversation in the sidebar, with its unread count.
#[component]
fn ConvLink(item: Item) -> impl IntoView {
    let SidebarOpen(open) = expect_context::<SidebarOpen>();
    let location = use_location();
    let href = href_of(&item.conv);
    let current = {
        let href = href.clone();
        let lobby = matches!(&item.conv, Conv::Room(n) if n == crate::protocol::LOBBY);
        move || {
            let path = location.pathname.get();
            let here = path.eq_ignore_ascii_case(&href) || (lobby && path == "/");
            here.then_some("page")
        }
    };
    let (icon, name) = match &item.conv {
        Conv::Room(_) => (
            view! { <span class="room-icon" aria-hidden="true">"#"</span> }.into_any(),
            item.label.clone(),
        ),
        Conv::Dm(_) | Conv::Guest(_) => (
            view! {
                <span class="avatar small" aria-hidden="true">
                    {initial(&item.label)}
                    <span class="presence" class:on=item.online></span>
                </span>
            }
            .into_any(),
            item.label.clone(),
        ),
    };
    let guest = matches!(item.conv, Conv::Guest(_));
    let unread = item.unread;
    let mentions = item.mentions;
    view! {
        <li>
            <a
                class="conv-link"
                class:unread=move || { unread > 0 }
                href=href
                aria-current=current
                on:click=move |_| open.set(false)
            >
                {icon}
                <span class="conv-name">{name}</span>
                {guest.then(|| view! { <span class="tag">"(guest)"</span> })}
                {(mentions > 0)
                    .then(|| {
                        view! {
                            <span class="badge mention-badge" data-testid="mentions">
                                "@"
                                {mentions}
                                <span class="visually-hidden">
                                    {if mentions == 1 { " mention" } else { " mentions" }}
                                </span>
                            </span>
                        }
                    })}
                {(unread > 0)
                    .then(|| {
                        view! {
                            <span class="badge" data-testid="unread">
                                {unread}
                                <span class="visually-hidden">" unread"</span>
                            </span>
                        }
                    })}
            </a>
        </li>
    }
    .into_any()
}

/// Open the direct conversation with someone.
#[component]
fn DmForm() -> impl IntoView {
    let navigate = use_navigate();
    let on_name = Callback::new(move |user: String| {
        navigate(&href_of(&Conv::Dm(user)), NavigateOptions::default());
    });
    view! {
        <NameForm
            id="dm-name"
            label="Message someone"
            placeholder="username"
            invalid="Usernames are 1 to 32 letters, digits, “_” or “-”."
            submit="Open"
            on_name
        />
    }
}

/// A labelled name box with its button. A valid name goes to `on_name`
/// and closes the sidebar; an invalid one shows `invalid` below the box.
#[component]
fn NameForm(
    id: &'static str,
    label: &'static str,
    placeholder: &'static str,
    invalid: &'static str,
    submit: &'static str,
    on_name: Callback<String>,
) -> impl IntoView {
    let SidebarOpen(open) = expect_context::<SidebarOpen>();
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(false);
    let go = move || {
        let value = name.get_untracked().trim().to_owned();
        if !valid_name(&value) {
            error.set(true);
            return;
        }
        error.set(false);
        name.set(String::new());
        open.set(false);
        on_name.run(value);
    };
    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        go();
    };
    view! {
        <form class="side-form" on:submit=on_submit>
            <label for=id>{label}</label>
            <div class="side-row">
                <input
                    id=id
                    type="text"
                    placeholder=placeholder
                    autocomplete="off"
                    autocapitalize="none"
                    spellcheck="false"
                    maxlength="32"
                    bind:value=name
                />
                <button type="submit" class="small">{submit}</button>
            </div>
            <Show when=move || error.get()>
                <p class="error" role="alert">{invalid}</p>
            </Show>
        </form>
    }
    .into_any()
}
