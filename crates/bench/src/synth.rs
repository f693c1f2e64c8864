//! Synthetic accounts and messages, written straight into a store (no server, no crypto): the
//! store neither checks envelopes nor keys, so random bytes of realistic sizes do.

use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use securechat_proto::ids::UserId;
use securechat_proto::keys::KeyStatus;
use securechat_store::model::{Credential, EncryptionKeyRow, NewMessage, NewUser};
use securechat_store::{Store, StoreError};

/// Creates an account named `name` with random keys.
pub async fn create_user(store: &dyn Store, name: &str) -> Result<UserId, StoreError> {
    let id = UserId::generate();
    let now = now_ms();
    store
        .create_user(NewUser {
            id,
            username: name.to_owned(),
            email: format!("{name}@bench.invalid"),
            credential: Credential::Argon2("not a password hash".to_owned()),
            identity_key: rand::random(),
            first_key: EncryptionKeyRow {
                key_id: rand::random(),
                x25519: rand::random(),
                created_at: now,
                binding_sig: [0; 64],
                status: KeyStatus::Active,
            },
            created_at: now,
            gate: securechat_store::model::Gate::Open,
        })
        .await?;
    Ok(id)
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A message id as the reference clients make them (send time in ms first, then 80 random
/// bits), or fully random.
pub fn msg_id(time_ordered: bool) -> [u8; 16] {
    let mut id: [u8; 16] = rand::random();
    if time_ordered {
        let now = now_ms().to_be_bytes();
        id[..6].copy_from_slice(&now[2..]);
    }
    id
}

/// Envelope-like JSON text of exactly `len` bytes (at least 32) with a random base64 body, so
/// no layer can compress it better than a real ciphertext.
pub fn envelope(len: usize) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let head = r#"{"v":1,"kind":"text","ct":""#;
    let tail = r#""}"#;
    let mut body = vec![0u8; len.max(32) - head.len() - tail.len()];
    rand::thread_rng().fill_bytes(&mut body);
    let mut out = String::with_capacity(len.max(32));
    out.push_str(head);
    out.extend(body.iter().map(|&b| char::from(B64[usize::from(b & 63)])));
    out.push_str(tail);
    out
}

/// A file-less message from `from` to `to`, received now, with its envelope's real digest.
pub fn message(from: UserId, to: UserId, envelope: String, time_ordered: bool) -> NewMessage {
    NewMessage {
        sender: from,
        recipient: to,
        msg_id: msg_id(time_ordered),
        digest: Sha256::digest(envelope.as_bytes()).into(),
        envelope,
        received_at: now_ms(),
        expires_at: None,
        files: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_have_the_asked_length_and_differ() {
        let a = envelope(1536);
        assert_eq!(a.len(), 1536);
        assert!(a.starts_with(r#"{"v":1"#) && a.ends_with(r#""}"#));
        assert_ne!(a, envelope(1536));
        assert_eq!(envelope(0).len(), 32);
    }

    #[test]
    fn time_ordered_ids_start_with_the_time() {
        let before = now_ms();
        let id = msg_id(true);
        let mut time = [0u8; 8];
        time[2..].copy_from_slice(&id[..6]);
        let t = i64::from_be_bytes(time);
        assert!(t >= before && t <= now_ms());
    }
}
