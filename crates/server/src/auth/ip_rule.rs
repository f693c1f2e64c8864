//! The paper's IP rule ("botnet detection"), applied at password login. The store checks it
//! in the same transaction that stores the session (`Sessions::create_session`), so logins
//! on several processes cannot together pass a limit that only one of them may take.

use std::net::IpAddr;

use securechat_store::model::{Admission, IpLimits};

use crate::settings::IpRule;

/// The limits a login from `ip` is held to; `None` when the rule is off or `ip` is in an
/// allow-listed network.
pub fn limits_for(rule: &IpRule, ip: IpAddr) -> Option<IpLimits> {
    if !rule.enabled || rule.allow.iter().any(|net| net.contains(&ip)) {
        return None;
    }
    Some(IpLimits {
        max_ips_per_user: rule.max_ips_per_user,
        refuse_users_per_ip: rule.refuse_users_per_ip,
    })
}

/// Metric label of a refusal (`None` for an admitted login).
pub fn label(admission: Admission) -> Option<&'static str> {
    match admission {
        Admission::Admitted => None,
        Admission::TooManyIpsForUser { .. } => Some("ips_per_user"),
        Admission::TooManyUsersOnIp { .. } => Some("users_per_ip"),
    }
}

/// Plain-language reason for a refused login.
pub fn describe(admission: Admission, rule: &IpRule) -> String {
    match admission {
        Admission::Admitted => "login admitted".to_owned(),
        Admission::TooManyIpsForUser { ips } => format!(
            "login refused: this account would be signed in from {ips} addresses \
             (at most {} allowed); sign out elsewhere first",
            rule.max_ips_per_user
        ),
        Admission::TooManyUsersOnIp { users } => format!(
            "login refused: {users} accounts would be signed in from this address \
             (fewer than {} allowed)",
            rule.refuse_users_per_ip
        ),
    }
}
