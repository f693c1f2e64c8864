//! The server's own TLS (`--tls-cert/--tls-key`): loading the pair at start, and loading it
//! again on SIGHUP (`systemctl reload`, or certbot's deploy hook) for new connections.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// Why a certificate and key could not be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsFilesError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("no certificate (-----BEGIN CERTIFICATE-----) in {}", path.display())]
    NoCertificate { path: PathBuf },
    #[error("no private key (-----BEGIN PRIVATE KEY-----, or an RSA or EC key) in {}", path.display())]
    NoKey { path: PathBuf },
    #[error(
        "the key in {} does not belong to the certificate in {}",
        key.display(),
        cert.display()
    )]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("the certificate and key were refused: {0}")]
    Refused(#[source] rustls::Error),
}

fn unreadable(path: &Path, source: pem::Error) -> TlsFilesError {
    TlsFilesError::Read {
        path: path.to_owned(),
        source,
    }
}

/// The rustls configuration serving the chain in `cert` with the key in `key` (both PEM;
/// the key may share a file with the certificates). The files are small, and read where
/// called.
fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsFilesError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| unreadable(cert, source))?;
    if chain.is_empty() {
        return Err(TlsFilesError::NoCertificate {
            path: cert.to_owned(),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsFilesError::NoKey {
            path: key.to_owned(),
        },
        other => unreadable(key, other),
    })?;
    // One TLS backend (ring) for the whole process.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsFilesError::Refused)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsFilesError::Mismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
            },
            other => TlsFilesError::Refused(other),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The certificate chain and key files, and what the listener serves from them.
#[derive(Clone)]
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    config: RustlsConfig,
}

impl ServerTls {
    /// Loads the pair; a failure stops start-up, saying why.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsFilesError> {
        // Other rustls users in the process (the S3 client) take the same provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = RustlsConfig::from_config(Arc::new(server_config(cert, key)?));
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
    pub fn reload(&self) -> Result<(), TlsFilesError> {
        let config = server_config(&self.cert, &self.key)?;
        self.config.reload_from_config(Arc::new(config));
        Ok(())
    }

    /// Reloads, logging the outcome either way (the server carries on regardless).
    fn reload_and_log(&self) {
        let (cert, key) = (self.cert.display(), self.key.display());
        match self.reload() {
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
                        Some(tls) => tls.reload_and_log(),
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
