//! The actions on a message: a bar that floats at its top right on hover
//! or keyboard focus (React, Reply, Edit, "⋯"), the "⋯" menu with every
//! action (the only one shown on narrow screens, always visible), and the
//! emoji picker.

use leptos::{
    ev::{FocusEvent, KeyboardEvent, MouseEvent},
    prelude::*,
    wasm_bindgen::JsCast,
    web_sys::{HtmlElement, Node},
};

use crate::client::{Connection, Entry};
use crate::components::{
    icons::{icon, Icon},
    message_ui::{MessageUi, Popup},
    room_dialogs::{RoomDialog, RoomDialogView},
};
use crate::protocol::{valid_emoji, ChangeKind, MAX_REACTIONS};

/// The picker's ready choices.
pub const COMMON_EMOJI: [&str; 8] = [
    "\u{1F44D}",
    "\u{2764}\u{FE0F}",
    "\u{1F602}",
    "\u{1F389}",
    "\u{1F62E}",
    "\u{1F622}",
    "\u{1F64F}",
    "\u{1F440}",
];

/// The button an event happened on.
pub fn button_of(event: &MouseEvent) -> Option<HtmlElement> {
    event.current_target()?.dyn_into::<HtmlElement>().ok()
}

/// Can one more kind of emoji go under this message.
pub fn room_for_more(entry: &Entry) -> bool {
    entry.reactions.len() < MAX_REACTIONS
}

/// Toggle our `emoji` reaction on the message at `seq`.
pub fn toggle_reaction(conn: Connection, ui: MessageUi, entry: &Entry, seq: i64, emoji: &str) {
    let Some(conv) = ui.conv.get_untracked() else {
        return;
    };
    let mine = entry.reactions.iter().any(|r| r.emoji == emoji && r.me);
    let kind = if mine {
        ChangeKind::Unreact
    } else {
        ChangeKind::React
    };
    // Errors (not an emoji) are checked before; a refusal shows quietly.
    let _ = conn.change(conv, kind, seq, emoji);
}

/// The button that opens the emoji picker for the message at `seq`.
#[component]
pub fn AddReaction(seq: i64, class: &'static str) -> impl IntoView {
    let ui = expect_context::<MessageUi>();
    view! {
        <button
            type="button"
            class=class
            aria-label="Add reaction"
            title="Add reaction"
            on:click=move |ev| ui.toggle(seq, Popup::Picker, button_of(&ev))
        >
            {icon(Icon::React)}
        </button>
    }
}

#[component]
pub fn Actions(entry: Memo<Entry>, seq: i64) -> impl IntoView {
    let ui = expect_context::<MessageUi>();
    let mine = entry.with_untracked(|e| e.mine);
    let can_react = Memo::new(move |_| entry.with(room_for_more));
    let menu_open = Memo::new(move |_| ui.is_open(seq, Popup::Menu));
    let edit = move |_| ui.edit(seq, entry.with_untracked(|e| e.body.clone()));

    view! {
        <div class="actions" role="group" aria-label="Message actions">
            <Show when=move || can_react.get()>
                <AddReaction seq class="act quick" />
            </Show>
            <button
                type="button"
                class="act quick"
                aria-label="Reply"
                title="Reply"
                on:click=move |_| ui.reply(seq)
            >
                {icon(Icon::Reply)}
            </button>
            {mine
                .then(|| {
                    view! {
                        <button
                            type="button"
                            class="act quick"
                            aria-label="Edit"
                            title="Edit"
                            on:click=edit
                        >
                            {icon(Icon::Edit)}
                        </button>
                    }
                })}
            <button
                type="button"
                class="act more"
                aria-label="More actions"
                title="More actions"
                aria-haspopup="menu"
                aria-expanded=move || if menu_open.get() { "true" } else { "false" }
                on:click=move |ev| ui.toggle(seq, Popup::Menu, button_of(&ev))
            >
                {icon(Icon::More)}
            </button>
        </div>
        // The popups come from the dialogs' module (drawn after a click).
        {move || {
            let which = match ui.popup.get() {
                Some((s, Popup::Menu, up)) if s == seq => RoomDialog::Menu(entry, seq, up),
                Some((s, Popup::Picker, up)) if s == seq => RoomDialog::Picker(entry, seq, up),
                _ => return ().into_any(),
            };
            view! { <RoomDialogView which close=Callback::new(|()| {})/> }.into_any()
        }}
    }
}

/// Close the `popup` on the message at `seq` when the focus leaves the
/// message for good. Not once another popup took its place: the menu's
/// "Add reaction" replaces the menu by the picker, and the focused item's
/// removal sends a focusout that must not close the picker.
fn close_on_focus_out(ui: MessageUi, seq: i64, popup: Popup) -> impl Fn(FocusEvent) {
    move |event: FocusEvent| {
        if !ui.is_open_untracked(seq, popup) {
            return;
        }
        let Some(message) = event
            .current_target()
            .and_then(|t| t.dyn_into::<HtmlElement>().ok())
            .and_then(|el| el.closest(".message").ok().flatten())
        else {
            return;
        };
        let inside = event
            .related_target()
            .and_then(|t| t.dyn_into::<Node>().ok())
            .is_some_and(|node| message.contains(Some(&node)));
        if !inside {
            ui.close_popup(false);
        }
    }
}

/// Every action on the message, as a menu: arrows move, Escape closes.
#[component]
pub(crate) fn Menu(entry: Memo<Entry>, seq: i64, up: bool) -> impl IntoView {
    let ui = expect_context::<MessageUi>();
    let menu = NodeRef::<leptos::html::Div>::new();
    let (mine, edited) = entry.with_untracked(|e| (e.mine, e.edited_at.is_some()));
    let can_react = entry.with_untracked(room_for_more);
    // The first item takes the focus when the menu opens.
    Effect::new(move |_| {
        if let Some(first) = menu.get().and_then(|m| items(&m).into_iter().next()) {
            let _ = first.focus();
        }
    });
    let on_keydown = move |event: KeyboardEvent| {
        let Some(menu) = menu.get_untracked() else {
            return;
        };
        let items = items(&menu);
        let active = document().active_element();
        let at = items
            .iter()
            .position(|i| active.as_ref().is_some_and(|a| a == i.unchecked_ref()));
        let last = items.len().saturating_sub(1);
        let next = match event.key().as_str() {
            "ArrowDown" => Some(at.map_or(0, |i| if i >= last { 0 } else { i + 1 })),
            "ArrowUp" => Some(at.map_or(last, |i| if i == 0 { last } else { i - 1 })),
            "Home" => Some(0),
            "End" => Some(last),
            "Escape" => {
                event.stop_propagation();
                ui.close_popup(true);
                None
            }
            _ => return,
        };
        event.prevent_default();
        if let Some(item) = next.and_then(|n| items.get(n)) {
            let _ = item.focus();
        }
    };
    let item = move |label: &'static str, which: Icon, danger: bool, act: Box<dyn Fn()>| {
        view! {
            <button
                type="button"
                role="menuitem"
                tabindex="-1"
                class="menu-item"
                class:danger=danger
                on:click=move |_| act()
            >
                {icon(which)}
                <span>{label}</span>
            </button>
        }
    };
    let reply = item("Reply", Icon::Reply, false, Box::new(move || ui.reply(seq)));
    let react = can_react.then(|| {
        item(
            "Add reaction",
            Icon::React,
            false,
            Box::new(move || {
                // The picker opens in the menu's place.
                ui.popup.set(Some((seq, Popup::Picker, up)));
            }),
        )
    });
    let edit = mine.then(|| {
        item(
            "Edit",
            Icon::Edit,
            false,
            Box::new(move || ui.edit(seq, entry.with_untracked(|e| e.body.clone()))),
        )
    });
    let history = (mine && edited).then(|| {
        item(
            "Edit history",
            Icon::History,
            false,
            Box::new(move || {
                ui.close_popup(false);
                ui.history.set(Some(seq));
            }),
        )
    });
    let delete = mine.then(|| {
        item(
            "Delete",
            Icon::Delete,
            true,
            Box::new(move || {
                ui.close_popup(false);
                ui.deleting.set(Some(seq));
            }),
        )
    });
    view! {
        <div
            class="popup menu"
            class:up=up
            role="menu"
            aria-label="Message actions"
            node_ref=menu
            on:keydown=on_keydown
            on:focusout=close_on_focus_out(ui, seq, Popup::Menu)
        >
            {reply}
            {react}
            {edit}
            {history}
            {delete}
        </div>
    }
}

/// The menu's items, in order.
fn items(menu: &HtmlElement) -> Vec<HtmlElement> {
    let mut out = Vec::new();
    let mut child = menu.first_element_child();
    while let Some(el) = child {
        child = el.next_element_sibling();
        if el.get_attribute("role").as_deref() == Some("menuitem") {
            out.extend(el.dyn_into::<HtmlElement>().ok());
        }
    }
    out
}

/// A few common emoji, and a field for any other.
#[component]
pub(crate) fn Picker(entry: Memo<Entry>, seq: i64, up: bool) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let ui = expect_context::<MessageUi>();
    let panel = NodeRef::<leptos::html::Div>::new();
    let custom = RwSignal::new(String::new());
    let error = RwSignal::new(None::<&'static str>);
    Effect::new(move |_| {
        if let Some(first) = panel
            .get()
            .and_then(|p| p.query_selector("button").ok().flatten())
            .and_then(|b| b.dyn_into::<HtmlElement>().ok())
        {
            let _ = first.focus();
        }
    });
    let choose = move |emoji: &str| {
        entry.with_untracked(|e| {
            let known = e.reactions.iter().any(|r| r.emoji == emoji);
            if known || room_for_more(e) {
                toggle_reaction(conn, ui, e, seq, emoji);
            }
        });
        ui.close_popup(true);
    };
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let emoji = custom.get_untracked().trim().to_owned();
        if valid_emoji(&emoji) {
            choose(&emoji);
        } else {
            error.set(Some("Type one emoji."));
        }
    };
    let on_keydown = move |event: KeyboardEvent| {
        if event.key() == "Escape" {
            event.stop_propagation();
            event.prevent_default();
            ui.close_popup(true);
        }
    };
    let field = format!("emoji-{seq}");
    view! {
        <div
            class="popup picker"
            class:up=up
            role="dialog"
            aria-label="Add reaction"
            node_ref=panel
            on:keydown=on_keydown
            on:focusout=close_on_focus_out(ui, seq, Popup::Picker)
        >
            <div class="picker-grid">
                {COMMON_EMOJI
                    .into_iter()
                    .map(|emoji| {
                        view! {
                            <button type="button" class="pick" on:click=move |_| choose(emoji)>
                                {emoji}
                            </button>
                        }
                    })
                    .collect_view()}
            </div>
            <form class="picker-custom" on:submit=on_submit>
                <label class="visually-hidden" for=field.clone()>
                    "Any emoji"
                </label>
                <input
                    id=field
                    type="text"
                    placeholder="Any emoji"
                    autocomplete="off"
                    maxlength="16"
                    aria-invalid=move || if error.with(Option::is_some) { "true" } else { "false" }
                    bind:value=custom
                    on:input=move |_| error.set(None)
                />
                <button type="submit" class="small">
                    "Add"
                </button>
            </form>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert">
                    {move || error.get().unwrap_or_default()}
                </p>
            </Show>
        </div>
    }
}
