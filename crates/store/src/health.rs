//! Whether a backend's writes work, shared by every backend: the last write failure (for
//! `Store::write_failure` and readiness) and the pacing of readiness probes while writes fail.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::StoreError;

/// Shortest time between two readiness probes while writes fail.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Why writes are failing, if they are. A backend notes the end of each write here.
#[derive(Debug, Default)]
pub struct WriteHealth {
    failure: Mutex<Option<String>>,
    last_probe: Mutex<Option<Instant>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl WriteHealth {
    /// Notes a failed write when it is a storage failure (`Unavailable`); a write's own
    /// refusals, such as a uniqueness conflict, say nothing about the database. The first
    /// failure of a run is logged.
    pub fn failed(&self, error: &StoreError) {
        if !matches!(error, StoreError::Unavailable(_)) {
            return;
        }
        let mut failure = lock(&self.failure);
        if failure.is_none() {
            tracing::error!(
                error = %error,
                "database writes are failing: messages and account changes are refused \
                 (retryable) until they work again"
            );
        }
        *failure = Some(error.to_string());
    }

    /// Notes a committed write; the end of a run of failures is logged.
    pub fn succeeded(&self) {
        if lock(&self.failure).take().is_some() {
            tracing::info!("database writes work again");
        }
    }

    /// Passes a write's result through, noting a storage failure.
    pub fn tracked<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &result {
            self.failed(e);
        }
        result
    }

    /// Whether a readiness probe may run now (at most one per `PROBE_INTERVAL`); a `true`
    /// counts as the probe having run.
    pub fn probe_due(&self) -> bool {
        let mut last = lock(&self.last_probe);
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < PROBE_INTERVAL) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// The last failure, while writes are failing.
    pub fn failure(&self) -> Option<String> {
        lock(&self.failure).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_storage_failures_count_and_a_commit_clears_them() {
        let health = WriteHealth::default();
        health.failed(&StoreError::NotFound);
        assert_eq!(health.failure(), None);
        health.failed(&StoreError::Unavailable("disk full".into()));
        assert!(health.failure().is_some_and(|f| f.contains("disk full")));
        health.succeeded();
        assert_eq!(health.failure(), None);
    }

    #[test]
    fn probes_are_paced() {
        let health = WriteHealth::default();
        assert!(health.probe_due());
        assert!(!health.probe_due());
    }
}
