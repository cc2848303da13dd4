//! The writer half of every WebSocket: drains the outbound queue, pings, and
//! closes with the reason the connection was closed for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage};
use futures_util::SinkExt;
use tokio::time::{sleep_until, timeout, Instant};

use super::sync::SentPositions;
use super::Sink;
use crate::hub::{CloseSignal, Outbound, Outbox, CLOSE_PING_TIMEOUT, CLOSE_SLOW_CONSUMER};
use crate::metrics::Metrics;

/// How long the writer may take to flush its close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

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
}

impl Writer {
    /// Run until the connection is closed, then send the close frame.
    pub async fn run(mut self) {
        let mut next_ping = Instant::now() + self.heartbeat.interval;
        let mut pong_due: Option<(Instant, Instant)> = None; // (ping sent, deadline)
        loop {
            let deadline = pong_due.map(|(_, d)| d).unwrap_or(next_ping);
            tokio::select! {
                biased;
                _ = self.close.closed() => break,
                _ = sleep_until(deadline), if pong_due.is_some() => {
                    let (sent, _) = pong_due.take().unwrap_or((Instant::now(), Instant::now()));
                    if !self.liveness.heard_since(sent) {
                        self.close.close(CLOSE_PING_TIMEOUT, "no answer to ping");
                        break;
                    }
                }
                _ = sleep_until(next_ping) => {
                    let now = Instant::now();
                    next_ping = now + self.heartbeat.interval;
                    if !self.write(WsMessage::Ping(Default::default())).await {
                        break;
                    }
                    if pong_due.is_none() {
                        pong_due = Some((now, now + self.heartbeat.timeout));
                    }
                }
                item = self.outbox.recv() => {
                    let Some(item) = item else { break };
                    if !self.write_item(item).await {
                        break;
                    }
                }
            }
        }
        let (code, reason) = self.close.reason().unwrap_or((1000, "bye"));
        let _ = timeout(CLOSE_TIMEOUT, send_close(&mut self.sink, code, reason)).await;
    }

    async fn write_item(&mut self, item: Outbound) -> bool {
        match item {
            Outbound::Frame(text) => self.write(WsMessage::Text(text)).await,
            Outbound::Msg {
                conv_id,
                seq,
                frame,
                received,
            } => {
                if !self.sent.advance(conv_id, seq) {
                    return true;
                }
                let ok = self.write(WsMessage::Text(frame)).await;
                if ok {
                    self.metrics.messages_out.fetch_add(1, Ordering::Relaxed);
                    self.metrics.delivery_latency.observe(received.elapsed());
                }
                ok
            }
        }
    }

    /// Write one frame; a peer that takes longer than the ping timeout to
    /// take it is a slow consumer.
    async fn write(&mut self, message: WsMessage) -> bool {
        match timeout(self.heartbeat.timeout, self.sink.send(message)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => {
                self.close.close(1011, "write failed");
                false
            }
            Err(_) => {
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
