//! The client against the axum adapter, over a real loopback socket:
//! reading a feed (several partitions, `_first` and `_last`, the page size
//! hint), header selection, and resuming from checkpoints.

mod support;

use std::collections::BTreeMap;

use serde_json::json;
use support::{
    FIXTURE_PARTITIONS, client,
    feeds::{FEED, cursor, serve_log},
    first_cursors, fixture_events, fixture_events_of, fixture_log,
};
use zeroeventhub::{
    Cursor, Event, HeaderSelection, Headers, Page, client::Client, server::MemoryLog,
};

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

// ---------------------------------------------------------------------
// Reading a feed
// ---------------------------------------------------------------------

/// One page of the fixture log, served on a fresh loopback server, for
/// `cursors` with `headers`.
async fn fixture_page(cursors: &[Cursor], headers: HeaderSelection) -> Page {
    let server = serve_log(fixture_log());
    let client = client(&server, FEED, FIXTURE_PARTITIONS);
    client.fetch(cursors).headers(headers).page().await.unwrap()
}

#[tokio::test]
async fn one_request_reads_several_partitions_with_a_checkpoint_for_each() {
    let page = fixture_page(&first_cursors(FIXTURE_PARTITIONS), HeaderSelection::All).await;

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
    let page = fixture_page(&first_cursors(FIXTURE_PARTITIONS), HeaderSelection::None).await;

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
    let page = fixture_page(&[Cursor::first(1)], HeaderSelection::All).await;

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
    let page = fixture_page(&first_cursors(FIXTURE_PARTITIONS), HeaderSelection::None).await;

    assert_eq!(page.len(), fixture_events().len());
    assert!(page.events().iter().all(|event| event.headers.is_none()));
}

#[tokio::test]
async fn named_header_selection_gives_exactly_those_headers_that_exist() {
    let page = fixture_page(
        &first_cursors(FIXTURE_PARTITIONS),
        HeaderSelection::names(["ce_type", "trace", "missing"]),
    )
    .await;

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
    let page = fixture_page(&first_cursors(FIXTURE_PARTITIONS), HeaderSelection::All).await;

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
