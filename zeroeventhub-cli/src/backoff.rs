//! Capped exponential back-off with jitter, for retrying transient
//! failures.

use std::time::Duration;

/// The delays between retries: the ceiling starts at `initial` and doubles
/// after each failure up to `max`; each delay is drawn uniformly from
/// `0..=ceiling` ("full jitter", as the core crate's consumer runtime
/// does), so that consumers that failed together do not come back
/// together.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A back-off starting at `initial`, capped at `max`.
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            failures: 0,
        }
    }

    /// The number of failures since the last success.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failure and returns how long to wait before retrying.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let ceiling_nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=ceiling_nanos))
    }

    /// Records a success: the next failure starts again at `initial`.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }

    /// `initial * 2^failures`, at most `max`.
    fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INITIAL: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(30);

    #[test]
    fn delays_stay_under_a_doubling_ceiling() {
        let mut backoff = Backoff::new(INITIAL, MAX);
        for ceiling_ms in [100, 200, 400, 800, 1600] {
            assert_eq!(backoff.ceiling(), Duration::from_millis(ceiling_ms));
            let delay = backoff.next_delay();
            assert!(delay <= Duration::from_millis(ceiling_ms), "{delay:?}");
        }
        assert_eq!(backoff.failures(), 5);
    }

    #[test]
    fn delays_are_capped() {
        let mut backoff = Backoff::new(INITIAL, MAX);
        for _ in 0..100 {
            assert!(backoff.next_delay() <= MAX);
        }
        assert_eq!(backoff.ceiling(), MAX);
    }

    #[test]
    fn reset_starts_again_at_the_initial_delay() {
        let mut backoff = Backoff::new(INITIAL, MAX);
        for _ in 0..10 {
            backoff.next_delay();
        }
        backoff.reset();
        assert_eq!(backoff.ceiling(), INITIAL);
        assert!(backoff.next_delay() <= INITIAL);
        assert_eq!(backoff.failures(), 1);
    }
}
