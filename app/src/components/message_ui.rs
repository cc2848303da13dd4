//! What the reader is doing with the messages of the conversation on
//! screen — replying to one, editing one, a menu open on one — kept
//! outside the rows, so that a row drawn again (someone reacted) keeps
//! its editor and its draft.

use leptos::{prelude::*, web_sys::HtmlElement};

use crate::protocol::Conv;

/// Which small window is open on a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Popup {
    /// The "⋯" menu of all actions.
    Menu,
    /// The emoji picker.
    Picker,
}

/// Shared by the rows, the composer and the dialogs of one conversation
/// pane (`provide_context`). Everything is keyed by the message's `seq`.
#[derive(Clone, Copy)]
pub struct MessageUi {
    pub conv: Signal<Option<Conv>>,
    /// The message the composer answers.
    pub replying: RwSignal<Option<i64>>,
    /// The message being edited in place, and its draft.
    pub editing: RwSignal<Option<i64>>,
    pub edit_draft: RwSignal<String>,
    /// Why the last edit could not be saved.
    pub edit_error: RwSignal<Option<String>>,
    /// The open popup, on which message; opening upwards when near the
    /// bottom of the screen.
    pub popup: RwSignal<Option<(i64, Popup, bool)>>,
    /// The button that opened the popup, to give the focus back to.
    opener: StoredValue<Option<HtmlElement>, LocalStorage>,
    /// The message whose deletion waits for confirmation.
    pub deleting: RwSignal<Option<i64>>,
    /// The message whose edit history is shown.
    pub history: RwSignal<Option<i64>>,
    /// The message briefly highlighted after a jump to it.
    pub flash: RwSignal<Option<i64>>,
}

impl MessageUi {
    pub fn new(conv: Signal<Option<Conv>>) -> Self {
        MessageUi {
            conv,
            replying: RwSignal::new(None),
            editing: RwSignal::new(None),
            edit_draft: RwSignal::new(String::new()),
            edit_error: RwSignal::new(None),
            popup: RwSignal::new(None),
            opener: StoredValue::new_local(None),
            deleting: RwSignal::new(None),
            history: RwSignal::new(None),
            flash: RwSignal::new(None),
        }
    }

    /// Another conversation is on screen: nothing carries over.
    pub fn reset(&self) {
        self.replying.set(None);
        self.editing.set(None);
        self.edit_error.set(None);
        self.popup.set(None);
        self.deleting.set(None);
        self.history.set(None);
        self.flash.set(None);
    }

    /// Start editing the message at `seq`, whose text is `body`.
    pub fn edit(&self, seq: i64, body: String) {
        self.popup.set(None);
        self.edit_error.set(None);
        self.edit_draft.set(body);
        self.editing.set(Some(seq));
    }

    /// Answer the message at `seq`: the composer shows it and takes focus.
    pub fn reply(&self, seq: i64) {
        self.popup.set(None);
        self.replying.set(Some(seq));
        focus_composer();
    }

    /// Open (or, if open, close) a popup on the message at `seq`; `from`
    /// is the button that opens it: it decides which way the popup opens
    /// and gets the focus back when it closes.
    pub fn toggle(&self, seq: i64, popup: Popup, from: Option<HtmlElement>) {
        if self.is_open_untracked(seq, popup) {
            self.close_popup(false);
        } else {
            let up = opens_up(from.as_ref());
            self.opener.set_value(from);
            self.popup.set(Some((seq, popup, up)));
        }
    }

    /// Close the open popup; `refocus` gives the focus back to its button
    /// (after Escape or a choice, not when the focus went elsewhere).
    pub fn close_popup(&self, refocus: bool) {
        if self.popup.get_untracked().is_some() {
            self.popup.set(None);
        }
        if let (true, Some(el)) = (refocus, self.opener.get_value()) {
            let _ = el.focus();
        }
    }

    pub fn is_open(&self, seq: i64, popup: Popup) -> bool {
        names(self.popup.get(), seq, popup)
    }

    /// `is_open`, outside any reactive tracking (in event handlers).
    pub fn is_open_untracked(&self, seq: i64, popup: Popup) -> bool {
        names(self.popup.get_untracked(), seq, popup)
    }
}

/// Whether the `open` popup is `popup` on the message at `seq`.
fn names(open: Option<(i64, Popup, bool)>, seq: i64, popup: Popup) -> bool {
    matches!(open, Some((s, p, _)) if s == seq && p == popup)
}

/// Put the keyboard focus in the composer.
pub fn focus_composer() {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if let Some(el) = document()
            .get_element_by_id("message")
            .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    }
}

/// Whether a popup opened from `from` should open upwards: when the
/// button sits in the lower half of the window.
fn opens_up(from: Option<&HtmlElement>) -> bool {
    #[cfg(feature = "hydrate")]
    {
        let Some(el) = from else {
            return false;
        };
        let height = window()
            .inner_height()
            .ok()
            .and_then(|h| h.as_f64())
            .unwrap_or(0.0);
        el.get_bounding_client_rect().top() > height / 2.0
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = from;
        false
    }
}
