//! securechat's cryptography, shared by every client and by the server's validation.
//!
//! Everything is specified byte for byte in docs/PROTOCOL.md; `testdata/vectors/` pins it.
//! Secret types zeroize on drop and implement neither `Debug` nor `Clone`. Randomness is
//! injected (`rng`) so that test vectors are reproducible.
//!
//! - [`identity`]: Ed25519 identity keys, X25519 encryption keys, key ids.
//! - [`binding`]: the signature binding an encryption key to its owner.
//! - [`wrap`]: HPKE (RFC 9180) wraps of content keys.
//! - [`envelope`]: the signed, encrypted message envelope; sealing, opening, routing.
//! - [`file_stream`]: chunked file encryption (STREAM).
//! - [`keyfile`]: the passphrase-protected key export.
//! - [`fingerprint`]: safety numbers and short key ids.
//! - [`group`]: group membership as a signed, hash-linked chain of changes.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

mod aead;
pub mod binding;
pub mod envelope;
pub mod error;
pub mod file_stream;
pub mod fingerprint;
pub mod group;
pub mod identity;
pub mod ids;
pub mod keyfile;
pub mod labels;
pub mod wrap;

pub use error::CryptoError;
