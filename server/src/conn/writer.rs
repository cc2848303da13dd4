//! The writer half of every WebSocket: drains the outbound queue, pings, and
//! closes with the reason the connection was closed for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage};
use futures_util::SinkExt;
use tokio::time::{sleep_until, timeout, Instant};

use app::protocol::{Conv, ServerFrame};

use super::sync::SentPositions;
use super::Sink;
use crate::hub::{frame, CloseSignal, Outbound, Outbox, CLOSE_PING_TIMEOUT, CLOSE_SLOW_CONSUMER};
use crate::metrics::Metrics;
use crate::relay::wire_message;
use crate::store::Store;

/// How long the writer may take to flush its close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Most frames written between two flushes.
const MAX_BATCH: usize = 256;
/// The largest gap the writer fills from the store; past it the client is
/// asked to reconnect and resume instead.
const MAX_GAP_FILL: i64 = 1000;

/// When the peer was last heard from, shared by the reader (which records)
/// and the writer (which pings and judges).
#[derive(Debug)]
pub struct Liveness {
    start: Instant,
    last_heard_ms: AtomicU64,
}

impl Liveness {
    pub fn new() -> Arc<Self> {
        Arc::new(Liveness {
            start: Instant::now(),
            last_heard_ms: AtomicU64::new(0),
        })
    }

    /// Any frame from the peer (a pong included) proves it is alive.
    pub fn heard(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_heard_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn heard_since(&self, at: Instant) -> bool {
        let at_ms = at.saturating_duration_since(self.start).as_millis() as u64;
        self.last_heard_ms.load(Ordering::Relaxed) >= at_ms
    }
}

/// Ping timing for one connection.
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    pub interval: Duration,
    pub timeout: Duration,
}

pub struct Writer {
    pub sink: Sink,
    pub outbox: Outbox,
    pub sent: SentPositions,
    pub close: Arc<CloseSignal>,
    pub liveness: Arc<Liveness>,
    pub heartbeat: Heartbeat,
    pub metrics: Arc<Metrics>,
    /// For filling gaps: the store has every message that was relayed.
    pub store: Store,
    /// The connection's user (empty for guests, who get no stored messages).
    pub user_name: String,
}

impl Writer {
    /// Run until the connection is closed, then send the close frame.
    ///
    /// The close signal's waiter and the timer live across iterations: a
    /// wake-up for a queued frame registers nothing anew (no timer-wheel or
    /// waiter-list work per delivery).
    pub async fn run(mut self) {
        let close = self.close.clone();
        let closed = close.closed();
        tokio::pin!(closed);
        let mut next_ping = Instant::now() + self.heartbeat.interval;
        let mut pong_due: Option<(Instant, Instant)> = None; // (ping sent, deadline)
        let timer = sleep_until(next_ping);
        tokio::pin!(timer);
        loop {
            let deadline = pong_due.map_or(next_ping, |(_, d)| d.min(next_ping));
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            tokio::select! {
                biased;
                _ = &mut closed => break,
                _ = &mut timer => {
                    let now = Instant::now();
                    if let Some((sent, due)) = pong_due {
                        if now >= due {
                            if !self.liveness.heard_since(sent) {
                                self.close.close(CLOSE_PING_TIMEOUT, "no answer to ping");
                                break;
                            }
                            pong_due = None;
                        }
                    }
                    if now >= next_ping {
                        next_ping = now + self.heartbeat.interval;
                        if !(self.write(WsMessage::Ping(Default::default())).await && self.flush().await) {
                            break;
                        }
                        if pong_due.is_none() {
                            pong_due = Some((now, now + self.heartbeat.timeout));
                        }
                    }
                }
                item = self.outbox.recv() => {
                    let Some(item) = item else { break };
                    if !self.write_batch(item).await {
                        break;
                    }
                }
            }
        }
        let (code, reason) = self.close.reason().unwrap_or((1000, "bye"));
        let _ = timeout(CLOSE_TIMEOUT, send_close(&mut self.sink, code, reason)).await;
    }

    /// Write `first` and whatever else is already queued (up to
    /// [`MAX_BATCH`] frames), then flush once: one system call for many
    /// frames when traffic is heavy, no delay when it is light.
    async fn write_batch(&mut self, first: Outbound) -> bool {
        if !self.write_item(first).await {
            return false;
        }
        for _ in 1..MAX_BATCH {
            let Some(item) = self.outbox.try_recv() else {
                break;
            };
            if !self.write_item(item).await {
                return false;
            }
        }
        self.flush().await
    }

    async fn write_item(&mut self, item: Outbound) -> bool {
        match item {
            Outbound::Frame(text) => self.write(WsMessage::Text(text)).await,
            Outbound::Forget { conv_id } => {
                self.sent.forget(conv_id);
                true
            }
            Outbound::Ack {
                conv_id,
                seq,
                frame,
            } => {
                // Messages of others below our own may still be on their way
                // from another node: send them from the store first.
                if !self.fill_gap(conv_id, seq, None).await {
                    return false;
                }
                self.sent.advance(conv_id, seq);
                self.write(WsMessage::Text(frame)).await
            }
            Outbound::Msg {
                conv_id,
                seq,
                view,
                frame,
                received,
            } => {
                if self.sent.last(conv_id).is_some_and(|last| seq <= last) {
                    return true;
                }
                if !self.fill_gap(conv_id, seq, Some(&view)).await {
                    return false;
                }
                self.sent.advance(conv_id, seq);
                // Counted as the frame is handed to the socket.
                self.metrics.messages_out.fetch_add(1, Ordering::Relaxed);
                self.metrics.delivery_latency.observe(received.elapsed());
                self.write(WsMessage::Text(frame)).await
            }
        }
    }

    /// Send, from the store, whatever of `conv_id` lies between the last
    /// sequence sent and `seq` (exclusive). Single-node traffic arrives in
    /// order and never has a gap; across nodes it can. Without a `view`
    /// (before an ack) the conversation's wire name is taken from the
    /// caller's own later message, so only the position moves.
    async fn fill_gap(&mut self, conv_id: i64, seq: i64, view: Option<&Conv>) -> bool {
        let Some(last) = self.sent.last(conv_id) else {
            return true; // not followed yet: start from here
        };
        let missing = seq - last - 1;
        if missing <= 0 {
            return true;
        }
        if missing > MAX_GAP_FILL {
            self.close
                .close(CLOSE_SLOW_CONSUMER, "too far behind: reconnect and resume");
            return false;
        }
        // The store calls are boxed: gaps are rare (only across nodes), and
        // inline they would grow every idle writer by their size.
        let view = match view {
            Some(view) => view.clone(),
            None => match Box::pin(self.store.conversation_kind(conv_id, &self.user_name)).await {
                Ok(Some(kind)) => super::sync::wire_conv(&kind),
                _ => return true,
            },
        };
        let page = match Box::pin(self.store.messages_after(conv_id, last, missing as u32)).await {
            Ok(page) => page,
            Err(error) => {
                tracing::error!(%error, "filling a gap failed");
                self.close.close(1011, "server error");
                return false;
            }
        };
        for stored in page.into_iter().filter(|m| m.seq < seq) {
            self.sent.advance(conv_id, stored.seq);
            let frame = frame(&ServerFrame::Message {
                message: wire_message(view.clone(), &stored),
            });
            if !self.write(WsMessage::Text(frame)).await {
                return false;
            }
        }
        true
    }

    /// Queue one frame in the socket's write buffer (written out when it
    /// fills, or at the next [`Writer::flush`]).
    async fn write(&mut self, message: WsMessage) -> bool {
        let fed = timeout(self.heartbeat.timeout, self.sink.feed(message)).await;
        self.judge(fed)
    }

    async fn flush(&mut self) -> bool {
        let flushed = timeout(self.heartbeat.timeout, self.sink.flush()).await;
        self.judge(flushed)
    }

    /// A peer that takes longer than the ping timeout to take what is
    /// written is a slow consumer.
    fn judge(&self, outcome: Result<Result<(), axum::Error>, tokio::time::error::Elapsed>) -> bool {
        match outcome {
            Ok(Ok(())) => true,
            Ok(Err(_)) => {
                self.close.close(1011, "write failed");
                false
            }
            Err(_) => {
                if !self.close.is_closed() {
                    self.metrics
                        .slow_consumer_closes
                        .fetch_add(1, Ordering::Relaxed);
                }
                self.close
                    .close(CLOSE_SLOW_CONSUMER, "slow consumer: socket not drained");
                false
            }
        }
    }
}

pub async fn send_close(
    sink: &mut Sink,
    code: u16,
    reason: &'static str,
) -> Result<(), axum::Error> {
    sink.send(WsMessage::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    })))
    .await
}
