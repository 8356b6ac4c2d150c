//! When a caught-up partition asks again: long-polling, or the poll
//! interval against a producer that does not hold requests.

use std::time::Duration;

use tokio::time::Instant;

use super::ConsumerConfig;

/// One partition's polling state: whether it is caught up, and how the
/// request in flight was sent.
#[derive(Debug)]
pub(super) struct Polling {
    /// The `wait` a caught-up partition asks for; `None` without
    /// long-polling.
    long_poll: Option<Duration>,
    poll_interval: Duration,
    lease_ttl: Duration,
    caught_up: bool,
    /// When the request in flight was sent, if it asked to wait.
    waiting_since: Option<Instant>,
    /// Whether a held request was answered empty before the poll interval
    /// passed (the producer ignores `wait`); logged once.
    answered_early: bool,
}

impl Polling {
    pub(super) fn new(config: &ConsumerConfig) -> Self {
        Polling {
            // The lease must outlast a wait: it is renewed before one that
            // could end past five sixths of its time (see `renew_first`).
            long_poll: config
                .long_poll
                .filter(|wait| !wait.is_zero() && !config.until_caught_up)
                .map(|wait| wait.min(config.lease_ttl * 2 / 3)),
            poll_interval: config.poll_interval,
            lease_ttl: config.lease_ttl,
            caught_up: false,
            waiting_since: None,
            answered_early: false,
        }
    }

    /// The `wait` of the next request: the long-poll once caught up.
    pub(super) fn next_wait(&mut self) -> Option<Duration> {
        let wait = self.long_poll.filter(|_| self.caught_up);
        self.waiting_since = wait.map(|_| Instant::now());
        wait
    }

    /// Whether the lease, last renewed `renewed_ago`, must be renewed
    /// before the next request so that it outlasts the request's wait.
    pub(super) fn renew_first(&self, renewed_ago: Duration) -> bool {
        match self.long_poll.filter(|_| self.caught_up) {
            Some(wait) => renewed_ago + wait > self.lease_ttl * 5 / 6,
            None => false,
        }
    }

    /// A page with events arrived: ask again at once, without waiting.
    pub(super) fn got_events(&mut self) {
        self.caught_up = false;
    }

    /// A page without events arrived: how long to pause before the next
    /// request. None after a held request that used its time; after one
    /// answered sooner, the rest of the poll interval, so that a producer
    /// that ignores `wait` is asked at most once per interval.
    pub(super) fn pause_after_empty(&mut self) -> Duration {
        self.caught_up = true;
        match (self.long_poll, self.waiting_since.take()) {
            (None, _) => self.poll_interval,
            // Caught up just now: the next request is held.
            (Some(_), None) => Duration::ZERO,
            (Some(_), Some(asked)) => {
                let rest = self.poll_interval.saturating_sub(asked.elapsed());
                if !rest.is_zero() && !self.answered_early {
                    self.answered_early = true;
                    tracing::info!(
                        poll_interval = ?self.poll_interval,
                        "the feed answered a long-poll at once: it may not support wait; \
                         asking at most once per poll interval"
                    );
                }
                rest
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polling(long_poll: Option<Duration>) -> Polling {
        Polling::new(&ConsumerConfig {
            long_poll,
            ..ConsumerConfig::new("test")
        })
    }

    #[tokio::test(start_paused = true)]
    async fn long_polls_once_caught_up_and_not_before() {
        let mut polling = polling(Some(Duration::from_secs(20)));
        assert_eq!(polling.next_wait(), None);
        assert_eq!(polling.pause_after_empty(), Duration::ZERO);
        assert_eq!(polling.next_wait(), Some(Duration::from_secs(20)));
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(polling.pause_after_empty(), Duration::ZERO);
        polling.got_events();
        assert_eq!(polling.next_wait(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_at_once_falls_back_to_the_poll_interval() {
        let mut polling = polling(Some(Duration::from_secs(20)));
        polling.pause_after_empty();
        polling.next_wait();
        tokio::time::advance(Duration::from_millis(300)).await;
        assert_eq!(polling.pause_after_empty(), Duration::from_millis(700));
    }

    #[test]
    fn without_long_polling_it_polls_every_interval() {
        let mut polling = polling(None);
        assert_eq!(polling.pause_after_empty(), Duration::from_secs(1));
        assert_eq!(polling.next_wait(), None);
        assert!(!polling.renew_first(Duration::from_secs(9)));
    }

    #[test]
    fn the_wait_fits_in_the_lease() {
        let mut polling = Polling::new(&ConsumerConfig {
            lease_ttl: Duration::from_secs(6),
            ..ConsumerConfig::new("test")
        });
        polling.pause_after_empty();
        assert_eq!(polling.next_wait(), Some(Duration::from_secs(4)));
        // Renewed 1 s ago + a 4 s wait would end past 5 s of a 6 s lease.
        assert!(polling.renew_first(Duration::from_millis(1001)));
        assert!(!polling.renew_first(Duration::from_millis(999)));
    }
}
