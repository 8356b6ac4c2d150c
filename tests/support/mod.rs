//! Shared support for the cross-crate tests: a real HTTP server on a
//! loopback port, a fixture event log and a client for the server.
//!
//! Use it from a test file with `mod support;`. Only generic helpers live
//! here; what a single test file needs stays in that file.
#![allow(dead_code)]

use std::net::SocketAddr;

use axum::Router;
use serde_json::json;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use zeroeventhub::{Cursor, Event, client::Client, server::MemoryLog};

/// An axum server on `127.0.0.1` with a port chosen by the OS, shut down
/// when dropped.
///
/// Start it from inside a tokio runtime (a `#[tokio::test]`).
#[derive(Debug)]
pub(crate) struct TestServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Binds `127.0.0.1:0` and serves `router` in a spawned task.
    pub(crate) async fn start(router: Router) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    // A dropped sender also means: shut down.
                    let _ = signal.await;
                })
                .await
                .expect("the test server failed");
        });
        TestServer {
            addr,
            shutdown: Some(shutdown),
            task,
        }
    }

    /// The address the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The absolute URL of `path` (which starts with `/`) on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Stop accepting connections and close the idle ones...
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        // ...and do not wait for responses still streaming: end the task.
        self.task.abort();
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
pub(crate) fn client(server: &TestServer, path: &str, partition_count: u32) -> Client {
    Client::new(&server.url(path), partition_count).expect("a valid feed URL")
}
