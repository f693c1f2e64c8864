//! Fixed-window limiter: at most `limit` events (failed logins, registrations) per key within a
//! window; past it, attempts are refused (429) until the window ends. A limit of 0 is no limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts events per key (an IP, an account, or one key for a global budget).
pub struct FailureLimiter {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl FailureLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(seconds to wait)` when the key has used up its failures in the current window.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        match self.lock().get(key) {
            Some((count, started)) if *count >= self.limit => {
                let left = self.window.saturating_sub(started.elapsed());
                if left.is_zero() {
                    Ok(())
                } else {
                    Err(left.as_secs().max(1))
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts a failure.
    pub fn record_failure(&self, key: &str) {
        let mut map = self.lock();
        let entry = map.entry(key.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    /// Counts an event if the key has room for it, in one step (so concurrent requests cannot
    /// all pass a check that only some of them may); else `Err(seconds to wait)`.
    pub fn try_record(&self, key: &str) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let mut map = self.lock();
        let entry = map.entry(key.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        if entry.0 >= self.limit {
            let left = self.window.saturating_sub(entry.1.elapsed());
            return Err(left.as_secs().max(1));
        }
        entry.0 += 1;
        Ok(())
    }

    /// Takes back one recorded failure of `key` (an attempt counted before its outcome was
    /// known, that then succeeded).
    pub fn forgive(&self, key: &str) {
        let mut map = self.lock();
        if let Some(entry) = map.get_mut(key) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }

    /// Forgets a key's failures (after a success).
    pub fn reset(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Drops counters whose window has ended.
    pub fn prune(&self) {
        let window = self.window;
        self.lock()
            .retain(|_, (_, started)| started.elapsed() < window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_limit_and_resets_on_success() {
        let limiter = FailureLimiter::new(2, Duration::from_secs(60));
        assert!(limiter.check("a").is_ok());
        limiter.record_failure("a");
        limiter.record_failure("a");
        let wait = limiter.check("a").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(limiter.check("b").is_ok());
        limiter.reset("a");
        assert!(limiter.check("a").is_ok());
    }

    #[test]
    fn try_record_counts_up_to_the_limit_and_zero_is_no_limit() {
        let limiter = FailureLimiter::new(2, Duration::from_secs(60));
        assert!(limiter.try_record("a").is_ok());
        assert!(limiter.try_record("a").is_ok());
        assert!(limiter.try_record("a").is_err());
        assert!(limiter.try_record("b").is_ok());
        let off = FailureLimiter::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            assert!(off.try_record("a").is_ok());
            off.record_failure("a");
        }
        assert!(off.check("a").is_ok());
    }

    #[test]
    fn a_forgiven_failure_gives_its_turn_back() {
        let limiter = FailureLimiter::new(2, Duration::from_secs(60));
        limiter.record_failure("a");
        limiter.record_failure("a");
        assert!(limiter.check("a").is_err());
        limiter.forgive("a");
        assert!(limiter.check("a").is_ok());
        limiter.forgive("never-counted");
        assert!(limiter.check("never-counted").is_ok());
    }
}
