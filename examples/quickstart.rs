//! A producer and a consumer of one feed, in one process, on a loopback
//! port: the producer appends events while the consumer follows the feed
//! page by page and applies each page exactly once.
//!
//! Run it with `cargo run --example quickstart`; it stops by itself.
#![allow(clippy::print_stdout)] // printing is this example's job

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};
use zeroeventhub::{
    Cursor, Event, Page,
    client::{Client, FetchOptions},
    server::MemoryLog,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const PARTITIONS: u32 = 3;
const EVENTS: u64 = 240;
const BATCH: u64 = 12;

/// The data of every event of this feed.
#[derive(Debug, Serialize, Deserialize)]
struct NameChanged {
    seq: u64,
    person_id: u64,
    new_name: String,
}

/// The consumer's database: the effects of the events and the cursors,
/// always changed together in one "transaction".
#[derive(Debug, Default)]
struct ConsumerDb {
    names: BTreeMap<u64, String>,
    applied: BTreeMap<u64, u32>, // seq -> times applied
    cursors: Vec<Cursor>,
}

impl ConsumerDb {
    /// Applies the page's covered events and stores its cursors, all or
    /// nothing: the in-memory stand-in for BEGIN ... COMMIT.
    fn apply(&mut self, page: &Page) -> Result<(), serde_json::Error> {
        let mut names = self.names.clone();
        let mut applied = self.applied.clone();
        for event in page.events() {
            let change: NameChanged = event.data_as()?;
            names.insert(change.person_id, change.new_name);
            *applied.entry(change.seq).or_default() += 1;
        }
        // COMMIT: effects and cursors become visible together.
        self.names = names;
        self.applied = applied;
        self.cursors = page.advance_cursors(&self.cursors);
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // The producer: an event log served at /person/feed/v1.
    let log = MemoryLog::new(PARTITIONS);
    let app = zeroeventhub_axum::feed_router("/person/feed/v1", log.clone(), PARTITIONS);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/person/feed/v1", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("producer: serving {PARTITIONS} partitions at {url}");

    // It keeps appending events in its own pace.
    let producer = tokio::spawn(append_events(log.clone()));

    // The consumer: starts from the beginning of every partition.
    let client = Client::new(&url, PARTITIONS)?;
    let options = FetchOptions {
        page_size_hint: Some(25),
        ..FetchOptions::default()
    };
    let mut db = ConsumerDb {
        cursors: (0..PARTITIONS).map(Cursor::first).collect(),
        ..ConsumerDb::default()
    };
    let mut pages = 0;
    loop {
        let page = client.fetch_page(&db.cursors, &options).await?;
        db.apply(&page)?;
        pages += 1;
        let cursors: Vec<String> = db.cursors.iter().map(Cursor::to_string).collect();
        println!(
            "consumer: page {pages:>3}: {:>2} events, cursors now {}",
            page.len(),
            cursors.join(" ")
        );
        if page.is_empty() {
            if producer.is_finished() && db.applied.len() as u64 == EVENTS {
                break;
            }
            // Caught up: poll again a little later.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    producer.await??;

    let duplicates = db.applied.values().filter(|&&n| n > 1).count();
    let missing = (0..EVENTS)
        .filter(|seq| !db.applied.contains_key(seq))
        .count();
    println!();
    println!("summary");
    println!("  events produced: {EVENTS}");
    println!("  events consumed: {}", db.applied.len());
    println!("  duplicates:      {duplicates}");
    println!("  missing:         {missing}");
    println!("  pages fetched:   {pages}");
    println!("  people known:    {}", db.names.len());
    if duplicates != 0 || missing != 0 {
        return Err("the consumer did not see every event exactly once".into());
    }
    Ok(())
}

/// Appends `EVENTS` name changes in batches, pausing between batches.
async fn append_events(log: MemoryLog) -> Result<(), BoxError> {
    let names = ["Ada", "Grace", "Edsger", "Barbara", "Donald", "Frances"];
    for seq in 0..EVENTS {
        let person_id = seq % 20;
        let change = NameChanged {
            seq,
            person_id,
            new_name: names[(seq % names.len() as u64) as usize].to_owned(),
        };
        // Events of one person stay in one partition, so they stay in order.
        let partition_id = (person_id % u64::from(PARTITIONS)) as u32;
        let event = Event::from_data(partition_id, &change)?.with_header("ce_type", "NameChanged");
        log.append(event)?;
        if seq % BATCH == BATCH - 1 {
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }
    println!("producer: appended {EVENTS} events");
    Ok(())
}
