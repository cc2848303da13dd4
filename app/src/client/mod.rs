//! The browser side of Parley: the HTTP session calls, the WebSocket
//! connection and the conversation state the components render.
//!
//! Everything that touches browser APIs sits behind the `hydrate` feature.
//! The server build (`ssr`) gets inert stand-ins with the same signatures,
//! so components compile unchanged on both sides; the stand-ins are never
//! reached because event handlers and effects only run in the browser.

pub mod chat;
pub mod connection;
pub mod http;
pub mod ready_state;
#[cfg(feature = "hydrate")]
mod socket;

pub use chat::{Chat, Delivery, Entry};
pub use connection::Connection;
pub use ready_state::ReadyState;

/// `HH:MM` for a timestamp in milliseconds since the Unix epoch: local time
/// in the browser, UTC elsewhere.
pub fn clock(ts_ms: i64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts_ms as f64));
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let minutes = ts_ms.div_euclid(60_000).rem_euclid(24 * 60);
        format!("{:02}:{:02}", minutes / 60, minutes % 60)
    }
}
