//! The securechat server as a library: `main` (in the `securechat` binary) parses options and
//! picks a store; tests build the same [`AppState`] and call [`serve`] on a random port.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod auth;
pub mod blobs;
pub mod clock;
pub mod cluster;
pub mod error;
pub mod http;
pub mod jobs;
pub mod lifecycle;
mod listen;
pub mod mail;
pub mod metrics;
pub mod realtime;
pub mod settings;
pub mod setup;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use settings::Settings;
pub use state::AppState;

/// Serves the API on `listener` until `shutdown` completes, then stops in order (see
/// [`lifecycle`]): open requests finish, every WebSocket frame already taken is answered,
/// WebSockets close with 1012, background tasks end, and the store closes last.
/// Messages whose self-destruct time has passed are removed before anything is served.
/// With `tls`, the listener speaks HTTPS (rustls). Background jobs run alongside.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Nothing that expired while the server was down (or since a restored backup was taken)
    // is served: expiry runs once, to its end, before the first connection is accepted.
    jobs::expire_before_serving(&state).await;
    let stop = CancellationToken::new();
    let jobs = jobs::spawn(state.clone(), stop.clone());
    let router = http::router(state.clone());
    let begin = CancellationToken::new();
    let trigger = begin.clone();
    tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    let connections = &state.settings().connections;
    let limits = listen::Limits {
        header_timeout: connections.header_timeout,
        max_per_address: connections.max_per_address,
        exempt: state.settings().trusted_proxies.clone(),
    };
    let http = async {
        let result = match tls {
            None => listen::serve(listener, router, limits, begin.clone().cancelled_owned()).await,
            Some(config) => {
                let handle = axum_server::Handle::new();
                let waiter = handle.clone();
                let began = begin.clone();
                tokio::spawn(async move {
                    began.cancelled().await;
                    waiter.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
                });
                let mut server =
                    axum_server::from_tcp_rustls(listener.into_std()?, config).handle(handle);
                // The same read-buffer cap and header timeout as the plain listener
                // (axum-server sets TCP_NODELAY).
                server
                    .http_builder()
                    .http1()
                    .max_buf_size(listen::MAX_READ_BUFFER)
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(limits.header_timeout);
                server
                    .serve(router.into_make_service_with_connect_info::<SocketAddr>())
                    .await
            }
        };
        // A listener that failed ends the rest too.
        begin.cancel();
        result
    };
    let drain = async {
        begin.cancelled().await;
        state.drain().await;
    };
    let (result, ()) = tokio::join!(http, drain);
    stop.cancel();
    jobs.await.ok();
    state.store().close().await;
    result
}

/// Serves `/metrics` alone on `listener` (`--metrics-listen`), until `shutdown` completes.
pub async fn serve_metrics(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = http::health::metrics_router(state);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
