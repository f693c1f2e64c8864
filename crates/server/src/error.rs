//! `ApiError`: every REST failure, mapped to a status and an error code in one place.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use securechat_proto::error::{ErrorBody, ErrorCode};
use securechat_store::error::{Conflict, Refusal};
use securechat_store::StoreError;

use crate::blobs::BlobError;
use crate::metrics::STORE_UNAVAILABLE;

/// Seconds a client is asked to wait when the database cannot take the request.
const STORE_RETRY_AFTER: u64 = 5;

/// A failed REST request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field has an invalid value.
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    /// The body is not well-formed or misses a field.
    #[error("malformed request body: {0}")]
    MalformedBody(String),
    /// The body's content type is not accepted here.
    #[error("unsupported content type: {0}")]
    UnsupportedMediaType(String),
    /// The body is too large.
    #[error("request body too large")]
    PayloadTooLarge,
    /// A uniqueness rule was broken.
    #[error("already exists: {0:?}")]
    Conflict(Conflict),
    /// No access token was sent.
    #[error("a Bearer access token is required")]
    MissingToken,
    /// The access token is not valid (malformed, expired, revoked).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The current password given is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// Missing, or not visible to the caller.
    #[error("not found")]
    NotFound,
    /// Registration is closed, or needs an invitation the request did not carry.
    #[error("{0}")]
    RegistrationClosed(String),
    /// The IP rule refuses the request's address.
    #[error("{0}")]
    IpRefused(String),
    /// A group change breaks the chain's rules (the crypto crate's refusal, in words).
    #[error("{0}")]
    InvalidGroupChange(String),
    /// The path exists, but not with this method.
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// Too many failed attempts.
    #[error("too many failed attempts; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// The store is unreachable (readiness).
    #[error("database unreachable: {0}")]
    Unavailable(#[source] StoreError),
    /// A storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file storage (folder or bucket) failed or is unreachable.
    #[error("file storage failed: {0}")]
    FileStorage(#[source] BlobError),
    /// Any other server fault, with its cause kept for the log.
    #[error("internal error: {0}")]
    Internal(#[source] BoxError),
}

/// A server fault's cause, of any error type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A server fault described in words only (no underlying error value).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Fault(pub String);

/// The one mapping of file-store failures: the client's own faults keep their meaning, a
/// missing object is the same 404 as a file the caller may not read, the rest is the storage's.
impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::TooLarge(_) => Self::PayloadTooLarge,
            BlobError::Body(m) => Self::MalformedBody(m),
            BlobError::NotFound => Self::NotFound,
            e @ (BlobError::Storage(_)
            | BlobError::Stalled(_)
            | BlobError::Io(_)
            | BlobError::Unreachable { .. }) => Self::FileStorage(e),
        }
    }
}

impl ApiError {
    /// A server fault caused by `source`.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Self::Internal(source.into())
    }

    /// A server fault described in words.
    pub fn fault(what: impl Into<String>) -> Self {
        Self::Internal(Box::new(Fault(what.into())))
    }

    /// Shorthand for an invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// Status and code; exhaustive, so a new variant must be mapped here.
    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::InvalidField { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidField)
            }
            Self::MalformedBody(_) => (StatusCode::BAD_REQUEST, ErrorCode::MalformedBody),
            Self::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
            ),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
            Self::Conflict(c) | Self::Store(StoreError::Conflict(c)) => (
                StatusCode::CONFLICT,
                match c {
                    Conflict::Username => ErrorCode::UsernameTaken,
                    Conflict::Email => ErrorCode::EmailTaken,
                    Conflict::UserId | Conflict::IdentityKey => ErrorCode::AccountConflict,
                    Conflict::EncryptionKey | Conflict::KeyOrder => ErrorCode::KeyConflict,
                    Conflict::Code | Conflict::Session => ErrorCode::Internal,
                    Conflict::GroupHead => ErrorCode::GroupConflict,
                },
            ),
            Self::MissingToken | Self::Unauthorized(_) => {
                (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized)
            }
            Self::WrongPassword => (StatusCode::FORBIDDEN, ErrorCode::WrongPassword),
            Self::RegistrationClosed(_) => (StatusCode::FORBIDDEN, ErrorCode::RegistrationClosed),
            Self::IpRefused(_) => (StatusCode::FORBIDDEN, ErrorCode::IpRefused),
            Self::InvalidGroupChange(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidGroupChange,
            ),
            Self::Store(StoreError::Refused(r)) => (StatusCode::FORBIDDEN, refusal_code(*r)),
            Self::NotFound | Self::Store(StoreError::NotFound) => {
                (StatusCode::NOT_FOUND, ErrorCode::NotFound)
            }
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            Self::Unavailable(_)
            | Self::Store(StoreError::Unavailable(_))
            | Self::FileStorage(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable),
            Self::Store(StoreError::Other(_) | StoreError::NewerDatabase(_))
            | Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }

    /// The message shown to the client: specific for client errors, generic for faults.
    fn public_message(&self) -> String {
        match self {
            Self::Conflict(c) | Self::Store(StoreError::Conflict(c)) => match c {
                Conflict::Username => "this username is taken".to_owned(),
                Conflict::Email => "this email address is already registered".to_owned(),
                Conflict::UserId => "this user id is already registered".to_owned(),
                Conflict::IdentityKey => "this identity key is already registered".to_owned(),
                Conflict::EncryptionKey => "this encryption key is already published".to_owned(),
                Conflict::KeyOrder => {
                    "a newer encryption key is already published; publish a newer one".to_owned()
                }
                Conflict::Code => "this code exists already; make another".to_owned(),
                Conflict::Session => "this login was finished already; log in again".to_owned(),
                Conflict::GroupHead => "another change to this group was stored first: fetch \
                                        the group's changes, verify them, and make yours again \
                                        on the new last change"
                    .to_owned(),
            },
            Self::Store(StoreError::Refused(r)) => refusal_message(*r).to_owned(),
            Self::Store(StoreError::Other(_) | StoreError::NewerDatabase(_))
            | Self::Internal(_) => {
                "internal error; the server log has details under this request's id".to_owned()
            }
            Self::Unavailable(_) => "the database is unreachable".to_owned(),
            Self::FileStorage(_) => {
                "the file storage cannot be reached right now; retry in a moment (the server \
                 log has details under this request's id)"
                    .to_owned()
            }
            Self::Store(StoreError::Unavailable(_)) => {
                "the server cannot store anything right now (its database refuses writes); \
                 nothing was changed, retry in a moment"
                    .to_owned()
            }
            other => other.to_string(),
        }
    }
}

/// The error code of a store refusal.
fn refusal_code(refusal: Refusal) -> ErrorCode {
    match refusal {
        Refusal::NotFirstAccount => ErrorCode::RegistrationClosed,
        Refusal::InviteUnknown | Refusal::InviteUsed | Refusal::InviteExpired => {
            ErrorCode::InviteInvalid
        }
        Refusal::ResetUnknown | Refusal::ResetUsed | Refusal::ResetExpired => {
            ErrorCode::ResetCodeInvalid
        }
        Refusal::AccountDisabled => ErrorCode::Forbidden,
    }
}

/// What a person is told about a store refusal.
fn refusal_message(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::NotFirstAccount => {
            "registration on this server needs an invitation: ask its operator for an invite link"
        }
        Refusal::InviteUnknown => {
            "this invitation code is not valid: check that the whole link was copied, or ask \
             for a new one"
        }
        Refusal::InviteUsed => {
            "this invitation was used already: each invitation makes one account; ask for a \
             new one"
        }
        Refusal::InviteExpired => "this invitation has expired: ask for a new one",
        Refusal::ResetUnknown => {
            "this reset code is not valid: check that the whole link was copied, or ask for a \
             new one"
        }
        Refusal::ResetUsed => "this reset code was used already: ask for a new one",
        Refusal::ResetExpired => "this reset code has expired: ask for a new one",
        Refusal::AccountDisabled => "this account is disabled; ask the server's operator",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Store(StoreError::Unavailable(_)) = &self {
            metrics::counter!(STORE_UNAVAILABLE, "path" => "http").increment(1);
        }
        if status.is_server_error() {
            let cause = std::error::Error::source(&self);
            tracing::error!(error = %self, cause = ?cause, "request failed");
        } else {
            tracing::debug!(error = %self, "request refused");
        }
        let body = ErrorBody {
            error: code,
            message: self.public_message(),
            field: match &self {
                Self::InvalidField { field, .. } => Some(field.clone()),
                _ => None,
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            // RFC 6750 §3.1: no error code when the request carried no token at all.
            Self::MissingToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            Self::RateLimited { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            Self::Unavailable(_)
            | Self::Store(StoreError::Unavailable(_))
            | Self::FileStorage(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(STORE_RETRY_AFTER));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_its_source_and_tells_the_client_nothing() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        let error = ApiError::internal(io);
        let source = std::error::Error::source(&error).expect("source kept");
        assert_eq!(source.to_string(), "disk full");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        assert_eq!(error.status_and_code().0, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!error.public_message().contains("disk"));
        let fault = ApiError::fault("the upload gate is closed");
        assert_eq!(
            std::error::Error::source(&fault).map(ToString::to_string),
            Some("the upload gate is closed".to_owned())
        );
    }
}
