//! securechat's cryptography, shared by every client and by the server's key validation.
//!
//! Everything is specified byte for byte in docs/PROTOCOL.md. Secret types zeroize on drop and
//! implement neither `Debug` nor `Clone`. Randomness is injected (`rng`) so that test vectors
//! are reproducible.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod binding;
pub mod error;
pub mod identity;

pub use error::CryptoError;
