//! One request, built and sent.

use futures_util::TryStreamExt;
use http::{StatusCode, header::ACCEPT};
use serde::de::DeserializeOwned;

use super::{
    Client, Error, EventStream,
    request::{
        ACCEPT_NDJSON, ERROR_BODY_LIMIT, Requested, decoder_for, error_body_text, refusal,
        request_url, retry_after,
    },
    stream::Body,
};
use crate::{Cursor, EventTypeFilter, FeedRequest, HeaderSelection, Page, ndjson::FeedLinesExt};

/// A request for a page of the feed; made by [`Client::fetch`] (and, as
/// `FetchBuilder<'_, blocking::Client>`, by the blocking client's `fetch`).
///
/// Set the optional parameters, then [`send`](FetchBuilder::send) for the
/// lines as they arrive, or [`page`](FetchBuilder::page) for the whole
/// response.
///
/// ```no_run
/// use zeroeventhub::{client::Client, Cursor, HeaderSelection};
///
/// # async fn run() -> Result<(), zeroeventhub::client::Error> {
/// let client = Client::new("http://localhost:8080/person/feed/v1", 4)?;
/// let page = client
///     .fetch(&[Cursor::first(0), Cursor::first(1)])
///     .page_size_hint(500)
///     .headers(HeaderSelection::names(["ce_type"]))
///     .page()
///     .await?;
/// println!("{} events", page.events().len());
/// # Ok(())
/// # }
/// ```
#[must_use = "a request does nothing until it is sent"]
#[derive(Debug)]
pub struct FetchBuilder<'a, C = Client> {
    pub(crate) client: &'a C,
    pub(crate) request: FeedRequest,
    /// Version 2: the discovery's token (the request has one cursor).
    pub(crate) token: Option<String>,
}

impl<'a, C> FetchBuilder<'a, C> {
    /// A request for `cursors` of a feed of `partition_count` partitions,
    /// sent by `client`.
    pub(crate) fn new(client: &'a C, partition_count: u32, cursors: &[Cursor]) -> Self {
        let request = FeedRequest::new(partition_count, cursors.to_vec());
        FetchBuilder {
            client,
            request,
            token: None,
        }
    }

    /// A version 2 request for one partition, from `cursor`, with the
    /// discovery's `token`.
    pub(crate) fn version_2(client: &'a C, token: &str, cursor: Cursor) -> Self {
        let partition_count = cursor.partition_id().saturating_add(1);
        FetchBuilder {
            client,
            request: FeedRequest::new(partition_count, vec![cursor]),
            token: Some(token.to_owned()),
        }
    }

    /// `event-types` / `skip-event-types`: which events to ask for by
    /// type (all by default). A producer may ignore it: a consumer that
    /// needs the filter applied must also be safe when it is not.
    pub fn event_types(mut self, filter: EventTypeFilter) -> Self {
        self.request.event_types = filter;
        self
    }

    /// `pagesizehint`: about how many events the whole response should
    /// hold at most (`0` leaves it to the producer, as not setting it does).
    pub fn page_size_hint(mut self, hint: u32) -> Self {
        self.request.page_size_hint = Some(hint);
        self
    }

    /// `headers`: which event headers to ask for (none by default;
    /// version 1 only, version 2 has no headers).
    pub fn headers(mut self, headers: HeaderSelection) -> Self {
        self.request.headers = headers;
        self
    }

    /// `wait` (long-polling): when the requested partitions have no event
    /// after their cursors, the producer may hold the request this long,
    /// answering as soon as one arrives. Sent in whole seconds (rounded
    /// up); zero, as not setting it, asks for an answer at once. A producer
    /// caps the wait, and one without long-polling answers at once.
    ///
    /// The HTTP client's read timeout must exceed it: the default
    /// client's is [`DEFAULT_READ_TIMEOUT`](super::DEFAULT_READ_TIMEOUT),
    /// longer than the default cap of this crate's producers (60 s).
    pub fn wait(mut self, wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        self.request.wait = Some(u32::try_from(seconds).unwrap_or(u32::MAX));
        self
    }

    /// The request as it will be sent.
    pub fn request(&self) -> &FeedRequest {
        &self.request
    }
}

impl FetchBuilder<'_, Client> {
    /// Sends the request and returns the lines of the response as they
    /// arrive. A `204 No Content` or an empty body is an empty stream.
    ///
    /// # Errors
    ///
    /// The `await` fails when the request is invalid
    /// ([`ErrorKind::InvalidRequest`](super::ErrorKind::InvalidRequest)),
    /// the request hook fails, the request cannot be sent, or the producer
    /// answers with a non-2xx status. The stream then yields an error for a
    /// body cut off, a malformed line or a line of a partition not asked
    /// for, and ends.
    pub async fn send(self) -> Result<EventStream, Error> {
        self.send_as().await
    }

    /// Like [`send`](FetchBuilder::send), with each event's data
    /// deserialized into `T` while its line is parsed: every byte is read
    /// once, and no raw copy is made. Data that does not match `T` is a
    /// decode error naming the line.
    ///
    /// # Errors
    ///
    /// As [`send`](FetchBuilder::send).
    pub async fn send_as<T: DeserializeOwned>(self) -> Result<EventStream<T>, Error> {
        let inner = &self.client.inner;
        let version_2 = self.token.is_some();
        let url = request_url(&inner.url, &self.request, self.token.as_deref())?;
        let mut builder = inner.http.get(url).header(ACCEPT, ACCEPT_NDJSON);
        if let Some(hook) = &inner.request_hook {
            builder = builder.headers(hook().await.map_err(Error::request_hook)?);
        }
        tracing::debug!(url = %inner.url, cursors = ?self.request.cursors, "fetching feed page");
        let response = builder.send().await.map_err(Error::transport)?;
        let status = response.status();
        let requested = Requested::of(&self.request, version_2);
        if status == StatusCode::NO_CONTENT {
            requested.finish()?;
            return Ok(EventStream::empty());
        }
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let body = error_body(response).await;
            tracing::debug!(%status, %body, "feed refused the request");
            return Err(refusal(status, body, retry_after, version_2));
        }
        let body: Body = Box::pin(response.bytes_stream());
        let decoder = decoder_for(&self.request, version_2, inner.max_line_length);
        Ok(EventStream::new(body.feed_lines_with(decoder), requested))
    }

    /// Sends the request and collects the response into a [`Page`]: the
    /// events covered by checkpoints and the latest cursor of each
    /// partition.
    ///
    /// # Errors
    ///
    /// As [`send`](FetchBuilder::send); a page is returned only when the
    /// whole response arrived and decoded.
    pub async fn page(self) -> Result<Page, Error> {
        self.page_as().await
    }

    /// Like [`page`](FetchBuilder::page), with each event's data
    /// deserialized into `T` as its line is parsed.
    ///
    /// # Errors
    ///
    /// As [`send_as`](FetchBuilder::send_as).
    pub async fn page_as<T: DeserializeOwned>(self) -> Result<Page<T>, Error> {
        self.send_as()
            .await?
            .try_fold(Page::new(), |mut page, line| async move {
                page.push(line);
                Ok(page)
            })
            .await
    }
}

/// Reads at most [`ERROR_BODY_LIMIT`] bytes of an error response's body.
async fn error_body(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    error_body_text(body)
}
