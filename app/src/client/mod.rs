//! The browser side of Parley: the HTTP session calls, the WebSocket
//! connection and the conversation state the components render.
//!
//! Everything that touches browser APIs sits behind the `hydrate` feature.
//! The server build (`ssr`) gets inert stand-ins with the same signatures,
//! so components compile unchanged on both sides; the stand-ins are never
//! reached because event handlers and effects only run in the browser.

pub mod changes;
pub mod chat;
pub mod connection;
pub mod http;
pub mod markdown;
pub mod markdown_loader;
pub mod mention_query;
pub mod notifications;
#[cfg(feature = "hydrate")]
mod poll;
pub mod ready_state;
pub mod rooms;
pub mod saved_outbox;
pub mod search;
#[cfg(feature = "hydrate")]
mod socket;
pub mod text;
pub mod transport;

pub use chat::{Chat, Delivery, Entry};
pub use connection::Connection;
pub use ready_state::ReadyState;
pub use transport::Transport;

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

/// Milliseconds since the Unix epoch, now (the browser's clock in the
/// web app; a native build with the browser feature on, as a workspace's
/// tests build the server, has no browser to ask).
pub fn now_ms() -> i64 {
    #[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(all(feature = "hydrate", target_arch = "wasm32")))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    }
}

/// The calendar day of a timestamp as `(year, month 1-12, day)`: local in
/// the browser, UTC elsewhere.
pub fn day_of(ts_ms: i64) -> (i32, u32, u32) {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts_ms as f64));
        (
            date.get_full_year() as i32,
            date.get_month() + 1,
            date.get_date(),
        )
    }
    #[cfg(not(feature = "hydrate"))]
    {
        civil_from_days(ts_ms.div_euclid(86_400_000))
    }
}

/// A day separator's words: "Today", "Yesterday" or e.g. "24 November 2026".
pub fn day_label(ts_ms: i64, now_ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let day = day_of(ts_ms);
    if day == day_of(now_ms) {
        return "Today".to_owned();
    }
    if day == day_of(now_ms - 86_400_000) {
        return "Yesterday".to_owned();
    }
    let (y, m, d) = day;
    format!("{d} {} {y}", MONTHS[(m as usize).clamp(1, 12) - 1])
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
#[cfg(not(feature = "hydrate"))]
fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

#[cfg(all(test, not(feature = "hydrate")))]
mod tests {
    use super::*;

    #[test]
    fn days_are_named() {
        let day = 86_400_000;
        let now = 1_764_000_000_000; // 2025-11-24
        assert_eq!(day_of(now), (2025, 11, 24));
        assert_eq!(day_label(now, now), "Today");
        assert_eq!(day_label(now - day, now), "Yesterday");
        assert_eq!(day_label(now - 3 * day, now), "21 November 2025");
        assert_eq!(day_of(0), (1970, 1, 1));
    }
}
