//! The consumers of the latency, idle and soak workloads: light loops on
//! one shared `zeroeventhub::client::Client`, each following partition 0
//! from its last checkpoint, long-polling or polling, and stamping when
//! each event reached it.
//!
//! Two ways of keeping the stamps: a table with a slot per consumer and
//! event, for a known number of events ([`Consumers::new`]: the latency
//! workload); or, for a feed without end ([`Consumers::following`]: the
//! soak), a queue of receipts that whoever watches drains now and then,
//! each consumer checking that the seqs reach it in order, each once.

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use tokio::{sync::Notify, task::JoinHandle};
use zeroeventhub::{Cursor, client::Client};
use zeroeventhub_bench::{stats::unix_nanos, workload::PersonNameChanged};

/// How long a consumer waits after a failed request.
const RETRY_DELAY: Duration = Duration::from_millis(100);
/// Failed requests reported on stderr (the rest are only counted).
const REPORTED_ERRORS: u64 = 5;

/// How the consumers ask for new events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asking {
    /// `wait` this long on every request (whole seconds).
    LongPoll(Duration),
    /// No `wait`; sleep this long after each answer.
    Poll(Duration),
}

/// A reqwest client for `consumers` connections to one host at once
/// (each waiting request holds one), with a read timeout above any wait.
pub(crate) fn http_client(consumers: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(consumers)
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")
}

/// One event reaching one consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Receipt {
    /// The event's seq.
    pub(crate) seq: u64,
    /// When the page holding it had arrived, in nanoseconds since the
    /// epoch.
    pub(crate) at: u64,
}

/// How the consumers keep what reached them.
#[derive(Debug)]
enum Record {
    /// Seqs 1..=`events`: when consumer `c` got event `seq` is at
    /// `[c * events + seq - 1]`, in nanoseconds since the epoch; 0 = not
    /// yet.
    Table {
        events: u64,
        arrivals: Box<[AtomicU64]>,
    },
    /// A feed without end, whose seqs are 1, 2, 3 ...
    Following(Following),
}

/// The receipts of following consumers, and their checks.
#[derive(Debug)]
struct Following {
    /// Receipts not yet taken ([`Consumers::swap_receipts`]).
    receipts: Mutex<Vec<Receipt>>,
    /// Per consumer, the seq it expects next: it has had every one before.
    next: Box<[AtomicU64]>,
    /// Events that reached a consumer again (a seq below its next).
    duplicates: AtomicU64,
    /// Events a consumer never got: seqs skipped over by a later one.
    skipped: AtomicU64,
}

/// What following consumers have seen go wrong so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Mishaps {
    /// Events that reached a consumer again.
    pub(crate) duplicates: u64,
    /// Events a consumer skipped (it got a later one first).
    pub(crate) skipped: u64,
}

/// What the consumers share with whoever watches them.
#[derive(Debug)]
struct Shared {
    record: Record,
    /// Requests answered (successfully).
    requests: AtomicU64,
    /// Requests failed.
    errors: AtomicU64,
    /// Consumers that have had at least one answer.
    answered: AtomicUsize,
    /// Consumers that hold every event (a table's).
    complete: AtomicUsize,
    /// Told whenever `complete` grows.
    progress: Notify,
}

/// Up to `capacity` consumers, started in batches with
/// [`spawn`](Consumers::spawn); stopped when dropped.
#[derive(Debug)]
pub(crate) struct Consumers {
    client: Client,
    asking: Asking,
    capacity: usize,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Consumers {
    /// Room for `capacity` consumers of `client`'s feed, each looking for
    /// the events with seqs 1..=`events`; none started yet.
    pub(crate) fn new(client: Client, capacity: usize, events: u64, asking: Asking) -> Self {
        let slots = capacity * usize::try_from(events).unwrap_or(usize::MAX);
        let record = Record::Table {
            events,
            arrivals: (0..slots).map(|_| AtomicU64::new(0)).collect(),
        };
        Self::with_record(client, capacity, asking, record)
    }

    /// Room for `capacity` consumers of `client`'s feed, each following it
    /// for as long as it runs (seqs 1, 2, 3 ...), their receipts queued
    /// for [`swap_receipts`](Consumers::swap_receipts); none started yet.
    pub(crate) fn following(client: Client, capacity: usize, asking: Asking) -> Self {
        let record = Record::Following(Following {
            receipts: Mutex::new(Vec::new()),
            next: (0..capacity).map(|_| AtomicU64::new(1)).collect(),
            duplicates: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        });
        Self::with_record(client, capacity, asking, record)
    }

    fn with_record(client: Client, capacity: usize, asking: Asking, record: Record) -> Self {
        Consumers {
            client,
            asking,
            capacity,
            shared: Arc::new(Shared {
                record,
                requests: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                answered: AtomicUsize::new(0),
                complete: AtomicUsize::new(0),
                progress: Notify::new(),
            }),
            tasks: Vec::with_capacity(capacity),
        }
    }

    /// Starts `count` more consumers (at most up to the capacity), each
    /// from `_first`.
    pub(crate) fn spawn(&mut self, count: usize) {
        let end = self.capacity.min(self.tasks.len() + count);
        for index in self.tasks.len()..end {
            let consumer = Consumer {
                client: self.client.clone(),
                asking: self.asking,
                index,
                shared: Arc::clone(&self.shared),
            };
            self.tasks.push(tokio::spawn(consumer.run()));
        }
    }

    /// Consumers started.
    pub(crate) fn started(&self) -> usize {
        self.tasks.len()
    }

    /// Consumers there is room for.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// How they ask.
    pub(crate) fn asking(&self) -> Asking {
        self.asking
    }

    /// Consumers that have had an answer.
    pub(crate) fn answered(&self) -> usize {
        self.shared.answered.load(Ordering::Acquire)
    }

    /// Requests answered so far.
    pub(crate) fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Acquire)
    }

    /// Requests failed so far.
    pub(crate) fn errors(&self) -> u64 {
        self.shared.errors.load(Ordering::Acquire)
    }

    /// Consumers holding every event.
    pub(crate) fn complete(&self) -> usize {
        self.shared.complete.load(Ordering::Acquire)
    }

    /// Returns once every started consumer holds every event.
    pub(crate) async fn all_complete(&self) {
        loop {
            let progress = self.shared.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            if self.complete() >= self.tasks.len() {
                return;
            }
            progress.await;
        }
    }

    /// When consumer `consumer` got the event with seq `seq` (ns since the
    /// epoch), if it did.
    pub(crate) fn arrival(&self, consumer: usize, seq: u64) -> Option<u64> {
        let Record::Table { events, arrivals } = &self.shared.record else {
            return None;
        };
        if seq == 0 || seq > *events {
            return None;
        }
        let slot = consumer * *events as usize + (seq - 1) as usize;
        let nanos = arrivals.get(slot)?.load(Ordering::Acquire);
        (nanos != 0).then_some(nanos)
    }

    fn following_record(&self) -> Option<&Following> {
        match &self.shared.record {
            Record::Following(following) => Some(following),
            Record::Table { .. } => None,
        }
    }

    /// Following consumers: swaps the receipts queued since the last call
    /// (in no particular order) into `spare`, which must be empty, and
    /// queues the next ones in what was `spare`: two buffers that keep
    /// their capacity, so that a long run does not allocate anew every
    /// time. Leaves `spare` empty for a table's consumers.
    pub(crate) fn swap_receipts(&self, spare: &mut Vec<Receipt>) {
        debug_assert!(spare.is_empty(), "the spare buffer holds receipts");
        if let Some(following) = self.following_record() {
            let mut receipts = following
                .receipts
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            std::mem::swap(&mut *receipts, spare);
        }
    }

    /// Following consumers: what went wrong so far (nothing, for a
    /// table's consumers).
    pub(crate) fn mishaps(&self) -> Mishaps {
        self.following_record()
            .map_or_else(Mishaps::default, |following| Mishaps {
                duplicates: following.duplicates.load(Ordering::Acquire),
                skipped: following.skipped.load(Ordering::Acquire),
            })
    }

    /// Following consumers: the lowest seq that a started consumer still
    /// expects (every consumer has had, or skipped, every event before
    /// it, and its receipts of them are queued); `None` before any
    /// started, or for a table's consumers.
    pub(crate) fn lowest_next(&self) -> Option<u64> {
        let following = self.following_record()?;
        following.next[..self.started()]
            .iter()
            .map(|next| next.load(Ordering::Acquire))
            .min()
    }

    /// Following consumers: the events up to seq `last` that started
    /// consumers have yet to get, all together (0 for a table's
    /// consumers).
    pub(crate) fn missing(&self, last: u64) -> u64 {
        self.following_record().map_or(0, |following| {
            following.next[..self.started()]
                .iter()
                .map(|next| (last + 1).saturating_sub(next.load(Ordering::Acquire)))
                .sum()
        })
    }
}

impl Drop for Consumers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// One consumer's loop.
struct Consumer {
    client: Client,
    asking: Asking,
    index: usize,
    shared: Arc<Shared>,
}

impl Consumer {
    async fn run(self) {
        let shared = &*self.shared;
        let mut cursor = Cursor::first(0);
        let (mut held, mut answered, mut complete) = (0, false, false);
        // A following consumer's next seq, and its page's receipts.
        let (mut next, mut receipts) = (1, Vec::new());
        if let Asking::Poll(interval) = self.asking {
            // Spread the consumers over the interval, as independent
            // processes would be.
            tokio::time::sleep(interval.mul_f64(fastrand::f64())).await;
        }
        loop {
            let mut fetch = self.client.fetch(std::slice::from_ref(&cursor));
            if let Asking::LongPoll(wait) = self.asking {
                fetch = fetch.wait(wait);
            }
            match fetch.page_as::<PersonNameChanged>().await {
                Ok(page) => {
                    let now = unix_nanos();
                    let seqs = page.events().iter().map(|event| event.data.seq);
                    match &shared.record {
                        Record::Table { events, arrivals } => {
                            for seq in seqs.filter(|seq| (1..=*events).contains(seq)) {
                                let slot = self.index * *events as usize + (seq - 1) as usize;
                                let first = arrivals[slot].compare_exchange(
                                    0,
                                    now,
                                    Ordering::AcqRel,
                                    Ordering::Acquire,
                                );
                                held += u64::from(first.is_ok());
                            }
                        }
                        Record::Following(following) => {
                            for seq in seqs {
                                let (expected, fresh) = following.check(next, seq);
                                next = expected;
                                if fresh {
                                    receipts.push(Receipt { seq, at: now });
                                }
                            }
                            // The receipts first: whoever sees the new
                            // `next` finds them queued.
                            if !receipts.is_empty() {
                                following
                                    .receipts
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .append(&mut receipts);
                            }
                            following.next[self.index].store(next, Ordering::Release);
                        }
                    }
                    if let Some(next) = page.cursor(0) {
                        cursor = next.clone();
                    }
                    shared.requests.fetch_add(1, Ordering::AcqRel);
                    if !answered {
                        answered = true;
                        shared.answered.fetch_add(1, Ordering::AcqRel);
                    }
                    let events = match shared.record {
                        Record::Table { events, .. } => events,
                        Record::Following(_) => 0,
                    };
                    if held == events && events > 0 && !complete {
                        complete = true;
                        shared.complete.fetch_add(1, Ordering::AcqRel);
                        shared.progress.notify_waiters();
                    }
                }
                Err(error) => {
                    let failed = shared.errors.fetch_add(1, Ordering::AcqRel);
                    if failed < REPORTED_ERRORS {
                        eprintln!("bench: consumer {}: {error}", self.index);
                    }
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            }
            if let Asking::Poll(interval) = self.asking {
                tokio::time::sleep(interval).await;
            }
        }
    }
}

impl Following {
    /// A consumer expecting `next` got `seq`: counts a duplicate or the
    /// seqs skipped; returns the seq it expects now, and whether `seq`
    /// was new to it.
    fn check(&self, next: u64, seq: u64) -> (u64, bool) {
        if seq < next {
            self.duplicates.fetch_add(1, Ordering::AcqRel);
            return (next, false);
        }
        if seq > next {
            self.skipped.fetch_add(seq - next, Ordering::AcqRel);
        }
        (seq + 1, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn following_counts_duplicates_and_skipped_seqs() {
        let following = Following {
            receipts: Mutex::new(Vec::new()),
            next: Box::new([]),
            duplicates: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        };
        let (mut next, mut fresh) = (1, Vec::new());
        for seq in [1, 2, 3, 3, 2, 6, 7] {
            let (expected, new) = following.check(next, seq);
            next = expected;
            fresh.extend(new.then_some(seq));
        }
        assert_eq!(next, 8);
        assert_eq!(fresh, [1, 2, 3, 6, 7]);
        assert_eq!(following.duplicates.load(Ordering::Acquire), 2);
        // 4 and 5.
        assert_eq!(following.skipped.load(Ordering::Acquire), 2);
    }
}
