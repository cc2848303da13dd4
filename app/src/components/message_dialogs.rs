//! The two dialogs of the messages: confirming a deletion, and the edit
//! history of one's own message. Both are the page's own modal `<dialog>`
//! (focus kept inside, Escape closes), never `window.confirm`.

use leptos::prelude::*;

use crate::client::{Connection, Entry};
use crate::components::{message::when, message_ui::MessageUi, rich_text::RichText, shell::Now};
use crate::protocol::{clip, ChangeKind, ClientFrame};

/// A modal dialog, open while it is on the page; `on_close` runs when it
/// closes (a button, or Escape).
#[component]
pub fn Modal(
    #[prop(into)] label: String,
    on_close: Callback<()>,
    #[prop(optional, into)] class: String,
    children: Children,
) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    Effect::new(move |_| {
        if let Some(dialog) = dialog.get() {
            if !dialog.open() {
                let _ = dialog.show_modal();
            }
        }
    });
    view! {
        <dialog
            class=format!("modal {class}")
            aria-label=label
            node_ref=dialog
            on:close=move |_| on_close.run(())
        >
            {children()}
        </dialog>
    }
}

/// "Delete this message?" for the message `ui.deleting` names.
#[component]
pub fn DeleteDialog(entries: Memo<Vec<Entry>>) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let ui = expect_context::<MessageUi>();
    let target = Memo::new(move |_| {
        let seq = ui.deleting.get()?;
        entries.with(|e| e.iter().find(|e| e.seq == Some(seq)).cloned())
    });
    let close = Callback::new(move |()| {
        if ui.deleting.get_untracked().is_some() {
            ui.deleting.set(None);
            ui.close_popup(true);
        }
    });
    let delete = move |_| {
        if let (Some(conv), Some(seq)) = (ui.conv.get_untracked(), ui.deleting.get_untracked()) {
            let _ = conn.change(conv, ChangeKind::Delete, seq, "");
        }
        close.run(());
    };
    view! {
        {move || {
            target
                .get()
                .map(|entry| {
                    view! {
                        <Modal label="Delete message" on_close=close>
                            <h2>"Delete message"</h2>
                            <p>
                                "Delete this message for everyone? It will show as deleted, and this cannot be undone."
                            </p>
                            <blockquote class="preview">{clip(&entry.body, 300).to_owned()}</blockquote>
                            <div class="modal-buttons">
                                <button type="button" class="quiet" on:click=move |_| close.run(())>
                                    "Cancel"
                                </button>
                                <button type="button" class="danger" on:click=delete>
                                    "Delete"
                                </button>
                            </div>
                        </Modal>
                    }
                })
        }}
    }
}

/// The versions of the message `ui.history` names, oldest first.
#[component]
pub fn HistoryDialog() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let ui = expect_context::<MessageUi>();
    let Now(now) = expect_context::<Now>();
    let chat = conn.chat();
    // Ask the server each time it opens.
    Effect::new(move |_| {
        if let (Some(conv), Some(seq)) = (ui.conv.get_untracked(), ui.history.get()) {
            conn.request(ClientFrame::EditHistory { conv, seq });
        }
    });
    let versions = Memo::new(move |_| {
        let seq = ui.history.get()?;
        let conv = ui.conv.get()?;
        Some(chat.with(|c| c.versions(&conv, seq).map(<[_]>::to_vec)))
    });
    let close = Callback::new(move |()| {
        if ui.history.get_untracked().is_some() {
            ui.history.set(None);
            ui.close_popup(true);
        }
    });
    view! {
        {move || {
            ui.history
                .get()
                .map(|_| {
                    view! {
                        <Modal label="Edit history" on_close=close class="history">
                            <h2>"Edit history"</h2>
                            {move || match versions.get().flatten() {
                                None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                                Some(versions) => {
                                    let last = versions.len().saturating_sub(1);
                                    view! {
                                        <ol class="versions" aria-label="Versions, oldest first">
                                            {versions
                                                .into_iter()
                                                .enumerate()
                                                .map(|(i, v)| {
                                                    let label = if i == last {
                                                        format!("Current · {}", when(v.ts, now.get_untracked()))
                                                    } else {
                                                        when(v.ts, now.get_untracked())
                                                    };
                                                    view! {
                                                        <li class="version" class:current=i == last>
                                                            <p class="hint">{label}</p>
                                                            <RichText body=v.body/>
                                                        </li>
                                                    }
                                                })
                                                .collect_view()}
                                        </ol>
                                    }
                                        .into_any()
                                }
                            }}
                            <div class="modal-buttons">
                                <button type="button" class="quiet" on:click=move |_| close.run(())>
                                    "Close"
                                </button>
                            </div>
                        </Modal>
                    }
                })
        }}
    }
}
