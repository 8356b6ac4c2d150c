//! Shared support for the cross-crate tests: a fixture event log, and a
//! client for a server of `zeroeventhub_axum::TestFeed`.
//!
//! Use it from a test file with `mod support;`. Only generic helpers live
//! here; what a single test file needs stays in that file.
//!
//! Harnesses shared by a group of test files are submodules: [`feeds`]
//! (`client_*.rs`) and [`python`] (`interop_*.rs`).
#![allow(dead_code)]

use serde_json::json;
use std::sync::{Arc, Mutex};

use zeroeventhub::{
    BoxError, Cursor, Event, FeedLine, FeedRequest,
    client::Client,
    consumer::{Handler, MemoryTransaction},
    server::{DataReader, MemoryLog, ReadError},
};
use zeroeventhub_axum::TestFeed;

pub(crate) mod feeds;
pub(crate) mod python;

/// A log served as a producer of version 1 only (no discovery): a GET
/// without `n` gets 400, as version 1 has it.
pub(crate) struct Version1Only(pub(crate) MemoryLog);

impl DataReader for Version1Only {
    type Data = Box<serde_json::value::RawValue>;

    fn read(
        &self,
        request: FeedRequest,
    ) -> impl futures_util::Stream<Item = Result<FeedLine, ReadError>> + Send + 'static {
        self.0.read(request)
    }
}

/// Keeps (partition, n) of each event; remembers what was printed after
/// each commit.
#[derive(Default, Clone)]
pub(crate) struct Numbers {
    pub(crate) after_commit: Arc<Mutex<Vec<(u32, u64)>>>,
}

pub(crate) fn number(event: &Event) -> Result<(u32, u64), BoxError> {
    let data: serde_json::Value = event.data_as()?;
    let n = data["n"].as_u64().ok_or("no n")?;
    Ok((event.partition_id, n))
}

impl Handler<MemoryTransaction<(u32, u64)>> for Numbers {
    async fn handle(
        &self,
        transaction: &mut MemoryTransaction<(u32, u64)>,
        event: &Event,
    ) -> Result<(), BoxError> {
        transaction.push(number(event)?);
        Ok(())
    }

    fn committed(&self, events: &[Event]) {
        let mut after = self.after_commit.lock().unwrap();
        after.extend(events.iter().map(|event| number(event).unwrap()));
    }
}

/// The partition count of [`fixture_log`].
pub(crate) const FIXTURE_PARTITIONS: u32 = 3;

/// The events of [`fixture_log`], in the order they are appended: three
/// partitions, events with and without headers, data of every JSON type.
///
/// Per partition:
/// - 0: an object with headers `ce_id` and `ce_type`, a string without
///   headers, an array with headers `ce_id`, `ce_type` and `trace`;
/// - 1: a number with header `ce_id`, `null` without headers;
/// - 2: `true` with headers `ce_type` and `trace`, a float, nested
///   objects with a string holding U+2028 and a `\n`.
pub(crate) fn fixture_events() -> Vec<Event> {
    let event = |partition_id: u32, data: serde_json::Value| {
        Event::from_data(partition_id, &data).expect("JSON data")
    };
    vec![
        event(0, json!({"id": 1, "name": "alice"}))
            .with_header("ce_id", "a1")
            .with_header("ce_type", "created"),
        event(1, json!(42)).with_header("ce_id", "b1"),
        event(2, json!(true))
            .with_header("ce_type", "flag")
            .with_header("trace", "t-2"),
        event(0, json!("plain text")),
        event(1, json!(null)),
        event(0, json!([1, "two", 3.5, false, null]))
            .with_header("ce_id", "a3")
            .with_header("ce_type", "listed")
            .with_header("trace", "t-0"),
        event(2, json!(-0.25)),
        event(
            2,
            json!({"nested": {"list": [{}, []], "text": "line\u{2028}separator\nnewline"}}),
        ),
    ]
}

/// The events of [`fixture_events`] in `partition_id`, in order.
pub(crate) fn fixture_events_of(partition_id: u32) -> Vec<Event> {
    fixture_events()
        .into_iter()
        .filter(|event| event.partition_id == partition_id)
        .collect()
}

/// A [`MemoryLog`] of [`FIXTURE_PARTITIONS`] partitions holding
/// [`fixture_events`].
pub(crate) fn fixture_log() -> MemoryLog {
    let log = MemoryLog::new(FIXTURE_PARTITIONS);
    for event in fixture_events() {
        log.append(event).expect("a partition of the log");
    }
    log
}

/// `_first` cursors for partitions `0..partition_count`.
pub(crate) fn first_cursors(partition_count: u32) -> Vec<Cursor> {
    (0..partition_count).map(Cursor::first).collect()
}

/// A client of the feed at `path` on `server`, assuming `partition_count`
/// partitions.
pub(crate) fn client(server: &TestFeed, path: &str, partition_count: u32) -> Client {
    Client::new(&server.url_of(path), partition_count).expect("a valid feed URL")
}
