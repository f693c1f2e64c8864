//! Per-user keys: the Ed25519 identity key and X25519 encryption keys.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use rand::{CryptoRng, RngCore};
use sha2::{Digest as _, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::CryptoError;

/// Length of a key id: the first 8 bytes of SHA-256 of the X25519 public key.
pub const KEY_ID_LEN: usize = 8;

/// A key id: `SHA-256(x25519_pub)[0..8]`.
pub type KeyId = [u8; KEY_ID_LEN];

/// A user's long-term Ed25519 signing key. Zeroized on drop.
pub struct IdentityKeyPair {
    signing: SigningKey,
}

impl IdentityKeyPair {
    /// Generates a new identity key.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self {
            signing: SigningKey::generate(rng),
        }
    }

    /// Rebuilds the key from its 32-byte seed (as kept in the key file).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The 32-byte seed, for the key file.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The public identity key.
    pub fn public(&self) -> IdentityKey {
        IdentityKey(self.signing.verifying_key())
    }

    /// Signs `message` (callers always prefix a domain-separation label).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

/// A validated Ed25519 public identity key (never a weak, small-order key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityKey(VerifyingKey);

impl IdentityKey {
    /// Parses and validates 32 bytes: a canonical point that is not of small order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| CryptoError::BadIdentityKey)?;
        if key.is_weak() {
            return Err(CryptoError::BadIdentityKey);
        }
        Ok(Self(key))
    }

    /// The 32 public bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Strict verification (rejects malleable and small-order signatures).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), CryptoError> {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.0
            .verify_strict(message, &sig)
            .map_err(|_| CryptoError::BadSignature)
    }
}

/// An X25519 encryption key pair. The secret zeroizes on drop.
pub struct EncryptionKeyPair {
    secret: StaticSecret,
    public: EncryptionKey,
}

impl EncryptionKeyPair {
    /// Generates a new encryption key.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_secret_bytes(&bytes)
    }

    /// Rebuilds the key from its 32 secret bytes (as kept in the key file).
    pub fn from_secret_bytes(bytes: &[u8; 32]) -> Self {
        let secret = StaticSecret::from(*bytes);
        let public = EncryptionKey(PublicKey::from(&secret).to_bytes());
        Self { secret, public }
    }

    /// The 32 secret bytes, for the key file.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The public half.
    pub fn public(&self) -> EncryptionKey {
        self.public
    }
}

/// A validated X25519 public key (not of low order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptionKey([u8; 32]);

impl EncryptionKey {
    /// Validates 32 bytes: the point must not lie in the small subgroup. A clamped scalar is a
    /// multiple of the cofactor 8, so multiplying a low-order point (in any of its encodings)
    /// by one gives the all-zero output; full-order points never do.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        const PROBE_SCALAR: [u8; 32] = [0x5a; 32];
        if x25519_dalek::x25519(PROBE_SCALAR, *bytes) == [0u8; 32] {
            return Err(CryptoError::BadEncryptionKey);
        }
        Ok(Self(*bytes))
    }

    /// The 32 public bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// `SHA-256(x25519_pub)[0..8]`.
    pub fn key_id(&self) -> KeyId {
        let digest = Sha256::digest(self.0);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_order_x25519_points_are_rejected() {
        let mut zero = [0u8; 32];
        assert_eq!(
            EncryptionKey::from_bytes(&zero),
            Err(CryptoError::BadEncryptionKey)
        );
        zero[0] = 1; // u = 1 has order 4
        assert_eq!(
            EncryptionKey::from_bytes(&zero),
            Err(CryptoError::BadEncryptionKey)
        );
        let pair = EncryptionKeyPair::generate(&mut rand::rngs::OsRng);
        assert!(EncryptionKey::from_bytes(&pair.public().to_bytes()).is_ok());
    }

    #[test]
    fn weak_identity_keys_are_rejected() {
        // The identity point (encoded as 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            IdentityKey::from_bytes(&identity),
            Err(CryptoError::BadIdentityKey)
        );
    }

    #[test]
    fn signatures_verify_strictly() {
        let ik = IdentityKeyPair::generate(&mut rand::rngs::OsRng);
        let sig = ik.sign(b"hello");
        assert!(ik.public().verify(b"hello", &sig).is_ok());
        assert_eq!(
            ik.public().verify(b"hellO", &sig),
            Err(CryptoError::BadSignature)
        );
    }
}
