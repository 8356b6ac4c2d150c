//! The consumer runtime's lifecycle, against a producer on a loopback
//! socket and real databases: shutdown finishes the page in hand, releases
//! the leases and does not wait for a producer that never finishes;
//! cursors advance on pages without events; an idle partition does not
//! hold back a busy one; and a partition taken back (or a lease lost mid
//! page) resumes from the cursor another process stored.

#[macro_use]
mod support;

use std::{sync::Arc, time::Duration};

use sqlx::Pool;
use support::{
    AppliedDb,
    runtime_harness::{
        CONSUMER, Fault, Producer, Recorder, applied_at_least, applied_in, assert_complete, config,
        data_of, run, store, stored, until,
    },
};
use tokio::sync::Notify;
use zeroeventhub::{
    Cursor, Event,
    consumer::{Claim, ConsumerConfig, CursorStore, Lease, StartFrom},
};
use zeroeventhub_sqlx::SqlCursorStore;

// Only the PostgreSQL test at the end uses these.
#[cfg(feature = "postgres")]
use support::runtime_harness::RecorderState;
#[cfg(feature = "postgres")]
use tokio::sync::watch;

on_both_databases!(
    shutdown_finishes_the_page_in_hand_and_releases_the_leases,
    shutdown_does_not_wait_for_a_producer_that_never_finishes,
    cursors_advance_on_pages_without_events,
    an_idle_partition_does_not_hold_back_a_busy_one,
    a_partition_taken_back_resumes_from_the_stored_cursor,
);

// ---------------------------------------------------------------------------
// Shutdown.

async fn shutdown_finishes_the_page_in_hand_and_releases_the_leases<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(1, support::numbered_events(1, 100), |_| Fault::Pass).await;
    let config = ConsumerConfig {
        page_size_hint: Some(10),
        // Long leases: only a release lets another process in at once.
        lease_ttl: Duration::from_secs(120),
        ..config()
    };
    // Shut down in the middle of the second page (events 11..=20).
    let handler = Recorder::slow(Duration::from_millis(20));
    let mut handled = handler.state.handled.subscribe();
    let mid_page = async move {
        handled.wait_for(|&handled| handled >= 15).await.unwrap();
    };
    run(producer.client(), &pool, handler, config.clone(), mid_page)
        .await
        .unwrap();

    // The page in hand was committed whole, and no other page started.
    assert_eq!(stored(&pool).await, [Cursor::new(0, "20").unwrap()]);
    assert_eq!(
        applied_in(&pool, 0).await,
        data_of(&producer.published[..20])
    );
    // The lease was released: another process claims it at once.
    let other = Lease {
        owner: "another-process".to_owned(),
        ttl: Duration::from_millis(1),
    };
    let store = SqlCursorStore::new(pool.clone());
    assert_eq!(
        store.claim(CONSUMER, 0, &other).await.unwrap(),
        Claim::Claimed
    );
    store.release(CONSUMER, 0, &other).await.unwrap();

    // A restart goes on from there.
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(producer.client(), &pool, Recorder::default(), config, all)
        .await
        .unwrap();
    assert_complete(&producer, &pool).await;
}

async fn shutdown_does_not_wait_for_a_producer_that_never_finishes<DB: AppliedDb>(pool: Pool<DB>) {
    // Partition 0's responses never end; the others are served normally.
    let producer = Producer::start(3, support::numbered_events(3, 10), |seen| {
        match seen.partition_id {
            0 => Fault::Trickle,
            _ => Fault::Pass,
        }
    })
    .await;
    let others_done = applied_at_least(pool.clone(), 20);
    run(
        producer.client(),
        &pool,
        Recorder::default(),
        config(),
        others_done,
    )
    .await
    .unwrap();

    for partition_id in [1, 2] {
        assert_eq!(
            applied_in(&pool, partition_id).await,
            data_of(&producer.events_of(partition_id))
        );
    }
    assert!(applied_in(&pool, 0).await.is_empty());
    let cursors = stored(&pool).await;
    assert_eq!(cursors, support::log_ends(&producer.published, 3)[1..]);
}

// ---------------------------------------------------------------------------
// Pace and fairness.

async fn cursors_advance_on_pages_without_events<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(2, support::numbered_events(2, 10), |_| Fault::Pass).await;
    let config = ConsumerConfig {
        start: StartFrom::Last,
        ..config()
    };
    // From `_last`: no event to apply, yet the cursors become concrete.
    let cursors_stored = {
        let pool = pool.clone();
        async move {
            while stored(&pool).await.len() < 2 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    run(
        producer.client(),
        &pool,
        Recorder::default(),
        config.clone(),
        cursors_stored,
    )
    .await
    .unwrap();
    assert_eq!(DB::applied_count(&pool).await, 0);
    assert_eq!(
        stored(&pool).await,
        support::log_ends(&producer.published, 2)
    );

    // Events published later are applied, and only they.
    let later: Vec<Event> = support::numbered_events(2, 12)[20..].to_vec();
    producer.log.publish(&later).await.unwrap();
    let all_later = applied_at_least(pool.clone(), later.len());
    run(
        producer.client(),
        &pool,
        Recorder::default(),
        config,
        all_later,
    )
    .await
    .unwrap();
    support::assert_exactly_once(&later, &DB::applied(&pool).await, 2);
    assert_eq!(
        stored(&pool).await,
        [Cursor::new(0, "12").unwrap(), Cursor::new(1, "12").unwrap()]
    );
}

async fn an_idle_partition_does_not_hold_back_a_busy_one<DB: AppliedDb>(pool: Pool<DB>) {
    // Partition 0 has no events; partition 1 has many.
    let busy: Vec<Event> = (0..60)
        .map(|n| Event::from_data(1, &serde_json::json!({"n": n})).unwrap())
        .collect();
    let producer = Producer::start(2, busy, |_| Fault::Pass).await;
    // A caught-up partition waits an hour before asking again.
    let config = ConsumerConfig {
        poll_interval: Duration::from_secs(3600),
        ..config()
    };
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(producer.client(), &pool, Recorder::default(), config, all)
        .await
        .unwrap();

    assert_complete(&producer, &pool).await;
    // The idle partition asked once, and at most once more to long-poll
    // (which the harness answers at once); then it waits the poll interval.
    let asked = producer.seen_at("/feed", 0).len();
    assert!((1..=2).contains(&asked), "asked {asked} times");
}

// ---------------------------------------------------------------------------
// Leases.

/// A worker whose lease expired while it waited, and whose partition
/// another process took, consumed and released meanwhile, goes on from
/// the cursor stored by that process, not from its own stale one.
async fn a_partition_taken_back_resumes_from_the_stored_cursor<DB: AppliedDb>(pool: Pool<DB>) {
    let release = Arc::new(Notify::new());
    let producer = Producer::start(1, support::numbered_events(1, 20), {
        let release = Arc::clone(&release);
        move |seen| match (seen.path.as_str(), seen.nth) {
            // Process A's first request hangs until released.
            ("/a/feed", 0) => Fault::Held(Arc::clone(&release)),
            _ => Fault::Pass,
        }
    })
    .await;
    let config = ConsumerConfig {
        lease_ttl: Duration::from_secs(1),
        ..config()
    };
    store(&pool).await;

    // Process A claims the partition, then waits on its request.
    let (stop_a, stopped_a) = tokio::sync::oneshot::channel::<()>();
    let a = tokio::spawn({
        let (client, pool, config) = (producer.client_at("/a/feed"), pool.clone(), config.clone());
        async move {
            let stopped = async move {
                let _ = stopped_a.await;
            };
            run(client, &pool, Recorder::default(), config, stopped).await
        }
    });
    until(|| !producer.seen_at("/a/feed", 0).is_empty()).await;

    // Process B takes over once A's lease expired, consumes everything and
    // stops, releasing the lease.
    let all = applied_at_least(pool.clone(), producer.published.len());
    let b = producer.client_at("/b/feed");
    run(b, &pool, Recorder::default(), config, all)
        .await
        .unwrap();

    // A's request fails; A claims the free partition again and goes on.
    release.notify_one();
    until(|| producer.seen_at("/a/feed", 0).len() >= 3).await;
    stop_a.send(()).unwrap();
    a.await.unwrap().unwrap();

    let a_seen = producer.seen_at("/a/feed", 0);
    assert_eq!(a_seen[0].cursor, "_first");
    assert_eq!(a_seen[1].cursor, "20", "A went on from its stale cursor");
    assert_complete(&producer, &pool).await;
}

/// A worker whose lease was taken over while it was applying a page
/// commits nothing of that page (fencing), then goes on from the cursor the
/// other process stored. PostgreSQL only: on SQLite, the page's
/// transaction holds the database's write lock, so no other process can
/// take the lease over before it ends.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_worker_that_lost_its_lease_mid_page_commits_nothing() {
    let Some(db) = support::postgres::PgDb::new().await else {
        return;
    };
    let pool = db.pool.clone();
    let producer = Producer::start(1, support::numbered_events(1, 20), |_| Fault::Pass).await;
    let config = ConsumerConfig {
        lease_ttl: Duration::from_secs(1),
        ..config()
    };
    store(&pool).await;

    // Process A stops in the middle of its first page until the gate opens.
    let (open, gate) = watch::channel(false);
    let handler = Recorder::with(RecorderState {
        gate: Some(gate),
        ..RecorderState::default()
    });
    let mut handled = handler.state.handled.subscribe();
    let (stop_a, stopped_a) = tokio::sync::oneshot::channel::<()>();
    let a = tokio::spawn({
        let (client, pool, config) = (producer.client_at("/a/feed"), pool.clone(), config.clone());
        async move {
            let stopped = async move {
                let _ = stopped_a.await;
            };
            run(client, &pool, handler, config, stopped).await
        }
    });
    handled.wait_for(|&handled| handled >= 1).await.unwrap();

    // Process B takes over once A's lease expired, consumes everything and
    // stops.
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(
        producer.client_at("/b/feed"),
        &pool,
        Recorder::default(),
        config,
        all,
    )
    .await
    .unwrap();

    // A finishes its page, but must not commit it.
    open.send(true).unwrap();
    until(|| producer.seen_at("/a/feed", 0).len() >= 2).await;
    stop_a.send(()).unwrap();
    a.await.unwrap().unwrap();

    assert_eq!(producer.seen_at("/a/feed", 0)[1].cursor, "20");
    assert_complete(&producer, &pool).await;
}
