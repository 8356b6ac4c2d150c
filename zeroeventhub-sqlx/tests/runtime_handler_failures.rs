//! The consumer runtime with handlers that fail, against a producer on a
//! loopback socket and real databases: a poison event halts its partition
//! only (and is retried) or goes to the dead-letter handler, whole pages go
//! to a page handler, and a failing page halts its partition or is applied
//! event by event to find its dead letter.

#[macro_use]
mod support;

use std::{sync::atomic::Ordering, time::Duration};

use sqlx::Pool;
use support::{
    AppliedDb,
    runtime_harness::{
        Fault, PageRecorder, Producer, Recorder, applied_at_least, applied_in, assert_complete,
        assert_dead_lettered, config, data_of, run, stored,
    },
};
use zeroeventhub::consumer::{ConsumerConfig, OnHandlerError};

on_both_databases!(
    a_poison_event_halts_its_partition_only_and_is_retried,
    a_poison_event_goes_to_the_dead_letter_handler_when_asked,
    whole_pages_go_to_a_page_handler,
    a_failing_page_halts_its_partition,
    a_failing_page_is_applied_event_by_event_to_find_its_dead_letter,
);

// ---------------------------------------------------------------------------
// Failures of the handler.

async fn a_poison_event_halts_its_partition_only_and_is_retried<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(3, support::numbered_events(3, 20), |_| Fault::Pass).await;
    // Event 12 of partition 1, at position 13: in the page of 11..=15.
    let poison = producer.events_of(1)[12].clone();
    let handler = Recorder::failing_on(&poison);
    // Stop once the other partitions are done and the poison event failed
    // a few times.
    let others_done_and_retried = {
        let (pool, handler) = (pool.clone(), handler.clone());
        async move {
            loop {
                let applied = DB::applied(&pool).await;
                let others = applied.iter().filter(|a| a.partition_id != 1).count();
                if others == 40 && handler.poison_attempts() >= 3 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    run(
        producer.client(),
        &pool,
        handler.clone(),
        config(),
        others_done_and_retried,
    )
    .await
    .unwrap();

    assert!(handler.poison_attempts() > 1);
    for partition_id in [0, 2] {
        assert_eq!(
            applied_in(&pool, partition_id).await,
            data_of(&producer.events_of(partition_id))
        );
    }
    // Partition 1 stopped before the poison event, with effects and cursor
    // in step.
    let cursors = stored(&pool).await;
    let halted = cursors.iter().find(|c| c.partition_id() == 1).unwrap();
    let position: usize = halted.as_str().parse().unwrap();
    assert!(position < 13, "cursor {halted} passed the poison event");
    assert_eq!(
        applied_in(&pool, 1).await,
        data_of(&producer.events_of(1)[..position])
    );
    assert!(DB::dead_letters(&pool).await.is_empty());
}

async fn a_poison_event_goes_to_the_dead_letter_handler_when_asked<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(3, support::numbered_events(3, 20), |_| Fault::Pass).await;
    let poison = producer.events_of(1)[12].clone();
    let config = ConsumerConfig {
        on_handler_error: OnHandlerError::DeadLetter,
        ..config()
    };
    let all_but_one = applied_at_least(pool.clone(), producer.published.len() - 1);
    let handler = Recorder::failing_on(&poison);
    run(
        producer.client(),
        &pool,
        handler.clone(),
        config,
        all_but_one,
    )
    .await
    .unwrap();

    assert_eq!(handler.poison_attempts(), 1);
    assert_dead_lettered(&producer, &pool, &poison).await;
}

async fn whole_pages_go_to_a_page_handler<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(2, support::numbered_events(2, 20), |_| Fault::Pass).await;
    let handler = PageRecorder::default();
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(producer.client(), &pool, handler.clone(), config(), all)
        .await
        .unwrap();

    assert_complete(&producer, &pool).await;
    // Pages of at most 5 (the hint), each given once, none one by one.
    let pages = handler.pages();
    assert!(
        pages.iter().all(|&size| (1..=5).contains(&size)),
        "{pages:?}"
    );
    assert_eq!(pages.iter().sum::<usize>(), producer.published.len());
    assert_eq!(handler.handled_one_by_one(), 0);
}

async fn a_failing_page_halts_its_partition<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(2, support::numbered_events(2, 20), |_| Fault::Pass).await;
    // Event 12 of partition 1, at position 13: in the page of 11..=15.
    let poison = producer.events_of(1)[12].clone();
    let handler = PageRecorder {
        events: Recorder::failing_on(&poison),
        ..PageRecorder::default()
    };
    // Stop once partition 0 is done and the poison page failed a few times.
    let other_done_and_retried = {
        let (pool, handler) = (pool.clone(), handler.clone());
        async move {
            while applied_in(&pool, 0).await.len() < 20
                || handler.poison_pages.load(Ordering::SeqCst) < 3
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    run(
        producer.client(),
        &pool,
        handler.clone(),
        config(),
        other_done_and_retried,
    )
    .await
    .unwrap();

    // Partition 1 stopped after the page before the poison one, its
    // effects and cursor in step; nothing went event by event.
    assert_eq!(
        applied_in(&pool, 1).await,
        data_of(&producer.events_of(1)[..10])
    );
    let cursors = stored(&pool).await;
    let halted = cursors.iter().find(|c| c.partition_id() == 1).unwrap();
    assert_eq!(halted.as_str(), "10");
    assert_eq!(handler.handled_one_by_one(), 0);
    assert!(DB::dead_letters(&pool).await.is_empty());
}

async fn a_failing_page_is_applied_event_by_event_to_find_its_dead_letter<DB: AppliedDb>(
    pool: Pool<DB>,
) {
    let producer = Producer::start(3, support::numbered_events(3, 20), |_| Fault::Pass).await;
    let poison = producer.events_of(1)[12].clone();
    let config = ConsumerConfig {
        on_handler_error: OnHandlerError::DeadLetter,
        ..config()
    };
    let handler = PageRecorder {
        events: Recorder::failing_on(&poison),
        ..PageRecorder::default()
    };
    let all_but_one = applied_at_least(pool.clone(), producer.published.len() - 1);
    run(
        producer.client(),
        &pool,
        handler.clone(),
        config,
        all_but_one,
    )
    .await
    .unwrap();

    // The page (positions 11..=15) was tried whole once, then event by
    // event: the scan applied 11 and 12, failed on the poison event 13 and
    // was rolled back; the next pass applied 11, 12, 14 and 15 through
    // `handle`, and 13 went to the dead letters.
    assert_eq!(handler.events.poison_attempts(), 1);
    assert_eq!(handler.handled_one_by_one(), 2 + 4);
    assert_dead_lettered(&producer, &pool, &poison).await;
}
