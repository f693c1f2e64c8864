//! Authentication: password hashing, tokens, sessions, the IP rule and brute-force limits.

pub mod client_ip;
pub mod extract;
pub mod ip_rule;
pub mod password;
pub mod rate_limit;
pub mod session_cache;
pub mod tokens;
