//! Gap safety: a reader following the feed while many writers append in
//! transactions of random length (some rolled back) ends with every
//! committed event exactly once, in commit order per partition, and
//! nothing rolled back.

#[macro_use]
mod support;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sqlx::Pool;
use support::NO_HANG;
use zeroeventhub::{Cursor, Event, FeedLine, FeedRequest, server::DataReader};
use zeroeventhub_sqlx::{Backend, EventLog};

on_both_databases!(a_reader_following_concurrent_writers_misses_nothing);

const PARTITIONS: u32 = 4;
const WRITERS: u32 = 8;
const TRANSACTIONS: u32 = 50;

/// What each event says about where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
struct Origin {
    writer: u32,
    transaction: u32,
    index: u32,
}

async fn a_reader_following_concurrent_writers_misses_nothing<DB: Backend>(pool: Pool<DB>) {
    let log = EventLog::new(pool.clone(), PARTITIONS);
    log.migrate().await.unwrap();
    let writers_done = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(follow(log.clone(), Arc::clone(&writers_done)));

    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| tokio::spawn(write(log.clone(), writer)))
        .collect();
    // (partition, position) -> origin, of every committed event.
    let mut committed = BTreeMap::new();
    for writer in writers {
        let written = tokio::time::timeout(NO_HANG, writer)
            .await
            .expect("writers hang")
            .expect("a writer failed");
        committed.extend(written);
    }
    writers_done.store(true, Ordering::SeqCst);
    let read = tokio::time::timeout(NO_HANG, reader)
        .await
        .expect("the reader hangs")
        .expect("the reader failed");

    // Every committed event exactly once, at its position, in order.
    let expected: BTreeMap<u32, Vec<Origin>> = committed.iter().fold(
        BTreeMap::new(),
        |mut by_partition, (&(partition, _), &origin)| {
            by_partition
                .entry(partition)
                .or_insert_with(Vec::new)
                .push(origin);
            by_partition
        },
    );
    assert_eq!(read, expected);
    let total: usize = read.values().map(Vec::len).sum();
    assert!(total > 0);
    // Positions are 1, 2, 3, ... (rolled-back positions are reused).
    for (partition, origins) in &expected {
        let positions: Vec<i64> = committed
            .keys()
            .filter(|(p, _)| p == partition)
            .map(|&(_, position)| position)
            .collect();
        assert_eq!(positions, (1..=origins.len() as i64).collect::<Vec<_>>());
    }
    // A writer's transactions commit one after the other: within a
    // partition, its events appear in the order it wrote them.
    for origins in read.values() {
        for writer in 0..WRITERS {
            let own: Vec<_> = origins.iter().filter(|o| o.writer == writer).collect();
            assert!(own.windows(2).all(|pair| pair[0] < pair[1]), "{own:?}");
        }
    }
}

/// Runs `TRANSACTIONS` transactions appending 1 to 3 events each to random
/// partitions, waiting 0-20 ms between the appends and the end of the
/// transaction, and rolling back one in five. Returns the committed events
/// by (partition, position).
async fn write<DB: Backend>(log: EventLog<DB>, writer: u32) -> BTreeMap<(u32, i64), Origin> {
    let mut committed = BTreeMap::new();
    for transaction in 0..TRANSACTIONS {
        let events: Vec<(Event, Origin)> = (0..fastrand::u32(1..=3))
            .map(|index| {
                let origin = Origin {
                    writer,
                    transaction,
                    index,
                };
                let partition = fastrand::u32(..PARTITIONS);
                (Event::from_data(partition, &origin).unwrap(), origin)
            })
            .collect();
        let batch: Vec<Event> = events.iter().map(|(event, _)| event.clone()).collect();

        let mut tx = log.pool().begin().await.unwrap();
        let cursors = log
            .append_all(&mut tx, &batch)
            .await
            .unwrap_or_else(|error| panic!("writer {writer}: append failed: {error}"));
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=20))).await;
        if fastrand::u32(..5) == 0 {
            tx.rollback().await.unwrap();
            continue;
        }
        tx.commit()
            .await
            .unwrap_or_else(|error| panic!("writer {writer}: commit failed: {error}"));
        for (cursor, (_, origin)) in cursors.iter().zip(events) {
            let position = cursor.as_str().parse().unwrap();
            let previous = committed.insert((cursor.partition_id(), position), origin);
            assert!(previous.is_none(), "position handed out twice: {cursor}");
        }
    }
    committed
}

/// Follows the feed from `_first` with random page sizes until the writers
/// are done and a read after that brings nothing new. Checks on the way
/// that each checkpoint is the count of events read in its partition.
async fn follow<DB: Backend>(
    log: EventLog<DB>,
    writers_done: Arc<AtomicBool>,
) -> BTreeMap<u32, Vec<Origin>> {
    let mut cursors: Vec<Cursor> = (0..PARTITIONS).map(Cursor::first).collect();
    let mut read: BTreeMap<u32, Vec<Origin>> = BTreeMap::new();
    loop {
        // Read once more after the writers are done: then everything
        // committed is visible.
        let last_round = writers_done.load(Ordering::SeqCst);
        let request = FeedRequest {
            page_size_hint: Some(fastrand::u32(1..=40)),
            ..FeedRequest::new(PARTITIONS, cursors.clone())
        };
        let mut lines = std::pin::pin!(log.read(request));
        let mut events = 0;
        while let Some(line) = lines.next().await {
            match line.expect("the read failed") {
                FeedLine::Event(event) => {
                    events += 1;
                    let origin: Origin = event.data_as().unwrap();
                    read.entry(event.partition_id).or_default().push(origin);
                }
                FeedLine::Checkpoint(cursor) => {
                    let count = read.get(&cursor.partition_id()).map_or(0, Vec::len);
                    assert_eq!(cursor.as_str(), count.to_string(), "checkpoint {cursor}");
                    let index = cursor.partition_id() as usize;
                    cursors[index] = cursor;
                }
            }
        }
        if last_round && events == 0 {
            return read;
        }
        if events == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
