//! Serving feeds to the client tests (`client_*.rs`): the feed's path, a
//! server of a `MemoryLog` or of a hand-made route, and draining an event
//! stream.

use std::time::Duration;

use axum::{Router, routing::get};
use futures_util::TryStreamExt;
use zeroeventhub::{
    Cursor, FeedLine,
    client::{Error, EventStream},
    server::MemoryLog,
};
use zeroeventhub_axum::{TestFeed, feed_router};

/// The path the feed is served at.
pub(crate) const FEED: &str = "/person/feed/v1";

/// A generous bound, only so that a broken test fails instead of hanging.
pub(crate) const NO_HANG: Duration = Duration::from_secs(10);

/// Serves `log` at [`FEED`] on a fresh loopback server.
pub(crate) fn serve_log(log: MemoryLog) -> TestFeed {
    let partition_count = log.partition_count();
    TestFeed::serve_router(feed_router(
        FEED,
        zeroeventhub_axum::Feed::new(log, partition_count),
    ))
}

/// Serves a single hand-made route at [`FEED`], for responses a
/// well-behaved producer would not send.
pub(crate) fn serve_handler<H, T>(handler: H) -> TestFeed
where
    H: axum::handler::Handler<T, ()>,
    T: 'static,
{
    TestFeed::serve_router(Router::new().route(FEED, get(handler)))
}

/// Every item of `lines`, until the stream ends.
pub(crate) async fn drain(mut lines: EventStream) -> Vec<Result<FeedLine, Error>> {
    let mut items = Vec::new();
    loop {
        match tokio::time::timeout(NO_HANG, lines.try_next()).await {
            Err(_) => panic!("the event stream neither ended nor failed"),
            Ok(Ok(Some(line))) => items.push(Ok(line)),
            Ok(Ok(None)) => return items,
            Ok(Err(error)) => {
                items.push(Err(error));
                // An error ends the stream.
                assert!(matches!(lines.try_next().await, Ok(None)));
                return items;
            }
        }
    }
}

pub(crate) fn cursor(partition_id: u32, value: &str) -> Cursor {
    Cursor::new(partition_id, value).unwrap()
}
