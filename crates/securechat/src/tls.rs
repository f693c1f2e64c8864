//! The server's own TLS (`--tls-cert/--tls-key`): loading the pair at start, and loading it
//! again on SIGHUP (`systemctl reload`, or certbot's deploy hook) for new connections.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use axum_server::tls_rustls::RustlsConfig;

/// The certificate chain and key files, and what the listener serves from them.
#[derive(Clone)]
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    config: RustlsConfig,
}

impl ServerTls {
    /// Loads the pair; a failure stops start-up, naming both files.
    pub async fn load(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        // One TLS backend (ring) for the whole process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = RustlsConfig::from_pem_file(cert, key)
            .await
            .with_context(|| {
                format!(
                    "cannot load TLS certificate {} / key {}",
                    cert.display(),
                    key.display()
                )
            })?;
        Ok(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            config,
        })
    }

    /// What the listener serves; a reload changes it for connections accepted afterwards.
    pub fn config(&self) -> RustlsConfig {
        self.config.clone()
    }

    /// Reads both files again and serves them to new connections. On failure (a file
    /// missing or unreadable, no certificate or key in it, a key that does not belong to the
    /// certificate) the previous pair stays in use and the error says why.
    pub async fn reload(&self) -> std::io::Result<()> {
        self.config
            .reload_from_pem_file(&self.cert, &self.key)
            .await
    }

    /// Reloads, logging the outcome either way (the server carries on regardless).
    async fn reload_and_log(&self) {
        let (cert, key) = (self.cert.display(), self.key.display());
        match self.reload().await {
            Ok(()) => tracing::info!(
                cert = %cert,
                key = %key,
                "SIGHUP: TLS certificate and key reloaded; new connections use them"
            ),
            Err(e) => tracing::error!(
                cert = %cert,
                key = %key,
                "SIGHUP: cannot reload the TLS certificate and key, still serving the previous \
                 ones: {e}"
            ),
        }
    }
}

/// What SIGHUP does from now on, for the life of the process: reload `tls`, or, without
/// TLS, only a log line. Called early in start-up, so that a SIGHUP (whose default action is
/// to end the process) cannot kill the server; the signals that arrive before
/// [`HangupHandler::serve`] are acted on then.
pub struct HangupHandler {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl HangupHandler {
    /// Takes over SIGHUP. A failure to install the handler is logged, not fatal (the server
    /// then dies of SIGHUP as before).
    pub fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signal = signal(SignalKind::hangup())
                .inspect_err(|e| {
                    tracing::warn!("cannot handle SIGHUP ({e}): it will end the process");
                })
                .ok();
            Self { signal }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Acts on every SIGHUP from now on, in a task of its own.
    pub fn serve(self, tls: Option<ServerTls>) {
        #[cfg(unix)]
        if let Some(mut signal) = self.signal {
            tokio::spawn(async move {
                while signal.recv().await.is_some() {
                    match &tls {
                        Some(tls) => tls.reload_and_log().await,
                        None => tracing::info!(
                            "SIGHUP ignored: there is no --tls-cert/--tls-key to reload"
                        ),
                    }
                }
            });
        }
        #[cfg(not(unix))]
        let _ = tls;
    }
}
