//! Authentication: password hashing, tokens, sessions, the IP rule and brute-force limits.

pub mod backoff;
pub mod client_ip;
pub mod codes;
pub mod common_passwords;
pub mod extract;
pub mod ip_rule;
pub mod login_budget;
pub mod login_guard;
pub mod opaque;
pub mod origin;
pub mod password;
pub mod rate_limit;
pub mod security_log;
pub mod session_cache;
pub mod tokens;
