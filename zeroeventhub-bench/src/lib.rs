//! The benchmark suite of the ZeroEventHub workspace (issue 5).
//!
//! One binary, `bench`, does the work, each part in its own process:
//!
//! - `bench server`: our producer, serving the workload's feed;
//! - `bench consume`: our consumer, W1 (bulk replay) and W2 (paged);
//! - `bench load`: a W3 load generator, for machines without `wrk`;
//! - `bench sql-fill`, `bench sql-server`, `bench sql-consume`: the SQL
//!   workloads on SQLite and PostgreSQL;
//! - `bench latency-server`, `bench latency-client`, `bench idle-client`:
//!   long-polling, from an append's commit to the consumers holding the
//!   event (against polling), and what waiting consumers cost an idle
//!   producer;
//! - `bench soak`: W3's tailing load and following consumers against one
//!   producer for minutes, sampling its memory, open descriptors and
//!   latency, to show them flat;
//! - `bench` alone: the orchestrator that starts the others, measures them
//!   and prints the table (see `BENCHMARKS.md` at the repository root).
//!
//! This library holds what they share: the workload's event type and feed
//! lines, the producer's `DataReader`, the per-line framing handler,
//! `/proc` readers, percentiles and the wall clock shared by processes,
//! and the serde_json "ceiling" line types.

#![deny(missing_docs)]

pub mod ceiling;
pub mod per_line;
pub mod proc_stats;
pub mod reader;
pub mod stats;
pub mod workload;
