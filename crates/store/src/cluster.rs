//! What several server nodes on one database share besides the data: a registry of live
//! nodes (each with a digest of the settings that must agree) and the lock that elects one
//! node to run background work.

use crate::StoreError;

/// One node as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// The node's id, fresh at every start.
    pub id: String,
    /// Digests of the settings every node must share, as a JSON object (name → digest).
    pub settings: String,
    /// When the node last said it was alive (Unix ms).
    pub seen_at: i64,
}

/// The node registry and the background-work lock.
#[async_trait::async_trait]
pub trait Cluster {
    /// Records `node` as alive at `node.seen_at` (insert or update).
    async fn node_heartbeat(&self, node: &NodeRecord) -> Result<(), StoreError>;

    /// Every node seen alive at or after `live_after`, the caller's own record included.
    async fn live_nodes(&self, live_after: i64) -> Result<Vec<NodeRecord>, StoreError>;

    /// Removes a node from the registry (a clean shutdown).
    async fn leave_cluster(&self, node_id: &str) -> Result<(), StoreError>;

    /// Whether this process holds the cluster's background-work lock, taking it when it is
    /// free. At most one process on a database holds it at any time (PostgreSQL: a session
    /// advisory lock, released when that process or its connection dies); a single-file
    /// SQLite database has one node, which always leads.
    async fn lead(&self) -> Result<bool, StoreError>;
}
