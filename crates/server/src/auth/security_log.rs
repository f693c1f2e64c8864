//! The security event log's writer: request handlers note refusals and blocks (IP rule,
//! failed-login and registration limits) without waiting; the notes are gathered per
//! (kind, address, account) with a count and written once a second, in one transaction, for
//! `securechat admin blocks`. Best effort: a failed write is logged and its notes dropped,
//! and past `MAX_PENDING` distinct notes within one second more are only counted, so a flood
//! of refused requests costs the database one small write a second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use securechat_proto::ids::UserId;
use securechat_store::security::{SecurityEvent, SecurityKind};
use securechat_store::Store;

use crate::clock::now_ms;

/// How often gathered notes are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Distinct notes kept between two writes: a flood of refusals from many addresses costs
/// the database at most this many small rows a second (on SQLite, on the writer that also
/// stores messages).
const MAX_PENDING: usize = 500;
/// Longest name typed that is kept (longer ones are cut).
const MAX_LOGIN_CHARS: usize = 64;

type Key = (SecurityKind, Option<String>, Option<UserId>, Option<String>);

#[derive(Default)]
struct Pending {
    /// First time and count of each note.
    notes: HashMap<Key, (i64, u32)>,
    /// Notes left out since the last write (too many distinct ones).
    dropped: u64,
}

/// Notes waiting to be written.
#[derive(Default)]
pub struct SecurityLog {
    pending: Mutex<Pending>,
}

impl SecurityLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes one event: `ip` the client's address, `user` the account when one exists,
    /// else `login` the name typed.
    pub fn note(
        &self,
        kind: SecurityKind,
        ip: Option<&str>,
        user: Option<UserId>,
        login: Option<&str>,
    ) {
        let login = login.map(|l| l.chars().take(MAX_LOGIN_CHARS).collect::<String>());
        let key = (kind, ip.map(str::to_owned), user, login);
        let mut pending = self.lock();
        let full = pending.notes.len() >= MAX_PENDING;
        match pending.notes.get_mut(&key) {
            Some((_, count)) => *count = count.saturating_add(1),
            None if full => pending.dropped += 1,
            None => {
                pending.notes.insert(key, (now_ms(), 1));
            }
        }
    }

    /// Writes what was noted since the last write.
    pub async fn flush(&self, store: &dyn Store) {
        let (notes, dropped) = {
            let mut pending = self.lock();
            (
                std::mem::take(&mut pending.notes),
                std::mem::take(&mut pending.dropped),
            )
        };
        if dropped > 0 {
            tracing::warn!(
                target: "securechat::security",
                dropped,
                "more distinct security events than the log keeps per second; some were not recorded"
            );
        }
        if notes.is_empty() {
            return;
        }
        let mut events: Vec<SecurityEvent> = notes
            .into_iter()
            .map(|((kind, ip, user, login), (at, count))| SecurityEvent {
                at,
                kind,
                ip,
                user,
                login,
                count,
            })
            .collect();
        events.sort_by_key(|e| e.at);
        if let Err(e) = store.record_security_events(&events).await {
            tracing::warn!(error = %e, events = events.len(), "recording security events failed");
        }
    }

    /// Writes the notes every `FLUSH_INTERVAL` until `stop`, then once more.
    pub fn start(self: &Arc<Self>, store: Arc<dyn Store>, stop: CancellationToken) {
        let log = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => log.flush(store.as_ref()).await,
                    () = stop.cancelled() => break,
                }
            }
            log.flush(store.as_ref()).await;
        });
    }

    #[cfg(test)]
    fn pending(&self) -> (usize, u64) {
        let pending = self.lock();
        (pending.notes.len(), pending.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_gathered_per_kind_address_and_account() {
        let log = SecurityLog::default();
        let user = UserId::generate();
        for _ in 0..3 {
            log.note(
                SecurityKind::LoginBlockedIp,
                Some("192.0.2.1"),
                None,
                Some("x"),
            );
        }
        log.note(
            SecurityKind::LoginBlockedIp,
            Some("192.0.2.2"),
            None,
            Some("x"),
        );
        log.note(
            SecurityKind::IpRuleLogin,
            Some("192.0.2.1"),
            Some(user),
            None,
        );
        assert_eq!(log.pending(), (3, 0));
        let long = "n".repeat(1000);
        log.note(SecurityKind::LoginBlockedAccount, None, None, Some(&long));
        let kept = log
            .lock()
            .notes
            .keys()
            .find_map(|k| k.3.clone().filter(|l| l.len() > 1));
        assert_eq!(kept.map(|l| l.len()), Some(MAX_LOGIN_CHARS));
    }

    #[test]
    fn past_the_limit_new_notes_are_only_counted() {
        let log = SecurityLog::default();
        for n in 0..MAX_PENDING + 5 {
            log.note(
                SecurityKind::LoginBlockedIp,
                Some(&n.to_string()),
                None,
                None,
            );
        }
        log.note(SecurityKind::LoginBlockedIp, Some("0"), None, None);
        assert_eq!(log.pending(), (MAX_PENDING, 5));
        let counted = log
            .lock()
            .notes
            .get(&(
                SecurityKind::LoginBlockedIp,
                Some("0".to_owned()),
                None,
                None,
            ))
            .map(|(_, count)| *count);
        assert_eq!(counted, Some(2), "a known note still counts");
    }
}
