//! A membership change: canonical JSON (§2.7 rules, members in the table order of §17.2),
//! signed with `Ed25519(author.ik, GROUP_CHANGE_LABEL || change_bytes)`, and linked to by the
//! next change with `SHA-256(GROUP_LINK_LABEL || lp(change_bytes) || sig)`.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use securechat_proto::b64;
use securechat_proto::ids::UserId;

use crate::envelope::MAX_SAFE_INTEGER;
use crate::identity::{IdentityKey, IdentityKeyPair};
use crate::ids::{parse_user_id, user_id_text, ConvId};
use crate::labels::{lp, GROUP_CHANGE_LABEL, GROUP_LINK_LABEL};
use crate::CryptoError;

/// The change format's version.
pub const CHANGE_VERSION: u8 = 1;
/// Largest change accepted, in bytes (256 members at ≈ 120 bytes each, and the rest).
pub const MAX_CHANGE_BYTES: usize = 64 * 1024;

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The first change: the initial members, the author an admin among them.
    Create,
    /// New members.
    Add,
    /// Members removed by an admin.
    Remove,
    /// Members made admins.
    Admin,
    /// Admins made ordinary members.
    Unadmin,
    /// The author leaves.
    Leave,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Admin => "admin",
            Self::Unadmin => "unadmin",
            Self::Leave => "leave",
        }
    }

    fn parse(text: &str) -> Result<Self, CryptoError> {
        Ok(match text {
            "create" => Self::Create,
            "add" => Self::Add,
            "remove" => Self::Remove,
            "admin" => Self::Admin,
            "unadmin" => Self::Unadmin,
            "leave" => Self::Leave,
            _ => return Err(CryptoError::invalid("op", "unknown operation")),
        })
    }
}

/// A member as a change names it: who, with which identity key, and whether an admin (for
/// `create` and `add`, what they become; otherwise what the change makes of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeMember {
    pub user_id: UserId,
    pub ik: IdentityKey,
    pub admin: bool,
}

/// A parsed, well-formed change (its signature and its place in a chain are checked by
/// [`crate::group::GroupState`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub group_id: ConvId,
    /// 0 for the first change, then one more than the previous.
    pub seq: u64,
    /// The link to the previous change; `None` for the first.
    pub prev: Option<[u8; 32]>,
    pub author: UserId,
    pub author_ik: IdentityKey,
    /// The author's clock, Unix ms (display only).
    pub at_ms: i64,
    pub op: Op,
    pub members: Vec<ChangeMember>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorJson {
    user_id: String,
    ik: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberJson {
    user_id: String,
    ik: String,
    admin: bool,
}

/// The change's JSON, members in the order of §17.2 (the order is part of the format).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeJson {
    v: u8,
    group_id: String,
    seq: u64,
    prev: Option<String>,
    author: AuthorJson,
    at: i64,
    op: String,
    members: Vec<MemberJson>,
}

impl Change {
    /// The canonical bytes that are signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let json = ChangeJson {
            v: CHANGE_VERSION,
            group_id: self.group_id.text(),
            seq: self.seq,
            prev: self.prev.map(b64::encode),
            author: AuthorJson {
                user_id: user_id_text(&self.author),
                ik: b64::encode(self.author_ik.to_bytes()),
            },
            at: self.at_ms,
            op: self.op.as_str().to_owned(),
            members: self
                .members
                .iter()
                .map(|m| MemberJson {
                    user_id: user_id_text(&m.user_id),
                    ik: b64::encode(m.ik.to_bytes()),
                    admin: m.admin,
                })
                .collect(),
        };
        serde_json::to_vec(&json).unwrap_or_default()
    }

    /// Parses change bytes, which must be canonical.
    pub fn parse(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() > MAX_CHANGE_BYTES {
            return Err(CryptoError::TooLarge {
                what: "group change",
                limit: MAX_CHANGE_BYTES,
                got: bytes.len(),
            });
        }
        let json: ChangeJson =
            serde_json::from_slice(bytes).map_err(CryptoError::json("group change"))?;
        if json.v != CHANGE_VERSION {
            return Err(CryptoError::UnsupportedVersion {
                what: "group change",
                got: json.v.into(),
            });
        }
        if serde_json::to_vec(&json).ok().as_deref() != Some(bytes) {
            return Err(CryptoError::NonCanonicalGroupChange);
        }
        let group_id = ConvId::parse(&json.group_id)?;
        if json.seq > MAX_SAFE_INTEGER {
            return Err(CryptoError::invalid("seq", "integer above 2^53 - 1"));
        }
        let prev = match &json.prev {
            None => None,
            Some(text) => Some(b64::decode_array(text).map_err(CryptoError::encoding("prev"))?),
        };
        let author = parse_user_id("author.user_id", &json.author.user_id)?;
        let author_ik = identity_key("author.ik", &json.author.ik)?;
        if !(0..=MAX_SAFE_INTEGER as i64).contains(&json.at) {
            return Err(CryptoError::invalid("at", "integer outside 0 … 2^53 - 1"));
        }
        let op = Op::parse(&json.op)?;
        let members = json
            .members
            .iter()
            .map(|m| {
                Ok(ChangeMember {
                    user_id: parse_user_id("members.user_id", &m.user_id)?,
                    ik: identity_key("members.ik", &m.ik)?,
                    admin: m.admin,
                })
            })
            .collect::<Result<Vec<_>, CryptoError>>()?;
        Ok(Self {
            group_id,
            seq: json.seq,
            prev,
            author,
            author_ik,
            at_ms: json.at,
            op,
            members,
        })
    }

    /// Signs the change with the author's identity key pair (which must be `author_ik`'s).
    pub fn sign(&self, author: &IdentityKeyPair) -> Result<SignedChange, CryptoError> {
        if author.public().to_bytes() != self.author_ik.to_bytes() {
            return Err(CryptoError::invalid(
                "author.ik",
                "the signing key is not the change's author key",
            ));
        }
        let bytes = self.to_bytes();
        let sig = author.sign(&signature_input(&bytes));
        Ok(SignedChange { bytes, sig })
    }
}

fn identity_key(field: &'static str, text: &str) -> Result<IdentityKey, CryptoError> {
    let bytes: [u8; 32] = b64::decode_array(text).map_err(CryptoError::encoding(field))?;
    IdentityKey::from_bytes(&bytes)
}

fn signature_input(bytes: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(GROUP_CHANGE_LABEL.len() + bytes.len());
    input.extend_from_slice(GROUP_CHANGE_LABEL);
    input.extend_from_slice(bytes);
    input
}

/// A change as it travels and is stored: its exact bytes and the author's signature.
/// JSON: `{"change": "<base64url change bytes>", "sig": "<base64url, 64 bytes>"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedChange {
    pub bytes: Vec<u8>,
    pub sig: [u8; 64],
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedChangeJson {
    change: String,
    sig: String,
}

impl SignedChange {
    /// Parses the change (canonical form, fields) and checks the signature by its author key.
    pub fn open(&self) -> Result<Change, CryptoError> {
        let change = Change::parse(&self.bytes)?;
        change
            .author_ik
            .verify(&signature_input(&self.bytes), &self.sig)?;
        Ok(change)
    }

    /// The link the next change's `prev` must carry.
    pub fn link(&self) -> [u8; 32] {
        let mut input = Vec::with_capacity(GROUP_LINK_LABEL.len() + 4 + self.bytes.len() + 64);
        input.extend_from_slice(GROUP_LINK_LABEL);
        lp(&mut input, &self.bytes);
        input.extend_from_slice(&self.sig);
        Sha256::digest(&input).into()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&SignedChangeJson {
            change: b64::encode(&self.bytes),
            sig: b64::encode(self.sig),
        })
        .unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self, CryptoError> {
        let json: SignedChangeJson =
            serde_json::from_str(text).map_err(CryptoError::json("signed group change"))?;
        let bytes = b64::decode(&json.change).map_err(CryptoError::encoding("change"))?;
        if bytes.len() > MAX_CHANGE_BYTES {
            return Err(CryptoError::TooLarge {
                what: "group change",
                limit: MAX_CHANGE_BYTES,
                got: bytes.len(),
            });
        }
        let sig = b64::decode_array(&json.sig).map_err(CryptoError::encoding("sig"))?;
        Ok(Self { bytes, sig })
    }
}
