//! Fault injection on version 2: `zeh follow --store` without
//! `--partitions`, killed with SIGKILL at random moments and restarted,
//! while the producer (a [`MemoryLog`] served in this process) gets more
//! events, splits a partition by method 1, one by method 2 and one of that
//! one's children by method 2 again, and closes one. At the end the store
//! holds every event the producer ever held exactly once, on the partition
//! the rules of version 2 put it on, in order; on SQLite and PostgreSQL.

use std::{
    collections::{BTreeMap, BTreeSet},
    os::unix::process::ExitStatusExt,
    thread,
    time::Duration,
};

use zeroeventhub::{Event, server::MemoryLog};

use crate::{
    db::{EventRow, TestDb, assert_rows_in_order},
    support::{Lines, Producer, Running, stderr_of, stdout_of, zeh, zeh_process},
};

/// The producer's partitions at first, and the events each holds then.
/// Partition 2 is the one split by method 2 at the first page of it
/// stored: it is long, so that the consumer is in the middle of it then.
const INITIAL_EVENTS: [usize; 4] = [250, 250, 800, 250];
/// Runs of `zeh follow`, each ended by SIGKILL.
const KILLS: usize = 20;
/// Events appended during each run, to random appendable partitions.
const APPENDED_PER_RUN: usize = 60;
/// Small pages: many transactions, so that kills land in all their phases.
const PAGE_SIZE_HINT: &str = "7";
/// A kill by time comes this long, at most, after the start.
const MAX_LIFETIME_MS: u64 = 150;
/// A kill by output waits for this many printed events, at most.
const MAX_LINES_BEFORE_KILL: usize = 80;

/// Where the first split by method 2 sends an event: by the parity of its
/// number.
fn parity(n: u64) -> u32 {
    (n % 2) as u32
}

/// Where the second split by method 2 (of a child of the first) sends an
/// event.
fn half_parity(n: u64) -> u32 {
    (n / 2 % 2) as u32
}

/// The number an event's data holds.
fn number(event: &Event) -> u64 {
    event.data_json().parse().expect("a number")
}

/// What became of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    /// Listed, open or closed, with no children.
    Listed,
    /// Closed and split by method 1: listed still, its children after it.
    SplitAfter(Vec<u32>),
    /// Split by method 2: no longer listed, its history copied to its
    /// children.
    Redistributed(Vec<u32>),
}

/// The test's own account of the producer: what each partition holds
/// (the event's position, its number), independent of what `zeh` does.
struct Model {
    producer: Producer,
    /// By partition: (position, number), in position order.
    history: BTreeMap<u32, Vec<(u64, u64)>>,
    /// By partition: the position of its last event, or the one it started
    /// after (a method 2 child starts at its parent's end).
    end: BTreeMap<u32, u64>,
    fate: BTreeMap<u32, Fate>,
    /// A method 2 child's parent, whose cursor it resumes from.
    cursor_from: BTreeMap<u32, u32>,
    /// Partitions that take new events.
    appendable: Vec<u32>,
    /// The number of the next event: each event's is unique.
    next: u64,
}

impl Model {
    fn new() -> Self {
        let count = INITIAL_EVENTS.len() as u32;
        let ids: Vec<u32> = (0..count).collect();
        let mut model = Model {
            producer: Producer::start(MemoryLog::new(count)),
            history: ids.iter().map(|&id| (id, Vec::new())).collect(),
            end: ids.iter().map(|&id| (id, 0)).collect(),
            fate: ids.iter().map(|&id| (id, Fate::Listed)).collect(),
            cursor_from: BTreeMap::new(),
            appendable: ids,
            next: 0,
        };
        for (partition, &count) in INITIAL_EVENTS.iter().enumerate() {
            for _ in 0..count {
                model.append_to(partition as u32);
            }
        }
        model
    }

    /// Every event the producer ever got.
    fn total(&self) -> usize {
        self.next as usize
    }

    fn append_to(&mut self, partition: u32) {
        let n = self.next;
        self.next += 1;
        let cursor = self
            .producer
            .log
            .append(Event::from_data(partition, &n).unwrap())
            .unwrap();
        let position: u64 = cursor.as_str().parse().expect("a position");
        self.history
            .get_mut(&partition)
            .unwrap()
            .push((position, n));
        self.end.insert(partition, position);
    }

    /// `count` events, each to a random appendable partition.
    fn append(&mut self, rng: &mut fastrand::Rng, count: usize) {
        for _ in 0..count {
            let partition = self.appendable[rng.usize(..self.appendable.len())];
            self.append_to(partition);
        }
    }

    fn add_children(&mut self, parent: u32, children: &[u32]) {
        self.appendable.retain(|&id| id != parent);
        for &child in children {
            self.history.insert(child, Vec::new());
            self.end.insert(child, 0);
            self.fate.insert(child, Fate::Listed);
            self.appendable.push(child);
        }
    }

    /// Splits `parent` in two by method 1.
    fn split(&mut self, parent: u32) {
        let children = self.producer.log.split(parent, 2).unwrap();
        self.add_children(parent, &children);
        self.fate.insert(parent, Fate::SplitAfter(children));
    }

    /// Splits `parent` in two by method 2, `route` picking each event's
    /// child; the model copies the parent's history as the log does.
    fn split_redistributing(&mut self, parent: u32, route: fn(u64) -> u32) {
        let children = self
            .producer
            .log
            .split_redistributing(parent, 2, |event| route(number(event)))
            .unwrap();
        self.add_children(parent, &children);
        let parent_end = self.end[&parent];
        for &(position, n) in &self.history[&parent].clone() {
            let child = children[route(n) as usize];
            self.history.get_mut(&child).unwrap().push((position, n));
        }
        for &child in &children {
            self.end.insert(child, parent_end);
            self.cursor_from.insert(child, parent);
        }
        self.fate.insert(parent, Fate::Redistributed(children));
    }

    fn close(&mut self, partition: u32) {
        self.producer.log.close(partition).unwrap();
        self.appendable.retain(|&id| id != partition);
    }

    fn check_against_the_log(&self) {
        // A parent split by method 2 keeps its events (copied, not
        // moved), though it is no longer listed.
        for (&partition, history) in &self.history {
            assert_eq!(
                self.producer.log.len(partition),
                history.len(),
                "partition {partition}"
            );
        }
    }
}

/// The printed event lines of one run: (partition, number).
fn printed(lines: &[String]) -> Vec<(u32, u64)> {
    lines
        .iter()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            (
                value["partition"].as_u64().expect("a partition") as u32,
                value["data"].as_u64().expect("a number"),
            )
        })
        .collect()
}

/// A running `zeh follow`, with what it printed so far.
struct Follower {
    running: Running,
    stdout: Lines,
    stderr: Lines,
    seen: Vec<String>,
}

impl Follower {
    fn spawn(args: &[&str]) -> Self {
        let mut running = Running::spawn(zeh_process(args));
        let stdout = running.stdout_lines();
        let stderr = running.stderr_lines();
        Follower {
            running,
            stdout,
            stderr,
            seen: Vec::new(),
        }
    }

    /// Reads printed lines until `done` holds for one of them.
    fn read_until(&mut self, round: usize, mut done: impl FnMut(&str) -> bool) {
        loop {
            let Some(line) = self.stdout.next_line() else {
                panic!("round {round}: zeh ended: {:?}", self.stderr.rest());
            };
            let stop = done(&line);
            self.seen.push(line);
            if stop {
                return;
            }
        }
    }

    /// Reads `n` more printed lines.
    fn read(&mut self, round: usize, n: usize) {
        let mut left = n;
        if left > 0 {
            self.read_until(round, |_| {
                left -= 1;
                left == 0
            });
        }
    }

    /// SIGKILL; returns every line it printed.
    fn kill(mut self, round: usize) -> Vec<String> {
        self.running.child.kill().expect("SIGKILL");
        let status = self.running.child.wait().expect("wait");
        // Without --until-caught-up it only ends when killed: any other
        // end is a failure of its own.
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round}: {status}: {:?}",
            self.stderr.rest()
        );
        self.seen.extend(self.stdout.rest());
        self.seen
    }
}

/// The numbers stored on each partition, in id order, with the ids.
fn stored_by_partition(rows: &[EventRow]) -> BTreeMap<u32, Vec<(i64, u64)>> {
    let mut by_partition = BTreeMap::<u32, Vec<(i64, u64)>>::new();
    for row in rows {
        assert_eq!(row.headers, None, "version 2 events have no headers");
        let n: u64 = row.data.parse().expect("a number");
        by_partition
            .entry(u32::try_from(row.partition_id).unwrap())
            .or_default()
            .push((row.id, n));
    }
    by_partition
}

/// Says how far the consumer was on `partition` when it changed.
fn report(consumer: &TestDb, round: usize, partition: u32, change: &str) {
    let stored = consumer.try_events().map_or(0, |rows| {
        rows.iter()
            .filter(|row| row.partition_id == i64::from(partition))
            .count()
    });
    eprintln!("round {round}: partition {partition} {change} with {stored} of its events stored");
}

fn killed_and_restarted_through_splits(consumer: &TestDb) {
    let seed = fastrand::u64(..);
    eprintln!("kill moments and events from seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut model = Model::new();
    let store = consumer.store();
    let follow = [
        "follow",
        &model.producer.url,
        "--page-size-hint",
        PAGE_SIZE_HINT,
        "--poll-interval",
        "10ms",
        "--store",
        &store,
        // A restart takes its own leases back at once, instead of waiting
        // for those of the killed process to lapse.
        "--instance",
        "kill-test",
    ]
    .map(str::to_owned);
    let follow: Vec<&str> = follow.iter().map(String::as_str).collect();

    let mut printed_lines = Vec::new();
    for round in 0..KILLS {
        let stored = consumer.try_events().map_or(0, |rows| rows.len());
        // Printed lines are waited for only while enough events are left
        // to print.
        let left = model.total() - stored;
        let mut follower = Follower::spawn(&follow);
        let mut lines_asked = 0;
        let mut ask = |wanted: usize| {
            let wanted = wanted.min(left.saturating_sub(lines_asked));
            lines_asked += wanted;
            wanted
        };
        match round {
            // Method 2 as soon as a page of partition 2 is stored: the
            // consumer is in the middle of it, so its children resume from
            // its cursor, with the rest of its history.
            0 => {
                follower.read_until(round, |line| line.starts_with("{\"partition\":2,"));
                model.split_redistributing(2, parity);
                report(consumer, round, 2, "split by method 2");
            }
            // Method 1 while zeh runs: partition 1 closes, its children
            // wait for it to be finished.
            3 => {
                let n = ask(rng.usize(1..=20));
                follower.read(round, n);
                model.split(1);
                report(consumer, round, 1, "split by method 1");
            }
            // A partition closes while zeh runs.
            8 => {
                let n = ask(rng.usize(1..=20));
                follower.read(round, n);
                model.close(3);
                report(consumer, round, 3, "closed");
            }
            _ => {}
        }
        model.append(&mut rng, APPENDED_PER_RUN);
        if round % 2 == 1 {
            // Once it has stored something (when there is something left).
            let n = ask(rng.usize(1..=MAX_LINES_BEFORE_KILL));
            follower.read(round, n);
            thread::sleep(Duration::from_millis(rng.u64(0..=20)));
        } else {
            thread::sleep(Duration::from_millis(rng.u64(0..=MAX_LIFETIME_MS)));
        }
        printed_lines.extend(follower.kill(round));
        // Method 2 again, of a child of the first, while zeh does not run:
        // its children take its cursor, or its parent's if it has none.
        if round == 13 {
            let Fate::Redistributed(children) = model.fate[&2].clone() else {
                unreachable!()
            };
            model.split_redistributing(children[0], half_parity);
            report(consumer, round, children[0], "split by method 2");
        }
    }
    model.check_against_the_log();
    let stored = consumer.try_events().map_or(0, |rows| rows.len());
    eprintln!(
        "{stored} of {} events stored after {KILLS} kills",
        model.total()
    );

    let finished = zeh()
        .args(&follow)
        .arg("--until-caught-up")
        .output()
        .unwrap();
    assert!(finished.status.success(), "{}", stderr_of(&finished));
    printed_lines.extend(stdout_of(&finished).lines().map(str::to_owned));

    let rows = consumer.events();
    // Every event the producer ever got, exactly once.
    let mut times: BTreeMap<u64, usize> = (0..model.next).map(|n| (n, 0)).collect();
    for row in &rows {
        *times
            .entry(row.data.parse().expect("a number"))
            .or_default() += 1;
    }
    let wrong: Vec<(u64, usize)> = times
        .into_iter()
        .filter(|&(n, count)| count != 1 || n >= model.next)
        .collect();
    assert!(
        wrong.is_empty(),
        "{} rows for {} events; (event, times stored), first ones: {:?}",
        rows.len(),
        model.total(),
        &wrong[..wrong.len().min(20)]
    );

    // Each on the partition it was consumed on, in order: a partition's
    // history after where the consumer started on it; a parent split by
    // method 2 up to where its children took over.
    let stored = stored_by_partition(&rows);
    let nothing = Vec::new();
    // By partition: the position the consumer reached on it. It started
    // on a method 2 child after the one it had reached on the parent the
    // child takes its cursor from, else at the beginning.
    let mut reached = BTreeMap::<u32, u64>::new();
    for (&partition, history) in &model.history {
        let begin = model
            .cursor_from
            .get(&partition)
            .map_or(0, |parent| reached[parent]);
        let on_it: Vec<u64> = stored
            .get(&partition)
            .unwrap_or(&nothing)
            .iter()
            .map(|&(_, n)| n)
            .collect();
        let consumable: Vec<u64> = history
            .iter()
            .filter(|&&(position, _)| position > begin)
            .map(|&(_, n)| n)
            .collect();
        let expected = match model.fate[&partition] {
            Fate::Redistributed(_) => {
                // A prefix: what the consumer got before the split.
                eprintln!(
                    "partition {partition}: {} of {} events consumed before its split by method 2",
                    on_it.len(),
                    consumable.len()
                );
                consumable[..on_it.len().min(consumable.len())].to_vec()
            }
            _ => consumable,
        };
        assert_rows_in_order(partition, &on_it, &expected);
        let last = history
            .iter()
            .find(|&&(_, n)| on_it.last() == Some(&n))
            .map_or(begin, |&(position, _)| position);
        reached.insert(partition, last);
    }
    // The redistributed partition 2 was split in the middle of it.
    let on_two = stored.get(&2).map_or(0, Vec::len);
    assert!(
        on_two > 0 && on_two < model.history[&2].len(),
        "partition 2 split by method 2 with {on_two} events consumed"
    );

    // Method 1: the children's events all come after the parent's.
    for (&parent, fate) in &model.fate {
        let Fate::SplitAfter(children) = fate else {
            continue;
        };
        let last_of_parent = stored.get(&parent).and_then(|rows| rows.last());
        let last_of_parent = last_of_parent.map_or(0, |&(id, _)| id);
        for child in children {
            let first_of_child = stored.get(child).and_then(|rows| rows.first());
            assert!(
                first_of_child.is_none_or(|&(id, _)| id > last_of_parent),
                "child {child} stored an event before its parent {parent} was finished"
            );
        }
    }

    // What zeh printed, it had stored, and it printed nothing twice.
    let printed = printed(&printed_lines);
    let unique: BTreeSet<(u32, u64)> = printed.iter().copied().collect();
    assert_eq!(unique.len(), printed.len(), "an event printed twice");
    let in_store: BTreeSet<(u32, u64)> = stored
        .iter()
        .flat_map(|(&partition, rows)| rows.iter().map(move |&(_, n)| (partition, n)))
        .collect();
    assert!(
        unique.is_subset(&in_store),
        "an event printed but not stored"
    );

    // Caught up on every listed partition.
    let listed_ends: Vec<(i64, String)> = model
        .end
        .iter()
        .filter(|(partition, _)| !matches!(model.fate[partition], Fate::Redistributed(_)))
        .map(|(&partition, end)| (i64::from(partition), end.to_string()))
        .collect();
    let cursors: Vec<(i64, String)> = consumer
        .cursors()
        .into_iter()
        .filter(|(partition, _)| listed_ends.iter().any(|(listed, _)| listed == partition))
        .collect();
    assert_eq!(cursors, listed_ends);
}

#[test]
fn follow_version_2_store_sqlite_killed_through_splits_holds_every_event_exactly_once() {
    killed_and_restarted_through_splits(&TestDb::sqlite());
}

#[test]
fn follow_version_2_store_postgres_killed_through_splits_holds_every_event_exactly_once() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    killed_and_restarted_through_splits(&db);
}
