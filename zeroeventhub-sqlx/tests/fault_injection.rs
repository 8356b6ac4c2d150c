//! Consumer processes killed at random points (SIGKILL: also between
//! applying an event and committing its page) and restarted, many times,
//! on SQLite and on PostgreSQL: every event ends up applied exactly once.
//! And two consumer processes of one name at once: no partition is
//! processed by both at the same time, and when one is killed the other
//! takes its partitions over.
//!
//! The consumer processes are this test binary itself, started with
//! `--exact child_consumer_process` and its orders in the environment
//! variable [`CHILD`]; the producer runs in the test's own process.

mod support;

use std::{collections::BTreeMap, path::PathBuf, process::Stdio, time::Duration};

use serde::{Deserialize, Serialize};
use sqlx::{Pool, Sqlite, Transaction};
use support::AppliedDb;
use tokio::process::{Child, Command};
use zeroeventhub::{
    BoxError, Cursor, Event,
    client::Client,
    consumer::{Claim, ConsumerConfig, CursorStore, Handler, Lease},
};
use zeroeventhub_sqlx::{EventLog, SqlCursorStore};

/// The environment variable that makes [`child_consumer_process`] a
/// consumer, with its orders as JSON.
const CHILD: &str = "ZEH_FI_CHILD";
const CONSUMER: &str = "fault-injection";
/// The longest a child or a final consumer may take, only so that a broken
/// test fails instead of hanging.
const NO_HANG: Duration = Duration::from_secs(120);

/// What a consumer process does.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Orders {
    database: Database,
    feed_url: String,
    partition_count: u32,
    /// The partitions to consume; empty means all.
    partitions: Vec<u32>,
    /// Written in each applied row and in the ownership log.
    owner: String,
    lease_ttl_ms: u64,
    /// The cursors at which the consumer is done and exits.
    ends: Vec<String>,
    /// A SQLite file in which the handler logs, outside its transaction,
    /// each event it starts on: (partition, owner), in order.
    ownership_log: Option<PathBuf>,
    /// The longest pause after applying an event, in microseconds.
    max_dawdle_us: u64,
}

/// How long a consumer pauses at most after applying an event: enough for
/// kills to land between applying and committing.
const DAWDLE_US: u64 = 5000;

/// The consumer's database.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Database {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

// ---------------------------------------------------------------------------
// The consumer process.

/// The body of the consumer processes the other tests start; does nothing
/// unless [`CHILD`] is set. Runs until its partitions are at their ends
/// or it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_consumer_process() {
    let Ok(orders) = std::env::var(CHILD) else {
        return;
    };
    let orders: Orders = serde_json::from_str(&orders).expect("orders");
    match orders.database.clone() {
        Database::Sqlite(path) => consume(support::sqlite_pool_at(&path).await, orders).await,
        #[cfg(feature = "postgres")]
        Database::Postgres { url, schema } => {
            consume(support::postgres::pool_in(&url, &schema).await, orders).await;
        }
        #[cfg(not(feature = "postgres"))]
        Database::Postgres { .. } => panic!("built without feature postgres"),
    }
}

/// Consumes the feed per `orders` until the partitions are at their ends.
async fn consume<DB: AppliedDb>(pool: Pool<DB>, orders: Orders) {
    let ownership_log = match &orders.ownership_log {
        Some(path) => Some(support::sqlite_pool_at(path).await),
        None => None,
    };
    let handler = Applier {
        owner: orders.owner.clone(),
        ownership_log,
        max_dawdle_us: orders.max_dawdle_us,
    };
    let config = ConsumerConfig {
        partitions: orders.partitions.clone(),
        page_size_hint: Some(5),
        poll_interval: Duration::from_millis(20),
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(200),
        lease_ttl: Duration::from_millis(orders.lease_ttl_ms),
        // The lease owner is the process's name: the tests see who holds what.
        instance: Some(orders.owner.clone()),
        ..ConsumerConfig::new(CONSUMER)
    };
    let client = Client::new(&orders.feed_url, orders.partition_count).unwrap();
    let ends = orders
        .ends
        .iter()
        .enumerate()
        .map(|(p, end)| Cursor::new(p as u32, end.as_str()).unwrap())
        .filter(|end| {
            orders.partitions.is_empty() || orders.partitions.contains(&end.partition_id())
        })
        .collect();
    let done = at_the_ends(pool.clone(), ends);
    zeroeventhub_sqlx::consume(client, pool, handler, config, done)
        .await
        .unwrap();
}

/// Applies each event as a row of `applied`, then dawdles a little, so
/// that kills land between applying and committing.
struct Applier {
    owner: String,
    ownership_log: Option<Pool<Sqlite>>,
    max_dawdle_us: u64,
}

impl<DB: AppliedDb> Handler<Transaction<'static, DB>> for Applier {
    async fn handle(
        &self,
        transaction: &mut Transaction<'static, DB>,
        event: &Event,
    ) -> Result<(), BoxError> {
        if let Some(log) = &self.ownership_log {
            // Autocommitted, on a database of its own: it stays whatever
            // becomes of the page.
            sqlx::query("INSERT INTO handled (partition_id, owner) VALUES ($1, $2)")
                .bind(i64::from(event.partition_id))
                .bind(&self.owner)
                .execute(log)
                .await?;
        }
        DB::insert_applied(
            &mut **transaction,
            event.partition_id,
            event.data_json().to_owned(),
            self.owner.clone(),
        )
        .await?;
        tokio::time::sleep(Duration::from_micros(fastrand::u64(0..=self.max_dawdle_us))).await;
        Ok(())
    }
}

/// Completes once the stored cursors of [`CONSUMER`] are `ends` (those of
/// other partitions aside).
async fn at_the_ends<DB: AppliedDb>(pool: Pool<DB>, ends: Vec<Cursor>) {
    let store = SqlCursorStore::new(pool);
    loop {
        // The tables may not exist yet.
        if let Ok(cursors) = store.load_cursors(CONSUMER).await
            && ends.iter().all(|end| cursors.contains(end))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts a consumer process with `orders`; it is killed if dropped.
fn spawn(orders: &Orders) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_consumer_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, serde_json::to_string(orders).unwrap())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start a consumer process")
}

/// Kills `child` with SIGKILL, unless it already ended (then it must have
/// succeeded).
async fn kill(child: &mut Child) {
    match child.try_wait().unwrap() {
        Some(status) => assert!(status.success(), "a consumer process failed: {status}"),
        None => child.kill().await.unwrap(),
    }
}

// ---------------------------------------------------------------------------
// The tests.

/// A producer with `per_partition` events in each of `partition_count`
/// partitions, served on a loopback port; its log, to publish more.
async fn produce<DB: AppliedDb>(
    pool: Pool<DB>,
    partition_count: u32,
    per_partition: u32,
) -> (
    EventLog<DB>,
    Vec<Event>,
    String,
    zeroeventhub_axum::TestFeed,
) {
    let log = EventLog::new(pool, partition_count);
    log.migrate().await.unwrap();
    let events = support::numbered_events(partition_count, per_partition);
    log.publish(&events).await.unwrap();
    let server = zeroeventhub_axum::TestFeed::serve(log.clone());
    let url = server.url().to_owned();
    (log, events, url, server)
}

/// The stored cursors, as the children's orders give them.
fn end_strings(events: &[Event], partition_count: u32) -> Vec<String> {
    support::log_ends(events, partition_count)
        .iter()
        .map(|cursor| cursor.as_str().to_owned())
        .collect()
}

/// Every event applied once, in order per partition; the cursors at the
/// ends.
async fn assert_exactly_once<DB: AppliedDb>(pool: &Pool<DB>, events: &[Event], partitions: u32) {
    let applied = DB::applied(pool).await;
    support::assert_exactly_once(events, &applied, partitions);
    let stored = SqlCursorStore::new(pool.clone())
        .load_cursors(CONSUMER)
        .await
        .unwrap();
    assert_eq!(stored, support::log_ends(events, partitions));
}

/// The producer's and the consumer's SQLite files in `dir`, and the
/// consumer's as the children's orders name it.
async fn sqlite_databases(dir: &tempfile::TempDir) -> (Pool<Sqlite>, Pool<Sqlite>, Database) {
    let producer = support::sqlite_pool(dir, "producer.db").await;
    let path = dir.path().join("consumer.db");
    let consumer = support::sqlite_pool_at(&path).await;
    (producer, consumer, Database::Sqlite(path))
}

/// Fresh PostgreSQL schemas for the producer and the consumer (dropped
/// with them), and the consumer's as the children's orders name it; `None`
/// without a server.
#[cfg(feature = "postgres")]
async fn postgres_databases() -> Option<(support::postgres::PgDb, support::postgres::PgDb, Database)>
{
    let producer = support::postgres::PgDb::new().await?;
    let consumer = support::postgres::PgDb::new().await?;
    let database = Database::Postgres {
        url: consumer.url.clone(),
        schema: consumer.schema.clone(),
    };
    Some((producer, consumer, database))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_consumers_killed_at_random_apply_every_event_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (producer, consumer, database) = sqlite_databases(&dir).await;
    killed_and_restarted(producer, consumer, database).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_consumers_killed_at_random_apply_every_event_exactly_once() {
    let Some((producer, consumer, database)) = postgres_databases().await else {
        return;
    };
    killed_and_restarted(producer.pool.clone(), consumer.pool.clone(), database).await;
}

/// Consumer processes are killed at random moments, one after the other,
/// then a last consumer finishes the job.
async fn killed_and_restarted<DB: AppliedDb>(
    producer: Pool<DB>,
    consumer: Pool<DB>,
    database: Database,
) {
    const PARTITIONS: u32 = 3;
    const KILLS: usize = 20;
    let (_, events, feed_url, server) = produce(producer, PARTITIONS, 400).await;
    DB::create_tables(&consumer).await;
    SqlCursorStore::new(consumer.clone())
        .migrate()
        .await
        .unwrap();
    let orders = Orders {
        database,
        feed_url: feed_url.clone(),
        partition_count: PARTITIONS,
        partitions: Vec::new(),
        owner: String::new(),
        // Short leases, so that a new process takes over soon after the
        // previous one was killed.
        lease_ttl_ms: 500,
        ends: end_strings(&events, PARTITIONS),
        ownership_log: None,
        max_dawdle_us: DAWDLE_US,
    };

    let seed = fastrand::u64(..);
    eprintln!("kill times from seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    for round in 0..KILLS {
        let mut child = spawn(&Orders {
            owner: format!("run{round}"),
            ..orders.clone()
        });
        tokio::time::sleep(Duration::from_millis(rng.u64(50..=800))).await;
        kill(&mut child).await;
    }
    let before_last = DB::applied_count(&consumer).await;
    eprintln!(
        "{before_last} of {} rows applied by killed processes",
        events.len()
    );

    // A last consumer, in this process, to the end.
    let handler = Applier {
        owner: "last".to_owned(),
        ownership_log: None,
        max_dawdle_us: DAWDLE_US,
    };
    let config = ConsumerConfig {
        page_size_hint: Some(5),
        poll_interval: Duration::from_millis(20),
        lease_ttl: Duration::from_millis(500),
        ..ConsumerConfig::new(CONSUMER)
    };
    let done = at_the_ends(consumer.clone(), support::log_ends(&events, PARTITIONS));
    let client = Client::new(&feed_url, PARTITIONS).unwrap();
    let last = zeroeventhub_sqlx::consume(client, consumer.clone(), handler, config, done);
    tokio::time::timeout(NO_HANG, last)
        .await
        .expect("the last consumer hangs")
        .unwrap();
    drop(server);

    assert_exactly_once(&consumer, &events, PARTITIONS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_processes_never_hold_a_partition_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (producer, consumer, database) = sqlite_databases(&dir).await;
    two_processes(producer, consumer, database, &dir).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_processes_never_hold_a_partition_at_once() {
    let Some((producer, consumer, database)) = postgres_databases().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    two_processes(producer.pool.clone(), consumer.pool.clone(), database, &dir).await;
}

/// Process A consumes the feed; once it has applied all there is, process
/// B of the same consumer joins, and A gives B its share of the partitions;
/// with B known to be up and working, A is killed, and the next events are
/// published: B takes A's partitions over once their leases lapse, and
/// applies them all. Each step waits for what the test can see, not for a
/// time: the feed is the test's own.
async fn two_processes<DB: AppliedDb>(
    producer: Pool<DB>,
    consumer: Pool<DB>,
    database: Database,
    dir: &tempfile::TempDir,
) {
    const PARTITIONS: u32 = 4;
    const PER_PHASE: u32 = 30;
    let (log, first, feed_url, server) = produce(producer, PARTITIONS, PER_PHASE).await;
    let all = support::numbered_events(PARTITIONS, 2 * PER_PHASE);
    let second: Vec<Event> = all[first.len()..].to_vec();
    DB::create_tables(&consumer).await;
    let store = SqlCursorStore::new(consumer.clone());
    store.migrate().await.unwrap();
    let log_path = dir.path().join("ownership.db");
    let ownership = support::sqlite_pool_at(&log_path).await;
    sqlx::query(
        "CREATE TABLE handled (id INTEGER PRIMARY KEY AUTOINCREMENT, partition_id BIGINT NOT NULL, owner TEXT NOT NULL)",
    )
    .execute(&ownership)
    .await
    .unwrap();
    let orders = Orders {
        database,
        feed_url,
        partition_count: PARTITIONS,
        partitions: Vec::new(),
        owner: "A".to_owned(),
        lease_ttl_ms: 1000,
        ends: end_strings(&all, PARTITIONS),
        ownership_log: Some(log_path),
        max_dawdle_us: 0,
    };
    // A applies everything there is.
    let mut a = spawn(&orders);
    let phase_one = support::log_ends(&first, PARTITIONS);
    eventually("A applied the first events", || async {
        store.load_cursors(CONSUMER).await.unwrap_or_default() == phase_one
    })
    .await;

    // B joins, and A gives it two partitions.
    let mut b = spawn(&Orders {
        owner: "B".to_owned(),
        ..orders.clone()
    });
    eventually("A and B hold two partitions each", || async {
        holders(&store, PARTITIONS).await == ["A", "A", "B", "B"]
    })
    .await;

    // A dies with its two leases; the next events come.
    kill(&mut a).await;
    log.publish(&second).await.unwrap();
    let status = tokio::time::timeout(NO_HANG, b.wait())
        .await
        .expect("process B hangs")
        .unwrap();
    assert!(status.success(), "process B failed: {status}");
    drop(server);

    assert_exactly_once(&consumer, &all, PARTITIONS).await;
    // The first events were applied by A, the next ones by B.
    let applied = DB::applied(&consumer).await;
    for (index, event) in applied.iter().enumerate() {
        let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
        let phase_one = data["n"].as_u64().unwrap() < u64::from(PER_PHASE);
        let expected = if phase_one { "A" } else { "B" };
        assert_eq!(event.owner, expected, "row {index}: {event:?}");
    }
    // Who handled each partition, in order: one owner at a time, A then B,
    // never back.
    let handled: Vec<(i64, String)> =
        sqlx::query_as("SELECT partition_id, owner FROM handled ORDER BY id")
            .fetch_all(&ownership)
            .await
            .unwrap();
    let mut turns: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (partition_id, owner) in handled {
        let turns = turns.entry(partition_id).or_default();
        if turns.last() != Some(&owner) {
            turns.push(owner);
        }
    }
    let expected: BTreeMap<i64, Vec<String>> = (0..PARTITIONS)
        .map(|p| (i64::from(p), vec!["A".to_owned(), "B".to_owned()]))
        .collect();
    assert_eq!(turns, expected, "turns of the owners on each partition");
}

/// Waits until `done` says so; fails naming `what` after [`NO_HANG`].
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    while !done().await {
        assert!(started.elapsed() < NO_HANG, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The owner of each partition's lease (empty: free), sorted, asked with an
/// owner that never keeps one.
async fn holders<DB: AppliedDb>(store: &SqlCursorStore<DB>, partitions: u32) -> Vec<String> {
    let probe = Lease {
        owner: "probe".to_owned(),
        ttl: Duration::from_millis(1),
    };
    let mut holders = Vec::new();
    for partition_id in 0..partitions {
        match store.claim(CONSUMER, partition_id, &probe).await.unwrap() {
            Claim::HeldBy { owner, .. } => holders.push(owner),
            Claim::Claimed => {
                store.release(CONSUMER, partition_id, &probe).await.unwrap();
                holders.push(String::new());
            }
        }
    }
    holders.sort();
    holders
}
