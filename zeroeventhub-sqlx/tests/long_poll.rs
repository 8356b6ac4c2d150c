//! Long-polling on the event log: a waiting request is woken by an append
//! of any connection (SQLite's change check, PostgreSQL's NOTIFY), not
//! only by one of its own log, and a lost listening connection misses
//! nothing.

#[macro_use]
mod support;

use std::time::{Duration, Instant};

use sqlx::Pool;
use zeroeventhub::{Cursor, Event, Page, client::Client, server::Feed};
use zeroeventhub_axum::TestFeed;
use zeroeventhub_sqlx::{Backend, EventLog};

on_both_databases!(
    an_append_by_another_connection_wakes_the_waiting_request,
    an_append_in_a_transaction_of_the_serving_log_wakes_at_commit,
    an_append_to_another_partition_does_not_end_the_wait,
);

/// Long enough that an answer before it proves the request was woken, not
/// answered when its wait ended.
const LONG_WAIT: Duration = Duration::from_secs(30);

fn event(partition_id: u32, n: u64) -> Event {
    Event::from_data(partition_id, &serde_json::json!({ "n": n })).unwrap()
}

/// The log on `pool`, migrated and served on a loopback port.
async fn served<DB: Backend>(pool: &Pool<DB>) -> (EventLog<DB>, TestFeed, Client) {
    let log = EventLog::new(pool.clone(), 2);
    log.migrate().await.unwrap();
    let server = TestFeed::serve(Feed::from(log.clone()));
    let client = Client::new(server.url(), 2).unwrap();
    (log, server, client)
}

/// A long-poll of partition 0 from `_last`, and how long it took.
async fn long_poll(client: &Client, wait: Duration) -> (Page, Duration) {
    let started = Instant::now();
    let page = client
        .fetch(&[Cursor::last(0)])
        .wait(wait)
        .page()
        .await
        .unwrap();
    (page, started.elapsed())
}

fn numbers(page: &Page) -> Vec<&str> {
    page.events().iter().map(Event::data_json).collect()
}

async fn an_append_by_another_connection_wakes_the_waiting_request<DB: Backend>(pool: Pool<DB>) {
    let (_log, _server, client) = served(&pool).await;
    // Another log value on the database: its appends reach the serving
    // log only through the database, as another process's would.
    let other = EventLog::new(pool.clone(), 2);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        other.publish(&[event(0, 1)]).await.unwrap();
    });
    let (page, took) = long_poll(&client, LONG_WAIT).await;
    assert!(took < LONG_WAIT / 2, "not woken: {took:?}");
    assert_eq!(numbers(&page), [r#"{"n":1}"#]);
    assert_eq!(page.cursor(0).unwrap().as_str(), "1");
}

async fn an_append_in_a_transaction_of_the_serving_log_wakes_at_commit<DB: Backend>(
    pool: Pool<DB>,
) {
    let (log, _server, client) = served(&pool).await;
    let appending = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut transaction = log.pool().begin().await.unwrap();
        log.append(&mut transaction, &event(0, 1)).await.unwrap();
        // Not visible yet: the waiting request must not answer empty now.
        tokio::time::sleep(Duration::from_millis(300)).await;
        transaction.commit().await.unwrap();
    });
    let (page, took) = long_poll(&client, LONG_WAIT).await;
    assert!(took < LONG_WAIT / 2, "not woken: {took:?}");
    assert!(
        took >= Duration::from_millis(500),
        "answered before the commit"
    );
    assert_eq!(numbers(&page), [r#"{"n":1}"#]);
    appending.await.unwrap();
}

async fn an_append_to_another_partition_does_not_end_the_wait<DB: Backend>(pool: Pool<DB>) {
    let (log, _server, client) = served(&pool).await;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        log.publish(&[event(1, 1)]).await.unwrap();
    });
    let (page, took) = long_poll(&client, Duration::from_secs(1)).await;
    assert!(took >= Duration::from_secs(1), "ended by another partition");
    assert!(page.is_empty());
    assert_eq!(page.cursor(0).unwrap().as_str(), "0");
}

#[cfg(feature = "postgres")]
mod postgres_listener {
    //! The listening connection of a PostgreSQL log, cut by the server.

    use sqlx::{Connection, PgConnection};

    use super::*;

    /// Terminates every backend listening for event logs; returns how many.
    async fn terminate_listeners(url: &str) -> usize {
        let mut admin = PgConnection::connect(url).await.unwrap();
        let terminated: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE query = 'LISTEN \"zeroeventhub\"' AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        admin.close().await.ok();
        terminated.len()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn an_append_while_the_listening_connection_is_lost_is_not_missed() {
        let Some(db) = crate::support::postgres::PgDb::new().await else {
            return;
        };
        let (_log, _server, client) = served(&db.pool).await;
        // A first wait starts the listener.
        let (page, _) = long_poll(&client, Duration::from_secs(1)).await;
        assert!(page.is_empty());

        let waiting = tokio::spawn({
            let client = client.clone();
            async move { long_poll(&client, LONG_WAIT).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(terminate_listeners(&db.url).await >= 1, "no listener found");
        // Appended while nobody listens: its NOTIFY reaches no one.
        let other = EventLog::new(db.pool.clone(), 2);
        other.publish(&[event(0, 1)]).await.unwrap();

        let (page, took) = waiting.await.unwrap();
        assert!(took < LONG_WAIT / 2, "missed: {took:?}");
        assert_eq!(numbers(&page), [r#"{"n":1}"#]);

        // Listening again: the next append wakes the next wait at once.
        let from = page.cursor(0).unwrap().clone();
        let appending = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            other.publish(&[event(0, 2)]).await.unwrap();
        });
        let started = Instant::now();
        let page = client.fetch(&[from]).wait(LONG_WAIT).page().await.unwrap();
        assert!(started.elapsed() < LONG_WAIT / 2);
        assert_eq!(numbers(&page), [r#"{"n":2}"#]);
        appending.await.unwrap();
    }
}

/// SQLite's change check wakes only the waiters of partitions that got
/// rows: a commit to another table, or to another partition, wakes nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_wakes_only_the_partitions_that_changed() {
    use zeroeventhub::server::DataReader;

    let db = support::SqliteDb::new().await;
    let log = EventLog::new(db.pool.clone(), 2);
    log.migrate().await.unwrap();
    sqlx::query("CREATE TABLE unrelated (n INTEGER)")
        .execute(&db.pool)
        .await
        .unwrap();
    let changes = log.changes().expect("the log notifies").clone();
    let mut waiting = changes.subscribe([0]);
    // The check starts by waking everyone once: nothing is missed before it.
    tokio::time::timeout(Duration::from_secs(5), waiting.changed())
        .await
        .expect("the first check");

    let quiet = Duration::from_millis(300);
    sqlx::query("INSERT INTO unrelated VALUES (1)")
        .execute(&db.pool)
        .await
        .unwrap();
    let other = EventLog::new(db.pool.clone(), 2);
    other.publish(&[event(1, 1)]).await.unwrap();
    assert!(
        tokio::time::timeout(quiet, waiting.changed())
            .await
            .is_err(),
        "woken by another table or partition"
    );
    other.publish(&[event(0, 2)]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), waiting.changed())
        .await
        .expect("woken by its partition");
}
