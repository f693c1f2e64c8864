//! The plain-HTTP accept loop: the router on hyper, as `axum::serve` runs it, plus the
//! per-connection settings `axum::serve` does not expose.
//!
//! - `TCP_NODELAY`: frames are small and latency matters; without it Nagle's algorithm holds a
//!   frame back until the peer's delayed ACK (up to 40 ms on Linux).
//! - A 64 KiB HTTP/1 read buffer instead of hyper's ≈ 408 KiB. Hyper reads one body chunk
//!   ahead of the handler; with the large buffer, each upload waiting for its turn
//!   (`upload_concurrency`) held up to 408 KiB of its body in the server's memory.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

/// Largest HTTP/1 read buffer per connection (hyper's minimum is 8 KiB).
pub(crate) const MAX_READ_BUFFER: usize = 64 * 1024;

/// Serves `router` on `listener` until `shutdown` completes, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Each connection holds a `done` receiver; dropping `stop` asks them to finish.
    let (stop, stopped) = watch::channel(());
    let (done_tx, done) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (socket, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(remote));
            router.clone().oneshot(request.map(Body::new))
        });
        let mut stopped = stopped.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder.http1().max_buf_size(MAX_READ_BUFFER);
            let mut connection =
                pin!(builder.serve_connection_with_upgrades(TokioIo::new(socket), service));
            let mut asked = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            tracing::trace!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = stopped.changed(), if !asked => {
                        asked = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(done);
        });
    }
    drop(listener);
    drop(stop);
    drop(done);
    done_tx.closed().await;
    Ok(())
}
