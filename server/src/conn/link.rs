//! A connection's one task: its WebSocket, its outbound queue and the
//! positions it has sent, driven together.
//!
//! Every endpoint runs the same way: [`Link::next`] waits for the peer's
//! next message while writing whatever is queued and keeping the
//! heartbeat; [`Link::alongside`] keeps that going while a message is
//! handled; [`Link::finish`] closes. One task per socket, polled, holding
//! no buffer while idle: an idle connection costs little more than its
//! `TcpStream`.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use app::protocol::Conv;

use super::sync::{wire_conv, SentPositions};
use crate::hub::{frame, CloseSignal, Outbound, Outbox, CLOSE_PING_TIMEOUT, CLOSE_SLOW_CONSUMER};
use crate::metrics::Metrics;
use crate::relay::log_frame;
use crate::store::{Store, StoreError};
use crate::ws::{End, Message, Socket};

/// Queued items are handed to the socket while less than this is waiting
/// to be written; the rest wait in the outbound queue, whose bounds then
/// decide when a peer that does not read is cut off.
const HIGH_WATER: usize = 64 * 1024;
/// The largest gap filled from the store; past it the client is asked to
/// reconnect and resume instead.
const MAX_GAP_FILL: i64 = 1000;

/// Where a signed-in connection's missing messages come from.
#[derive(Clone)]
pub struct GapSource {
    pub store: Store,
    /// The connection's user (a direct conversation is named after the
    /// other person).
    pub user_name: String,
    /// The same user's id (their own reactions are marked).
    pub user_id: i64,
    /// Who the senders are shown as.
    pub hub: Arc<crate::hub::Hub>,
}

/// Stored messages as frames, each with its sequence number.
type GapFrames = Result<Vec<(i64, Bytes)>, StoreError>;

/// Messages being read from the store to fill a gap, and the item that
/// found the gap, sent after them.
struct GapFill {
    messages: Pin<Box<dyn Future<Output = GapFrames> + Send>>,
    conv_id: i64,
    then: Outbound,
}

pub struct Link {
    socket: Socket,
    feed: Feed,
    /// Why the socket can go on no longer, once it cannot.
    ended: Option<End>,
}

/// Where a connection's frames go: a socket, or a long-poll response.
pub trait Sink {
    /// Queue a text frame.
    fn push_text(&mut self, frame: Bytes);
    /// Bytes queued and not yet written.
    fn pending(&self) -> usize;
}

impl Sink for Socket {
    fn push_text(&mut self, frame: Bytes) {
        Socket::push_text(self, frame);
    }
    fn pending(&self) -> usize {
        Socket::pending(self)
    }
}

/// A connection's outbound queue and the positions it has sent: what is
/// skipped, what waits while a gap is filled from the store, and what is
/// handed to the [`Sink`]. Sockets and long-poll leases share it.
pub struct Feed {
    outbox: Outbox,
    close: Arc<CloseSignal>,
    metrics: Arc<Metrics>,
    sent: SentPositions,
    /// Queued items flow once the handshake has sent what comes before them.
    live: bool,
    // Boxed: only signed-in connections have a source, and gaps are rare
    // (only across nodes); an idle connection carries two pointers.
    gaps: Option<Box<GapSource>>,
    filling: Option<Box<GapFill>>,
}

impl Link {
    pub fn new(
        socket: Socket,
        outbox: Outbox,
        close: Arc<CloseSignal>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Link {
            socket,
            feed: Feed::new(outbox, close, metrics),
            ended: None,
        }
    }

    /// Start writing queued items, after what the handshake sent. `sent`:
    /// the position sent so far in each conversation; `gaps`: where to fill
    /// gaps from (signed-in connections only).
    pub fn go_live(&mut self, sent: SentPositions, gaps: Option<GapSource>) {
        self.feed.go_live(sent, gaps);
    }

    /// Queue a frame ahead of the outbound queue (the handshake's frames).
    pub fn send_now(&mut self, frame: Bytes) {
        self.socket.push_text(frame);
    }

    /// Bytes given to the socket and not yet written.
    pub fn pending(&self) -> usize {
        self.socket.pending()
    }

    /// Write what [`Link::send_now`] queued. False when the connection
    /// ended on the way.
    pub async fn flush(&mut self) -> bool {
        match self.socket.flush().await {
            Ok(()) => true,
            Err(end) => {
                self.end(end);
                false
            }
        }
    }

    pub fn close_signal(&self) -> &CloseSignal {
        &self.feed.close
    }

    /// The peer's next message, writing and pinging meanwhile. `None` once
    /// the connection is over: the peer left or broke the protocol, or the
    /// connection was told to close.
    pub async fn next(&mut self) -> Option<Message> {
        if self.ended.is_some() {
            return None;
        }
        poll_fn(|cx| {
            if let Poll::Ready(end) = self.poll_upkeep(cx) {
                self.end(end);
                return Poll::Ready(None);
            }
            match self.socket.poll_message(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(message)) => Poll::Ready(Some(message)),
                Poll::Ready(Err(end)) => {
                    self.end(end);
                    Poll::Ready(None)
                }
            }
        })
        .await
    }

    /// Run `work` (the handling of a message) to its end while writing and
    /// pinging go on. Should the connection end meanwhile, `work` still
    /// finishes; [`Link::next`] then says the connection is over.
    pub async fn alongside<F: Future>(&mut self, work: F) -> F::Output {
        let mut work = pin!(work);
        poll_fn(|cx| {
            if let Poll::Ready(output) = work.as_mut().poll(cx) {
                return Poll::Ready(output);
            }
            if self.ended.is_none() {
                if let Poll::Ready(end) = self.poll_upkeep(cx) {
                    self.end(end);
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Close the connection: answer the peer's close frame, or send ours
    /// with the reason the connection was closed for.
    pub async fn finish(mut self) {
        let close = self.feed.close.clone();
        close.close(1000, "bye");
        match self.ended.take() {
            Some(End::Gone) => {}
            Some(End::PeerClosed(close)) => self.socket.answer_close(close).await,
            _ => {
                let (code, reason) = close.reason().unwrap_or((1000, "bye"));
                self.socket.close(code, reason).await;
            }
        }
    }

    /// Record why the socket ended; what the peer did wrong becomes the
    /// close code.
    fn end(&mut self, end: End) {
        let close = &self.feed.close;
        match &end {
            End::Violation(violation) => close.close(violation.code, violation.reason),
            End::PingTimeout => close.close(CLOSE_PING_TIMEOUT, "no answer to ping"),
            End::Stalled => {
                if !close.is_closed() {
                    self.feed
                        .metrics
                        .slow_consumer_closes
                        .fetch_add(1, Ordering::Relaxed);
                }
                close.close(CLOSE_SLOW_CONSUMER, "slow consumer: socket not drained");
            }
            End::PeerClosed(_) | End::Gone | End::Closed => {}
        }
        self.ended = Some(end);
    }

    /// Everything but reading: hand queued items to the socket, write, keep
    /// the heartbeat. `Ready` when the connection has to end.
    fn poll_upkeep(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        if self.feed.close.poll_closed(cx).is_ready() {
            return Poll::Ready(End::Closed);
        }
        loop {
            let fed = self.feed.fill(cx, &mut self.socket);
            if let Poll::Ready(end) = self.socket.poll_upkeep(cx) {
                return Poll::Ready(end);
            }
            if self.feed.close.is_closed() {
                return Poll::Ready(End::Closed);
            }
            if !fed || self.socket.pending() >= HIGH_WATER {
                return Poll::Pending;
            }
        }
    }
}

impl Feed {
    pub fn new(outbox: Outbox, close: Arc<CloseSignal>, metrics: Arc<Metrics>) -> Self {
        Feed {
            outbox,
            close,
            metrics,
            sent: SentPositions::default(),
            live: false,
            gaps: None,
            filling: None,
        }
    }

    /// See [`Link::go_live`].
    pub fn go_live(&mut self, sent: SentPositions, gaps: Option<GapSource>) {
        self.sent = sent;
        self.gaps = gaps.map(Box::new);
        self.live = true;
    }

    pub fn close_signal(&self) -> &Arc<CloseSignal> {
        &self.close
    }

    /// Hand queued items to `sink` while less than [`HIGH_WATER`] waits in
    /// it. True when any was taken.
    pub fn fill(&mut self, cx: &mut Context<'_>, sink: &mut impl Sink) -> bool {
        if !self.live {
            return false;
        }
        let mut fed = false;
        loop {
            if let Some(fill) = self.filling.as_mut() {
                let Poll::Ready(messages) = fill.messages.as_mut().poll(cx) else {
                    return fed;
                };
                let Some(fill) = self.filling.take() else {
                    return fed;
                };
                match messages {
                    Ok(messages) => {
                        for (seq, frame) in messages {
                            self.sent.advance(fill.conv_id, seq);
                            sink.push_text(frame);
                        }
                        self.deliver(fill.then, sink);
                    }
                    Err(error) => {
                        tracing::error!(%error, "filling a gap failed");
                        self.close.close(1011, "server error");
                        return fed;
                    }
                }
                fed = true;
            }
            if sink.pending() >= HIGH_WATER {
                return fed;
            }
            match self.outbox.poll_take(cx) {
                Poll::Ready(item) => {
                    fed = true;
                    self.take(item, sink);
                }
                Poll::Pending => return fed,
            }
        }
    }

    /// One queued item: skipped when the position is already past it,
    /// held back while a gap below it is filled, sent otherwise.
    fn take(&mut self, item: Outbound, sink: &mut impl Sink) {
        let (conv_id, seq, view) = match &item {
            Outbound::Msg {
                conv_id, seq, view, ..
            } => {
                if self.sent.last(*conv_id).is_some_and(|last| *seq <= last) {
                    return;
                }
                (*conv_id, *seq, Some(view.clone()))
            }
            // Messages of others below our own may still be on their way
            // from another node: they are sent first.
            Outbound::Ack { conv_id, seq, .. } => (*conv_id, *seq, None),
            Outbound::Frame(_) | Outbound::Forget { .. } => return self.deliver(item, sink),
        };
        let Some(last) = self.sent.last(conv_id) else {
            return self.deliver(item, sink); // not followed yet: start from here
        };
        let missing = seq - last - 1;
        if missing <= 0 {
            return self.deliver(item, sink);
        }
        if missing > MAX_GAP_FILL {
            self.close
                .close(CLOSE_SLOW_CONSUMER, "too far behind: reconnect and resume");
            return;
        }
        let Some(gaps) = &self.gaps else {
            return self.deliver(item, sink);
        };
        self.filling = Some(Box::new(GapFill {
            messages: Box::pin(read_gap(GapSource::clone(gaps), conv_id, last, seq, view)),
            conv_id,
            then: item,
        }));
    }

    /// Send an item, moving the position it carries.
    fn deliver(&mut self, item: Outbound, sink: &mut impl Sink) {
        match item {
            Outbound::Frame(frame) => sink.push_text(frame),
            Outbound::Forget { conv_id } => self.sent.forget(conv_id),
            Outbound::Ack {
                conv_id,
                seq,
                frame,
            } => {
                self.sent.advance(conv_id, seq);
                sink.push_text(frame);
            }
            Outbound::Msg {
                conv_id,
                seq,
                frame,
                received,
                ..
            } => {
                self.sent.advance(conv_id, seq);
                // Counted as the frame is handed to the socket.
                self.metrics.messages_out.fetch_add(1, Ordering::Relaxed);
                self.metrics.delivery_latency.observe(received.elapsed());
                sink.push_text(frame);
            }
        }
    }
}

/// The stored messages of `conv_id` after `last` and before `seq`, as
/// frames. Single-node traffic arrives in order and never has a gap; across
/// nodes it can. Without a `view` (before an ack) the conversation's wire
/// name is looked up, and nothing is sent if it cannot be.
async fn read_gap(
    source: GapSource,
    conv_id: i64,
    last: i64,
    seq: i64,
    view: Option<Arc<Conv>>,
) -> GapFrames {
    let GapSource {
        store,
        user_name,
        user_id,
        hub,
    } = source;
    let view = match view {
        Some(view) => Conv::clone(&view),
        None => match store.conversation_kind(conv_id, &user_name).await? {
            Some(kind) => wire_conv(&kind),
            None => return Ok(Vec::new()),
        },
    };
    let page = store
        .log_after(conv_id, last, (seq - last - 1) as u32)
        .await?;
    Ok(page
        .into_iter()
        .filter(|entry| entry.seq() < seq)
        .map(|entry| {
            let frame = frame(&log_frame(
                view.clone(),
                &entry,
                Some(user_id),
                &hub.displays,
            ));
            (entry.seq(), frame)
        })
        .collect())
}
