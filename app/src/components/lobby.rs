use leptos::{ev::SubmitEvent, prelude::*};

use crate::client::{clock, Connection, Delivery, Entry};

/// The lobby: its messages, oldest first, and a box to write in.
#[component]
pub fn Lobby() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let chat = conn.chat();
    let entries = Memo::new(move |_| chat.with(|c| c.entries()));
    let online = Memo::new(move |_| chat.with(|c| c.online().count()));
    let notice = Memo::new(move |_| chat.with(|c| c.notice().map(str::to_owned)));

    let list = NodeRef::<leptos::html::Ol>::new();
    // Keep the newest message in view.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        entries.track();
        if let Some(list) = list.get() {
            list.set_scroll_top(list.scroll_height());
        }
    });

    view! {
        <section class="card lobby" aria-labelledby="lobby-title">
            <header class="lobby-header">
                <h1 id="lobby-title">"# lobby"</h1>
                <span class="hint">
                    {move || match online.get() {
                        0 => String::new(),
                        1 => "1 online".to_owned(),
                        n => format!("{n} online"),
                    }}
                </span>
            </header>
            <Show when=move || notice.with(Option::is_some)>
                <p class="error" role="alert">{move || notice.get().unwrap_or_default()}</p>
            </Show>
            <ol class="messages" node_ref=list data-testid="lobby-messages" aria-live="polite">
                <Show when=move || entries.with(Vec::is_empty)>
                    <li class="empty">"No messages yet. Say hello!"</li>
                </Show>
                <For
                    each=move || entries.get()
                    key=|entry| (entry.key.clone(), entry.delivery.clone())
                    children=|entry| view! { <MessageRow entry/> }
                />
            </ol>
            <Composer/>
        </section>
    }
}

/// One message. The body is rendered as text, never as HTML.
#[component]
fn MessageRow(entry: Entry) -> impl IntoView {
    let status = entry.delivery.as_str();
    let note = match &entry.delivery {
        Delivery::Sent => None,
        Delivery::Sending => Some("Sending…".to_owned()),
        Delivery::Failed(reason) => Some(format!("Not sent: {reason}")),
    };
    let time = entry.ts.map(clock);

    view! {
        <li class="message" class:mine=entry.mine data-testid="message" data-status=status>
            <div class="message-meta">
                <span class="sender">{entry.sender}</span>
                {time.map(|t| view! { <time>{t}</time> })}
            </div>
            <p class="body">{entry.body}</p>
            {note.map(|n| view! { <p class="delivery">{n}</p> })}
        </li>
    }
}

/// The box to write in. Sending never waits: the message shows at once
/// and is delivered when the connection allows.
#[component]
fn Composer() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let draft = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);

    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        match conn.send(&draft.get_untracked()) {
            Ok(()) => {
                draft.set(String::new());
                error.set(None);
            }
            Err(why) => error.set(Some(why.to_string())),
        }
    };

    view! {
        <form class="composer" on:submit=on_submit>
            <label for="message" class="visually-hidden">"Message"</label>
            <input
                id="message"
                name="message"
                type="text"
                autocomplete="off"
                placeholder="Write to the lobby…"
                bind:value=draft
            />
            <button
                type="submit"
                class="primary"
                disabled=move || draft.with(|d| d.trim().is_empty())
            >
                "Send"
            </button>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
            </Show>
        </form>
    }
}
