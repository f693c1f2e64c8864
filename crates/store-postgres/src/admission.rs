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

use securechat_store::model::{Admission, IpLimits, NewSession};
use securechat_store::StoreError;
use sqlx::PgConnection;

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
    // Counted in the database, the new session's address and user included.
    let ips: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT ip FROM sessions \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
         UNION SELECT $3) AS addresses",
    )
    .bind(session.user_id.0)
    .bind(now)
    .bind(&session.ip)
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)?;
    if let Some(refusal) = limits.judge_ips(usize::try_from(ips).unwrap_or(usize::MAX)) {
        return Ok(refusal);
    }
    let users: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT user_id FROM sessions \
             WHERE ip = $1 AND revoked_at IS NULL AND expires_at > $2 \
         UNION SELECT $3) AS users",
    )
    .bind(&session.ip)
    .bind(now)
    .bind(session.user_id.0)
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(limits
        .judge_users(usize::try_from(users).unwrap_or(usize::MAX))
        .unwrap_or(Admission::Admitted))
}
