//! Settings every node of a cluster must share: a token signed by one node must be good on
//! all, a limit must not depend on which node a client reaches. Each node writes digests of
//! them into the node registry (the database); a node whose digests differ from those of a
//! node alive there refuses to start, naming the settings.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use securechat_store::cluster::NodeRecord;
use securechat_store::{Store, StoreError};

use super::{Cluster, Node};
use crate::clock::now_ms;
use crate::settings::Settings;

/// A node not heard from in the registry for this long is not compared with.
pub const REGISTRY_LIVE_MS: i64 = 10_000;

/// Why this node may not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(
        "this node's settings differ from those of the running node(s) {nodes}: {settings}. \
         Every node of a cluster must run with the same settings (the token secret from \
         --token-secret or SECURECHAT_TOKEN_SECRET, the same limits and lifetimes); start \
         this node with the values the others use, or stop them all first"
    )]
    SettingsDiffer { nodes: String, settings: String },
    #[error("could not read the node registry: {0}")]
    Store(#[from] StoreError),
}

/// Compares `ours` with the digests of every other node seen lately.
async fn compare(
    ours: &BTreeMap<String, String>,
    me: &str,
    store: &dyn Store,
) -> Result<(), JoinError> {
    let mut nodes = Vec::new();
    let mut differing = std::collections::BTreeSet::new();
    for other in store.live_nodes(now_ms() - REGISTRY_LIVE_MS).await? {
        if other.id == me {
            continue;
        }
        let theirs: BTreeMap<String, String> =
            serde_json::from_str(&other.settings).unwrap_or_default();
        if theirs == *ours {
            continue;
        }
        for name in ours.keys().chain(theirs.keys()) {
            if ours.get(name) != theirs.get(name) {
                differing.insert(name.clone());
            }
        }
        nodes.push(other.id);
    }
    if differing.is_empty() {
        return Ok(());
    }
    Err(JoinError::SettingsDiffer {
        nodes: nodes.join(", "),
        settings: differing.into_iter().collect::<Vec<_>>().join(", "),
    })
}

/// Digests of the shared settings, as a JSON object (name → digest). The token secret is
/// hashed with a label of its own; no digest reveals a value.
pub fn digests(settings: &Settings, token_secret: &[u8], files: &str) -> String {
    let digest = |label: &str, value: &[u8]| {
        let mut hash = Sha256::new();
        hash.update(b"securechat node agreement\0");
        hash.update(label.as_bytes());
        hash.update([0]);
        hash.update(value);
        hex::encode(&hash.finalize()[..12])
    };
    let realtime = &settings.realtime;
    let shared: [(&str, String); 12] = [
        ("file storage", files.to_owned()),
        (
            "registration mode",
            settings.registration.as_str().to_owned(),
        ),
        (
            "password logins",
            settings.password_logins.as_str().to_owned(),
        ),
        ("allowed origins", format!("{:?}", realtime.allowed_origins)),
        ("issuer", settings.issuer.clone()),
        (
            "token lifetimes",
            format!(
                "{:?} {:?} {:?}",
                settings.access_ttl, settings.refresh_ttl, settings.refresh_grace
            ),
        ),
        ("ip rule", format!("{:?}", settings.ip_rule)),
        ("login limits", format!("{:?}", settings.login_limits)),
        (
            "registration limits",
            format!("{:?}", settings.registration_limits),
        ),
        (
            "connection and frame limits",
            format!(
                "{} {} {} {} {} {} {} {}",
                realtime.max_connections_per_user,
                realtime.max_envelope_bytes,
                realtime.frames_per_second,
                realtime.frame_burst,
                realtime.frames_per_second_per_user,
                realtime.frame_burst_per_user,
                realtime.frames_per_second_per_address,
                realtime.frame_burst_per_address
            ),
        ),
        (
            "file limits",
            format!(
                "{} {:?}",
                settings.max_file_bytes, settings.unreferenced_file_ttl
            ),
        ),
        ("trusted proxies", format!("{:?}", settings.trusted_proxies)),
    ];
    let mut map: BTreeMap<&str, String> = shared
        .iter()
        .map(|(name, value)| (*name, digest(name, value.as_bytes())))
        .collect();
    map.insert("token secret", digest("token secret", token_secret));
    serde_json::to_string(&map).unwrap_or_default()
}

impl Node {
    pub(crate) fn record(&self) -> NodeRecord {
        NodeRecord {
            id: self.id.clone(),
            settings: self.digests.clone(),
            seen_at: now_ms(),
        }
    }
}

impl Cluster {
    /// Checks this node's settings against the live nodes' and enters the registry. The
    /// check runs again once this node is in: of two nodes with different settings starting
    /// at once, each then sees the other, and both refuse.
    pub async fn join(&self, store: &dyn Store) -> Result<(), JoinError> {
        let Some(node) = self.node() else {
            return Ok(());
        };
        let ours: BTreeMap<String, String> =
            serde_json::from_str(&node.digests).unwrap_or_default();
        compare(&ours, &node.id, store).await?;
        store.node_heartbeat(&node.record()).await?;
        if let Err(e) = compare(&ours, &node.id, store).await {
            store.leave_cluster(&node.id).await?;
            return Err(e);
        }
        tracing::info!(node = %node.id, "joined the cluster");
        Ok(())
    }

    /// Leaves the registry (a clean stop).
    pub async fn leave(&self, store: &dyn Store) {
        if let Some(node) = self.node() {
            if let Err(e) = store.leave_cluster(&node.id).await {
                tracing::warn!(error = %e, "could not leave the node registry");
            }
        }
    }
}
