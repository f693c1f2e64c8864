//! Announcing removals (deletions and expiries) to both sides, and deleting file bytes.

use securechat_proto::b64;
use securechat_proto::envelope::Envelope;
use securechat_proto::ws::{DeleteReason, ServerEvent};
use securechat_store::model::Removal;

use crate::blobs::Blobs;
use crate::realtime::frames::outbound;
use crate::realtime::hub::Hub;

/// Tells every live session of sender and recipient that a message is gone, and removes the
/// bytes of its files (in the background). Offline sessions learn it from their stream.
pub fn announce_removal(
    hub: &Hub,
    blobs: &Blobs,
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
        hub.send_to_user(user, &frame, None);
    }
    if !removal.files.is_empty() {
        let blobs = blobs.clone();
        let files = removal.files.clone();
        tokio::spawn(async move {
            for file in &files {
                blobs.remove(file).await;
            }
        });
    }
}
