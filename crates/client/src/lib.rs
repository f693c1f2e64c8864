//! The securechat client library, used by the CLI, the load tool and the server's tests:
//! a REST client with automatic token refresh ([`api`]), the WebSocket ([`socket`]), the
//! user's keys ([`keyring`]) and the end-to-end encrypted conversation logic ([`chat`]);
//! reconnecting ([`backoff`]) and following the event stream without gaps ([`stream`]).
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod api;
pub mod backoff;
pub mod chat;
pub mod error;
pub mod groups;
pub mod keyring;
pub mod password;
pub mod socket;
pub mod stream;
pub mod tls;

pub use api::Api;
pub use backoff::Backoff;
pub use error::ClientError;
pub use keyring::KeyRing;
pub use socket::Socket;
pub use tls::TlsTrust;

/// Current time, Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
