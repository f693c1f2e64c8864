//! Client errors.

use securechat_proto::ws::WsErrorCode;

/// A client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("server refused ({status}): {code}: {message}")]
    Http {
        status: u16,
        /// `error` of the body (`ErrorBody` or the OAuth2 shape).
        code: String,
        message: String,
    },
    /// The server sent an error frame on the WebSocket.
    #[error("server error frame {code:?}: {message}")]
    Ws { code: WsErrorCode, message: String },
    /// Network or protocol failure.
    #[error("transport: {0}")]
    Transport(String),
    /// The server's TLS certificate did not verify against the trusted certificate
    /// authorities (unknown issuer, expired, issued for another name, …).
    #[error("certificate not trusted ({0})")]
    UntrustedCertificate(String),
    /// The certificate authorities to trust could not be set up.
    #[error(transparent)]
    Trust(#[from] crate::tls::TrustError),
    /// A cryptographic check failed.
    #[error("crypto: {0}")]
    Crypto(#[from] securechat_crypto::CryptoError),
    /// Not logged in (no tokens).
    #[error("not logged in")]
    NotLoggedIn,
    /// The session kept between processes could not be read, written or locked.
    #[error("the saved session: {0}")]
    SessionStore(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The password did not open the server's OPAQUE answer: a wrong password or an
    /// unknown account (nobody can tell which, the server included).
    #[error("wrong username or password")]
    WrongPassword,
    /// Anything else the client cannot make sense of.
    #[error("{0}")]
    Invalid(String),
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        match crate::tls::certificate_problem(&e) {
            Some(problem) => Self::UntrustedCertificate(problem),
            None => Self::Transport(transport_detail(&e)),
        }
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for ClientError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        match crate::tls::certificate_problem(&e) {
            Some(problem) => Self::UntrustedCertificate(problem),
            None => Self::Transport(e.to_string()),
        }
    }
}

/// A reqwest error with its causes ("error sending request for url (…)" alone does not say
/// whether the connection was refused or the TLS handshake failed).
fn transport_detail(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut next = std::error::Error::source(error);
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}

impl From<serde_json::Error> for ClientError {
    fn from(e: serde_json::Error) -> Self {
        Self::Invalid(format!("unexpected JSON: {e}"))
    }
}

impl ClientError {
    /// The server's error code, for HTTP and WebSocket errors.
    pub fn code(&self) -> Option<String> {
        match self {
            Self::Http { code, .. } => Some(code.clone()),
            Self::Ws { code, .. } => serde_json::to_value(code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned)),
            _ => None,
        }
    }
}
