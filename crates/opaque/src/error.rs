//! What can go wrong in an OPAQUE step.

/// A refused or failed OPAQUE step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpaqueError {
    /// A message or state that does not parse (wrong length, not a valid point).
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The login did not authenticate: a wrong password or an unknown account (the client
    /// cannot tell which, by design), or on the server a finalization that does not match.
    #[error("wrong username or password")]
    InvalidLogin,
    /// The server echoed the client's blinded element: a broken or hostile server.
    #[error("the server's answer is invalid (reflected OPRF element)")]
    Reflected,
    /// The key-stretching function or another internal step failed.
    #[error("OPAQUE internal error: {0}")]
    Internal(&'static str),
}

use opaque_ke::errors::InternalError;

impl OpaqueError {
    pub(crate) fn from_protocol(
        what: &'static str,
    ) -> impl FnOnce(opaque_ke::errors::ProtocolError) -> Self {
        move |e| match e {
            opaque_ke::errors::ProtocolError::InvalidLoginError => Self::InvalidLogin,
            opaque_ke::errors::ProtocolError::ReflectedValueError => Self::Reflected,
            opaque_ke::errors::ProtocolError::SerializationError
            | opaque_ke::errors::ProtocolError::SizeError { .. }
            // A value that is not a valid group element (the OPRF's points and scalars).
            | opaque_ke::errors::ProtocolError::LibraryError(
                InternalError::OprfError(_) | InternalError::OprfInternalError(_),
            ) => Self::Malformed(what),
            opaque_ke::errors::ProtocolError::LibraryError(_)
            | opaque_ke::errors::ProtocolError::Custom(_) => Self::Internal(what),
        }
    }
}
