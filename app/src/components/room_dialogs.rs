//! The room dialogs (the directory, a new room, a room's settings), the
//! account dialog, the admin page, and a message's popups and dialogs
//! (its menu, the emoji picker, "Delete?", its versions), loaded apart
//! from the rest of the web app.
//!
//! They are only ever drawn after a click, never on the server-rendered
//! page, so `cargo leptos --split` moves them into a wasm module of their
//! own (about as big as every view of the messages), fetched right after
//! hydration ([`start`]). A dialog opened before it arrives says
//! "Loading…" and is drawn as soon as it does; if it cannot be fetched,
//! the dialog says so, and opening it again tries again. The server draws
//! them directly.

use leptos::prelude::*;

use crate::client::Entry;
use crate::components::{
    message_actions::{Menu, Picker},
    message_dialogs::{DeleteDialog, HistoryDialog},
    room_settings::RoomSettings,
    rooms::{CreateRoomDialog, DirectoryDialog, InvitationList},
};

/// Which room dialog (or the sidebar's invitations, drawn only once
/// there are some).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomDialog {
    Directory,
    Create,
    Settings(String),
    Invitations,
    /// The admins' page (not a dialog either).
    Admin,
    /// Your account: password, devices, blocks.
    Account,
    /// Searching messages.
    Search,
    /// What one is notified of in a conversation.
    Notify(crate::protocol::Conv),
    /// The composer's `@` autocomplete list.
    MentionList(
        RwSignal<Option<(usize, Vec<crate::client::mention_query::Suggestion>)>>,
        RwSignal<usize>,
        RwSignal<Option<usize>>,
    ),
    /// A message's "More actions" menu or emoji picker: the message, its
    /// `seq`, and whether it opens upwards.
    Menu(Memo<Entry>, i64, bool),
    Picker(Memo<Entry>, i64, bool),
    /// The conversation's "Delete this message?" and versions dialogs
    /// (each drawn while the message UI asks for it).
    MessageDialogs(Memo<Vec<Entry>>),
}

impl RoomDialog {
    /// Drawn without a word while the module is on its way (not dialogs,
    /// or popups that the module is here for long before anyone clicks).
    #[cfg_attr(
        not(all(feature = "hydrate", target_arch = "wasm32")),
        allow(dead_code)
    )]
    fn quiet(&self) -> bool {
        matches!(
            self,
            RoomDialog::Invitations
                | RoomDialog::MentionList(..)
                | RoomDialog::Menu(..)
                | RoomDialog::Picker(..)
                | RoomDialog::MessageDialogs(_)
        )
    }
}

fn render(which: RoomDialog, close: Callback<()>) -> AnyView {
    match which {
        RoomDialog::Directory => view! { <DirectoryDialog close/> }.into_any(),
        RoomDialog::Create => view! { <CreateRoomDialog close/> }.into_any(),
        RoomDialog::Settings(room) => view! { <RoomSettings room close/> }.into_any(),
        RoomDialog::Invitations => view! { <InvitationList/> }.into_any(),
        RoomDialog::Admin => view! { <crate::components::admin::AdminPage/> }.into_any(),
        RoomDialog::MentionList(suggest, chosen, picked) => {
            view! { <crate::components::composer::MentionList suggest chosen picked/> }.into_any()
        }
        RoomDialog::Notify(conv) => {
            view! { <crate::components::notify::NotifyDialog conv close/> }.into_any()
        }
        RoomDialog::Search => view! { <crate::components::search::SearchDialog close/> }.into_any(),
        RoomDialog::Account => {
            view! { <crate::components::account::AccountDialog close/> }.into_any()
        }
        RoomDialog::Menu(entry, seq, up) => view! { <Menu entry seq up/> }.into_any(),
        RoomDialog::Picker(entry, seq, up) => view! { <Picker entry seq up/> }.into_any(),
        RoomDialog::MessageDialogs(entries) => view! {
            <DeleteDialog entries/>
            <HistoryDialog/>
        }
        .into_any(),
    }
}

#[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
mod split {
    use std::cell::Cell;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use leptos::wasm_split::SplitLoaderError;

    use super::RoomDialog;

    /// The split point: the dialogs, and all that only they reach.
    #[leptos::wasm_split::wasm_split(rooms, wasm_split_path = ::leptos::wasm_split, fallible)]
    fn render_split(which: RoomDialog, close: Callback<()>) -> Result<AnyView, SplitLoaderError> {
        Ok(super::render(which, close))
    }

    /// Where the module is: not asked for, on its way, here, or failed.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum State {
        Waiting,
        Ready,
        Failed,
    }

    thread_local! {
        static STATE: ArcRwSignal<State> = ArcRwSignal::new(State::Waiting);
        static STARTED: Cell<bool> = const { Cell::new(false) };
    }

    pub fn start() {
        if STARTED.replace(true) {
            return;
        }
        STATE.with(|s| s.set(State::Waiting));
        spawn_local(async {
            match __wasm_split_preload_render_split().await {
                Ok(()) => STATE.with(|s| s.set(State::Ready)),
                Err(_) => {
                    STARTED.set(false);
                    STATE.with(|s| s.set(State::Failed));
                }
            }
        });
    }

    /// The dialog, once the module is here (tracked: drawn again when it
    /// arrives); the module's state otherwise.
    pub fn render_now(which: RoomDialog, close: Callback<()>) -> Result<AnyView, State> {
        let state = STATE.with(|s| s.get());
        if state != State::Ready {
            if state == State::Failed {
                untrack(start);
            }
            return Err(state);
        }
        let future = pin!(render_split(which, close));
        match future.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(view)) => Ok(view),
            _ => Err(State::Failed),
        }
    }
}

/// Start fetching the dialogs' module (once; later calls do nothing).
pub fn start() {
    #[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
    split::start();
}

/// A room dialog, or a note while its module is on its way.
#[component]
pub fn RoomDialogView(which: RoomDialog, close: Callback<()>) -> impl IntoView {
    #[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
    {
        move || match split::render_now(which.clone(), close) {
            Ok(view) => view,
            // Not a dialog: nothing until it can be drawn.
            Err(_) if which.quiet() => ().into_any(),
            Err(_) if which == RoomDialog::Admin => {
                view! { <p class="hint admin" role="status">"Loading…"</p> }.into_any()
            }
            Err(state) => {
                let text = if state == split::State::Failed {
                    "This could not be loaded. Check the connection and open it again."
                } else {
                    "Loading…"
                };
                view! {
                    <crate::components::message_dialogs::Modal label="Loading" on_close=close>
                        <p role="status">{text}</p>
                        <div class="modal-buttons">
                            <button type="button" class="quiet" on:click=move |_| close.run(())>
                                "Close"
                            </button>
                        </div>
                    </crate::components::message_dialogs::Modal>
                }
                .into_any()
            }
        }
    }
    #[cfg(not(all(feature = "hydrate", target_arch = "wasm32")))]
    {
        render(which, close)
    }
}
