//! The user's private keys: the identity key and every encryption key (active and retired).

use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use securechat_crypto::binding::publish_key;
use securechat_crypto::identity::{EncryptionKey, EncryptionKeyPair, IdentityKeyPair};
use securechat_crypto::keyfile::{
    export_key_file, import_key_file, KeyFileContents, StoredEncryptionKey,
};
use securechat_proto::auth::RegisterRequest;
use securechat_proto::b64;
use securechat_proto::ids::UserId;
use securechat_proto::keys::{KeyStatus, NewEncryptionKey};

use crate::{now_ms, ClientError};

/// One encryption key with what was published about it.
struct Entry {
    pair: EncryptionKeyPair,
    created_at: i64,
    status: KeyStatus,
}

/// A user's keys. Secret: no `Debug`, no `Clone`; the keys zeroize on drop.
pub struct KeyRing {
    user_id: UserId,
    identity: IdentityKeyPair,
    entries: Vec<Entry>,
    /// The pairs again, as the slice the crypto crate's `Receiver` takes.
    pairs: Vec<EncryptionKeyPair>,
}

/// The local (unencrypted, mode 0600) form, like an SSH private key file.
#[derive(Serialize, Deserialize)]
struct LocalKeys {
    user_id: UserId,
    ik_seed: String,
    enc_keys: Vec<LocalKey>,
}

#[derive(Serialize, Deserialize)]
struct LocalKey {
    sk: String,
    created_at: i64,
    status: KeyStatus,
}

impl KeyRing {
    fn from_parts(user_id: UserId, identity: IdentityKeyPair, entries: Vec<Entry>) -> Self {
        let pairs = entries
            .iter()
            .map(|e| EncryptionKeyPair::from_secret_bytes(&e.pair.secret_bytes()))
            .collect();
        Self {
            user_id,
            identity,
            entries,
            pairs,
        }
    }

    /// Fresh keys for a new account with a fresh UUIDv7 user id.
    pub fn generate() -> Self {
        let entry = Entry {
            pair: EncryptionKeyPair::generate(&mut OsRng),
            created_at: now_ms(),
            status: KeyStatus::Active,
        };
        Self::from_parts(
            UserId::generate(),
            IdentityKeyPair::generate(&mut OsRng),
            vec![entry],
        )
    }

    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    pub fn identity(&self) -> &IdentityKeyPair {
        &self.identity
    }

    /// Every private encryption key (to open old and new messages).
    pub fn pairs(&self) -> &[EncryptionKeyPair] {
        &self.pairs
    }

    /// The public halves of the active keys (the sender's own copy is wrapped to them).
    pub fn active_public(&self) -> Vec<EncryptionKey> {
        self.entries
            .iter()
            .filter(|e| e.status == KeyStatus::Active)
            .map(|e| e.pair.public())
            .collect()
    }

    fn published(&self, entry: &Entry) -> NewEncryptionKey {
        publish_key(&self.identity, &self.user_id, &entry.pair, entry.created_at)
    }

    /// The registration request for these keys, without a password or record: `Api::register`
    /// adds the OPAQUE record.
    pub fn registration(
        &self,
        username: &str,
        email: &str,
    ) -> Result<RegisterRequest, ClientError> {
        let first = self
            .entries
            .iter()
            .find(|e| e.status == KeyStatus::Active)
            .ok_or_else(|| ClientError::Invalid("no active encryption key".into()))?;
        Ok(RegisterRequest {
            user_id: self.user_id,
            username: username.to_owned(),
            email: email.to_owned(),
            password: None,
            opaque_record: None,
            identity_key: b64::encode(self.identity.public().to_bytes()),
            encryption_key: self.published(first),
            invite: None,
        })
    }

    /// Makes a new active key (older ones are retired) and returns it for publishing.
    pub fn rotate(&mut self) -> NewEncryptionKey {
        for entry in &mut self.entries {
            entry.status = KeyStatus::Retired;
        }
        let newest = self.entries.iter().map(|e| e.created_at).max().unwrap_or(0);
        let entry = Entry {
            pair: EncryptionKeyPair::generate(&mut OsRng),
            created_at: now_ms().max(newest + 1),
            status: KeyStatus::Active,
        };
        let record = self.published(&entry);
        self.pairs.push(EncryptionKeyPair::from_secret_bytes(
            &entry.pair.secret_bytes(),
        ));
        self.entries.push(entry);
        record
    }

    /// The local JSON form (secret!).
    pub fn to_local_json(&self) -> Zeroizing<String> {
        let local = LocalKeys {
            user_id: self.user_id,
            ik_seed: b64::encode(*self.identity.seed()),
            enc_keys: self
                .entries
                .iter()
                .map(|e| LocalKey {
                    sk: b64::encode(*e.pair.secret_bytes()),
                    created_at: e.created_at,
                    status: e.status,
                })
                .collect(),
        };
        Zeroizing::new(serde_json::to_string_pretty(&local).unwrap_or_default())
    }

    /// Reads the local JSON form.
    pub fn from_local_json(json: &str) -> Result<Self, ClientError> {
        let local: LocalKeys = serde_json::from_str(json)?;
        let seed = Zeroizing::new(
            b64::decode_array::<32>(&local.ik_seed)
                .map_err(|e| ClientError::Invalid(e.to_string()))?,
        );
        let mut entries = Vec::with_capacity(local.enc_keys.len());
        for key in &local.enc_keys {
            let sk = Zeroizing::new(
                b64::decode_array::<32>(&key.sk)
                    .map_err(|e| ClientError::Invalid(e.to_string()))?,
            );
            entries.push(Entry {
                pair: EncryptionKeyPair::from_secret_bytes(&sk),
                created_at: key.created_at,
                status: key.status,
            });
        }
        Ok(Self::from_parts(
            local.user_id,
            IdentityKeyPair::from_seed(&seed),
            entries,
        ))
    }

    /// The passphrase-protected key file (docs/PROTOCOL.md, "Key file").
    pub fn export(&self, passphrase: &str) -> Result<String, ClientError> {
        let contents = KeyFileContents {
            user_id: self.user_id,
            identity: IdentityKeyPair::from_seed(&self.identity.seed()),
            enc_keys: self
                .entries
                .iter()
                .map(|e| StoredEncryptionKey {
                    key: EncryptionKeyPair::from_secret_bytes(&e.pair.secret_bytes()),
                    created_at_ms: e.created_at,
                    status: e.status,
                })
                .collect(),
        };
        Ok(export_key_file(
            &mut OsRng,
            &contents,
            passphrase,
            now_ms(),
        )?)
    }

    /// Reads a key file.
    pub fn import(json: &str, passphrase: &str) -> Result<Self, ClientError> {
        let contents = import_key_file(json.as_bytes(), passphrase)?;
        let entries = contents
            .enc_keys
            .into_iter()
            .map(|k| Entry {
                pair: k.key,
                created_at: k.created_at_ms,
                status: k.status,
            })
            .collect();
        Ok(Self::from_parts(
            contents.user_id,
            contents.identity,
            entries,
        ))
    }
}
