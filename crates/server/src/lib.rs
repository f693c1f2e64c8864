//! The securechat server as a library: `main` (in the `securechat` binary) parses options and
//! picks a store; tests build the same [`AppState`] and call [`serve`] on a random port.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod auth;
pub mod blobs;
pub mod clock;
pub mod error;
pub mod http;
pub mod jobs;
mod listen;
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

/// Serves the API on `listener` until `shutdown` completes, then drains open requests.
/// With `tls`, the listener speaks HTTPS (rustls). Background jobs run alongside.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = CancellationToken::new();
    let jobs = jobs::spawn(state.clone(), stop.clone());
    let router = http::router(state.clone());
    let result = match tls {
        None => listen::serve(listener, router, shutdown).await,
        Some(config) => {
            let handle = axum_server::Handle::new();
            let waiter = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                waiter.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
            });
            let mut server =
                axum_server::from_tcp_rustls(listener.into_std()?, config).handle(handle);
            // The same read-buffer cap as the plain listener (axum-server sets TCP_NODELAY).
            server
                .http_builder()
                .http1()
                .max_buf_size(listen::MAX_READ_BUFFER);
            server
                .serve(router.into_make_service_with_connect_info::<SocketAddr>())
                .await
        }
    };
    stop.cancel();
    jobs.await.ok();
    state.store().close().await;
    result
}
