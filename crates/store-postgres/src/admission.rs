//! The IP rule checked at login, atomically with storing the session.
//!
//! A rule-checked login takes two transaction-scoped advisory locks before it counts: first
//! its user's, then its address's (two-key advisory locks: a namespace and the `hashtext` of
//! the user id or the address). Every login that could change this user's count of addresses
//! holds the same user lock, and every login that could change this address's count of users
//! holds the same address lock, so the count and the insert that follows cannot interleave
//! with another login's. Since every such transaction takes a user lock before an address
//! lock and never another user lock, no two can wait for each other in a cycle (a hash
//! collision only makes two unrelated logins take turns). Revocation and expiry only lower
//! the counts, so they need no lock. Logins without limits take the same locks: their
//! sessions count too.

use securechat_proto::ids::UserId;
use securechat_store::model::{Admission, IpLimits, NewSession};
use securechat_store::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::map_err;

/// Advisory lock namespace of users ("SC" then 1).
const USER_LOCKS: i32 = 0x5343_0001;
/// Advisory lock namespace of addresses ("SC" then 2).
const IP_LOCKS: i32 = 0x5343_0002;

async fn advisory_lock(conn: &mut PgConnection, space: i32, name: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(space)
        .bind(name)
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// The refusal for a user who would have active sessions from `ips` (and `ip`), if any.
fn judge_user(mut ips: Vec<String>, ip: &str, limits: IpLimits) -> Option<Admission> {
    if !ips.iter().any(|known| known == ip) {
        ips.push(ip.to_owned());
    }
    (ips.len() > limits.max_ips_per_user).then_some(Admission::TooManyIpsForUser { ips: ips.len() })
}

/// The refusal for an address that would carry active sessions of `users` (and `user`).
fn judge_ip(mut users: Vec<UserId>, user: UserId, limits: IpLimits) -> Option<Admission> {
    if !users.contains(&user) {
        users.push(user);
    }
    (users.len() >= limits.refuse_users_per_ip)
        .then_some(Admission::TooManyUsersOnIp { users: users.len() })
}

/// Takes a login's locks: every new session takes them, with or without limits, because a
/// session admitted without limits (an allow-listed address) still counts toward the user's
/// addresses and the address's users that a concurrent rule-checked login is counting.
pub(crate) async fn lock(conn: &mut PgConnection, session: &NewSession) -> Result<(), StoreError> {
    advisory_lock(&mut *conn, USER_LOCKS, &session.user_id.0.to_string()).await?;
    advisory_lock(&mut *conn, IP_LOCKS, &session.ip).await
}

/// Checks the rule against the active sessions (at the session's `created_at`) of every
/// process, under the locks `lock` took; the caller stores the session in the same
/// transaction when this answers `Admitted`.
pub(crate) async fn check(
    conn: &mut PgConnection,
    session: &NewSession,
    limits: IpLimits,
) -> Result<Admission, StoreError> {
    let now = session.created_at;
    let ips: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT ip FROM sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(session.user_id.0)
    .bind(now)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    if let Some(refusal) = judge_user(ips, &session.ip, limits) {
        return Ok(refusal);
    }
    let users: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT user_id FROM sessions \
         WHERE ip = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(&session.ip)
    .bind(now)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    let users = users.into_iter().map(UserId).collect();
    Ok(judge_ip(users, session.user_id, limits).unwrap_or(Admission::Admitted))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: IpLimits = IpLimits {
        max_ips_per_user: 2,
        refuse_users_per_ip: 3,
    };

    #[test]
    fn the_new_sessions_address_and_user_count_too() {
        let ips = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(judge_user(ips(&["a"]), "b", LIMITS), None);
        assert_eq!(judge_user(ips(&["a", "b"]), "b", LIMITS), None);
        assert_eq!(
            judge_user(ips(&["a", "b"]), "c", LIMITS),
            Some(Admission::TooManyIpsForUser { ips: 3 })
        );
        let (u, v, w) = (UserId::generate(), UserId::generate(), UserId::generate());
        assert_eq!(judge_ip(vec![v], u, LIMITS), None);
        assert_eq!(judge_ip(vec![u, v], u, LIMITS), None);
        assert_eq!(
            judge_ip(vec![v, w], u, LIMITS),
            Some(Admission::TooManyUsersOnIp { users: 3 })
        );
    }
}
