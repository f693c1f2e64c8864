//! How long to wait before reconnecting: exponential backoff with jitter, so that thousands
//! of clients cut off at once (a node restarting behind a load balancer) do not all come back
//! in the same instant.

use std::time::Duration;

use rand::Rng;

/// Doubling waits between `first` and `max`; each actual wait is drawn from the upper half of
/// the current step ("equal jitter": never less than half, so a failing server is not hammered,
/// and spread over the other half).
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max: max.max(first),
            step: first,
        }
    }

    /// The next wait, then the step doubles (up to `max`).
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_with(&mut rand::thread_rng())
    }

    /// `next_delay` with the caller's randomness (tests).
    pub fn next_delay_with(&mut self, rng: &mut impl Rng) -> Duration {
        let half = self.step / 2;
        let delay = half + jitter(rng, self.step - half);
        self.step = (self.step * 2).min(self.max);
        delay
    }

    /// After a connection that worked: the next wait is short again.
    pub fn reset(&mut self) {
        self.step = self.first;
    }
}

/// A random duration in `[0, up_to]`.
pub fn random_jitter(up_to: Duration) -> Duration {
    jitter(&mut rand::thread_rng(), up_to)
}

/// A uniformly random duration in `[0, up_to]` from `rng`.
pub fn jitter(rng: &mut impl Rng, up_to: Duration) -> Duration {
    let micros = u64::try_from(up_to.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(rng.gen_range(0..=micros))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng as _;

    const FIRST: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(60);

    #[test]
    fn waits_double_within_their_jitter_band_up_to_the_cap() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut backoff = Backoff::new(FIRST, MAX);
        let mut step = FIRST;
        for _ in 0..12 {
            let delay = backoff.next_delay_with(&mut rng);
            assert!(
                delay >= step / 2 && delay <= step,
                "{delay:?} for step {step:?}"
            );
            step = (step * 2).min(MAX);
        }
        backoff.reset();
        assert!(backoff.next_delay_with(&mut rng) <= FIRST);
    }

    #[test]
    fn clients_cut_off_together_do_not_come_back_together() {
        let mut rng = StdRng::seed_from_u64(11);
        let delays: Vec<Duration> = (0..200)
            .map(|_| {
                let mut backoff = Backoff::new(FIRST, MAX);
                backoff.next_delay_with(&mut rng);
                backoff.next_delay_with(&mut rng)
            })
            .collect();
        let min = delays.iter().min().copied().unwrap_or_default();
        let max = delays.iter().max().copied().unwrap_or_default();
        // The second wait is drawn from [1 s, 2 s]: 200 clients spread over most of it.
        assert!(min >= FIRST && max <= 2 * FIRST, "{min:?}..{max:?}");
        assert!(max - min > Duration::from_millis(800), "{min:?}..{max:?}");
    }
}
