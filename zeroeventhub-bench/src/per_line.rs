//! The per-line framing variant of the producer: one HTTP body chunk per
//! feed line, as the Python reference sends them, instead of the library's
//! coalesced chunks of about 32 KiB.

use axum::{
    Router,
    body::Body,
    extract::RawQuery,
    http::{HeaderValue, StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;
use futures_util::StreamExt;
use zeroeventhub::{
    FeedRequest,
    ndjson::encode_line,
    server::{DataReader, ResponseAborted},
};

use crate::{reader::BenchFeed, workload::FEED_PATH};

/// A router serving `feed` at [`FEED_PATH`], one body chunk per line.
///
/// Simpler than the library's handler on purpose: a refusal by the reader
/// (an unknown cursor) aborts the body instead of answering 400.
pub fn per_line_router(feed: BenchFeed) -> Router {
    Router::new().route(
        FEED_PATH,
        get(move |RawQuery(query): RawQuery| per_line_response(feed, query)),
    )
}

async fn per_line_response(feed: BenchFeed, query: Option<String>) -> Response {
    let request = match FeedRequest::parse(query.as_deref().unwrap_or(""), 1) {
        Ok(request) => request,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    let chunks = feed.read(request).map(|line| {
        let line = line.map_err(|_| ResponseAborted)?;
        let mut chunk = Vec::with_capacity(256);
        encode_line(&line, &mut chunk).map_err(|_| ResponseAborted)?;
        Ok::<_, ResponseAborted>(Bytes::from(chunk))
    });
    let mut response = Body::from_stream(chunks).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(zeroeventhub::server::CONTENT_TYPE),
    );
    response
}
