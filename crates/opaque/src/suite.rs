//! The cipher suite and its fixed parameters. Changing any of these makes every stored
//! record unusable (logins would fail): they are part of the protocol, pinned by the
//! vectors in `testdata/vectors/opaque.json`, and the browser uses the same code.

use argon2::{Algorithm, Argon2, Params, Version};

/// ristretto255 OPRF, triple-DH over ristretto255 with SHA-512, Argon2id.
pub struct Suite;

impl opaque_ke::CipherSuite for Suite {
    type OprfCs = opaque_ke::Ristretto255;
    type KeyExchange = opaque_ke::TripleDh<opaque_ke::Ristretto255, sha2::Sha512>;
    type Ksf = Argon2<'static>;
}

/// Argon2id memory, in KiB (19 MiB, OWASP's first recommendation).
pub const KSF_MEMORY_KIB: u32 = 19_456;
/// Argon2id passes.
pub const KSF_ITERATIONS: u32 = 2;
/// Argon2id lanes.
pub const KSF_LANES: u32 = 1;

/// The context both sides bind into the key exchange's transcript.
pub const CONTEXT: &[u8] = b"securechat OPAQUE v1";

/// The key-stretching function, with the fixed parameters.
pub fn ksf() -> Result<Argon2<'static>, crate::OpaqueError> {
    let params = Params::new(KSF_MEMORY_KIB, KSF_ITERATIONS, KSF_LANES, None)
        .map_err(|_| crate::OpaqueError::Internal("Argon2 parameters"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}
