//! Failed-login limiter: at most `limit` failures per key within a fixed window; past it,
//! attempts are refused (429) until the window ends. A success resets the key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts failures per key (an IP, or an account's login name).
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
}
