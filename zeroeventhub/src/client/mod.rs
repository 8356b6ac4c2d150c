//! The streaming HTTP client (feature `client`).
//!
//! [`Client::fetch`] builds one request; [`FetchBuilder::send`] sends it
//! and decodes the body as it arrives, [`FetchBuilder::page`] collects the
//! response into a [`Page`](crate::Page).
//!
//! # Timeouts
//!
//! A response's length is not known in advance: a large page may take a
//! while and still be healthy. Give the `reqwest::Client` a
//! [`read_timeout`](reqwest::ClientBuilder::read_timeout) (the longest
//! silence between two reads) and a
//! [`connect_timeout`](reqwest::ClientBuilder::connect_timeout), not a
//! total [`timeout`](reqwest::ClientBuilder::timeout), which would cut off
//! a long stream that is arriving steadily.
//!
//! # TLS
//!
//! This crate builds reqwest without a TLS stack of its own choosing. For
//! `https://` feeds, turn on this crate's `default-tls` feature, or a TLS
//! feature on your own `reqwest` dependency and pass your client to
//! [`ClientBuilder::http_client`].

mod builder;
mod discover;
mod error;
mod fetch;
pub(crate) mod request;
mod stream;

use std::{future::Future, pin::Pin, sync::Arc};

use reqwest::header::HeaderMap;
use url::Url;

pub use builder::{ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT};
pub use discover::FeedVersion;
#[cfg(feature = "blocking")]
pub(crate) use discover::{ACCEPT_DISCOVERY, append_limited, discovery_of, version_of};
pub use error::{Error, ErrorKind};
pub use fetch::FetchBuilder;
pub use stream::EventStream;

use crate::{BoxError, Cursor};

type RequestHook = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<HeaderMap, BoxError>> + Send>> + Send + Sync,
>;

/// A client of one feed: its URL and partition count.
///
/// Cheap to clone (the clones share one connection pool).
///
/// # Examples
///
/// ```no_run
/// use futures_util::TryStreamExt;
/// use zeroeventhub::{client::Client, Cursor, FeedLine};
///
/// # async fn run() -> Result<(), zeroeventhub::client::Error> {
/// let client = Client::new("http://localhost:8080/person/feed/v1", 2)?;
/// let mut lines = client
///     .fetch(&[Cursor::first(0), Cursor::first(1)])
///     .page_size_hint(100)
///     .send()
///     .await?;
/// while let Some(line) = lines.try_next().await? {
///     match line {
///         FeedLine::Event(event) => println!("event {}", event.data_json()),
///         FeedLine::Checkpoint(cursor) => println!("checkpoint {cursor}"),
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
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
    /// with a default `reqwest::Client`.
    ///
    /// # Errors
    ///
    /// Fails when `url` is not an absolute `http` or `https` URL.
    pub fn new(url: &str, partition_count: u32) -> Result<Client, Error> {
        Client::builder(url, partition_count).build()
    }

    /// A builder, to pass your own `reqwest::Client`, a request hook or a
    /// maximum line length.
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
    /// builder, then [`send`](FetchBuilder::send) it for a stream of lines
    /// or ask for the whole [`page`](FetchBuilder::page).
    pub fn fetch(&self, cursors: &[Cursor]) -> FetchBuilder<'_> {
        FetchBuilder::new(self, self.partition_count(), cursors)
    }

    /// The producer's current end of `partition_id`: the checkpoint of a
    /// request from `_last`, `None` when the producer sent none. With
    /// [`Cursor::position`], how far behind a cursor is.
    ///
    /// # Errors
    ///
    /// As [`FetchBuilder::page`].
    pub async fn head_of(&self, partition_id: u32) -> Result<Option<Cursor>, Error> {
        let page = self.fetch(&[Cursor::last(partition_id)]).page().await?;
        Ok(page.cursor(partition_id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<Client>();
        assert_send_sync::<Error>();
        assert_send::<EventStream>();
    }

    #[test]
    fn url_must_be_http() {
        let error = Client::new("ftp://example.com/feed", 1).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidUrl, "{error}");
        assert!(Client::new("not a url", 1).is_err());
        assert!(Client::new("https://example.com/feed?key=1", 1).is_ok());
    }

    #[tokio::test]
    async fn invalid_cursors_fail_before_sending() {
        let client = Client::new("http://127.0.0.1:9/feed", 2).unwrap();
        let error = client.fetch(&[Cursor::first(2)]).send().await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{error}");
        assert!(!error.is_transient());
    }
}
