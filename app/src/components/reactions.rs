//! The reactions under a message: one chip per emoji with its count, ours
//! highlighted (`aria-pressed`); a click toggles ours, and hovering lists
//! who reacted.

use leptos::prelude::*;

use crate::client::{Connection, Entry};
use crate::components::{
    message_actions::{room_for_more, toggle_reaction, AddReaction},
    message_ui::MessageUi,
};
use crate::protocol::Reaction;

/// "ann, ben and you reacted with 👍"
pub fn who_reacted(reaction: &Reaction, me: Option<&str>) -> String {
    let names: Vec<&str> = reaction
        .users
        .iter()
        .map(|u| if Some(u.as_str()) == me { "you" } else { u })
        .collect();
    let list = match names.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    format!("{list} reacted with {}", reaction.emoji)
}

#[component]
pub fn Reactions(entry: Memo<Entry>, seq: i64) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let ui = expect_context::<MessageUi>();
    let chat = conn.chat();
    let me = Memo::new(move |_| chat.with(|c| c.user().map(str::to_owned)));
    let reactions = Memo::new(move |_| entry.with(|e| e.reactions.clone()));
    let can_add = Memo::new(move |_| entry.with(room_for_more));

    view! {
        <Show when=move || reactions.with(|r| !r.is_empty())>
            <div class="reactions" role="group" aria-label="Reactions">
                <For
                    each=move || reactions.get()
                    key=|r| format!("{}|{}|{}", r.emoji, r.me, r.users.join(","))
                    children=move |reaction| {
                        let emoji = reaction.emoji.clone();
                        let title = who_reacted(&reaction, me.get_untracked().as_deref());
                        let pressed = if reaction.me { "true" } else { "false" };
                        view! {
                            <button
                                type="button"
                                class="chip"
                                aria-pressed=pressed
                                title=title
                                on:click=move |_| {
                                    entry
                                        .with_untracked(|e| {
                                            toggle_reaction(conn, ui, e, seq, &emoji)
                                        })
                                }
                            >
                                <span class="chip-emoji">{reaction.emoji.clone()}</span>
                                <span class="chip-count">{reaction.users.len()}</span>
                            </button>
                        }
                    }
                />
                <Show when=move || can_add.get()>
                    <AddReaction seq class="chip add" />
                </Show>
            </div>
        </Show>
    }
}
