//! The message envelope `securechat/v1` (docs/PROTOCOL.md, "Message envelope").
//!
//! ```text
//! Envelope = {"v":1, "h": b64u(header_bytes), "ct": b64u(content_ct || tag), "sig": b64u(sig)}
//! ```
//!
//! `header_bytes` is UTF-8 JSON produced once by the sender and signed as exact bytes; the
//! content is AES-256-GCM under a key derived from a random content key (CEK) that is wrapped
//! with HPKE to every recipient key and to the sender's own keys. [`seal`] builds an envelope,
//! [`open`] runs the full verification procedure, [`parse_header`] and [`verify_signature`] are
//! the cheap checks the server needs for routing.

mod content;
mod header;
mod open;
mod seal;
mod tombstone;

use securechat_proto::b64;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::aead::TAG_LEN;
use crate::identity::IdentityKey;
use crate::labels::MESSAGE_SIG_LABEL;
use crate::CryptoError;

pub use content::Content;
pub use header::{parse_header, parse_header_from, Header, Kind, RoutingHeader, Wrap};
pub use open::{expires_at, open, verify_signature, Delivery, OpenedMessage, Receiver};
pub use seal::{seal, OutgoingMessage, RecipientKey, SealedEnvelope, Sender};
pub use tombstone::{authorize_delete, MessageMeta};

/// Version of the envelope and of its header.
pub const ENVELOPE_VERSION: u32 = 1;
/// The only cipher suite of version 1.
pub const SUITE: &str = "X25519-HKDF-SHA256-AES256GCM-Ed25519";
/// Most wraps (recipient keys plus the sender's own keys) in one header.
pub const MAX_WRAPS: usize = 512;
/// Largest `header_bytes`.
pub const MAX_HEADER_BYTES: usize = 128 * 1024;
/// The padded plaintext is a multiple of this many bytes.
pub const PAD_BLOCK: usize = 256;
/// Largest padded plaintext.
pub const MAX_PLAINTEXT_BYTES: usize = 64 * 1024;
/// Largest content ciphertext (padded plaintext plus tag).
pub const MAX_CONTENT_CT_BYTES: usize = MAX_PLAINTEXT_BYTES + TAG_LEN;
/// Largest integer used in headers: 2^53 - 1, exact in JavaScript numbers.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// How much later than its signed `sent_at` an envelope may reach the server and still have
/// its self-destruct timer start at the server's receive time: 5 minutes of sender clock
/// skew and transit. The timer starts at `min(server_received_at, sent_at + EXPIRY_SKEW_MS)`,
/// so a server that moves its (unsigned) receive time later cannot extend it beyond this.
pub const EXPIRY_SKEW_MS: i64 = 5 * 60 * 1000;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Length of the base64url (no padding) text of `n` bytes.
pub const fn b64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// Largest envelope JSON accepted by [`envelope_from_json`]: the three fields at their limits
/// plus 1 KiB for the JSON syntax.
pub const MAX_ENVELOPE_JSON_BYTES: usize =
    b64_len(MAX_HEADER_BYTES) + b64_len(MAX_CONTENT_CT_BYTES) + b64_len(SIGNATURE_LEN) + 1024;

/// An envelope as it travels (JSON over WebSocket or HTTP): the wire type of
/// `securechat-proto`, `{"v", "h", "ct", "sig"}` with base64url strings. Public data.
pub use securechat_proto::envelope::Envelope;

/// The outer JSON, strictly: unknown members are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictEnvelope {
    v: u32,
    h: String,
    ct: String,
    sig: String,
}

/// Parses envelope JSON (size-limited, unknown members refused). The fields are decoded and
/// checked by [`parse_header`], [`verify_signature`] and [`open`].
pub fn envelope_from_json(json: &[u8]) -> Result<Envelope, CryptoError> {
    if json.len() > MAX_ENVELOPE_JSON_BYTES {
        return Err(CryptoError::TooLarge {
            what: "envelope",
            limit: MAX_ENVELOPE_JSON_BYTES,
            got: json.len(),
        });
    }
    let strict: StrictEnvelope =
        serde_json::from_slice(json).map_err(CryptoError::json("envelope"))?;
    Ok(Envelope {
        v: strict.v,
        h: strict.h,
        ct: strict.ct,
        sig: strict.sig,
    })
}

/// Compact envelope JSON, members in the order `v`, `h`, `ct`, `sig`.
pub fn envelope_to_json(envelope: &Envelope) -> String {
    #[derive(Serialize)]
    struct Ordered<'a> {
        v: u32,
        h: &'a str,
        ct: &'a str,
        sig: &'a str,
    }
    // Four plain fields: serialisation cannot fail.
    serde_json::to_string(&Ordered {
        v: envelope.v,
        h: &envelope.h,
        ct: &envelope.ct,
        sig: &envelope.sig,
    })
    .unwrap_or_default()
}

/// An envelope whose fields decoded, with limits checked and the header parsed (step 1).
pub(crate) struct DecodedEnvelope {
    pub header_bytes: Vec<u8>,
    pub header: Header,
    pub ct: Vec<u8>,
    pub sig: [u8; SIGNATURE_LEN],
}

fn decode_limited(field: &'static str, text: &str, limit: usize) -> Result<Vec<u8>, CryptoError> {
    if text.len() > b64_len(limit) {
        return Err(CryptoError::TooLarge {
            what: field,
            limit,
            got: text.len() / 4 * 3,
        });
    }
    b64::decode(text).map_err(CryptoError::encoding(field))
}

/// Step 1 of the verification procedure: version, sizes, strict base64url, header syntax.
pub(crate) fn decode(envelope: &Envelope) -> Result<DecodedEnvelope, CryptoError> {
    decode_known(envelope, None)
}

/// [`decode`] with an already validated sender key (see [`Header::parse_known`]).
pub(crate) fn decode_known(
    envelope: &Envelope,
    known: Option<&IdentityKey>,
) -> Result<DecodedEnvelope, CryptoError> {
    if envelope.v != ENVELOPE_VERSION {
        return Err(CryptoError::UnsupportedVersion {
            what: "envelope",
            got: envelope.v.into(),
        });
    }
    let header_bytes = decode_limited("h", &envelope.h, MAX_HEADER_BYTES)?;
    let ct = decode_limited("ct", &envelope.ct, MAX_CONTENT_CT_BYTES)?;
    if ct.len() < PAD_BLOCK + TAG_LEN || !(ct.len() - TAG_LEN).is_multiple_of(PAD_BLOCK) {
        return Err(CryptoError::invalid(
            "ct",
            "length is not a padded plaintext (a multiple of 256 bytes) plus the 16-byte tag",
        ));
    }
    let sig =
        b64::decode_array::<SIGNATURE_LEN>(&envelope.sig).map_err(CryptoError::encoding("sig"))?;
    let header = Header::parse_known(&header_bytes, known)?;
    Ok(DecodedEnvelope {
        header_bytes,
        header,
        ct,
        sig,
    })
}

/// The exact bytes the sender's identity key signs:
/// `"securechat/v1/message\x00" || SHA-256(header_bytes) || SHA-256(ct)`.
pub fn signature_message(header_bytes: &[u8], ct: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(MESSAGE_SIG_LABEL.len() + 64);
    message.extend_from_slice(MESSAGE_SIG_LABEL);
    message.extend_from_slice(&Sha256::digest(header_bytes));
    message.extend_from_slice(&Sha256::digest(ct));
    message
}

#[cfg(test)]
mod tests;
