//! Wire types of the securechat protocol, shared by the server, the CLI, the load tool and the
//! tests. Everything here is plain data plus the parse functions that validate it at the
//! boundary; there is no I/O and no cryptography.

pub mod auth;
pub mod b64;
pub mod email;
pub mod envelope;
pub mod error;
pub mod groups;
pub mod ids;
pub mod keys;
pub mod messages;
pub mod opaque;
pub mod username;
pub mod users;
pub mod ws;

/// The API version: the `1` of `/api/v1`. Within it, REST changes are additive; the
/// WebSocket's frame shapes are versioned by [`ws::Protocol`], named in its first frame.
pub const API_VERSION: u32 = 1;

/// The former name of [`API_VERSION`].
#[deprecated(
    note = "use API_VERSION (the /api/v1 prefix) or ws::Protocol (WebSocket frame shapes)"
)]
pub const PROTOCOL_VERSION: u32 = API_VERSION;
