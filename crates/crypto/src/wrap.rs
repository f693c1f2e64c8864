//! Wrapping a message's content key to one X25519 key with HPKE (RFC 9180).
//!
//! Suite: base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM (KEM 0x0020,
//! KDF 0x0001, AEAD 0x0002), single-shot, `aad = ""`. Everything that must be bound to the wrap
//! is in `info`, which enters the HPKE key schedule:
//!
//! `info = lp("securechat/v1/wrap") || lp(msg_id) || lp(conv_id) || lp(sender_user_id)
//!         || lp(recipient_user_id) || lp(key_id)`
//!
//! with `msg_id` and `key_id` as raw bytes and the three UUIDs as their 36-byte canonical text.
//! The `hpke` crate refuses an all-zero X25519 shared secret on both sides.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};
use rand::{CryptoRng, RngCore};
use securechat_proto::ids::UserId;
use zeroize::Zeroizing;

use crate::identity::{EncryptionKey, EncryptionKeyPair, KeyId};
use crate::ids::{user_id_text, ConvId, MsgId};
use crate::labels::{lp, WRAP_LABEL};
use crate::CryptoError;

/// Length of a content key.
pub const CONTENT_KEY_LEN: usize = 32;
/// Length of an HPKE encapsulated key (`enc`) for X25519.
pub const WRAP_ENC_LEN: usize = 32;
/// Length of a wrapped content key: 32 bytes plus the 16-byte AES-GCM tag.
pub const WRAP_CT_LEN: usize = CONTENT_KEY_LEN + 16;

type Kem = X25519HkdfSha256;
type PrivateKey = <Kem as hpke::Kem>::PrivateKey;
type PublicKey = <Kem as hpke::Kem>::PublicKey;
type EncappedKey = <Kem as hpke::Kem>::EncappedKey;

/// A message's content encryption key (CEK). Zeroized on drop; no `Debug`, no `Clone`.
pub struct ContentKey(Zeroizing<[u8; CONTENT_KEY_LEN]>);

impl ContentKey {
    /// A fresh key from the CSPRNG.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut key = Zeroizing::new([0u8; CONTENT_KEY_LEN]);
        rng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// Wraps known bytes (test vectors).
    pub fn from_bytes(bytes: &[u8; CONTENT_KEY_LEN]) -> Self {
        Self(Zeroizing::new(*bytes))
    }

    pub(crate) fn expose(&self) -> &[u8; CONTENT_KEY_LEN] {
        &self.0
    }
}

/// What a wrap is bound to (all of it enters HPKE's `info`).
#[derive(Debug, Clone, Copy)]
pub struct WrapContext<'a> {
    pub msg_id: &'a MsgId,
    pub conv_id: &'a ConvId,
    pub sender: &'a UserId,
    pub recipient: &'a UserId,
    pub key_id: &'a KeyId,
}

impl WrapContext<'_> {
    /// The exact HPKE `info` bytes.
    pub fn info(&self) -> Vec<u8> {
        let mut info = Vec::with_capacity(6 * 4 + WRAP_LABEL.len() + 16 + 3 * 36 + 8);
        lp(&mut info, WRAP_LABEL);
        lp(&mut info, &self.msg_id.0);
        lp(&mut info, self.conv_id.text().as_bytes());
        lp(&mut info, user_id_text(self.sender).as_bytes());
        lp(&mut info, user_id_text(self.recipient).as_bytes());
        lp(&mut info, self.key_id);
        info
    }
}

/// A content key wrapped to one encryption key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrappedKey {
    /// HPKE `enc`: the sender's ephemeral X25519 public key.
    pub enc: [u8; WRAP_ENC_LEN],
    /// HPKE ciphertext of the content key, tag included.
    pub ct: [u8; WRAP_CT_LEN],
}

/// Wraps `cek` to `recipient` (whose binding the caller has verified) under `context`.
pub fn wrap_content_key(
    rng: &mut (impl RngCore + CryptoRng),
    recipient: &EncryptionKey,
    context: &WrapContext<'_>,
    cek: &ContentKey,
) -> Result<WrappedKey, CryptoError> {
    let (enc, ct) = hpke_seal_base(
        rng,
        &recipient.to_bytes(),
        &context.info(),
        b"",
        cek.expose(),
    )?;
    let ct: [u8; WRAP_CT_LEN] = ct.try_into().map_err(|_| CryptoError::WrapFailed)?;
    Ok(WrappedKey { enc, ct })
}

/// Unwraps a content key with this user's private key.
pub fn unwrap_content_key(
    key: &EncryptionKeyPair,
    context: &WrapContext<'_>,
    wrapped: &WrappedKey,
) -> Result<ContentKey, CryptoError> {
    let pt = hpke_open_base(
        &key.secret_bytes(),
        &wrapped.enc,
        &context.info(),
        b"",
        &wrapped.ct,
    )?;
    let bytes: &[u8; CONTENT_KEY_LEN] = pt
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::UnwrapFailed)?;
    Ok(ContentKey::from_bytes(bytes))
}

/// RFC 9180 `SealBase` with the securechat suite, single shot (sequence number 0).
/// Returns `(enc, ciphertext || tag)`.
pub fn hpke_seal_base(
    rng: &mut (impl RngCore + CryptoRng),
    pk_r: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; WRAP_ENC_LEN], Vec<u8>), CryptoError> {
    let pk = PublicKey::from_bytes(pk_r).map_err(|_| CryptoError::BadEncryptionKey)?;
    let (enc, ct) = hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem, _>(
        &OpModeS::Base,
        &pk,
        info,
        plaintext,
        aad,
        rng,
    )
    .map_err(|_| CryptoError::WrapFailed)?;
    let mut enc_bytes = [0u8; WRAP_ENC_LEN];
    enc_bytes.copy_from_slice(&enc.to_bytes());
    Ok((enc_bytes, ct))
}

/// RFC 9180 `OpenBase` with the securechat suite, single shot (sequence number 0).
pub fn hpke_open_base(
    sk_r: &[u8; 32],
    enc: &[u8; WRAP_ENC_LEN],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let sk = PrivateKey::from_bytes(sk_r).map_err(|_| CryptoError::UnwrapFailed)?;
    let enc = EncappedKey::from_bytes(enc).map_err(|_| CryptoError::UnwrapFailed)?;
    hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(
        &OpModeR::Base,
        &sk,
        &enc,
        info,
        ciphertext,
        aad,
    )
    .map(Zeroizing::new)
    .map_err(|_| CryptoError::UnwrapFailed)
}

/// RFC 9180 `DeriveKeyPair` for DHKEM(X25519, HKDF-SHA256): `(skRm, pkRm)` from `ikm`.
/// Used to check the RFC test vectors and to document ephemeral keys in our own vectors.
pub fn hpke_derive_key_pair(ikm: &[u8]) -> (Zeroizing<[u8; 32]>, [u8; 32]) {
    let (sk, pk) = Kem::derive_keypair(ikm);
    let mut sk_bytes = Zeroizing::new([0u8; 32]);
    sk_bytes.copy_from_slice(&sk.to_bytes());
    let mut pk_bytes = [0u8; 32];
    pk_bytes.copy_from_slice(&pk.to_bytes());
    (sk_bytes, pk_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn ids() -> (MsgId, ConvId, UserId, UserId) {
        let a = UserId::generate();
        let b = UserId::generate();
        (MsgId::generate(&mut OsRng), ConvId::direct(&a, &b), a, b)
    }

    #[test]
    fn a_wrap_opens_only_in_its_context() {
        let bob = EncryptionKeyPair::generate(&mut OsRng);
        let key_id = bob.public().key_id();
        let (msg_id, conv_id, alice_id, bob_id) = ids();
        let context = WrapContext {
            msg_id: &msg_id,
            conv_id: &conv_id,
            sender: &alice_id,
            recipient: &bob_id,
            key_id: &key_id,
        };
        let cek = ContentKey::generate(&mut OsRng);
        let wrapped = wrap_content_key(&mut OsRng, &bob.public(), &context, &cek).unwrap();
        let opened = unwrap_content_key(&bob, &context, &wrapped).unwrap();
        assert_eq!(opened.expose(), cek.expose());

        // Any change of the bound context breaks the wrap.
        let other_msg = MsgId::generate(&mut OsRng);
        let moved = WrapContext {
            msg_id: &other_msg,
            ..context
        };
        assert!(matches!(
            unwrap_content_key(&bob, &moved, &wrapped),
            Err(CryptoError::UnwrapFailed)
        ));
        let reflected = WrapContext {
            sender: &bob_id,
            recipient: &alice_id,
            ..context
        };
        assert!(matches!(
            unwrap_content_key(&bob, &reflected, &wrapped),
            Err(CryptoError::UnwrapFailed)
        ));
        // Another key cannot open it.
        let eve = EncryptionKeyPair::generate(&mut OsRng);
        assert!(matches!(
            unwrap_content_key(&eve, &context, &wrapped),
            Err(CryptoError::UnwrapFailed)
        ));
    }

    #[test]
    fn an_all_zero_shared_secret_is_refused() {
        // A low-order `enc` makes X25519 output all zeros: the open must fail.
        let bob = EncryptionKeyPair::generate(&mut OsRng);
        let mut low_order = [0u8; 32];
        low_order[0] = 1;
        assert_eq!(
            hpke_open_base(&bob.secret_bytes(), &low_order, b"", b"", &[0u8; 48]).err(),
            Some(CryptoError::UnwrapFailed)
        );
        // And sealing to a low-order key fails (EncryptionKey already refuses such keys).
        assert_eq!(
            hpke_seal_base(&mut OsRng, &[0u8; 32], b"", b"", b"x").err(),
            Some(CryptoError::WrapFailed)
        );
    }

    #[test]
    fn info_is_the_length_prefixed_concatenation() {
        let msg_id = MsgId([1u8; 16]);
        let a = crate::ids::parse_user_id("a", "01937a1c-7a00-7000-8000-000000000001").unwrap();
        let b = crate::ids::parse_user_id("b", "01937a1c-7a00-7000-8000-000000000002").unwrap();
        let conv_id = ConvId::direct(&a, &b);
        let key_id = [2u8; 8];
        let info = WrapContext {
            msg_id: &msg_id,
            conv_id: &conv_id,
            sender: &a,
            recipient: &b,
            key_id: &key_id,
        }
        .info();
        assert_eq!(info.len(), 6 * 4 + 18 + 16 + 36 * 3 + 8);
        assert_eq!(&info[..22], b"\x00\x00\x00\x12securechat/v1/wrap");
        assert_eq!(&info[22..26], &[0, 0, 0, 16]);
    }
}
