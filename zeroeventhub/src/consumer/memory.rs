//! A cursor store in memory: for tests, and for a consumer that need not
//! remember its cursors across runs.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use super::{Claim, CursorStore, Lease, Member};
use crate::Cursor;

/// A [`CursorStore`] in memory, with the semantics of a database one
/// (leases with fencing, groups, transactions that commit whole or not at
/// all, version 2's finished partitions): to test a
/// [`Handler`](super::Handler) or a consumer setup without a database, or
/// to follow a feed for as long as a process runs (`zeh follow` without
/// `--store` does, on version 2). Its committed writes stay in memory
/// until dropped: give it `()` when there is nothing to keep. Clones share
/// one store.
///
/// Its transaction, [`MemoryTransaction<T>`], holds what the handler
/// writes ([`push`](MemoryTransaction::push)); it becomes visible in
/// [`committed`](MemoryCursorStore::committed) only when the page commits.
///
/// ```
/// use zeroeventhub::{
///     BoxError, Event,
///     consumer::{Handler, MemoryCursorStore, MemoryTransaction},
/// };
///
/// /// The handler under test: keeps the amount of each deposit.
/// struct Amounts;
///
/// impl Handler<MemoryTransaction<i64>> for Amounts {
///     async fn handle(&self, tx: &mut MemoryTransaction<i64>, event: &Event) -> Result<(), BoxError> {
///         let deposit: serde_json::Value = event.data_as()?;
///         tx.push(deposit["amount"].as_i64().ok_or("no amount")?);
///         Ok(())
///     }
/// }
///
/// let store = MemoryCursorStore::<i64>::new();
/// // Consumer::new(client, store.clone(), Amounts, config).run(...).await?;
/// // then: assert_eq!(store.committed(), [5, 7]);
/// assert!(store.committed().is_empty());
/// ```
#[derive(Debug)]
pub struct MemoryCursorStore<T = crate::Event> {
    state: Arc<Mutex<State<T>>>,
}

impl<T> Clone for MemoryCursorStore<T> {
    fn clone(&self) -> Self {
        MemoryCursorStore {
            state: Arc::clone(&self.state),
        }
    }
}

impl<T> Default for MemoryCursorStore<T> {
    fn default() -> Self {
        MemoryCursorStore {
            state: Arc::new(Mutex::new(State {
                cursors: BTreeMap::new(),
                leases: BTreeMap::new(),
                members: BTreeMap::new(),
                finished: BTreeSet::new(),
                committed: Vec::new(),
            })),
        }
    }
}

#[derive(Debug)]
struct State<T> {
    /// By (consumer, partition).
    cursors: BTreeMap<(String, u32), Cursor>,
    /// Owner and expiry, by (consumer, partition).
    leases: BTreeMap<(String, u32), (String, Instant)>,
    /// Expiry, by (consumer, owner).
    members: BTreeMap<(String, String), Instant>,
    /// Version 2's finished closed partitions, as (consumer, partition).
    finished: BTreeSet<(String, u32)>,
    committed: Vec<T>,
}

impl<T> State<T> {
    /// The owner of a live lease on (`consumer`, `partition_id`).
    fn holder(&self, consumer: &str, partition_id: u32, now: Instant) -> Option<(&str, Instant)> {
        let (owner, expires) = self.leases.get(&(consumer.to_owned(), partition_id))?;
        (*expires > now).then_some((owner.as_str(), *expires))
    }
}

/// A transaction of a [`MemoryCursorStore`]: the handler's writes and the
/// cursors, applied together at commit.
#[derive(Debug)]
pub struct MemoryTransaction<T = crate::Event> {
    writes: Vec<T>,
    /// (consumer, cursor, lease owner) of each cursor saved.
    cursors: Vec<(String, Cursor, String)>,
}

impl<T> MemoryTransaction<T> {
    /// Writes `value`: part of the store's [`committed`](MemoryCursorStore::committed)
    /// values once this transaction commits, gone if it rolls back.
    pub fn push(&mut self, value: T) {
        self.writes.push(value);
    }

    /// What this transaction has written so far.
    pub fn writes(&self) -> &[T] {
        &self.writes
    }
}

impl<T> MemoryCursorStore<T> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State<T>> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The stored cursors of `consumer`, by partition.
    pub fn cursors(&self, consumer: &str) -> Vec<Cursor> {
        let state = self.state();
        let cursors = state.cursors.iter();
        let of_consumer = cursors.filter(|((name, _), _)| name == consumer);
        of_consumer.map(|(_, cursor)| cursor.clone()).collect()
    }

    /// The partitions of `consumer` recorded as finished (closed, and
    /// consumed to their end), in ascending order.
    pub fn finished(&self, consumer: &str) -> Vec<u32> {
        let state = self.state();
        let finished = state.finished.iter();
        let of_consumer = finished.filter(|(name, _)| name == consumer);
        of_consumer.map(|(_, partition_id)| *partition_id).collect()
    }

    /// Every value written by committed transactions, in commit order.
    pub fn committed(&self) -> Vec<T>
    where
        T: Clone,
    {
        self.state().committed.clone()
    }
}

impl<T: Send + 'static> CursorStore for MemoryCursorStore<T> {
    type Transaction = MemoryTransaction<T>;
    type Error = LeaseLost;

    async fn load_cursor(
        &self,
        consumer: &str,
        partition_id: u32,
    ) -> Result<Option<Cursor>, LeaseLost> {
        let key = (consumer.to_owned(), partition_id);
        Ok(self.state().cursors.get(&key).cloned())
    }

    async fn claim(
        &self,
        consumer: &str,
        partition_id: u32,
        lease: &Lease,
    ) -> Result<Claim, LeaseLost> {
        let now = Instant::now();
        let mut state = self.state();
        // No let-chain: the crate's MSRV (1.85) has none.
        let other = state
            .holder(consumer, partition_id, now)
            .filter(|(owner, _)| *owner != lease.owner);
        if let Some((owner, expires)) = other {
            return Ok(Claim::HeldBy {
                owner: owner.to_owned(),
                expires_in: expires - now,
            });
        }
        let expires = now + lease.ttl;
        let key = (consumer.to_owned(), partition_id);
        state.leases.insert(key, (lease.owner.clone(), expires));
        Ok(Claim::Claimed)
    }

    async fn release(
        &self,
        consumer: &str,
        partition_id: u32,
        lease: &Lease,
    ) -> Result<(), LeaseLost> {
        let mut state = self.state();
        let key = (consumer.to_owned(), partition_id);
        if state
            .leases
            .get(&key)
            .is_some_and(|(owner, _)| *owner == lease.owner)
        {
            state.leases.remove(&key);
        }
        Ok(())
    }

    async fn heartbeat(&self, consumer: &str, lease: &Lease) -> Result<Vec<Member>, LeaseLost> {
        let now = Instant::now();
        let mut state = self.state();
        let key = (consumer.to_owned(), lease.owner.clone());
        state.members.insert(key, now + lease.ttl);
        let live = state.members.iter();
        let live = live.filter(|((name, _), expires)| name == consumer && **expires > now);
        let members = live
            .map(|((_, owner), _)| {
                let held = state
                    .leases
                    .iter()
                    .filter(|((name, _), (holder, expires))| {
                        name == consumer && holder == owner && *expires > now
                    });
                Member {
                    owner: owner.clone(),
                    partitions: u32::try_from(held.count()).unwrap_or(u32::MAX),
                }
            })
            .collect();
        Ok(members)
    }

    async fn leave(&self, consumer: &str, lease: &Lease) -> Result<(), LeaseLost> {
        let key = (consumer.to_owned(), lease.owner.clone());
        self.state().members.remove(&key);
        Ok(())
    }

    async fn begin(&self) -> Result<MemoryTransaction<T>, LeaseLost> {
        Ok(MemoryTransaction {
            writes: Vec::new(),
            cursors: Vec::new(),
        })
    }

    async fn save_cursor(
        &self,
        transaction: &mut MemoryTransaction<T>,
        consumer: &str,
        cursor: &Cursor,
        lease: &Lease,
    ) -> Result<bool, LeaseLost> {
        let now = Instant::now();
        let mut state = self.state();
        // Fencing, as a database store does it: only the lease's holder
        // saves, and saving renews the lease.
        let held = state
            .holder(consumer, cursor.partition_id(), now)
            .is_some_and(|(owner, _)| owner == lease.owner);
        if held {
            let key = (consumer.to_owned(), cursor.partition_id());
            state
                .leases
                .insert(key, (lease.owner.clone(), now + lease.ttl));
            let saved = (consumer.to_owned(), cursor.clone(), lease.owner.clone());
            transaction.cursors.push(saved);
        }
        Ok(held)
    }

    async fn commit(&self, transaction: MemoryTransaction<T>) -> Result<(), LeaseLost> {
        let now = Instant::now();
        let mut state = self.state();
        // A lease that lapsed and passed to another owner since the save
        // (a database store's row lock keeps it from passing): roll back.
        let lost = transaction
            .cursors
            .iter()
            .find(|(consumer, cursor, owner)| {
                let holder = state.holder(consumer, cursor.partition_id(), now);
                holder.is_none_or(|(holder, _)| holder != owner)
            });
        if let Some((_, cursor, _)) = lost {
            return Err(LeaseLost {
                partition_id: cursor.partition_id(),
            });
        }
        for (consumer, cursor, _) in transaction.cursors {
            state
                .cursors
                .insert((consumer, cursor.partition_id()), cursor);
        }
        state.committed.extend(transaction.writes);
        Ok(())
    }

    async fn mark_finished(&self, consumer: &str, last: &Cursor) -> Result<(), LeaseLost> {
        let key = (consumer.to_owned(), last.partition_id());
        let mut state = self.state();
        // As a database row would: a partition that never stored a cursor
        // gets its last one; a stored cursor stays.
        state
            .cursors
            .entry(key.clone())
            .or_insert_with(|| last.clone());
        state.finished.insert(key);
        Ok(())
    }

    async fn load_finished(&self, consumer: &str) -> Result<Vec<u32>, LeaseLost> {
        Ok(self.finished(consumer))
    }
}

/// The only failure of a [`MemoryCursorStore`]: a transaction whose lease
/// lapsed and passed to another owner before it committed (it is rolled
/// back).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the lease of partition {partition_id} passed to another owner before the commit")]
pub struct LeaseLost {
    /// The partition.
    pub partition_id: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn finished_partitions_are_kept_per_consumer_with_their_last_cursor() {
        let store = MemoryCursorStore::<()>::new();
        let lease = Lease {
            owner: "a".to_owned(),
            ttl: std::time::Duration::from_secs(60),
        };
        assert_eq!(store.claim("one", 0, &lease).await, Ok(Claim::Claimed));
        let mut transaction = store.begin().await.unwrap();
        let stored = Cursor::new(0, "7").unwrap();
        let saved = store.save_cursor(&mut transaction, "one", &stored, &lease);
        assert_eq!(saved.await, Ok(true));
        store.commit(transaction).await.unwrap();

        // A stored cursor stays; a partition without one gets the last.
        let other = Cursor::new(0, "99").unwrap();
        store.mark_finished("one", &other).await.unwrap();
        store.mark_finished("one", &Cursor::first(3)).await.unwrap();
        store.mark_finished("one", &Cursor::first(3)).await.unwrap();
        assert_eq!(store.load_finished("one").await, Ok(vec![0, 3]));
        assert_eq!(store.cursors("one"), [stored, Cursor::first(3)]);
        assert_eq!(store.load_finished("two").await, Ok(vec![]));
        assert!(store.cursors("two").is_empty());
    }
}
