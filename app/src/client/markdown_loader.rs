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

    /// In the same module: the text on one line (and the code that makes
    /// it stays out of the first load).
    #[leptos::wasm_split::wasm_split(markdown, wasm_split_path = ::leptos::wasm_split, fallible)]
    fn one_line_split(body: String) -> Result<String, SplitLoaderError> {
        Ok(crate::client::markdown::one_line(&parse(&body)))
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
            // Both functions' loaders, so that each is ready on its first
            // poll (the module is fetched once).
            let loaded = match __wasm_split_preload_parse_split().await {
                Ok(()) => __wasm_split_preload_one_line_split().await,
                failed => failed,
            };
            match loaded {
                Ok(()) => READY.with(|ready| ready.set(true)),
                // Bodies stay plain text; the next message drawn tries again.
                Err(_) => STARTED.set(false),
            }
        });
    }

    /// Once the module is loaded, a split function's future is ready on
    /// its first poll: nothing waits. Tracked: a view that gets `None` is
    /// drawn again when the module arrives.
    fn now<T, F>(call: impl FnOnce() -> F) -> Option<T>
    where
        F: Future<Output = Result<T, SplitLoaderError>>,
    {
        if !READY.with(|ready| ready.get()) {
            start();
            return None;
        }
        let future = pin!(call());
        match future.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(value) => value.ok(),
            Poll::Pending => None,
        }
    }

    pub fn parse_now(body: &str) -> Option<Vec<Block>> {
        now(|| parse_split(body.to_owned()))
    }

    /// [`parse_now`], on one line without the Markdown.
    pub fn one_line_now(body: &str) -> Option<String> {
        now(|| one_line_split(body.to_owned()))
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

/// `body` on one line without its Markdown (a quote, a notification), or
/// as typed while the parser is on its way (tracked, like [`parse_now`]).
pub fn one_line(body: &str) -> String {
    #[cfg(feature = "hydrate")]
    return split::one_line_now(body).unwrap_or_else(|| body.to_owned());
    #[cfg(not(feature = "hydrate"))]
    super::markdown::one_line(&super::markdown::parse(body))
}
