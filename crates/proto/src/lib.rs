//! Wire types of the securechat protocol, shared by the server, the CLI, the load tool and the
//! tests. Everything here is plain data plus the parse functions that validate it at the
//! boundary; there is no I/O and no cryptography.

pub mod auth;
pub mod b64;
pub mod email;
pub mod envelope;
pub mod error;
pub mod ids;
pub mod keys;
pub mod messages;
pub mod username;
pub mod users;
pub mod ws;

/// Version of the REST and WebSocket protocol described in docs/PROTOCOL.md.
pub const PROTOCOL_VERSION: u32 = 1;
