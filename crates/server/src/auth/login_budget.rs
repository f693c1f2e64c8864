//! The global failed-login budget and the failure ratio: credential stuffing spreads its
//! failures over many accounts and addresses, so no per-account or per-address limit sees it,
//! but the sum of failures does. Past the budget, logins from sources an account has not
//! logged in from are refused until the window ends (owners at their usual address go on).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics::LOGIN_FAILURE_RATIO;

/// Attempts in a window below which a high failure ratio is not worth a warning.
const RATIO_WARN_MIN_ATTEMPTS: u64 = 20;
/// Failure ratio from which the end-of-window log line is a warning.
const RATIO_WARN: f64 = 0.5;

struct Window {
    started: Instant,
    attempts: u64,
    failures: u64,
    tripped: bool,
}

impl Window {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            attempts: 0,
            failures: 0,
            tripped: false,
        }
    }

    fn ratio(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            // Counts stay far below 2^52, so the conversion is exact.
            #[allow(clippy::cast_precision_loss)]
            let ratio = self.failures as f64 / self.attempts as f64;
            ratio
        }
    }
}

/// Counts login attempts and failures per fixed window, server-wide.
pub struct LoginBudget {
    /// Failures allowed per window; 0 is no limit.
    limit: u64,
    window: Duration,
    current: Mutex<Window>,
}

impl LoginBudget {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: u64::from(limit),
            window,
            current: Mutex::new(Window::new()),
        }
    }

    /// The current window, after ending it (with a log line) if its time is up.
    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        let mut w = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if w.started.elapsed() >= self.window {
            if w.failures > 0 {
                let ratio = w.ratio();
                if ratio >= RATIO_WARN && w.attempts >= RATIO_WARN_MIN_ATTEMPTS {
                    tracing::warn!(target: "securechat::security", attempts = w.attempts,
                        failures = w.failures, ratio, "login failure ratio high in the last window");
                } else {
                    tracing::info!(
                        attempts = w.attempts,
                        failures = w.failures,
                        ratio,
                        "login failures in the last window"
                    );
                }
            }
            *w = Window::new();
            metrics::gauge!(LOGIN_FAILURE_RATIO).set(0.0);
        }
        w
    }

    /// `Err(seconds to wait)` when the window's failures have used up the budget.
    pub fn check(&self) -> Result<(), u64> {
        let w = self.lock();
        if self.limit == 0 || w.failures < self.limit {
            return Ok(());
        }
        Err(self
            .window
            .saturating_sub(w.started.elapsed())
            .as_secs()
            .max(1))
    }

    /// Counts one login attempt and whether it failed; keeps the ratio gauge current.
    pub fn record(&self, failed: bool) {
        let mut w = self.lock();
        w.attempts += 1;
        if failed {
            w.failures += 1;
        }
        let ratio = w.ratio();
        metrics::gauge!(LOGIN_FAILURE_RATIO).set(ratio);
        if self.limit > 0 && w.failures >= self.limit && !w.tripped {
            w.tripped = true;
            tracing::warn!(target: "securechat::security", attempts = w.attempts,
                failures = w.failures, ratio,
                "global failed-login budget used up: logins from unknown sources refused until the window ends");
        }
    }
}

impl LoginBudget {
    /// Takes back the failure of an attempt counted as failed before its outcome was known
    /// (an OPAQUE login's first step) that then succeeded: it stays one attempt.
    pub fn forgive(&self) {
        let mut w = self.lock();
        w.failures = w.failures.saturating_sub(1);
        metrics::gauge!(LOGIN_FAILURE_RATIO).set(w.ratio());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_counts_failures_only() {
        let budget = LoginBudget::new(2, Duration::from_secs(60));
        budget.record(false);
        budget.record(true);
        assert!(budget.check().is_ok());
        budget.record(true);
        assert!(budget.check().is_err());
        let off = LoginBudget::new(0, Duration::from_secs(60));
        for _ in 0..10 {
            off.record(true);
        }
        assert!(off.check().is_ok());
    }

    #[test]
    fn a_forgiven_failure_no_longer_counts() {
        let budget = LoginBudget::new(2, Duration::from_secs(60));
        budget.record(true);
        budget.forgive();
        budget.record(true);
        assert!(budget.check().is_ok());
        budget.record(true);
        assert!(budget.check().is_err());
    }
}
