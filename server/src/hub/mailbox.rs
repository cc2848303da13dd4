//! A connection's bounded outbound queue.
//!
//! Bounded in items and in bytes, never waited on by the sender: `offer`
//! either queues or tells the connection to close as a slow consumer. An idle
//! connection's queue holds no buffer at all (one small shared allocation,
//! the queue's storage only while something is queued), which is most of
//! what an idle socket would otherwise cost: a tokio `mpsc` channel
//! allocates its first block of 32 slots (~3 KiB) up front. The receiver is
//! polled by the connection's task, whose waker the queue keeps.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::{CloseSignal, Outbound, CLOSE_SLOW_CONSUMER};
use crate::metrics::Metrics;

struct Queue {
    items: VecDeque<Outbound>,
    bytes: usize,
    /// The connection's task, waiting for an item.
    waker: Option<Waker>,
    /// The [`Outbox`] is gone: nothing more is accepted.
    receiver_gone: bool,
}

struct Shared {
    queue: Mutex<Queue>,
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

/// The receiving half, drained by the connection's task.
pub struct Outbox {
    shared: Arc<Shared>,
}

impl Mailbox {
    pub fn new(max_items: usize, max_bytes: usize, metrics: Arc<Metrics>) -> (Self, Outbox) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                bytes: 0,
                waker: None,
                receiver_gone: false,
            }),
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
        let waker = {
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
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
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
        Mailbox {
            shared: self.shared.clone(),
            close: self.close.clone(),
        }
    }
}

impl Outbox {
    /// The next item, or `Pending` (the task is woken by the next offer).
    pub fn poll_take(&mut self, cx: &mut Context<'_>) -> Poll<Outbound> {
        let mut queue = self.shared.lock();
        match take(&mut queue) {
            Some(item) => Poll::Ready(item),
            None => {
                if !queue
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    queue.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    /// The next item if one is already queued.
    pub fn try_take(&mut self) -> Option<Outbound> {
        take(&mut self.shared.lock())
    }
}

fn take(queue: &mut Queue) -> Option<Outbound> {
    let item = queue.items.pop_front()?;
    queue.bytes -= item.len();
    if queue.items.is_empty() {
        // Drained: an idle connection keeps no storage.
        queue.items = VecDeque::new();
    }
    Some(item)
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.receiver_gone = true;
        queue.items = VecDeque::new();
        queue.bytes = 0;
        queue.waker = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::future::poll_fn;

    fn frame(text: &'static str) -> Outbound {
        Outbound::Frame(Bytes::from_static(text.as_bytes()))
    }

    fn text(item: Option<Outbound>) -> Option<String> {
        match item? {
            Outbound::Frame(t) => Some(String::from_utf8_lossy(&t).into_owned()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn items_come_out_in_order() {
        let (mailbox, mut outbox) = Mailbox::new(8, 1024, Arc::new(Metrics::default()));
        let second = mailbox.clone();
        assert!(mailbox.offer(frame("a")));
        assert!(second.offer(frame("b")));
        assert_eq!(text(outbox.try_take()).as_deref(), Some("a"));
        assert_eq!(text(outbox.try_take()).as_deref(), Some("b"));
        assert!(outbox.try_take().is_none());
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_an_offer() {
        let (mailbox, mut outbox) = Mailbox::new(8, 1024, Arc::new(Metrics::default()));
        let waiting =
            tokio::spawn(async move { text(Some(poll_fn(|cx| outbox.poll_take(cx)).await)) });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
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
        assert_eq!(text(outbox.try_take()).as_deref(), Some("abc"));
    }

    #[test]
    fn taken_bytes_make_room_again() {
        let (mailbox, mut outbox) = Mailbox::new(100, 5, Arc::new(Metrics::default()));
        assert!(mailbox.offer(frame("abc")));
        assert!(outbox.try_take().is_some());
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
    fn a_drained_queue_gives_its_storage_back() {
        let (mailbox, mut outbox) = Mailbox::new(1000, 1 << 20, Arc::new(Metrics::default()));
        for _ in 0..200 {
            assert!(mailbox.offer(frame("x")));
        }
        assert!(outbox.shared.lock().items.capacity() >= 200);
        while outbox.try_take().is_some() {}
        assert_eq!(outbox.shared.lock().items.capacity(), 0);
    }
}
