//! The client against the axum adapter, over a real loopback socket, when
//! things go wrong: bad requests, producers failing before or in the
//! middle of a response, consumers giving up (the server then drops the
//! reader's stream), and responses a well-behaved producer would not send
//! (empty, for a partition not requested, error bodies, lines too long).

mod support;

use std::time::Duration;

use axum::http::{StatusCode, header::CONTENT_TYPE};
use futures_util::{Stream, TryStreamExt};
use serde_json::json;
use support::{
    FIXTURE_PARTITIONS, client,
    feeds::{FEED, NO_HANG, cursor, drain, serve_handler, serve_log},
    fixture_log,
};
use tokio::sync::mpsc;
use zeroeventhub::{
    Cursor, Event, FeedLine, FeedRequest, Page,
    client::{Client, ErrorKind},
    ndjson::{DecodeError, DecodeErrorKind},
    server::{DataReader, MemoryLog, ReadError},
};
use zeroeventhub_axum::{TestFeed, feed_router};

// ---------------------------------------------------------------------
// Bad requests
// ---------------------------------------------------------------------

#[tokio::test]
async fn client_assuming_another_partition_count_gets_400_naming_n() {
    let server = serve_log(fixture_log());
    let client = client(&server, FEED, 4);

    let error = client.fetch(&[Cursor::first(0)]).page().await.unwrap_err();

    let (Some(status), Some(body)) = (error.status(), error.body()) else {
        panic!("expected a status error, got {error:?}");
    };
    assert_eq!(status.as_u16(), 400);
    assert_eq!(body, "parameter n is 4 but the feed has 3 partitions");
    assert!(!error.is_transient());
}

/// Every bad request of the core's table, through the real route (in
/// process): 400, plain text naming the parameter. The parser's own tests
/// run the same table; this checks that the route answers with it.
#[tokio::test]
async fn every_bad_request_of_the_table_is_400_naming_its_parameter() {
    use tower::ServiceExt;

    let table = include_str!("../zeroeventhub/tests/fixtures/bad_requests.txt");
    let cases: Vec<&str> = table.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(cases.len() > 30, "the fixture is read");
    assert_eq!(
        FIXTURE_PARTITIONS, 3,
        "the table is for a feed of 3 partitions"
    );
    // Version 1's table: a dual producer answers a GET without `n` with its
    // discovery instead (tests/version_2.rs).
    let app = feed_router(
        FEED,
        zeroeventhub_axum::Feed::new(support::Version1Only(fixture_log()), FIXTURE_PARTITIONS),
    );
    for case in cases {
        let mut fields = case.split('\t');
        let (query, message) = (fields.next().unwrap(), fields.nth(1).unwrap());
        let request = axum::http::Request::get(format!("{FEED}?{query}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let content_type = response.headers().get("content-type").unwrap();
        assert!(
            content_type.to_str().unwrap().starts_with("text/plain"),
            "{query}"
        );
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            body.contains(message),
            "{query}: {body:?} should say {message:?}"
        );
    }
}

#[tokio::test]
async fn reader_refusing_an_unknown_cursor_gives_400_with_its_message() {
    let server = serve_log(fixture_log());
    let client = client(&server, FEED, FIXTURE_PARTITIONS);

    let error = client.fetch(&[cursor(0, "99")]).page().await.unwrap_err();

    let (Some(status), Some(body)) = (error.status(), error.body()) else {
        panic!("expected a status error, got {error:?}");
    };
    assert_eq!(status.as_u16(), 400);
    assert!(body.starts_with("parameter cursor0: \"99\""), "{body}");
}

// ---------------------------------------------------------------------
// Producer failures and cancellation
// ---------------------------------------------------------------------

/// An internal error text that must never reach a consumer.
const SECRET: &str = "connect to postgres://feed:hunter2@10.0.0.7 refused";

/// A reader of partition 0 that sends `events` events, each followed by
/// its checkpoint, waits `pause`, then fails with [`SECRET`].
#[derive(Debug, Clone)]
struct FailingReader {
    events: usize,
    pause: Duration,
}

impl DataReader for FailingReader {
    type Data = Box<serde_json::value::RawValue>;

    fn read(
        &self,
        _request: FeedRequest,
    ) -> impl Stream<Item = Result<FeedLine, ReadError>> + Send + 'static {
        let FailingReader { events, pause } = self.clone();
        async_stream::stream! {
            for n in 0..events {
                yield Ok(FeedLine::Event(Event::from_data(0, &json!({"n": n, "pad": "x".repeat(64)})).unwrap()));
                yield Ok(FeedLine::Checkpoint(Cursor::new(0, (n + 1).to_string()).unwrap()));
            }
            tokio::time::sleep(pause).await;
            yield Err(ReadError::internal(SECRET));
        }
    }
}

#[tokio::test]
async fn reader_failing_before_the_first_line_gives_500_without_internal_details() {
    let reader = FailingReader {
        events: 0,
        pause: Duration::ZERO,
    };
    let server = TestFeed::serve_router(feed_router(FEED, zeroeventhub_axum::Feed::new(reader, 1)));
    let client = client(&server, FEED, 1);

    let error = client.fetch(&[Cursor::first(0)]).page().await.unwrap_err();

    let (Some(status), Some(body)) = (error.status(), error.body()) else {
        panic!("expected a status error, got {error:?}");
    };
    assert_eq!(status.as_u16(), 500);
    assert_eq!(body, "internal server error");
    assert!(!error.to_string().contains("hunter2"), "{error}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn reader_failing_mid_response_cuts_the_body_off_after_the_lines_before_it() {
    // Well over one chunk of the encoder, and a pause, so that the
    // response has really started before the failure.
    const EVENTS: usize = 2_000;
    let reader = FailingReader {
        events: EVENTS,
        pause: Duration::from_millis(100),
    };
    let server = TestFeed::serve_router(feed_router(FEED, zeroeventhub_axum::Feed::new(reader, 1)));
    let client = client(&server, FEED, 1);

    let lines = client.fetch(&[Cursor::first(0)]).send().await.unwrap();
    let mut items = drain(lines).await;

    let last = items.pop().expect("at least the error");
    let error = last.expect_err("the response must not end cleanly");
    assert_eq!(error.kind(), ErrorKind::BodyInterrupted, "{error:?}");
    assert!(error.is_transient());
    assert_eq!(items.len(), 2 * EVENTS, "every line before the failure");
    let last_line = items.pop().unwrap().unwrap();
    assert_eq!(
        last_line,
        FeedLine::Checkpoint(cursor(0, &EVENTS.to_string()))
    );

    // Collected into a page, the cut-off response is an error, not a page.
    let error = client.fetch(&[Cursor::first(0)]).page().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BodyInterrupted, "{error:?}");
}

#[tokio::test]
async fn reader_failing_right_after_the_first_lines_never_looks_like_a_clean_end() {
    let reader = FailingReader {
        events: 2,
        pause: Duration::ZERO,
    };
    let server = TestFeed::serve_router(feed_router(FEED, zeroeventhub_axum::Feed::new(reader, 1)));
    let client = client(&server, FEED, 1);

    let result = client.fetch(&[Cursor::first(0)]).page().await;

    // The body may be cut before or after its first bytes: either way an
    // error, never a page.
    let error = result.expect_err("a failed response must not give a page");
    assert!(
        matches!(
            error.kind(),
            ErrorKind::BodyInterrupted | ErrorKind::Transport
        ),
        "{error:?}"
    );
}

/// Sends on its channel when dropped.
#[derive(Debug)]
struct DropSignal(mpsc::UnboundedSender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// A reader of partition 0 whose stream never ends: it sends one
/// checkpoint first, or nothing at all. It reports each call on `called`,
/// and its stream holds a [`DropSignal`].
#[derive(Debug)]
struct EndlessReader {
    first_line: bool,
    called: mpsc::UnboundedSender<()>,
    dropped: mpsc::UnboundedSender<()>,
}

impl DataReader for EndlessReader {
    type Data = Box<serde_json::value::RawValue>;

    fn read(
        &self,
        _request: FeedRequest,
    ) -> impl Stream<Item = Result<FeedLine, ReadError>> + Send + 'static {
        let _ = self.called.send(());
        let guard = DropSignal(self.dropped.clone());
        let first_line = self.first_line;
        async_stream::stream! {
            let _guard = guard;
            if first_line {
                yield Ok(FeedLine::Checkpoint(Cursor::new(0, "1").unwrap()));
            }
            std::future::pending::<()>().await;
        }
    }
}

/// Serves an [`EndlessReader`]; returns the server and the receivers of
/// its `called` and `dropped` signals.
async fn serve_endless(
    first_line: bool,
) -> (
    TestFeed,
    mpsc::UnboundedReceiver<()>,
    mpsc::UnboundedReceiver<()>,
) {
    let (called, on_call) = mpsc::unbounded_channel();
    let (dropped, on_drop) = mpsc::unbounded_channel();
    let reader = EndlessReader {
        first_line,
        called,
        dropped,
    };
    let server = TestFeed::serve_router(feed_router(FEED, zeroeventhub_axum::Feed::new(reader, 1)));
    (server, on_call, on_drop)
}

#[tokio::test]
async fn dropping_the_event_stream_makes_the_server_drop_the_readers_stream() {
    let (server, _on_call, mut on_drop) = serve_endless(true).await;
    let client = client(&server, FEED, 1);

    let mut lines = client.fetch(&[Cursor::first(0)]).send().await.unwrap();
    let first = tokio::time::timeout(NO_HANG, lines.try_next())
        .await
        .expect("the first line")
        .unwrap();
    assert_eq!(first, Some(FeedLine::Checkpoint(cursor(0, "1"))));
    assert!(on_drop.try_recv().is_err(), "dropped while still streaming");

    drop(lines);

    tokio::time::timeout(NO_HANG, on_drop.recv())
        .await
        .expect("the server kept the reader's stream after the client left")
        .expect("a drop signal");
}

#[tokio::test]
async fn giving_up_before_the_first_line_makes_the_server_drop_the_readers_stream() {
    let (server, mut on_call, mut on_drop) = serve_endless(false).await;
    let client = client(&server, FEED, 1);

    // The producer has nothing yet (think of a long poll): the consumer
    // waits for the response's head, then gives up.
    let fetch = tokio::spawn(async move { client.fetch(&[Cursor::first(0)]).send().await });
    tokio::time::timeout(NO_HANG, on_call.recv())
        .await
        .expect("the reader was not called")
        .expect("a call signal");
    assert!(on_drop.try_recv().is_err(), "dropped while still waiting");
    fetch.abort();
    assert!(fetch.await.unwrap_err().is_cancelled());

    tokio::time::timeout(NO_HANG, on_drop.recv())
        .await
        .expect("the server kept the reader's stream after the client left")
        .expect("a drop signal");
}

// ---------------------------------------------------------------------
// Responses as the client sees them
// ---------------------------------------------------------------------

#[tokio::test]
async fn feed_response_has_the_ndjson_content_type() {
    let server = serve_log(fixture_log());

    let response = reqwest::get(server.url_of(&format!("{FEED}?n=3&cursor1=_first")))
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    assert_eq!(
        response.text().await.unwrap(),
        "{\"partition\":1,\"data\":42}\n\
         {\"partition\":1,\"cursor\":\"1\"}\n\
         {\"partition\":1,\"data\":null}\n\
         {\"partition\":1,\"cursor\":\"2\"}\n\
         {\"partition\":1,\"cursor\":\"2\"}\n"
    );
}

#[tokio::test]
async fn no_content_response_is_an_empty_page() {
    let server = serve_handler(|| async { StatusCode::NO_CONTENT });
    let client = client(&server, FEED, 1);

    let page = client.fetch(&[Cursor::first(0)]).page().await.unwrap();

    assert_eq!(page, Page::new());
}

#[tokio::test]
async fn empty_ok_body_is_an_empty_page() {
    let server = serve_handler(|| async { ([(CONTENT_TYPE, "application/x-ndjson")], "") });
    let client = client(&server, FEED, 1);

    let page = client.fetch(&[Cursor::first(0)]).page().await.unwrap();

    assert_eq!(page, Page::new());
}

#[tokio::test]
async fn line_for_a_partition_not_requested_is_an_unexpected_partition() {
    let server = serve_handler(|| async {
        "{\"partition\":0,\"cursor\":\"1\"}\n{\"partition\":2,\"data\":1}\n{\"partition\":0,\"cursor\":\"2\"}\n"
    });
    let client = client(&server, FEED, 3);

    let lines = client.fetch(&[Cursor::first(0)]).send().await.unwrap();
    let items = drain(lines).await;

    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(
        items[0].as_ref().unwrap(),
        &FeedLine::Checkpoint(cursor(0, "1"))
    );
    let error = items[1].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnexpectedPartition, "{error:?}");
    assert_eq!(error.line(), Some(2));
    assert_eq!(
        error.to_string(),
        "malformed response: line 2: partition 2 was not requested"
    );
    assert!(!error.is_transient());
}

#[tokio::test]
async fn error_status_keeps_at_most_1_kib_of_a_long_body() {
    let server = serve_handler(|| async { (StatusCode::SERVICE_UNAVAILABLE, "x".repeat(100_000)) });
    let client = client(&server, FEED, 1);

    let error = client.fetch(&[Cursor::first(0)]).page().await.unwrap_err();

    let (Some(status), Some(body)) = (error.status(), error.body()) else {
        panic!("expected a status error, got {error:?}");
    };
    assert_eq!(status.as_u16(), 503);
    assert_eq!(body, "x".repeat(1024));
    assert!(error.is_transient());
}

#[tokio::test]
async fn error_body_cut_inside_a_character_drops_the_partial_character() {
    // 1 + 2 * 600 bytes: the 1 KiB limit falls inside an "é".
    let server =
        serve_handler(|| async { (StatusCode::FORBIDDEN, format!("a{}", "é".repeat(600))) });
    let client = client(&server, FEED, 1);

    let error = client.fetch(&[Cursor::first(0)]).page().await.unwrap_err();

    let (Some(status), Some(body)) = (error.status(), error.body()) else {
        panic!("expected a status error, got {error:?}");
    };
    assert_eq!(status.as_u16(), 403);
    assert_eq!(body, format!("a{}", "é".repeat(511)));
}

#[tokio::test]
async fn line_longer_than_the_maximum_line_length_is_a_decode_error() {
    let log = MemoryLog::new(1);
    log.append(Event::from_data(0, &"x".repeat(1_000)).unwrap())
        .unwrap();
    let server = serve_log(log);
    let client = Client::builder(&server.url_of(FEED), 1)
        .max_line_length(100)
        .build()
        .unwrap();

    let lines = client.fetch(&[Cursor::first(0)]).send().await.unwrap();
    let items = drain(lines).await;

    assert_eq!(items.len(), 1, "{items:?}");
    let Err(error) = &items[0] else {
        panic!("expected a decode error, got {items:?}");
    };
    assert!(error.is_decode(), "{error:?}");
    assert_eq!(error.line(), Some(1));
    let error: &DecodeError = std::error::Error::source(error)
        .and_then(|source| source.downcast_ref())
        .expect("the decode error is the source");
    assert!(
        matches!(error.kind(), DecodeErrorKind::LineTooLong { max: 100 }),
        "{error}"
    );
}
