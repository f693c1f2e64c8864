//! Errors of the crypto crate: precise, and never carrying secret material.

/// A cryptographic check or decoding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The identity key is not a valid Ed25519 public key, or is a weak (small-order) one.
    #[error("identity key is not a valid, strong Ed25519 public key")]
    BadIdentityKey,
    /// The X25519 key has the wrong length or is a low-order point.
    #[error("encryption key is not a valid X25519 public key of full order")]
    BadEncryptionKey,
    /// The key id is not `SHA-256(x25519)[0..8]`.
    #[error("key id does not match the encryption key")]
    KeyIdMismatch,
    /// A signature did not verify (strict Ed25519 verification).
    #[error("signature does not verify")]
    BadSignature,
    /// A base64url field could not be decoded to the expected length.
    #[error("{field}: {source}")]
    Encoding {
        field: &'static str,
        source: securechat_proto::b64::B64Error,
    },
}
