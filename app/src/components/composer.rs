use leptos::{
    ev::{KeyboardEvent, SubmitEvent},
    prelude::*,
};

use crate::client::mention_query::{self, Suggestion};
use crate::client::{now_ms, Connection, Entry};
use crate::components::{
    message::{quote_text, when},
    message_ui::MessageUi,
    room_dialogs::{RoomDialog, RoomDialogView},
    shell::Now,
    sidebar::title_of,
};
use crate::protocol::{ClientFrame, Conv, ErrorCode};

/// The `@` autocomplete's list: who fits what is typed, the one chosen
/// marked, a click picks (`picked`). Drawn in the dialogs' module.
#[component]
pub fn MentionList(
    suggest: RwSignal<Option<(usize, Vec<Suggestion>)>>,
    chosen: RwSignal<usize>,
    picked: RwSignal<Option<usize>>,
) -> impl IntoView {
    move || {
        suggest.get().map(|(_, people)| {
            view! {
                <ul id="mention-list" class="mention-list" role="listbox" aria-label="People to mention">
                    {people
                        .into_iter()
                        .enumerate()
                        .map(|(i, person)| {
                            let handle = (person.display != person.handle
                                || person.handle == crate::protocol::mentions::ROOM)
                                .then(|| format!("@{}", person.handle));
                            view! {
                                <li
                                    id=format!("mention-option-{i}")
                                    role="option"
                                    aria-selected=move || if chosen.get() == i { "true" } else { "false" }
                                    on:mousedown=move |ev| {
                                        ev.prevent_default();
                                        picked.set(Some(i));
                                    }
                                >
                                    <span class="name">{person.display}</span>
                                    <span class="handle">{handle}</span>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            }
        })
    }
}

/// How often to tell others we are typing, at most.
const TYPING_EVERY_MS: i64 = 3_000;

/// The box to write in. Sending never waits: the message shows at once
/// and is delivered when the connection allows. Enter sends, Shift+Enter
/// starts a new line, Up in an empty box edits one's last message, and
/// Escape stops replying.
#[component]
pub fn Composer(
    #[prop(into)] conv: Signal<Option<Conv>>,
    /// Why this conversation cannot be used, if it cannot.
    #[prop(into)]
    problem: Signal<Option<(ErrorCode, String)>>,
    /// The conversation's messages (for the quote of a reply).
    entries: Memo<Vec<Entry>>,
    /// The connection is open.
    #[prop(into)]
    online: Signal<bool>,
) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let ui = expect_context::<MessageUi>();
    let draft = RwSignal::new(String::new());
    // The message answered, as it is now: (sender, start of its text).
    let replying = Memo::new(move |_| {
        let seq = ui.replying.get()?;
        entries.with(|all| {
            let e = all.iter().find(|e| e.seq == Some(seq))?;
            Some((e.display.clone(), quote_text(&e.body, e.deleted)))
        })
    });
    let error = RwSignal::new(None::<String>);
    let last_typing = StoredValue::new(0_i64);
    // The `@` autocomplete: where the `@` is, who fits, which is chosen.
    let textarea = NodeRef::<leptos::html::Textarea>::new();
    let suggest = RwSignal::new(None::<(usize, Vec<Suggestion>)>);
    let chosen = RwSignal::new(0_usize);
    let caret = move || -> usize {
        let text = draft.get_untracked();
        let at = textarea
            .get_untracked()
            .and_then(|t| t.selection_start().ok().flatten())
            .map_or(text.len(), |n| {
                mention_query::byte_of_utf16(&text, n as usize)
            });
        at.min(text.len())
    };
    let refresh_suggestions = move || {
        let text = draft.get_untracked();
        let found = conv.get_untracked().and_then(|conv| {
            let (start, query) = mention_query::typed_at(&text, caret())?;
            let people = conn
                .chat()
                .with_untracked(|c| mention_query::suggestions(c, &conv, query));
            (!people.is_empty()).then_some((start, people))
        });
        if found.is_some() != suggest.with_untracked(Option::is_some) {
            chosen.set(0);
        }
        suggest.set(found);
    };
    // A person clicked in the list (drawn in the dialogs' module).
    let picked = RwSignal::new(None::<usize>);
    let pick = move |at: usize| {
        let Some((start, people)) = suggest.get_untracked() else {
            return;
        };
        let Some(person) = people.get(at) else {
            return;
        };
        let text = draft.get_untracked();
        let (next, caret_at) = mention_query::complete(&text, start, caret(), &person.handle);
        let units = mention_query::utf16_of_byte(&next, caret_at) as u32;
        draft.set(next.clone());
        suggest.set(None);
        if let Some(el) = textarea.get_untracked() {
            el.set_value(&next);
            let _ = el.set_selection_range(units, units);
            let _ = el.focus();
        }
    };
    let pending = Memo::new(move |_| conn.chat().with(|c| c.pending()));

    let Now(now) = expect_context::<Now>();
    // Why sending is impossible right now, if it is.
    let blocked = Memo::new(move |_| {
        let conv = conv.get();
        let Some(conv) = conv else {
            return Some("There is no conversation here.".to_owned());
        };
        let muted_until = conn
            .chat()
            .with(|c| c.thread_of(&conv).and_then(|t| t.room.muted_until));
        if let (Some(until), Conv::Room(room)) = (muted_until, &conv) {
            let t = now.get();
            if until > t && problem.with(Option::is_none) {
                return Some(format!(
                    "A moderator muted you in #{room}: you can read, but not write, until {}.",
                    when(until, t)
                ));
            }
        }
        problem.get().map(|(code, _)| match (&conv, code) {
            (Conv::Room(room), ErrorCode::NotMember) => {
                format!("Join #{room} to write here.")
            }
            (Conv::Room(room), ErrorCode::UnknownRoom) => format!("Room #{room} does not exist."),
            (Conv::Dm(user), ErrorCode::UnknownUser) => format!("There is no user “{user}”."),
            _ => "You cannot write in this conversation.".to_owned(),
        })
    });

    let submit = move || {
        if blocked.with_untracked(Option::is_some) {
            return;
        }
        let Some(conv) = conv.get_untracked() else {
            return;
        };
        let reply_to = ui.replying.get_untracked();
        match conn.send(conv, &draft.get_untracked(), reply_to) {
            Ok(()) => {
                draft.set(String::new());
                error.set(None);
                ui.replying.set(None);
            }
            Err(why) => error.set(Some(why.to_string())),
        }
    };
    Effect::new(move |_| {
        if let Some(at) = picked.get() {
            picked.set(None);
            pick(at);
        }
    });
    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        submit();
    };
    let on_keydown = move |event: KeyboardEvent| {
        if event.is_composing() {
            return;
        }
        let open = suggest.with_untracked(|s| s.as_ref().map_or(0, |(_, p)| p.len()));
        if open > 0 {
            match event.key().as_str() {
                "ArrowDown" => {
                    event.prevent_default();
                    chosen.update(|c| *c = (*c + 1) % open);
                    return;
                }
                "ArrowUp" => {
                    event.prevent_default();
                    chosen.update(|c| *c = (*c + open - 1) % open);
                    return;
                }
                "Enter" | "Tab" => {
                    event.prevent_default();
                    pick(chosen.get_untracked());
                    return;
                }
                "Escape" => {
                    event.prevent_default();
                    suggest.set(None);
                    return;
                }
                _ => {}
            }
        }
        match event.key().as_str() {
            "Enter" if !event.shift_key() => {
                event.prevent_default();
                submit();
            }
            "Escape" if ui.replying.with_untracked(Option::is_some) => {
                event.prevent_default();
                ui.replying.set(None);
            }
            // Up in an empty box: edit one's last message here.
            "ArrowUp" if draft.with_untracked(String::is_empty) => {
                let Some(conv) = conv.get_untracked() else {
                    return;
                };
                let last = conn.chat().with_untracked(|c| c.last_editable(&conv));
                let body = last.and_then(|seq| {
                    entries.with_untracked(|all| {
                        all.iter()
                            .find(|e| e.seq == Some(seq))
                            .map(|e| e.body.clone())
                    })
                });
                if let (Some(seq), Some(body)) = (last, body) {
                    event.prevent_default();
                    ui.edit(seq, body);
                }
            }
            _ => {}
        }
    };
    let on_input = move |_| {
        refresh_suggestions();
        let now = now_ms();
        if now - last_typing.get_value() >= TYPING_EVERY_MS && online.get_untracked() {
            if let Some(conv) = conv.get_untracked() {
                if blocked.with_untracked(Option::is_none) {
                    last_typing.set_value(now);
                    conn.request(ClientFrame::Typing { conv });
                }
            }
        }
    };
    let placeholder = move || {
        conv.get()
            .map(|c| {
                let label = conn.chat().with(|chat| chat.label_of(&c));
                format!("Write to {}…", title_of(&c, &label))
            })
            .unwrap_or_default()
    };

    view! {
        <form class="composer" on:submit=on_submit>
            {move || {
                replying
                    .get()
                    .map(|(sender, text)| {
                        view! {
                            <div class="replying" data-testid="replying">
                                <p>
                                    <span class="hint">"Replying to "</span>
                                    <strong>{sender}</strong>
                                    <span class="replying-text">{text}</span>
                                </p>
                                <button
                                    type="button"
                                    class="quiet"
                                    aria-label="Cancel reply"
                                    title="Cancel reply (Escape)"
                                    on:click=move |_| {
                                        ui.replying.set(None);
                                        crate::components::message_ui::focus_composer();
                                    }
                                >
                                    "×"
                                </button>
                            </div>
                        }
                    })
            }}
            <label for="message" class="visually-hidden">"Message"</label>
            <div class="composer-row">
                {move || {
                    suggest
                        .with(Option::is_some)
                        .then(|| {
                            view! {
                                <RoomDialogView
                                    which=RoomDialog::MentionList(suggest, chosen, picked)
                                    close=Callback::new(move |()| suggest.set(None))
                                />
                            }
                        })
                }}
                <textarea
                    id="message"
                    name="message"
                    rows="1"
                    autocomplete="off"
                    placeholder=placeholder
                    aria-describedby="composer-note"
                    aria-autocomplete="list"
                    aria-controls="mention-list"
                    aria-expanded=move || if suggest.with(Option::is_some) { "true" } else { "false" }
                    aria-activedescendant=move || {
                        suggest
                            .with(Option::is_some)
                            .then(|| format!("mention-option-{}", chosen.get()))
                    }
                    disabled=move || blocked.with(Option::is_some)
                    node_ref=textarea
                    bind:value=draft
                    on:keydown=on_keydown
                    on:input=on_input
                    on:blur=move |_| suggest.set(None)
                ></textarea>
                <button
                    type="submit"
                    class="primary"
                    disabled=move || {
                        blocked.with(Option::is_some) || draft.with(|d| d.trim().is_empty())
                    }
                >
                    "Send"
                </button>
            </div>
            <p id="composer-note" class="composer-note" aria-live="polite">
                {move || {
                    if let Some(reason) = blocked.get() {
                        reason
                    } else if !online.get() {
                        match pending.get() {
                            0 => "You are offline. Messages you write now are sent when the connection is back.".to_owned(),
                            1 => "You are offline. 1 message waits to be sent.".to_owned(),
                            n => format!("You are offline. {n} messages wait to be sent."),
                        }
                    } else {
                        String::new()
                    }
                }}
            </p>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
            </Show>
        </form>
    }
    .into_any()
}
