//! From a request to a response, for any HTTP framework: the reader is
//! asked until it has an event or the wait is over.

use std::{collections::BTreeMap, pin::Pin};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::{StreamExt, stream};
use http::StatusCode;

use super::{DataReader, EncodeLines, ReadError, ResponseAborted, feed::Waiting};
use crate::{Cursor, FeedLine, FeedRequest};

/// The content type of a feed response.
pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// What to answer a feed request with.
#[derive(Debug)]
pub enum FeedResponse<B> {
    /// Refuse with `status` (400 or 500) and a plain-text `message`.
    Refused {
        /// The HTTP status code.
        status: StatusCode,
        /// The body: the client's fault named, or a generic text for the
        /// producer's own failures.
        message: String,
    },
    /// Answer 200 with [`CONTENT_TYPE`] and stream this body. The body ends
    /// with [`ResponseAborted`] when the reader fails after the start; the
    /// framework must then abort the response, not end it cleanly.
    Stream(B),
}

/// The body of a feed response: chunks of encoded lines, ending with
/// [`ResponseAborted`] when the reader fails after the start.
pub type ResponseBody =
    Pin<Box<dyn Stream<Item = Result<Bytes, ResponseAborted>> + Send + 'static>>;

/// Answers a validated request: reads once, and while the reader finds no
/// event and `waiting` allows, waits for a change and reads again from the
/// checkpoints the last read ended at. When the wait is over (time up, or
/// the producer shutting down), the reader is asked once more: a reader
/// without change notifications sees its new events then.
///
/// Only the latest checkpoint of each partition before the first event is
/// kept, so memory is bounded by the cursors however often the reader is
/// asked; from the first event on, the reader's lines stream through.
pub(super) async fn answer<R: DataReader>(
    reader: &R,
    mut request: FeedRequest,
    mut waiting: Option<Waiting<'_>>,
) -> FeedResponse<ResponseBody> {
    let mut last_read = waiting.is_none();
    loop {
        let mut lines = Box::pin(reader.read(request.clone()).fuse());
        let mut checkpoints = BTreeMap::new();
        let first_event = loop {
            match lines.next().await {
                None => break None,
                Some(Ok(FeedLine::Checkpoint(cursor))) => {
                    checkpoints.insert(cursor.partition_id(), cursor);
                }
                Some(Ok(event @ FeedLine::Event(_))) => break Some(event),
                Some(Err(error)) => return refusal(&error),
            }
        };
        match waiting.as_mut() {
            Some(waiting) if !last_read && first_event.is_none() => {
                resume_from(&mut request, checkpoints.values());
                last_read = !waiting.changed().await;
            }
            _ => {
                let head = checkpoints
                    .into_values()
                    .map(FeedLine::Checkpoint)
                    .chain(first_event)
                    .map(Ok);
                let body = EncodeLines::new(stream::iter(head).chain(lines));
                return FeedResponse::Stream(Box::pin(body));
            }
        }
    }
}

/// Moves each partition's cursor in `request` to where the reader's last
/// checkpoint for it says, so that `_last` is not read anew after a wait.
fn resume_from<'a>(request: &mut FeedRequest, checkpoints: impl Iterator<Item = &'a Cursor>) {
    for checkpoint in checkpoints {
        if let Some(cursor) = request
            .cursors
            .iter_mut()
            .find(|cursor| cursor.partition_id() == checkpoint.partition_id())
        {
            cursor.clone_from(checkpoint);
        }
    }
}

/// The refusal for a reader's error before the response started.
fn refusal<B>(error: &ReadError) -> FeedResponse<B> {
    match error.client_message() {
        Some(message) => {
            tracing::debug!(%message, "feed request refused by the data reader");
            FeedResponse::Refused {
                status: StatusCode::BAD_REQUEST,
                message: message.to_owned(),
            }
        }
        None => {
            tracing::error!(%error, "feed request failed: the data reader failed");
            FeedResponse::Refused {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "internal server error".to_owned(),
            }
        }
    }
}
