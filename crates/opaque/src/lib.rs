//! securechat's OPAQUE: the augmented PAKE of RFC 9807 with which a password logs in without
//! ever reaching the server.
//!
//! The suite is fixed (see [`suite`]): ristretto255 for the OPRF and the key exchange,
//! triple Diffie-Hellman with SHA-512, and Argon2id with [`suite::KSF_MEMORY_KIB`],
//! [`suite::KSF_ITERATIONS`] and [`suite::KSF_LANES`] as the key-stretching function. The
//! same code runs in the Rust client, in the server ([`server`]) and, built to WebAssembly
//! by `crates/opaque-wasm`, in the browser ([`client`]). Every step takes its random
//! generator from the caller, which makes the steps reproducible in test vectors.

pub mod client;
pub mod error;
pub mod server;
pub mod suite;

pub use error::OpaqueError;
pub use suite::Suite;

/// Sizes of the messages, in bytes, for callers that check lengths before parsing.
pub mod sizes {
    /// Registration request (the blinded password).
    pub const REGISTRATION_REQUEST: usize = 32;
    /// Registration response (the evaluated element and the server's public key).
    pub const REGISTRATION_RESPONSE: usize = 64;
    /// Registration upload: the record the server keeps.
    pub const REGISTRATION_RECORD: usize = 192;
    /// Login's first message (KE1).
    pub const CREDENTIAL_REQUEST: usize = 96;
    /// Login's answer (KE2).
    pub const CREDENTIAL_RESPONSE: usize = 320;
    /// Login's last message (KE3).
    pub const CREDENTIAL_FINALIZATION: usize = 64;
}
