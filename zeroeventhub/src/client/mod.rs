//! The streaming HTTP client (feature `client`).
//!
//! [`Client::fetch_events`] sends one request and decodes the body as it
//! arrives; [`Client::fetch_page`] collects a response into a [`Page`].
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
mod error;
mod options;
mod stream;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use futures_util::{StreamExt, TryStreamExt};
use reqwest::{
    StatusCode,
    header::{ACCEPT, HeaderMap, HeaderValue, RETRY_AFTER},
};
use serde::de::DeserializeOwned;
use url::Url;

pub use builder::{ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT};
pub use error::{BoxError, Error};
pub use options::FetchOptions;
pub use stream::EventStream;

use crate::{Cursor, FeedRequest, Page, ndjson::Decoder, ndjson::FeedLinesExt};

/// How much of an error response's body [`Error::Status`] keeps.
const ERROR_BODY_LIMIT: usize = 1024;

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
/// use zeroeventhub::{client::{Client, FetchOptions}, Cursor, FeedLine};
///
/// # async fn run() -> Result<(), zeroeventhub::client::Error> {
/// let client = Client::new("http://localhost:8080/person/feed/v1", 2)?;
/// let mut lines = client
///     .fetch_events(&[Cursor::first(0), Cursor::first(1)], &FetchOptions::default())
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

    /// Sends one request for `cursors` and returns the lines of the
    /// response as they arrive.
    ///
    /// A `204 No Content` or an empty body is an empty stream.
    ///
    /// # Errors
    ///
    /// The `await` fails when the request is invalid ([`Error::InvalidRequest`]),
    /// cannot be sent ([`Error::Transport`]) or is answered with a non-2xx
    /// status ([`Error::Status`]). The stream then yields
    /// [`Error::BodyInterrupted`], [`Error::Decode`] or
    /// [`Error::UnexpectedPartition`] and ends.
    pub async fn fetch_events(
        &self,
        cursors: &[Cursor],
        options: &FetchOptions,
    ) -> Result<EventStream, Error> {
        self.fetch_events_as(cursors, options).await
    }

    /// Like [`fetch_events`](Client::fetch_events), but deserializes each
    /// event's data into `T` while parsing its line: every byte is read
    /// once, and no raw copy of the data is made. Data that does not match
    /// `T` is an [`Error::Decode`] naming the line.
    ///
    /// # Errors
    ///
    /// As [`fetch_events`](Client::fetch_events).
    pub async fn fetch_events_as<T: DeserializeOwned>(
        &self,
        cursors: &[Cursor],
        options: &FetchOptions,
    ) -> Result<EventStream<T>, Error> {
        let request = FeedRequest {
            partition_count: self.inner.partition_count,
            cursors: cursors.to_vec(),
            page_size_hint: options.page_size_hint,
            headers: options.headers.clone(),
        };
        let query = request.to_query_string()?;
        let mut url = self.inner.url.clone();
        let query = match url.query() {
            Some(existing) if !existing.is_empty() => format!("{existing}&{query}"),
            _ => query,
        };
        url.set_query(Some(&query));

        let mut builder = self
            .inner
            .http
            .get(url)
            .header(ACCEPT, HeaderValue::from_static("application/x-ndjson"));
        if let Some(hook) = &self.inner.request_hook {
            builder = builder.headers(hook().await.map_err(Error::RequestHook)?);
        }
        tracing::debug!(url = %self.inner.url, %query, "fetching feed page");
        let response = builder.send().await.map_err(Error::Transport)?;
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            return Ok(EventStream::empty());
        }
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok()?.trim().parse().ok())
                .map(Duration::from_secs);
            let body = error_body(response).await;
            tracing::debug!(%status, %body, "feed refused the request");
            return Err(Error::Status {
                status,
                body,
                retry_after,
            });
        }
        let mut requested: Vec<u32> = request.cursors.iter().map(Cursor::partition_id).collect();
        requested.sort_unstable();
        let body: stream::Body = Box::pin(response.bytes_stream());
        let lines =
            body.feed_lines_with(Decoder::typed().with_max_line_length(self.inner.max_line_length));
        Ok(EventStream::new(lines, requested))
    }

    /// Sends one request for `cursors` and collects the response into a
    /// [`Page`]: the events covered by checkpoints and the latest cursor of
    /// each partition.
    ///
    /// # Errors
    ///
    /// As [`fetch_events`](Client::fetch_events); a page is returned only
    /// when the whole response arrived and decoded.
    pub async fn fetch_page(
        &self,
        cursors: &[Cursor],
        options: &FetchOptions,
    ) -> Result<Page, Error> {
        self.fetch_page_as(cursors, options).await
    }

    /// Like [`fetch_page`](Client::fetch_page), with each event's data
    /// deserialized into `T` as its line is parsed.
    ///
    /// # Errors
    ///
    /// As [`fetch_events_as`](Client::fetch_events_as).
    pub async fn fetch_page_as<T: DeserializeOwned>(
        &self,
        cursors: &[Cursor],
        options: &FetchOptions,
    ) -> Result<Page<T>, Error> {
        self.fetch_events_as(cursors, options)
            .await?
            .try_fold(Page::new(), |mut page, line| async move {
                page.push(line);
                Ok(page)
            })
            .await
    }
}

/// Reads at most [`ERROR_BODY_LIMIT`] bytes of an error response's body.
async fn error_body(response: reqwest::Response) -> String {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while body.len() < ERROR_BODY_LIMIT {
        match chunks.next().await {
            Some(Ok(chunk)) => body.extend_from_slice(&chunk),
            Some(Err(_)) | None => break,
        }
    }
    body.truncate(ERROR_BODY_LIMIT);
    let mut text = String::from_utf8_lossy(&body).into_owned();
    // A multi-byte character cut at the limit shows as U+FFFD; drop it.
    if body.len() == ERROR_BODY_LIMIT && text.ends_with('\u{fffd}') {
        text.pop();
    }
    text.trim_end().to_owned()
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
        assert!(matches!(error, Error::InvalidUrl { .. }), "{error}");
        assert!(Client::new("not a url", 1).is_err());
        assert!(Client::new("https://example.com/feed?key=1", 1).is_ok());
    }

    #[tokio::test]
    async fn invalid_cursors_fail_before_sending() {
        let client = Client::new("http://127.0.0.1:9/feed", 2).unwrap();
        let error = client
            .fetch_events(&[Cursor::first(2)], &FetchOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(error, Error::InvalidRequest(_)), "{error}");
        assert!(!error.is_transient());
    }
}
