//! Parley's user interface, compiled twice: into the server (feature `ssr`)
//! to render pages, and into the browser bundle (feature `hydrate`) to make
//! them live.

// The views' types nest deeply; the server build's layout queries need room.
#![recursion_limit = "256"]

pub mod protocol;

pub mod client;
pub mod components;

use leptos::prelude::*;
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    ParamSegment, StaticSegment,
};

use crate::components::{
    conversation::{ConversationRoute, LobbyRoute},
    not_found::NotFound,
    shell::Shell,
};

/// The HTML document around [`App`]; the server renders it for every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <link rel="stylesheet" id="leptos" href="/pkg/parley.css"/>
                <title>"Parley"</title>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: the routes.
///
/// `/` shows the lobby; every conversation has its own address:
/// `/c/room/{name}`, `/c/dm/{username}` and `/c/guest/{name}`. They all
/// share one [`Shell`] (session, socket, sidebar), so moving between
/// conversations never reconnects.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <Routes fallback=NotFound>
                <ParentRoute path=StaticSegment("") view=Shell>
                    <Route path=StaticSegment("") view=LobbyRoute/>
                    <Route
                        path=(StaticSegment("c"), ParamSegment("kind"), ParamSegment("name"))
                        view=ConversationRoute
                    />
                    <Route path=StaticSegment("admin") view=components::admin::AdminRoute/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
