//! Which certificate authorities the client trusts for `https://` and `wss://`: the system's
//! store (as `SSL_CERT_FILE` / `SSL_CERT_DIR` may point elsewhere), the Mozilla roots built
//! in (for a system without a store), and optionally a private CA from a PEM file. One rustls
//! configuration serves both the REST client and the WebSocket, so they never disagree.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// A private CA file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read the CA certificate file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("no PEM certificate (-----BEGIN CERTIFICATE-----) in {}", path.display())]
    Empty { path: PathBuf },
    #[error("the CA certificate in {} is not usable: {source}", path.display())]
    Rejected {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    /// rustls refused the configuration itself.
    #[error("TLS configuration: {0}")]
    Config(#[source] rustls::Error),
}

/// The certificate authorities a client trusts. Cheap to clone.
#[derive(Clone)]
pub struct TlsTrust {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTrust").finish_non_exhaustive()
    }
}

/// The system's certificate store and the built-in roots, read once per process.
fn public_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let system = rustls_native_certs::load_native_certs();
        for error in &system.errors {
            tracing::debug!("the system's certificate store: {error}");
        }
        // Certificates the system has but rustls cannot use are skipped, as browsers do.
        let (added, ignored) = roots.add_parsable_certificates(system.certs);
        tracing::debug!(
            added,
            ignored,
            "certificate authorities from the system's store"
        );
        roots
    })
}

impl TlsTrust {
    /// The system's store and the built-in roots.
    pub fn system() -> Result<Self, TrustError> {
        static SYSTEM: OnceLock<TlsTrust> = OnceLock::new();
        if let Some(trust) = SYSTEM.get() {
            return Ok(trust.clone());
        }
        let trust = Self::from_roots(public_roots().clone())?;
        Ok(SYSTEM.get_or_init(|| trust).clone())
    }

    /// The system's store and the built-in roots, and every certificate in the PEM file
    /// `path` as a certificate authority (a private CA, or a self-signed server certificate).
    pub fn with_ca_file(path: &Path) -> Result<Self, TrustError> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|source| TrustError::Read {
                path: path.to_owned(),
                source,
            })?;
        if certs.is_empty() {
            return Err(TrustError::Empty {
                path: path.to_owned(),
            });
        }
        let mut roots = public_roots().clone();
        for cert in certs {
            roots.add(cert).map_err(|source| TrustError::Rejected {
                path: path.to_owned(),
                source,
            })?;
        }
        Self::from_roots(roots)
    }

    fn from_roots(roots: RootCertStore) -> Result<Self, TrustError> {
        // The same provider as the rest of the workspace (ring), whatever the process default.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TrustError::Config)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // Plain HTTP/1.1, for REST and for the WebSocket upgrade alike.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration (for the WebSocket connector).
    pub fn rustls_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// A REST client builder using this trust.
    pub fn http_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder().use_preconfigured_tls((*self.config).clone())
    }
}

/// The certificate problem behind a failed connection, if that is what failed: the server's
/// certificate did not verify (unknown issuer, expired, another name, …).
pub(crate) fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(e) = current.downcast_ref::<rustls::Error>() {
            return match e {
                // webpki's error, only reachable as text through rustls.
                rustls::Error::InvalidCertificate(_)
                    if format!("{e:?}").contains("CaUsedAsEndEntity") =>
                {
                    Some(
                        "the server presents a CA certificate as its own; a self-signed server \
                         certificate must say CA:FALSE (`openssl req -x509` makes CA:TRUE by \
                         default), or be signed by a CA"
                            .to_owned(),
                    )
                }
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                    Some(e.to_string())
                }
                _ => None,
            };
        }
        next = match current.downcast_ref::<std::io::Error>() {
            // An io::Error's `source()` skips the error it wraps (tokio-rustls wraps the
            // rustls error in one, which hyper wraps in another).
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    None
}
