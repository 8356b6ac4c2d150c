//! The consumer runtime (feature `consumer`): the exactly-once loop, for any
//! database.
//!
//! Implement [`CursorStore`] for your database (or take the ready-made one
//! of `zeroeventhub-sqlx`) and a [`Handler`] that applies one event inside
//! the store's transaction; a [`Consumer`] does the rest: fetching,
//! committing effects and cursors together, long-polling once caught up, retries with back-off,
//! partition leases across processes, consumer groups that share the
//! partitions, and graceful shutdown. [`MemoryCursorStore`] is a store in
//! memory, to test a handler without a database.

mod backoff;
mod config;
mod group;
#[cfg(feature = "metrics")]
mod lag;
mod memory;
mod polling;
mod run;
mod store;
mod supervise;
mod worker;

pub use backoff::Backoff;
pub use config::{
    ConsumerConfig, DEFAULT_LONG_POLL, OnHandlerError, OnUnauthorized, Protocol, SplitOrder,
    StartFrom,
};
pub use memory::{LeaseLost, MemoryCursorStore, MemoryTransaction};
pub use polling::Polling;
pub use run::{Consumer, ConsumerError};
pub use store::{Claim, CursorStore, Handler, Lease, Member};
