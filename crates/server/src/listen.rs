//! The plain-HTTP accept loop: the router on hyper, as `axum::serve` runs it, plus the
//! per-connection settings `axum::serve` does not expose.
//!
//! - `TCP_NODELAY`: frames are small and latency matters; without it Nagle's algorithm holds a
//!   frame back until the peer's delayed ACK (up to 40 ms on Linux).
//! - A 64 KiB HTTP/1 read buffer instead of hyper's ≈ 408 KiB. Hyper reads one body chunk
//!   ahead of the handler; with the large buffer, each upload waiting for its turn
//!   (`upload_concurrency`) held up to 408 KiB of its body in the server's memory.
//! - A header timeout: a connection must send its request headers (the first byte included)
//!   within it, and an idle keep-alive connection ends after it, so connections that send
//!   nothing, or a header byte every few seconds, do not stay open.
//! - A cap on open connections per client address (trusted proxies exempt). A WebSocket
//!   keeps its place until it closes.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

/// Largest HTTP/1 read buffer per connection (hyper's minimum is 8 KiB).
pub(crate) const MAX_READ_BUFFER: usize = 64 * 1024;

/// What the accept loop enforces before any request is read.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub header_timeout: Duration,
    pub max_per_address: usize,
    /// Addresses without a cap (trusted proxies).
    pub exempt: Vec<IpNet>,
}

type Table = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One open connection's place in its address's count; given back when the last holder
/// (the connection, or the WebSocket it became) drops it.
#[derive(Debug)]
pub struct ConnectionSlot {
    table: Table,
    address: IpAddr,
}

impl ConnectionSlot {
    fn take(table: &Table, address: IpAddr, max: usize) -> Option<Self> {
        let mut counts = table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = counts.entry(address).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Self {
            table: table.clone(),
            address,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open requests finish.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let table = Table::default();
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
        let address = remote.ip().to_canonical();
        let slot = if limits.exempt.iter().any(|net| net.contains(&address)) {
            None
        } else {
            match ConnectionSlot::take(&table, address, limits.max_per_address) {
                Some(slot) => Some(Arc::new(slot)),
                None => {
                    tracing::debug!(%address, "connection refused: too many from this address");
                    metrics::counter!(crate::metrics::CONNECTIONS_REFUSED).increment(1);
                    continue;
                }
            }
        };
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let extensions = request.extensions_mut();
            extensions.insert(ConnectInfo::<SocketAddr>(remote));
            if let Some(slot) = &slot {
                extensions.insert(slot.clone());
            }
            router.clone().oneshot(request.map(Body::new))
        });
        let header_timeout = limits.header_timeout;
        let mut stopped = stopped.clone();
        let done = done.clone();
        tokio::spawn(async move {
            // The HTTP/1-or-2 detection waits for the first bytes without a timer of its own,
            // so a connection that sends nothing is cut off here.
            let mut first = [0u8; 1];
            if tokio::time::timeout(header_timeout, socket.peek(&mut first))
                .await
                .is_err()
            {
                drop(done);
                return;
            }
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .max_buf_size(MAX_READ_BUFFER)
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
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
