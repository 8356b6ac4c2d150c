//! The client against the axum adapter, over a real loopback socket.

mod support;

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::{Request, State},
    http::{
        StatusCode,
        header::{AUTHORIZATION, CONTENT_TYPE},
    },
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use futures_util::{Stream, TryStreamExt};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;
use support::{
    FIXTURE_PARTITIONS, client, first_cursors, fixture_events, fixture_events_of, fixture_log,
};
use tokio::sync::mpsc;
use zeroeventhub::{
    Cursor, Event, FeedLine, FeedRequest, HeaderSelection, Headers, Page,
    client::{Client, Error, ErrorKind, EventStream},
    ndjson::{DecodeError, DecodeErrorKind},
    server::{DataReader, MemoryLog, ReadError},
};
use zeroeventhub_axum::{TestFeed, feed_route, feed_router};

/// The path the feed is served at.
const FEED: &str = "/person/feed/v1";

/// A generous bound, only so that a broken test fails instead of hanging.
const NO_HANG: Duration = Duration::from_secs(10);

/// Serves `log` at [`FEED`] on a fresh loopback server.
fn serve_log(log: MemoryLog) -> TestFeed {
    let partition_count = log.partition_count();
    TestFeed::serve_router(feed_router(
        FEED,
        zeroeventhub_axum::Feed::new(log, partition_count),
    ))
}

/// Serves a single hand-made route at [`FEED`], for responses a
/// well-behaved producer would not send.
fn serve_handler<H, T>(handler: H) -> TestFeed
where
    H: axum::handler::Handler<T, ()>,
    T: 'static,
{
    TestFeed::serve_router(Router::new().route(FEED, get(handler)))
}

/// Every item of `lines`, until the stream ends.
async fn drain(mut lines: EventStream) -> Vec<Result<FeedLine, Error>> {
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

/// The events of `page` in `partition_id`, in the order received.
fn events_of(page: &Page, partition_id: u32) -> Vec<Event> {
    page.events()
        .iter()
        .filter(|event| event.partition_id == partition_id)
        .cloned()
        .collect()
}

/// The headers of every event of `page`, grouped by partition and in the
/// order received within each.
fn headers_by_partition(page: &Page) -> Vec<(u32, Option<Headers>)> {
    let mut headers: Vec<_> = page
        .events()
        .iter()
        .map(|event| (event.partition_id, event.headers.clone()))
        .collect();
    headers.sort_by_key(|(partition_id, _)| *partition_id); // stable
    headers
}

fn headers(pairs: &[(&str, &str)]) -> Option<Headers> {
    Some(
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
    )
}

fn cursor(partition_id: u32, value: &str) -> Cursor {
    Cursor::new(partition_id, value).unwrap()
}

// ---------------------------------------------------------------------
// Reading a feed
// ---------------------------------------------------------------------

#[tokio::test]
async fn one_request_reads_several_partitions_with_a_checkpoint_for_each() {
    let server = serve_log(fixture_log());
    let client = client(&server, FEED, FIXTURE_PARTITIONS);

    let page = client
        .fetch(&first_cursors(FIXTURE_PARTITIONS))
        .headers(HeaderSelection::All)
        .page()
        .await
        .unwrap();

    assert_eq!(page.len(), fixture_events().len());
    for partition_id in 0..FIXTURE_PARTITIONS {
        assert_eq!(
            events_of(&page, partition_id),
            fixture_events_of(partition_id)
        );
    }
    let cursors: Vec<String> = page.cursors().map(Cursor::to_string).collect();
    assert_eq!(cursors, ["0=3", "1=2", "2=3"]);
    assert_eq!(page.uncovered_events().count(), 0);
}

#[tokio::test]
async fn event_data_of_every_json_type_arrives_unchanged() {
    let server = serve_log(fixture_log());
    let client = client(&server, FEED, FIXTURE_PARTITIONS);

    let page = client
        .fetch(&first_cursors(FIXTURE_PARTITIONS))
        .page()
        .await
        .unwrap();

    let mut data: Vec<(u32, serde_json::Value)> = page
        .events()
        .iter()
        .map(|event| (event.partition_id, event.data_as().unwrap()))
        .collect();
    data.sort_by_key(|(partition_id, _)| *partition_id);
    assert_eq!(
        data,
        [
            (0, json!({"id": 1, "name": "alice"})),
            (0, json!("plain text")),
            (0, json!([1, "two", 3.5, false, null])),
            (1, json!(42)),
            (1, json!(null)),
            (2, json!(true)),
            (2, json!(-0.25)),
            (
                2,
                json!({"nested": {"list": [{}, []], "text": "line\u{2028}separator\nnewline"}})
            ),
        ]
    );
}

#[tokio::test]
async fn first_cursor_reads_a_partition_from_its_first_event() {
    let server = serve_log(fixture_log());
    let client = client(&server, FEED, FIXTURE_PARTITIONS);

    let page = client
        .fetch(&[Cursor::first(1)])
        .headers(HeaderSelection::All)
        .page()
        .await
        .unwrap();

    assert_eq!(page.events(), fixture_events_of(1));
    assert_eq!(page.cursor(1), Some(&cursor(1, "2")));
    assert_eq!(page.cursors().len(), 1);
}

#[tokio::test]
async fn last_cursor_skips_existing_events_and_turns_into_the_current_end() {
    let log = fixture_log();
    let server = serve_log(log.clone());
    let client = client(&server, FEED, FIXTURE_PARTITIONS);

    let page = client.fetch(&[Cursor::last(0)]).page().await.unwrap();
    assert!(page.is_empty());
    assert_eq!(page.cursor(0), Some(&cursor(0, "3")));

    // From that concrete cursor, only what is published afterwards.
    log.append(Event::from_data(0, "new").unwrap()).unwrap();
    let cursors = page.advance_cursors(&[Cursor::last(0)]);
    let page = client.fetch(&cursors).page().await.unwrap();
    let data: Vec<String> = page.events().iter().map(|e| e.data_as().unwrap()).collect();
    assert_eq!(data, ["new"]);
}

#[tokio::test]
async fn page_size_hint_limits_the_events_of_a_response() {
    let server = serve_log(fixture_log());
    let client = client(&server, FEED, FIXTURE_PARTITIONS);
    let start = first_cursors(FIXTURE_PARTITIONS);

    let page = client
        .fetch(&start)
        .page_size_hint(2)
        .headers(HeaderSelection::All)
        .page()
        .await
        .unwrap();

    assert_eq!(page.events(), &fixture_events_of(0)[..2]);
    // The cursors resume right after the events received, nowhere else.
    assert_eq!(
        page.advance_cursors(&start),
        [cursor(0, "2"), cursor(1, "0"), cursor(2, "0")]
    );
    // Without a hint, the producer's default (1000) holds everything.
    let page = client.fetch(&start).page().await.unwrap();
    assert_eq!(page.len(), fixture_events().len());
}

// ---------------------------------------------------------------------
// Header selection
// ---------------------------------------------------------------------

#[tokio::test]
async fn without_a_header_selection_no_event_carries_headers() {
    let server = serve_log(fixture_log());
    let client = client(&server, FEED, FIXTURE_PARTITIONS);

    let page = client
        .fetch(&first_cursors(FIXTURE_PARTITIONS))
        .page()
        .await
        .unwrap();

    assert_eq!(page.len(), fixture_events().len());
    assert!(page.events().iter().all(|event| event.headers.is_none()));
}

#[tokio::test]
async fn named_header_selection_gives_exactly_those_headers_that_exist() {
    let server = serve_log(fixture_log());
    let client = client(&server, FEED, FIXTURE_PARTITIONS);

    let page = client
        .fetch(&first_cursors(FIXTURE_PARTITIONS))
        .headers(HeaderSelection::names(["ce_type", "trace", "missing"]))
        .page()
        .await
        .unwrap();

    assert_eq!(
        headers_by_partition(&page),
        [
            (0, headers(&[("ce_type", "created")])),
            (0, None),
            (0, headers(&[("ce_type", "listed"), ("trace", "t-0")])),
            // Partition 1 has only ce_id headers: none is selected.
            (1, None),
            (1, None),
            (2, headers(&[("ce_type", "flag"), ("trace", "t-2")])),
            (2, None),
            (2, None),
        ]
    );
}

#[tokio::test]
async fn all_header_selection_gives_every_header() {
    let server = serve_log(fixture_log());
    let client = client(&server, FEED, FIXTURE_PARTITIONS);

    let page = client
        .fetch(&first_cursors(FIXTURE_PARTITIONS))
        .headers(HeaderSelection::All)
        .page()
        .await
        .unwrap();

    assert_eq!(
        headers_by_partition(&page),
        [
            (0, headers(&[("ce_id", "a1"), ("ce_type", "created")])),
            (0, None),
            (
                0,
                headers(&[("ce_id", "a3"), ("ce_type", "listed"), ("trace", "t-0")])
            ),
            (1, headers(&[("ce_id", "b1")])),
            (1, None),
            (2, headers(&[("ce_type", "flag"), ("trace", "t-2")])),
            (2, None),
            (2, None),
        ]
    );
}

// ---------------------------------------------------------------------
// Resuming
// ---------------------------------------------------------------------

#[tokio::test]
async fn resuming_from_checkpoints_until_caught_up_gives_every_event_once_in_order() {
    const PER_PARTITION: u32 = 40;
    let log = MemoryLog::new(FIXTURE_PARTITIONS);
    for seq in 0..PER_PARTITION {
        for partition_id in 0..FIXTURE_PARTITIONS {
            let event = Event::from_data(partition_id, &json!({"seq": seq})).unwrap();
            log.append(event).unwrap();
        }
    }
    let server = serve_log(log);
    let client = client(&server, FEED, FIXTURE_PARTITIONS);
    let mut cursors = first_cursors(FIXTURE_PARTITIONS);
    let mut received: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let mut requests = 0;
    loop {
        requests += 1;
        assert!(requests < 100, "never caught up");
        let page = client
            .fetch(&cursors)
            .page_size_hint(7)
            .page()
            .await
            .unwrap();
        assert!(page.len() <= 7, "{} events for a hint of 7", page.len());
        for event in page.events() {
            let data: serde_json::Value = event.data_as().unwrap();
            let seq = data["seq"].as_u64().unwrap() as u32;
            received.entry(event.partition_id).or_default().push(seq);
        }
        cursors = page.advance_cursors(&cursors);
        if page.is_empty() {
            break;
        }
    }

    let expected: Vec<u32> = (0..PER_PARTITION).collect();
    for partition_id in 0..FIXTURE_PARTITIONS {
        assert_eq!(
            received[&partition_id], expected,
            "partition {partition_id}"
        );
    }
    assert!(requests > 3, "the hint did not split the feed into pages");
    let end = PER_PARTITION.to_string();
    assert!(cursors.iter().all(|c| c.as_str() == end), "{cursors:?}");
}

#[tokio::test]
async fn events_appended_between_requests_appear_on_the_next_request() {
    let log = fixture_log();
    let server = serve_log(log.clone());
    let client = client(&server, FEED, FIXTURE_PARTITIONS);
    let start = first_cursors(FIXTURE_PARTITIONS);
    let page = client.fetch(&start).page().await.unwrap();
    let caught_up = page.advance_cursors(&start);

    log.append(Event::from_data(1, "b3").unwrap()).unwrap();
    log.append(Event::from_data(2, "c4").unwrap()).unwrap();
    log.append(Event::from_data(1, "b4").unwrap()).unwrap();
    let page = client.fetch(&caught_up).page().await.unwrap();

    let data: Vec<(u32, String)> = page
        .events()
        .iter()
        .map(|e| (e.partition_id, e.data_as().unwrap()))
        .collect();
    assert_eq!(
        data,
        [
            (1, "b3".to_owned()),
            (1, "b4".to_owned()),
            (2, "c4".to_owned())
        ]
    );
    let next = page.advance_cursors(&caught_up);
    let page = client.fetch(&next).page().await.unwrap();
    assert!(page.is_empty());
}

#[tokio::test]
async fn feed_url_with_its_own_query_parameters_still_works() {
    let server = serve_log(fixture_log());
    let client = Client::new(
        &server.url_of(&format!("{FEED}?api-version=1")),
        FIXTURE_PARTITIONS,
    )
    .unwrap();

    let page = client.fetch(&[Cursor::first(2)]).page().await.unwrap();

    assert_eq!(page.len(), 3);
}

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
    let app = feed_router(FEED, fixture_log());
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

// ---------------------------------------------------------------------
// Request hook, authentication and composition
// ---------------------------------------------------------------------

#[tokio::test]
async fn request_hook_adds_its_header_to_every_request() {
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let record = {
        let seen = Arc::clone(&seen);
        move |request: Request, next: Next| {
            let value = request
                .headers()
                .get("x-attempt")
                .map(|v| v.to_str().unwrap().to_owned());
            seen.lock().unwrap().push(value);
            next.run(request)
        }
    };
    let app = feed_router(FEED, fixture_log()).layer(middleware::from_fn(record));
    let server = TestFeed::serve_router(app);
    let calls = Arc::new(AtomicUsize::new(0));
    let client = Client::builder(&server.url_of(FEED), FIXTURE_PARTITIONS)
        .request_hook({
            let calls = Arc::clone(&calls);
            move || {
                let attempt = calls.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    let mut headers = HeaderMap::new();
                    headers.insert("x-attempt", HeaderValue::from(attempt));
                    Ok::<_, std::convert::Infallible>(headers)
                }
            }
        })
        .build()
        .unwrap();

    for _ in 0..3 {
        client.fetch(&[Cursor::first(0)]).page().await.unwrap();
    }

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            Some("1".to_owned()),
            Some("2".to_owned()),
            Some("3".to_owned())
        ]
    );
}

/// Admits only requests with `Authorization: Bearer secret`.
async fn require_bearer_secret(request: Request, next: Next) -> Response {
    match request.headers().get(AUTHORIZATION) {
        Some(value) if value == "Bearer secret" => next.run(request).await,
        _ => (StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response(),
    }
}

fn serve_behind_auth() -> TestFeed {
    let app = feed_router(FEED, fixture_log()).layer(middleware::from_fn(require_bearer_secret));
    TestFeed::serve_router(app)
}

fn client_with_token(server: &TestFeed, token: &'static str) -> Client {
    Client::builder(&server.url_of(FEED), FIXTURE_PARTITIONS)
        .request_hook(move || async move {
            let mut headers = HeaderMap::new();
            headers.insert(
                reqwest::header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {token}"))?,
            );
            Ok::<_, reqwest::header::InvalidHeaderValue>(headers)
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn feed_behind_an_auth_layer_refuses_a_client_without_the_token_with_401() {
    let server = serve_behind_auth();

    for client in [
        client(&server, FEED, FIXTURE_PARTITIONS),
        client_with_token(&server, "wrong"),
    ] {
        let error = client.fetch(&[Cursor::first(0)]).page().await.unwrap_err();
        assert_eq!(error.status().map(|s| s.as_u16()), Some(401), "{error}");
        assert!(!error.is_transient());
    }
}

#[tokio::test]
async fn feed_behind_an_auth_layer_serves_a_client_whose_hook_sends_the_token() {
    let server = serve_behind_auth();
    let client = client_with_token(&server, "secret");

    let page = client
        .fetch(&first_cursors(FIXTURE_PARTITIONS))
        .page()
        .await
        .unwrap();

    assert_eq!(page.len(), fixture_events().len());
}

#[derive(Debug, Clone)]
struct AppState {
    name: &'static str,
}

async fn name(State(state): State<AppState>) -> &'static str {
    state.name
}

#[tokio::test]
async fn feed_composes_with_other_routes_and_router_state() {
    let audit = MemoryLog::new(1);
    audit.append(Event::from_data(0, "login").unwrap()).unwrap();
    let app: Router = Router::new()
        .route("/name", get(name))
        .route(FEED, feed_route(fixture_log()))
        .nest("/api", feed_router("/audit/feed", audit))
        .with_state(AppState { name: "producer" });
    let server = TestFeed::serve_router(app);

    let name = reqwest::get(server.url_of("/name"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(name, "producer");
    let page = client(&server, FEED, FIXTURE_PARTITIONS)
        .fetch(&first_cursors(FIXTURE_PARTITIONS))
        .page()
        .await
        .unwrap();
    assert_eq!(page.len(), fixture_events().len());
    let page = client(&server, "/api/audit/feed", 1)
        .fetch(&[Cursor::first(0)])
        .page()
        .await
        .unwrap();
    let data: Vec<String> = page.events().iter().map(|e| e.data_as().unwrap()).collect();
    assert_eq!(data, ["login"]);
}
