//! The consumer runtime on the core's in-memory cursor store, against the
//! axum producer on a real socket: no database, as a user tests a handler.

use std::time::Duration;

use zeroeventhub::{
    BoxError, Cursor, Event,
    client::Client,
    consumer::{
        Claim, Consumer, ConsumerConfig, CursorStore, Handler, Lease, MemoryCursorStore,
        MemoryTransaction,
    },
    server::MemoryLog,
};
use zeroeventhub_axum::TestFeed;

mod support;

use support::{Numbers, number};

const NAME: &str = "memory-test";
/// Only so that a broken test fails instead of hanging.
const NO_HANG: Duration = Duration::from_secs(20);

fn log_of(partitions: u32, per_partition: u64) -> MemoryLog {
    let log = MemoryLog::new(partitions);
    for n in 0..per_partition {
        for partition in 0..partitions {
            let data = serde_json::json!({ "n": n });
            log.append(Event::from_data(partition, &data).unwrap())
                .unwrap();
        }
    }
    log
}

fn config() -> ConsumerConfig {
    ConsumerConfig {
        page_size_hint: Some(3),
        poll_interval: Duration::from_millis(10),
        lease_ttl: Duration::from_millis(300),
        until_caught_up: true,
        ..ConsumerConfig::new(NAME)
    }
}

async fn run_until_caught_up(
    feed: &TestFeed,
    partitions: u32,
    store: &MemoryCursorStore<(u32, u64)>,
    handler: Numbers,
    config: ConsumerConfig,
) {
    let client = Client::new(feed.url(), partitions).unwrap();
    let consumer = Consumer::new(client, store.clone(), handler, config);
    tokio::time::timeout(NO_HANG, consumer.run(std::future::pending()))
        .await
        .expect("caught up in time")
        .expect("the consumer succeeds");
}

fn sorted(mut values: Vec<(u32, u64)>) -> Vec<(u32, u64)> {
    values.sort_unstable();
    values
}

#[tokio::test]
async fn every_event_is_committed_once_and_the_cursors_are_stored() {
    let feed = TestFeed::serve(log_of(3, 10));
    let store = MemoryCursorStore::new();
    let handler = Numbers::default();
    run_until_caught_up(&feed, 3, &store, handler.clone(), config()).await;

    let all: Vec<(u32, u64)> = (0..3).flat_map(|p| (0..10).map(move |n| (p, n))).collect();
    assert_eq!(sorted(store.committed()), all);
    // Each partition in order.
    for partition in 0..3 {
        let of: Vec<u64> = store
            .committed()
            .iter()
            .filter(|(p, _)| *p == partition)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(of, (0..10).collect::<Vec<_>>());
    }
    // `committed` saw exactly what was committed.
    assert_eq!(sorted(handler.after_commit.lock().unwrap().clone()), all);
    assert_eq!(
        store.cursors(NAME),
        (0..3)
            .map(|p| Cursor::new(p, "10").unwrap())
            .collect::<Vec<_>>()
    );

    // Again: nothing new, nothing applied twice.
    run_until_caught_up(&feed, 3, &store, Numbers::default(), config()).await;
    assert_eq!(store.committed().len(), all.len());
}

#[tokio::test]
async fn given_start_cursors_apply_where_nothing_is_stored() {
    let feed = TestFeed::serve(log_of(2, 6));
    let store = MemoryCursorStore::new();
    let config = ConsumerConfig {
        partitions: vec![1],
        start_cursors: vec![Cursor::new(1, "4").unwrap()],
        ..config()
    };
    run_until_caught_up(&feed, 2, &store, Numbers::default(), config.clone()).await;
    assert_eq!(store.committed(), [(1, 4), (1, 5)]);
    // Stored now: the stored cursor wins over the given one.
    run_until_caught_up(&feed, 2, &store, Numbers::default(), config).await;
    assert_eq!(store.committed(), [(1, 4), (1, 5)]);
}

/// Who holds each partition, asked with an owner that takes nothing.
async fn holders(store: &MemoryCursorStore<(u32, u64)>, partitions: u32) -> Vec<String> {
    let probe = Lease {
        owner: "probe".to_owned(),
        ttl: Duration::from_millis(1),
    };
    let mut holders = Vec::new();
    for partition_id in 0..partitions {
        match store.claim(NAME, partition_id, &probe).await.unwrap() {
            Claim::HeldBy { owner, .. } => holders.push(owner),
            Claim::Claimed => {
                store.release(NAME, partition_id, &probe).await.unwrap();
                holders.push(String::new());
            }
        }
    }
    holders.sort();
    holders
}

#[tokio::test]
async fn two_members_of_one_name_share_the_partitions() {
    let feed = TestFeed::serve(log_of(4, 5));
    let store = MemoryCursorStore::new();
    let member = |instance: &str| {
        let config = ConsumerConfig {
            instance: Some(instance.to_owned()),
            until_caught_up: false,
            ..config()
        };
        let client = Client::new(feed.url(), 4).unwrap();
        let consumer = Consumer::new(client, store.clone(), Numbers::default(), config);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(consumer.run(async {
            let _ = stopped.await;
        }));
        (stop, task)
    };
    let a = member("a");
    let started = tokio::time::Instant::now();
    while holders(&store, 4).await != ["a", "a", "a", "a"] {
        assert!(
            started.elapsed() < NO_HANG,
            "{:?}",
            holders(&store, 4).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let b = member("b");
    while holders(&store, 4).await != ["a", "a", "b", "b"] {
        assert!(
            started.elapsed() < NO_HANG,
            "{:?}",
            holders(&store, 4).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (stop, task) in [a, b] {
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    }
    // Stopped, they released everything; each event was applied once.
    assert_eq!(holders(&store, 4).await, ["", "", "", ""]);
    assert_eq!(store.committed().len(), 20);
}

/// A page handler sees the checkpoint that covers each event: with
/// `MemoryLog`, the position just after it.
struct Keyed;

impl Handler<MemoryTransaction<(u64, String)>> for Keyed {
    async fn handle(
        &self,
        _: &mut MemoryTransaction<(u64, String)>,
        _: &Event,
    ) -> Result<(), BoxError> {
        Err("the page handler does the work".into())
    }

    async fn handle_page(
        &self,
        transaction: &mut MemoryTransaction<(u64, String)>,
        page: &zeroeventhub::Page,
    ) -> Result<(), BoxError> {
        for (event, checkpoint) in page.covered() {
            let (_, n) = number(event)?;
            transaction.push((n, checkpoint.as_str().to_owned()));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_page_handler_gets_the_checkpoint_covering_each_event() {
    let feed = TestFeed::serve(log_of(1, 7));
    let store = MemoryCursorStore::new();
    let client = Client::new(feed.url(), 1).unwrap();
    let consumer = Consumer::new(client, store.clone(), Keyed, config());
    tokio::time::timeout(NO_HANG, consumer.run(std::future::pending()))
        .await
        .expect("caught up in time")
        .expect("the consumer succeeds");
    let expected: Vec<(u64, String)> = (0..7).map(|n| (n, (n + 1).to_string())).collect();
    assert_eq!(store.committed(), expected);
}
