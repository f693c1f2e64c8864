//! Pre-sealed envelopes: the real encryption, done before the timed phase so the tool
//! measures the server, not its own CPU.

use anyhow::Context as _;
use rand::rngs::OsRng;
use serde::Deserialize;

use securechat_crypto::binding::{parse_identity_key, verify_published_key};
use securechat_crypto::envelope::{seal, Content, OutgoingMessage, RecipientKey, Sender};
use securechat_crypto::identity::EncryptionKey;
use securechat_crypto::ids::ConvId;
use securechat_proto::envelope::Envelope;
use securechat_proto::ids::UserId;
use securechat_proto::keys::{KeyStatus, NewEncryptionKey};

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
    keys.encryption_keys
        .iter()
        .filter(|k| k.status == KeyStatus::Active)
        .map(|k| {
            let published = NewEncryptionKey {
                key_id: k.key_id.clone(),
                x25519: k.x25519.clone(),
                created_at: k.created_at,
                binding_sig: k.binding_sig.clone(),
            };
            let verified = verify_published_key(&identity, &to, &published)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(RecipientKey::verified(to, &verified))
        })
        .collect()
}

/// Seals `count` text messages from `from` to `to`, numbered from `first_ctr`.
pub fn seal_many(
    from: &BenchUser,
    to: UserId,
    recipients: &[RecipientKey],
    count: usize,
    body_len: usize,
) -> anyhow::Result<Vec<Prepared>> {
    let own: Vec<EncryptionKey> = from.keys.active_public();
    let conv = ConvId::direct(&from.id(), &to);
    let body = "x".repeat(body_len);
    (0..count)
        .map(|i| {
            let sealed = seal(
                &mut OsRng,
                &Sender {
                    user_id: from.id(),
                    identity: from.keys.identity(),
                    own_keys: &own,
                },
                &OutgoingMessage {
                    conv_id: conv,
                    sender_ctr: i as u64 + 1,
                    sent_at_ms: securechat_client::now_ms(),
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
