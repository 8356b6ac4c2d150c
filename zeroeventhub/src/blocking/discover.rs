//! Version 2's discovery without async: the async client's, sent by the
//! blocking one.

use std::io::Read;

use http::header::ACCEPT;

use super::{Client, FetchBuilder};
use crate::{
    Cursor,
    client::{
        ACCEPT_DISCOVERY, Error, FeedVersion, append_limited, discovery_of, request::retry_after,
        version_of,
    },
    v2::Discovery,
};

impl Client {
    /// As the async [`Client::discover`](crate::client::Client::discover).
    ///
    /// # Errors
    ///
    /// As the async one.
    pub fn discover(&self) -> Result<Discovery, Error> {
        let inner = &self.inner;
        let mut builder = inner
            .http
            .get(inner.url.clone())
            .header(ACCEPT, ACCEPT_DISCOVERY);
        if let Some(hook) = &inner.request_hook {
            builder = builder.headers(hook().map_err(Error::request_hook)?);
        }
        tracing::debug!(url = %inner.url, "discovering the feed");
        let mut response = builder.send().map_err(Error::transport)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let mut body = Vec::new();
        let mut chunk = vec![0; 64 * 1024];
        loop {
            match response.read(&mut chunk) {
                Ok(0) => break,
                Ok(read) => append_limited(&mut body, &chunk[..read])?,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(Error::body_interrupted_io(error)),
            }
        }
        discovery_of(status, body, retry_after)
    }

    /// As the async [`Client::detect_version`](crate::client::Client::detect_version).
    ///
    /// # Errors
    ///
    /// As the async one.
    pub fn detect_version(&self) -> Result<FeedVersion, Error> {
        version_of(self.discover())
    }

    /// As the async [`Client::fetch_partition`](crate::client::Client::fetch_partition).
    pub fn fetch_partition(&self, token: &str, cursor: Cursor) -> FetchBuilder<'_> {
        FetchBuilder::version_2(self, token, cursor)
    }
}
