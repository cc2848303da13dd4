use leptos::prelude::*;
use leptos_router::{hooks::use_navigate, hooks::use_params_map, NavigateOptions};

use crate::client::{chat::lobby, day_label, day_of, Connection, Entry};
use crate::components::{
    composer::Composer,
    message::MessageRow,
    message_ui::MessageUi,
    room_dialogs::{RoomDialog, RoomDialogView},
    room_settings::RoomSettingsButton,
    shell::Now,
    sidebar::{href_of, title_of, PeopleList},
};
use crate::protocol::{ClientFrame, Conv, ErrorCode, LOBBY};

/// `/`: the lobby.
#[component]
pub fn LobbyRoute() -> impl IntoView {
    view! { <ConversationPane conv=Signal::derive(|| Some(lobby()))/> }
}

/// `/c/{kind}/{name}`: any conversation.
#[component]
pub fn ConversationRoute() -> impl IntoView {
    let params = use_params_map();
    let conv = Memo::new(move |_| {
        params.with(|p| {
            let name = percent_decoded(&p.get("name")?);
            match p.get("kind")?.as_str() {
                "room" => Some(Conv::Room(name.to_ascii_lowercase())),
                "dm" => Some(Conv::Dm(name)),
                "guest" => Some(Conv::Guest(name)),
                _ => None,
            }
        })
    });
    let conv: Signal<Option<Conv>> = conv.into();
    view! { <ConversationPane conv/> }
}

/// A path segment as typed: a guest's nickname in any script arrives
/// percent-encoded (`%E5%B0%8F`); a malformed escape is kept as it is.
fn percent_decoded(segment: &str) -> String {
    if !segment.contains('%') {
        return segment.to_owned();
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| segment.to_owned())
}

/// "3 members", opening the list of who they are, each with their
/// presence (the first 500 by name in a very large room).
#[component]
fn MemberList(summary: Memo<Option<String>>, names: Memo<Option<Vec<String>>>) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let chat = conn.chat();
    let people = Memo::new(move |_| {
        let names = names.get().unwrap_or_default();
        chat.with(|c| {
            names
                .into_iter()
                .map(|name| {
                    let online = c.is_online(&name);
                    let display = c.display_of(&name).to_owned();
                    (name, display, online)
                })
                .collect::<Vec<_>>()
        })
    });
    view! {
        <details class="members" data-testid="members">
            <summary class="hint">{move || summary.get().unwrap_or_default()}</summary>
            <PeopleList people label="Members"/>
        </details>
    }
}

/// One row of the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Row {
    Day(String),
    /// A message; `head` starts a run of messages by one sender.
    Message {
        entry: Box<Entry>,
        head: bool,
    },
}

/// Group consecutive messages by sender, with a separator at each new day.
fn rows(entries: Vec<Entry>, now: i64) -> Vec<Row> {
    let mut out = Vec::with_capacity(entries.len() + 4);
    let mut last_day = None;
    let mut last: Option<(String, i64)> = None;
    for entry in entries {
        let ts = entry.ts.unwrap_or(now);
        let day = day_of(ts);
        let mut head = true;
        if last_day != Some(day) {
            out.push(Row::Day(day_label(ts, now)));
            last_day = Some(day);
        }
        if entry.system {
            // A system line stands alone; the next message starts a run.
            last = None;
            out.push(Row::Message {
                entry: Box::new(entry),
                head: false,
            });
            continue;
        }
        if let Some((sender, at)) = &last {
            head = *sender != entry.sender || ts - at > 5 * 60_000;
        }
        last = Some((entry.sender.clone(), ts));
        out.push(Row::Message {
            entry: Box::new(entry),
            head,
        });
    }
    out
}

impl Row {
    /// What identifies the row across updates: a message keeps its row
    /// while its state changes (the row follows it), and gets a new one
    /// only when it starts or stops heading a run.
    fn key(&self) -> String {
        match self {
            Row::Day(label) => format!("d{label}"),
            Row::Message { entry, head } => {
                format!("{}{}", entry.key, if *head { "h" } else { "" })
            }
        }
    }
}

/// A conversation: header, messages, who is typing and the composer.
#[component]
pub fn ConversationPane(#[prop(into)] conv: Signal<Option<Conv>>) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let Now(now) = expect_context::<Now>();
    let chat = conn.chat();
    let ready_state = conn.ready_state();
    let navigate = use_navigate();

    // Show it: fetch its history and mark it read.
    // Another pane may already show its conversation when this one is
    // cleaned up, so only forget what this pane showed.
    let shown = StoredValue::new(None::<Conv>);
    let ui = MessageUi::new(conv);
    provide_context(ui);
    Effect::new(move |_| {
        let current = conv.get();
        shown.set_value(current.clone());
        ui.reset();
        conn.view(current);
    });
    on_cleanup(move || {
        if let Some(conv) = shown.try_get_value().flatten() {
            conn.unview(&conv);
        }
    });

    let thread = Memo::new(move |_| {
        let conv = conv.get()?;
        chat.with(|c| c.thread_of(&conv).cloned())
    });
    let problem = Memo::new(move |_| thread.with(|t| t.as_ref().and_then(|t| t.problem.clone())));
    let entries = Memo::new(move |_| {
        let Some(conv) = conv.get() else {
            return Vec::new();
        };
        chat.with(|c| c.entries(&conv))
    });
    // The day labels change at most at midnight; recompute on the minute.
    let minute = Memo::new(move |_| now.get() / 60_000);
    let rows = Memo::new(move |_| rows(entries.get(), minute.get() * 60_000));
    // A search result's context: a window of history, not the newest.
    let window = Memo::new(move |_| {
        let conv = conv.get()?;
        chat.with(|c| {
            c.window_of(&conv)
                .map(|w| (w.loading, w.has_older, w.has_newer))
        })
    });
    let loading = Memo::new(move |_| {
        window.get().is_some_and(|w| w.0) || thread.with(|t| t.as_ref().is_some_and(|t| t.loading))
    });
    let has_more = Memo::new(move |_| match window.get() {
        Some((_, older, _)) => older,
        None => thread.with(|t| t.as_ref().is_some_and(|t| t.has_more)),
    });
    let notice = Memo::new(move |_| chat.with(|c| c.notice().map(str::to_owned)));
    let refusal = Memo::new(move |_| chat.with(|c| c.refusal().map(str::to_owned)));
    let typing = Memo::new(move |_| {
        let t = now.get();
        thread.with(|th| {
            th.as_ref()
                .map(|th| {
                    th.typing
                        .iter()
                        .filter(|(_, until)| *until > t)
                        .map(|(u, _)| chat.with(|c| c.display_of(u).to_owned()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let subtitle = Memo::new(move |_| {
        let conv = conv.get()?;
        match &conv {
            Conv::Room(_) => thread.with(|t| {
                t.as_ref().and_then(|t| t.members).map(|n| match n {
                    1 => "1 member".to_owned(),
                    n => format!("{n} members"),
                })
            }),
            Conv::Dm(name) | Conv::Guest(name) => chat.with(|c| {
                let on = if c.is_online(name) {
                    "Online"
                } else {
                    "Offline"
                };
                // Shown by a display name: the handle says who it is.
                Some(if c.has_display(name) {
                    format!("{on} · @{name}")
                } else {
                    on.to_owned()
                })
            }),
        }
    });
    let title = move || {
        conv.get()
            .map(|c| {
                let display = thread
                    .with(|t| t.as_ref().map(|t| t.display.clone()))
                    .filter(|d| !d.is_empty() && problem.with(Option::is_none));
                let c = match display {
                    Some(d) => c.with_name(d),
                    None => c,
                };
                let label = chat.with(|chat| chat.label_of(&c));
                title_of(&c, &label)
            })
            .unwrap_or_else(|| "Not found".to_owned())
    };
    let is_room =
        move || matches!(conv.get(), Some(Conv::Room(_))) && problem.with(Option::is_none);
    let member_names =
        Memo::new(move |_| thread.with(|t| t.as_ref().and_then(|t| t.member_names.clone())));
    // The tab's title names the conversation, after the unread count
    // ("(3) #lobby · Parley"), so a tab in the background says so; a
    // mention is marked there too ("(3 · @1) …").
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let (unread, mentions) = chat.with(|c| (c.total_unread(), c.total_mentions()));
        document().set_title(&format!(
            "{}{} · Parley",
            title_count(unread, mentions),
            title()
        ))
    });
    let settings_room = Signal::derive(move || match conv.get() {
        Some(Conv::Room(room)) if problem.with(Option::is_none) => Some(room),
        _ => None,
    });
    let can_leave = move || {
        matches!(conv.get(), Some(Conv::Room(r)) if r != LOBBY) && problem.with(Option::is_none)
    };
    let leave = {
        let navigate = navigate.clone();
        move |_| {
            if let Some(Conv::Room(room)) = conv.get_untracked() {
                conn.request(ClientFrame::LeaveRoom { room });
                navigate("/c/room/lobby", NavigateOptions::default());
            }
        }
    };

    // Scrolling: keep the reader's place, follow new messages at the bottom,
    // fetch older ones at the top.
    let scroller = NodeRef::<leptos::html::Div>::new();
    let at_bottom = StoredValue::new(true);
    // (first row key before the page was asked for, scroll height, scroll top)
    let restore = StoredValue::new(None::<(Option<String>, i32, i32)>);
    let first_key = move || entries.with_untracked(|e| e.first().map(|e| e.key.clone()));
    let on_scroll = move |_| {
        let Some(el) = scroller.get_untracked() else {
            return;
        };
        let bottom = el.scroll_height() - el.scroll_top() - el.client_height() < 48;
        at_bottom.set_value(bottom);
        if bottom && window.get_untracked().is_some() {
            conn.load_newer();
        }
        if el.scroll_top() < 120 && conn.load_older() {
            restore.set_value(Some((first_key(), el.scroll_height(), el.scroll_top())));
        }
    };
    let seek = Memo::new(move |_| {
        let conv = conv.get()?;
        chat.with(|c| c.seeking(&conv))
    });
    Effect::new(move |prev: Option<Option<Conv>>| {
        let current = conv.get();
        if prev.as_ref() != Some(&current) {
            at_bottom.set_value(true);
            restore.set_value(None);
        }
        rows.track();
        let seeking = seek.get();
        let el = scroller.get();
        request_animation_frame(move || {
            let Some(el) = el else {
                return;
            };
            // A reply's original, asked for: show it once it is here.
            if let Some(seq) = seeking {
                if let Ok(Some(row)) = el.query_selector(&format!("[data-seq=\"{seq}\"]")) {
                    restore.set_value(None);
                    at_bottom.set_value(false);
                    show_and_flash(&row, ui, seq);
                    if let Some(conv) = conv.get_untracked() {
                        conn.seek_done(&conv);
                    }
                    return;
                }
                // Still looking: stay put while older pages come in.
                at_bottom.set_value(false);
            }
            let pending = restore.get_value();
            match pending {
                Some((key, height, top)) if key != first_key() => {
                    restore.set_value(None);
                    el.set_scroll_top(el.scroll_height() - height + top);
                }
                _ if at_bottom.get_value() => el.set_scroll_top(el.scroll_height()),
                _ => {}
            }
        });
        current
    });

    let header = view! {
            <header class="conv-header">
                <div class="conv-heading">
                    <h1 id="conversation-title" data-testid="conversation-title">{title}</h1>
                    {move || {
                        (!is_room())
                            .then(|| subtitle.get().map(|s| view! { <span class="hint">{s}</span> }))
                    }}
                    <Show when=is_room>
                        <MemberList summary=subtitle names=member_names/>
                    </Show>
                    {move || {
                        let topic = thread.with(|t| t.as_ref().map(|t| t.room.topic.clone()))?;
                        (!topic.is_empty() && is_room())
                            .then(|| view! { <p class="conv-topic" data-testid="topic">{topic}</p> })
                    }}
                </div>
                <div class="conv-actions">
                    <NotifyButton conv problem/>
                    <RoomSettingsButton room=settings_room/>
                    <Show when=can_leave>
                        <button type="button" class="quiet" on:click=leave.clone()>
                            "Leave room"
                        </button>
                    </Show>
                </div>
            </header>
    }
    .into_any();
    let to_present = move |_| {
        conn.leave_window();
        at_bottom.set_value(true);
    };
    let timeline = view! {
            <Show when=move || window.get().is_some()>
                <div class="window-banner" role="status">
                    <span>"You are reading older messages."</span>
                    <button type="button" class="quiet" on:click=to_present>
                        "Jump to the newest"
                    </button>
                </div>
            </Show>
            <div class="timeline" node_ref=scroller on:scroll=on_scroll>
                <Show when=move || loading.get() || has_more.get() && !entries.with(Vec::is_empty)>
                    <p class="history-state">
                        {move || {
                            if loading.get() {
                                "Loading earlier messages…"
                            } else {
                                "Scroll up for earlier messages"
                            }
                        }}
                    </p>
                </Show>
                <Show when=move || {
                    !loading.get() && !has_more.get() && !entries.with(Vec::is_empty)
                }>
                    <p class="history-state">"This is the beginning of the conversation."</p>
                </Show>
                <Show when=move || {
                    entries.with(Vec::is_empty) && !loading.get() && problem.with(Option::is_none)
                        && conv.with(Option::is_some)
                }>
                    <p class="empty">"No messages yet. Say hello!"</p>
                </Show>
                <ol class="messages" role="log" aria-live="polite" aria-label="Messages" data-testid="messages">
                    <For
                        each=move || rows.get()
                        key=Row::key
                        children=move |row| match row {
                            Row::Day(label) => {
                                view! {
                                    <li class="day" role="separator">
                                        <span>{label}</span>
                                    </li>
                                }
                                    .into_any()
                            }
                            Row::Message { entry, head } => {
                                let key = entry.key.clone();
                                // The row follows its message's state.
                                let entry = Memo::new(move |prev: Option<&Entry>| {
                                    entries
                                        .with(|all| all.iter().find(|e| e.key == key).cloned())
                                        .or_else(|| prev.cloned())
                                        .unwrap_or_else(|| (*entry).clone())
                                });
                                view! { <MessageRow entry head/> }.into_any()
                            }
                        }
                    />
                </ol>
                <Show when=move || window.get().is_some_and(|w| w.2)>
                    <button
                        type="button"
                        class="quiet history-state newer"
                        disabled=move || loading.get()
                        on:click=move |_| {
                            conn.load_newer();
                        }
                    >
                        {move || if loading.get() { "Loading newer messages…" } else { "Show newer messages" }}
                    </button>
                </Show>
            </div>
    }
    .into_any();
    let navigate_join = navigate.clone();
    view! {
        <section class="conversation" aria-labelledby="conversation-title">
            {header}
            <Show when=move || notice.with(Option::is_some)>
                <div class="notice" role="alert">
                    <p>{move || notice.get().unwrap_or_default()}</p>
                    <button
                        type="button"
                        class="quiet"
                        aria-label="Dismiss"
                        on:click=move |_| conn.clear_notice()
                    >
                        "×"
                    </button>
                </div>
            </Show>
            {move || {
                let navigate = navigate_join.clone();
                let Some(conv) = conv.get() else {
                    return view! {
                        <div class="problem" role="alert">
                            <p>"There is no such conversation."</p>
                            <a href="/">"Go to the lobby"</a>
                        </div>
                    }
                        .into_any();
                };
                problem
                    .get()
                    .map(|(code, message)| {
                        let (text, action) = explain(&conv, code, &message);
                        let action = action
                            .map(|(label, frame)| {
                                let navigate = navigate.clone();
                                let href = href_of(&conv);
                                view! {
                                    <button
                                        type="button"
                                        class="primary"
                                        on:click=move |_| {
                                            conn.request(frame.clone());
                                            navigate(&href, NavigateOptions::default());
                                        }
                                    >
                                        {label}
                                    </button>
                                }
                            });
                        view! {
                            <div class="problem" role="alert" data-testid="conversation-problem">
                                <p>{text}</p>
                                {action}
                            </div>
                        }
                            .into_any()
                    })
                    .unwrap_or_else(|| ().into_any())
            }}
            {timeline}
            <p class="typing" data-testid="typing" aria-live="polite">
                {move || typing_text(&typing.get())}
            </p>
            <Show when=move || refusal.with(Option::is_some)>
                <p class="refusal" role="status">
                    {move || refusal.get().unwrap_or_default()}
                    <button
                        type="button"
                        class="link-button"
                        aria-label="Dismiss"
                        on:click=move |_| conn.clear_refusal()
                    >
                        "Dismiss"
                    </button>
                </p>
            </Show>
            <Composer
                conv=conv
                problem=problem
                entries=entries
                online=Signal::derive(move || ready_state.get() == crate::client::ReadyState::Open)
            />
            <RoomDialogView
                which=RoomDialog::MessageDialogs(entries)
                close=Callback::new(|()| {})
            />
        </section>
    }
    .into_any()
}

/// What to tell the reader about a conversation they cannot use, and what
/// they can do about it.
fn explain(conv: &Conv, code: ErrorCode, message: &str) -> (String, Option<(String, ClientFrame)>) {
    match (conv, code) {
        (Conv::Room(room), ErrorCode::UnknownRoom) => (
            format!("There is no room #{room}."),
            Some((
                format!("Create #{room}"),
                ClientFrame::create_room(room.clone()),
            )),
        ),
        (Conv::Room(room), ErrorCode::NotMember) => (
            format!("You are not a member of #{room}. Join it to read and write here."),
            Some((
                format!("Join #{room}"),
                ClientFrame::JoinRoom { room: room.clone() },
            )),
        ),
        (Conv::Dm(user), ErrorCode::UnknownUser) => (
            format!("There is no user “{user}”. Check the spelling of the name."),
            None,
        ),
        (Conv::Guest(user), ErrorCode::UnknownUser) => {
            (format!("There is no guest “{user}”."), None)
        }
        _ => (message.to_owned(), None),
    }
}

fn typing_text(who: &[String]) -> String {
    match who {
        [] => String::new(),
        [one] => format!("{one} is typing…"),
        [a, b] => format!("{a} and {b} are typing…"),
        _ => "Several people are typing…".to_owned(),
    }
}

/// The bell in a conversation's header: what one is notified of there.
#[component]
fn NotifyButton(
    conv: Signal<Option<Conv>>,
    problem: Memo<Option<(ErrorCode, String)>>,
) -> impl IntoView {
    use crate::components::icons::{icon, Icon};
    use crate::protocol::NotifyLevel;
    let conn = expect_context::<Connection>();
    let chat = conn.chat();
    let open = RwSignal::new(false);
    let close = Callback::new(move |()| open.set(false));
    let level = Memo::new(move |_| {
        let conv = conv.get()?;
        chat.with(|c| c.thread_of(&conv).map(|t| t.notify))
    });
    let usable = move || conv.with(Option::is_some) && problem.with(Option::is_none);
    view! {
        <Show when=usable>
            <button
                type="button"
                class="quiet icon-button notify-button"
                title="Notifications"
                aria-label=move || match level.get().unwrap_or_default() {
                    NotifyLevel::All => "Notifications: all messages",
                    NotifyLevel::Mentions => "Notifications: mentions and direct messages",
                    NotifyLevel::Nothing => "Notifications: nothing",
                }
                on:click=move |_| open.set(true)
            >
                {move || {
                    if level.get() == Some(NotifyLevel::Nothing) {
                        icon(Icon::BellOff).into_any()
                    } else {
                        icon(Icon::Bell).into_any()
                    }
                }}
            </button>
        </Show>
        {move || {
            let conv = conv.get()?;
            open.get().then(|| view! { <RoomDialogView which=RoomDialog::Notify(conv) close/> })
        }}
    }
}

/// The start of the tab's title: the unread count, with the mentions
/// among them ("(3) ", "(3 · @1) "), or nothing.
pub fn title_count(unread: i64, mentions: i64) -> String {
    match (unread, mentions) {
        (_, m) if m > 0 => format!("({} · @{m}) ", unread.max(m)),
        (u, _) if u > 0 => format!("({u}) "),
        _ => String::new(),
    }
}

/// Scroll `row` (the message at `seq`) into the middle of the timeline
/// and highlight it for a moment.
fn show_and_flash(row: &leptos::web_sys::Element, ui: MessageUi, seq: i64) {
    #[cfg(feature = "hydrate")]
    {
        let options = web_sys::ScrollIntoViewOptions::new();
        options.set_block(web_sys::ScrollLogicalPosition::Center);
        row.scroll_into_view_with_scroll_into_view_options(&options);
        ui.flash.set(Some(seq));
        set_timeout(
            move || {
                if ui.flash.try_get_untracked().flatten() == Some(seq) {
                    ui.flash.try_set(None);
                }
            },
            std::time::Duration::from_millis(1_600),
        );
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (row, ui, seq);
}

// Dates come from the browser's clock in hydrate builds; natively, from UTC.
#[cfg(all(test, not(feature = "hydrate")))]
mod tests {
    #[test]
    fn the_title_counts_unread_messages_and_marks_mentions() {
        assert_eq!(super::title_count(0, 0), "");
        assert_eq!(super::title_count(3, 0), "(3) ");
        assert_eq!(super::title_count(3, 1), "(3 · @1) ");
    }

    #[test]
    fn nicknames_in_any_script_are_read_from_the_path() {
        assert_eq!(super::percent_decoded("%E5%B0%8F%E6%98%8E"), "小明");
        assert_eq!(super::percent_decoded("Zo%C3%AB"), "Zoë");
        assert_eq!(super::percent_decoded("100%"), "100%");
        assert_eq!(super::percent_decoded("%FF"), "%FF");
        assert_eq!(super::percent_decoded("plain"), "plain");
    }

    use super::*;

    fn entry(sender: &str, ts: i64) -> Entry {
        Entry {
            mentions: Default::default(),
            mentions_me: Default::default(),
            key: format!("m{ts}"),
            seq: Some(ts),
            sender: sender.into(),
            display: sender.into(),
            body: "x".into(),
            ts: Some(ts),
            mine: false,
            delivery: crate::client::Delivery::Sent,
            reply: None,
            edited_at: None,
            deleted: false,
            reactions: Vec::new(),
            pending: None,
            system: false,
            moderated: false,
        }
    }

    /// What a timeline shows: day labels, and which messages start a run.
    fn shape(rows: &[Row]) -> Vec<String> {
        rows.iter()
            .map(|row| match row {
                Row::Day(label) => format!("-- {label}"),
                Row::Message { entry, head } => {
                    format!("{}{}", if *head { "* " } else { "  " }, entry.sender)
                }
            })
            .collect()
    }

    #[test]
    fn messages_group_by_sender_and_split_by_day() {
        let minute = 60_000;
        let now = 1_764_000_000_000; // 2025-11-24, 16:00 UTC
        let yesterday = now - 24 * 60 * minute;
        let rows = rows(
            vec![
                entry("ann", yesterday),
                entry("ann", now - 30 * minute),
                entry("ann", now - 29 * minute),
                entry("ben", now - 28 * minute),
                entry("ben", now - 27 * minute),
                // The same sender after a pause starts a new run.
                entry("ben", now - 10 * minute),
            ],
            now,
        );
        assert_eq!(
            shape(&rows),
            [
                "-- Yesterday",
                "* ann",
                "-- Today",
                "* ann",
                "  ann",
                "* ben",
                "  ben",
                "* ben"
            ]
        );
    }
}
