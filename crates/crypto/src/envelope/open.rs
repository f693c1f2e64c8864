//! Opening a message: the verification procedure of docs/PROTOCOL.md ("Opening"), in order.

use securechat_proto::ids::UserId;

use super::content::{self, Content};
use super::seal::content_key;
use super::tombstone::MessageMeta;
use super::{decode, signature_message, Envelope, Header, EXPIRY_SKEW_MS};
use crate::aead;
use crate::identity::{EncryptionKeyPair, IdentityKey};
use crate::ids::{ConvId, MsgId};
use crate::wrap::{unwrap_content_key, WrapContext};
use crate::CryptoError;

/// The user opening the envelope, with every private encryption key they hold (active and
/// retired: old messages are wrapped to old keys).
pub struct Receiver<'a> {
    pub user_id: UserId,
    pub keys: &'a [EncryptionKeyPair],
}

/// What the transport (the server) asserts about a delivered envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The authenticated sender the server names.
    pub sender: UserId,
    /// The conversation the envelope arrived in.
    pub conv_id: ConvId,
    /// When the server stored the envelope, Unix ms: the base of self-destruct timers (so
    /// that client clock skew does not matter), bounded by the signed `sent_at` (see
    /// [`expires_at`]) because the server could move it.
    pub server_received_at_ms: i64,
}

/// A verified, decrypted message. Holds plaintext: no `Debug`, no `Clone`.
pub struct OpenedMessage {
    /// The verified header.
    pub header: Header,
    /// UI-only concealment flag.
    pub hidden: bool,
    pub content: Content,
    /// When the message self-destructs ([`expires_at`]), Unix ms.
    pub expires_at_ms: Option<i64>,
}

impl OpenedMessage {
    /// What a client keeps to authorise later tombstones for this message.
    pub fn meta(&self) -> MessageMeta {
        MessageMeta {
            msg_id: self.header.msg_id,
            conv_id: self.header.conv_id,
            sender: self.header.sender,
        }
    }
}

/// Checks the envelope's syntax (step 1) and that `identity` is the header's `sender.ik` and
/// signed the exact header and ciphertext bytes (strict Ed25519). What the server calls after
/// [`parse_header`](super::parse_header) with the sender's registered identity key.
pub fn verify_signature(envelope: &Envelope, identity: &IdentityKey) -> Result<(), CryptoError> {
    let decoded = decode(envelope)?;
    if decoded.header.sender_ik != *identity {
        return Err(CryptoError::IdentityKeyChanged);
    }
    identity.verify(
        &signature_message(&decoded.header_bytes, &decoded.ct),
        &decoded.sig,
    )
}

/// When a message with a self-destruct delay expires, Unix ms:
/// `min(server_received_at, sent_at + EXPIRY_SKEW_MS) + expires_in_ms`. The server's receive
/// time is unsigned; the signed `sent_at` bounds it, so a server cannot keep a message alive
/// longer by claiming it arrived later.
pub fn expires_at(header: &Header, server_received_at_ms: i64) -> Option<i64> {
    let latest_start = header.sent_at_ms.saturating_add(EXPIRY_SKEW_MS);
    header.expires_in_ms.map(|delay| {
        server_received_at_ms
            .min(latest_start)
            .saturating_add(delay)
    })
}

/// Verifies and decrypts an envelope. Every check of the procedure runs, in this order, and
/// the first failure is returned; nothing is decrypted before the signature verified.
///
/// 1. version, suite, sizes, strict base64url, canonical header;
/// 2. `sender.ik` equals `pinned_identity(sender.user_id)` ([`CryptoError::UnknownSender`]
///    when nothing is pinned yet: fetch the keys, pin them, retry);
/// 3. strict Ed25519 signature over the exact bytes;
/// 4. transport sender = header sender, arrival conversation = `conv_id`, and `receiver`
///    has a wrap;
/// 5. `already_accepted(msg_id)` is false (the caller records the id after success);
/// 6. not expired: [`expires_at`] `>= now`;
/// 7. HPKE-open the receiver's wrap, derive `k_content`, AES-GCM-open with `aad = header`;
/// 8. the plaintext's `msg_id`, `conv_id`, `sender_user_id`, type, `ref` and file id equal
///    the header's.
///
/// Tombstones additionally need [`authorize_delete`](super::authorize_delete) against the
/// referenced message (step 9).
pub fn open(
    envelope: &Envelope,
    receiver: &Receiver<'_>,
    delivery: &Delivery,
    now_ms: i64,
    pinned_identity: impl Fn(&UserId) -> Option<IdentityKey>,
    already_accepted: impl Fn(&MsgId) -> bool,
) -> Result<OpenedMessage, CryptoError> {
    // 1.
    let decoded = decode(envelope)?;
    let header = &decoded.header;

    // 2.
    let pinned = pinned_identity(&header.sender).ok_or(CryptoError::UnknownSender)?;
    if pinned != header.sender_ik {
        return Err(CryptoError::IdentityKeyChanged);
    }

    // 3.
    pinned.verify(
        &signature_message(&decoded.header_bytes, &decoded.ct),
        &decoded.sig,
    )?;

    // 4.
    if delivery.sender != header.sender {
        return Err(CryptoError::SenderMismatch);
    }
    if delivery.conv_id != header.conv_id {
        return Err(CryptoError::ConversationMismatch);
    }
    if header.wraps_for(&receiver.user_id).next().is_none() {
        return Err(CryptoError::NotARecipient);
    }

    // 5.
    if already_accepted(&header.msg_id) {
        return Err(CryptoError::Replay);
    }

    // 6.
    let expires_at_ms = expires_at(header, delivery.server_received_at_ms);
    if expires_at_ms.is_some_and(|at| at < now_ms) {
        return Err(CryptoError::Expired);
    }

    // 7.
    let mut cek = None;
    let mut held_a_key = false;
    for wrap in header.wraps_for(&receiver.user_id) {
        let Some(key) = receiver
            .keys
            .iter()
            .find(|key| key.public().key_id() == wrap.key_id)
        else {
            continue;
        };
        held_a_key = true;
        let context = WrapContext {
            msg_id: &header.msg_id,
            conv_id: &header.conv_id,
            sender: &header.sender,
            recipient: &receiver.user_id,
            key_id: &wrap.key_id,
        };
        if let Ok(opened) = unwrap_content_key(key, &context, &wrap.wrapped) {
            cek = Some(opened);
            break;
        }
    }
    let cek = match (cek, held_a_key) {
        (Some(cek), _) => cek,
        (None, true) => return Err(CryptoError::UnwrapFailed),
        (None, false) => return Err(CryptoError::NoMatchingKey),
    };
    let k_content = content_key(&cek, &header.msg_id)?;
    let plaintext = aead::open(
        &k_content,
        &header.nonce,
        &decoded.header_bytes,
        &decoded.ct,
    )
    .map_err(|_| CryptoError::DecryptFailed)?;
    let plaintext = content::decode(&plaintext)?;

    // 8.
    if plaintext.ids.msg_id != header.msg_id {
        return Err(CryptoError::InnerMismatch { field: "msg_id" });
    }
    if plaintext.ids.conv_id != header.conv_id {
        return Err(CryptoError::InnerMismatch { field: "conv_id" });
    }
    if plaintext.ids.sender != header.sender {
        return Err(CryptoError::InnerMismatch {
            field: "sender_user_id",
        });
    }
    if plaintext.content.kind() != header.kind {
        return Err(CryptoError::InnerMismatch { field: "t" });
    }
    if plaintext.content.reference() != header.reference {
        return Err(CryptoError::InnerMismatch { field: "ref" });
    }
    if plaintext.content.file_ids() != header.files {
        return Err(CryptoError::InnerMismatch { field: "file_id" });
    }

    Ok(OpenedMessage {
        header: decoded.header,
        hidden: plaintext.hidden,
        content: plaintext.content,
        expires_at_ms,
    })
}
