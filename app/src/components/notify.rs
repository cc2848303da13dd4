//! "Notifications" for a conversation: what the person is told of there
//! (stored on the server, so it follows them to every device), and the
//! browser's permission, asked for only from here. Drawn after a click, in
//! the dialogs' module (`room_dialogs.rs`).

use leptos::prelude::*;

use crate::client::{notifications, Connection};
use crate::components::{message_dialogs::Modal, sidebar::title_of};
use crate::protocol::{ClientFrame, Conv, NotifyLevel};

const LEVELS: [(NotifyLevel, &str, &str); 3] = [
    (NotifyLevel::All, "All messages", "every new message"),
    (
        NotifyLevel::Mentions,
        "Mentions and direct messages",
        "when someone writes @you or @room, and every direct message",
    ),
    (
        NotifyLevel::Nothing,
        "Nothing",
        "no notifications from here",
    ),
];

#[component]
pub fn NotifyDialog(conv: Conv, close: Callback<()>) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let chat = conn.chat();
    let key = conv.clone();
    let level =
        Memo::new(move |_| chat.with(|c| c.thread_of(&key).map(|t| t.notify).unwrap_or_default()));
    let label = chat.with_untracked(|c| title_of(&conv, &c.label_of(&conv)));
    let permission = RwSignal::new(notifications::permission());
    let heading = format!("Notifications for {label}");
    view! {
        <Modal label="Notifications" on_close=close class="notify-dialog">
            <h2>{heading}</h2>
            <fieldset class="notify-levels">
                <legend>"Notify me about"</legend>
                {LEVELS
                    .into_iter()
                    .map(|(choice, name, hint)| {
                        let conv = conv.clone();
                        view! {
                            <label class="notify-level">
                                <input
                                    type="radio"
                                    name="notify-level"
                                    prop:checked=move || level.get() == choice
                                    on:change=move |_| {
                                        conn.request(ClientFrame::Notify {
                                            conv: conv.clone(),
                                            level: choice,
                                        })
                                    }
                                />
                                <span>
                                    <strong>{name}</strong>
                                    <span class="hint">{hint}</span>
                                </span>
                            </label>
                        }
                    })
                    .collect_view()}
            </fieldset>
            <p class="hint">
                "This follows you to every device. Notifications show only while Parley is in the background."
            </p>
            <div class="notify-permission" role="status">
                {move || match permission.get() {
                    "granted" => view! { <p>"Browser notifications are on."</p> }.into_any(),
                    "denied" => view! {
                        <p>"This browser blocks notifications from Parley. Allow them in the site settings."</p>
                    }
                    .into_any(),
                    "unsupported" => view! { <p>"This browser cannot show notifications."</p> }.into_any(),
                    _ => view! {
                        <button
                            type="button"
                            class="primary"
                            on:click=move |_| notifications::ask(move |answer| permission.set(answer))
                        >
                            "Turn on browser notifications"
                        </button>
                    }
                    .into_any(),
                }}
            </div>
            <div class="modal-buttons">
                <button type="button" class="quiet" on:click=move |_| close.run(())>
                    "Done"
                </button>
            </div>
        </Modal>
    }
}
