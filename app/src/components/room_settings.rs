//! A room's settings panel: its topic and visibility, inviting people,
//! the members with their roles and what the staff can do to them, and
//! the moderation log. Every control sends a `room_action`; the room's
//! system lines bring the result back.

use leptos::{ev::SubmitEvent, prelude::*};

use crate::client::{rooms::RoomState, Connection};
use crate::components::{
    message::when,
    message_dialogs::Modal,
    room_dialogs::{RoomDialog, RoomDialogView},
    shell::Now,
};
use crate::protocol::{
    valid_name, ClientFrame, Conv, Role, RoomAction, LOBBY, MAX_DISPLAY_CHARS, MAX_TOPIC_CHARS,
};

/// "Room settings" in a room's header, and the panel it opens.
#[component]
pub fn RoomSettingsButton(#[prop(into)] room: Signal<Option<String>>) -> impl IntoView {
    let open = RwSignal::new(false);
    let close = Callback::new(move |()| open.set(false));
    view! {
        <Show when=move || room.with(Option::is_some)>
            <button type="button" class="quiet" on:click=move |_| open.set(true)>
                "Room settings"
            </button>
        </Show>
        {move || {
            let room = room.get()?;
            open.get()
                .then(|| view! { <RoomDialogView which=RoomDialog::Settings(room) close/> })
        }}
    }
}

/// What a member of the staff can do to someone, as the menu lists it.
const ACTIONS: [(&str, &str); 9] = [
    ("mute10", "Mute for 10 minutes"),
    ("mute60", "Mute for 1 hour"),
    ("mute1440", "Mute for 1 day"),
    ("unmute", "Unmute"),
    ("moderator", "Make moderator"),
    ("member", "Make member"),
    ("owner", "Make owner"),
    ("kick", "Remove from the room"),
    ("ban", "Ban"),
];

fn action_for(choice: &str, user: String) -> Option<RoomAction> {
    Some(match choice {
        "mute10" => RoomAction::Mute { user, minutes: 10 },
        "mute60" => RoomAction::Mute { user, minutes: 60 },
        "mute1440" => RoomAction::Mute {
            user,
            minutes: 24 * 60,
        },
        "unmute" => RoomAction::Unmute { user },
        "moderator" => RoomAction::SetRole {
            user,
            role: Role::Moderator,
        },
        "member" => RoomAction::SetRole {
            user,
            role: Role::Member,
        },
        "owner" => RoomAction::SetRole {
            user,
            role: Role::Owner,
        },
        "kick" => RoomAction::Kick { user },
        "ban" => RoomAction::Ban { user },
        _ => return None,
    })
}

#[component]
pub(crate) fn RoomSettings(room: String, close: Callback<()>) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let chat = conn.chat();
    let conv = Conv::Room(room.clone());
    let state = {
        let conv = conv.clone();
        Memo::new(move |_| {
            chat.with(|c| c.thread_of(&conv).map(|t| t.room.clone()))
                .unwrap_or_default()
        })
    };
    let names = {
        let conv = conv.clone();
        Memo::new(move |_| {
            chat.with(|c| c.thread_of(&conv).and_then(|t| t.member_names.clone()))
                .unwrap_or_default()
        })
    };
    let me = Memo::new(move |_| chat.with(|c| c.user().unwrap_or_default().to_owned()));
    // Fresh lists of staff and mutes, and the log for the staff.
    conn.request(ClientFrame::Members { room: room.clone() });
    if state.with_untracked(RoomState::is_staff) {
        conn.moderation_log(&room);
    }
    let staff = Memo::new(move |_| state.with(RoomState::is_staff));
    let lobby = room == LOBBY;
    let (about_room, invite_room, members_room) = (room.clone(), room.clone(), room.clone());
    let title = format!("#{room} settings");
    view! {
        <Modal label=title.clone() on_close=close class="wide settings">
            <h2>{title}</h2>
            <About room=about_room state staff lobby/>
            <Show when=move || staff.get()>
                <RoomNameAction
                    room=invite_room.clone()
                    label="Invite someone"
                    button="Invite"
                    make=|user| RoomAction::Invite { user }
                />
            </Show>
            <section aria-labelledby="members-heading">
                <h3 id="members-heading">"Members"</h3>
                <ul class="member-rows" data-testid="member-rows">
                    <For
                        each=move || names.get()
                        key=|name| name.clone()
                        children=move |name| {
                            view! { <MemberRow room=members_room.clone() name state me/> }
                        }
                    />
                </ul>
            </section>
            <Show when=move || staff.get()>
                <RoomNameAction
                    room=room.clone()
                    label="Unban someone"
                    button="Unban"
                    make=|user| RoomAction::Unban { user }
                />
                <ModerationLog state/>
            </Show>
            <div class="modal-buttons">
                <button type="button" class="quiet" on:click=move |_| close.run(())>
                    "Close"
                </button>
            </div>
        </Modal>
    }
}

/// One line of text the staff set (the title, the topic), with its button.
#[component]
fn TextSetting(
    label: &'static str,
    placeholder: &'static str,
    button: &'static str,
    max: usize,
    value: String,
    on_save: Callback<String>,
) -> impl IntoView {
    let text = RwSignal::new(value);
    let save = move |event: SubmitEvent| {
        event.prevent_default();
        on_save.run(text.get_untracked().trim().to_owned());
    };
    view! {
        <form class="side-row" on:submit=save>
            <label class="field grow">
                <span>{label}</span>
                <input type="text" maxlength=max.to_string() placeholder=placeholder bind:value=text/>
            </label>
            <button type="submit" class="small">{button}</button>
        </form>
    }
}

/// The title, topic and visibility, editable by the staff.
#[component]
fn About(room: String, state: Memo<RoomState>, staff: Memo<bool>, lobby: bool) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let save_topic = {
        let room = room.clone();
        Callback::new(move |topic: String| conn.act(&room, RoomAction::SetTopic { topic }))
    };
    let save_title = {
        let room = room.clone();
        Callback::new(move |title: String| conn.act(&room, RoomAction::SetTitle { title }))
    };
    let toggle = move |_| {
        let private = !state.with_untracked(|s| s.private);
        conn.act(&room, RoomAction::SetVisibility { private });
    };
    let visibility = move || {
        if state.with(|s| s.private) {
            "Private: only invited people can find and join it."
        } else {
            "Public: listed in the directory; anyone can join."
        }
    };
    view! {
        <section aria-labelledby="about-heading">
            <h3 id="about-heading">"About"</h3>
            <Show
                when=move || staff.get()
                fallback=move || {
                    view! {
                        <p class="topic">
                            {move || {
                                let t = state.with(|s| s.topic.clone());
                                if t.is_empty() { "No topic.".to_owned() } else { t }
                            }}
                        </p>
                    }
                }
            >
                <TextSetting
                    label="Title (any language)"
                    placeholder="技术讨论, Équipe, …"
                    button="Save title"
                    max=MAX_DISPLAY_CHARS
                    value=state.with_untracked(|s| s.title.clone())
                    on_save=save_title
                />
                <TextSetting
                    label="Topic"
                    placeholder="What this room is for"
                    button="Save topic"
                    max=MAX_TOPIC_CHARS
                    value=state.with_untracked(|s| s.topic.clone())
                    on_save=save_topic
                />
            </Show>
            <p class="visibility" data-testid="visibility">{visibility}</p>
            <Show when=move || staff.get() && !lobby>
                <button type="button" class="small ghost" on:click=toggle.clone()>
                    {move || if state.with(|s| s.private) { "Make public" } else { "Make private" }}
                </button>
            </Show>
        </section>
    }
}

/// A labelled name box and its button: a valid name goes to `on_name`,
/// an invalid one shows why.
#[component]
pub(crate) fn NameAction(
    label: &'static str,
    button: &'static str,
    on_name: Callback<String>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(false);
    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        let user = name.get_untracked().trim().to_owned();
        if !valid_name(&user) {
            error.set(true);
            return;
        }
        error.set(false);
        name.set(String::new());
        on_name.run(user);
    };
    view! {
        <form class="side-row name-action" on:submit=on_submit>
            <label class="field grow">
                <span>{label}</span>
                <input
                    type="text"
                    placeholder="username"
                    autocomplete="off"
                    autocapitalize="none"
                    spellcheck="false"
                    maxlength="32"
                    bind:value=name
                />
            </label>
            <button type="submit" class="small">{button}</button>
            <Show when=move || error.get()>
                <p class="error" role="alert">"Usernames are 1 to 32 letters, digits, “_” or “-”."</p>
            </Show>
        </form>
    }
}

/// A name box that sends `make(name)` as an action on `room`.
#[component]
fn RoomNameAction(
    room: String,
    label: &'static str,
    button: &'static str,
    make: fn(String) -> RoomAction,
) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let on_name = Callback::new(move |user: String| conn.act(&room, make(user)));
    view! { <NameAction label button on_name/> }
}

/// One member: name, role, mute, and (for the staff, over someone of a
/// lower role) what can be done to them.
#[component]
fn MemberRow(
    room: String,
    name: String,
    state: Memo<RoomState>,
    me: Memo<String>,
) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let Now(now) = expect_context::<Now>();
    let role = {
        let name = name.clone();
        Memo::new(move |_| state.with(|s| s.role_of(&name)))
    };
    let muted = {
        let name = name.clone();
        Memo::new(move |_| {
            state
                .with(|s| s.muted_until_of(&name))
                .filter(|until| *until > now.get())
        })
    };
    let can_act = {
        let name = name.clone();
        Memo::new(move |_| {
            let mine = state.with(|s| s.role).unwrap_or(Role::Member);
            mine >= Role::Moderator && !name.eq_ignore_ascii_case(&me.get()) && role.get() < mine
        })
    };
    let owner = Memo::new(move |_| state.with(RoomState::is_owner));
    let choice = RwSignal::new(String::new());
    let apply = {
        let name = name.clone();
        move |event: SubmitEvent| {
            event.prevent_default();
            if let Some(action) = action_for(&choice.get_untracked(), name.clone()) {
                conn.act(&room, action);
                choice.set(String::new());
            }
        }
    };
    let label = format!("What to do with {name}");
    view! {
        <li class="member-row" data-user=name.clone()>
            <span class="member-name">{name.clone()}</span>
            {move || match role.get() {
                Role::Owner => Some(view! { <span class="tag role">"owner"</span> }),
                Role::Moderator => Some(view! { <span class="tag role">"moderator"</span> }),
                Role::Member => None,
            }}
            {move || {
                muted
                    .get()
                    .map(|until| {
                        view! {
                            <span class="tag muted">
                                {format!("muted until {}", when(until, now.get_untracked()))}
                            </span>
                        }
                    })
            }}
            <Show when=move || can_act.get()>
                <form class="member-actions" on:submit=apply.clone()>
                    <select aria-label=label.clone() bind:value=choice>
                        <option value="">"Choose…"</option>
                        {ACTIONS
                            .iter()
                            .filter(|(value, _)| {
                                !matches!(*value, "owner" | "moderator" | "member") || owner.get()
                            })
                            .map(|(value, text)| view! { <option value=*value>{*text}</option> })
                            .collect_view()}
                    </select>
                    <button type="submit" class="small">"Apply"</button>
                </form>
            </Show>
        </li>
    }
}

/// Who did what to whom, newest first.
#[component]
fn ModerationLog(state: Memo<RoomState>) -> impl IntoView {
    let Now(now) = expect_context::<Now>();
    view! {
        <section aria-labelledby="log-heading">
            <h3 id="log-heading">"Moderation log"</h3>
            {move || match state.with(|s| s.log.clone()) {
                None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                Some(entries) if entries.is_empty() => {
                    view! { <p class="hint">"Nothing yet."</p> }.into_any()
                }
                Some(entries) => {
                    view! {
                        <ol class="mod-log" data-testid="moderation-log">
                            {entries
                                .into_iter()
                                .map(|e| {
                                    view! {
                                        <li>
                                            <span>{e.text}</span>
                                            " "
                                            <time class="hint">{when(e.ts, now.get_untracked())}</time>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ol>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}
