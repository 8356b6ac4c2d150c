//! The consumer runtime against a producer that fails (axum on a loopback
//! socket, behind a front that injects faults), on real databases:
//! transient failures and refused connections are retried (honouring
//! `Retry-After`), 401 and 403 are retried unless told otherwise, client
//! faults and a mismatched partition count stop the consumer, and a
//! partition that makes no progress is reported stuck.

#[macro_use]
mod support;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::http::StatusCode;
use sqlx::{Pool, Sqlite};
use support::{
    AppliedDb,
    runtime_harness::{
        Fault, Producer, Recorder, applied_at_least, applied_in, assert_complete, config, data_of,
        run, stored, until,
    },
};
use zeroeventhub::{
    client::Client,
    consumer::{ConsumerConfig, ConsumerError, OnUnauthorized},
};

on_both_databases!(
    transient_failures_are_retried_and_every_event_is_applied_once,
    a_refused_connection_is_retried_until_the_producer_is_up,
    retry_after_is_honoured,
    a_client_fault_stops_the_consumer_with_its_status,
    unauthorized_is_retried_by_default,
    unauthorized_stops_the_consumer_when_told_to,
    a_mismatched_partition_count_stops_the_consumer_with_400,
);

// ---------------------------------------------------------------------------
// Failures of the producer.

async fn transient_failures_are_retried_and_every_event_is_applied_once<DB: AppliedDb>(
    pool: Pool<DB>,
) {
    let producer = Producer::start(3, support::numbered_events(3, 20), |seen| match seen.nth {
        0 => Fault::Status(StatusCode::SERVICE_UNAVAILABLE, None),
        1 => Fault::Status(StatusCode::INTERNAL_SERVER_ERROR, None),
        // A page that breaks off after some of its events and checkpoints.
        2 => Fault::Cut,
        3 => Fault::Status(StatusCode::TOO_MANY_REQUESTS, None),
        4 => Fault::Cut,
        _ => Fault::Pass,
    })
    .await;
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(producer.client(), &pool, Recorder::default(), config(), all)
        .await
        .unwrap();

    assert_complete(&producer, &pool).await;
    for partition_id in 0..3 {
        // Every fault was met, then the partition went on.
        assert!(producer.seen_at("/feed", partition_id).len() > 5);
    }
}

async fn a_refused_connection_is_retried_until_the_producer_is_up<DB: AppliedDb>(pool: Pool<DB>) {
    let events = support::numbered_events(2, 10);
    let down_for = Some(Duration::from_millis(500));
    let producer = Producer::start_after(2, events, |_| Fault::Pass, down_for).await;
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(producer.client(), &pool, Recorder::default(), config(), all)
        .await
        .unwrap();

    assert_complete(&producer, &pool).await;
}

async fn retry_after_is_honoured<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(2, support::numbered_events(2, 10), |seen| match seen.nth {
        0 => Fault::Status(StatusCode::SERVICE_UNAVAILABLE, Some(1)),
        _ => Fault::Pass,
    })
    .await;
    // The back-off alone would retry within milliseconds.
    let config = ConsumerConfig {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..config()
    };
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(producer.client(), &pool, Recorder::default(), config, all)
        .await
        .unwrap();

    assert_complete(&producer, &pool).await;
    for partition_id in 0..2 {
        let seen = producer.seen_at("/feed", partition_id);
        let waited = seen[1].at - seen[0].at;
        assert!(
            waited >= Duration::from_millis(900),
            "partition {partition_id} asked again after {waited:?} despite Retry-After: 1"
        );
    }
}

async fn a_client_fault_stops_the_consumer_with_its_status<DB: AppliedDb>(pool: Pool<DB>) {
    // Partition 1 is refused on its third request; the others would go on.
    let producer = Producer::start(3, support::numbered_events(3, 50), |seen| {
        match (seen.partition_id, seen.nth) {
            (1, 2) => Fault::Status(StatusCode::NOT_FOUND, None),
            _ => Fault::Pass,
        }
    })
    .await;
    let never = std::future::pending();
    let error = run(
        producer.client(),
        &pool,
        Recorder::default(),
        config(),
        never,
    )
    .await
    .unwrap_err();

    let (partition_id, error) = fetch_error(error);
    assert_eq!(partition_id, 1);
    assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
    assert!(error.to_string().contains("injected fault"), "{error}");
    // Refused once, not retried.
    assert_eq!(producer.seen_at("/feed", 1).len(), 3);
    // What was committed is whole: partition 1 holds its first two pages.
    assert_eq!(
        applied_in(&pool, 1).await,
        data_of(&producer.events_of(1)[..10])
    );
}

/// A producer that answers 401 and 403 for a while (a credential being
/// rotated): the consumer keeps trying, and then applies everything.
async fn unauthorized_is_retried_by_default<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(2, support::numbered_events(2, 20), |seen| match seen.nth {
        1 => Fault::Status(StatusCode::UNAUTHORIZED, None),
        2 => Fault::Status(StatusCode::FORBIDDEN, None),
        _ => Fault::Pass,
    })
    .await;
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(producer.client(), &pool, Recorder::default(), config(), all)
        .await
        .unwrap();
    assert_complete(&producer, &pool).await;
}

async fn unauthorized_stops_the_consumer_when_told_to<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(2, support::numbered_events(2, 20), |seen| match seen {
        seen if seen.partition_id == 0 && seen.nth == 1 => {
            Fault::Status(StatusCode::UNAUTHORIZED, None)
        }
        _ => Fault::Pass,
    })
    .await;
    let config = ConsumerConfig {
        on_unauthorized: OnUnauthorized::Stop,
        ..config()
    };
    let never = std::future::pending();
    let error = run(producer.client(), &pool, Recorder::default(), config, never)
        .await
        .unwrap_err();
    let (partition_id, error) = fetch_error(error);
    assert_eq!(partition_id, 0);
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(producer.seen_at("/feed", 0).len(), 2, "not retried");
}

async fn a_mismatched_partition_count_stops_the_consumer_with_400<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(2, support::numbered_events(2, 5), |_| Fault::Pass).await;
    // The consumer assumes 3 partitions; the producer has 2.
    let client = Client::new(&format!("{}/feed", producer.base), 3).unwrap();
    let never = std::future::pending();
    let error = run(client, &pool, Recorder::default(), config(), never)
        .await
        .unwrap_err();

    let (_, error) = fetch_error(error);
    assert_eq!(error.status(), Some(StatusCode::BAD_REQUEST));
    assert!(!error.is_transient());
    assert_eq!(DB::applied_count(&pool).await, 0);
    assert!(stored(&pool).await.is_empty());
}

// ---------------------------------------------------------------------------
// A partition that makes no progress.

/// The log lines written while a [`CapturedLogs::install`] guard lives on
/// this thread.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Sends this thread's `tracing` events here (plain text, no colours)
    /// until the guard is dropped.
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> CapturedLogs {
        self.clone()
    }
}

// On a current-thread runtime, so that the consumer's tasks log to this
// thread's subscriber.
#[tokio::test]
async fn a_partition_that_makes_no_progress_is_reported_stuck() {
    let logs = CapturedLogs::default();
    let _guard = logs.install();
    let db = support::SqliteDb::new().await;
    let producer = Producer::start(1, support::numbered_events(1, 3), |_| {
        Fault::Status(StatusCode::SERVICE_UNAVAILABLE, None)
    })
    .await;
    let config = ConsumerConfig {
        stuck_after: 3,
        ..config()
    };
    let reported = {
        let logs = logs.clone();
        until(move || logs.text().contains("partition stuck"))
    };
    run(
        producer.client(),
        &db.pool,
        Recorder::default(),
        config,
        reported,
    )
    .await
    .unwrap();

    let text = logs.text();
    let stuck = text
        .lines()
        .find(|line| line.contains("partition stuck"))
        .unwrap();
    assert!(stuck.contains("WARN"), "{stuck}");
    assert!(stuck.contains("cursor=\"_first\""), "{stuck}");
    assert!(stuck.contains("failures=3"), "{stuck}");
    // Not before the third failure in a row.
    let failures_before = text
        .split("partition stuck")
        .next()
        .unwrap()
        .matches("fetch failed; retrying")
        .count();
    assert_eq!(failures_before, 3, "{text}");
    assert_eq!(Sqlite::applied_count(&db.pool).await, 0);
}

/// The partition and the client's error of a consumer stopped by a fetch.
fn fetch_error(error: ConsumerError) -> (u32, zeroeventhub::client::Error) {
    match error {
        ConsumerError::Fetch {
            partition_id,
            error,
        } => (partition_id, error),
        other => panic!("expected a fetch error, got {other:?}"),
    }
}
