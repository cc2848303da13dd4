//! Browser notifications (the Notification API), in the browser only.
//!
//! The page never asks for permission by itself: [`ask`] runs when the
//! person chooses "Turn on browser notifications". A notification is shown
//! only while the page is hidden ([`super::Chat::alert_for`] decides), is
//! tagged with the message's id (so the tabs of one person, each told of
//! the message, show it once: the browser replaces a notification with
//! another of the same tag), and goes when the conversation is read, here
//! or on another device. Clicking it focuses the tab and opens the message.

use crate::protocol::{Conv, Message};

/// Whether notifications may be shown: `granted`, `denied`, `default`
/// (not asked yet), or `unsupported`.
pub fn permission() -> &'static str {
    #[cfg(feature = "hydrate")]
    {
        if !supported() {
            return "unsupported";
        }
        match web_sys::Notification::permission() {
            web_sys::NotificationPermission::Granted => "granted",
            web_sys::NotificationPermission::Denied => "denied",
            _ => "default",
        }
    }
    #[cfg(not(feature = "hydrate"))]
    "unsupported"
}

#[cfg(feature = "hydrate")]
fn supported() -> bool {
    js_sys::Reflect::has(&leptos::prelude::window(), &"Notification".into()).unwrap_or(false)
}

/// Ask the browser for permission; `done` runs with the answer.
pub fn ask(done: impl FnOnce(&'static str) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        let Ok(promise) = web_sys::Notification::request_permission() else {
            done(permission());
            return;
        };
        let answered =
            wasm_bindgen::closure::Closure::once(
                move |_: wasm_bindgen::JsValue| done(permission()),
            );
        let _ = promise.then(&answered);
        answered.forget();
    }
    #[cfg(not(feature = "hydrate"))]
    done(permission());
}

#[cfg(feature = "hydrate")]
thread_local! {
    /// The notifications shown and not closed: (conversation key, one).
    static SHOWN: std::cell::RefCell<Vec<(Conv, web_sys::Notification)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Most notifications kept open at once (the oldest go first).
#[cfg(feature = "hydrate")]
const MAX_SHOWN: usize = 20;

/// Show a notification for `message`; `open` runs when it is clicked.
pub fn show(message: &Message, title: &str, text: &str, open: impl Fn(Conv, i64) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::{closure::Closure, JsCast};
        if permission() != "granted" {
            return;
        }
        let options = web_sys::NotificationOptions::new();
        options.set_body(text);
        options.set_tag(&format!("parley-{}", message.id));
        options.set_icon("/favicon.svg");
        let Ok(shown) = web_sys::Notification::new_with_options(title, &options) else {
            return;
        };
        let conv = message.conv.clone();
        let seq = message.seq;
        let handle = shown.clone();
        let on_click = Closure::<dyn FnMut()>::new(move || {
            let _ = leptos::prelude::window().focus();
            handle.close();
            open(conv.clone(), seq);
        });
        shown.set_onclick(Some(on_click.as_ref().unchecked_ref()));
        on_click.forget();
        let key = crate::client::chat::key_of(&message.conv);
        SHOWN.with(|all| {
            let mut all = all.borrow_mut();
            if all.len() >= MAX_SHOWN {
                let (_, oldest) = all.remove(0);
                oldest.close();
            }
            all.push((key, shown));
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (message, title, text, open);
}

/// `conv` was read: its notifications go.
pub fn read(conv: &Conv) {
    #[cfg(feature = "hydrate")]
    {
        let key = crate::client::chat::key_of(conv);
        SHOWN.with(|all| {
            all.borrow_mut().retain(|(k, n)| {
                if *k == key {
                    n.close();
                }
                *k != key
            })
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = conv;
}
