//! Exactly once, on real databases: a producer and a consumer, each with
//! its own SQLite file in a temporary directory, talking over a loopback
//! port.
//!
//! The producer changes its own state and appends the event describing it
//! in one transaction (the outbox pattern), and serves its event log as a
//! feed. The consumer follows the feed with the runtime: for each page, in
//! one transaction of its own database, it applies the events and stores
//! the new cursors. Once caught up it long-polls: the producer holds its
//! request and answers as soon as an event is committed. Midway the
//! consumer is stopped and started again; the summary checks that every
//! event arrived exactly once and says how long events took from the
//! producer's commit to the consumer's.
//!
//! Run it with `cargo run --example quickstart`; it stops by itself.
#![allow(clippy::print_stdout)] // printing is this example's job

use std::{
    collections::HashMap,
    path::Path,
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use zeroeventhub::{
    BoxError, Event,
    client::Client,
    consumer::{ConsumerConfig, Handler},
    server::Feed,
};
use zeroeventhub_sqlx::{
    SqliteEventLog, consume,
    sqlx::{
        self, Sqlite, SqlitePool, Transaction,
        sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
    },
};

const PARTITIONS: u32 = 3;
const EVENTS: i64 = 300;
const PEOPLE: i64 = 25;

/// The data of every event of this feed.
#[derive(Debug, Serialize, Deserialize)]
struct NameChanged {
    seq: i64,
    person_id: i64,
    new_name: String,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    println!("databases in {}", dir.path().display());

    // The producer: its own state (people) and its event log, one database.
    let producer_db = open(&dir.path().join("producer.db")).await?;
    sqlx::query("CREATE TABLE people (person_id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        .execute(&producer_db)
        .await?;
    let log = SqliteEventLog::new(producer_db.clone(), PARTITIONS);
    log.migrate().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/person/feed/v1", listener.local_addr()?);
    // A feed holds a long-polling request until an event arrives (60 s at
    // most by default, `Feed::with_max_wait`).
    let app = zeroeventhub_axum::feed_router("/person/feed/v1", Feed::from(log.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("producer: serving {PARTITIONS} partitions at {url}");
    let timing = Timing::default();
    let producer = tokio::spawn(produce(log, timing.clone()));

    // The consumer: its own database, with what it learnt and its cursors.
    let consumer_db = open(&dir.path().join("consumer.db")).await?;
    sqlx::query("CREATE TABLE names (person_id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        .execute(&consumer_db)
        .await?;
    // No key on `seq`: an event applied twice would show as two rows.
    sqlx::query("CREATE TABLE applied (seq INTEGER NOT NULL)")
        .execute(&consumer_db)
        .await?;
    let client = Client::new(&url, PARTITIONS)?;
    // Long-polling is on by default (`long_poll`: 20 s once caught up).
    let config = ConsumerConfig {
        page_size_hint: Some(20),
        ..ConsumerConfig::new("name-directory")
    };
    let handler = || ApplyName {
        timing: timing.clone(),
    };

    println!("consumer: started");
    let midway = applied_at_least(consumer_db.clone(), EVENTS / 3);
    consume(
        client.clone(),
        consumer_db.clone(),
        handler(),
        config.clone(),
        midway,
    )
    .await?;
    let applied = count(&consumer_db, "SELECT count(*) FROM applied").await?;
    println!("consumer: stopped after the page in hand, {applied} events applied");

    println!("consumer: started again, resuming from its stored cursors");
    let all = applied_at_least(consumer_db.clone(), EVENTS);
    consume(client, consumer_db.clone(), handler(), config, all).await?;
    producer.await??;
    println!("consumer: caught up, stopped");

    let produced = count(&producer_db, "SELECT count(*) FROM zeh_event_log").await?;
    let consumed = count(&consumer_db, "SELECT count(DISTINCT seq) FROM applied").await?;
    let applied = count(&consumer_db, "SELECT count(*) FROM applied").await?;
    let names = "SELECT person_id, name FROM names ORDER BY person_id";
    let people = "SELECT person_id, name FROM people ORDER BY person_id";
    let learnt: Vec<(i64, String)> = sqlx::query_as(names).fetch_all(&consumer_db).await?;
    let truth: Vec<(i64, String)> = sqlx::query_as(people).fetch_all(&producer_db).await?;
    let agree = learnt.iter().filter(|row| truth.contains(row)).count() as i64;
    println!();
    println!("summary");
    println!("  events produced:  {produced}");
    println!("  events consumed:  {consumed}");
    println!("  duplicates:       {}", applied - consumed);
    println!("  people in sync:   {agree} of {PEOPLE}");
    let (p50, p99) = timing.percentiles();
    println!(
        "  commit to consumer: p50 {:.1} ms, p99 {:.1} ms (producer's commit to the consumer's, long-polling)",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    if produced != EVENTS || consumed != EVENTS || applied != EVENTS || agree != PEOPLE {
        return Err("the consumer did not apply every event exactly once".into());
    }
    Ok(())
}

/// When each event was committed by the producer, and how long each took
/// until the consumer committed it (the example runs both in one process,
/// so one clock serves).
#[derive(Clone, Default)]
struct Timing {
    committed: Arc<Mutex<HashMap<i64, Instant>>>,
    delays: Arc<Mutex<Vec<Duration>>>,
}

impl Timing {
    fn producer_committed(&self, seq: i64) {
        self.committed.lock().unwrap().insert(seq, Instant::now());
    }

    fn consumer_committed(&self, seq: i64) {
        if let Some(at) = self.committed.lock().unwrap().get(&seq) {
            self.delays.lock().unwrap().push(at.elapsed());
        }
    }

    /// The median and the 99th percentile of the delays.
    fn percentiles(&self) -> (Duration, Duration) {
        let mut delays = self.delays.lock().unwrap().clone();
        delays.sort_unstable();
        let at = |q: f64| {
            let index = ((delays.len() as f64 - 1.0) * q).round() as usize;
            delays.get(index).copied().unwrap_or_default()
        };
        (at(0.5), at(0.99))
    }
}

/// Applies one name change inside the consumer's transaction; the runtime
/// stores the cursor in the same transaction and commits.
struct ApplyName {
    timing: Timing,
}

impl Handler<Transaction<'static, Sqlite>> for ApplyName {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        event: &Event,
    ) -> Result<(), BoxError> {
        let change: NameChanged = event.data_as()?;
        sqlx::query("INSERT INTO names (person_id, name) VALUES ($1, $2) ON CONFLICT (person_id) DO UPDATE SET name = excluded.name")
            .bind(change.person_id)
            .bind(&change.new_name)
            .execute(&mut **tx)
            .await?;
        sqlx::query("INSERT INTO applied (seq) VALUES ($1)")
            .bind(change.seq)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Called once the page's transaction committed.
    fn committed(&self, events: &[Event]) {
        for event in events {
            if let Ok(change) = event.data_as::<NameChanged>() {
                self.timing.consumer_committed(change.seq);
            }
        }
    }
}

/// The producer's work: each name change and its event in one transaction.
async fn produce(log: SqliteEventLog, timing: Timing) -> Result<(), BoxError> {
    let names = [
        "Ada", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Alan",
    ];
    for seq in 0..EVENTS {
        let person_id = seq % PEOPLE;
        let change = NameChanged {
            seq,
            person_id,
            new_name: format!("{} {seq}", names[(seq % names.len() as i64) as usize]),
        };
        let mut tx = log.pool().begin().await?;
        sqlx::query("INSERT INTO people (person_id, name) VALUES ($1, $2) ON CONFLICT (person_id) DO UPDATE SET name = excluded.name")
            .bind(person_id)
            .bind(&change.new_name)
            .execute(&mut *tx)
            .await?;
        // One person's events share a partition, so they stay in order.
        let partition_id = log.partition_for(person_id.to_string());
        let event = Event::from_data(partition_id, &change)?.with_header("ce_type", "NameChanged");
        log.append(&mut tx, &event).await?;
        tx.commit().await?;
        timing.producer_committed(seq);
        // Changes come in small bursts, at random moments.
        if seq % 10 == 9 {
            tokio::time::sleep(Duration::from_millis(5 + fastrand::u64(..20))).await;
        }
    }
    println!("producer: {EVENTS} changes committed");
    Ok(())
}

/// Completes once the consumer has applied `target` events.
async fn applied_at_least(db: SqlitePool, target: i64) {
    while count(&db, "SELECT count(*) FROM applied")
        .await
        .unwrap_or(0)
        < target
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn count(db: &SqlitePool, sql: &'static str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sql).fetch_one(db).await
}

/// Opens (creating) a SQLite file in WAL mode. `synchronous = NORMAL`
/// keeps every commit safe from a crash of the process, not from a power
/// cut: plenty for a demonstration, and much faster.
async fn open(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    SqlitePool::connect_with(options).await
}
