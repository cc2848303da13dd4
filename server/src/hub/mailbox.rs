//! A connection's bounded outbound queue.
//!
//! Bounded in items and in bytes, never waited on by the sender: `offer`
//! either queues or tells the connection to close as a slow consumer. An idle
//! connection's queue holds no buffer at all (one small shared allocation,
//! the queue's storage only while something is queued), which is most of
//! what an idle socket would otherwise cost: a tokio `mpsc` channel
//! allocates its first block of 32 slots (~3 KiB) up front.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::{CloseSignal, Outbound, CLOSE_SLOW_CONSUMER};
use crate::metrics::Metrics;

/// A drained queue keeps at most this many slots of storage.
const KEEP_WHEN_EMPTY: usize = 16;

struct Queue {
    items: VecDeque<Outbound>,
    bytes: usize,
    /// Live [`Mailbox`] clones; the [`Outbox`] ends once they are gone.
    senders: usize,
    /// The [`Outbox`] is gone: nothing more is accepted.
    receiver_gone: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Notify,
    max_items: usize,
    max_bytes: usize,
    metrics: Arc<Metrics>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Every update leaves the queue whole; a panic elsewhere cannot
        // leave it half-changed.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending half a connection registers with.
pub struct Mailbox {
    shared: Arc<Shared>,
    pub close: Arc<CloseSignal>,
}

/// The receiving half, drained by the connection's writer.
pub struct Outbox {
    shared: Arc<Shared>,
}

impl Mailbox {
    pub fn new(max_items: usize, max_bytes: usize, metrics: Arc<Metrics>) -> (Self, Outbox) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                bytes: 0,
                senders: 1,
                receiver_gone: false,
            }),
            ready: Notify::new(),
            max_items: max_items.max(1),
            max_bytes: max_bytes.max(1),
            metrics,
        });
        (
            Mailbox {
                shared: shared.clone(),
                close: CloseSignal::new(),
            },
            Outbox { shared },
        )
    }

    /// Queue without waiting. False when the queue was full in items or
    /// bytes (the connection is then told to close as a slow consumer) or
    /// the connection is closing.
    pub fn offer(&self, item: Outbound) -> bool {
        if self.close.is_closed() {
            return false;
        }
        let len = item.len();
        {
            let mut queue = self.shared.lock();
            if queue.receiver_gone {
                return false;
            }
            if queue.items.len() >= self.shared.max_items
                || queue.bytes + len > self.shared.max_bytes
            {
                drop(queue);
                self.overflow();
                return false;
            }
            queue.bytes += len;
            queue.items.push_back(item);
        }
        self.shared.ready.notify_one();
        true
    }

    fn overflow(&self) {
        let metrics = &self.shared.metrics;
        metrics.queue_drops.fetch_add(1, Ordering::Relaxed);
        if !self.close.is_closed() {
            metrics.slow_consumer_closes.fetch_add(1, Ordering::Relaxed);
        }
        self.close
            .close(CLOSE_SLOW_CONSUMER, "slow consumer: outbound queue full");
    }
}

impl Clone for Mailbox {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Mailbox {
            shared: self.shared.clone(),
            close: self.close.clone(),
        }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        let last = {
            let mut queue = self.shared.lock();
            queue.senders -= 1;
            queue.senders == 0
        };
        if last {
            self.shared.ready.notify_one();
        }
    }
}

/// What the queue had for the receiver.
enum Taken {
    Item(Outbound),
    Empty,
    /// Empty, and no sender is left.
    Ended,
}

impl Outbox {
    /// The next item, waiting for one; `None` once every [`Mailbox`] is
    /// gone and the queue is drained. Cancel-safe: an item is only taken
    /// when it is returned.
    pub async fn recv(&mut self) -> Option<Outbound> {
        loop {
            match self.take() {
                Taken::Item(item) => return Some(item),
                Taken::Ended => return None,
                Taken::Empty => self.shared.ready.notified().await,
            }
        }
    }

    /// The next item if one is already queued.
    pub fn try_recv(&mut self) -> Option<Outbound> {
        match self.take() {
            Taken::Item(item) => Some(item),
            Taken::Empty | Taken::Ended => None,
        }
    }

    fn take(&mut self) -> Taken {
        let mut queue = self.shared.lock();
        match queue.items.pop_front() {
            Some(item) => {
                queue.bytes -= item.len();
                if queue.items.is_empty() && queue.items.capacity() > KEEP_WHEN_EMPTY {
                    // A burst is over: give its storage back.
                    queue.items = VecDeque::new();
                }
                Taken::Item(item)
            }
            None if queue.senders == 0 => Taken::Ended,
            None => Taken::Empty,
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.receiver_gone = true;
        queue.items = VecDeque::new();
        queue.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ws::Utf8Bytes;

    fn frame(text: &'static str) -> Outbound {
        Outbound::Frame(Utf8Bytes::from_static(text))
    }

    fn text(item: Option<Outbound>) -> Option<String> {
        match item? {
            Outbound::Frame(t) => Some(t.as_str().to_string()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn items_come_out_in_order_and_the_end_is_seen() {
        let (mailbox, mut outbox) = Mailbox::new(8, 1024, Arc::new(Metrics::default()));
        let second = mailbox.clone();
        assert!(mailbox.offer(frame("a")));
        assert!(second.offer(frame("b")));
        drop(mailbox);
        assert_eq!(text(outbox.recv().await).as_deref(), Some("a"));
        assert_eq!(text(outbox.try_recv()).as_deref(), Some("b"));
        assert!(outbox.try_recv().is_none());
        // One sender is left: recv waits; once it is gone, recv ends.
        let waiting = tokio::spawn(async move { outbox.recv().await.is_none() });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(second);
        assert!(waiting.await.expect("task"));
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_an_offer() {
        let (mailbox, mut outbox) = Mailbox::new(8, 1024, Arc::new(Metrics::default()));
        let waiting = tokio::spawn(async move { text(outbox.recv().await) });
        tokio::task::yield_now().await;
        assert!(mailbox.offer(frame("hi")));
        assert_eq!(waiting.await.expect("task").as_deref(), Some("hi"));
    }

    #[test]
    fn too_many_items_close_as_a_slow_consumer() {
        let metrics = Arc::new(Metrics::default());
        let (mailbox, _outbox) = Mailbox::new(2, 1024, metrics.clone());
        assert!(mailbox.offer(frame("1")));
        assert!(mailbox.offer(frame("2")));
        assert!(!mailbox.offer(frame("3")));
        assert_eq!(
            mailbox.close.reason().map(|r| r.0),
            Some(CLOSE_SLOW_CONSUMER)
        );
        assert_eq!(metrics.slow_consumer_closes.load(Ordering::Relaxed), 1);
        // Closed: nothing more is taken, and it is not counted twice.
        assert!(!mailbox.offer(frame("4")));
        assert_eq!(metrics.slow_consumer_closes.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn too_many_bytes_close_as_a_slow_consumer() {
        let (mailbox, mut outbox) = Mailbox::new(100, 5, Arc::new(Metrics::default()));
        assert!(mailbox.offer(frame("abc")));
        assert!(!mailbox.offer(frame("def")));
        assert_eq!(
            mailbox.close.reason().map(|r| r.0),
            Some(CLOSE_SLOW_CONSUMER)
        );
        assert_eq!(text(outbox.try_recv()).as_deref(), Some("abc"));
    }

    #[test]
    fn taken_bytes_make_room_again() {
        let (mailbox, mut outbox) = Mailbox::new(100, 5, Arc::new(Metrics::default()));
        assert!(mailbox.offer(frame("abc")));
        assert!(outbox.try_recv().is_some());
        assert!(mailbox.offer(frame("defgh")));
        assert!(mailbox.close.reason().is_none());
    }

    #[test]
    fn nothing_is_accepted_once_the_receiver_is_gone() {
        let metrics = Arc::new(Metrics::default());
        let (mailbox, outbox) = Mailbox::new(8, 1024, metrics.clone());
        drop(outbox);
        assert!(!mailbox.offer(frame("x")));
        // Not a slow consumer: the connection is simply over.
        assert!(mailbox.close.reason().is_none());
        assert_eq!(metrics.slow_consumer_closes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_drained_burst_gives_its_storage_back() {
        let (mailbox, mut outbox) = Mailbox::new(1000, 1 << 20, Arc::new(Metrics::default()));
        for _ in 0..200 {
            assert!(mailbox.offer(frame("x")));
        }
        assert!(outbox.shared.lock().items.capacity() >= 200);
        while outbox.try_recv().is_some() {}
        assert!(outbox.shared.lock().items.capacity() <= KEEP_WHEN_EMPTY);
    }
}
