//! Renders the tree of [`crate::client::markdown`] as view nodes, one by
//! one: every piece of the sender's text is a text node, and the only
//! attribute that comes from it is the `href` of a link already checked
//! to be `http(s):` or `mailto:`.

use leptos::prelude::*;

use crate::client::markdown::{Block, Inline};
use crate::client::markdown_loader;
use crate::protocol::{mentions, only_emoji};

/// A message body, formatted. A message of only emoji is shown larger.
/// Plain text for the moment the parser is still loading
/// ([`markdown_loader`]).
///
/// `@name`s that `mentions` lists (the handles the server found) are chips
/// showing the person's display name as it is now; a chip for the reader
/// stands out.
#[component]
pub fn RichText(
    #[prop(into)] body: String,
    #[prop(optional)] mentions: Vec<String>,
) -> impl IntoView {
    let jumbo = only_emoji(&body);
    if !mentions.is_empty() {
        provide_context(Mentioned(std::sync::Arc::new(mentions)));
    }
    let content = move || {
        markdown_loader::parse_now(&body).map_or_else(
            || view! { <p>{text_view(body.clone())}</p> }.into_any(),
            blocks_view,
        )
    };
    view! { <div class="body" class:jumbo=jumbo>{content}</div> }
}

/// The handles the message being drawn mentions.
#[derive(Clone)]
struct Mentioned(std::sync::Arc<Vec<String>>);

/// Text, with the mentions of the message being drawn as chips.
fn text_view(text: String) -> AnyView {
    let Some(Mentioned(names)) = use_context::<Mentioned>() else {
        return text.into_any();
    };
    let chat = use_context::<crate::client::Connection>().map(|c| c.chat());
    let mut pieces: Vec<AnyView> = Vec::new();
    let mut at = 0;
    for (start, end) in mentions::spans(&text) {
        let handle = &text[start + 1..end];
        let Some(name) = names.iter().find(|n| n.eq_ignore_ascii_case(handle)) else {
            continue;
        };
        pieces.push(text[at..start].to_owned().into_any());
        let (shown, me) = match chat {
            Some(chat) if name != mentions::ROOM => chat.with_untracked(|c| {
                (
                    c.display_of(name).to_owned(),
                    c.user() == Some(name.as_str()),
                )
            }),
            _ => (name.clone(), false),
        };
        let me = me || (name == mentions::ROOM);
        let title = format!("@{name}");
        pieces.push(
            view! { <span class="mention" class:me=me title=title>"@"{shown}</span> }.into_any(),
        );
        at = end;
    }
    pieces.push(text[at..].to_owned().into_any());
    pieces.into_iter().collect_view().into_any()
}

fn blocks_view(blocks: Vec<Block>) -> AnyView {
    blocks.into_iter().map(block_view).collect_view().into_any()
}

fn block_view(block: Block) -> AnyView {
    match block {
        Block::Paragraph(inlines) => view! { <p>{inlines_view(inlines)}</p> }.into_any(),
        Block::Heading(inlines) => {
            view! { <p class="heading">{inlines_view(inlines)}</p> }.into_any()
        }
        Block::Code(text) => view! { <CodeBlock text/> }.into_any(),
        Block::Quote(blocks) => view! { <blockquote>{blocks_view(blocks)}</blockquote> }.into_any(),
        Block::List {
            start: Some(start),
            items,
        } => view! { <ol start=start>{items_view(items)}</ol> }.into_any(),
        Block::List { start: None, items } => view! { <ul>{items_view(items)}</ul> }.into_any(),
        Block::Rule => view! { <hr/> }.into_any(),
    }
}

fn items_view(items: Vec<Vec<Block>>) -> AnyView {
    items
        .into_iter()
        .map(|blocks| view! { <li>{blocks_view(blocks)}</li> })
        .collect_view()
        .into_any()
}

fn inlines_view(inlines: Vec<Inline>) -> AnyView {
    inlines
        .into_iter()
        .map(inline_view)
        .collect_view()
        .into_any()
}

fn inline_view(inline: Inline) -> AnyView {
    match inline {
        Inline::Text(text) => text_view(text),
        Inline::Code(code) => view! { <code>{code}</code> }.into_any(),
        Inline::Strong(children) => view! { <strong>{inlines_view(children)}</strong> }.into_any(),
        Inline::Emphasis(children) => view! { <em>{inlines_view(children)}</em> }.into_any(),
        Inline::Strike(children) => view! { <del>{inlines_view(children)}</del> }.into_any(),
        Inline::Link { href, children } => view! {
            <a href=href target="_blank" rel="noopener noreferrer nofollow">
                {inlines_view(children)}
            </a>
        }
        .into_any(),
        // Inside `white-space: pre-wrap`, as typed.
        Inline::Break => "\n".into_any(),
    }
}

/// A code block: monospace, scrolls sideways, with a copy button.
#[component]
fn CodeBlock(text: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = {
        let text = text.clone();
        move |_| {
            if copy_to_clipboard(&text) {
                copied.set(true);
            }
        }
    };
    view! {
        <div class="code-block">
            <pre tabindex="0"><code>{text}</code></pre>
            <button
                type="button"
                class="copy"
                aria-label="Copy code"
                on:click=copy
                on:blur=move |_| copied.set(false)
            >
                {move || if copied.get() { "Copied" } else { "Copy" }}
            </button>
        </div>
    }
}

/// Put `text` on the clipboard; false when the page may not.
fn copy_to_clipboard(text: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsValue;
        let Some(navigator) = web_sys::window().map(|w| w.navigator()) else {
            return false;
        };
        // Absent outside secure contexts: check before use.
        let present = js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard"))
            .is_ok_and(|c| c.is_object());
        if !present {
            return false;
        }
        // The promise settles on its own; a refusal changes nothing shown.
        let _ = navigator.clipboard().write_text(text);
        true
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = text;
        false
    }
}
