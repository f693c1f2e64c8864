//! Sealing a message (docs/PROTOCOL.md, "Sealing").

use hkdf::Hkdf;
use rand::{CryptoRng, RngCore};
use securechat_proto::b64;
use securechat_proto::ids::UserId;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::content::{self, Content, InnerIds};
use super::{signature_message, Envelope, Header, Wrap, ENVELOPE_VERSION, MAX_SAFE_INTEGER};
use crate::aead::{self, NONCE_LEN};
use crate::binding::VerifiedKey;
use crate::identity::{EncryptionKey, IdentityKeyPair};
use crate::ids::{ConvId, MsgId};
use crate::labels::CONTENT_LABEL;
use crate::wrap::{wrap_content_key, ContentKey, WrapContext};
use crate::CryptoError;

/// The sending user: identity key and the public halves of their own active encryption keys
/// (each gets a wrap: the sender's own copy, readable from every browser of the account).
pub struct Sender<'a> {
    pub user_id: UserId,
    pub identity: &'a IdentityKeyPair,
    pub own_keys: &'a [EncryptionKey],
}

/// One recipient key. Build it only from a key whose binding verified against the pinned
/// identity key ([`RecipientKey::verified`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecipientKey {
    pub user_id: UserId,
    pub key: EncryptionKey,
}

impl RecipientKey {
    /// A recipient key from a verified directory entry.
    pub fn verified(user_id: UserId, key: &VerifiedKey) -> Self {
        Self {
            user_id,
            key: key.x25519,
        }
    }
}

/// A message to seal.
pub struct OutgoingMessage<'a> {
    /// The message id, or `None` to draw 16 random bytes (the first draw: the test vectors'
    /// order). Clients pass [`MsgId::time_ordered`].
    pub msg_id: Option<MsgId>,
    pub conv_id: ConvId,
    /// Per (sender, conversation) counter, for the receivers' gap detection.
    pub sender_ctr: u64,
    /// Sender's clock, Unix ms (display only).
    pub sent_at_ms: i64,
    /// Self-destruct delay after the server receives the envelope, in ms.
    pub expires_in_ms: Option<i64>,
    /// UI-only concealment flag; exists only inside the ciphertext.
    pub hidden: bool,
    pub content: &'a Content,
    /// Every active key of every other member of the conversation.
    pub recipients: &'a [RecipientKey],
}

/// A sealed envelope and its message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedEnvelope {
    pub envelope: Envelope,
    pub msg_id: MsgId,
}

/// `k_content = HKDF-SHA256(ikm = CEK, salt = msg_id, info = "securechat/v1/content", L = 32)`.
pub(crate) fn content_key(
    cek: &ContentKey,
    msg_id: &MsgId,
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte output limit: this cannot fail.
    Hkdf::<Sha256>::new(Some(&msg_id.0), cek.expose())
        .expand(CONTENT_LABEL, okm.as_mut())
        .map_err(|_| CryptoError::invalid("k_content", "HKDF output length"))?;
    Ok(okm)
}

fn check_range(field: &'static str, value: i64, min: i64) -> Result<(), CryptoError> {
    if value < min || value.unsigned_abs() > MAX_SAFE_INTEGER {
        return Err(CryptoError::invalid(
            field,
            "integer outside the allowed range (up to 2^53 - 1)",
        ));
    }
    Ok(())
}

/// Seals `message` from `sender`.
///
/// Randomness is drawn from `rng` in this order (the test vectors rely on it): `msg_id` (16
/// bytes), CEK (32), content nonce (12), then one 32-byte HPKE ephemeral `ikmE` per wrap, the
/// recipient keys in the given order first, then the sender's own keys. A key listed twice for
/// the same user is wrapped once.
pub fn seal(
    rng: &mut (impl RngCore + CryptoRng),
    sender: &Sender<'_>,
    message: &OutgoingMessage<'_>,
) -> Result<SealedEnvelope, CryptoError> {
    if sender.own_keys.is_empty() {
        return Err(CryptoError::invalid(
            "own_keys",
            "the sender's own copy needs at least one own key",
        ));
    }
    if message.sender_ctr > MAX_SAFE_INTEGER {
        return Err(CryptoError::invalid(
            "sender_ctr",
            "integer outside the allowed range (up to 2^53 - 1)",
        ));
    }
    check_range("sent_at", message.sent_at_ms, 0)?;
    if let Some(expires) = message.expires_in_ms {
        check_range("expires_in_ms", expires, 1)?;
    }

    let msg_id = match message.msg_id {
        Some(id) => id,
        None => MsgId::generate(rng),
    };
    let cek = ContentKey::generate(rng);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);

    // The plaintext first: a too-large message fails before any further work.
    let plaintext = content::encode(
        message.content,
        message.hidden,
        &InnerIds {
            msg_id,
            conv_id: message.conv_id,
            sender: sender.user_id,
        },
    )?;

    let targets = message
        .recipients
        .iter()
        .copied()
        .chain(sender.own_keys.iter().map(|key| RecipientKey {
            user_id: sender.user_id,
            key: *key,
        }));
    let mut wraps: Vec<Wrap> = Vec::new();
    for target in targets {
        let key_id = target.key.key_id();
        if wraps
            .iter()
            .any(|wrap| wrap.user_id == target.user_id && wrap.key_id == key_id)
        {
            continue;
        }
        let context = WrapContext {
            msg_id: &msg_id,
            conv_id: &message.conv_id,
            sender: &sender.user_id,
            recipient: &target.user_id,
            key_id: &key_id,
        };
        wraps.push(Wrap {
            user_id: target.user_id,
            key_id,
            wrapped: wrap_content_key(rng, &target.key, &context, &cek)?,
        });
    }
    if wraps.len() > super::MAX_WRAPS {
        return Err(CryptoError::invalid("wraps", "more than 512 wraps"));
    }

    let header = Header {
        msg_id,
        conv_id: message.conv_id,
        sender: sender.user_id,
        sender_ik: sender.identity.public(),
        sender_ctr: message.sender_ctr,
        sent_at_ms: message.sent_at_ms,
        expires_in_ms: message.expires_in_ms,
        kind: message.content.kind(),
        reference: message.content.reference(),
        files: message.content.file_ids(),
        nonce,
        wraps,
    };
    let header_bytes = header.to_bytes();
    if header_bytes.len() > super::MAX_HEADER_BYTES {
        return Err(CryptoError::TooLarge {
            what: "header",
            limit: super::MAX_HEADER_BYTES,
            got: header_bytes.len(),
        });
    }

    let k_content = content_key(&cek, &msg_id)?;
    let ct = aead::seal(&k_content, &nonce, &header_bytes, &plaintext)
        .map_err(|_| CryptoError::invalid("plaintext", "too long for AES-GCM"))?;
    let sig = sender.identity.sign(&signature_message(&header_bytes, &ct));

    Ok(SealedEnvelope {
        envelope: Envelope {
            v: ENVELOPE_VERSION,
            h: b64::encode(&header_bytes),
            ct: b64::encode(&ct),
            sig: b64::encode(sig),
        },
        msg_id,
    })
}
