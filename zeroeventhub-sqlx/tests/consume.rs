//! The ready-made pairing end to end: a producer appends to its event log
//! while serving it over HTTP (axum, real loopback socket); a consumer
//! applies the feed into a table of its own database with `consume`, is
//! stopped midway, and restarted as two competing processes. Every event
//! ends up applied exactly once, in order per partition.

mod support;

use std::{collections::BTreeMap, future::Future, time::Duration};

use sqlx::{Pool, Transaction};
use support::NO_HANG;
use zeroeventhub::{
    BoxError, Cursor, Event,
    client::Client,
    consumer::{ConsumerConfig, Handler},
};
use zeroeventhub_sqlx::{Backend, EventLog, SqlCursorStore, consume};

const PARTITIONS: u32 = 4;
/// Published before the consumer starts.
const BEFORE: u64 = 50;
/// Published while it runs.
const WHILE: u64 = 150;
const CONSUMER: &str = "e2e";

/// The consumer's handler: one row per applied event.
struct Apply;

/// What the test needs from the consumer's database beyond the crate.
trait AppliedTable: Backend + Sized {
    fn create_applied(pool: &Pool<Self>) -> impl Future<Output = ()> + Send;
    /// (partition, data) of every applied row, in the order applied.
    fn applied(pool: &Pool<Self>) -> impl Future<Output = Vec<(i64, String)>> + Send;
}

macro_rules! applied_table {
    ($db:ty, $id:literal) => {
        impl Handler<Transaction<'static, $db>> for Apply {
            async fn handle(
                &self,
                transaction: &mut Transaction<'static, $db>,
                event: &Event,
            ) -> Result<(), BoxError> {
                sqlx::query("INSERT INTO applied (partition_id, data) VALUES ($1, $2)")
                    .bind(i64::from(event.partition_id))
                    .bind(event.data_json())
                    .execute(&mut **transaction)
                    .await?;
                Ok(())
            }
        }

        impl AppliedTable for $db {
            async fn create_applied(pool: &Pool<Self>) {
                let sql = concat!(
                    "CREATE TABLE applied (id ",
                    $id,
                    ", partition_id BIGINT NOT NULL, data TEXT NOT NULL)"
                );
                sqlx::query(sql).execute(pool).await.unwrap();
            }

            async fn applied(pool: &Pool<Self>) -> Vec<(i64, String)> {
                sqlx::query_as("SELECT partition_id, data FROM applied ORDER BY id")
                    .fetch_all(pool)
                    .await
                    .unwrap()
            }
        }
    };
}

applied_table!(sqlx::Sqlite, "INTEGER PRIMARY KEY AUTOINCREMENT");
#[cfg(feature = "postgres")]
applied_table!(sqlx::Postgres, "BIGSERIAL PRIMARY KEY");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_feed_consumed_exactly_once_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let producer = support::sqlite_pool(&dir, "producer.db").await;
    // Two pools on one file: as two consumer processes would have.
    let consumers = [
        support::sqlite_pool(&dir, "consumer.db").await,
        support::sqlite_pool(&dir, "consumer.db").await,
    ];
    feed_consumed_exactly_once(producer, consumers).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_feed_consumed_exactly_once_across_restarts() {
    let Some(db) = support::postgres::PgDb::new().await else {
        return;
    };
    let consumers = [db.pool.clone(), db.pool.clone()];
    feed_consumed_exactly_once(db.pool.clone(), consumers).await;
}

async fn feed_consumed_exactly_once<DB>(producer: Pool<DB>, consumers: [Pool<DB>; 2])
where
    DB: AppliedTable,
    Apply: Handler<Transaction<'static, DB>>,
{
    let log = EventLog::new(producer, PARTITIONS);
    log.migrate().await.unwrap();
    let published: Vec<Event> = (0..BEFORE + WHILE).map(event).collect();
    log.publish(&published[..BEFORE as usize]).await.unwrap();
    let server = zeroeventhub_axum::TestFeed::serve(log.clone());
    let url = server.url().to_owned();
    let appending = tokio::spawn({
        let log = log.clone();
        let rest = published[BEFORE as usize..].to_vec();
        async move {
            for batch in rest.chunks(3) {
                log.publish(batch).await.unwrap();
                tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=5))).await;
            }
        }
    });

    let [first, second] = consumers;
    DB::create_applied(&first).await;
    let config = ConsumerConfig {
        poll_interval: Duration::from_millis(20),
        page_size_hint: Some(7),
        ..ConsumerConfig::new(CONSUMER)
    };
    let client = Client::new(&url, PARTITIONS).unwrap();

    // First run: stopped after a third of the events.
    let stop = applied_at_least(first.clone(), (BEFORE + WHILE) / 3);
    let run = consume(client.clone(), first.clone(), Apply, config.clone(), stop);
    tokio::time::timeout(NO_HANG, run)
        .await
        .expect("hangs")
        .unwrap();

    // Second run, as two processes competing for the partitions, until
    // every event is in.
    tokio::time::timeout(NO_HANG, appending)
        .await
        .expect("hangs")
        .unwrap();
    let runs = [first.clone(), second].map(|pool| {
        let stop = applied_at_least(pool.clone(), BEFORE + WHILE);
        consume(client.clone(), pool, Apply, config.clone(), stop)
    });
    let [a, b] = runs;
    let (a, b) = tokio::time::timeout(NO_HANG, async { tokio::join!(a, b) })
        .await
        .expect("hangs");
    a.unwrap();
    b.unwrap();
    drop(server);

    // Exactly once, in order per partition.
    let applied = DB::applied(&first).await;
    let mut expected: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for event in &published {
        let partition = i64::from(event.partition_id);
        expected
            .entry(partition)
            .or_default()
            .push(event.data_json().to_owned());
    }
    let mut actual: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (partition, data) in applied {
        actual.entry(partition).or_default().push(data);
    }
    assert_eq!(actual, expected);

    // The stored cursors are the ends of the partitions.
    let stored = SqlCursorStore::new(first)
        .load_cursors(CONSUMER)
        .await
        .unwrap();
    let ends: Vec<Cursor> = expected
        .iter()
        .map(|(&partition, events)| {
            Cursor::new(partition as u32, events.len().to_string()).unwrap()
        })
        .collect();
    assert_eq!(stored, ends);
}

/// Event `n`: the data says which, the partition follows its entity key.
fn event(n: u64) -> Event {
    let key = format!("entity-{}", n % 17);
    let partition = zeroeventhub_sqlx::partition_for(&key, PARTITIONS);
    Event::from_data(partition, &serde_json::json!({"n": n, "key": key})).unwrap()
}

/// Completes once the consumer's table holds at least `count` rows.
async fn applied_at_least<DB: AppliedTable>(pool: Pool<DB>, count: u64) {
    while (DB::applied(&pool).await.len() as u64) < count {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
