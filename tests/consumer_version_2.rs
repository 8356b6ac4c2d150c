//! The consumer runtime on version 2 (FeedAPI), against `MemoryLog` behind
//! the axum route on a real socket, into the in-memory cursor store:
//! discovery, a token change mid-run, closed partitions finished and no
//! longer asked for (after a restart too, and when another member of the
//! group finished them), splits in order and out of order, a redistributing
//! split's children going on from their parent's cursor, and version
//! detection.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{extract::Request, middleware::Next, response::Response};
use zeroeventhub::{
    Cursor, Event,
    client::Client,
    consumer::{
        Claim, Consumer, ConsumerConfig, CursorStore, Lease, MemoryCursorStore, Protocol,
        SplitOrder,
    },
    server::{DataReader, MemoryLog},
};
use zeroeventhub_axum::{Feed, TEST_FEED_PATH, TestFeed, feed_router};

mod support;

use support::Numbers;

const NAME: &str = "v2-test";
/// Only so that a broken test fails instead of hanging.
const NO_HANG: Duration = Duration::from_secs(20);

fn append(log: &MemoryLog, partition: u32, ns: std::ops::Range<u64>) {
    for n in ns {
        log.append(Event::from_data(partition, &serde_json::json!({ "n": n })).unwrap())
            .unwrap();
    }
}

fn config(protocol: Protocol) -> ConsumerConfig {
    ConsumerConfig {
        protocol,
        page_size_hint: Some(3),
        poll_interval: Duration::from_millis(10),
        long_poll: Some(Duration::from_secs(1)),
        lease_ttl: Duration::from_secs(3),
        ..ConsumerConfig::new(NAME)
    }
}

/// Requests per partition of version 2 (`partition=P`), counted by a layer.
#[derive(Clone, Default)]
struct Requests(Arc<Mutex<BTreeMap<u32, usize>>>);

impl Requests {
    fn of(&self, partition: u32) -> usize {
        self.0.lock().unwrap().get(&partition).copied().unwrap_or(0)
    }
}

fn serve_counted<R: DataReader>(feed: Feed<R>) -> (TestFeed, Requests) {
    let requests = Requests::default();
    let counter = requests.clone();
    let router = feed_router(TEST_FEED_PATH, feed).layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let counter = counter.clone();
            async move {
                let partition = request.uri().query().and_then(|query| {
                    query
                        .split('&')
                        .find_map(|pair| pair.strip_prefix("partition="))
                        .and_then(|value| value.parse::<u32>().ok())
                });
                if let Some(partition) = partition {
                    *counter.0.lock().unwrap().entry(partition).or_default() += 1;
                }
                let response: Response = next.run(request).await;
                response
            }
        },
    ));
    (TestFeed::serve_router(router), requests)
}

fn url(server: &TestFeed) -> String {
    server.url_of(TEST_FEED_PATH)
}

async fn run_until_caught_up(
    url: &str,
    store: &MemoryCursorStore<(u32, u64)>,
    config: ConsumerConfig,
) {
    let client = Client::new(url, 0).unwrap();
    let config = ConsumerConfig {
        until_caught_up: true,
        ..config
    };
    let consumer = Consumer::new(client, store.clone(), Numbers::default(), config);
    tokio::time::timeout(NO_HANG, consumer.run(std::future::pending()))
        .await
        .expect("caught up in time")
        .expect("the consumer succeeds");
}

/// A version 2 consumer running until [`stop`](Running::stop)ped.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), zeroeventhub::consumer::ConsumerError>>,
}

impl Running {
    fn start(url: &str, store: &MemoryCursorStore<(u32, u64)>) -> Self {
        let client = Client::new(url, 0).unwrap();
        let consumer = Consumer::new(
            client,
            store.clone(),
            Numbers::default(),
            config(Protocol::Version2),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(consumer.run(async move {
            let _ = stopped.await;
        }));
        Running { stop, task }
    }

    /// Stops it after the pages in hand; it must end without an error.
    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(NO_HANG, self.task)
            .await
            .expect("stopped in time")
            .unwrap()
            .expect("the consumer succeeds");
    }
}

/// Waits until `store` holds `count` events.
async fn committed(store: &MemoryCursorStore<(u32, u64)>, count: usize) -> Vec<(u32, u64)> {
    let deadline = tokio::time::Instant::now() + NO_HANG;
    loop {
        let now = store.committed();
        if now.len() >= count {
            return now;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {now:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn of(values: &[(u32, u64)], partition: u32) -> Vec<u64> {
    values
        .iter()
        .filter(|(p, _)| *p == partition)
        .map(|(_, n)| *n)
        .collect()
}

#[tokio::test]
async fn a_version_2_feed_is_consumed_once_from_its_discovery_and_detected() {
    let log = MemoryLog::new(2);
    append(&log, 0, 0..7);
    append(&log, 1, 0..4);
    let (server, _) = serve_counted(Feed::from(log.clone()));
    let store = MemoryCursorStore::new();
    run_until_caught_up(&url(&server), &store, config(Protocol::Version2)).await;
    let all = store.committed();
    assert_eq!(of(&all, 0), (0..7).collect::<Vec<_>>());
    assert_eq!(of(&all, 1), (0..4).collect::<Vec<_>>());
    // Detect picks version 2 too, and resumes from the stored cursors.
    append(&log, 1, 4..6);
    run_until_caught_up(&url(&server), &store, config(Protocol::Detect)).await;
    assert_eq!(of(&store.committed(), 1), (0..6).collect::<Vec<_>>());
    assert_eq!(store.committed().len(), 13, "nothing applied twice");
}

#[tokio::test]
async fn a_split_mid_run_changes_the_token_and_children_follow_their_finished_parent() {
    let log = MemoryLog::new(2);
    append(&log, 0, 0..5);
    let (server, requests) = serve_counted(Feed::from(log.clone()));
    let store = MemoryCursorStore::new();
    let running = Running::start(&url(&server), &store);
    committed(&store, 5).await;

    // Events the parent gets just before it closes, then the split.
    append(&log, 0, 5..8);
    let children = log.split(0, 2).unwrap();
    assert_eq!(children, [2, 3]);
    append(&log, 2, 100..103);
    append(&log, 3, 200..202);
    append(&log, 1, 0..2);
    let all = committed(&store, 15).await;

    // Exactly once, and each child after every event of its parent.
    assert_eq!(of(&all, 0), (0..8).collect::<Vec<_>>());
    assert_eq!(of(&all, 2), [100, 101, 102]);
    assert_eq!(of(&all, 3), [200, 201]);
    assert_eq!(of(&all, 1), [0, 1]);
    let last_of_parent = all.iter().rposition(|(p, _)| *p == 0).unwrap();
    let first_of_child = all.iter().position(|(p, _)| *p == 2 || *p == 3).unwrap();
    assert!(last_of_parent < first_of_child, "{all:?}");

    // The closed parent is finished: it is asked no more.
    let asked = requests.of(0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(requests.of(0), asked, "a finished partition is not polled");
    running.stop().await;
    assert_eq!(store.committed().len(), 15);
}

#[tokio::test]
async fn unordered_children_start_without_waiting_for_their_parent() {
    let log = MemoryLog::new(1);
    append(&log, 0, 0..4);
    log.split(0, 1).unwrap();
    append(&log, 1, 10..12);
    let (server, _) = serve_counted(Feed::from(log.clone()));
    let store = MemoryCursorStore::new();
    let config = ConsumerConfig {
        splits: SplitOrder::Unordered,
        ..config(Protocol::Version2)
    };
    run_until_caught_up(&url(&server), &store, config).await;
    let all = store.committed();
    assert_eq!(of(&all, 0), [0, 1, 2, 3]);
    assert_eq!(of(&all, 1), [10, 11]);
}

#[tokio::test]
async fn finished_closed_partitions_are_not_asked_for_after_a_restart() {
    let log = MemoryLog::new(2);
    append(&log, 0, 0..4);
    append(&log, 1, 0..2);
    log.close(1).unwrap();
    assert_eq!(log.split(0, 1).unwrap(), [2]);
    append(&log, 2, 10..12);
    let (server, requests) = serve_counted(Feed::from(log.clone()));
    let store = MemoryCursorStore::new();
    run_until_caught_up(&url(&server), &store, config(Protocol::Version2)).await;
    let all = store.committed();
    assert_eq!(of(&all, 0), [0, 1, 2, 3]);
    assert_eq!(of(&all, 1), [0, 1]);
    assert_eq!(of(&all, 2), [10, 11]);
    assert_eq!(store.finished(NAME), [0, 1], "both closed partitions");
    let asked = (requests.of(0), requests.of(1));

    // A restart, on the same store: the closed partitions are finished,
    // and the split's child starts at once, without its parent's request.
    append(&log, 2, 12..14);
    run_until_caught_up(&url(&server), &store, config(Protocol::Version2)).await;
    assert_eq!(
        (requests.of(0), requests.of(1)),
        asked,
        "a finished closed partition is not asked for again"
    );
    assert_eq!(of(&store.committed(), 2), [10, 11, 12, 13]);
    assert_eq!(store.committed().len(), 10, "nothing applied twice");
}

#[tokio::test]
async fn a_parent_another_member_finished_is_not_asked_for_and_its_child_starts() {
    let log = MemoryLog::new(1);
    append(&log, 0, 0..3);
    assert_eq!(log.split(0, 1).unwrap(), [1]);
    append(&log, 1, 10..12);
    let (server, requests) = serve_counted(Feed::from(log.clone()));
    let store = MemoryCursorStore::new();
    // Another member holds the parent: this one's worker waits for it,
    // and the child for the parent.
    let other = Lease {
        owner: "other".to_owned(),
        ttl: Duration::from_secs(60),
    };
    assert_eq!(store.claim(NAME, 0, &other).await, Ok(Claim::Claimed));
    let client = Client::new(&url(&server), 0).unwrap();
    let config = ConsumerConfig {
        until_caught_up: true,
        ..config(Protocol::Version2)
    };
    let consumer = Consumer::new(client, store.clone(), Numbers::default(), config);
    let running = tokio::spawn(consumer.run(std::future::pending()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(store.committed().is_empty(), "the child waits");

    // The other member finishes the parent and lets it go.
    let end = Cursor::new(0, "3").unwrap();
    store.mark_finished(NAME, &end).await.unwrap();
    store.release(NAME, 0, &other).await.unwrap();
    tokio::time::timeout(NO_HANG, running)
        .await
        .expect("caught up in time")
        .unwrap()
        .expect("the consumer succeeds");
    assert_eq!(store.committed(), [(1, 10), (1, 11)]);
    assert_eq!(requests.of(0), 0, "the parent is finished: not asked for");
}

#[tokio::test]
async fn a_redistributing_split_mid_run_goes_on_from_the_parents_cursor() {
    let log = MemoryLog::new(1);
    append(&log, 0, 0..6);
    let (server, requests) = serve_counted(Feed::from(log.clone()));
    let store = MemoryCursorStore::new();
    let running = Running::start(&url(&server), &store);
    committed(&store, 6).await;

    // Method 2: the parent's history goes to two children by parity, and
    // the parent leaves the discovery; then each child gets new events.
    let even_odd = |event: &Event| {
        let data: serde_json::Value = event.data_as().unwrap();
        (data["n"].as_u64().unwrap() % 2) as u32
    };
    let children = log.split_redistributing(0, 2, even_odd).unwrap();
    assert_eq!(children, [1, 2]);
    append(&log, 1, 100..102);
    append(&log, 2, 200..201);
    let all = committed(&store, 9).await;

    // Nothing of the parent's history comes again on the children.
    assert_eq!(of(&all, 0), (0..6).collect::<Vec<_>>());
    assert_eq!(of(&all, 1), [100, 101]);
    assert_eq!(of(&all, 2), [200]);
    running.stop().await;
    assert_eq!(store.committed().len(), 9);
    // The vanished parent's worker stopped: the parent is asked no more.
    let asked = requests.of(0);
    assert!(asked > 0);

    // A consumer that never saw the parent starts the children from
    // `_first`: the whole history, each event once.
    let fresh = MemoryCursorStore::new();
    run_until_caught_up(&url(&server), &fresh, config(Protocol::Version2)).await;
    let history = fresh.committed();
    assert_eq!(of(&history, 1), [0, 2, 4, 100, 101]);
    assert_eq!(of(&history, 2), [1, 3, 5, 200]);
    assert_eq!(
        requests.of(0),
        asked,
        "an unlisted partition is not asked for"
    );
}

#[tokio::test]
async fn a_filtered_batch_consumer_reads_past_pages_the_filter_emptied() {
    // Ten events the filter drops, then one it keeps: with pages of 3,
    // the first pages move the cursor without an event.
    let log = MemoryLog::new(1);
    for n in 0..10 {
        log.append_typed(
            Event::from_data(0, &serde_json::json!({ "n": n })).unwrap(),
            "noise",
        )
        .unwrap();
    }
    log.append_typed(
        Event::from_data(0, &serde_json::json!({ "n": 10 })).unwrap(),
        "wanted",
    )
    .unwrap();
    let (server, _) = serve_counted(Feed::from(log));
    let store = MemoryCursorStore::new();
    for protocol in [Protocol::Version1, Protocol::Version2] {
        let config = ConsumerConfig {
            event_types: zeroeventhub::EventTypeFilter::only(["wanted"]),
            name: format!("filtered-{protocol:?}"),
            ..config(protocol)
        };
        let client = Client::new(&url(&server), 1).unwrap();
        let consumer = Consumer::new(
            client,
            store.clone(),
            Numbers::default(),
            ConsumerConfig {
                until_caught_up: true,
                ..config
            },
        );
        tokio::time::timeout(NO_HANG, consumer.run(std::future::pending()))
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(store.committed(), [(0, 10), (0, 10)], "once per consumer");
}

#[tokio::test]
async fn an_ordered_child_followed_without_its_parent_starts_at_once() {
    let log = MemoryLog::new(1);
    append(&log, 0, 0..3);
    assert_eq!(log.split(0, 1).unwrap(), [1]);
    append(&log, 1, 10..12);
    let (server, requests) = serve_counted(Feed::from(log.clone()));
    let store = MemoryCursorStore::new();
    // Only the child: its parent is never run here, so never finished.
    let config = ConsumerConfig {
        partitions: vec![1],
        ..config(Protocol::Version2)
    };
    run_until_caught_up(&url(&server), &store, config).await;
    assert_eq!(store.committed(), [(1, 10), (1, 11)]);
    assert_eq!(requests.of(0), 0, "the parent is not followed");
}
