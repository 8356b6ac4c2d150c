//! A cursor store in memory, for tests.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use super::{Claim, CursorStore, Lease, Member};
use crate::Cursor;

/// A [`CursorStore`] in memory, with the semantics of a database one
/// (leases with fencing, groups, transactions that commit whole or not at
/// all): to test a [`Handler`](super::Handler) or a consumer setup without
/// a database. Clones share one store.
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
        if let Some((owner, expires)) = state.holder(consumer, partition_id, now)
            && owner != lease.owner
        {
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
