//! Version 2's discovery, and telling the versions apart.

use bytes::Bytes;
use http::{StatusCode, header::ACCEPT};

use super::{
    Client, Error, FetchBuilder,
    request::{error_body_text, retry_after},
};
use crate::{
    Cursor,
    v2::{Discovery, DiscoveryError},
};

/// The longest discovery document read: 32,768 partitions with long
/// flags fit in it many times over.
pub(crate) const MAX_DISCOVERY_LENGTH: usize = 8 * 1024 * 1024;

/// The content type a client asks for when it discovers.
pub(crate) const ACCEPT_DISCOVERY: &str = "application/json, application/x-ndjson;q=0.5";

/// Which version of the protocol a feed URL speaks, as
/// [`Client::detect_version`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedVersion {
    /// Version 1 only: the producer answered the discovery GET with 400.
    /// Requests go to [`Client::fetch`] with the configured partition
    /// count.
    V1,
    /// Version 2 (perhaps version 1 as well, on the same URL): its
    /// discovery document.
    V2(Discovery),
}

impl Client {
    /// Version 2: GETs the feed URL without parameters and reads the
    /// discovery document.
    ///
    /// # Errors
    ///
    /// As [`FetchBuilder::send`] for sending; a non-2xx answer is a status
    /// error (a version 1 producer answers 400); a document that breaks
    /// the protocol is [`ErrorKind::InvalidDiscovery`](super::ErrorKind::InvalidDiscovery).
    pub async fn discover(&self) -> Result<Discovery, Error> {
        let inner = &self.inner;
        let mut builder = inner
            .http
            .get(inner.url.clone())
            .header(ACCEPT, ACCEPT_DISCOVERY);
        if let Some(hook) = &inner.request_hook {
            builder = builder.headers(hook().await.map_err(Error::request_hook)?);
        }
        tracing::debug!(url = %inner.url, "discovering the feed");
        let mut response = builder.send().await.map_err(Error::transport)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(Error::body_interrupted)? {
            append_limited(&mut body, &chunk)?;
        }
        discovery_of(status, body, retry_after)
    }

    /// Tells which version the feed URL speaks: discovers, and reads a 400
    /// as version 1 (then use [`fetch`](Client::fetch) with the partition
    /// count this client was built with). Any other failure is an error,
    /// never a fallback: a 401 or a 503 says nothing of the version.
    ///
    /// # Errors
    ///
    /// As [`discover`](Client::discover), but for the 400.
    pub async fn detect_version(&self) -> Result<FeedVersion, Error> {
        version_of(self.discover().await)
    }

    /// Version 2: a request for the events of one partition after
    /// `cursor`, with the discovery's `token`. Its lines are those of
    /// version 1, with the partition of the request; a producer whose
    /// token changed answers 409
    /// ([`ErrorKind::TokenChanged`](super::ErrorKind::TokenChanged)).
    pub fn fetch_partition(&self, token: &str, cursor: Cursor) -> FetchBuilder<'_> {
        FetchBuilder::version_2(self, token, cursor)
    }

    /// Version 2: the producer's current end of `partition_id`, as
    /// [`head_of`](Client::head_of) for version 1: the checkpoint of a
    /// request from `_last` with the discovery's `token`.
    ///
    /// # Errors
    ///
    /// As [`FetchBuilder::page`]; 409 when the token has changed.
    pub async fn head_of_partition(
        &self,
        token: &str,
        partition_id: u32,
    ) -> Result<Option<Cursor>, Error> {
        let page = self
            .fetch_partition(token, Cursor::last(partition_id))
            .page()
            .await?;
        Ok(page.cursor(partition_id).cloned())
    }
}

/// Appends a chunk of a discovery document, within its limit.
pub(crate) fn append_limited(body: &mut Vec<u8>, chunk: &[u8]) -> Result<(), Error> {
    if body.len() + chunk.len() > MAX_DISCOVERY_LENGTH {
        return Err(Error::invalid_discovery(DiscoveryError::Malformed(
            format!("the document is longer than {MAX_DISCOVERY_LENGTH} bytes"),
        )));
    }
    body.extend_from_slice(chunk);
    Ok(())
}

/// The discovery in an answer to the parameterless GET.
pub(crate) fn discovery_of(
    status: StatusCode,
    body: Vec<u8>,
    retry_after: Option<std::time::Duration>,
) -> Result<Discovery, Error> {
    if !status.is_success() {
        let body = error_body_text(body);
        tracing::debug!(%status, %body, "feed refused the discovery request");
        return Err(Error::refused(status, body, retry_after));
    }
    Discovery::parse(&Bytes::from(body)).map_err(Error::invalid_discovery)
}

/// A discovery's outcome as a version: only a 400 means version 1.
pub(crate) fn version_of(discovered: Result<Discovery, Error>) -> Result<FeedVersion, Error> {
    match discovered {
        Ok(discovery) => Ok(FeedVersion::V2(discovery)),
        Err(error) if error.status() == Some(StatusCode::BAD_REQUEST) => Ok(FeedVersion::V1),
        Err(error) => Err(error),
    }
}
