//! The producer side (feature `server`): the [`DataReader`] a producer
//! implements, and everything an HTTP framework adapter needs around it.
//!
//! Framework adapters (such as `zeroeventhub-axum`) hold a [`Feed`], call
//! [`Feed::respond`] with the request's query string and turn the
//! [`FeedResponse`] into their own response type: a refusal with its status
//! and message, or a stream of body chunks.

mod auth;
mod changes;
mod encode;
mod error;
mod feed;
mod listing;
mod memory;
mod position;
mod respond;

use std::sync::Arc;

use futures_core::Stream;
use serde::Serialize;

pub use auth::{BearerTokens, bearer_token};
pub use changes::{ChangeNotifier, ChangeSubscription};
pub use encode::{CHUNK_TARGET, EncodeLines};
pub use error::{ReadError, ResponseAborted};
pub use feed::{DEFAULT_MAX_WAIT, Feed};
pub use memory::{AppendError, DEFAULT_PAGE_SIZE, MemoryLog, SplitError, UnknownPartition};
pub use position::{parse_position, position_cursor};
pub use respond::{CONTENT_TYPE, DISCOVERY_CONTENT_TYPE, FeedResponse, ResponseBody};

use crate::{FeedLine, FeedRequest, v2::Discovery};

/// The producer's source of events: given a validated request, a stream of
/// events and checkpoints.
///
/// What a reader owes its consumers (the spec's rules):
///
/// - after the events of a partition, a checkpoint whose cursor resumes
///   right after them; this crate's readers end every response with a
///   checkpoint for each requested partition, even one without events, so
///   that `_first` and `_last` become concrete cursors at once;
/// - `_first` reads from the beginning, `_last` from "about now";
/// - about `page_size_hint` events at most (a hint, `None` = your default);
/// - only the requested headers ([`HeaderSelection::select`](crate::HeaderSelection::select)).
///
/// The request is validated before the reader sees it: the partition count
/// matches, every cursor is for a partition in `0..n`, none is repeated.
/// A cursor the reader does not recognise is the client's fault: yield
/// [`ReadError::bad_request`] as the first item (answered with 400).
/// Any other error before the first line is answered with 500; after it,
/// the response is aborted.
///
/// The stream is dropped as soon as the consumer disconnects.
///
/// # Examples
///
/// A reader over a vector, in a few lines with `async-stream`:
///
/// ```
/// use std::sync::Arc;
/// use futures_core::Stream;
/// use zeroeventhub::{server::{DataReader, ReadError}, Cursor, Event, FeedLine, FeedRequest};
///
/// #[derive(Clone)]
/// struct Log(Arc<Vec<serde_json::Value>>); // one partition, cursor = position
///
/// impl DataReader for Log {
///     type Data = Box<serde_json::value::RawValue>;
///
///     fn read(&self, request: FeedRequest)
///         -> impl Stream<Item = Result<FeedLine, ReadError>> + Send + 'static
///     {
///         let log = self.0.clone();
///         async_stream::try_stream! {
///             for cursor in request.cursors {
///                 let start = match cursor.as_str() {
///                     "_first" => 0,
///                     "_last" => log.len(),
///                     other => other.parse().ok().filter(|&n| n <= log.len()).ok_or_else(|| {
///                         ReadError::bad_request(format!("unknown cursor {other:?}"))
///                     })?,
///                 };
///                 let end = log.len().min(start + request.page_size_hint.unwrap_or(100) as usize);
///                 for data in &log[start..end] {
///                     yield FeedLine::Event(Event::from_data(0, data)?);
///                 }
///                 yield FeedLine::Checkpoint(Cursor::new(0, end.to_string()).unwrap());
///             }
///         }
///     }
/// }
/// ```
pub trait DataReader: Send + Sync + 'static {
    /// The type of the events' data: `Box<RawValue>` for JSON text kept as
    /// is (what [`Event::from_data`](crate::Event::from_data) makes), or
    /// your own type, which the encoder then serializes straight into the
    /// response body, without an intermediate string.
    type Data: Serialize + Send + 'static;

    /// The lines answering `request`, in order.
    fn read(
        &self,
        request: FeedRequest,
    ) -> impl Stream<Item = Result<FeedLine<Self::Data>, ReadError>> + Send + 'static;

    /// The signal that wakes long-polling requests (`wait`) when new events
    /// may have arrived; see [`ChangeNotifier`]. `None` (the default): a
    /// request that found nothing is read again only when its wait ends,
    /// so long-polling still works, with the wait as its latency.
    ///
    /// Called for each waiting request, inside the server's runtime: a
    /// reader may start its change check (a listening connection, a
    /// poller) on the first call.
    fn changes(&self) -> Option<&ChangeNotifier> {
        None
    }

    /// Version 2 (FeedAPI): the discovery document the feed serves now,
    /// its token and its partitions. `None` (the default): the feed speaks
    /// version 1 only, and a GET without parameters gets 400, as version
    /// 1 has it.
    ///
    /// With a discovery, a version 2 events request is checked against it
    /// (the token, else 409; the partition listed, else 400) and then
    /// given to [`read`](DataReader::read) as a [`FeedRequest`] of one
    /// cursor, without headers, whose `partition_count` is one more than
    /// the highest listed id. Asked for every request: keep it cheap, and
    /// make a new one only when the partitions change (a request then
    /// costs a reference count, not a copy of every partition).
    fn discovery(&self) -> Option<Arc<Discovery>> {
        None
    }
}

/// A reader that knows its feed's partition count (an event log): an
/// adapter then needs only the reader (`feed_router(path, log)` in
/// `zeroeventhub-axum`), not the count again.
pub trait Partitioned {
    /// The feed's partition count.
    fn partition_count(&self) -> u32;
}
