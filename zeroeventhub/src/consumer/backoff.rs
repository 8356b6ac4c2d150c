//! Capped exponential back-off with full jitter.

use std::time::Duration;

/// Delays between retries: after the `k`-th failure in a row, wait a
/// random time in `0..=min(max, initial * 2^k)` ("full jitter"), so that
/// many consumers failing together do not come back together.
///
/// ```
/// use std::time::Duration;
/// use zeroeventhub::consumer::Backoff;
///
/// let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
/// assert!(backoff.next_delay() <= Duration::from_millis(100));
/// assert!(backoff.next_delay() <= Duration::from_millis(200));
/// assert_eq!(backoff.failures(), 2);
/// backoff.reset();
/// assert_eq!(backoff.failures(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Delays starting at `initial`, capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The delay before the next retry; counts the failure.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .initial
            .saturating_mul(1 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(fastrand::f64())
    }

    /// The delay before retrying after `error`: [`next_delay`](Backoff::next_delay),
    /// but never less than the producer's `Retry-After`. Counts the failure.
    pub fn next_delay_after(&mut self, error: &crate::client::Error) -> Duration {
        self.next_delay()
            .max(error.retry_after().unwrap_or_default())
    }

    /// How many failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.attempt
    }

    /// Forgets past failures after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_stay_under_the_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 0..40u32 {
            let ceiling =
                Duration::from_millis(100 * (1 << attempt.min(10))).min(Duration::from_secs(1));
            assert!(backoff.next_delay() <= ceiling);
        }
        assert_eq!(backoff.failures(), 40);
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
