//! One message of the timeline: who and when, the quote it answers, its
//! text (formatted, or an editor, or a tombstone), its reactions, and the
//! actions on it.

use leptos::{ev::KeyboardEvent, prelude::*};

use crate::client::{clock, day_label, markdown_loader, Connection, Delivery, Entry};
use crate::components::{
    message_actions::Actions,
    message_ui::{focus_composer, MessageUi},
    reactions::Reactions,
    rich_text::RichText,
    shell::Now,
};
use crate::protocol::{clip, ChangeKind, Quote};

/// Characters of the original a reply's quote shows.
const QUOTE_SHOWN: usize = 120;

/// "Today at 14:32", "3 March 2026 at 09:05".
pub fn when(ts: i64, now: i64) -> String {
    format!("{} at {}", day_label(ts, now), clock(ts))
}

/// One message; `entry` follows its current state.
#[component]
pub fn MessageRow(entry: Memo<Entry>, head: bool) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let ui = expect_context::<MessageUi>();
    let first = entry.get_untracked();
    let seq = first.seq;
    let mine = first.mine;
    let time = first.ts.map(clock);
    if first.system {
        // "bob was muted by alice for 10 minutes": a line of the room's
        // own, with no actions.
        return view! {
            <li class="system-line" data-testid="system-line" data-seq=seq>
                <span class="system-text">{move || entry.with(|e| e.body.clone())}</span>
                {time.map(|t| view! { <time>{t}</time> })}
            </li>
        }
        .into_any();
    }

    let deleted = Memo::new(move |_| entry.with(|e| e.deleted));
    let status = Memo::new(move |_| entry.with(|e| e.delivery.as_str()));
    let editing = Memo::new(move |_| seq.is_some() && ui.editing.get() == seq);
    let popup_open = Memo::new(move |_| seq.is_some() && ui.popup.get().map(|p| p.0) == seq);
    let reply = Memo::new(move |_| entry.with(|e| e.reply.clone()));
    let failed = Memo::new(move |_| match entry.with(|e| e.delivery.clone()) {
        Delivery::Failed(reason) => Some(reason),
        _ => None,
    });
    let pending = Memo::new(move |_| entry.with(|e| e.pending));
    let client_id = first.key.strip_prefix('c').map(str::to_owned);
    // The handle on hover tells apart two people with one display name.
    let handle = (first.display != first.sender).then(|| format!("@{}", first.sender));

    let content = move || {
        if editing.get() {
            return view! { <Editor entry/> }.into_any();
        }
        if deleted.get() {
            let text = if entry.with(|e| e.moderated) {
                "Deleted by a moderator"
            } else {
                "This message was deleted"
            };
            return view! { <p class="tombstone">{text}</p> }.into_any();
        }
        view! { <Text entry/> }.into_any()
    };

    view! {
        <li
            class="message"
            class:mine=mine
            class:head=head
            class:deleted=deleted
            class:editing=editing
            class:popup-open=popup_open
            class:flash=move || seq.is_some() && ui.flash.get() == seq
            class:mentioned=move || entry.with(|e| e.mentions_me)
            data-testid="message"
            data-status=status
            data-seq=seq
        >
            <div class="message-meta" class:visually-hidden=!head>
                // The display name; the handle on hover, so that two people
                // with one display name are told apart.
                <span class="sender" title=handle>
                    {move || entry.with(|e| e.display.clone())}
                </span>
                {time.clone().map(|t| view! { <time>{t}</time> })}
            </div>
            <div class="bubble-row">
                <div class="bubble" title=time>
                    {move || reply.get().map(|quote| view! { <QuoteButton quote/> })}
                    {content}
                </div>
                {seq
                    .map(|seq| {
                        view! {
                            <Show when=move || !deleted.get() && !editing.get()>
                                <Actions entry seq/>
                            </Show>
                        }
                    })}
            </div>
            {seq
                .map(|seq| {
                    view! {
                        <Show when=move || !deleted.get()>
                            <Reactions entry seq/>
                        </Show>
                    }
                })}
            {move || match (status.get(), pending.get(), failed.get()) {
                (_, _, Some(reason)) => {
                    let client_id = client_id.clone();
                    Some(
                        view! {
                            <p class="delivery failed" role="alert">
                                {format!("Not sent: {reason}")}
                                {client_id
                                    .map(|id| {
                                        view! {
                                            <button
                                                type="button"
                                                class="link-button"
                                                on:click=move |_| conn.discard(&id)
                                            >
                                                "Discard"
                                            </button>
                                        }
                                    })}
                            </p>
                        }
                            .into_any(),
                    )
                }
                ("sending", _, _) => Some(view! { <p class="delivery">"Sending…"</p> }.into_any()),
                (_, Some(ChangeKind::Edit), _) => {
                    Some(view! { <p class="delivery">"Saving…"</p> }.into_any())
                }
                (_, Some(ChangeKind::Delete), _) => {
                    Some(view! { <p class="delivery">"Deleting…"</p> }.into_any())
                }
                _ => None,
            }}
        </li>
    }
    .into_any()
}

/// The formatted text, with "(edited)" after it.
#[component]
fn Text(entry: Memo<Entry>) -> impl IntoView {
    let Now(now) = expect_context::<Now>();
    let body = Memo::new(move |_| entry.with(|e| (e.body.clone(), e.mentions.clone())));
    let edited = Memo::new(move |_| entry.with(|e| e.edited_at));
    view! {
        {move || {
            let (body, mentions) = body.get();
            view! { <RichText body mentions/> }
        }}
        {move || {
            edited
                .get()
                .map(|ts| {
                    let label = format!("Edited {}", when(ts, now.get_untracked()));
                    let spoken = label.clone();
                    view! {
                        <span class="edited" tabindex="0" title=label.clone() data-when=label>
                            <span aria-hidden="true">"(edited)"</span>
                            <span class="visually-hidden">{spoken}</span>
                        </span>
                    }
                })
        }}
    }
}

/// What a quote of a message shows (a reply's quote, the composer's
/// "Replying to"): its start on one line without the Markdown (`**v2.4**`
/// reads v2.4) once the parser is here, as typed until then (tracked: a
/// view is drawn again when it comes).
pub fn quote_text(body: &str, deleted: bool) -> String {
    if deleted {
        return "This message was deleted".to_owned();
    }
    clip(&markdown_loader::one_line(body), QUOTE_SHOWN).to_owned()
}

/// The quote of the message a reply answers; a click shows the original.
/// Its name is its text: "Reply to Mei Chen: Morning! v2.4 is on staging".
#[component]
fn QuoteButton(quote: Quote) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let ui = expect_context::<MessageUi>();
    let seq = quote.seq;
    let jump = move |_| {
        if let Some(conv) = ui.conv.get_untracked() {
            conn.seek(&conv, seq);
        }
    };
    let (body, deleted) = (quote.body, quote.deleted);
    let text = move || quote_text(&body, deleted);
    view! {
        <button
            type="button"
            class="quote"
            class:deleted=quote.deleted
            title="Show the original message"
            on:click=jump
        >
            <span class="visually-hidden">"Reply to "</span>
            <span class="quote-sender">{quote.sender}</span>
            <span class="visually-hidden">": "</span>
            <span class="quote-body">{text}</span>
        </button>
    }
}

/// The message as an editor, in place: Enter saves, Escape cancels,
/// Shift+Enter starts a new line.
#[component]
fn Editor(entry: Memo<Entry>) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let ui = expect_context::<MessageUi>();
    let area = NodeRef::<leptos::html::Textarea>::new();
    // Focus it with the caret at the end, once it is on the page.
    Effect::new(move |_| {
        if let Some(area) = area.get() {
            let end = area.value().len() as u32;
            let _ = area.focus();
            let _ = area.set_selection_range(end, end);
        }
    });
    let cancel = move || {
        ui.editing.set(None);
        ui.edit_error.set(None);
        focus_composer();
    };
    let save = move || {
        let (Some(conv), Some(seq)) = (ui.conv.get_untracked(), entry.with_untracked(|e| e.seq))
        else {
            return;
        };
        let draft = ui.edit_draft.get_untracked();
        if draft.trim() == entry.with_untracked(|e| e.body.trim().to_owned()) {
            cancel();
            return;
        }
        match conn.change(conv, ChangeKind::Edit, seq, &draft) {
            Ok(()) => cancel(),
            Err(why) => ui.edit_error.set(Some(why.to_string())),
        }
    };
    let on_keydown = move |event: KeyboardEvent| {
        if event.is_composing() {
            return;
        }
        match event.key().as_str() {
            "Enter" if !event.shift_key() => {
                event.prevent_default();
                save();
            }
            "Escape" => {
                event.prevent_default();
                event.stop_propagation();
                cancel();
            }
            _ => {}
        }
    };
    view! {
        <div class="editor">
            <textarea
                node_ref=area
                aria-label="Edit message"
                aria-describedby="editor-hint"
                rows="2"
                bind:value=ui.edit_draft
                on:keydown=on_keydown
            ></textarea>
            <p class="editor-hint" id="editor-hint">
                "Escape to "
                <button type="button" class="link-button" on:click=move |_| cancel()>
                    "cancel"
                </button>
                " · Enter to "
                <button type="button" class="link-button" on:click=move |_| save()>
                    "save"
                </button>
            </p>
            <Show when=move || ui.edit_error.with(Option::is_some)>
                <p class="error" role="alert">{move || ui.edit_error.get().unwrap_or_default()}</p>
            </Show>
        </div>
    }
}
