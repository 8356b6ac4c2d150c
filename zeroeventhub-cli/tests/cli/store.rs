//! `zeh follow --store`: every covered event once in `zeh_events`, the
//! cursors in the cursor store (`zeh cursors`), resuming from them, on
//! SQLite and PostgreSQL; two consumers of one database apart by `--name`
//! and `--table`.

use crate::{
    db::{EventRow, TestDb},
    support::{
        FIXTURE, FixtureEvent, PARTITIONS, Serve, fixture_events, stderr_of, stdout_of, zeh,
    },
};

/// `zeh follow URL --partitions 3 --store STORE --until-caught-up ARGS`,
/// which must succeed; returns its stdout.
fn follow_into(url: &str, db: &TestDb, args: &[&str]) -> String {
    let output = zeh()
        .args([
            "follow",
            url,
            "--partitions",
            PARTITIONS,
            "--until-caught-up",
        ])
        .args(["--store", &db.store()])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    stdout_of(&output)
}

/// `zeh append STORE --partitions 3 FILE`, which must succeed.
fn append(db: &TestDb, file: &str) {
    let output = zeh()
        .args(["append", &db.store(), "--partitions", PARTITIONS, file])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
}

/// The headers of a row as name-value pairs, sorted.
fn headers_of(row: &EventRow) -> Vec<(String, String)> {
    let Some(json) = &row.headers else {
        return Vec::new();
    };
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).expect("headers are a JSON object");
    assert!(!map.is_empty(), "an empty header object is stored as NULL");
    let mut headers: Vec<(String, String)> = map
        .into_iter()
        .map(|(name, value)| (name, value.as_str().expect("a string").to_owned()))
        .collect();
    headers.sort();
    headers
}

/// Checks that `rows` hold `expected` exactly once each, in order within
/// each partition, headers and data as served.
fn assert_rows_are(rows: &[EventRow], expected: &[FixtureEvent]) {
    assert_eq!(rows.len(), expected.len(), "{rows:#?}");
    for partition in 0..3 {
        let stored: Vec<(Vec<(String, String)>, &str)> = rows
            .iter()
            .filter(|row| row.partition_id == i64::from(partition))
            .map(|row| (headers_of(row), row.data.as_str()))
            .collect();
        let wanted: Vec<(Vec<(String, String)>, &str)> = expected
            .iter()
            .filter(|event| event.partition == partition)
            .map(|event| (event.headers.clone(), event.data.as_str()))
            .collect();
        assert_eq!(stored, wanted, "partition {partition}");
    }
}

/// The fixture's final cursors.
/// The lines of `stdout`, grouped by partition, each group in order.
fn by_partition(stdout: &str) -> Vec<Vec<String>> {
    (0..3)
        .map(|partition| crate::support::lines_of_partition(stdout, partition))
        .collect()
}

fn fixture_cursors() -> Vec<(i64, String)> {
    vec![(0, "4".into()), (1, "5".into()), (2, "3".into())]
}

fn store_keeps_every_event_once_and_resumes(db: &TestDb) {
    let serve = Serve::fixture();
    let without_store = zeh()
        .args(["follow", &serve.url, "--partitions", PARTITIONS])
        .args([
            "--until-caught-up",
            "--headers",
            "_all",
            "--page-size-hint",
            "5",
        ])
        .output()
        .unwrap();
    let printed = follow_into(
        &serve.url,
        db,
        &["--headers", "_all", "--page-size-hint", "5"],
    );
    // The same lines as without --store, each partition's in order (the
    // partitions are applied side by side, so they interleave otherwise).
    assert_eq!(
        by_partition(&printed),
        by_partition(&stdout_of(&without_store)),
        "stdout as without --store"
    );
    let rows = db.events();
    assert_rows_are(&rows, &fixture_events());
    assert_eq!(db.cursors(), fixture_cursors());
    // Where the consumer stands, without SQL.
    let cursors = zeh().args(["cursors", &db.store()]).output().unwrap();
    assert!(cursors.status.success(), "{}", stderr_of(&cursors));
    assert_eq!(
        stdout_of(&cursors),
        "{\"partition\":0,\"cursor\":\"4\"}\n\
         {\"partition\":1,\"cursor\":\"5\"}\n\
         {\"partition\":2,\"cursor\":\"3\"}\n"
    );

    // Again: it resumes from the stored cursors, caught up at once.
    let printed = follow_into(&serve.url, db, &["--headers", "_all"]);
    assert_eq!(printed, "");
    assert_eq!(db.events(), rows, "nothing stored twice");
    assert_eq!(db.cursors(), fixture_cursors());
}

#[test]
fn follow_store_sqlite_keeps_every_event_once_and_resumes() {
    let db = TestDb::sqlite();
    store_keeps_every_event_once_and_resumes(&db);
}

#[test]
fn follow_store_postgres_keeps_every_event_once_and_resumes() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    store_keeps_every_event_once_and_resumes(&db);
}

#[test]
fn follow_store_stores_headers_as_requested_and_null_without() {
    let db = TestDb::sqlite();
    let serve = Serve::fixture();
    follow_into(&serve.url, &db, &["--headers", "ce_id"]);
    let rows = db.events();
    let with_id = fixture_events()
        .iter()
        .filter(|event| event.headers.iter().any(|(name, _)| name == "ce_id"))
        .count();
    assert_eq!(
        rows.iter().filter(|row| row.headers.is_some()).count(),
        with_id
    );
    for row in &rows {
        if let Some(headers) = &row.headers {
            assert!(headers.starts_with("{\"ce_id\":\"e"), "{headers}");
            assert_eq!(headers_of(row).len(), 1, "{headers}");
        }
    }
}

/// A producer's log in `producer`, appended in two rounds while it is
/// served; the follower stores into `consumer`, before and after.
fn store_follows_a_growing_event_log(producer: &TestDb, consumer: &TestDb) {
    let events = fixture_events();
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    std::fs::write(&first, lines[..5].join("\n")).unwrap();
    std::fs::write(&second, lines[5..].join("\n")).unwrap();

    append(producer, first.to_str().unwrap());
    let serve = Serve::start(&[&producer.store(), "--partitions", PARTITIONS]);
    follow_into(
        &serve.url,
        consumer,
        &["--headers", "_all", "--page-size-hint", "2"],
    );
    assert_rows_are(&consumer.events(), &events[..5]);

    append(producer, second.to_str().unwrap());
    let printed = follow_into(&serve.url, consumer, &["--headers", "_all"]);
    assert_eq!(printed.lines().count(), events.len() - 5, "{printed}");
    assert_rows_are(&consumer.events(), &events);
    assert_eq!(consumer.cursors(), fixture_cursors());
}

#[test]
fn follow_store_sqlite_follows_a_growing_event_log() {
    let (producer, consumer) = (TestDb::sqlite(), TestDb::sqlite());
    store_follows_a_growing_event_log(&producer, &consumer);
}

#[test]
fn follow_store_postgres_follows_a_growing_event_log() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    // One schema for both: the producer's table is zeh_event_log.
    store_follows_a_growing_event_log(&db, &db);
}

#[test]
fn follow_store_stored_cursors_override_the_given_ones() {
    let db = TestDb::sqlite();
    let serve = Serve::fixture();
    // Only partition 0: only its cursor is stored.
    follow_into(&serve.url, &db, &["--cursor", "0=_first"]);
    assert_eq!(db.cursors(), [(0, "4".to_owned())]);
    // Partition 0 resumes from "4" despite _first; partition 1 has no
    // stored cursor and starts from the given "3".
    let printed = follow_into(
        &serve.url,
        &db,
        &["--cursor", "0=_first", "--cursor", "1=3"],
    );
    let partition_1: Vec<String> = fixture_events()
        .iter()
        .filter(|event| event.partition == 1)
        .skip(3)
        .map(|event| event.line(crate::support::Headers::None))
        .collect();
    assert_eq!(printed.lines().collect::<Vec<_>>(), partition_1);
    assert_eq!(db.cursors(), [(0, "4".to_owned()), (1, "5".to_owned())]);
    assert_eq!(db.events().len(), 4 + 2);
}

#[test]
fn follow_store_two_consumers_in_one_database_keep_apart_by_name_and_table() {
    let db = TestDb::sqlite();
    let serve = Serve::fixture();
    follow_into(&serve.url, &db, &[]);
    // A second consumer of (here) the same feed, in its own table.
    let other = [
        "--name",
        "audit",
        "--table",
        "audit_events",
        "--cursor",
        "1=_first",
    ];
    let printed = follow_into(&serve.url, &db, &other);
    assert_eq!(printed.lines().count(), 5, "{printed}");
    assert_eq!(
        db.events().len(),
        fixture_events().len(),
        "zeh_events untouched"
    );
    assert_eq!(db.cursors(), fixture_cursors());
    assert_eq!(db.cursors_of("audit"), [(1, "5".to_owned())]);
    let cursors = zeh()
        .args(["cursors", &db.store(), "--name", "audit"])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&cursors), "{\"partition\":1,\"cursor\":\"5\"}\n");
    let bad = zeh()
        .args(["follow", &serve.url, "--partitions", PARTITIONS])
        .args(["--store", &db.store(), "--table", "a;drop"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr_of(&bad).contains("invalid table name"),
        "{}",
        stderr_of(&bad)
    );
}

/// Like `zeh follow --store ... | head -1`: once nobody reads stdout, the
/// next page stops it quietly (exit 0), its events stored.
#[test]
fn follow_store_into_a_closed_pipe_exits_quietly() {
    let (producer, consumer) = (TestDb::sqlite(), TestDb::sqlite());
    append(&producer, FIXTURE);
    let serve = Serve::start(&[&producer.store(), "--partitions", PARTITIONS]);
    let mut follower = crate::support::Running::spawn(crate::support::zeh_process(&[
        "follow",
        &serve.url,
        "--partitions",
        PARTITIONS,
        "--poll-interval",
        "20ms",
        "--store",
        &consumer.store(),
    ]));
    // Read the fixture's lines in a thread (a zeh that does not print
    // them fails the test instead of hanging it), then close the pipe.
    let stdout = follower.child.stdout.take().expect("stdout is piped");
    let (send, read) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut stdout = std::io::BufReader::new(stdout);
        let mut line = String::new();
        for _ in 0..fixture_events().len() {
            let _ = stdout.read_line(&mut line);
        }
        let _ = send.send((line.lines().count(), stdout));
    });
    let (lines, stdout) = read
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("zeh prints the stored events");
    assert_eq!(lines, 12);
    drop(stdout); // like `| head -12`
    let new_event = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(new_event.path(), "{\"partition\":0,\"data\":\"new\"}\n").unwrap();
    append(&producer, new_event.path().to_str().unwrap());
    let status = follower.wait();
    let stderr = follower.stderr_lines().rest().join("\n");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
    assert_eq!(consumer.events().len(), 13, "the new event is stored");
}

#[test]
fn follow_store_refuses_a_store_that_is_not_a_database() {
    let output = zeh()
        .args(["follow", "http://127.0.0.1:1/feed", "--partitions", "1"])
        .args(["--store", "consumer.db"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("'consumer.db' for '--store <STORE>': expected sqlite:PATH"),
        "{stderr}"
    );
}

#[test]
fn follow_store_that_cannot_be_opened_exits_1_before_fetching() {
    let output = zeh()
        .args(["follow", "http://127.0.0.1:1/feed", "--partitions", "1"])
        .args(["--store", "sqlite:/nonexistent/dir/consumer.db"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.starts_with("zeh: cannot open sqlite:/nonexistent/dir/consumer.db: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn cursors_with_a_feed_show_how_far_behind_the_consumer_is() {
    let producer = TestDb::sqlite();
    let consumer = TestDb::sqlite();
    let append = |events: &str| {
        let appended = zeh()
            .args(["append", &producer.store(), "--partitions", "2"])
            .write_stdin(events.to_owned())
            .output()
            .unwrap();
        assert!(appended.status.success(), "{}", stderr_of(&appended));
    };
    append("{\"partition\":0,\"data\":1}\n{\"partition\":1,\"data\":2}\n");
    let serve = Serve::start(&[&producer.store(), "--partitions", "2"]);
    let followed = zeh()
        .args([
            "follow",
            &serve.url,
            "--partitions",
            "2",
            "--until-caught-up",
        ])
        .args(["--store", &consumer.store()])
        .output()
        .unwrap();
    assert!(followed.status.success(), "{}", stderr_of(&followed));
    append("{\"partition\":1,\"data\":3}\n{\"partition\":1,\"data\":4}\n");

    let output = zeh()
        .args([
            "cursors",
            &consumer.store(),
            "--feed",
            &serve.url,
            "--partitions",
            "2",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        stdout_of(&output),
        "{\"partition\":0,\"cursor\":\"1\",\"head\":\"1\",\"behind\":0}\n\
         {\"partition\":1,\"cursor\":\"1\",\"head\":\"3\",\"behind\":2}\n"
    );
}
