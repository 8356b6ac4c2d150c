//! Waking long-polling requests when new events may have arrived.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use tokio::sync::Notify;

/// The signal an event log gives its waiting requests: "partition P may
/// have new events". A [`DataReader`](super::DataReader) that has one
/// returns it from [`changes`](super::DataReader::changes), and
/// [`Feed`](super::Feed) holds a long-polling request (`wait`) until a
/// partition it asked for is notified, or its time is up.
///
/// A notification is a hint, never a promise: a woken request reads
/// again and waits on when it still finds nothing. Notify after the new
/// events are visible to readers (after the commit), or the request may
/// read too early and wait on. Waiters of other partitions are not woken.
///
/// Cheap to clone (clones share the signal); costs one counter per
/// partition, however many requests wait.
///
/// # Examples
///
/// ```
/// use zeroeventhub::server::ChangeNotifier;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let changes = ChangeNotifier::new(4);
/// let mut waiting = changes.subscribe([1]);
/// changes.notify(3); // not a partition it waits for
/// changes.notify(1);
/// waiting.changed().await; // returns at once: partition 1 was notified
/// assert_eq!(changes.listeners(), 1);
/// # });
/// ```
#[derive(Clone)]
pub struct ChangeNotifier {
    shared: Arc<Shared>,
}

struct Shared {
    /// How often each partition was notified.
    partitions: Box<[AtomicU64]>,
    /// How often every partition at once was notified.
    all: AtomicU64,
    /// Wakes every waiting subscription to compare its counters.
    notify: Notify,
    /// Subscriptions alive.
    listeners: AtomicUsize,
    /// Wakes [`ChangeNotifier::listened`] when the first one arrives.
    first_listener: Notify,
}

impl ChangeNotifier {
    /// A signal for a feed of `partition_count` partitions.
    pub fn new(partition_count: u32) -> Self {
        ChangeNotifier {
            shared: Arc::new(Shared {
                partitions: (0..partition_count).map(|_| AtomicU64::new(0)).collect(),
                all: AtomicU64::new(0),
                notify: Notify::new(),
                listeners: AtomicUsize::new(0),
                first_listener: Notify::new(),
            }),
        }
    }

    /// Wakes the requests waiting for `partition_id` (all of them for a
    /// partition outside the feed).
    pub fn notify(&self, partition_id: u32) {
        match self.shared.partitions.get(partition_id as usize) {
            Some(counter) => {
                counter.fetch_add(1, Ordering::Release);
                self.shared.notify.notify_waiters();
            }
            None => self.notify_all(),
        }
    }

    /// Wakes every waiting request: for a change whose partitions are not
    /// known (another process wrote to the database, a listening
    /// connection was lost and events may have been missed meanwhile).
    pub fn notify_all(&self) {
        self.shared.all.fetch_add(1, Ordering::Release);
        self.shared.notify.notify_waiters();
    }

    /// Starts listening for changes of `partitions`: every notification
    /// from now on counts, even one sent before
    /// [`changed`](ChangeSubscription::changed) is called. Subscribe
    /// before reading, so that nothing appended after the read is missed.
    pub fn subscribe(&self, partitions: impl IntoIterator<Item = u32>) -> ChangeSubscription {
        let shared = Arc::clone(&self.shared);
        let seen = partitions
            .into_iter()
            .filter_map(|partition_id| {
                let counter = shared.partitions.get(partition_id as usize)?;
                Some((partition_id, counter.load(Ordering::Acquire)))
            })
            .collect();
        let seen_all = shared.all.load(Ordering::Acquire);
        if shared.listeners.fetch_add(1, Ordering::AcqRel) == 0 {
            shared.first_listener.notify_waiters();
        }
        ChangeSubscription {
            shared,
            seen,
            seen_all,
        }
    }

    /// How many subscriptions are alive: the requests waiting now.
    pub fn listeners(&self) -> usize {
        self.shared.listeners.load(Ordering::Acquire)
    }

    /// Returns once at least one subscription is alive: a change check
    /// that costs something (polling a database) runs only while someone
    /// waits for its result.
    pub async fn listened(&self) {
        loop {
            let first = self.shared.first_listener.notified();
            tokio::pin!(first);
            first.as_mut().enable();
            if self.listeners() > 0 {
                return;
            }
            first.await;
        }
    }
}

impl fmt::Debug for ChangeNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeNotifier")
            .field("partitions", &self.shared.partitions.len())
            .field("listeners", &self.listeners())
            .finish()
    }
}

/// One waiter's view of a [`ChangeNotifier`]: which of its partitions
/// were notified since it last looked.
pub struct ChangeSubscription {
    shared: Arc<Shared>,
    seen: Vec<(u32, u64)>,
    seen_all: u64,
}

impl ChangeSubscription {
    /// Returns once one of the subscribed partitions was notified (or all
    /// of them were) since the subscription was made or this last
    /// returned. Costs no CPU while it waits; cancel it by dropping it.
    pub async fn changed(&mut self) {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            // Registered before the counters are read: a notification in
            // between still wakes it.
            notified.as_mut().enable();
            if take_change(&self.shared, &mut self.seen, &mut self.seen_all) {
                return;
            }
            notified.await;
        }
    }
}

/// Whether anything was notified since last seen, and marks it seen.
fn take_change(shared: &Shared, seen: &mut [(u32, u64)], seen_all: &mut u64) -> bool {
    let mut changed = false;
    let all = shared.all.load(Ordering::Acquire);
    if all != *seen_all {
        *seen_all = all;
        changed = true;
    }
    for (partition_id, seen) in seen {
        let now = shared.partitions[*partition_id as usize].load(Ordering::Acquire);
        if now != *seen {
            *seen = now;
            changed = true;
        }
    }
    changed
}

impl Drop for ChangeSubscription {
    fn drop(&mut self) {
        self.shared.listeners.fetch_sub(1, Ordering::AcqRel);
    }
}

impl fmt::Debug for ChangeSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeSubscription")
            .field("partitions", &self.seen.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn wakes(subscription: &mut ChangeSubscription) -> bool {
        tokio::time::timeout(Duration::from_millis(20), subscription.changed())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn only_subscribed_partitions_wake() {
        let changes = ChangeNotifier::new(3);
        let mut zero = changes.subscribe([0]);
        let mut both = changes.subscribe([1, 2]);
        changes.notify(2);
        assert!(!wakes(&mut zero).await);
        assert!(wakes(&mut both).await);
        // Seen once, a notification does not wake again.
        assert!(!wakes(&mut both).await);
        changes.notify_all();
        assert!(wakes(&mut zero).await);
        assert!(wakes(&mut both).await);
    }

    #[tokio::test]
    async fn a_notification_before_the_wait_counts() {
        let changes = ChangeNotifier::new(1);
        let mut subscription = changes.subscribe([0]);
        changes.notify(0);
        assert!(wakes(&mut subscription).await);
    }

    #[tokio::test]
    async fn a_waiting_subscription_is_woken_from_another_task() {
        let changes = ChangeNotifier::new(1);
        let mut subscription = changes.subscribe([0]);
        let waiter = tokio::spawn(async move { subscription.changed().await });
        tokio::time::sleep(Duration::from_millis(5)).await;
        changes.notify(0);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }

    #[tokio::test]
    async fn listeners_are_counted_and_the_first_is_announced() {
        let changes = ChangeNotifier::new(1);
        let announced = tokio::spawn({
            let changes = changes.clone();
            async move { changes.listened().await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(!announced.is_finished());
        let subscription = changes.subscribe([0]);
        tokio::time::timeout(Duration::from_secs(5), announced)
            .await
            .expect("announced")
            .unwrap();
        assert_eq!(changes.listeners(), 1);
        drop(subscription);
        assert_eq!(changes.listeners(), 0);
    }
}
