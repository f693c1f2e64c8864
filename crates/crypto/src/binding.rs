//! The binding of an X25519 encryption key to its owner's identity key and user id.
//!
//! `binding_sig = Ed25519(IK, "securechat/v1/enc-key\x00" || lp(user_id) || lp(key_id)
//!                          || u64be(created_at_ms) || x25519_pub)`
//! where `lp(x) = u32be(len(x)) || x` and `user_id` is the UUID's lower-case hyphenated text.

use securechat_proto::b64;
use securechat_proto::ids::UserId;
use securechat_proto::keys::NewEncryptionKey;

use crate::identity::{EncryptionKey, EncryptionKeyPair, IdentityKey, IdentityKeyPair, KeyId};
use crate::labels::lp;
use crate::CryptoError;

/// Domain-separation label of key bindings.
pub const ENC_KEY_LABEL: &[u8] = b"securechat/v1/enc-key\x00";

/// The exact bytes the identity key signs to bind an encryption key.
pub fn binding_message(
    user_id: &UserId,
    key_id: &KeyId,
    created_at_ms: i64,
    x25519: &[u8; 32],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENC_KEY_LABEL.len() + 4 + 36 + 4 + 8 + 8 + 32);
    out.extend_from_slice(ENC_KEY_LABEL);
    lp(&mut out, user_id.0.hyphenated().to_string().as_bytes());
    lp(&mut out, key_id);
    // Times before 1970 are meaningless here; they encode as 0.
    out.extend_from_slice(&u64::try_from(created_at_ms).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(x25519);
    out
}

/// Signs a binding and returns the record to publish.
pub fn publish_key(
    identity: &IdentityKeyPair,
    user_id: &UserId,
    key: &EncryptionKeyPair,
    created_at_ms: i64,
) -> NewEncryptionKey {
    let public = key.public();
    let key_id = public.key_id();
    let sig = identity.sign(&binding_message(
        user_id,
        &key_id,
        created_at_ms,
        &public.to_bytes(),
    ));
    NewEncryptionKey {
        key_id: b64::encode(key_id),
        x25519: b64::encode(public.to_bytes()),
        created_at: created_at_ms,
        binding_sig: b64::encode(sig),
    }
}

/// A published key whose encoding, order, key id and binding signature all checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedKey {
    pub key_id: KeyId,
    pub x25519: EncryptionKey,
    pub created_at: i64,
    pub binding_sig: [u8; 64],
}

/// Why a published key was refused, with the offending field's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {error}")]
pub struct KeyRejection {
    /// The request field at fault (`identity_key`, `key_id`, `x25519`, `binding_sig`).
    pub field: &'static str,
    pub error: CryptoError,
}

fn reject(field: &'static str) -> impl Fn(CryptoError) -> KeyRejection {
    move |error| KeyRejection { field, error }
}

fn decode<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], KeyRejection> {
    b64::decode_array::<N>(text).map_err(|source| KeyRejection {
        field,
        error: CryptoError::Encoding { field, source },
    })
}

/// Parses and validates a base64url identity key.
pub fn parse_identity_key(text: &str) -> Result<IdentityKey, KeyRejection> {
    let bytes = decode::<32>("identity_key", text)?;
    IdentityKey::from_bytes(&bytes).map_err(reject("identity_key"))
}

/// Validates a published encryption key against its owner's identity key and user id:
/// lengths, low order, key id and the strict binding signature.
pub fn verify_published_key(
    identity: &IdentityKey,
    user_id: &UserId,
    key: &NewEncryptionKey,
) -> Result<VerifiedKey, KeyRejection> {
    let x25519_bytes = decode::<32>("x25519", &key.x25519)?;
    let x25519 = EncryptionKey::from_bytes(&x25519_bytes).map_err(reject("x25519"))?;
    let key_id = decode::<8>("key_id", &key.key_id)?;
    if key_id != x25519.key_id() {
        return Err(KeyRejection {
            field: "key_id",
            error: CryptoError::KeyIdMismatch,
        });
    }
    if key.created_at < 0 {
        // The binding encodes the time as u64: a negative one would not be covered.
        return Err(KeyRejection {
            field: "created_at",
            error: CryptoError::invalid("created_at", "must not be before 1970"),
        });
    }
    let binding_sig = decode::<64>("binding_sig", &key.binding_sig)?;
    identity
        .verify(
            &binding_message(user_id, &key_id, key.created_at, &x25519_bytes),
            &binding_sig,
        )
        .map_err(reject("binding_sig"))?;
    Ok(VerifiedKey {
        key_id,
        x25519,
        created_at: key.created_at,
        binding_sig,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn a_published_key_verifies_only_for_its_owner() {
        let ik = IdentityKeyPair::generate(&mut OsRng);
        let ek = EncryptionKeyPair::generate(&mut OsRng);
        let alice = UserId::generate();
        let record = publish_key(&ik, &alice, &ek, 1_700_000_000_000);
        let verified = verify_published_key(&ik.public(), &alice, &record).unwrap();
        assert_eq!(verified.x25519, ek.public());

        let bob = UserId::generate();
        let err = verify_published_key(&ik.public(), &bob, &record).unwrap_err();
        assert_eq!(err.field, "binding_sig");

        let mut later = record.clone();
        later.created_at += 1;
        assert_eq!(
            verify_published_key(&ik.public(), &alice, &later)
                .unwrap_err()
                .field,
            "binding_sig"
        );

        let mut wrong_id = record;
        wrong_id.key_id = b64::encode([0u8; 8]);
        assert_eq!(
            verify_published_key(&ik.public(), &alice, &wrong_id)
                .unwrap_err()
                .error,
            CryptoError::KeyIdMismatch
        );
    }
}
