//! The scenarios. Each is bounded in count and time and stops by itself.

pub mod accounts;
pub mod connections;
pub mod flows;
pub mod messages;
pub mod store_history;
pub mod upload;

use std::net::SocketAddr;

/// What every scenario needs.
pub struct Ctx {
    /// The server's base URL (`http://127.0.0.1:8080`).
    pub base: String,
    pub server: SocketAddr,
    /// The server's pid, for RSS and CPU from /proc.
    pub pid: Option<u32>,
    /// Unique name prefix of this run.
    pub prefix: String,
    /// First loopback source index this run uses (runs against one server can differ).
    pub first_source: usize,
}
