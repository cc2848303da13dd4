//! The few line icons of the message actions, drawn inline (no icon font,
//! no emoji font needed). Decorative: the buttons carry the names.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icon {
    /// A smiling face with a plus: add a reaction.
    React,
    Reply,
    Edit,
    Delete,
    /// Three dots: more actions.
    More,
    History,
    /// A magnifying glass: search.
    Search,
    /// A bell: notifications.
    Bell,
    /// A bell struck through: notifications off.
    BellOff,
}

/// An 18 px icon in the current text colour.
pub fn icon(which: Icon) -> impl IntoView {
    let path = match which {
        Icon::React => {
            "M12 21a9 9 0 1 1 8.5-6M8.5 14.5a4.5 4.5 0 0 0 6.5.5M9 9.5h.01M15 9.5h.01M19 16v6M16 19h6"
        }
        Icon::Reply => "M10 8 4 13l6 5M4 13h10a6 6 0 0 1 6 6v1",
        Icon::Edit => "M4 20h4L19 9l-4-4L4 16v4ZM14 6l4 4",
        Icon::Delete => "M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
        Icon::More => "M5 12h.01M12 12h.01M19 12h.01",
        Icon::History => "M3 12a9 9 0 1 0 3-6.7L3 8M3 3v5h5M12 7v5l3 3",
        Icon::Search => "M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14ZM16 16l5 5",
        Icon::Bell => "M6 16V11a6 6 0 0 1 12 0v5l2 2H4l2-2ZM10 21h4",
        Icon::BellOff => "M6 16V11a6 6 0 0 1 9-5.2M18 11v5l2 2H4l2-2M10 21h4M3 3l18 18",
    };
    let width = if which == Icon::More { "3" } else { "1.8" };
    view! {
        <svg
            class="icon"
            viewBox="0 0 24 24"
            width="18"
            height="18"
            fill="none"
            stroke="currentColor"
            stroke-width=width
            stroke-linecap="round"
            stroke-linejoin="round"
            aria-hidden="true"
            focusable="false"
        >
            <path d=path></path>
        </svg>
    }
}
