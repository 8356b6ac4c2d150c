//! Consumer groups: processes of one name share the partitions through the
//! store. One that started alone gives partitions up as others join, each
//! ends with its share, and when one dies the others take its partitions
//! over once its leases lapse; every event is applied exactly once.
//!
//! The members are consumers in tasks of this process, each with its own
//! identity; aborting a task is a crash (nothing released, nothing left).

#[macro_use]
mod support;

use std::{collections::BTreeMap, time::Duration};

use sqlx::{Pool, Transaction};
use support::AppliedDb;
use tokio::{sync::oneshot, task::JoinHandle};
use zeroeventhub::{
    BoxError, Event,
    client::Client,
    consumer::{Claim, Consumer, ConsumerConfig, CursorStore, Handler, Lease},
};
use zeroeventhub_sqlx::{EventLog, SqlCursorStore};

on_both_databases!(members_share_the_partitions_and_take_over_a_dead_ones);

const CONSUMER: &str = "group-test";
const PARTITIONS: u32 = 6;
const LEASE_TTL: Duration = Duration::from_millis(600);
/// The longest the group may take to settle, only so that a broken test
/// fails instead of hanging.
const SETTLE: Duration = Duration::from_secs(20);

/// Applies each event as a row of `applied`, named by its member.
struct Applier {
    owner: String,
}

impl<DB: AppliedDb> Handler<Transaction<'static, DB>> for Applier {
    async fn handle(
        &self,
        transaction: &mut Transaction<'static, DB>,
        event: &Event,
    ) -> Result<(), BoxError> {
        DB::insert_applied(
            &mut **transaction,
            event.partition_id,
            event.data_json().to_owned(),
            self.owner.clone(),
        )
        .await?;
        Ok(())
    }
}

/// A member running in a task; stopped cleanly by `stop`, or aborted.
struct Member {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

fn start<DB: AppliedDb>(pool: &Pool<DB>, url: &str, instance: &str) -> Member
where
    Applier: Handler<Transaction<'static, DB>>,
{
    let client = Client::new(url, PARTITIONS).unwrap();
    let config = ConsumerConfig {
        instance: Some(instance.to_owned()),
        lease_ttl: LEASE_TTL,
        poll_interval: Duration::from_millis(20),
        page_size_hint: Some(5),
        ..ConsumerConfig::new(CONSUMER)
    };
    let handler = Applier {
        owner: instance.to_owned(),
    };
    let consumer = Consumer::new(client, SqlCursorStore::new(pool.clone()), handler, config);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        consumer
            .run(async {
                let _ = stopped.await;
            })
            .await
            .expect("a member failed");
    });
    Member {
        stop: Some(stop),
        task,
    }
}

/// How many partitions each owner holds a lease on, by asking the store to
/// claim each for an owner that never takes one (its claims are given back
/// at once when a partition happens to be free).
async fn holdings<DB: AppliedDb>(store: &SqlCursorStore<DB>) -> BTreeMap<String, u32> {
    let probe = Lease {
        owner: "probe".to_owned(),
        ttl: Duration::from_millis(1),
    };
    let mut held = BTreeMap::new();
    for partition_id in 0..PARTITIONS {
        match store.claim(CONSUMER, partition_id, &probe).await.unwrap() {
            Claim::HeldBy { owner, .. } => *held.entry(owner).or_default() += 1,
            Claim::Claimed => store.release(CONSUMER, partition_id, &probe).await.unwrap(),
        }
    }
    held
}

/// Waits until the holdings are `expected`, and returns how long it took.
async fn settle<DB: AppliedDb>(store: &SqlCursorStore<DB>, expected: &[(&str, u32)]) -> Duration {
    let expected: BTreeMap<String, u32> = expected
        .iter()
        .map(|(owner, count)| ((*owner).to_owned(), *count))
        .collect();
    let started = tokio::time::Instant::now();
    loop {
        let now = holdings(store).await;
        if now == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < SETTLE,
            "the group never settled: {now:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The events numbered `range` in every partition, in the shape of
/// `support::numbered_events`.
fn numbered(range: std::ops::Range<u32>) -> Vec<Event> {
    support::numbered_events(PARTITIONS, range.end)
        .into_iter()
        .filter(|event| {
            let data: serde_json::Value = event.data_as().unwrap();
            data["n"]
                .as_u64()
                .is_some_and(|n| range.contains(&(n as u32)))
        })
        .collect()
}

/// Publishes the events numbered `range` and waits until the group has
/// applied them.
async fn publish_and_wait<DB: AppliedDb>(
    log: &EventLog<DB>,
    store: &SqlCursorStore<DB>,
    range: std::ops::Range<u32>,
) {
    log.publish(&numbered(range.clone())).await.unwrap();
    let ends = support::log_ends(&numbered(0..range.end), PARTITIONS);
    let started = tokio::time::Instant::now();
    while store.load_cursors(CONSUMER).await.unwrap() != ends {
        assert!(
            started.elapsed() < SETTLE,
            "the events were never all applied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn members_share_the_partitions_and_take_over_a_dead_ones<DB: AppliedDb>(pool: Pool<DB>)
where
    Applier: Handler<Transaction<'static, DB>>,
{
    DB::create_tables(&pool).await;
    let store = SqlCursorStore::new(pool.clone());
    store.migrate().await.unwrap();
    let log = EventLog::new(pool.clone(), PARTITIONS);
    log.migrate().await.unwrap();
    log.publish(&numbered(0..10)).await.unwrap();
    let server = zeroeventhub_axum::TestFeed::serve(log.clone());
    let url = server.url().to_owned();

    // Alone, the first member takes every partition.
    let m0 = start(&pool, &url, "m0");
    settle(&store, &[("m0", 6)]).await;

    // Two more join: the first gives partitions up until each holds 2,
    // and each applies the events of its own.
    let m1 = start(&pool, &url, "m1");
    let mut m2 = start(&pool, &url, "m2");
    let took = settle(&store, &[("m0", 2), ("m1", 2), ("m2", 2)]).await;
    eprintln!("three members shared the partitions in {took:?}");
    publish_and_wait(&log, &store, 10..20).await;

    // m2 dies: once its leases lapse, the others hold 3 each, and apply
    // what comes next.
    m2.task.abort();
    let _ = (&mut m2.task).await;
    let took = settle(&store, &[("m0", 3), ("m1", 3)]).await;
    eprintln!("two members took a dead one's partitions over in {took:?}");
    publish_and_wait(&log, &store, 20..30).await;

    for mut member in [m0, m1] {
        let _ = member.stop.take().unwrap().send(());
        member.task.await.unwrap();
    }
    drop(server);

    let applied = DB::applied(&pool).await;
    support::assert_exactly_once(&numbered(0..30), &applied, PARTITIONS);
    // Each member applied some of it.
    for owner in ["m0", "m1", "m2"] {
        assert!(
            applied.iter().any(|row| row.owner == owner),
            "{owner} applied nothing"
        );
    }
    // Stopped cleanly, the members left the group and gave their leases up.
    assert!(holdings(&store).await.is_empty());
}
