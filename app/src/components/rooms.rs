//! Finding, creating and being invited to rooms: the sidebar's buttons,
//! the room directory, the new room dialog, and invitations to answer.

use leptos::{ev::SubmitEvent, prelude::*};
use leptos_router::{hooks::use_navigate, NavigateOptions};

use crate::client::Connection;
use crate::components::{
    message_dialogs::Modal,
    room_dialogs::{RoomDialog, RoomDialogView},
    shell::SidebarOpen,
    sidebar::href_of,
};
use crate::protocol::{
    valid_name, ClientFrame, Conv, Invitation, RoomAction, MAX_DISPLAY_CHARS, MAX_TOPIC_CHARS,
};

/// Which room dialog is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    Directory,
    Create,
}

/// "Browse rooms" and "New room", each opening its dialog.
#[component]
pub fn RoomButtons() -> impl IntoView {
    let open = RwSignal::new(None::<Open>);
    let close = Callback::new(move |()| open.set(None));
    view! {
        <div class="side-buttons">
            <button type="button" class="small" on:click=move |_| open.set(Some(Open::Directory))>
                "Browse rooms"
            </button>
            <button type="button" class="small ghost" on:click=move |_| open.set(Some(Open::Create))>
                "New room"
            </button>
        </div>
        {move || {
            let which = match open.get()? {
                Open::Directory => RoomDialog::Directory,
                Open::Create => RoomDialog::Create,
            };
            Some(view! { <RoomDialogView which close/> })
        }}
    }
}

/// Going to a room, closing the dialog and (on narrow screens) the
/// sidebar; made while the dialog is set up, used from its handlers.
fn room_opener(close: Callback<()>) -> impl Fn(String) + Clone + Send + Sync + 'static {
    let SidebarOpen(sidebar) = expect_context::<SidebarOpen>();
    let navigate = use_navigate();
    move |room: String| {
        close.run(());
        sidebar.set(false);
        navigate(&href_of(&Conv::Room(room)), NavigateOptions::default());
    }
}

/// Public rooms, searchable by name and topic, a page at a time; joining
/// is one click.
#[component]
pub(crate) fn DirectoryDialog(close: Callback<()>) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let chat = conn.chat();
    let query = RwSignal::new(String::new());
    conn.directory("", false);
    let directory = Memo::new(move |_| chat.with(|c| c.directory().clone()));
    let on_input = move |_| conn.directory(query.get_untracked().trim(), false);
    let go = StoredValue::new(room_opener(close));
    view! {
        <Modal label="Browse rooms" on_close=close class="wide">
            <h2>"Browse rooms"</h2>
            <label class="field">
                <span>"Search rooms"</span>
                <input
                    type="search"
                    placeholder="Name or topic"
                    autocomplete="off"
                    maxlength="64"
                    bind:value=query
                    on:input=on_input
                />
            </label>
            <ul class="directory" data-testid="directory" aria-live="polite">
                <For
                    each=move || directory.with(|d| d.rooms.clone())
                    key=|r| (r.room.clone(), r.joined, r.members, r.topic.clone())
                    children=move |room| {
                        let name = room.room.clone();
                        let joined = room.joined;
                        let members = match room.members {
                            1 => "1 member".to_owned(),
                            n => format!("{n} members"),
                        };
                        let join = move |_| {
                            if !joined {
                                conn.request(ClientFrame::JoinRoom { room: name.clone() });
                            }
                            go.with_value(|go| go(name.clone()));
                        };
                        view! {
                            <li class="directory-room">
                                <div class="directory-text">
                                    {(!room.title.is_empty())
                                        .then(|| view! { <span class="directory-title">{room.title.clone()}</span> })}
                                    <span class="directory-name">"#" {room.room.clone()}</span>
                                    <span class="hint">{members}</span>
                                    {(!room.topic.is_empty())
                                        .then(|| view! { <p class="directory-topic">{room.topic.clone()}</p> })}
                                </div>
                                <button
                                    type="button"
                                    class="small"
                                    class:ghost=joined
                                    aria-label=format!(
                                        "{} #{}",
                                        if joined { "Open" } else { "Join" },
                                        room.room,
                                    )
                                    on:click=join
                                >
                                    {if joined { "Open" } else { "Join" }}
                                </button>
                            </li>
                        }
                    }
                />
            </ul>
            <Show when=move || directory.with(|d| d.rooms.is_empty() && !d.loading)>
                <p class="hint">"No public room matches."</p>
            </Show>
            <div class="modal-buttons">
                <Show when=move || directory.with(|d| d.next.is_some())>
                    <button
                        type="button"
                        class="quiet"
                        on:click=move |_| conn.directory(query.get_untracked().trim(), true)
                    >
                        "More rooms"
                    </button>
                </Show>
                <button type="button" class="quiet" on:click=move |_| close.run(())>
                    "Close"
                </button>
            </div>
        </Modal>
    }
}

/// Name, topic and visibility of a new room.
#[component]
pub(crate) fn CreateRoomDialog(close: Callback<()>) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let name = RwSignal::new(String::new());
    let title = RwSignal::new(String::new());
    let topic = RwSignal::new(String::new());
    let private = RwSignal::new(false);
    let error = RwSignal::new(None::<&'static str>);
    let go = StoredValue::new(room_opener(close));
    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        let room = name.get_untracked().trim().to_ascii_lowercase();
        if !valid_name(&room) {
            error.set(Some("Room names are 1 to 32 letters, digits, “_” or “-”."));
            return;
        }
        conn.request(ClientFrame::CreateRoom {
            room: room.clone(),
            title: title.get_untracked().trim().to_owned(),
            topic: topic.get_untracked().trim().to_owned(),
            private: private.get_untracked(),
        });
        go.with_value(|go| go(room));
    };
    view! {
        <Modal label="New room" on_close=close>
            <h2>"New room"</h2>
            <form class="stack" on:submit=on_submit>
                <label class="field">
                    <span>"Name (letters, digits, _ or -; used in its link)"</span>
                    <input
                        type="text"
                        placeholder="room-name"
                        autocomplete="off"
                        autocapitalize="none"
                        spellcheck="false"
                        maxlength="32"
                        required
                        bind:value=name
                    />
                </label>
                <label class="field">
                    <span>"Title, in any language (optional)"</span>
                    <input
                        type="text"
                        placeholder="技术讨论"
                        maxlength=MAX_DISPLAY_CHARS.to_string()
                        bind:value=title
                    />
                </label>
                <label class="field">
                    <span>"Topic (optional)"</span>
                    <input
                        type="text"
                        placeholder="What it is for"
                        maxlength=MAX_TOPIC_CHARS.to_string()
                        bind:value=topic
                    />
                </label>
                <fieldset class="choice">
                    <legend>"Who can find and join it"</legend>
                    <label>
                        <input
                            type="radio"
                            name="visibility"
                            prop:checked=move || !private.get()
                            on:change=move |_| private.set(false)
                        />
                        " Public: listed, anyone can join"
                    </label>
                    <label>
                        <input
                            type="radio"
                            name="visibility"
                            prop:checked=move || private.get()
                            on:change=move |_| private.set(true)
                        />
                        " Private: only people you invite"
                    </label>
                </fieldset>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <div class="modal-buttons">
                    <button type="button" class="quiet" on:click=move |_| close.run(())>
                        "Cancel"
                    </button>
                    <button type="submit" class="primary">"Create room"</button>
                </div>
            </form>
        </Modal>
    }
}

/// Invitations waiting for an answer, in the sidebar (drawn from the
/// room dialogs' module once there are some).
#[component]
pub fn Invitations() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let any = Memo::new(move |_| conn.chat().with(|c| !c.invites().is_empty()));
    let close = Callback::new(|()| {});
    view! {
        <Show when=move || any.get()>
            <RoomDialogView which=RoomDialog::Invitations close/>
        </Show>
    }
}

#[component]
pub(crate) fn InvitationList() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let invites = Memo::new(move |_| conn.chat().with(|c| c.invites().to_vec()));
    view! {
        <Show when=move || invites.with(|i| !i.is_empty())>
            <section class="side-section invitations" aria-labelledby="invites-title">
                <h2 id="invites-title">"Invitations"</h2>
                <ul class="invite-list" data-testid="invitations">
                    <For
                        each=move || invites.get()
                        key=|i| (i.room.clone(), i.by.clone())
                        children=move |invite| view! { <InviteRow invite/> }
                    />
                </ul>
            </section>
        </Show>
    }
}

#[component]
fn InviteRow(invite: Invitation) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let SidebarOpen(sidebar) = expect_context::<SidebarOpen>();
    let navigate = use_navigate();
    let room = invite.room.clone();
    let accept = {
        let room = room.clone();
        move |_| {
            conn.request(ClientFrame::JoinRoom { room: room.clone() });
            sidebar.set(false);
            navigate(
                &href_of(&Conv::Room(room.clone())),
                NavigateOptions::default(),
            );
        }
    };
    let decline = {
        let room = room.clone();
        move |_| conn.act(&room, RoomAction::Decline {})
    };
    view! {
        <li class="invite">
            <p>
                {(!invite.title.is_empty()).then(|| view! { <strong>{invite.title.clone()} " "</strong> })}
                <strong>"#" {invite.room.clone()}</strong>
                {invite.private.then(|| view! { <span class="tag">"private"</span> })}
                <br/>
                <span class="hint">"from " {invite.by.clone()}</span>
            </p>
            <div class="side-row">
                <button
                    type="button"
                    class="small"
                    aria-label=format!("Accept the invitation to #{}", invite.room)
                    on:click=accept
                >
                    "Accept"
                </button>
                <button
                    type="button"
                    class="small ghost"
                    aria-label=format!("Decline the invitation to #{}", invite.room)
                    on:click=decline
                >
                    "Decline"
                </button>
            </div>
        </li>
    }
}
