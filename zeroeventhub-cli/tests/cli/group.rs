//! A consumer group on the command line: three `zeh follow --store`
//! processes of one name on PostgreSQL, killed with SIGKILL at random and
//! restarted (with a fresh identity, so the others must take over): every
//! event ends up stored exactly once, in order per partition, and each of
//! the three applied a share of them.

use std::{os::unix::process::ExitStatusExt, thread, time::Duration};

use crate::{
    db::{TestDb, assert_rows_in_order},
    support::{Lines, Running, Serve, stderr_of, zeh, zeh_process},
};

const PARTITIONS: u32 = 6;
const EVENTS_PER_PARTITION: usize = 1_500;
const KILLS: usize = 8;
/// How long the group may take to apply every event after the last kill,
/// only so that a broken test fails instead of hanging.
const FINISH: Duration = Duration::from_secs(120);

fn data(partition: u32, i: usize) -> String {
    format!("{{\"p\":{partition},\"i\":{i}}}")
}

/// One slot of the group: the process running in it now, and the events
/// it printed (each printed once its page committed), over every restart.
struct Slot {
    process: Running,
    printed: Lines,
    printed_before: usize,
}

fn start(args: &[&str]) -> (Running, Lines) {
    let mut process = Running::spawn(zeh_process(args));
    let printed = process.stdout_lines();
    (process, printed)
}

#[test]
fn follow_store_group_of_three_killed_at_random_holds_every_event_once_and_shares_the_work() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let seed = fastrand::u64(..);
    eprintln!("kill moments from seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let partitions = PARTITIONS.to_string();

    let mut input = String::new();
    for i in 0..EVENTS_PER_PARTITION {
        for partition in 0..PARTITIONS {
            input.push_str(&format!(
                "{{\"partition\":{partition},\"data\":{}}}\n",
                data(partition, i)
            ));
        }
    }
    let appended = zeh()
        .args(["append", &db.store(), "--partitions", &partitions])
        .write_stdin(input)
        .output()
        .unwrap();
    assert!(appended.status.success(), "{}", stderr_of(&appended));
    let serve = Serve::start(&[&db.store(), "--partitions", &partitions]);

    let store = db.store();
    let follow = [
        "follow",
        &serve.url,
        "--partitions",
        &partitions,
        "--page-size-hint",
        "7",
        "--poll-interval",
        "10ms",
        "--store",
        &store,
        "--name",
        "group",
        "--lease-ttl",
        "1s",
    ];
    let mut slots: Vec<Slot> = (0..3)
        .map(|_| {
            let (process, printed) = start(&follow);
            Slot {
                process,
                printed,
                printed_before: 0,
            }
        })
        .collect();

    for round in 0..KILLS {
        thread::sleep(Duration::from_millis(rng.u64(200..=700)));
        let slot = &mut slots[rng.usize(0..3)];
        slot.process.child.kill().expect("SIGKILL");
        let status = slot.process.child.wait().expect("wait");
        assert_eq!(status.signal(), Some(9), "round {round}: {status}");
        // What it printed up to its death stays counted.
        slot.printed_before += slot.printed.rest().len();
        let (process, printed) = start(&follow);
        slot.process = process;
        slot.printed = printed;
    }

    // The group applies the rest; then every slot is stopped.
    let ends: Vec<(i64, String)> = (0..PARTITIONS)
        .map(|p| (i64::from(p), EVENTS_PER_PARTITION.to_string()))
        .collect();
    let started = std::time::Instant::now();
    while db.cursors_of("group") != ends {
        assert!(
            started.elapsed() < FINISH,
            "never finished: {:?}",
            db.cursors_of("group")
        );
        thread::sleep(Duration::from_millis(100));
    }
    let mut shares = Vec::new();
    for slot in &mut slots {
        slot.process.signal("TERM");
        assert!(slot.process.wait().success());
        shares.push(slot.printed_before + slot.printed.rest().len());
    }
    eprintln!("events printed per slot: {shares:?}");

    let rows = db.events();
    assert_eq!(rows.len(), EVENTS_PER_PARTITION * PARTITIONS as usize);
    for partition in 0..PARTITIONS {
        // In id order: exactly once each, and in feed order.
        let stored: Vec<String> = rows
            .iter()
            .filter(|row| row.partition_id == i64::from(partition))
            .map(|row| row.data.clone())
            .collect();
        let expected: Vec<String> = (0..EVENTS_PER_PARTITION)
            .map(|i| data(partition, i))
            .collect();
        assert_rows_in_order(partition, &stored, &expected);
    }
    // Printed after each commit: together, about every event (a process
    // killed between its commit and its print leaves a few out).
    let printed: usize = shares.iter().sum();
    assert!(printed <= rows.len(), "printed more than stored: {printed}");
    for (slot, share) in shares.iter().enumerate() {
        assert!(*share > 0, "slot {slot} applied nothing: {shares:?}");
    }
}
