//! Interoperability with the reference Python implementation (`zeroeventhub`
//! on PyPI): our client against its producer, compared with the oracle of
//! the expected responses and with its own client, `consume.py`.
//!
//! The Python side lives in `tests/python/` (`producer.py` runs the
//! reference FastAPI handler under uvicorn, `consume.py` drives the
//! reference client). Python is found through `ZEH_PYTHON` (which must then
//! work: CI sets it), or else `target/py-venv/bin/python`; without either,
//! every test here says it is skipped and passes. `ZEH_SKIP_PYTHON=1`
//! forces the skip. `bash .ci/run` (or `python3 -m venv target/py-venv &&
//! target/py-venv/bin/pip install -r tests/python/requirements.txt`)
//! prepares the interpreter. The harness is in `support/python.rs`.

mod support;

use futures_util::TryStreamExt;
use serde_json::Value;
use support::python::{
    ConsumeCase, PythonProducer,
    fixture::{BIG_INTEGER, Fixture, assert_json_lines_eq, event_value, line_value, select},
    python_or_skip, run_consume, within,
};
use zeroeventhub::{Cursor, FeedLine, HeaderSelection, client::Client};

// ---------------------------------------------------------------------------
// Our client reading the reference (Python) producer.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn rust_client_fetches_every_event_of_the_python_producer_in_one_page() {
    let Some(python) =
        python_or_skip("rust_client_fetches_every_event_of_the_python_producer_in_one_page")
    else {
        return;
    };
    let fixture = Fixture::load();
    let producer = PythonProducer::start(&python).await;
    let client = Client::new(producer.url(), Fixture::PARTITIONS).unwrap();

    let cursors = all_first();
    let page = within("fetch_page", client.fetch(&cursors).page())
        .await
        .expect("fetch_page from the Python producer");

    assert_eq!(page.len(), fixture.events.len(), "every event in one page");
    assert_eq!(page.uncovered_events().count(), 0);
    let expected = events_only(fixture.expected_response(&ConsumeCase::default()));
    let received: Vec<Value> = page.events().iter().map(event_value).collect();
    assert_json_lines_eq(&received, &expected, "events of one page from _first");

    // Each partition ends at the count of its events: "4", "4", "4".
    let cursors: Vec<String> = page.cursors().map(Cursor::to_string).collect();
    let expected_cursors: Vec<String> = (0..Fixture::PARTITIONS)
        .map(|p| format!("{p}={}", fixture.count(p)))
        .collect();
    assert_eq!(cursors, expected_cursors);

    // The integer beyond 2^53 arrives as the exact same text.
    assert!(
        page.events()
            .iter()
            .any(|event| event.data_json() == BIG_INTEGER),
        "no event with data {BIG_INTEGER} exactly: {:?}",
        page.events()
            .iter()
            .map(|e| e.data_json())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn rust_client_follows_the_python_producer_page_by_page() {
    let Some(python) = python_or_skip("rust_client_follows_the_python_producer_page_by_page")
    else {
        return;
    };
    let fixture = Fixture::load();
    let producer = PythonProducer::start(&python).await;
    let client = Client::new(producer.url(), Fixture::PARTITIONS).unwrap();
    let mut cursors = all_first();
    let mut received = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 100, "still receiving events after 100 pages");
        let page = within(
            "fetch_page",
            client.fetch(&cursors).page_size_hint(2).page(),
        )
        .await
        .expect("fetch_page from the Python producer");
        assert_eq!(page.uncovered_events().count(), 0);
        cursors = page.advance_cursors(&cursors);
        if page.is_empty() {
            break;
        }
        received.extend(page.events().iter().map(event_value));
    }

    // Every event exactly once, in order within its partition.
    for partition in 0..Fixture::PARTITIONS {
        let of_partition = |lines: &[Value]| -> Vec<Value> {
            lines
                .iter()
                .filter(|line| line["partition"] == partition)
                .cloned()
                .collect()
        };
        let expected = of_partition(&fixture.event_lines(&HeaderSelection::None));
        assert_json_lines_eq(
            &of_partition(&received),
            &expected,
            &format!("events of partition {partition}, following with pagesizehint=2"),
        );
    }
    // And exactly the sequence the documented semantics give.
    let case = ConsumeCase {
        page_size_hint: Some(2),
        follow: true,
        ..ConsumeCase::default()
    };
    assert_json_lines_eq(&received, &fixture.expected_follow(&case), "all events");
    let end: Vec<String> = cursors.iter().map(Cursor::to_string).collect();
    let expected_end: Vec<String> = (0..Fixture::PARTITIONS)
        .map(|p| format!("{p}={}", fixture.count(p)))
        .collect();
    assert_eq!(end, expected_end, "cursors after the last page");
}

#[tokio::test]
async fn rust_client_selects_headers_from_the_python_producer() {
    let Some(python) = python_or_skip("rust_client_selects_headers_from_the_python_producer")
    else {
        return;
    };
    let fixture = Fixture::load();
    let producer = PythonProducer::start(&python).await;
    let client = Client::new(producer.url(), Fixture::PARTITIONS).unwrap();

    let selections = [
        HeaderSelection::None,
        HeaderSelection::names(["a"]),
        HeaderSelection::names(["b", "c"]),
        HeaderSelection::names(["nope"]),
        HeaderSelection::All,
    ];
    for headers in selections {
        let fetch = client.fetch(&all_first()).headers(headers.clone());
        let page = within("fetch_page", fetch.page())
            .await
            .expect("fetch_page from the Python producer");
        // Headers exactly as selected, and absent (not empty) when nothing
        // is selected.
        let received: Vec<_> = page
            .events()
            .iter()
            .map(|event| (event.partition_id, event.headers.clone()))
            .collect();
        let expected: Vec<_> = fixture
            .in_response_order()
            .map(|event| (event.partition, select(&event.headers, &headers)))
            .collect();
        assert_eq!(received, expected, "headers for {headers:?}");
        let expected_lines = fixture.event_lines(&headers);
        let received_lines: Vec<Value> = page.events().iter().map(event_value).collect();
        assert_json_lines_eq(
            &received_lines,
            &expected_lines,
            &format!("events with headers {headers:?}"),
        );
    }
}

#[tokio::test]
async fn rust_client_gets_400_for_a_bad_cursor_from_the_python_producer() {
    let Some(python) =
        python_or_skip("rust_client_gets_400_for_a_bad_cursor_from_the_python_producer")
    else {
        return;
    };
    let producer = PythonProducer::start(&python).await;
    let client = Client::new(producer.url(), Fixture::PARTITIONS).unwrap();

    for bad in ["99", "x", "-1", "5"] {
        let cursors = [Cursor::first(0), Cursor::new(1, bad).unwrap()];
        let result = within("fetch_page", client.fetch(&cursors).page()).await;
        let error = result.expect_err("a bad cursor is refused");
        let (Some(status), Some(body)) = (error.status(), error.body()) else {
            panic!("cursor {bad:?}: expected a 400, got {error:?}");
        };
        assert_eq!(status.as_u16(), 400, "cursor {bad:?}: {body}");
        assert!(body.contains("cursor1"), "cursor {bad:?}: body {body:?}");
    }
}

#[tokio::test]
async fn rust_client_stream_matches_the_python_client_line_by_line() {
    let Some(python) = python_or_skip("rust_client_stream_matches_the_python_client_line_by_line")
    else {
        return;
    };
    let fixture = Fixture::load();
    let producer = PythonProducer::start(&python).await;
    let client = Client::new(producer.url(), Fixture::PARTITIONS).unwrap();

    for case in ConsumeCase::single_requests() {
        let stream = within("fetch_events", case.fetch(&client).send())
            .await
            .unwrap_or_else(|error| panic!("{case}: fetch_events: {error}"));
        let lines: Vec<FeedLine> = within("reading the response", stream.try_collect())
            .await
            .unwrap_or_else(|error| panic!("{case}: reading the response: {error}"));
        let ours: Vec<Value> = lines.iter().map(line_value).collect();

        let theirs = run_consume(&python, producer.url(), &case)
            .await
            .expect_success();
        let context = format!("{case}: our client vs consume.py");
        assert_json_lines_eq(&ours, &theirs, &context);
        assert_json_lines_eq(&ours, &fixture.expected_response(&case), &case.to_string());
    }
}

// ---------------------------------------------------------------------------

fn all_first() -> Vec<Cursor> {
    (0..Fixture::PARTITIONS).map(Cursor::first).collect()
}

fn events_only(lines: Vec<Value>) -> Vec<Value> {
    lines
        .into_iter()
        .filter(|line| line.get("cursor").is_none())
        .collect()
}
