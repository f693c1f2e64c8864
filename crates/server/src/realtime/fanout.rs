//! Announcing removals (deletions and expiries) to both sides, and deleting file bytes.

use securechat_proto::b64;
use securechat_proto::envelope::Envelope;
use securechat_proto::ws::{DeleteReason, ServerEvent};
use securechat_store::model::Removal;

use crate::realtime::frames::outbound;
use crate::state::AppState;

/// Tells every live session of sender and recipient that a message is gone, and removes
/// the bytes of its files. Offline sessions learn it from their stream on reconnect.
pub async fn announce_removal(
    state: &AppState,
    removal: &Removal,
    reason: DeleteReason,
    tombstone: Option<&Envelope>,
) {
    let msg_id = b64::encode(removal.msg_id);
    for (user, seq) in [
        (removal.sender, removal.sender_seq),
        (removal.recipient, removal.recipient_seq),
    ] {
        let frame = outbound(&ServerEvent::Deleted {
            msg_id: msg_id.clone(),
            seq,
            from: removal.sender,
            reason,
            envelope: tombstone.cloned(),
        });
        state.hub().send_to_user(user, &frame, None);
    }
    for file in &removal.files {
        state.blobs().remove(file).await;
    }
}
