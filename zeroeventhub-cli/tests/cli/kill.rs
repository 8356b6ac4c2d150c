//! Fault injection: `zeh follow --store` killed with SIGKILL at random
//! moments, many pages into a feed, and restarted; at the end the store
//! holds every event exactly once, on SQLite and PostgreSQL.

use std::{os::unix::process::ExitStatusExt, thread, time::Duration};

use crate::{
    db::{TestDb, assert_rows_in_order},
    support::{Running, Serve, stderr_of, zeh, zeh_process},
};

const PARTITIONS: u32 = 3;
const EVENTS_PER_PARTITION: usize = 2_000;
/// Small pages: many transactions, so that kills land in all their phases.
const PAGE_SIZE_HINT: &str = "7";
const KILLS: usize = 25;
/// A kill comes this long, at most, after the start (or after the first
/// page stored).
const MAX_LIFETIME_MS: u64 = 80;

/// The data of event `i` of `partition`.
fn data(partition: u32, i: usize) -> String {
    format!("{{\"p\":{partition},\"i\":{i}}}")
}

/// The producer's events, partitions interleaved, each with a header.
fn producer_input() -> String {
    let mut text = String::new();
    for i in 0..EVENTS_PER_PARTITION {
        for partition in 0..PARTITIONS {
            text.push_str(&format!(
                "{{\"partition\":{partition},\"headers\":{{\"seq\":\"{i}\"}},\"data\":{}}}\n",
                data(partition, i)
            ));
        }
    }
    text
}

fn killed_at_random_and_restarted(producer: &TestDb, consumer: &TestDb) {
    let seed = fastrand::u64(..);
    eprintln!("kill moments from seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let partitions = PARTITIONS.to_string();

    let input = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(input.path(), producer_input()).unwrap();
    let appended = zeh()
        .args(["append", &producer.store(), "--partitions", &partitions])
        .arg(input.path())
        .output()
        .unwrap();
    assert!(appended.status.success(), "{}", stderr_of(&appended));
    let serve = Serve::start(&[&producer.store(), "--partitions", &partitions]);

    let follow = [
        "follow",
        &serve.url,
        "--partitions",
        &partitions,
        "--page-size-hint",
        PAGE_SIZE_HINT,
        "--headers",
        "_all",
        "--poll-interval",
        "10ms",
        "--store",
        &consumer.store(),
        // A restart takes its own leases back at once, instead of waiting
        // for those of the killed process to lapse.
        "--instance",
        "kill-test",
    ];
    let total = EVENTS_PER_PARTITION * PARTITIONS as usize;
    for round in 0..KILLS {
        let mut follower = Running::spawn(zeh_process(&follow));
        let stdout = follower.stdout_lines();
        let stderr = follower.stderr_lines();
        // Half the kills come at any moment from the start (opening the
        // store, the first request), half once the run has stored a page
        // (when there is one left to store): in the middle of the pages,
        // however slow the start is on a busy machine.
        let stored = consumer.try_events().map_or(0, |rows| rows.len());
        if round % 2 == 1 && stored < total && stdout.next_line().is_none() {
            panic!("round {round}: zeh ended: {:?}", stderr.rest());
        }
        thread::sleep(Duration::from_millis(rng.u64(0..=MAX_LIFETIME_MS)));
        follower.child.kill().expect("SIGKILL");
        let status = follower.child.wait().expect("wait");
        // Without --until-caught-up it only ends when killed: any other
        // end is a failure of its own.
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round}: {status}: {:?}",
            stderr.rest()
        );
    }
    let stored = consumer.try_events().map_or(0, |rows| rows.len());
    eprintln!("{stored} of {total} events stored after {KILLS} kills");

    let finished = zeh()
        .args(follow)
        .arg("--until-caught-up")
        .output()
        .unwrap();
    assert!(finished.status.success(), "{}", stderr_of(&finished));

    let rows = consumer.events();
    assert_eq!(rows.len(), total);
    for partition in 0..PARTITIONS {
        // In id order: exactly once each, and in feed order.
        let stored: Vec<(Option<String>, String)> = rows
            .iter()
            .filter(|row| row.partition_id == i64::from(partition))
            .map(|row| (row.headers.clone(), row.data.clone()))
            .collect();
        let expected: Vec<(Option<String>, String)> = (0..EVENTS_PER_PARTITION)
            .map(|i| (Some(format!("{{\"seq\":\"{i}\"}}")), data(partition, i)))
            .collect();
        assert_rows_in_order(partition, &stored, &expected);
    }
    let end = EVENTS_PER_PARTITION.to_string();
    assert_eq!(
        consumer.cursors(),
        (0..PARTITIONS)
            .map(|partition| (i64::from(partition), end.clone()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn follow_store_sqlite_killed_at_random_holds_every_event_exactly_once() {
    let (producer, consumer) = (TestDb::sqlite(), TestDb::sqlite());
    killed_at_random_and_restarted(&producer, &consumer);
}

#[test]
fn follow_store_postgres_killed_at_random_holds_every_event_exactly_once() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    // One schema for both: the producer's table is zeh_event_log.
    killed_at_random_and_restarted(&db, &db);
}
