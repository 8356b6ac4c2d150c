//! Protocol version 2 (FeedAPI) on real sockets: our client against our
//! producer (`MemoryLog` behind `zeroeventhub-axum`), async and blocking:
//! discovery, version detection, paging, filters, the 400s, 409 after a
//! token change, closed and split partitions.

use std::time::{Duration, Instant};

use futures_util::stream;
use zeroeventhub::{
    Cursor, Event, EventTypeFilter,
    client::{Client, ErrorKind, FeedVersion},
    server::{AppendError, Feed, MemoryLog},
    v2::PartitionInfo,
};
use zeroeventhub_axum::TestFeed;

mod support;

use support::Version1Only;

fn event(partition: u32, n: u32) -> Event {
    Event::from_data(partition, &serde_json::json!({ "n": n })).unwrap()
}

/// Two partitions; partition 0 holds 5 events of types a, B, a, c, a.
fn typed_log() -> MemoryLog {
    let log = MemoryLog::new(2);
    for (n, event_type) in ["a", "B", "a", "c", "a"].into_iter().enumerate() {
        log.append_typed(event(0, n as u32), event_type).unwrap();
    }
    log
}

fn ns(page: &zeroeventhub::Page) -> Vec<u64> {
    page.events()
        .iter()
        .map(|event| {
            event.data_as::<serde_json::Value>().unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

async fn get(url: &str) -> (u16, String, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn discovery_is_json_and_the_client_detects_version_2() {
    let log = typed_log();
    let feed = TestFeed::serve(log.clone());
    let (status, content_type, body) = get(feed.url()).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/json");
    assert_eq!(
        body,
        r#"{"token":"1","exactlyOnce":true,"partitions":[{"id":"0"},{"id":"1"}]}"#
    );
    let client = Client::new(feed.url(), 2).unwrap();
    let FeedVersion::V2(discovery) = client.detect_version().await.unwrap() else {
        panic!("a MemoryLog speaks version 2");
    };
    assert_eq!(
        discovery.partitions,
        [PartitionInfo::open(0), PartitionInfo::open(1)]
    );
    // Any GET without n is a discovery; with n, the same URL serves version 1.
    let (_, content_type, _) = get(&format!("{}?cursor0=_first", feed.url())).await;
    assert_eq!(content_type, "application/json");
    let page = client.fetch(&[Cursor::first(0)]).page().await.unwrap();
    assert_eq!(ns(&page), [0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn a_version_1_producer_is_detected_by_its_400_and_has_no_events_endpoint() {
    let feed = TestFeed::serve(Feed::new(Version1Only(typed_log()), 2));
    let client = Client::new(feed.url(), 2).unwrap();
    assert_eq!(client.detect_version().await.unwrap(), FeedVersion::V1);
    let (status, _, body) = get(&format!(
        "{}/events?token=1&partition=0&cursor=_first",
        feed.url()
    ))
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("version 1 only"), "{body}");
}

#[tokio::test]
async fn only_a_400_means_version_1() {
    let router = axum::Router::new().route(
        "/feed",
        axum::routing::get(|| async { (axum::http::StatusCode::UNAUTHORIZED, "who are you") }),
    );
    let server = TestFeed::serve_router(router);
    let client = Client::new(&server.url_of("/feed"), 2).unwrap();
    let error = client.detect_version().await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(401), "{error}");
}

#[tokio::test]
async fn pages_resume_from_their_checkpoint_and_first_last_become_cursors() {
    let log = typed_log();
    let feed = TestFeed::serve(log.clone());
    let client = Client::new(feed.url(), 0).unwrap();
    let token = log.token();
    let first = client
        .fetch_partition(&token, Cursor::first(0))
        .page_size_hint(2)
        .page()
        .await
        .unwrap();
    assert_eq!(ns(&first), [0, 1]);
    let cursor = first.cursor(0).unwrap().clone();
    assert_eq!(cursor.as_str(), "2");
    let rest = client.fetch_partition(&token, cursor).page().await.unwrap();
    assert_eq!(ns(&rest), [2, 3, 4]);
    // _last: no event, and a concrete checkpoint at once.
    let last = client
        .fetch_partition(&token, Cursor::last(0))
        .page()
        .await
        .unwrap();
    assert!(last.is_empty());
    assert_eq!(last.cursor(0).unwrap().as_str(), "5");
    // An empty partition still answers with a checkpoint.
    let empty = client
        .fetch_partition(&token, Cursor::first(1))
        .page()
        .await
        .unwrap();
    assert_eq!(empty.cursor(1).unwrap().as_str(), "0");
    // The lines on the wire carry neither partition nor headers.
    let (_, content_type, body) = get(&format!(
        "{}/events?token=1&partition=0&cursor=3",
        feed.url()
    ))
    .await;
    assert_eq!(content_type, "application/x-ndjson");
    assert_eq!(
        body,
        "{\"data\":{\"n\":3}}\n{\"cursor\":\"4\"}\n{\"data\":{\"n\":4}}\n{\"cursor\":\"5\"}\n{\"cursor\":\"5\"}\n"
    );
}

#[tokio::test]
async fn filters_keep_or_skip_by_type_case_insensitively_and_move_the_checkpoint() {
    let log = typed_log();
    let feed = TestFeed::serve(log.clone());
    let client = Client::new(feed.url(), 2).unwrap();
    let token = log.token();
    let only = client
        .fetch_partition(&token, Cursor::first(0))
        .event_types(EventTypeFilter::only(["A"]))
        .page()
        .await
        .unwrap();
    assert_eq!(ns(&only), [0, 2, 4]);
    let skip = client
        .fetch_partition(&token, Cursor::first(0))
        .event_types(EventTypeFilter::skip(["a", "b"]))
        .page()
        .await
        .unwrap();
    assert_eq!(ns(&skip), [3]);
    assert_eq!(
        skip.cursor(0).unwrap().as_str(),
        "5",
        "past the filtered events"
    );
    // All filtered away: still a checkpoint, at the end.
    let none = client
        .fetch_partition(&token, Cursor::new(0, "4").unwrap())
        .event_types(EventTypeFilter::only(["c"]))
        .page()
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(none.cursor(0).unwrap().as_str(), "5");
    // A raw `;` reads as %3B does; version 1 takes the filters too.
    let (_, _, raw) = get(&format!(
        "{}/events?token=1&partition=0&cursor=_first&event-types=b;C",
        feed.url()
    ))
    .await;
    assert_eq!(raw.matches("\"data\"").count(), 2, "{raw}");
    let v1 = client
        .fetch(&[Cursor::first(0)])
        .event_types(EventTypeFilter::only(["c"]))
        .page()
        .await
        .unwrap();
    assert_eq!(ns(&v1), [3]);
}

#[tokio::test]
async fn every_bad_events_request_is_400_naming_its_parameter() {
    let feed = TestFeed::serve(typed_log());
    for (query, says) in [
        ("partition=0&cursor=_first", "missing parameter token"),
        ("token=1&cursor=_first", "missing parameter partition"),
        (
            "token=1&partition=x&cursor=_first",
            "parameter partition must be",
        ),
        ("token=1&partition=40000&cursor=_first", "0..=32767"),
        ("token=1&partition=7&cursor=_first", "no partition 7"),
        ("token=1&partition=0", "missing parameter cursor"),
        ("token=1&partition=0&cursor=", "parameter cursor"),
        ("token=1&partition=0&cursor=99", "parameter cursor"),
        (
            "token=1&partition=0&cursor=_first&pagesizehint=x",
            "pagesizehint",
        ),
        ("token=1&partition=0&cursor=_first&wait=-1", "wait"),
        (
            "token=1&partition=0&cursor=_first&event-types=a&skip-event-types=b",
            "together",
        ),
        (
            "token=1&partition=0&cursor=_first&event-types=a;;b",
            "event-types",
        ),
    ] {
        let (status, _, body) = get(&format!("{}/events?{query}", feed.url())).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(says), "{query}: {body:?} should say {says:?}");
    }
}

#[tokio::test]
async fn a_changed_token_is_409_on_every_partition_and_a_closed_partition_takes_no_event() {
    let log = typed_log();
    let feed = TestFeed::serve(log.clone());
    let client = Client::new(feed.url(), 2).unwrap();
    let old = log.token();
    log.close(0).unwrap();
    assert_ne!(log.token(), old);
    for partition in [0, 1] {
        let error = client
            .fetch_partition(&old, Cursor::first(partition))
            .page()
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::TokenChanged, "{error}");
        assert!(error.is_token_changed() && !error.is_transient());
        assert!(error.to_string().contains("discover again"), "{error}");
    }
    let discovery = client.discover().await.unwrap();
    assert!(discovery.partition(0).unwrap().closed);
    let page = client
        .fetch_partition(&discovery.token, Cursor::first(0))
        .page()
        .await
        .unwrap();
    assert_eq!(
        ns(&page),
        [0, 1, 2, 3, 4],
        "a closed partition keeps its history"
    );
    assert_eq!(
        log.append(event(0, 9)),
        Err(AppendError::Closed { partition_id: 0 })
    );
}

#[tokio::test]
async fn a_split_lists_children_after_the_closed_parent() {
    let log = typed_log();
    let feed = TestFeed::serve(log.clone());
    let client = Client::new(feed.url(), 2).unwrap();
    let children = log.split(0, 2).unwrap();
    assert_eq!(children, [2, 3]);
    log.append(event(3, 100)).unwrap();
    let discovery = client.discover().await.unwrap();
    let ids: Vec<(u32, bool, Option<u32>)> = discovery
        .partitions
        .iter()
        .map(|p| (p.id, p.closed, p.starts_after_partition))
        .collect();
    assert_eq!(
        ids,
        [
            (0, true, None),
            (1, false, None),
            (2, false, Some(0)),
            (3, false, Some(0))
        ]
    );
    let child = client
        .fetch_partition(&discovery.token, Cursor::first(3))
        .page()
        .await
        .unwrap();
    assert_eq!(ns(&child), [100]);
}

#[tokio::test]
async fn a_version_2_long_poll_is_answered_when_its_partition_gets_an_event() {
    let log = typed_log();
    let feed = TestFeed::serve(log.clone());
    let client = Client::new(feed.url(), 2).unwrap();
    let token = log.token();
    let appender = {
        let log = log.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            log.append(event(1, 7)).unwrap();
        })
    };
    let asked = Instant::now();
    let page = client
        .fetch_partition(&token, Cursor::first(1))
        .wait(Duration::from_secs(30))
        .page()
        .await
        .unwrap();
    assert_eq!(ns(&page), [7]);
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "answered by the event, not the wait"
    );
    appender.await.unwrap();
}

/// A producer that breaks version 2's rules, to see the client refuse it.
fn rule_breaker(body: &'static str) -> TestFeed {
    let router = axum::Router::new().route(
        "/feed/events",
        axum::routing::get(move || async move {
            axum::body::Body::from_stream(stream::iter([Ok::<_, std::io::Error>(body)]))
        }),
    );
    TestFeed::serve_router(router)
}

#[tokio::test]
async fn a_response_without_a_checkpoint_or_with_a_bad_line_is_a_protocol_error() {
    for (body, kind) in [
        ("{\"data\":1}\n", ErrorKind::MissingCheckpoint),
        ("", ErrorKind::MissingCheckpoint),
        ("{\"data\":1}\n{\"cursor\":\"\"}\n", ErrorKind::Decode),
        ("[1]\n{\"cursor\":\"1\"}\n", ErrorKind::Decode),
    ] {
        let server = rule_breaker(body);
        let client = Client::new(&server.url_of("/feed"), 0).unwrap();
        let error = client
            .fetch_partition("t", Cursor::first(0))
            .page()
            .await
            .unwrap_err();
        assert_eq!(error.kind(), kind, "{body:?}: {error}");
        assert!(error.is_decode(), "{body:?}");
    }
}

#[test]
fn the_blocking_client_speaks_version_2_too() {
    let log = typed_log();
    let feed = TestFeed::serve(log.clone());
    let client = zeroeventhub::blocking::Client::new(feed.url(), 2).unwrap();
    let FeedVersion::V2(discovery) = client.detect_version().unwrap() else {
        panic!("version 2");
    };
    let page = client
        .fetch_partition(&discovery.token, Cursor::first(0))
        .event_types(EventTypeFilter::skip(["a"]))
        .page()
        .unwrap();
    assert_eq!(ns(&page), [1, 3]);
    log.close(1).unwrap();
    let error = client
        .fetch_partition(&discovery.token, Cursor::first(1))
        .page()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TokenChanged);
}

#[tokio::test]
async fn a_long_poll_whose_first_read_passes_filtered_events_is_answered_at_once() {
    let log = typed_log();
    let feed = TestFeed::serve(log.clone());
    let client = Client::new(feed.url(), 2).unwrap();
    let asked = Instant::now();
    let page = client
        .fetch_partition(&log.token(), Cursor::new(0, "1").unwrap())
        .event_types(EventTypeFilter::only(["nothing-of-this-type"]))
        .wait(Duration::from_secs(30))
        .page()
        .await
        .unwrap();
    assert!(page.is_empty());
    assert_eq!(
        page.cursor(0).unwrap().as_str(),
        "5",
        "past the filtered events"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "answered with the progress, not held"
    );
}
