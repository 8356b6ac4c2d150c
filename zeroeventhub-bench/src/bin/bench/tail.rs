//! The consumers of the latency and idle workloads: light loops on one
//! shared `zeroeventhub::client::Client`, each following partition 0 from
//! its last checkpoint, long-polling or polling, and stamping when each
//! event reached it.

use std::{
    sync::{
        Arc,
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

/// What the consumers share with whoever watches them.
#[derive(Debug)]
struct Shared {
    /// Events each consumer looks for: seqs 1..=events.
    events: u64,
    /// When consumer `c` got event `seq`: `[c * events + seq - 1]`, in
    /// nanoseconds since the epoch; 0 = not yet.
    arrivals: Box<[AtomicU64]>,
    /// Requests answered (successfully).
    requests: AtomicU64,
    /// Requests failed.
    errors: AtomicU64,
    /// Consumers that have had at least one answer.
    answered: AtomicUsize,
    /// Consumers that hold every event.
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
        Consumers {
            client,
            asking,
            capacity,
            shared: Arc::new(Shared {
                events,
                arrivals: (0..slots).map(|_| AtomicU64::new(0)).collect(),
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
        let events = self.shared.events;
        if seq == 0 || seq > events {
            return None;
        }
        let slot = consumer * events as usize + (seq - 1) as usize;
        let nanos = self.shared.arrivals.get(slot)?.load(Ordering::Acquire);
        (nanos != 0).then_some(nanos)
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
                    for event in page.events() {
                        let seq = event.data.seq;
                        if (1..=shared.events).contains(&seq) {
                            let slot = self.index * shared.events as usize + (seq - 1) as usize;
                            let first = shared.arrivals[slot].compare_exchange(
                                0,
                                now,
                                Ordering::AcqRel,
                                Ordering::Acquire,
                            );
                            held += u64::from(first.is_ok());
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
                    if held == shared.events && shared.events > 0 && !complete {
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
