//! Identifiers the envelope carries: message ids, conversation ids (with the deterministic id of
//! a 1:1 conversation) and file ids, plus the one canonical text form of UUIDs.

use std::fmt;

use rand::{CryptoRng, RngCore};
use securechat_proto::b64;
use securechat_proto::ids::UserId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::labels::{lp, DIRECT_CONV_LABEL};
use crate::CryptoError;

/// Length of a message id and of a file id: 128 random bits.
pub const RANDOM_ID_LEN: usize = 16;

/// The canonical text of a UUID: lower-case, hyphenated, 36 characters.
pub fn uuid_text(uuid: &Uuid) -> String {
    uuid.hyphenated().to_string()
}

/// Parses a UUID that must be in canonical text form (lower-case, hyphenated). Upper case,
/// braces, URNs and the simple form are refused: ids enter signatures and `lp()` frames as text,
/// so there must be exactly one spelling.
pub fn parse_canonical_uuid(field: &'static str, text: &str) -> Result<Uuid, CryptoError> {
    let uuid = Uuid::parse_str(text).map_err(|_| CryptoError::invalid(field, "not a UUID"))?;
    if uuid_text(&uuid) != text {
        return Err(CryptoError::invalid(
            field,
            "UUID is not in lower-case hyphenated form",
        ));
    }
    Ok(uuid)
}

/// Parses a user id in canonical text form.
pub fn parse_user_id(field: &'static str, text: &str) -> Result<UserId, CryptoError> {
    parse_canonical_uuid(field, text).map(UserId)
}

/// The canonical text of a user id.
pub fn user_id_text(user: &UserId) -> String {
    uuid_text(&user.0)
}

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; RANDOM_ID_LEN]);

        impl $name {
            /// A fresh id from the CSPRNG.
            pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
                let mut bytes = [0u8; RANDOM_ID_LEN];
                rng.fill_bytes(&mut bytes);
                Self(bytes)
            }

            /// The base64url text (22 characters).
            pub fn to_b64(&self) -> String {
                b64::encode(self.0)
            }

            /// Strictly decodes base64url text of exactly 16 bytes.
            pub fn from_b64(text: &str) -> Result<Self, CryptoError> {
                Self::decode($field, text)
            }

            pub(crate) fn decode(field: &'static str, text: &str) -> Result<Self, CryptoError> {
                b64::decode_array(text)
                    .map(Self)
                    .map_err(CryptoError::encoding(field))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_b64())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.to_b64())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::from_b64(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

random_id!(
    /// A message id: 16 random bytes chosen by the sender; idempotency key and replay id.
    MsgId,
    "msg_id"
);
impl MsgId {
    /// A message id whose first 6 bytes are `now_ms` (big-endian, as in a UUIDv7) and whose
    /// other 10 are random. Any 16 bytes are a valid id; ids that grow with time make the
    /// server's idempotency index grow at its end, so storing a message touches the same few
    /// index pages instead of a random one per message (docs/PROTOCOL.md §5).
    pub fn time_ordered(now_ms: i64, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id[6..]);
        let ms = u64::try_from(now_ms).unwrap_or(0).min((1 << 48) - 1);
        id[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        Self(id)
    }
}

random_id!(
    /// A file id: 16 random bytes chosen by the uploader (never an authorisation by itself).
    FileId,
    "file_id"
);

/// A conversation id: a UUID. Group conversations get a random one from their creator; a 1:1
/// conversation's id is derived from its two members ([`ConvId::direct`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConvId(pub Uuid);

impl ConvId {
    /// The id of the 1:1 conversation between `a` and `b` (the same whichever is first):
    ///
    /// `d = SHA-256(DIRECT_CONV_LABEL || lp(lo) || lp(hi))`, where `lo <= hi` are the two user
    /// ids' canonical texts in byte order; the UUID is `d[0..16]` with the version nibble set
    /// to 8 and the variant bits to `10` (an RFC 9562 UUIDv8). A conversation with oneself
    /// (`a == b`) is well defined.
    pub fn direct(a: &UserId, b: &UserId) -> Self {
        let (a, b) = (user_id_text(a), user_id_text(b));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let mut input = Vec::with_capacity(DIRECT_CONV_LABEL.len() + 2 * (4 + 36));
        input.extend_from_slice(DIRECT_CONV_LABEL);
        lp(&mut input, lo.as_bytes());
        lp(&mut input, hi.as_bytes());
        let digest = Sha256::digest(&input);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x80;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Self(Uuid::from_bytes(bytes))
    }

    /// Parses a conversation id in canonical text form.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        parse_canonical_uuid("conv_id", text).map(Self)
    }

    /// The canonical text (lower-case, hyphenated).
    pub fn text(&self) -> String {
        uuid_text(&self.0)
    }
}

impl fmt::Display for ConvId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl Serialize for ConvId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for ConvId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> UserId {
        parse_user_id("user_id", text).unwrap()
    }

    #[test]
    fn direct_conversation_ids_are_symmetric_and_distinct() {
        let a = user("01937a1c-7a00-7000-8000-000000000001");
        let b = user("01937a1c-7a00-7000-8000-000000000002");
        let c = user("01937a1c-7a00-7000-8000-000000000003");
        assert_eq!(ConvId::direct(&a, &b), ConvId::direct(&b, &a));
        assert_ne!(ConvId::direct(&a, &b), ConvId::direct(&a, &c));
        assert_ne!(ConvId::direct(&a, &a), ConvId::direct(&a, &b));
        let id = ConvId::direct(&a, &b);
        assert_eq!(id.0.get_version_num(), 8);
        assert_eq!(id.0.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(ConvId::parse(&id.text()).unwrap(), id);
    }

    #[test]
    fn only_canonical_uuid_text_is_accepted() {
        let canonical = "01937a1c-7a00-7000-8000-00000000000a";
        assert!(parse_canonical_uuid("x", canonical).is_ok());
        for other in [
            "01937A1C-7A00-7000-8000-00000000000A",
            "01937a1c7a00700080000000000000000a",
            "{01937a1c-7a00-7000-8000-00000000000a}",
            "urn:uuid:01937a1c-7a00-7000-8000-00000000000a",
            "not a uuid",
        ] {
            assert!(parse_canonical_uuid("x", other).is_err(), "{other}");
        }
    }

    #[test]
    fn time_ordered_message_ids_sort_by_time_and_stay_random() {
        let mut rng = rand::rngs::OsRng;
        let a = MsgId::time_ordered(1_700_000_000_000, &mut rng);
        let b = MsgId::time_ordered(1_700_000_000_001, &mut rng);
        let c = MsgId::time_ordered(1_700_000_000_001, &mut rng);
        assert!(a.0 < b.0 && a.0 < c.0);
        assert_eq!(a.0[..6], 1_700_000_000_000u64.to_be_bytes()[2..]);
        assert_ne!(b.0[6..], c.0[6..], "80 random bits follow the time");
        assert_eq!(MsgId::time_ordered(-5, &mut rng).0[..6], [0; 6]);
    }

    #[test]
    fn random_ids_round_trip_strictly() {
        let id = MsgId([7u8; 16]);
        assert_eq!(MsgId::from_b64(&id.to_b64()).unwrap(), id);
        assert!(MsgId::from_b64("AAAA").is_err());
        assert!(matches!(
            MsgId::from_b64(&format!("{}=", id.to_b64())),
            Err(CryptoError::Encoding {
                field: "msg_id",
                ..
            })
        ));
    }
}
