//! The plaintext inside the content ciphertext: padded UTF-8 JSON.
//!
//! `{"t", "body"?, "hidden", "msg_id", "conv_id", "sender_user_id", "file"?, "ref"?, "pad"}`,
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
}

impl Content {
    /// The header kind this content travels as.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Text { .. } => Kind::Msg,
            Self::File { .. } => Kind::File,
            Self::Delete { .. } => Kind::Delete,
            Self::Receipt { .. } => Kind::Receipt,
        }
    }

    /// The plaintext `t` value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::File { .. } => "file",
            Self::Delete { .. } => "delete",
            Self::Receipt { .. } => "receipt",
        }
    }

    /// The file ids the header lists in `files`.
    pub fn file_ids(&self) -> Vec<FileId> {
        match self {
            Self::File { file, .. } => vec![file.file_id],
            Self::Text { .. } | Self::Delete { .. } | Self::Receipt { .. } => Vec::new(),
        }
    }

    /// The message a tombstone or receipt refers to (the header's `ref`).
    pub fn reference(&self) -> Option<MsgId> {
        match self {
            Self::Delete { target } | Self::Receipt { target } => Some(*target),
            Self::Text { .. } | Self::File { .. } => None,
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
    let (body, file) = match content {
        Content::Text { body } => (Some(body.clone()), None),
        Content::File { body, file } => {
            file.validate()?;
            (Some(body.clone()), Some(file.to_json()))
        }
        Content::Delete { .. } | Content::Receipt { .. } => (None, None),
    };
    let mut json = PlaintextJson {
        t: content.type_name().to_owned(),
        body,
        hidden,
        msg_id: ids.msg_id.to_b64(),
        conv_id: ids.conv_id.text(),
        sender_user_id: user_id_text(&ids.sender),
        file,
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
                ("text", None) => Content::Text { body },
                ("file", Some(file)) => Content::File {
                    body,
                    file: FileDescriptor::from_json(file)?,
                },
                ("text", Some(_)) => return Err(reject("plaintext.file", "not allowed for text")),
                _ => return Err(reject("plaintext.file", "required for file")),
            }
        }
        "delete" | "receipt" => {
            if json.body.is_some() || json.file.is_some() {
                return Err(reject(
                    "plaintext",
                    "body and file are not allowed for delete and receipt",
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
