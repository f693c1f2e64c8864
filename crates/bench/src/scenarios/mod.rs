//! The scenarios. Each is bounded in count and time and stops by itself.

pub mod accounts;
pub mod connections;
pub mod flows;
pub mod group;
pub mod messages;
pub mod store_history;
pub mod upload;

use crate::nodes::Nodes;

/// What every scenario needs.
pub struct Ctx {
    /// The server nodes (one, or several on one database) and where users go.
    pub nodes: Nodes,
    /// The servers' pids, for RSS and CPU from /proc (summed over them).
    pub pids: Vec<u32>,
    /// Unique name prefix of this run.
    pub prefix: String,
    /// First loopback source index this run uses (runs against one server can differ).
    pub first_source: usize,
}
