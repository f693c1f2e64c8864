//! Pre-sealed envelopes: the real encryption, done before the timed phase so the tool
//! measures the server, not its own CPU.

use anyhow::Context as _;
use rand::rngs::OsRng;
use serde::Deserialize;

use securechat_client::chat::active_recipient_keys;
use securechat_crypto::binding::parse_identity_key;
use securechat_crypto::envelope::{seal, Content, OutgoingMessage, RecipientKey, Sender};
use securechat_crypto::identity::EncryptionKey;
use securechat_crypto::ids::{ConvId, MsgId};
use securechat_proto::envelope::Envelope;
use securechat_proto::ids::UserId;

use crate::users::BenchUser;

/// A sealed message ready to send.
pub struct Prepared {
    pub msg_id: String,
    pub frame: String,
}

/// Fetches and verifies the recipient's active keys (as a client does before sending).
pub async fn recipient_keys(from: &BenchUser, to: UserId) -> anyhow::Result<Vec<RecipientKey>> {
    let keys = from.api.user_keys(to).await?;
    let identity = parse_identity_key(&keys.identity_key).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(active_recipient_keys(&keys, &identity)?)
}

/// Seals `count` text messages from `from` in conversation `conv` (with one user:
/// `ConvId::direct`, or a group's id) for the recipients' keys, numbered from 1.
pub fn seal_many(
    from: &BenchUser,
    conv: ConvId,
    recipients: &[RecipientKey],
    count: usize,
    body_len: usize,
) -> anyhow::Result<Vec<Prepared>> {
    let own: Vec<EncryptionKey> = from.keys.active_public();
    let body = "x".repeat(body_len);
    (0..count)
        .map(|i| {
            let now = securechat_client::now_ms();
            let sealed = seal(
                &mut OsRng,
                &Sender {
                    user_id: from.id(),
                    identity: from.keys.identity(),
                    own_keys: &own,
                },
                &OutgoingMessage {
                    msg_id: Some(MsgId::time_ordered(now, &mut OsRng)),
                    conv_id: conv,
                    sender_ctr: i as u64 + 1,
                    sent_at_ms: now,
                    expires_in_ms: None,
                    hidden: false,
                    content: &Content::Text { body: body.clone() },
                    recipients,
                },
            )
            .context("sealing")?;
            let frame = serde_json::to_string(&securechat_proto::ws::ClientFrame::Send {
                envelope: sealed.envelope,
            })?;
            Ok(Prepared {
                msg_id: sealed.msg_id.to_b64(),
                frame,
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct MiniHeader {
    msg_id: String,
    sender_ctr: u64,
}

/// The `msg_id` and `sender_ctr` of a delivered envelope, read cheaply from its header.
pub fn header_ids(envelope: &Envelope) -> Option<(String, u64)> {
    let bytes = securechat_proto::b64::decode(&envelope.h).ok()?;
    let h: MiniHeader = serde_json::from_slice(&bytes).ok()?;
    Some((h.msg_id, h.sender_ctr))
}
