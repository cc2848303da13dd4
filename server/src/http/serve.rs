//! The accept loop: HTTP/1.1 (with upgrades) on every accepted socket.
//!
//! Ours rather than `axum::serve` for one reason: a WebSocket upgrade must
//! hand over the plain `TcpStream` (see [`super::upgrade`]), and
//! `axum::serve`'s HTTP/1-or-2 detection wraps every socket in a buffer
//! type of hyper-util's own that cannot be taken apart again. Browsers
//! speak HTTP/1.1 to a server without TLS, and a TLS-terminating load
//! balancer in front may speak HTTP/2 to browsers while it speaks HTTP/1.1
//! here.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Kernel send buffer of each accepted socket.
const SEND_BUFFER: usize = 256 * 1024;
/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the accept loop rests after a failure that is not the peer's
/// (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serve `router` on `listener` until `stop` completes, then let every
/// HTTP connection finish its request in progress. (Upgraded sockets are
/// no longer HTTP connections: their own tasks close them.)
pub async fn serve(listener: TcpListener, router: Router, stop: impl Future<Output = ()>) {
    let shutdown = CancellationToken::new();
    let http = TaskTracker::new();
    tokio::pin!(stop);
    loop {
        let (tcp, remote) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
        };
        tune(&tcp);
        http.spawn(connection(tcp, remote, router.clone(), shutdown.clone()));
    }
    drop(listener);
    shutdown.cancel();
    http.close();
    http.wait().await;
}

/// No Nagle delay on small frames; a bounded kernel send buffer, so a peer
/// that stops reading fills its queue (and is cut off) in bounded time
/// instead of the kernel buffering megabytes for it.
fn tune(tcp: &TcpStream) {
    let _ = tcp.set_nodelay(true);
    let _ = socket2::SockRef::from(tcp).set_send_buffer_size(SEND_BUFFER);
}

async fn connection(
    tcp: TcpStream,
    remote: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) {
    let service = router.map_request(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        request
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = builder
        .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(conn);
    let outcome = tokio::select! {
        outcome = conn.as_mut() => outcome,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = outcome {
        tracing::trace!(%error, %remote, "HTTP connection ended with an error");
    }
}

async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    // The peer gave up before we accepted it: nothing to do.
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}
