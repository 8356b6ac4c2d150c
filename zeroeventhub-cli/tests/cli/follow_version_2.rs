//! `zeh fetch` and `zeh follow` without `--partitions`: version 2 from the
//! producer's discovery, against `zeh serve` and against an in-memory log
//! served in this process, whose partitions the tests close and split
//! while `zeh` runs. Output lines keep version 1's form.

use std::{collections::BTreeMap, io::Write};

use tempfile::NamedTempFile;
use zeroeventhub::{Event, server::MemoryLog};

use crate::{
    db::TestDb,
    support::{
        Producer, RawServer, Running, Serve, status_response, stderr_of, stdout_of, zeh,
        zeh_process,
    },
};

/// What `zeh ARGS` prints, once it has exited 0.
fn succeeds(args: &[&str]) -> String {
    let output = zeh().args(args).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    stdout_of(&output)
}

/// `{"partition":P,"data":N}`, as zeh prints an event.
fn event(partition: u32, n: u32) -> String {
    format!("{{\"partition\":{partition},\"data\":{n}}}")
}

/// Even numbers to a split's first child, odd ones to its second.
fn parity(event: &Event) -> u32 {
    event.data_json().parse::<u32>().unwrap() % 2
}

/// Two partitions of typed events, as `zeh serve FILE` reads them.
fn typed_file() -> NamedTempFile {
    let mut file = NamedTempFile::new().unwrap();
    for line in [
        r#"{"partition":0,"type":"A","data":0}"#,
        r#"{"partition":0,"type":"B","data":1}"#,
        r#"{"partition":1,"type":"A","data":2}"#,
    ] {
        writeln!(file, "{line}").unwrap();
    }
    file
}

#[test]
fn fetch_without_partitions_requests_every_listed_partition_in_turn() {
    let file = typed_file();
    let serve = Serve::start(&[file.path().to_str().unwrap(), "--partitions", "2"]);
    let stdout = succeeds(&["fetch", &serve.url]);
    assert_eq!(
        stdout,
        [
            &event(0, 0),
            r#"{"partition":0,"cursor":"1"}"#,
            &event(0, 1),
            r#"{"partition":0,"cursor":"2"}"#,
            r#"{"partition":0,"cursor":"2"}"#,
            &event(1, 2),
            r#"{"partition":1,"cursor":"1"}"#,
            r#"{"partition":1,"cursor":"1"}"#,
            "",
        ]
        .join("\n")
    );

    // Only the partitions of --cursor; a filter moves the checkpoint past
    // what it drops.
    let stdout = succeeds(&[
        "fetch",
        &serve.url,
        "--cursor",
        "0=_first",
        "--event-types",
        "b",
    ]);
    assert_eq!(
        stdout,
        format!(
            "{}\n{{\"partition\":0,\"cursor\":\"2\"}}\n{{\"partition\":0,\"cursor\":\"2\"}}\n",
            event(0, 1)
        )
    );
}

#[test]
fn fetch_without_partitions_refuses_what_version_2_cannot_do() {
    let file = typed_file();
    let serve = Serve::start(&[file.path().to_str().unwrap(), "--partitions", "2"]);
    let output = zeh()
        .args(["fetch", &serve.url, "--cursor", "5=_first"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("partition 5 is not in the feed's discovery (token 1, partitions 0,1)"),
        "{stderr}"
    );
    // Version 2 events have no headers: a usage error, before any request.
    let output = zeh()
        .args(["fetch", &serve.url, "--headers", "_all"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("--partitions N"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn fetch_without_partitions_asks_for_them_when_the_producer_speaks_version_1() {
    let server = RawServer::start(vec![status_response(
        "400 Bad Request",
        "missing parameter n (the partition count)",
    )]);
    let output = zeh().args(["fetch", &server.url]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("speaks version 1 only") && stderr.contains("--partitions N"),
        "{stderr}"
    );
    assert_eq!(server.requests(), ["GET /feed HTTP/1.1"]);
}

#[test]
fn with_partitions_zeh_speaks_version_1_to_a_producer_of_both() {
    let producer = Producer::start(MemoryLog::new(2));
    producer.append(1, 7);
    let stdout = succeeds(&[
        "fetch",
        &producer.url,
        "--partitions",
        "2",
        "--cursor",
        "1=_first",
    ]);
    assert_eq!(
        stdout,
        format!(
            "{}\n{}\n{}\n",
            event(1, 7),
            r#"{"partition":1,"cursor":"1"}"#,
            r#"{"partition":1,"cursor":"1"}"#
        )
    );
}

#[test]
fn follow_without_a_store_goes_through_token_changes_closes_and_both_splits() {
    let producer = Producer::start(MemoryLog::new(2));
    for n in 0..3 {
        producer.append(0, n);
    }
    producer.append(1, 10);
    let mut follow = Running::spawn(zeh_process(&["follow", &producer.url, "--wait", "1"]));
    let lines = follow.stdout_lines();
    let mut seen = lines.take(4);

    // Method 1, ordered: the children start once partition 0 is finished.
    let children = producer.log.split(0, 2).unwrap();
    assert_eq!(children, [2, 3]);
    producer.append(2, 20);
    producer.append(3, 30);
    seen.extend(lines.take(2));

    // Method 2: partition 1's history moves to 4 and 5; only what is new
    // after its cursor comes.
    let children = producer.log.split_redistributing(1, 2, parity).unwrap();
    assert_eq!(children, [4, 5]);
    producer.append(4, 40);
    producer.append(5, 51);
    seen.extend(lines.take(2));

    follow.signal("INT");
    assert!(follow.wait().success());
    seen.extend(lines.rest());

    let mut expected = vec![
        event(0, 0),
        event(0, 1),
        event(0, 2),
        event(1, 10),
        event(2, 20),
        event(3, 30),
        event(4, 40),
        event(5, 51),
    ];
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected, "every event exactly once");
}

#[test]
fn follow_without_a_store_follows_only_the_partitions_of_cursor_and_filters() {
    let file = typed_file();
    let serve = Serve::start(&[file.path().to_str().unwrap(), "--partitions", "2"]);
    let stdout = succeeds(&[
        "follow",
        &serve.url,
        "--cursor",
        "0=_first",
        "--skip-event-types",
        "a",
        "--until-caught-up",
    ]);
    assert_eq!(stdout, format!("{}\n", event(0, 1)));
}

/// Every event printed by one `zeh follow --until-caught-up` run, by
/// partition, in order.
fn caught_up(producer: &Producer, store: &str) -> BTreeMap<u32, Vec<String>> {
    let stdout = succeeds(&[
        "follow",
        &producer.url,
        "--store",
        store,
        "--until-caught-up",
    ]);
    let mut by_partition = BTreeMap::<u32, Vec<String>>::new();
    for line in stdout.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let partition = value["partition"].as_u64().unwrap() as u32;
        by_partition
            .entry(partition)
            .or_default()
            .push(value["data"].to_string());
    }
    by_partition
}

fn follow_with_a_store_resumes_across_splits(db: &TestDb) {
    let producer = Producer::start(MemoryLog::new(2));
    for n in 0..3 {
        producer.append(0, n);
    }
    producer.append(1, 10);
    producer.append(1, 11);
    let store = db.store();
    let first = caught_up(&producer, &store);
    assert_eq!(first.len(), 2);
    assert_eq!(first[&0], ["0", "1", "2"]);
    assert_eq!(first[&1], ["10", "11"]);

    // While no consumer runs: partition 0 splits by method 1 after one more
    // event, partition 1 by method 2, and the children get events.
    producer.append(0, 3);
    producer.log.split(0, 1).unwrap();
    producer.append(2, 20);
    producer.log.split_redistributing(1, 2, parity).unwrap();
    producer.append(3, 30);
    producer.append(4, 41);

    let second = caught_up(&producer, &store);
    let expected: BTreeMap<u32, Vec<String>> = [
        (0, vec!["3".to_owned()]),
        (2, vec!["20".to_owned()]),
        (3, vec!["30".to_owned()]),
        (4, vec!["41".to_owned()]),
    ]
    .into();
    assert_eq!(second, expected, "only what came after the stored cursors");

    // The events table holds each event once.
    let mut stored: Vec<(i64, String)> = db
        .events()
        .into_iter()
        .map(|row| (row.partition_id, row.data))
        .collect();
    stored.sort();
    assert_eq!(stored.len(), 9, "{stored:?}");
    stored.dedup();
    assert_eq!(stored.len(), 9, "no event twice");

    // Nothing more: a third run prints nothing.
    assert!(caught_up(&producer, &store).is_empty());

    // Caught up everywhere; the redistributed parent has no head any more.
    let stdout = succeeds(&["cursors", &store, "--feed", &producer.url]);
    assert_eq!(
        stdout,
        [
            r#"{"partition":0,"cursor":"4","head":"4","behind":0}"#,
            r#"{"partition":1,"cursor":"2","head":null}"#,
            r#"{"partition":2,"cursor":"1","head":"1","behind":0}"#,
            r#"{"partition":3,"cursor":"3","head":"3","behind":0}"#,
            r#"{"partition":4,"cursor":"3","head":"3","behind":0}"#,
            "",
        ]
        .join("\n")
    );
}

#[test]
fn follow_with_a_store_resumes_across_splits_on_sqlite() {
    follow_with_a_store_resumes_across_splits(&TestDb::sqlite());
}

#[test]
fn follow_with_a_store_resumes_across_splits_on_postgres() {
    if let Some(db) = TestDb::postgres() {
        follow_with_a_store_resumes_across_splits(&db);
    }
}
