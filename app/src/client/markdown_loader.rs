//! The Markdown parser, loaded after the page starts.
//!
//! `pulldown-cmark` is the largest part of the web app: ~75 KB of its
//! gzip-compressed wasm, more than every view of the messages together.
//! `cargo leptos build --split` moves it into a wasm module of its own,
//! which [`start`] fetches (`frontend` calls it right after hydration,
//! while the socket connects). Until it is there, [`parse_now`] answers
//! `None`, so a body shows as plain text, and a view that called it is
//! drawn again when the module arrives. If it cannot be fetched, bodies
//! stay plain text and the next `parse_now` tries again. The server
//! parses directly.
//!
//! Every build of the web app needs `--split`: without it the page would
//! import the split loader's script, which only `--split` writes.

use super::markdown::Block;

#[cfg(feature = "hydrate")]
mod split {
    use std::cell::Cell;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use leptos::wasm_split::SplitLoaderError;

    use crate::client::markdown::{parse, Block};

    /// The split point: this function, and all that only it reaches, go
    /// into their own module. `fallible`: a module that cannot be fetched
    /// is an error to handle, not a panic that would stop the app.
    #[leptos::wasm_split::wasm_split(markdown, wasm_split_path = ::leptos::wasm_split, fallible)]
    fn parse_split(body: String) -> Result<Vec<Block>, SplitLoaderError> {
        Ok(parse(&body))
    }

    thread_local! {
        static READY: ArcRwSignal<bool> = ArcRwSignal::new(false);
        static STARTED: Cell<bool> = const { Cell::new(false) };
    }

    pub fn start() {
        if STARTED.replace(true) {
            return;
        }
        spawn_local(async {
            match __wasm_split_preload_parse_split().await {
                Ok(()) => READY.with(|ready| ready.set(true)),
                // Bodies stay plain text; the next message drawn tries again.
                Err(_) => STARTED.set(false),
            }
        });
    }

    /// Once the module is loaded, the split function's future is ready
    /// on its first poll: nothing waits. Tracked: a view that gets `None`
    /// is drawn again when the module arrives.
    pub fn parse_now(body: &str) -> Option<Vec<Block>> {
        if !READY.with(|ready| ready.get()) {
            start();
            return None;
        }
        let future = pin!(parse_split(body.to_owned()));
        match future.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(blocks) => blocks.ok(),
            Poll::Pending => None,
        }
    }
}

/// Start loading the parser (once; later calls do nothing).
pub fn start() {
    #[cfg(feature = "hydrate")]
    split::start();
}

/// `body` parsed, or `None` while the parser is still on its way (asking
/// starts fetching it, or tries again after a failure).
pub fn parse_now(body: &str) -> Option<Vec<Block>> {
    #[cfg(feature = "hydrate")]
    return split::parse_now(body);
    #[cfg(not(feature = "hydrate"))]
    Some(super::markdown::parse(body))
}
