//! Tombstones: a `delete` message is honoured only when its verified sender also sent the
//! message it names, in the same conversation (step 9 of the verification procedure).

use securechat_proto::ids::UserId;

use super::{Kind, OpenedMessage, RoutingHeader};
use crate::ids::{ConvId, MsgId};
use crate::CryptoError;

/// What a client (or the server) keeps about an accepted message to authorise its deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageMeta {
    pub msg_id: MsgId,
    pub conv_id: ConvId,
    /// The message's verified sender.
    pub sender: UserId,
}

fn authorize(
    kind: Kind,
    reference: Option<MsgId>,
    tombstone: MessageMeta,
    target: &MessageMeta,
) -> Result<MsgId, CryptoError> {
    if kind != Kind::Delete {
        return Err(CryptoError::NotATombstone);
    }
    if reference != Some(target.msg_id) || tombstone.conv_id != target.conv_id {
        return Err(CryptoError::TombstoneTargetMismatch);
    }
    if tombstone.sender != target.sender {
        return Err(CryptoError::TombstoneNotBySender);
    }
    Ok(target.msg_id)
}

/// Checks that the opened `tombstone` may delete `target` (the stored metadata of the message
/// its `ref` names): same conversation, and the tombstone's verified sender sent `target`.
/// Returns the id of the message to delete.
pub fn authorize_delete(
    tombstone: &OpenedMessage,
    target: &MessageMeta,
) -> Result<MsgId, CryptoError> {
    authorize(
        tombstone.header.kind,
        tombstone.header.reference,
        tombstone.meta(),
        target,
    )
}

impl RoutingHeader {
    /// The server's form of [`authorize_delete`]: this (parsed, signature-checked) tombstone
    /// may delete `target` only if its sender sent `target` in the same conversation.
    pub fn authorizes_delete_of(&self, target: &MessageMeta) -> Result<MsgId, CryptoError> {
        authorize(
            self.kind,
            self.reference,
            MessageMeta {
                msg_id: self.msg_id,
                conv_id: self.conv_id,
                sender: self.sender,
            },
            target,
        )
    }
}
