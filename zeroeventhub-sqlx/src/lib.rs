//! ZeroEventHub on SQL databases, with [sqlx]: exactly-once event feeds
//! without a broker, on SQLite or PostgreSQL.
//!
//! - **Producers** keep an [`EventLog`]: an append-only table. They append
//!   events in the same transaction as the state change they describe (the
//!   outbox pattern), and serve the log as a feed: it implements the
//!   core's [`DataReader`](zeroeventhub::server::DataReader), so
//!   `zeroeventhub-axum` mounts it as a route, speaking both protocol
//!   versions (version 2's discovery included). Events appended with a
//!   type ([`EventLog::append_typed`], [`TypedEvent`]) can be kept or
//!   skipped by consumers' event-type filters. [`partition_for`] maps an
//!   entity key to a partition, stably.
//! - **Consumers** keep their cursors in a [`SqlCursorStore`], in their own
//!   database, saved in the same transaction as the effects of the events.
//!   [`consume`] runs the core's consumer runtime on it: implement a
//!   [`Handler`](zeroeventhub::consumer::Handler) that receives the sqlx
//!   transaction, and every event is applied exactly once, whatever
//!   crashes when.
//!
//! # Examples
//!
//! Producing: see [`EventLog`]. Consuming with the runtime: see
//! [`consume`]. A loop of your own: see [`SqlCursorStore`].
//!
//! # Gap safety
//!
//! A consumer stores a checkpoint and never asks for what came before it
//! again, so a checkpoint must never pass an event that commits later with
//! a lower position. Within a partition, the log makes events commit in
//! position order: SQLite serialises writers, and on PostgreSQL appends to
//! one partition wait for each other (an advisory lock per table and
//! partition); see [Gap safety](EventLog#gap-safety) for the method and
//! its cost.
//!
//! # Tables
//!
//! Each piece creates its tables with `migrate()` (`CREATE TABLE IF NOT
//! EXISTS`, safe at every start and from several processes): the event
//! log in [`DEFAULT_TABLE`] (or a name of your choice), the cursor store
//! in [`CURSORS_TABLE`], [`LEASES_TABLE`] and [`MEMBERS_TABLE`]. Every name starts with
//! `zeh_`. `migrate()` also adds the columns that tables made by an
//! earlier version lack (the event log's `event_type`, the cursors'
//! `finished_at_ms`, which marks a closed version 2 partition consumed to
//! its end), so an existing database goes on working.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `sqlite` | yes | [`Backend`] for `sqlx::Sqlite` (SQLite bundled) |
//! | `postgres` | no | [`Backend`] for `sqlx::Postgres` (no TLS: turn on a TLS feature of your own `sqlx` dependency for `sslmode=require`) |
//! | `producer` | yes | the producer's side: [`EventLog`], [`partition_for`] (the core's `server` feature; no HTTP client) |
//! | `consumer` | yes | the consumer's side: [`SqlCursorStore`], [`consume`] (the core's `consumer` feature; no HTTP server) |
//!
//! Both databases can be on at once, and so can both sides. A producer that
//! wants no HTTP client in its build turns the defaults off:
//! `zeroeventhub-sqlx = { version = "0.1", default-features = false,
//! features = ["postgres", "producer"] }`. The crate re-exports [`sqlx`] and
//! [`zeroeventhub`], so the versions always match.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![deny(missing_docs)]

// The workspace README's code, compiled and run as this crate's doc tests
// (they need every crate of the workspace) so it cannot rot.
#[cfg(all(doctest, feature = "producer", feature = "consumer"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

mod backend;
#[cfg(feature = "consumer")]
mod consume;
#[cfg(feature = "consumer")]
mod cursor_store;
mod error;
#[cfg(feature = "producer")]
mod event_log;
mod migrate;
#[cfg(feature = "producer")]
mod partition;
mod table_name;

pub use backend::Backend;
#[cfg(feature = "consumer")]
pub use consume::consume;
#[cfg(feature = "consumer")]
pub use cursor_store::{CURSORS_TABLE, LEASES_TABLE, MEMBERS_TABLE, SqlCursorStore};
pub use error::Error;
#[cfg(feature = "producer")]
pub use event_log::{
    DEFAULT_CHANGE_CHECK_INTERVAL, DEFAULT_PAGE_SIZE, DEFAULT_SCAN_LIMIT, DEFAULT_TABLE, EventLog,
    READ_CHUNK, TypedEvent,
};
#[cfg(feature = "producer")]
pub use partition::partition_for;
pub use sqlx;
pub use table_name::validate_table_name;
pub use zeroeventhub;

/// An [`EventLog`] in SQLite.
#[cfg(all(feature = "sqlite", feature = "producer"))]
pub type SqliteEventLog = EventLog<sqlx::Sqlite>;
/// An [`EventLog`] in PostgreSQL.
#[cfg(all(feature = "postgres", feature = "producer"))]
pub type PgEventLog = EventLog<sqlx::Postgres>;
/// A [`SqlCursorStore`] in SQLite.
#[cfg(all(feature = "sqlite", feature = "consumer"))]
pub type SqliteCursorStore = SqlCursorStore<sqlx::Sqlite>;
/// A [`SqlCursorStore`] in PostgreSQL.
#[cfg(all(feature = "postgres", feature = "consumer"))]
pub type PgCursorStore = SqlCursorStore<sqlx::Postgres>;
