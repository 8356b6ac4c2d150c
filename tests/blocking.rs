//! The blocking client against the axum producer on a real socket, from
//! plain `#[test]` functions: no async runtime in the test.

mod support;

use std::{
    io::{Read, Write},
    net::TcpListener,
    thread,
};

use support::{FIXTURE_PARTITIONS, first_cursors, fixture_events, fixture_log};
use zeroeventhub::{
    Cursor, Event, FeedLine, HeaderSelection, blocking::Client, client::ErrorKind,
    server::MemoryLog,
};
use zeroeventhub_axum::TestFeed;

fn client(feed: &TestFeed, partition_count: u32) -> Client {
    Client::new(feed.url(), partition_count).expect("a valid feed URL")
}

#[test]
fn page_holds_every_event_with_its_headers_and_the_latest_cursors() {
    let feed = TestFeed::serve(fixture_log());
    let client = client(&feed, FIXTURE_PARTITIONS);
    let start = first_cursors(FIXTURE_PARTITIONS);

    let page = client
        .fetch(&start)
        .headers(HeaderSelection::All)
        .page()
        .unwrap();

    let mut expected = fixture_events();
    expected.sort_by_key(|event| event.partition_id);
    let received: Vec<(u32, String, Option<zeroeventhub::Headers>)> = page
        .events()
        .iter()
        .map(|e| (e.partition_id, e.data_json().to_owned(), e.headers.clone()))
        .collect();
    let expected: Vec<(u32, String, Option<zeroeventhub::Headers>)> = expected
        .iter()
        .map(|e| (e.partition_id, e.data_json().to_owned(), e.headers.clone()))
        .collect();
    assert_eq!(received, expected);
    assert_eq!(
        page.advance_cursors(&start),
        [
            Cursor::new(0, "3").unwrap(),
            Cursor::new(1, "2").unwrap(),
            Cursor::new(2, "3").unwrap()
        ]
    );
}

#[test]
fn lines_arrive_in_order_with_a_checkpoint_after_each_event() {
    let feed = TestFeed::serve(fixture_log());
    let client = client(&feed, FIXTURE_PARTITIONS);

    let lines: Vec<FeedLine> = client
        .fetch(&[Cursor::first(1)])
        .send()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();

    let shape: Vec<String> = lines
        .iter()
        .map(|line| match line {
            FeedLine::Event(event) => format!("event {}", event.data_json()),
            FeedLine::Checkpoint(cursor) => format!("checkpoint {cursor}"),
        })
        .collect();
    assert_eq!(
        shape,
        [
            "event 42",
            "checkpoint 1=1",
            "event null",
            "checkpoint 1=2",
            "checkpoint 1=2"
        ]
    );
}

#[test]
fn typed_page_deserializes_the_data() {
    let log = MemoryLog::new(1);
    for n in 0..5u32 {
        log.append(Event::from_data(0, &serde_json::json!({ "n": n })).unwrap())
            .unwrap();
    }
    let feed = TestFeed::serve(log);

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Numbered {
        n: u32,
    }
    let page = client(&feed, 1)
        .fetch(&[Cursor::first(0)])
        .page_size_hint(3)
        .page_as::<Numbered>()
        .unwrap();
    let numbers: Vec<u32> = page.events().iter().map(|event| event.data.n).collect();
    assert_eq!(numbers, [0, 1, 2]);
}

#[test]
fn a_refusal_is_a_status_error_naming_the_parameter() {
    let feed = TestFeed::serve(fixture_log());
    let error = client(&feed, 4)
        .fetch(&[Cursor::first(0)])
        .page()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Status);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(
        error.body(),
        Some("parameter n is 4 but the feed has 3 partitions")
    );
    assert!(!error.is_transient());
}

#[test]
fn an_invalid_request_fails_before_sending() {
    let feed = TestFeed::serve(fixture_log());
    let error = client(&feed, FIXTURE_PARTITIONS)
        .fetch(&[Cursor::first(7)])
        .send()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidRequest);
}

#[test]
fn a_line_longer_than_the_maximum_ends_the_lines_with_a_decode_error() {
    let log = MemoryLog::new(1);
    log.append(Event::from_data(0, &"x".repeat(1_000)).unwrap())
        .unwrap();
    let feed = TestFeed::serve(log);
    let client = Client::builder(feed.url(), 1)
        .max_line_length(100)
        .build()
        .unwrap();

    let results: Vec<_> = client.fetch(&[Cursor::first(0)]).send().unwrap().collect();

    assert_eq!(results.len(), 1, "the error ends the lines: {results:?}");
    let error = results[0].as_ref().unwrap_err();
    assert!(error.is_decode());
    assert_eq!(error.line(), Some(1));
}

/// A producer that sends a first line, then drops the connection in the
/// middle of the chunked body.
#[test]
fn a_body_cut_off_is_an_error_after_the_lines_before_it() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feed", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).unwrap();
        let line = "{\"partition\":0,\"cursor\":\"1\"}\n";
        write!(
            socket,
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n\
             Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{line}\r\n",
            line.len()
        )
        .unwrap();
        // Dropped here: no final chunk.
    });

    let client = Client::new(&url, 1).unwrap();
    let results: Vec<_> = client.fetch(&[Cursor::first(0)]).send().unwrap().collect();
    server.join().unwrap();

    assert_eq!(results.len(), 2, "{results:?}");
    assert!(matches!(results[0], Ok(FeedLine::Checkpoint(_))));
    let error = results[1].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BodyInterrupted, "{error:?}");
    assert!(error.is_transient());
}

#[test]
fn the_request_hook_adds_its_headers_to_every_request() {
    use axum::{Router, http::HeaderMap as AxumHeaders, routing::get};

    let router = Router::new().route(
        "/feed",
        get(|headers: AxumHeaders| async move {
            let token = headers
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                .unwrap_or("none")
                .to_owned();
            format!(
                "{{\"partition\":0,\"cursor\":\"{}\"}}\n",
                token.replace(' ', "_")
            )
        }),
    );
    let feed = TestFeed::serve_router(router);
    let client = Client::builder(&feed.url_of("/feed"), 1)
        .request_hook(|| {
            let mut headers = zeroeventhub::reqwest::header::HeaderMap::new();
            headers.insert("authorization", "Bearer t1".parse()?);
            Ok::<_, zeroeventhub::reqwest::header::InvalidHeaderValue>(headers)
        })
        .build()
        .unwrap();
    let page = client.fetch(&[Cursor::first(0)]).page().unwrap();
    assert_eq!(page.cursor(0), Some(&Cursor::new(0, "Bearer_t1").unwrap()));
}

#[test]
fn a_long_poll_returns_as_soon_as_an_event_is_appended() {
    let log = MemoryLog::new(1);
    let feed = TestFeed::serve(log.clone());
    let client = client(&feed, 1);
    let appender = thread::spawn(move || {
        thread::sleep(std::time::Duration::from_millis(200));
        log.append(Event::from_data(0, "new").unwrap()).unwrap();
    });
    let wait = std::time::Duration::from_secs(30);
    let started = std::time::Instant::now();
    let page = client.fetch(&[Cursor::last(0)]).wait(wait).page().unwrap();
    assert!(started.elapsed() < wait / 2, "held to the end");
    let data: Vec<&str> = page.events().iter().map(Event::data_json).collect();
    assert_eq!(data, [r#""new""#]);
    appender.join().unwrap();
}
