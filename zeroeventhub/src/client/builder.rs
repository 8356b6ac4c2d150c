//! Building a [`Client`].

use std::{future::Future, sync::Arc, time::Duration};

use super::{Client, Error, Inner, RequestHook};
use crate::{BoxError, ndjson::DEFAULT_MAX_LINE_LENGTH};
use reqwest::header::HeaderMap;

/// The connect timeout of the default `reqwest::Client`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The read timeout (longest silence between two reads) of the default
/// `reqwest::Client`: longer than the longest wait this crate's producers
/// allow by default (60 s), so that a long-polling request is never cut
/// off while the producer holds it.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(90);

/// Configures a [`Client`]; made by [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    url: String,
    partition_count: u32,
    http: Option<reqwest::Client>,
    request_hook: Option<RequestHook>,
    max_line_length: usize,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("partition_count", &self.partition_count)
            .field("request_hook", &self.request_hook.is_some())
            .field("max_line_length", &self.max_line_length)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(super) fn new(url: &str, partition_count: u32) -> Self {
        ClientBuilder {
            url: url.to_owned(),
            partition_count,
            http: None,
            request_hook: None,
            max_line_length: DEFAULT_MAX_LINE_LENGTH,
        }
    }

    /// Sends requests with this `reqwest::Client`: its TLS settings,
    /// connection pool, proxies, default headers and timeouts apply.
    /// Without one, the client uses a default `reqwest::Client` with a
    /// [connect timeout](DEFAULT_CONNECT_TIMEOUT) and a
    /// [read timeout](DEFAULT_READ_TIMEOUT).
    ///
    /// For timeouts, prefer [`read_timeout`](reqwest::ClientBuilder::read_timeout)
    /// (the longest pause between two reads) and
    /// [`connect_timeout`](reqwest::ClientBuilder::connect_timeout) over
    /// [`timeout`](reqwest::ClientBuilder::timeout): a total timeout also
    /// cuts off a large page that is arriving steadily.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Calls `hook` before every request and adds the headers it returns:
    /// for values that change between requests, such as a bearer token
    /// that must be refreshed. (Fixed headers belong in the
    /// `reqwest::Client`'s default headers.)
    ///
    /// ```
    /// use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
    /// use zeroeventhub::client::Client;
    ///
    /// let client = Client::builder("http://localhost:8080/feed/v1", 4)
    ///     .request_hook(|| async {
    ///         let token = "fresh-token"; // fetch or refresh it here
    ///         let mut headers = HeaderMap::new();
    ///         headers.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}"))?);
    ///         Ok::<_, reqwest::header::InvalidHeaderValue>(headers)
    ///     })
    ///     .build()?;
    /// # Ok::<(), zeroeventhub::client::Error>(())
    /// ```
    pub fn request_hook<F, Fut, E>(mut self, hook: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<HeaderMap, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.request_hook = Some(Arc::new(move || {
            let headers = hook();
            Box::pin(async move { headers.await.map_err(Into::into) })
        }));
        self
    }

    /// The longest response line accepted, in bytes (default 16 MiB). A
    /// longer line fails the response instead of growing memory without
    /// bound.
    pub fn max_line_length(mut self, max: usize) -> Self {
        self.max_line_length = max;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// Fails when the URL is not an absolute `http` or `https` URL, or
    /// when no `reqwest::Client` was given and the default one cannot be
    /// built.
    pub fn build(self) -> Result<Client, Error> {
        let url = super::request::feed_url(&self.url)?;
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
                .read_timeout(DEFAULT_READ_TIMEOUT)
                .build()
                .map_err(Error::transport)?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                url,
                partition_count: self.partition_count,
                request_hook: self.request_hook,
                max_line_length: self.max_line_length,
            }),
        })
    }
}
