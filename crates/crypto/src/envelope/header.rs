//! The signed header: its JSON form, its strict parser and the routing view the server uses.

use std::collections::HashSet;

use securechat_proto::b64;
use securechat_proto::ids::UserId;
use serde::{Deserialize, Deserializer, Serialize};

use super::{decode_known, Envelope, ENVELOPE_VERSION, MAX_SAFE_INTEGER, MAX_WRAPS, SUITE};
use crate::aead::NONCE_LEN;
use crate::identity::{IdentityKey, KeyId, KEY_ID_LEN};
use crate::ids::{parse_user_id, user_id_text, ConvId, FileId, MsgId};
use crate::wrap::{WrappedKey, WRAP_CT_LEN, WRAP_ENC_LEN};
use crate::CryptoError;

/// What an envelope carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A text message (plaintext `t = "text"`).
    Msg,
    /// A file message (plaintext `t = "file"`).
    File,
    /// A tombstone deleting the message named by `ref`.
    Delete,
    /// A read receipt for the message named by `ref`.
    Receipt,
}

impl Kind {
    /// The header's `kind` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Msg => "msg",
            Self::File => "file",
            Self::Delete => "delete",
            Self::Receipt => "receipt",
        }
    }

    fn parse(text: &str) -> Result<Self, CryptoError> {
        match text {
            "msg" => Ok(Self::Msg),
            "file" => Ok(Self::File),
            "delete" => Ok(Self::Delete),
            "receipt" => Ok(Self::Receipt),
            _ => Err(CryptoError::invalid("kind", "unknown kind")),
        }
    }

    /// Whether this kind names another message in `ref`.
    pub fn has_ref(self) -> bool {
        matches!(self, Self::Delete | Self::Receipt)
    }
}

/// One wrap of the content key: to `key_id` of `user_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wrap {
    pub user_id: UserId,
    pub key_id: KeyId,
    pub wrapped: WrappedKey,
}

/// A parsed, validated header (public data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub msg_id: MsgId,
    pub conv_id: ConvId,
    pub sender: UserId,
    pub sender_ik: IdentityKey,
    /// Per (sender, conversation) counter; advisory, for gap detection.
    pub sender_ctr: u64,
    /// Sender's clock, Unix ms; display only.
    pub sent_at_ms: i64,
    /// Self-destruct delay after the server received the envelope.
    pub expires_in_ms: Option<i64>,
    pub kind: Kind,
    /// The message a `delete` or `receipt` refers to.
    pub reference: Option<MsgId>,
    /// The files the message carries (exactly one for kind `file`, none otherwise): public
    /// so that the server can grant the message's recipients access to them.
    pub files: Vec<FileId>,
    /// Content AES-GCM nonce.
    pub nonce: [u8; NONCE_LEN],
    pub wraps: Vec<Wrap>,
}

/// What the server needs to route and store an envelope, from [`parse_header`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingHeader {
    pub msg_id: MsgId,
    pub conv_id: ConvId,
    /// The claimed sender: the server must check it is the authenticated user.
    pub sender: UserId,
    /// The claimed identity key: the server may check it is the sender's registered key and
    /// then [`verify_signature`](super::verify_signature).
    pub sender_ik: IdentityKey,
    pub sender_ctr: u64,
    pub sent_at_ms: i64,
    pub expires_in_ms: Option<i64>,
    pub kind: Kind,
    pub reference: Option<MsgId>,
    /// The files a file message carries (for the server's access list).
    pub files: Vec<FileId>,
    /// Every distinct user with a wrap, in order of first appearance (the sender too, when
    /// the envelope carries the sender's own copy).
    pub recipients: Vec<UserId>,
    /// Length of `header_bytes`.
    pub header_len: usize,
    /// Length of the content ciphertext.
    pub ct_len: usize,
}

/// Parses an envelope's header without decrypting or verifying anything: version, suite,
/// sizes, strict base64url, canonical JSON and every field's syntax (docs/PROTOCOL.md, step 1).
/// The signature is *not* checked: call [`verify_signature`](super::verify_signature) as well.
pub fn parse_header(envelope: &Envelope) -> Result<RoutingHeader, CryptoError> {
    routing_header(envelope, None)
}

/// [`parse_header`] for a server that knows the sender's registered identity key, already
/// validated: a header carrying exactly that key does not decompress and check the Ed25519
/// point again (that was most of the parse's cost); any other key is checked as usual.
pub fn parse_header_from(
    envelope: &Envelope,
    registered: &IdentityKey,
) -> Result<RoutingHeader, CryptoError> {
    routing_header(envelope, Some(registered))
}

fn routing_header(
    envelope: &Envelope,
    known: Option<&IdentityKey>,
) -> Result<RoutingHeader, CryptoError> {
    let decoded = decode_known(envelope, known)?;
    let header = decoded.header;
    let mut seen = HashSet::new();
    let recipients = header
        .wraps
        .iter()
        .map(|wrap| wrap.user_id)
        .filter(|user| seen.insert(*user))
        .collect();
    Ok(RoutingHeader {
        msg_id: header.msg_id,
        conv_id: header.conv_id,
        sender: header.sender,
        sender_ik: header.sender_ik,
        sender_ctr: header.sender_ctr,
        sent_at_ms: header.sent_at_ms,
        expires_in_ms: header.expires_in_ms,
        kind: header.kind,
        reference: header.reference,
        files: header.files,
        recipients,
        header_len: decoded.header_bytes.len(),
        ct_len: decoded.ct.len(),
    })
}

/// A member that must be present but may be `null` (serde would otherwise default a missing
/// `Option` to `None`).
fn required_nullable<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SenderJson {
    user_id: String,
    ik: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WrapJson {
    user_id: String,
    key_id: String,
    enc: String,
    ct: String,
}

/// The header's JSON. Member order here is the canonical order.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderJson {
    v: u32,
    suite: String,
    msg_id: String,
    conv_id: String,
    sender: SenderJson,
    sender_ctr: u64,
    sent_at: i64,
    #[serde(deserialize_with = "required_nullable")]
    expires_in_ms: Option<i64>,
    kind: String,
    #[serde(rename = "ref", deserialize_with = "required_nullable")]
    reference: Option<String>,
    files: Vec<String>,
    nonce: String,
    wraps: Vec<WrapJson>,
}

fn check_integer(field: &'static str, value: i64, min: i64) -> Result<(), CryptoError> {
    if value < min || value.unsigned_abs() > MAX_SAFE_INTEGER {
        return Err(CryptoError::invalid(
            field,
            "integer outside the allowed range (up to 2^53 - 1)",
        ));
    }
    Ok(())
}

fn decode_array<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], CryptoError> {
    b64::decode_array::<N>(text).map_err(CryptoError::encoding(field))
}

impl Header {
    /// Strictly parses `header_bytes`: known version and suite, canonical serialisation (so
    /// that no two parsers can read the same bytes differently), and valid fields.
    pub fn parse(bytes: &[u8]) -> Result<Self, CryptoError> {
        Self::parse_known(bytes, None)
    }

    /// [`Header::parse`], taking `known` (an already validated key) as the sender key when
    /// the header's `sender.ik` is exactly its bytes.
    pub(crate) fn parse_known(
        bytes: &[u8],
        known: Option<&IdentityKey>,
    ) -> Result<Self, CryptoError> {
        let json: HeaderJson =
            serde_json::from_slice(bytes).map_err(CryptoError::json("header"))?;
        if json.v != ENVELOPE_VERSION {
            return Err(CryptoError::UnsupportedVersion {
                what: "header",
                got: json.v.into(),
            });
        }
        if json.suite != SUITE {
            return Err(CryptoError::UnsupportedAlgorithm { field: "suite" });
        }
        if serde_json::to_vec(&json).ok().as_deref() != Some(bytes) {
            return Err(CryptoError::NonCanonicalHeader);
        }
        Self::from_json(&json, known)
    }

    fn from_json(json: &HeaderJson, known: Option<&IdentityKey>) -> Result<Self, CryptoError> {
        let msg_id = MsgId::decode("msg_id", &json.msg_id)?;
        let conv_id = ConvId::parse(&json.conv_id)?;
        let sender = parse_user_id("sender.user_id", &json.sender.user_id)?;
        let ik_bytes = decode_array("sender.ik", &json.sender.ik)?;
        let sender_ik = match known {
            Some(key) if key.to_bytes() == ik_bytes => *key,
            _ => IdentityKey::from_bytes(&ik_bytes)?,
        };
        if json.sender_ctr > MAX_SAFE_INTEGER {
            return Err(CryptoError::invalid(
                "sender_ctr",
                "integer outside the allowed range (up to 2^53 - 1)",
            ));
        }
        check_integer("sent_at", json.sent_at, 0)?;
        if let Some(expires) = json.expires_in_ms {
            check_integer("expires_in_ms", expires, 1)?;
        }
        let kind = Kind::parse(&json.kind)?;
        let reference = match (&json.reference, kind.has_ref()) {
            (Some(text), true) => Some(MsgId::decode("ref", text)?),
            (None, false) => None,
            (None, true) => {
                return Err(CryptoError::invalid(
                    "ref",
                    "required for kinds delete and receipt",
                ))
            }
            (Some(_), false) => {
                return Err(CryptoError::invalid(
                    "ref",
                    "must be null for kinds msg and file",
                ))
            }
        };
        let files = json
            .files
            .iter()
            .map(|text| FileId::decode("files", text))
            .collect::<Result<Vec<_>, _>>()?;
        match (kind, files.len()) {
            (Kind::File, 1) => {}
            (Kind::File, _) => {
                return Err(CryptoError::invalid(
                    "files",
                    "a file message carries exactly one file id",
                ))
            }
            (_, 0) => {}
            (_, _) => {
                return Err(CryptoError::invalid(
                    "files",
                    "must be empty unless the kind is file",
                ))
            }
        }
        let nonce = decode_array("nonce", &json.nonce)?;
        if json.wraps.is_empty() {
            return Err(CryptoError::invalid(
                "wraps",
                "at least one wrap is required",
            ));
        }
        if json.wraps.len() > MAX_WRAPS {
            return Err(CryptoError::invalid("wraps", "more than 512 wraps"));
        }
        let mut seen = HashSet::with_capacity(json.wraps.len());
        let wraps = json
            .wraps
            .iter()
            .map(|wrap| {
                let parsed = Wrap {
                    user_id: parse_user_id("wraps.user_id", &wrap.user_id)?,
                    key_id: decode_array::<KEY_ID_LEN>("wraps.key_id", &wrap.key_id)?,
                    wrapped: WrappedKey {
                        enc: decode_array::<WRAP_ENC_LEN>("wraps.enc", &wrap.enc)?,
                        ct: decode_array::<WRAP_CT_LEN>("wraps.ct", &wrap.ct)?,
                    },
                };
                if !seen.insert((parsed.user_id, parsed.key_id)) {
                    return Err(CryptoError::invalid(
                        "wraps",
                        "two wraps for the same user and key id",
                    ));
                }
                Ok(parsed)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            msg_id,
            conv_id,
            sender,
            sender_ik,
            sender_ctr: json.sender_ctr,
            sent_at_ms: json.sent_at,
            expires_in_ms: json.expires_in_ms,
            kind,
            reference,
            files,
            nonce,
            wraps,
        })
    }

    /// The canonical `header_bytes` of this header (what the sender signs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let json = HeaderJson {
            v: ENVELOPE_VERSION,
            suite: SUITE.to_owned(),
            msg_id: self.msg_id.to_b64(),
            conv_id: self.conv_id.text(),
            sender: SenderJson {
                user_id: user_id_text(&self.sender),
                ik: b64::encode(self.sender_ik.to_bytes()),
            },
            sender_ctr: self.sender_ctr,
            sent_at: self.sent_at_ms,
            expires_in_ms: self.expires_in_ms,
            kind: self.kind.as_str().to_owned(),
            reference: self.reference.map(|id| id.to_b64()),
            files: self.files.iter().map(FileId::to_b64).collect(),
            nonce: b64::encode(self.nonce),
            wraps: self
                .wraps
                .iter()
                .map(|wrap| WrapJson {
                    user_id: user_id_text(&wrap.user_id),
                    key_id: b64::encode(wrap.key_id),
                    enc: b64::encode(wrap.wrapped.enc),
                    ct: b64::encode(wrap.wrapped.ct),
                })
                .collect(),
        };
        // Plain strings and integers: serialisation cannot fail.
        serde_json::to_vec(&json).unwrap_or_default()
    }

    /// The wraps addressed to `user`.
    pub fn wraps_for<'a>(&'a self, user: &'a UserId) -> impl Iterator<Item = &'a Wrap> + 'a {
        self.wraps.iter().filter(move |wrap| wrap.user_id == *user)
    }
}
