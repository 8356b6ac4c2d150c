//! Serve a ZeroEventHub feed from an [axum] router.
//!
//! Implement [`DataReader`] over your event store, then mount it with
//! [`feed_route`] (a [`MethodRouter`] for your own [`Router`]) or
//! [`feed_router`] (a whole router at one path): give them
//! [`Feed::new`]`(reader, partition_count)`, or just the reader when it
//! knows its partition count (an event log: `feed_router("/feed", log)`).
//! Everything else (query validation, status codes, streaming, aborting a
//! failed response, long-polling) comes from the core crate's
//! [`Feed::respond`]; [`respond`] turns its answer into an axum response.
//!
//! | situation | answer |
//! | --- | --- |
//! | malformed request | 400, plain text naming the parameter |
//! | reader refuses before the first line ([`ReadError::bad_request`]) | 400 with its message |
//! | reader fails before the first line | 500, generic text; the cause is logged with `tracing` |
//! | reader fails after the response started | the body is aborted: the consumer sees an error, never a clean end |
//! | consumer disconnects | the reader's stream is dropped, also while the request waits |
//! | `wait=S` and no event after the cursors | held until an event arrives or `S` seconds (capped by [`Feed::with_max_wait`]) pass |
//! | a reader with a version 2 [discovery](zeroeventhub::server::DataReader::discovery): GET without `n` | 200, `application/json`, the discovery document |
//! | version 2 events, `GET {path}/events?token=..&partition=..&cursor=..` | as version 1, one partition, lines without `partition`; 409 for an old token; 404 for a reader without discovery |
//!
//! The route composes like any other: add your state, routes and tower
//! layers (authentication in front of it, for example).
//!
//! # Shutting down
//!
//! Long-polling requests are held for up to [`Feed::max_wait`]. Call
//! [`Feed::shut_down`] when the graceful shutdown begins: the waiting
//! requests are answered with their checkpoints at once, instead of
//! holding the shutdown up:
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use zeroeventhub::server::MemoryLog;
//! use zeroeventhub_axum::{Feed, feed_router};
//!
//! let feed = Feed::from(MemoryLog::new(4));
//! let app: axum::Router = feed_router("/feed", feed.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app)
//!     .with_graceful_shutdown(async move {
//!         let _ = tokio::signal::ctrl_c().await;
//!         feed.shut_down();
//!     })
//!     .await
//! # }
//! ```
//!
//! A graceful shutdown waits for every response in flight, however long a
//! slow consumer takes to read its page. To give it a deadline, race it
//! with a timer that starts at the signal; when the timer wins, return
//! (and end the process): the connections still open are closed mid-body,
//! so their consumers see a failed response and ask again, never a
//! complete one:
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::time::Duration;
//! use tokio::sync::Notify;
//! use zeroeventhub::server::MemoryLog;
//! use zeroeventhub_axum::{Feed, feed_router};
//!
//! let feed = Feed::from(MemoryLog::new(4));
//! let app: axum::Router = feed_router("/feed", feed.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let signalled = std::sync::Arc::new(Notify::new());
//! let server = axum::serve(listener, app).with_graceful_shutdown({
//!     let signalled = signalled.clone();
//!     async move {
//!         let _ = tokio::signal::ctrl_c().await;
//!         feed.shut_down(); // waiting requests are answered at once
//!         signalled.notify_one(); // the grace period starts
//!     }
//! });
//! tokio::select! {
//!     served = server => served?,
//!     // Five seconds after the signal, whatever is still streaming is cut.
//!     () = async {
//!         signalled.notified().await;
//!         tokio::time::sleep(Duration::from_secs(5)).await;
//!     } => eprintln!("responses still in flight after 5 s; cutting them off"),
//! }
//! # Ok(())
//! # }
//! ```
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

use axum::{
    Router,
    body::Body,
    extract::{RawQuery, State},
    http::{HeaderValue, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get},
};
/// The feed a route serves: a reader, its partition count and its
/// long-polling settings (the core crate's, re-exported).
pub use zeroeventhub::server::Feed;
use zeroeventhub::server::{DataReader, FeedResponse, ResponseBody};

#[cfg(feature = "test-support")]
pub use test_feed::{TEST_FEED_PATH, TestFeed};

/// The response to a request for `feed` with this query string (without
/// the `?`; `None` when the URL has none), as an axum [`Response`]: for
/// handlers of your own, for example one that checks permissions first.
///
/// A reader with a version 2 discovery gets it answered here for a query
/// without `n`; its events requests go to [`respond_events`].
pub async fn respond<R: DataReader>(feed: &Feed<R>, query: Option<&str>) -> Response {
    into_response(feed.respond(query.unwrap_or("")).await)
}

/// The response to a version 2 events request (`GET {feed}/events`) with
/// this query string, as an axum [`Response`].
pub async fn respond_events<R: DataReader>(feed: &Feed<R>, query: Option<&str>) -> Response {
    into_response(feed.respond_events(query.unwrap_or("")).await)
}

fn into_response(answer: FeedResponse<ResponseBody>) -> Response {
    match answer {
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
        FeedResponse::Discovery(json) => {
            let mut response = json.into_response();
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(zeroeventhub::server::DISCOVERY_CONTENT_TYPE),
            );
            response
        }
    }
}

/// For an authorization layer in front of the feed: `Some(403)` naming
/// the first partition the request asks for that `allowed` refuses, or
/// `None` to let it through. A query the feed would refuse anyway (no
/// cursor, a malformed one) is let through, to get the feed's own 400.
///
/// Scoped access, as an event hub with scopes has it: map the caller's
/// credentials to the partitions it may read, and check them here before
/// the reader is asked.
///
/// ```
/// use axum::{extract::Request, middleware::Next, response::{IntoResponse, Response}};
/// use zeroeventhub::server::MemoryLog;
///
/// /// Team A's token reads partitions 0 and 1 of a feed of 4; nobody else reads.
/// async fn scoped(request: Request, next: Next) -> Response {
///     let token = request.headers().get("authorization").and_then(|v| v.to_str().ok());
///     let allowed: &[u32] = match token {
///         Some("Bearer team-a") => &[0, 1],
///         _ => return axum::http::StatusCode::UNAUTHORIZED.into_response(),
///     };
///     let query = request.uri().query();
///     if let Some(refused) = zeroeventhub_axum::refuse_partitions_outside(query, 4, |p| allowed.contains(&p)) {
///         return refused;
///     }
///     next.run(request).await
/// }
///
/// let app: axum::Router = zeroeventhub_axum::feed_router("/feed", MemoryLog::new(4))
///     .layer(axum::middleware::from_fn(scoped));
/// ```
pub fn refuse_partitions_outside(
    query: Option<&str>,
    partition_count: u32,
    allowed: impl Fn(u32) -> bool,
) -> Option<Response> {
    let request = zeroeventhub::FeedRequest::parse(query.unwrap_or(""), partition_count).ok()?;
    let refused = request
        .cursors
        .iter()
        .map(zeroeventhub::Cursor::partition_id)
        .find(|&partition_id| !allowed(partition_id))?;
    tracing::debug!(
        partition = refused,
        "feed request refused: partition outside the caller's scope"
    );
    let message = format!("parameter cursor{refused}: not allowed to read partition {refused}");
    Some((axum::http::StatusCode::FORBIDDEN, message).into_response())
}

/// The handler: answers a `GET` with the feed.
///
/// Use it with [`Feed`] as state when you build the route yourself:
/// `get(feed_handler::<R>).with_state(Feed::new(reader, n))`.
pub async fn feed_handler<R: DataReader>(
    State(feed): State<Feed<R>>,
    RawQuery(query): RawQuery,
) -> Response {
    respond(&feed, query.as_deref()).await
}

/// The handler of version 2's events requests (`GET {feed}/events`).
pub async fn events_handler<R: DataReader>(
    State(feed): State<Feed<R>>,
    RawQuery(query): RawQuery,
) -> Response {
    respond_events(&feed, query.as_deref()).await
}

/// A `GET` route serving `feed`, for any router state `S`: an event log
/// that knows its partition count, or [`Feed::new`]`(reader, n)`. It
/// answers version 1 requests and, for a reader with a discovery, the
/// discovery; mount [`events_route`] at `{path}/events` for version 2's
/// events, or use [`feed_router`], which mounts both.
pub fn feed_route<R: DataReader, S>(feed: impl Into<Feed<R>>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    get(feed_handler::<R>).with_state(feed.into())
}

/// A `GET` route serving version 2's events requests of `feed`, to mount
/// at `{path}/events` beside [`feed_route`] at `{path}`.
pub fn events_route<R: DataReader, S>(feed: impl Into<Feed<R>>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    get(events_handler::<R>).with_state(feed.into())
}

/// A router serving `feed` at `path` (version 1, and version 2's
/// discovery) and at `{path}/events` (version 2's events), to merge or
/// nest into your own.
///
/// # Panics
///
/// As [`Router::route`]: when `path` is not a valid axum path (empty, not
/// starting with `/`, or with a malformed `{capture}`).
pub fn feed_router<R: DataReader, S>(path: &str, feed: impl Into<Feed<R>>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let feed = feed.into();
    let events = format!(
        "{}/{}",
        path.trim_end_matches('/'),
        zeroeventhub::v2::EVENTS_PATH
    );
    Router::new()
        .route(path, feed_route(feed.clone()))
        .route(&events, events_route(feed))
}
