//! The blocking client (feature `blocking`): the same client and request
//! builder as [`client`](crate::client), for code without async (batch
//! jobs, scripts, sync services), on `reqwest::blocking`.
//!
//! ```no_run
//! use zeroeventhub::{blocking::Client, Cursor, FeedLine};
//!
//! fn main() -> Result<(), zeroeventhub::client::Error> {
//!     let client = Client::new("http://localhost:8080/person/feed/v1", 2)?;
//!     let mut cursors = vec![Cursor::first(0), Cursor::first(1)];
//!     // A page, collected:
//!     let page = client.fetch(&cursors).page()?;
//!     println!("{} events", page.events().len());
//!     cursors = page.advance_cursors(&cursors);
//!     // Or the lines, decoded as the body arrives:
//!     for line in client.fetch(&cursors).page_size_hint(1000).send()? {
//!         match line? {
//!             FeedLine::Event(event) => println!("event {}", event.data_json()),
//!             FeedLine::Checkpoint(cursor) => println!("checkpoint {cursor}"),
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Errors are the async client's [`Error`]: the same kinds, predicates and
//! messages. Memory stays bounded by the longest line, as there.
//!
//! `reqwest::blocking` runs a small runtime of its own on a thread: do not
//! call this client from inside an async runtime (use
//! [`client`](crate::client) there).

mod builder;
mod discover;
mod fetch;

use std::sync::Arc;

use reqwest::header::HeaderMap;
use url::Url;

pub use builder::ClientBuilder;
pub use fetch::{FetchBuilder, Lines};

use crate::{BoxError, Cursor, client::Error};

type RequestHook = Arc<dyn Fn() -> Result<HeaderMap, BoxError> + Send + Sync>;

/// A blocking client of one feed: its URL and partition count.
///
/// Cheap to clone (the clones share one connection pool).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::blocking::Client,
    url: Url,
    partition_count: u32,
    request_hook: Option<RequestHook>,
    max_line_length: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.url.as_str())
            .field("partition_count", &self.inner.partition_count)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the feed at `url` with `partition_count` partitions,
    /// with a default `reqwest::blocking::Client`.
    ///
    /// # Errors
    ///
    /// Fails when `url` is not an absolute `http` or `https` URL.
    pub fn new(url: &str, partition_count: u32) -> Result<Client, Error> {
        Client::builder(url, partition_count).build()
    }

    /// A builder, to pass your own `reqwest::blocking::Client`, a request
    /// hook or a maximum line length.
    pub fn builder(url: &str, partition_count: u32) -> ClientBuilder {
        ClientBuilder::new(url, partition_count)
    }

    /// The feed's URL.
    pub fn url(&self) -> &Url {
        &self.inner.url
    }

    /// The partition count sent as `n`.
    pub fn partition_count(&self) -> u32 {
        self.inner.partition_count
    }

    /// A request for the events after `cursors`: set its options on the
    /// builder, then [`send`](FetchBuilder::send) it for an iterator of
    /// lines or ask for the whole [`page`](FetchBuilder::page).
    pub fn fetch(&self, cursors: &[Cursor]) -> FetchBuilder<'_> {
        FetchBuilder::new(self, self.partition_count(), cursors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_types_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        fn assert_send<T: Send>() {}
        assert_send_sync::<Client>();
        assert_send::<Lines>();
    }
}
