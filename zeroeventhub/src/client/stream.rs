//! The stream of lines of one response.

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use futures_core::Stream;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::{Error, request::Requested};
use crate::{
    FeedLine,
    ndjson::{FeedLines, FeedLinesError},
};

pub(super) type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// The lines of one response, decoded as the body arrives; returned by
/// [`FetchBuilder::send`](super::FetchBuilder::send).
///
/// Memory stays bounded by the longest line, whatever the size of the
/// response. The stream ends after the first error. Dropping it closes the
/// connection and cancels the request.
///
/// `EventStream<T>` (from [`FetchBuilder::send_as`](super::FetchBuilder::send_as))
/// yields events whose data was deserialized into `T` as each line was
/// parsed.
#[must_use = "streams do nothing unless polled"]
pub struct EventStream<D = Box<RawValue>> {
    lines: Option<FeedLines<Body, D>>,
    requested: Requested,
}

impl<D> std::fmt::Debug for EventStream<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("requested", &self.requested)
            .finish_non_exhaustive()
    }
}

impl<D> EventStream<D> {
    /// A stream over `body`, accepting lines for the `requested`
    /// partitions only (sorted).
    pub(super) fn new(lines: FeedLines<Body, D>, requested: Requested) -> Self {
        EventStream {
            lines: Some(lines),
            requested,
        }
    }

    /// A stream with nothing in it (a `204 No Content` response).
    pub(super) fn empty() -> Self {
        EventStream {
            lines: None,
            requested: Requested::default(),
        }
    }
}

impl<D: DeserializeOwned> Stream for EventStream<D> {
    type Item = Result<FeedLine<D>, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(lines) = this.lines.as_mut() else {
            return Poll::Ready(None);
        };
        let result = match ready!(Pin::new(&mut *lines).poll_next(cx)) {
            None => this.requested.finish().err().map(Err),
            Some(Ok(line)) => Some(this.requested.check(line, lines.decoder().lines_read())),
            Some(Err(FeedLinesError::Body(error))) => Some(Err(Error::body_interrupted(error))),
            Some(Err(FeedLinesError::Decode(error))) => Some(Err(Error::decode(error))),
        };
        if !matches!(result, Some(Ok(_))) {
            // The end, or an error, which ends the stream and the request.
            this.lines = None;
        }
        Poll::Ready(result)
    }
}
