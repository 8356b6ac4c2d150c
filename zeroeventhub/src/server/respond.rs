//! From a query string to a response, for any HTTP framework.

use bytes::Bytes;
use futures_core::Stream;
use futures_util::{StreamExt, stream};
use http::StatusCode;

use super::{DataReader, EncodeLines, ResponseAborted};
use crate::FeedRequest;

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

/// Answers a feed request: parses and validates `query` for a feed of
/// `partition_count` partitions, asks `reader`, and waits for the first
/// line so that a refusal can still get its status.
///
/// A bad request gets 400 with a message naming the parameter; a reader
/// refusal ([`ReadError::bad_request`](super::ReadError::bad_request))
/// before the first line gets 400 with its message; a reader failure
/// before the first line is logged and gets 500 with a generic message.
pub async fn respond<R: DataReader>(
    reader: &R,
    partition_count: u32,
    query: &str,
) -> FeedResponse<impl Stream<Item = Result<Bytes, ResponseAborted>> + Send + 'static> {
    let request = match FeedRequest::parse(query, partition_count) {
        Ok(request) => request,
        Err(error) => {
            tracing::debug!(%error, "feed request refused");
            return FeedResponse::Refused {
                status: error.status(),
                message: error.to_string(),
            };
        }
    };
    tracing::debug!(cursors = ?request.cursors, page_size_hint = ?request.page_size_hint, "serving feed request");
    let mut lines = Box::pin(reader.read(request));
    let first = match lines.next().await {
        Some(Err(error)) => {
            return match error.client_message() {
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
            };
        }
        first => first,
    };
    FeedResponse::Stream(EncodeLines::new(stream::iter(first).chain(lines)))
}
