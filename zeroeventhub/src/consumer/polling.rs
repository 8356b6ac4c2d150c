//! When a caught-up partition asks again: long-polling, or the poll
//! interval against a producer that does not hold requests.

use std::time::Duration;

use tokio::time::Instant;

use super::ConsumerConfig;

/// The pacing of one partition's requests, as the runtime follows it: at
/// once while pages bring events; once caught up, long-polling (`wait`);
/// and never more often than once per poll interval while the producer
/// answers empty sooner (it ignores `wait`, or caps it low). For a loop of
/// your own over [`Client::fetch`](crate::client::Client::fetch).
///
/// ```
/// use std::time::Duration;
/// use zeroeventhub::consumer::Polling;
///
/// let mut polling = Polling::new(Some(Duration::from_secs(20)), Duration::from_secs(1));
/// assert_eq!(polling.next_wait(), None); // not caught up yet: no wait
/// // ... the page came back empty:
/// assert_eq!(polling.pause_after_empty(), Duration::ZERO);
/// assert_eq!(polling.next_wait(), Some(Duration::from_secs(20))); // long-poll now
/// ```
#[derive(Debug)]
pub struct Polling {
    /// The `wait` a caught-up partition asks for; `None` without
    /// long-polling.
    long_poll: Option<Duration>,
    poll_interval: Duration,
    caught_up: bool,
    /// When the request in flight was sent, if it asked to wait.
    waiting_since: Option<Instant>,
    /// Whether a held request was answered empty before the poll interval
    /// passed (the producer ignores `wait`); logged once.
    answered_early: bool,
}

impl Polling {
    /// Long-polls `long_poll` once caught up (`None` or zero: never), and
    /// asks a caught-up partition at most once per `poll_interval` unless
    /// the producer held the request.
    pub fn new(long_poll: Option<Duration>, poll_interval: Duration) -> Self {
        Polling {
            long_poll: long_poll.filter(|wait| !wait.is_zero()),
            poll_interval,
            caught_up: false,
            waiting_since: None,
            answered_early: false,
        }
    }

    /// The runtime's pacing for `config`: no long-poll for a batch job
    /// ([`until_caught_up`](ConsumerConfig::until_caught_up)), and a wait
    /// of at most two thirds of the lease, so that the lease outlasts it
    /// (it is renewed before a wait that could end past five sixths of its
    /// time, see `renew_first`).
    pub(super) fn of(config: &ConsumerConfig) -> Self {
        let long_poll = config
            .long_poll
            .filter(|_| !config.until_caught_up)
            .map(|wait| wait.min(config.lease_ttl * 2 / 3));
        Polling::new(long_poll, config.poll_interval)
    }

    /// The `wait` of the next request: the long-poll once caught up,
    /// `None` before. Call it just before sending.
    pub fn next_wait(&mut self) -> Option<Duration> {
        let wait = self.long_poll.filter(|_| self.caught_up);
        self.waiting_since = wait.map(|_| Instant::now());
        wait
    }

    /// Whether a lease of `lease_ttl`, last renewed `renewed_ago`, must be
    /// renewed before the next request so that it outlasts its wait.
    pub(super) fn renew_first(&self, renewed_ago: Duration, lease_ttl: Duration) -> bool {
        match self.long_poll.filter(|_| self.caught_up) {
            Some(wait) => renewed_ago + wait > lease_ttl * 5 / 6,
            None => false,
        }
    }

    /// Whether the last page came back without events.
    pub fn is_caught_up(&self) -> bool {
        self.caught_up
    }

    /// A page with events arrived: ask again at once, without waiting.
    pub fn got_events(&mut self) {
        self.caught_up = false;
    }

    /// A page without events arrived: how long to pause before the next
    /// request. None after a held request that used its time; after one
    /// answered sooner, the rest of the poll interval, so that a producer
    /// that ignores `wait` is asked at most once per interval.
    pub fn pause_after_empty(&mut self) -> Duration {
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
        Polling::of(&ConsumerConfig {
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
        assert!(!polling.renew_first(Duration::from_secs(9), Duration::from_secs(10)));
    }

    #[test]
    fn the_wait_fits_in_the_lease() {
        let lease_ttl = Duration::from_secs(6);
        let mut polling = Polling::of(&ConsumerConfig {
            lease_ttl,
            ..ConsumerConfig::new("test")
        });
        polling.pause_after_empty();
        assert_eq!(polling.next_wait(), Some(Duration::from_secs(4)));
        // Renewed 1 s ago + a 4 s wait would end past 5 s of a 6 s lease.
        assert!(polling.renew_first(Duration::from_millis(1001), lease_ttl));
        assert!(!polling.renew_first(Duration::from_millis(999), lease_ttl));
    }
}
