//! The plaintext inside the content ciphertext: padded UTF-8 JSON.
//!
//! `{"t", "body"?, "hidden", "msg_id", "conv_id", "sender_user_id", "file"?, "group"?, "ref"?,
//! "pad"}`,
//! members in that order; `pad` is spaces making the whole a multiple of 256 bytes.

use securechat_proto::ids::UserId;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{Kind, MAX_PLAINTEXT_BYTES, PAD_BLOCK};
use crate::file_stream::{FileDescriptor, FileDescriptorJson};
use crate::ids::{parse_user_id, user_id_text, ConvId, FileId, MsgId};
use crate::CryptoError;

/// What a message says. Holds plaintext and possibly a file key: no `Debug`, no `Clone`.
pub enum Content {
    /// A text message (`t = "text"`, header kind `msg`).
    Text { body: String },
    /// A file message (`t = "file"`, header kind `file`) with an optional caption.
    File { body: String, file: FileDescriptor },
    /// A tombstone deleting `target` (`t = "delete"`, header kind `delete`).
    Delete { target: MsgId },
    /// A read receipt for `target` (`t = "receipt"`, header kind `receipt`).
    Receipt { target: MsgId },
    /// A group's name and colour, for its members (`t = "text"` with an empty `body` and a
    /// `group` member, header kind `msg`; docs/PROTOCOL.md §17.4).
    GroupMeta { name: String, color: String },
}

/// Longest group name, in characters.
pub const MAX_GROUP_NAME_CHARS: usize = 64;

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct GroupMetaJson {
    name: String,
    color: String,
}

/// Checks a group name (1 to 64 characters, no control characters) and colour (`#rrggbb`,
/// lower-case hex).
pub fn check_group_meta(name: &str, color: &str) -> Result<(), CryptoError> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_GROUP_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(reject(
            "plaintext.group.name",
            "1 to 64 characters, no control characters",
        ));
    }
    let hex = color.strip_prefix('#').unwrap_or("");
    if hex.len() != 6 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(reject("plaintext.group.color", "#rrggbb in lower-case hex"));
    }
    Ok(())
}

impl Content {
    /// The header kind this content travels as.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Text { .. } | Self::GroupMeta { .. } => Kind::Msg,
            Self::File { .. } => Kind::File,
            Self::Delete { .. } => Kind::Delete,
            Self::Receipt { .. } => Kind::Receipt,
        }
    }

    /// The plaintext `t` value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Text { .. } | Self::GroupMeta { .. } => "text",
            Self::File { .. } => "file",
            Self::Delete { .. } => "delete",
            Self::Receipt { .. } => "receipt",
        }
    }

    /// The file ids the header lists in `files`.
    pub fn file_ids(&self) -> Vec<FileId> {
        match self {
            Self::File { file, .. } => vec![file.file_id],
            Self::Text { .. }
            | Self::Delete { .. }
            | Self::Receipt { .. }
            | Self::GroupMeta { .. } => Vec::new(),
        }
    }

    /// The message a tombstone or receipt refers to (the header's `ref`).
    pub fn reference(&self) -> Option<MsgId> {
        match self {
            Self::Delete { target } | Self::Receipt { target } => Some(*target),
            Self::Text { .. } | Self::File { .. } | Self::GroupMeta { .. } => None,
        }
    }
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct PlaintextJson {
    t: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    hidden: bool,
    msg_id: String,
    conv_id: String,
    sender_user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<FileDescriptorJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<GroupMetaJson>,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    pad: String,
}

/// The ids repeated inside the plaintext (compared with the header by `open`).
pub(crate) struct InnerIds {
    pub msg_id: MsgId,
    pub conv_id: ConvId,
    pub sender: UserId,
}

/// A decoded plaintext.
pub(crate) struct Plaintext {
    pub content: Content,
    pub hidden: bool,
    pub ids: InnerIds,
}

fn to_json(json: &PlaintextJson) -> Zeroizing<Vec<u8>> {
    // Strings, booleans and integers: serialisation cannot fail.
    Zeroizing::new(serde_json::to_vec(json).unwrap_or_default())
}

/// Serialises and pads the plaintext of a message.
pub(crate) fn encode(
    content: &Content,
    hidden: bool,
    ids: &InnerIds,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (body, file, group) = match content {
        Content::Text { body } => (Some(body.clone()), None, None),
        Content::File { body, file } => {
            file.validate()?;
            (Some(body.clone()), Some(file.to_json()), None)
        }
        Content::Delete { .. } | Content::Receipt { .. } => (None, None, None),
        Content::GroupMeta { name, color } => {
            check_group_meta(name, color)?;
            let meta = GroupMetaJson {
                name: name.clone(),
                color: color.clone(),
            };
            (Some(String::new()), None, Some(meta))
        }
    };
    let mut json = PlaintextJson {
        t: content.type_name().to_owned(),
        body,
        hidden,
        msg_id: ids.msg_id.to_b64(),
        conv_id: ids.conv_id.text(),
        sender_user_id: user_id_text(&ids.sender),
        file,
        group,
        reference: content.reference().map(|id| id.to_b64()),
        pad: String::new(),
    };
    let unpadded = to_json(&json).len();
    json.pad = " ".repeat((PAD_BLOCK - unpadded % PAD_BLOCK) % PAD_BLOCK);
    let padded = to_json(&json);
    if padded.len() > MAX_PLAINTEXT_BYTES {
        return Err(CryptoError::TooLarge {
            what: "message plaintext",
            limit: MAX_PLAINTEXT_BYTES,
            got: padded.len(),
        });
    }
    debug_assert!(padded.len().is_multiple_of(PAD_BLOCK));
    Ok(padded)
}

fn reject(field: &'static str, reason: &'static str) -> CryptoError {
    CryptoError::invalid(field, reason)
}

/// Parses a decrypted, padded plaintext.
pub(crate) fn decode(bytes: &[u8]) -> Result<Plaintext, CryptoError> {
    if !bytes.len().is_multiple_of(PAD_BLOCK) {
        return Err(reject("plaintext", "length is not a multiple of 256 bytes"));
    }
    let json: PlaintextJson =
        serde_json::from_slice(bytes).map_err(|_| CryptoError::SecretJson { what: "plaintext" })?;
    let ids = InnerIds {
        msg_id: MsgId::decode("plaintext.msg_id", &json.msg_id)?,
        conv_id: crate::ids::parse_canonical_uuid("plaintext.conv_id", &json.conv_id)
            .map(ConvId)?,
        sender: parse_user_id("plaintext.sender_user_id", &json.sender_user_id)?,
    };
    let reference = json
        .reference
        .as_deref()
        .map(|text| MsgId::decode("plaintext.ref", text))
        .transpose()?;
    let content = match json.t.as_str() {
        "text" | "file" => {
            if reference.is_some() {
                return Err(reject("plaintext.ref", "not allowed for text and file"));
            }
            let body = json
                .body
                .clone()
                .ok_or_else(|| reject("plaintext.body", "required for text and file"))?;
            match (json.t.as_str(), &json.file) {
                ("text", None) => match &json.group {
                    None => Content::Text { body },
                    Some(meta) => {
                        check_group_meta(&meta.name, &meta.color)?;
                        if !body.is_empty() {
                            return Err(reject("plaintext.body", "must be empty with group"));
                        }
                        Content::GroupMeta {
                            name: meta.name.clone(),
                            color: meta.color.clone(),
                        }
                    }
                },
                ("file", Some(_)) if json.group.is_some() => {
                    return Err(reject("plaintext.group", "not allowed for file"))
                }
                ("file", Some(file)) => Content::File {
                    body,
                    file: FileDescriptor::from_json(file)?,
                },
                ("text", Some(_)) => return Err(reject("plaintext.file", "not allowed for text")),
                _ => return Err(reject("plaintext.file", "required for file")),
            }
        }
        "delete" | "receipt" => {
            if json.body.is_some() || json.file.is_some() || json.group.is_some() {
                return Err(reject(
                    "plaintext",
                    "body, file and group are not allowed for delete and receipt",
                ));
            }
            let target = reference
                .ok_or_else(|| reject("plaintext.ref", "required for delete and receipt"))?;
            if json.t == "delete" {
                Content::Delete { target }
            } else {
                Content::Receipt { target }
            }
        }
        _ => return Err(reject("plaintext.t", "unknown message type")),
    };
    Ok(Plaintext {
        content,
        hidden: json.hidden,
        ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> InnerIds {
        InnerIds {
            msg_id: MsgId([7; 16]),
            conv_id: ConvId(uuid::Uuid::from_u128(
                0x5b0d_6c2e_58b4_4a3f_9f4e_0c1f_8f0e_6a11,
            )),
            sender: UserId(uuid::Uuid::from_u128(1)),
        }
    }

    fn meta(name: &str, color: &str) -> Content {
        Content::GroupMeta {
            name: name.to_owned(),
            color: color.to_owned(),
        }
    }

    #[test]
    fn a_group_name_round_trips_and_bad_ones_are_refused() {
        let bytes = encode(&meta("Family 👪", "#2f6fde"), false, &ids()).expect("encode");
        let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
        assert!(
            text.contains(r##""body":"","hidden":false"##)
                && text.contains(r##""group":{"name":"Family 👪","color":"#2f6fde"},"pad""##),
            "{text}"
        );
        match decode(&bytes).expect("decode").content {
            Content::GroupMeta { name, color } => {
                assert_eq!((name.as_str(), color.as_str()), ("Family 👪", "#2f6fde"))
            }
            _ => panic!("not a group name"),
        }
        for (name, color) in [
            ("", "#2f6fde"),
            (&"n".repeat(65)[..], "#2f6fde"),
            ("tab\there", "#2f6fde"),
            ("ok", "#2F6FDE"),
            ("ok", "2f6fde"),
            ("ok", "#2f6fd"),
        ] {
            assert!(
                encode(&meta(name, color), false, &ids()).is_err(),
                "{name:?} {color:?}"
            );
        }
        assert!(encode(&meta(&"n".repeat(64), "#000000"), false, &ids()).is_ok());
    }

    #[test]
    fn a_group_member_is_refused_with_a_body_or_on_other_types() {
        let bytes = encode(&meta("Team", "#1f9d55"), false, &ids()).expect("encode");
        let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
        let with_body = text.replacen(r#""body":"""#, r#""body":"hi""#, 1);
        let pad = with_body.len() % PAD_BLOCK;
        let trimmed = with_body.replacen(&" ".repeat(pad), "", 1);
        let err = decode(trimmed.as_bytes()).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("plaintext.body")),
            "a body beside group: {err:?}"
        );
        let receipt = text.replacen(r#""t":"text","body":"","#, r#""t":"receipt","#, 1);
        let padded = format!(
            "{receipt}{}",
            " ".repeat((PAD_BLOCK - receipt.len() % PAD_BLOCK) % PAD_BLOCK)
        );
        let err = decode(padded.as_bytes()).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("group")),
            "group on a receipt: {err:?}"
        );
    }
}
