//! Building a blocking [`Client`].

use std::sync::Arc;

use reqwest::header::HeaderMap;

use super::{Client, Inner, RequestHook};
use crate::{
    BoxError,
    client::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, Error, request::feed_url},
    ndjson::DEFAULT_MAX_LINE_LENGTH,
};

/// Configures a blocking [`Client`]; made by [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    url: String,
    partition_count: u32,
    http: Option<reqwest::blocking::Client>,
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

    /// Sends requests with this `reqwest::blocking::Client`. Without one,
    /// the client uses a default one with a
    /// [connect timeout](DEFAULT_CONNECT_TIMEOUT) and, for each read, a
    /// [timeout](DEFAULT_READ_TIMEOUT) (`reqwest::blocking`'s `timeout`
    /// bounds every read of the body, not the whole body).
    pub fn http_client(mut self, http: reqwest::blocking::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Calls `hook` before every request and adds the headers it returns,
    /// for values that change between requests (a refreshed bearer token).
    ///
    /// ```
    /// use zeroeventhub::blocking::Client;
    /// use zeroeventhub::reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
    ///
    /// let client = Client::builder("http://localhost:8080/feed/v1", 4)
    ///     .request_hook(|| {
    ///         let mut headers = HeaderMap::new();
    ///         headers.insert(AUTHORIZATION, HeaderValue::from_str("Bearer fresh-token")?);
    ///         Ok::<_, zeroeventhub::reqwest::header::InvalidHeaderValue>(headers)
    ///     })
    ///     .build()?;
    /// # Ok::<(), zeroeventhub::client::Error>(())
    /// ```
    pub fn request_hook<F, E>(mut self, hook: F) -> Self
    where
        F: Fn() -> Result<HeaderMap, E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        self.request_hook = Some(Arc::new(move || hook().map_err(Into::into)));
        self
    }

    /// The longest response line accepted, in bytes (default 16 MiB).
    pub fn max_line_length(mut self, max: usize) -> Self {
        self.max_line_length = max;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// Fails when the URL is not an absolute `http` or `https` URL, or
    /// when no client was given and the default one cannot be built.
    pub fn build(self) -> Result<Client, Error> {
        let url = feed_url(&self.url)?;
        let http = match self.http {
            Some(http) => http,
            None => reqwest::blocking::Client::builder()
                .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
                .timeout(DEFAULT_READ_TIMEOUT)
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
