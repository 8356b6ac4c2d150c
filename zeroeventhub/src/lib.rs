//! ZeroEventHub: broker-less event feeds over plain HTTP.
//!
//! A producer serves its events from its own database as a partitioned,
//! cursor-based feed of newline-delimited JSON. A consumer pulls pages and
//! keeps a cursor per partition in *its* database, written in the same
//! transaction as the effects of the events: every event is applied
//! exactly once, whatever crashes in between, and no broker sits between
//! the two.
//!
//! This crate holds the protocol (version 1 of the ZeroEventHub spec):
//!
//! - [`Cursor`], [`Event`] and [`FeedLine`], the values on the wire;
//! - [`ndjson`], the incremental decoder and the encoder of the wire format;
//! - [`FeedRequest`], the query string, built by clients and parsed by
//!   producers with errors naming the bad parameter;
//! - [`Page`], a response sorted for exactly-once processing, and
//!   [`EventReceiver`] for those who prefer callbacks;
//! - [`client`], the streaming HTTP client (feature `client`), with a
//!   request builder (`client.fetch(&cursors).page_size_hint(100).page()`,
//!   `.wait(..)` to long-poll), and `blocking`, the same without async
//!   (feature `blocking`);
//! - [`consumer`], the consumer loop that gets exactly-once right, with
//!   long-polling, consumer groups and an in-memory cursor store for tests
//!   (feature `consumer`);
//! - [`server`], the producer's [`DataReader`](server::DataReader) trait, the
//!   [`Feed`](server::Feed) that answers requests and holds long-polling
//!   ones until an event arrives, and the response encoder (feature
//!   `server`); mount it with `zeroeventhub-axum`.
//!
//! # Consuming a feed exactly once
//!
//! Load the cursors, fetch a page, then apply the events the page's
//! checkpoints cover and store the new cursors in one transaction:
//!
//! ```no_run
//! # #[cfg(feature = "client")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use zeroeventhub::{client::Client, Cursor};
//!
//! let client = Client::new("http://localhost:8080/person/feed/v1", 4)?;
//! // Where this consumer stopped last time, from its own database:
//! let mut cursors: Vec<Cursor> = (0..4).map(Cursor::first).collect();
//! loop {
//!     let page = client.fetch(&cursors).page().await?;
//!     // BEGIN
//!     for event in page.events() {
//!         // apply the event: insert, update, ...
//!         println!("{}: {}", event.partition_id, event.data_json());
//!     }
//!     cursors = page.advance_cursors(&cursors);
//!     // store `cursors` ... COMMIT
//!     if page.is_empty() {
//!         break; // caught up: ask again later, or long-poll with `.wait(..)`
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `client` | yes | [`client`]: the streaming reqwest client |
//! | `blocking` | no | `blocking`: the same client without async (`reqwest::blocking`) |
//! | `server` | no | [`server`]: the producer-side `DataReader` trait, `Feed` (with long-polling, tokio) and the response encoder |
//! | `consumer` | no | [`consumer`]: the consumer loop, exactly once, for any database (tokio) |
//! | `metrics` | no | report through the `metrics` facade (names in [`metrics`]), to the exporter you install |
//! | `default-tls` | no | reqwest's default TLS stack, for `https://` feeds (or enable TLS on your own `reqwest` dependency) |
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![deny(missing_docs)]

mod chain;
mod cursor;
mod event;
mod event_types;
mod excerpt;
pub mod ndjson;
mod page;
mod receiver;
mod request;
pub mod v2;

#[cfg(feature = "blocking")]
pub mod blocking;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "consumer")]
pub mod consumer;
#[cfg(any(feature = "consumer", feature = "server"))]
pub mod metrics;
#[cfg(feature = "server")]
pub mod server;

/// The HTTP client this crate's client is built on, re-exported so that
/// your `reqwest::Client` (TLS, proxies, timeouts) and request hooks use
/// the same version.
#[cfg(feature = "client")]
pub use reqwest;

pub use chain::ErrorChain;
pub use cursor::{Cursor, FIRST, InvalidCursor, LAST, ParseCursorError};
pub use event::{Event, FeedLine, Headers};
pub use event_types::EventTypeFilter;
pub use page::{Page, TypedPageError};
pub use receiver::{EventReceiver, ReceiveError, receive_events};
pub use request::{FeedRequest, HeaderSelection, RequestError};

/// A boxed error from user code: a request hook, a handler, a cursor
/// store, a data reader's own failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
