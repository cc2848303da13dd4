//! What every generated message carries: publisher, stream, sequence and
//! send time, padded to the requested size.
//!
//! A *stream* is one publisher writing to one destination (a room, or a
//! user for direct messages). Every receiver of a stream gets all of its
//! messages, so per stream and receiver the sequence must be 1, 2, 3, … with
//! nothing missing, repeated or out of order.

use std::sync::OnceLock;
use std::time::Instant;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds on the generator's monotonic clock (shared by all tasks).
pub fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// Start the clock (call once at startup so that times stay small).
pub fn start_clock() {
    let _ = epoch();
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub publisher: u32,
    pub stream: u32,
    pub seq: u64,
    pub sent_ns: u64,
}

impl Stamp {
    /// The `client_id` of this message: `publisher.stream.seq`.
    pub fn client_id(&self) -> String {
        format!("{}.{}.{}", self.publisher, self.stream, self.seq)
    }

    /// The body: `publisher stream seq sent_ns ` then `x` up to `size` bytes.
    pub fn body(&self, size: usize) -> String {
        let mut body = format!(
            "{} {} {} {} ",
            self.publisher, self.stream, self.seq, self.sent_ns
        );
        while body.len() < size {
            body.push('x');
        }
        body
    }

    pub fn parse_body(body: &str) -> Option<Stamp> {
        let mut parts = body.split(' ');
        Some(Stamp {
            publisher: parts.next()?.parse().ok()?,
            stream: parts.next()?.parse().ok()?,
            seq: parts.next()?.parse().ok()?,
            sent_ns: parts.next()?.parse().ok()?,
        })
    }

    /// `(publisher, stream)` of a client id made by [`Stamp::client_id`].
    pub fn parse_client_id(client_id: &str) -> Option<(u32, u32)> {
        let mut parts = client_id.split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    }

    /// The `client_id` of a change (edit, delete, react, unreact):
    /// `c` then `publisher.stream.seq.sent_ns`. A change frame carries no
    /// body of ours, so the whole stamp travels in the id (64 characters at
    /// the very most, the protocol's limit; ~30 in practice). The `c` keeps it apart from
    /// message ids, whose parser refuses it, and changes are numbered per
    /// stream on their own (a connection's changes are ordered among
    /// themselves, not against its messages).
    pub fn change_client_id(&self) -> String {
        format!(
            "c{}.{}.{}.{}",
            self.publisher, self.stream, self.seq, self.sent_ns
        )
    }

    /// The stamp of a client id made by [`Stamp::change_client_id`].
    pub fn parse_change_client_id(client_id: &str) -> Option<Stamp> {
        let mut parts = client_id.strip_prefix('c')?.split('.');
        let stamp = Stamp {
            publisher: parts.next()?.parse().ok()?,
            stream: parts.next()?.parse().ok()?,
            seq: parts.next()?.parse().ok()?,
            sent_ns: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(stamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trips_at_the_requested_size() {
        let stamp = Stamp {
            publisher: 4,
            stream: 17,
            seq: 123_456,
            sent_ns: 987_654_321,
        };
        let body = stamp.body(100);
        assert_eq!(body.len(), 100);
        assert_eq!(Stamp::parse_body(&body), Some(stamp));
        assert_eq!(Stamp::parse_client_id(&stamp.client_id()), Some((4, 17)));
        assert_eq!(Stamp::parse_body("hello"), None);
    }

    #[test]
    fn change_ids_carry_the_whole_stamp_and_stay_apart_from_message_ids() {
        let stamp = Stamp {
            publisher: 4_999,
            stream: u32::MAX,
            seq: u64::from(u32::MAX),
            sent_ns: 99_999_999_999_999,
        };
        let id = stamp.change_client_id();
        assert!(id.len() <= 64, "{id}");
        assert_eq!(Stamp::parse_change_client_id(&id), Some(stamp));
        // Message ids and change ids never parse as each other.
        assert_eq!(Stamp::parse_client_id(&id), None);
        assert_eq!(Stamp::parse_change_client_id(&stamp.client_id()), None);
        assert_eq!(Stamp::parse_change_client_id("c1.2.3"), None);
        assert_eq!(Stamp::parse_change_client_id("c1.2.3.4.5"), None);
        // The longest possible id fits the protocol's 64 characters.
        let longest = Stamp {
            publisher: u32::MAX,
            stream: u32::MAX,
            seq: u64::MAX,
            sent_ns: u64::MAX,
        };
        assert!(longest.change_client_id().len() <= 64);
    }
}
