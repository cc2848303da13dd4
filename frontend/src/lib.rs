//! The wasm entry point: installs the panic hook, hydrates the server-rendered
//! page and starts fetching the Markdown parser's and the room dialogs'
//! modules while the socket connects.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    app::client::markdown_loader::start();
    app::components::room_dialogs::start();
}
