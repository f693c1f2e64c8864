//! AES-256-GCM (96-bit nonce, 128-bit tag) one-shot helpers over the `aes-gcm` crate.

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use zeroize::Zeroizing;

/// Length of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of an AES-GCM tag.
pub const TAG_LEN: usize = 16;

/// Encrypts `plaintext`; returns `ciphertext || tag`. Fails only for inputs beyond GCM's
/// 64 GiB limit, which no caller comes near.
pub(crate) fn seal(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, aes_gcm::Error> {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)).encrypt(
        Nonce::from_slice(nonce),
        Payload {
            msg: plaintext,
            aad,
        },
    )
}

/// Decrypts and authenticates `ciphertext || tag`.
pub(crate) fn open(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, aes_gcm::Error> {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
}
