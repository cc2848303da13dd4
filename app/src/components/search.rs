//! The search dialog: words, phrases and filters over every conversation
//! you are in, results with their matches marked, and a click that opens
//! the conversation at the message with the history around it. Drawn only
//! after a click, in the dialogs' module (`room_dialogs.rs`).

use leptos::prelude::*;
use leptos_router::{hooks::use_navigate, NavigateOptions};

use crate::client::{clock, day_label, Connection};
use crate::components::{
    message_dialogs::Modal,
    shell::Now,
    sidebar::{href_of, title_of},
};
use crate::protocol::{SearchHit, SearchOrder};

/// Milliseconds of quiet typing before a search goes out by itself.
const TYPING_PAUSE_MS: u64 = 400;

/// `excerpt` cut at its marks: (text, marked) pieces.
fn pieces(hit: &SearchHit) -> Vec<(String, bool)> {
    let text = hit.excerpt.as_str();
    let mut out = Vec::with_capacity(hit.marks.len() * 2 + 1);
    let mut at = 0;
    for &(start, end) in &hit.marks {
        let (start, end) = (start as usize, end as usize);
        let (Some(before), Some(marked)) = (text.get(at..start), text.get(start..end)) else {
            continue;
        };
        out.push((before.to_owned(), false));
        out.push((marked.to_owned(), true));
        at = end;
    }
    out.push((text.get(at..).unwrap_or_default().to_owned(), false));
    out.retain(|(piece, _)| !piece.is_empty());
    out
}

#[component]
pub fn SearchDialog(close: Callback<()>) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let Now(now) = expect_context::<Now>();
    let chat = conn.chat();
    let navigate = use_navigate();
    let text = RwSignal::new(chat.with_untracked(|c| c.search().query.clone()));
    let order = RwSignal::new(chat.with_untracked(|c| c.search().order));
    let state = Memo::new(move |_| chat.with(|c| c.search().clone()));
    let run = move |more: bool| {
        conn.search(&text.get_untracked(), order.get_untracked(), more);
    };
    // Typing searches by itself after a pause (Enter at once).
    let pending = StoredValue::new(0u32);
    let on_input = move |ev| {
        text.set(event_target_value(&ev));
        let ticket = pending.get_value().wrapping_add(1);
        pending.set_value(ticket);
        set_timeout(
            move || {
                if pending.try_get_value() == Some(ticket)
                    && text
                        .try_get_untracked()
                        .is_some_and(|t| chat.with_untracked(|c| c.search().query != t.trim()))
                {
                    run(false);
                }
            },
            std::time::Duration::from_millis(TYPING_PAUSE_MS),
        );
    };
    let status = move || {
        let s = state.get();
        if let Some(error) = s.error {
            return error;
        }
        match (s.loading && !s.answered, s.answered, s.hits.len()) {
            (true, _, _) => "Searching…".to_owned(),
            (_, false, _) => String::new(),
            (_, true, 0) => format!("No messages match “{}”.", s.query),
            (_, true, 1) => "1 message".to_owned(),
            (_, true, n) if s.cursor.is_some() => format!("{n}+ messages"),
            (_, true, n) => format!("{n} messages"),
        }
    };
    let open = move |hit: SearchHit| {
        close.run(());
        navigate(&href_of(&hit.conv), NavigateOptions::default());
        conn.jump(&hit.conv, hit.seq);
    };
    let open = StoredValue::new(open);
    view! {
        <Modal label="Search messages" on_close=close class="search-dialog">
            <form
                role="search"
                class="search-form"
                on:submit=move |ev| {
                    ev.prevent_default();
                    run(false);
                }
            >
                <label for="search-input" class="visually-hidden">"Search messages"</label>
                <input
                    id="search-input"
                    type="search"
                    autocomplete="off"
                    autofocus
                    placeholder="Search messages"
                    prop:value=move || text.get()
                    on:input=on_input
                    on:keydown=move |ev| {
                        // Escape closes, rather than only emptying the box.
                        if ev.key() == "Escape" {
                            ev.prevent_default();
                            close.run(());
                        }
                    }
                    data-testid="search-input"
                />
                <label for="search-order" class="visually-hidden">"Order"</label>
                <select
                    id="search-order"
                    on:change=move |ev| {
                        order.set(if event_target_value(&ev) == "relevance" {
                            SearchOrder::Relevance
                        } else {
                            SearchOrder::Newest
                        });
                        run(false);
                    }
                >
                    <option value="newest" selected=move || order.get() == SearchOrder::Newest>
                        "Newest"
                    </option>
                    <option value="relevance" selected=move || order.get() == SearchOrder::Relevance>
                        "Best match"
                    </option>
                </select>
            </form>
            <p class="hint search-help">
                "Words and "<code>"\"exact phrases\""</code>", in any language. Narrow it with "
                <code>"from:ming"</code>" "<code>"in:#dev"</code>" "<code>"in:@ming"</code>" "
                <code>"after:2026-11-30"</code>" "<code>"before:2026-12-01"</code>"."
            </p>
            <p class="search-status" role="status" aria-live="polite" data-testid="search-status">
                {status}
            </p>
            <ol class="search-results" data-testid="search-results">
                <For
                    each=move || state.get().hits
                    key=|hit| hit.id
                    children=move |hit| {
                        let label = chat.with_untracked(|c| title_of(&hit.conv, &c.label_of(&hit.conv)));
                        let who = chat.with_untracked(|c| c.display_of(&hit.sender).to_owned());
                        let when = format!("{} {}", day_label(hit.ts, now.get_untracked()), clock(hit.ts));
                        let text = pieces(&hit)
                            .into_iter()
                            .map(|(piece, marked)| {
                                if marked {
                                    view! { <mark>{piece}</mark> }.into_any()
                                } else {
                                    piece.into_any()
                                }
                            })
                            .collect_view();
                        let hit = StoredValue::new(hit);
                        view! {
                            <li>
                                <button
                                    type="button"
                                    class="search-hit"
                                    on:click=move |_| open.with_value(|open| open(hit.get_value()))
                                >
                                    <span class="hit-meta">
                                        <span class="hit-where">{label}</span>
                                        <span class="hit-who">{who}</span>
                                        <time class="hit-when">{when}</time>
                                    </span>
                                    <span class="hit-text">{text}</span>
                                </button>
                            </li>
                        }
                    }
                />
            </ol>
            <div class="modal-buttons">
                <Show when=move || state.with(|s| s.cursor.is_some())>
                    <button
                        type="button"
                        class="quiet"
                        disabled=move || state.with(|s| s.loading)
                        on:click=move |_| run(true)
                    >
                        "More results"
                    </button>
                </Show>
                <button type="button" class="quiet" on:click=move |_| close.run(())>
                    "Close"
                </button>
            </div>
        </Modal>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Conv;

    #[test]
    fn excerpts_are_cut_at_their_marks() {
        let hit = SearchHit {
            conv: Conv::Room("dev".into()),
            id: 1,
            seq: 1,
            sender: "ming".into(),
            display: None,
            ts: 0,
            excerpt: "离线消息盒子 and 消息".into(),
            marks: vec![(6, 12), (23, 29), (40, 50)],
        };
        assert_eq!(
            pieces(&hit),
            [
                ("离线".to_owned(), false),
                ("消息".to_owned(), true),
                ("盒子 and ".to_owned(), false),
                ("消息".to_owned(), true),
            ]
        );
    }
}
