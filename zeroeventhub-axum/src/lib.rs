//! Serve a ZeroEventHub feed from an [axum] router.
//!
//! Implement [`DataReader`] over your event store, then mount it with
//! [`feed_route`] (a [`MethodRouter`] for your own [`Router`]) or
//! [`feed_router`] (a whole router at one path): give them
//! [`Feed::new`]`(reader, partition_count)`, or just the reader when it
//! knows its partition count (an event log: `feed_router("/feed", log)`). Everything else (query
//! validation, status codes, streaming, aborting a failed response) comes
//! from the core crate's [`respond`].
//!
//! | situation | answer |
//! | --- | --- |
//! | malformed request | 400, plain text naming the parameter |
//! | reader refuses before the first line ([`ReadError::bad_request`]) | 400 with its message |
//! | reader fails before the first line | 500, generic text; the cause is logged with `tracing` |
//! | reader fails after the response started | the body is aborted: the consumer sees an error, never a clean end |
//! | consumer disconnects | the reader's stream is dropped |
//!
//! The route composes like any other: add your state, routes and tower
//! layers (authentication in front of it, for example).
//!
//! # Examples
//!
//! ```
//! use axum::Router;
//! use zeroeventhub_axum::Feed;
//! use futures_util::stream;
//! use zeroeventhub::{server::{DataReader, ReadError}, FeedLine, FeedRequest};
//!
//! #[derive(Clone)]
//! struct NoEvents;
//!
//! impl DataReader for NoEvents {
//!     type Data = (); // never sends an event
//!
//!     fn read(&self, request: FeedRequest)
//!         -> impl futures_util::Stream<Item = Result<FeedLine<()>, ReadError>> + Send + 'static
//!     {
//!         // Just a checkpoint for each requested partition, at its cursor.
//!         stream::iter(request.cursors.into_iter().map(|c| Ok(FeedLine::Checkpoint(c))))
//!     }
//! }
//!
//! let app: Router = Router::new()
//!     .route("/person/feed/v1", zeroeventhub_axum::feed_route(Feed::new(NoEvents, 4)))
//!     .route("/health", axum::routing::get(|| async { "ok" }));
//! ```
//!
//! [`DataReader`]: zeroeventhub::server::DataReader
//! [`ReadError::bad_request`]: zeroeventhub::server::ReadError::bad_request
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `test-support` | no | `TestFeed`: a reader served on a loopback port for tests, stopped on drop |
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![deny(missing_docs)]

#[cfg(feature = "test-support")]
mod test_feed;

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    extract::{RawQuery, State},
    http::{HeaderValue, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get},
};
use zeroeventhub::server::{DataReader, FeedResponse, Partitioned, respond};

#[cfg(feature = "test-support")]
pub use test_feed::{TEST_FEED_PATH, TestFeed};

/// A feed: a [`DataReader`] and the producer's partition count. Cheap to
/// clone; usable as axum state.
#[derive(Debug)]
pub struct Feed<R> {
    reader: Arc<R>,
    partition_count: u32,
}

impl<R> Clone for Feed<R> {
    fn clone(&self) -> Self {
        Feed {
            reader: Arc::clone(&self.reader),
            partition_count: self.partition_count,
        }
    }
}

impl<R: DataReader> Feed<R> {
    /// A feed of `partition_count` partitions served by `reader`.
    pub fn new(reader: R, partition_count: u32) -> Self {
        Feed {
            reader: Arc::new(reader),
            partition_count,
        }
    }

    /// The feed's partition count.
    pub fn partition_count(&self) -> u32 {
        self.partition_count
    }

    /// The response to a request with this query string (without the
    /// `?`; `None` when the URL has none). For handlers of your own, for
    /// example one that checks permissions first.
    pub async fn respond(&self, query: Option<&str>) -> Response {
        match respond(&*self.reader, self.partition_count, query.unwrap_or("")).await {
            FeedResponse::Refused { status, message } => (status, message).into_response(),
            FeedResponse::Stream(chunks) => {
                // An error item makes hyper abort the response, so the
                // consumer never mistakes a failed response for a whole one.
                let mut response = Body::from_stream(chunks).into_response();
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(zeroeventhub::server::CONTENT_TYPE),
                );
                response
            }
        }
    }
}

/// A reader that knows its partition count (an event log such as
/// `MemoryLog` or zeroeventhub-sqlx's `EventLog`) is a feed by itself.
impl<R: DataReader + Partitioned> From<R> for Feed<R> {
    fn from(log: R) -> Self {
        let partition_count = log.partition_count();
        Feed::new(log, partition_count)
    }
}

/// The handler: answers a `GET` with the feed.
///
/// Use it with [`Feed`] as state when you build the route yourself:
/// `get(feed_handler::<R>).with_state(Feed::new(reader, n))`.
pub async fn feed_handler<R: DataReader>(
    State(feed): State<Feed<R>>,
    RawQuery(query): RawQuery,
) -> Response {
    feed.respond(query.as_deref()).await
}

/// A `GET` route serving `feed`, for any router state `S`: an event log
/// that knows its partition count, or [`Feed::new`]`(reader, n)`.
pub fn feed_route<R: DataReader, S>(feed: impl Into<Feed<R>>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    get(feed_handler::<R>).with_state(feed.into())
}

/// A router serving `feed` at `path`, to merge or nest into your own.
///
/// # Panics
///
/// As [`Router::route`]: when `path` is not a valid axum path (empty, not
/// starting with `/`, or with a malformed `{capture}`).
pub fn feed_router<R: DataReader, S>(path: &str, feed: impl Into<Feed<R>>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new().route(path, feed_route(feed))
}
