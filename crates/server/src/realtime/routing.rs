//! The server's view of an envelope: its routing header (no decryption), checked by the
//! crypto crate's strict parser.

use securechat_crypto::envelope::{parse_header_from, verify_signature};
use securechat_crypto::identity::IdentityKey;
use securechat_proto::envelope::Envelope;
use securechat_proto::ids::UserId;
use securechat_store::model::FileId;
use uuid::Uuid;

pub use securechat_crypto::envelope::Kind;

/// What routing and storing an envelope needs.
#[derive(Debug, Clone)]
pub struct Routing {
    pub msg_id: [u8; 16],
    /// `msg_id` as base64url, for acks and error references.
    pub msg_id_text: String,
    pub sender: UserId,
    pub sender_ik: [u8; 32],
    pub kind: Kind,
    /// Users with a wrap other than the sender.
    pub recipients: Vec<UserId>,
    /// Users with a wrap, the sender included when it wrapped for itself.
    pub wrapped: Vec<UserId>,
    /// The conversation: a 1:1 conversation's derived id (UUIDv8), or a group's id (UUIDv4).
    pub conv_id: Uuid,
    pub expires_in_ms: Option<u64>,
    /// The message a tombstone or receipt names.
    pub reference: Option<[u8; 16]>,
    /// Files a file message carries.
    pub files: Vec<FileId>,
}

/// Parses the routing header; the error text says what is wrong.
pub fn parse(envelope: &Envelope, registered: &IdentityKey) -> Result<Routing, String> {
    let header =
        parse_header_from(envelope, registered).map_err(|e| format!("invalid envelope: {e}"))?;
    Ok(Routing {
        msg_id: header.msg_id.0,
        msg_id_text: header.msg_id.to_b64(),
        sender: header.sender,
        sender_ik: header.sender_ik.to_bytes(),
        kind: header.kind,
        recipients: header
            .recipients
            .iter()
            .copied()
            .filter(|u| *u != header.sender)
            .collect(),
        wrapped: header.recipients.clone(),
        conv_id: header.conv_id.0,
        expires_in_ms: header
            .expires_in_ms
            .map(|ms| u64::try_from(ms).unwrap_or(0)),
        reference: header.reference.map(|r| r.0),
        files: header.files.iter().map(|f| f.0).collect(),
    })
}

impl Routing {
    /// The group the envelope is sent in: a group's id is a UUIDv4, while a 1:1
    /// conversation's derived id is a UUIDv8 (docs/PROTOCOL.md §5, §17.1).
    pub fn group(&self) -> Option<Uuid> {
        (self.conv_id.get_version_num() == 4).then_some(self.conv_id)
    }
}

/// Verifies the envelope's signature by the given identity key.
pub fn verify(envelope: &Envelope, identity_key: &IdentityKey) -> Result<(), String> {
    verify_signature(envelope, identity_key).map_err(|e| e.to_string())
}
