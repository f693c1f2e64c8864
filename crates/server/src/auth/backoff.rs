//! Growing delays per (account, source): the first `free` failures cost nothing; after them
//! each attempt must wait 1 s, 2 s, 4 s, … after the last failure (doubling with each further
//! failure, at most `max_delay`). An attacker at one address is slowed down without the
//! account being locked for its owner elsewhere. A success resets the pair; a pair idle for
//! `forget_after` starts again from nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures and the time of the last one, per key.
pub struct Backoff {
    free: u32,
    max_delay: Duration,
    forget_after: Duration,
    entries: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Whole seconds to wait, rounded up, at least 1 (a `Retry-After` value).
fn retry_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

impl Backoff {
    pub fn new(free: u32, max_delay: Duration, forget_after: Duration) -> Self {
        Self {
            free,
            max_delay,
            forget_after,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The wait owed after `failures` failures.
    fn delay(&self, failures: u32) -> Duration {
        if failures < self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free).min(30);
        Duration::from_secs(1u64 << doublings).min(self.max_delay)
    }

    /// `Err(seconds to wait)` while the key's delay since its last failure has not passed.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let map = self.lock();
        let Some((failures, last)) = map.get(key) else {
            return Ok(());
        };
        let since = last.elapsed();
        if since >= self.forget_after {
            return Ok(());
        }
        let wait = self.delay(*failures).saturating_sub(since);
        if wait.is_zero() {
            Ok(())
        } else {
            Err(retry_secs(wait))
        }
    }

    /// Counts a failure now.
    pub fn record_failure(&self, key: &str) {
        let mut map = self.lock();
        let entry = map.entry(key.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.forget_after {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = Instant::now();
    }

    /// Forgets a key (after a success).
    pub fn reset(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Forgets every key `matches` accepts (an operator's unblock).
    pub fn reset_where(&self, matches: impl Fn(&str) -> bool) {
        self.lock().retain(|key, _| !matches(key));
    }

    /// Drops keys idle for `forget_after`.
    pub fn prune(&self) {
        let forget_after = self.forget_after;
        self.lock()
            .retain(|_, (_, last)| last.elapsed() < forget_after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_after_the_free_failures_and_reset_on_success() {
        let backoff = Backoff::new(2, Duration::from_secs(8), Duration::from_secs(3600));
        assert_eq!(backoff.delay(1), Duration::ZERO);
        assert_eq!(backoff.delay(2), Duration::from_secs(1));
        assert_eq!(backoff.delay(3), Duration::from_secs(2));
        assert_eq!(backoff.delay(5), Duration::from_secs(8));
        assert_eq!(backoff.delay(60), Duration::from_secs(8));
        backoff.record_failure("a");
        assert!(backoff.check("a").is_ok());
        backoff.record_failure("a");
        assert_eq!(backoff.check("a"), Err(1));
        assert!(backoff.check("b").is_ok());
        backoff.reset("a");
        assert!(backoff.check("a").is_ok());
        for key in ["x\n1", "x\n2", "y\n1"] {
            backoff.record_failure(key);
            backoff.record_failure(key);
        }
        backoff.reset_where(|k| k.ends_with("\n1"));
        assert!(backoff.check("x\n1").is_ok() && backoff.check("y\n1").is_ok());
        assert!(backoff.check("x\n2").is_err());
    }
}
