//! The limits on password logins, and which of them apply to an attempt.
//!
//! - per client address, across accounts (`per_ip` failures per window);
//! - per (account, address): growing delays after a few failures ([`Backoff`]);
//! - per account (`per_account` failures per window) and the server-wide budget
//!   ([`LoginBudget`]): only for addresses the account has not logged in from recently, so
//!   failures made elsewhere never lock the owner out at their usual address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::auth::backoff::Backoff;
use crate::auth::login_budget::LoginBudget;
use crate::auth::rate_limit::FailureLimiter;
use crate::settings::LoginLimits;

/// Which limit refused an attempt (the `scope` label of the rate-limited metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Ip,
    Source,
    Account,
    Global,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Source => "source",
            Self::Account => "account",
            Self::Global => "global",
        }
    }
}

/// A login attempt's keys: the client address, the account (or the name typed when there
/// is no such account) and whether the account has logged in from this address recently.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub ip: &'a str,
    pub account: &'a str,
    pub known_source: bool,
}

impl Attempt<'_> {
    fn pair(&self) -> String {
        format!("{}\n{}", self.account, self.ip)
    }
}

/// All login limits of the server.
pub struct LoginGuard {
    ip: FailureLimiter,
    account: FailureLimiter,
    pair: Backoff,
    global: LoginBudget,
    /// Refused OPAQUE finishes whose account count was taken back here (by the login's
    /// session id), so that replaying one takes nothing more back on this node.
    refused_finishes: Mutex<HashMap<Uuid, Instant>>,
}

/// How long a refused finish is remembered: longer than a pending login lives.
const REFUSED_FINISH_TTL: Duration = Duration::from_secs(120);

impl LoginGuard {
    pub fn new(limits: &LoginLimits) -> Self {
        Self {
            ip: FailureLimiter::new(limits.per_ip, limits.window),
            account: FailureLimiter::new(limits.per_account, limits.window),
            pair: Backoff::new(
                limits.per_source_free,
                limits.per_source_max_delay,
                limits.window.max(limits.per_source_max_delay),
            ),
            global: LoginBudget::new(limits.global, limits.window),
            refused_finishes: Mutex::default(),
        }
    }

    /// Before the password is checked: `Err((scope, seconds to wait))` when a limit refuses.
    pub fn check(&self, attempt: &Attempt<'_>) -> Result<(), (Scope, u64)> {
        self.ip.check(attempt.ip).map_err(|s| (Scope::Ip, s))?;
        self.pair
            .check(&attempt.pair())
            .map_err(|s| (Scope::Source, s))?;
        if !attempt.known_source {
            self.account
                .check(attempt.account)
                .map_err(|s| (Scope::Account, s))?;
            self.global.check().map_err(|s| (Scope::Global, s))?;
        }
        Ok(())
    }

    /// A wrong login name or password.
    pub fn failed(&self, attempt: &Attempt<'_>) {
        self.ip.record_failure(attempt.ip);
        self.pair.record_failure(&attempt.pair());
        if !attempt.known_source {
            self.account.record_failure(attempt.account);
        }
        self.global.record(true);
    }

    /// The right password. The per-account count stays: an owner's success does not hand an
    /// attacker elsewhere a fresh allowance.
    pub fn succeeded(&self, attempt: &Attempt<'_>) {
        self.pair.reset(&attempt.pair());
        self.global.record(false);
    }

    /// An attempt counted as failed at its first step (OPAQUE) that then succeeded: its
    /// failure is taken back everywhere it was counted, and it counts as a success. (Only
    /// the count this same login added: a finish is single-use, so this hands nobody an
    /// allowance.)
    pub fn forgiven(&self, attempt: &Attempt<'_>) {
        self.ip.forgive(attempt.ip);
        if !attempt.known_source {
            self.account.forgive(attempt.account);
        }
        self.global.forgive();
        self.pair.reset(&attempt.pair());
    }

    /// A verified OPAQUE finish that stored no session (the IP rule, a disabled account):
    /// the right password, so its account-scoped counts (the account's, the account's from
    /// that address) are taken back, the address's and the server's stay. Once per login
    /// (`session`) on this node; false when it was taken back already.
    pub fn refused_finish(&self, session: Uuid, attempt: &Attempt<'_>) -> bool {
        {
            let mut seen = self
                .refused_finishes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            seen.retain(|_, at| at.elapsed() < REFUSED_FINISH_TTL);
            if seen.insert(session, Instant::now()).is_some() {
                return false;
            }
        }
        if !attempt.known_source {
            self.account.forgive(attempt.account);
        }
        self.pair.reset(&attempt.pair());
        true
    }

    /// Lifts the limits of an address (an operator's unblock): its failures, and the delays
    /// of every account from it.
    pub fn unblock_ip(&self, ip: &str) {
        self.ip.reset(ip);
        let suffix = format!("\n{ip}");
        self.pair.reset_where(|key| key.ends_with(&suffix));
    }

    /// Lifts the limits of an account (`account` as `Attempt::account`): its failures, and
    /// its delays from every address.
    pub fn unblock_account(&self, account: &str) {
        self.account.reset(account);
        let prefix = format!("{account}\n");
        self.pair.reset_where(|key| key.starts_with(&prefix));
    }

    /// The per-account limiter, also used for the current password of a password change.
    pub fn account(&self) -> &FailureLimiter {
        &self.account
    }

    /// Drops counters whose time has passed.
    pub fn prune(&self) {
        self.ip.prune();
        self.account.prune();
        self.pair.prune();
    }
}

/// How long a successful login makes its address a known source of the account.
pub fn known_source_ms(limits: &LoginLimits) -> i64 {
    i64::try_from(limits.known_source_ttl.as_millis()).unwrap_or(i64::MAX / 2)
}
