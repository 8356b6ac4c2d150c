//! `zeh append STORE` and `zeh serve STORE`: an event log in SQLite or
//! PostgreSQL, written from files, stdin or a Rust producer, served as the
//! same feed a file would be.

use std::path::Path;

use zeroeventhub_sqlx::{
    SqliteEventLog,
    sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool},
    zeroeventhub::Event,
};

use crate::{
    db::{TestDb, block_on},
    support::{FIXTURE, PARTITIONS, Serve, checkpoint, stderr_of, stdout_of, zeh},
};

/// The cursors `zeh append` prints for the fixture.
const FIXTURE_CURSORS: &str = "{\"partition\":0,\"cursor\":\"4\"}\n\
                               {\"partition\":1,\"cursor\":\"5\"}\n\
                               {\"partition\":2,\"cursor\":\"3\"}\n";

/// `zeh append STORE --partitions 3 ARGS` with `stdin`.
fn append(db: &TestDb, args: &[&str], stdin: &str) -> std::process::Output {
    zeh()
        .args(["append", &db.store(), "--partitions", PARTITIONS])
        .args(args)
        .write_stdin(stdin)
        .output()
        .unwrap()
}

/// `zeh fetch URL --partitions 3 ARGS`, which must succeed; its stdout.
fn fetch(url: &str, args: &[&str]) -> String {
    let output = zeh()
        .args(["fetch", url, "--partitions", PARTITIONS])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    stdout_of(&output)
}

/// Requests whose answers must not depend on where the events are kept.
const REQUESTS: &[&[&str]] = &[
    &[],
    &["--headers", "_all"],
    &["--headers", "ce_id,trace", "--page-size-hint", "5"],
    &[
        "--cursor",
        "1=2",
        "--cursor",
        "2=_last",
        "--headers",
        "_all",
    ],
    &["--cursor", "0=_last"],
];

fn serves_what_the_file_serves(db: &TestDb) {
    let appended = append(db, &[FIXTURE], "");
    assert!(appended.status.success(), "{}", stderr_of(&appended));
    assert_eq!(stdout_of(&appended), FIXTURE_CURSORS);
    let from_file = Serve::fixture();
    let from_db = Serve::start(&[&db.store(), "--partitions", PARTITIONS]);
    for request in REQUESTS {
        assert_eq!(
            fetch(&from_db.url, request),
            fetch(&from_file.url, request),
            "{request:?}"
        );
    }
}

#[test]
fn serve_sqlite_serves_what_append_appended_as_the_file_would_be() {
    serves_what_the_file_serves(&TestDb::sqlite());
}

#[test]
fn serve_postgres_serves_what_append_appended_as_the_file_would_be() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    serves_what_the_file_serves(&db);
}

fn appended_while_serving_appears_on_the_next_request(db: &TestDb) {
    // Serving first creates the (empty) log.
    let serve = Serve::start(&[&db.store(), "--partitions", PARTITIONS]);
    let empty = [checkpoint(0, "0"), checkpoint(1, "0"), checkpoint(2, "0")];
    assert_eq!(fetch(&serve.url, &[]), format!("{}\n", empty.join("\n")));

    let event = r#"{"partition":1,"headers":{"ce_id":"x1"},"data":{"a": [1, 2]}}"#;
    let appended = append(db, &[], &format!("{event}\n"));
    assert!(appended.status.success(), "{}", stderr_of(&appended));
    assert_eq!(stdout_of(&appended), format!("{}\n", checkpoint(1, "1")));
    assert_eq!(
        fetch(&serve.url, &["--cursor", "1=_first", "--headers", "_all"]),
        format!("{event}\n{}\n{}\n", checkpoint(1, "1"), checkpoint(1, "1"))
    );
}

#[test]
fn serve_sqlite_shows_events_appended_while_it_runs() {
    appended_while_serving_appears_on_the_next_request(&TestDb::sqlite());
}

#[test]
fn serve_postgres_shows_events_appended_while_it_runs() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    appended_while_serving_appears_on_the_next_request(&db);
}

#[test]
fn append_reads_stdin_without_a_file_or_with_dash() {
    let db = TestDb::sqlite();
    let input = std::fs::read_to_string(FIXTURE).unwrap();
    let appended = append(&db, &[], &input);
    assert!(appended.status.success(), "{}", stderr_of(&appended));
    assert_eq!(stdout_of(&appended), FIXTURE_CURSORS);
    let appended = append(&db, &["-"], "\n{\"partition\":2,\"data\":0}\r\n\n");
    assert!(appended.status.success(), "{}", stderr_of(&appended));
    assert_eq!(stdout_of(&appended), format!("{}\n", checkpoint(2, "4")));
}

#[test]
fn append_of_nothing_appends_nothing_and_prints_nothing() {
    let db = TestDb::sqlite();
    let appended = append(&db, &[], "\n\n");
    assert!(appended.status.success(), "{}", stderr_of(&appended));
    assert_eq!(stdout_of(&appended), "");
    assert_eq!(stderr_of(&appended), "");
}

/// `zeh append` of `input` on stdin must fail naming line `line`; returns
/// the message.
fn append_failure(db: &TestDb, input: &str, line: u32) -> String {
    let appended = append(db, &[], input);
    let stderr = stderr_of(&appended);
    assert_eq!(appended.status.code(), Some(1), "{stderr}");
    assert_eq!(stdout_of(&appended), "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("zeh: <stdin>:{line}: ")),
        "{stderr}"
    );
    stderr
}

#[test]
fn append_with_a_bad_line_names_it_and_appends_nothing() {
    let db = TestDb::sqlite();
    let good = "{\"partition\":0,\"data\":1}\n";
    let stderr = append_failure(&db, &format!("{good}{{\"partition\":3,\"data\":1}}\n"), 2);
    assert!(stderr.contains("partition 3 is outside 0..3"), "{stderr}");
    let TestDb::Sqlite { path, .. } = &db else {
        unreachable!()
    };
    assert!(!path.exists(), "the database is not even created");

    let appended = append(&db, &[], good);
    assert!(appended.status.success(), "{}", stderr_of(&appended));
    for (input, line, reason) in [
        (
            format!("{good}\n{good}{{\"partition\":0,\"data\":\n"),
            4,
            "invalid JSON",
        ),
        (
            format!("{good}{{\"partition\":0,\"cursor\":\"1\"}}\n"),
            2,
            "a checkpoint",
        ),
        (
            "{\"partition\":0,\"dta\":1}\n".to_owned(),
            1,
            "not an event",
        ),
    ] {
        let stderr = append_failure(&db, &input, line);
        assert!(stderr.contains(reason), "{stderr}");
    }
    // Only the one good append is in the log.
    let serve = Serve::start(&[&db.store(), "--partitions", PARTITIONS]);
    assert_eq!(
        fetch(&serve.url, &["--cursor", "0=_first"]),
        format!("{good}{}\n{}\n", checkpoint(0, "1"), checkpoint(0, "1"))
    );
}

#[test]
fn append_names_a_missing_file() {
    let db = TestDb::sqlite();
    let appended = append(&db, &["/nonexistent/events.ndjson"], "");
    assert_eq!(appended.status.code(), Some(1));
    let stderr = stderr_of(&appended);
    assert!(
        stderr.starts_with("zeh: cannot open /nonexistent/events.ndjson: "),
        "{stderr}"
    );
}

#[test]
fn append_to_something_that_is_not_a_database_is_an_argument_error() {
    for store in [
        "events.db",
        "mysql://h/d",
        "sqlite:",
        "sqlite::memory:",
        "postgres://h:x/d",
    ] {
        let output = zeh()
            .args(["append", store, "--partitions", "3"])
            .write_stdin("{\"partition\":0,\"data\":1}\n")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{store}");
        let stderr = stderr_of(&output);
        assert!(
            stderr.starts_with(&format!("error: invalid value '{store}' for '<STORE>'")),
            "{stderr}"
        );
    }
}

#[test]
fn append_to_a_database_that_cannot_be_opened_exits_1() {
    for (store, message) in [
        (
            "sqlite:/nonexistent/dir/log.db",
            "zeh: cannot open sqlite:/nonexistent/dir/log.db: ",
        ),
        (
            "postgres://zeh:secret@127.0.0.1:1/log",
            "zeh: cannot connect to postgres://zeh:***@127.0.0.1:1/log: ",
        ),
    ] {
        let output = zeh()
            .args(["append", store, "--partitions", "3"])
            .write_stdin("{\"partition\":0,\"data\":1}\n")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{store}");
        let stderr = stderr_of(&output);
        assert!(stderr.starts_with(message), "{stderr}");
        assert!(!stderr.contains("secret"), "{stderr}");
    }
}

#[test]
fn serve_of_a_database_that_cannot_be_opened_exits_1() {
    let output = zeh()
        .args([
            "serve",
            "sqlite:/nonexistent/dir/log.db",
            "--partitions",
            "3",
        ])
        .args(["--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_of(&output), "");
    let stderr = stderr_of(&output);
    assert!(
        stderr.starts_with("zeh: cannot open sqlite:/nonexistent/dir/log.db: "),
        "{stderr}"
    );
}

/// Writes `events` with zeroeventhub-sqlx's `EventLog`, as a Rust producer
/// would, into the SQLite file at `path`.
fn publish_as_a_rust_producer(path: &Path, events: &[Event]) {
    block_on(async {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        let log = SqliteEventLog::new(pool.clone(), 3);
        log.migrate().await.unwrap();
        log.publish(events).await.unwrap();
        pool.close().await;
    });
}

#[test]
fn serve_sqlite_serves_the_log_of_a_rust_producer() {
    let db = TestDb::sqlite();
    let TestDb::Sqlite { path, .. } = &db else {
        unreachable!()
    };
    let events = [
        Event::from_data(2, &serde_json::json!({"id": "p1"}))
            .unwrap()
            .with_header("ce_type", "PersonCreated"),
        Event::from_data(0, "x").unwrap(),
    ];
    publish_as_a_rust_producer(path, &events);
    let serve = Serve::start(&[&db.store(), "--partitions", PARTITIONS]);
    assert_eq!(
        fetch(&serve.url, &["--headers", "_all"]),
        [
            r#"{"partition":0,"data":"x"}"#,
            &checkpoint(0, "1"),
            r#"{"partition":2,"headers":{"ce_type":"PersonCreated"},"data":{"id":"p1"}}"#,
            &checkpoint(2, "1"),
            &checkpoint(0, "1"),
            &checkpoint(1, "0"),
            &checkpoint(2, "1"),
            "",
        ]
        .join("\n")
    );
}

/// Regression: an event whose stored JSON holds raw newlines (written by
/// another tool) was served over two lines, and `zeh fetch` failed on it
/// at every fetch.
fn data_with_newlines_is_served_on_one_line(db: &TestDb) {
    let event = r#"{"partition":1,"data":{"a":0}}"#;
    let appended = append(db, &[], &format!("{event}\n"));
    assert!(appended.status.success(), "{}", stderr_of(&appended));
    db.execute("UPDATE zeh_event_log SET data = '{\"a\": [\n  1,\r\n\t2]}' WHERE position = 1");
    let serve = Serve::start(&[&db.store(), "--partitions", PARTITIONS]);
    let output = fetch(&serve.url, &["--cursor", "1=_first"]);
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(
        lines,
        [
            "{\"partition\":1,\"data\":{\"a\": [   1,\r \t2]}}",
            &checkpoint(1, "1"),
            &checkpoint(1, "1"),
        ]
    );
    let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(line["data"], serde_json::json!({"a": [1, 2]}));
}

#[test]
fn serve_sqlite_serves_data_with_newlines_on_one_line() {
    data_with_newlines_is_served_on_one_line(&TestDb::sqlite());
}

#[test]
fn serve_postgres_serves_data_with_newlines_on_one_line() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    data_with_newlines_is_served_on_one_line(&db);
}

/// `--table`: two feeds in one database, each appended to and served by
/// its name; the default table stays empty.
fn logs_in_other_tables_are_separate_feeds(db: &TestDb) {
    let event = |n: u32| format!("{{\"partition\":0,\"data\":{n}}}\n");
    for (table, n) in [("people_events", 1), ("order_events", 2)] {
        let appended = append(db, &["--table", table], &event(n));
        assert!(appended.status.success(), "{}", stderr_of(&appended));
    }
    for (table, n) in [("people_events", 1), ("order_events", 2)] {
        let serve = Serve::start(&[&db.store(), "--partitions", PARTITIONS, "--table", table]);
        let lines = fetch(&serve.url, &["--cursor", "0=_first"]);
        assert_eq!(
            lines,
            format!(
                "{}{}\n{}\n",
                event(n),
                checkpoint(0, "1"),
                checkpoint(0, "1")
            )
        );
    }
    let serve = Serve::start(&[&db.store(), "--partitions", PARTITIONS]);
    assert_eq!(
        fetch(&serve.url, &["--cursor", "0=_first"]),
        format!("{}\n", checkpoint(0, "0"))
    );
}

#[test]
fn sqlite_logs_in_other_tables_are_separate_feeds() {
    logs_in_other_tables_are_separate_feeds(&TestDb::sqlite());
}

#[test]
fn postgres_logs_in_other_tables_are_separate_feeds() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    logs_in_other_tables_are_separate_feeds(&db);
}

#[test]
fn a_table_for_a_file_source_is_refused() {
    let output = zeh()
        .args(["serve", FIXTURE, "--partitions", PARTITIONS, "--table", "t"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("--table applies to a database SOURCE"));
}
