//! The paper's IP rule ("botnet detection"), applied at password login.

use std::net::IpAddr;

use securechat_proto::ids::UserId;
use securechat_store::StoreError;

use crate::clock::now_ms;
use crate::settings::IpRule;
use crate::state::AppState;

/// Which limit a login would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The user would have sessions from more than `max_ips_per_user` IPs.
    TooManyIpsForUser { ips: usize },
    /// The IP would carry sessions of `refuse_users_per_ip` or more users.
    TooManyUsersOnIp { users: usize },
}

impl Refusal {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::TooManyIpsForUser { .. } => "ips_per_user",
            Self::TooManyUsersOnIp { .. } => "users_per_ip",
        }
    }

    /// Plain-language reason for the client.
    pub fn describe(self, rule: &IpRule) -> String {
        match self {
            Self::TooManyIpsForUser { ips } => format!(
                "login refused: this account would be signed in from {ips} addresses \
                 (at most {} allowed); sign out elsewhere first",
                rule.max_ips_per_user
            ),
            Self::TooManyUsersOnIp { users } => format!(
                "login refused: {users} accounts would be signed in from this address \
                 (fewer than {} allowed)",
                rule.refuse_users_per_ip
            ),
        }
    }
}

/// Checks whether `user` may open one more session from `ip`. The caller holds the login
/// gate until the session is stored.
pub async fn check(
    state: &AppState,
    user: UserId,
    ip: IpAddr,
) -> Result<Option<Refusal>, StoreError> {
    let rule = &state.settings().ip_rule;
    if !rule.enabled || rule.allow.iter().any(|net| net.contains(&ip)) {
        return Ok(None);
    }
    let now = now_ms();
    let ip_text = ip.to_string();
    let mut ips = state.store().active_ips_of_user(user, now).await?;
    if !ips.contains(&ip_text) {
        ips.push(ip_text.clone());
    }
    if ips.len() > rule.max_ips_per_user {
        return Ok(Some(Refusal::TooManyIpsForUser { ips: ips.len() }));
    }
    let mut users = state.store().active_users_of_ip(&ip_text, now).await?;
    if !users.contains(&user) {
        users.push(user);
    }
    if users.len() >= rule.refuse_users_per_ip {
        return Ok(Some(Refusal::TooManyUsersOnIp { users: users.len() }));
    }
    Ok(None)
}
