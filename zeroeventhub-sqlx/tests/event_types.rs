//! Event types in the event log: appended with an event, kept or skipped by
//! a request's filter, with checkpoints that move past what was filtered
//! away; and the migration that adds the type column to an older table.

#[macro_use]
mod support;

use sqlx::{AssertSqlSafe, Executor, Pool};
use support::read_lines;
use zeroeventhub::{
    Cursor, Event, EventTypeFilter, FeedRequest, HeaderSelection, server::MemoryLog,
};
use zeroeventhub_sqlx::{Backend, EventLog, READ_CHUNK, TypedEvent};

on_both_databases!(
    event_types_keeps_only_the_listed_types,
    skip_event_types_drops_the_listed_types,
    types_compare_case_insensitively_in_unicode,
    an_event_without_a_type_is_dropped_by_event_types_and_kept_by_skip,
    a_read_that_filters_everything_away_ends_past_it,
    the_page_size_hint_counts_the_events_sent,
    a_filter_that_matches_nothing_scans_at_most_the_scan_limit,
    a_page_larger_than_the_scan_limit_scans_the_page,
    the_partitions_of_a_request_share_the_scan_limit,
    a_filtered_read_longer_than_a_chunk_keeps_every_match,
    filters_work_with_the_time_header,
    typed_appends_commit_and_roll_back_with_their_transaction,
    filtered_answers_match_the_memory_log,
    a_table_of_the_previous_version_is_migrated_and_still_serves,
    ddl_makes_the_type_column,
);

/// The types of partition 0's events, `{"n":0}` to `{"n":4}`; partition 1
/// holds one event of type `b`, partition 2 none.
const TYPES: [Option<&str>; 5] = [Some("a"), Some("B"), None, Some("c"), Some("a")];

fn typed(partition_id: u32, n: u64, event_type: Option<&str>) -> TypedEvent {
    TypedEvent {
        event: Event::from_data(partition_id, &n).unwrap(),
        event_type: event_type.map(str::to_owned),
    }
}

fn fixture_events() -> Vec<TypedEvent> {
    let mut events: Vec<TypedEvent> = (0..)
        .zip(TYPES)
        .map(|(n, event_type)| typed(0, n, event_type))
        .collect();
    events.push(typed(1, 10, Some("b")));
    events
}

async fn fixture<DB: Backend>(pool: Pool<DB>) -> EventLog<DB> {
    let log = EventLog::new(pool, 3);
    log.migrate().await.unwrap();
    log.publish_typed(&fixture_events()).await.unwrap();
    log
}

fn cursor(partition_id: u32, value: &str) -> Cursor {
    Cursor::new(partition_id, value).unwrap()
}

/// A request for `cursors` with `filter`.
fn filtered(filter: EventTypeFilter, cursors: Vec<Cursor>) -> FeedRequest {
    FeedRequest {
        event_types: filter,
        ..FeedRequest::new(3, cursors)
    }
}

/// `count` events of partition 0, all of type `type_of(n)`.
async fn numbered<DB: Backend>(
    log: &EventLog<DB>,
    count: u64,
    type_of: impl Fn(u64) -> &'static str,
) {
    let events: Vec<TypedEvent> = (0..count).map(|n| typed(0, n, Some(type_of(n)))).collect();
    log.publish_typed(&events).await.unwrap();
}

async fn event_types_keeps_only_the_listed_types<DB: Backend>(pool: Pool<DB>) {
    let log = fixture(pool).await;
    let request = filtered(EventTypeFilter::only(["a"]), vec![Cursor::first(0)]);
    // The checkpoint after event 4 moves past the three filtered away.
    assert_eq!(
        read_lines(&log, request).await,
        ["0 0", "0=1", "0 4", "0=5", "0=5"]
    );
    let request = filtered(
        EventTypeFilter::only(["b", "c"]),
        vec![Cursor::first(0), Cursor::first(1)],
    );
    assert_eq!(
        read_lines(&log, request).await,
        ["0 1", "0=2", "0 3", "0=4", "1 10", "1=1", "0=5", "1=1"]
    );
}

async fn skip_event_types_drops_the_listed_types<DB: Backend>(pool: Pool<DB>) {
    let log = fixture(pool).await;
    let request = filtered(EventTypeFilter::skip(["a", "b"]), vec![Cursor::first(0)]);
    assert_eq!(
        read_lines(&log, request).await,
        ["0 2", "0=3", "0 3", "0=4", "0=5"]
    );
    // A skip list that names nothing keeps everything.
    let request = filtered(
        EventTypeFilter::skip(Vec::<String>::new()),
        vec![cursor(0, "3")],
    );
    assert_eq!(
        read_lines(&log, request).await,
        ["0 3", "0=4", "0 4", "0=5", "0=5"]
    );
}

/// Compared in Rust, as the core does: SQLite's own `lower()` would miss
/// every letter outside ASCII.
async fn types_compare_case_insensitively_in_unicode<DB: Backend>(pool: Pool<DB>) {
    let log = EventLog::new(pool, 1);
    log.migrate().await.unwrap();
    log.publish_typed(&[
        typed(0, 0, Some("ÄrgerGemeldet")),
        typed(0, 1, Some("ΣΟΦΊΑ")),
        typed(0, 2, Some("other")),
    ])
    .await
    .unwrap();
    let request = |filter| FeedRequest {
        event_types: filter,
        ..FeedRequest::new(1, vec![Cursor::first(0)])
    };
    assert_eq!(
        read_lines(
            &log,
            request(EventTypeFilter::only(["ärgergemeldet", "σοφία"]))
        )
        .await,
        ["0 0", "0=1", "0 1", "0=2", "0=3"]
    );
    assert_eq!(
        read_lines(
            &log,
            request(EventTypeFilter::skip(["ÄRGERGEMELDET", "OTHER"]))
        )
        .await,
        ["0 1", "0=2", "0=3"]
    );
}

async fn an_event_without_a_type_is_dropped_by_event_types_and_kept_by_skip<DB: Backend>(
    pool: Pool<DB>,
) {
    let log = fixture(pool).await;
    // An untyped append, as before types existed.
    log.publish(&[Event::from_data(0, &5).unwrap()])
        .await
        .unwrap();
    let request = filtered(EventTypeFilter::only(["c"]), vec![Cursor::first(0)]);
    assert_eq!(read_lines(&log, request).await, ["0 3", "0=4", "0=6"]);
    let request = filtered(EventTypeFilter::skip(["c"]), vec![cursor(0, "1")]);
    assert_eq!(
        read_lines(&log, request).await,
        [
            "0 1", "0=2", "0 2", "0=3", "0 4", "0=5", "0 5", "0=6", "0=6"
        ]
    );
}

async fn a_read_that_filters_everything_away_ends_past_it<DB: Backend>(pool: Pool<DB>) {
    let log = fixture(pool).await;
    let nothing = || EventTypeFilter::only(["zzz"]);
    let request = filtered(
        nothing(),
        vec![Cursor::first(0), Cursor::first(1), Cursor::first(2)],
    );
    assert_eq!(read_lines(&log, request).await, ["0=5", "1=1", "2=0"]);
    let request = filtered(nothing(), vec![cursor(0, "2"), Cursor::last(1)]);
    assert_eq!(read_lines(&log, request).await, ["0=5", "1=1"]);
    // A filter does not make a bad cursor good.
    let request = filtered(nothing(), vec![cursor(0, "6")]);
    let lines = read_lines(&log, request).await;
    assert!(
        lines[0].starts_with("error: bad request: parameter cursor0"),
        "{lines:?}"
    );
}

async fn the_page_size_hint_counts_the_events_sent<DB: Backend>(pool: Pool<DB>) {
    let log = fixture(pool).await;
    let request = |hint, filter, cursors| FeedRequest {
        page_size_hint: Some(hint),
        ..filtered(filter, cursors)
    };
    // Two events sent, though five rows were looked at.
    let only_a = || EventTypeFilter::only(["a"]);
    assert_eq!(
        read_lines(&log, request(2, only_a(), vec![Cursor::first(0)])).await,
        ["0 0", "0=1", "0 4", "0=5", "0=5"]
    );
    // The hint reached, the read ends at the last event sent, not past
    // rows it did not look at.
    assert_eq!(
        read_lines(&log, request(1, only_a(), vec![Cursor::first(0)])).await,
        ["0 0", "0=1", "0=1"]
    );
    assert_eq!(
        read_lines(&log, request(1, only_a(), vec![cursor(0, "1")])).await,
        ["0 4", "0=5", "0=5"]
    );
    // Across partitions, the hint counts the whole response.
    let skip_c = EventTypeFilter::skip(["c"]);
    assert_eq!(
        read_lines(
            &log,
            request(2, skip_c, vec![Cursor::first(0), Cursor::first(1)])
        )
        .await,
        ["0 0", "0=1", "0 1", "0=2", "0=2", "1=0"]
    );
}

async fn a_filter_that_matches_nothing_scans_at_most_the_scan_limit<DB: Backend>(pool: Pool<DB>) {
    let log = EventLog::new(pool, 1).with_scan_limit(10);
    log.migrate().await.unwrap();
    numbered(&log, 25, |_| "x").await;
    let request = |hint, filter, from: &str| FeedRequest {
        page_size_hint: Some(hint),
        event_types: filter,
        ..FeedRequest::new(1, vec![cursor(0, from)])
    };
    let only_y = || EventTypeFilter::only(["y"]);
    // Ten rows at most per request, each answer ending where it stopped.
    assert_eq!(read_lines(&log, request(3, only_y(), "0")).await, ["0=10"]);
    assert_eq!(read_lines(&log, request(3, only_y(), "10")).await, ["0=20"]);
    assert_eq!(read_lines(&log, request(3, only_y(), "20")).await, ["0=25"]);
    log.publish_typed(&[typed(0, 25, Some("y"))]).await.unwrap();
    assert_eq!(
        read_lines(&log, request(3, only_y(), "25")).await,
        ["0 25", "0=26", "0=26"]
    );
    // Without a filter, the limit plays no part.
    let lines = read_lines(&log, request(20, EventTypeFilter::All, "0")).await;
    assert_eq!(lines.len(), 41);
    assert_eq!(lines.last().unwrap(), "0=20");
}

async fn a_page_larger_than_the_scan_limit_scans_the_page<DB: Backend>(pool: Pool<DB>) {
    let log = EventLog::new(pool, 1).with_scan_limit(10);
    log.migrate().await.unwrap();
    numbered(&log, 25, |n| if n == 13 { "y" } else { "x" }).await;
    let request = FeedRequest {
        page_size_hint: Some(15),
        event_types: EventTypeFilter::only(["y"]),
        ..FeedRequest::new(1, vec![Cursor::first(0)])
    };
    assert_eq!(read_lines(&log, request).await, ["0 13", "0=14", "0=15"]);
}

async fn the_partitions_of_a_request_share_the_scan_limit<DB: Backend>(pool: Pool<DB>) {
    let log = EventLog::new(pool, 2).with_scan_limit(10);
    log.migrate().await.unwrap();
    let events: Vec<TypedEvent> = (0..8)
        .flat_map(|n| [typed(0, n, Some("x")), typed(1, n, Some("x"))])
        .collect();
    log.publish_typed(&events).await.unwrap();
    let request = FeedRequest {
        page_size_hint: Some(1),
        event_types: EventTypeFilter::only(["y"]),
        ..FeedRequest::new(2, vec![Cursor::first(1), Cursor::first(0)])
    };
    assert_eq!(read_lines(&log, request).await, ["0=8", "1=2"]);
}

async fn a_filtered_read_longer_than_a_chunk_keeps_every_match<DB: Backend>(pool: Pool<DB>) {
    let log = EventLog::new(pool, 1);
    log.migrate().await.unwrap();
    let count = 3 * u64::from(READ_CHUNK) + 7;
    numbered(&log, count, |n| if n % 50 == 49 { "y" } else { "x" }).await;
    let request = FeedRequest {
        event_types: EventTypeFilter::only(["Y"]),
        ..FeedRequest::new(1, vec![Cursor::first(0)])
    };
    let mut expected = Vec::new();
    for n in (49..count).step_by(50) {
        expected.push(format!("0 {n}"));
        expected.push(format!("0={}", n + 1));
    }
    expected.push(format!("0={count}"));
    assert_eq!(read_lines(&log, request).await, expected);
}

/// With a time header the type is one column further on.
async fn filters_work_with_the_time_header<DB: Backend>(pool: Pool<DB>) {
    let log = EventLog::new(pool, 1).with_time_header("appended-at");
    log.migrate().await.unwrap();
    let kept = TypedEvent::new(
        Event::from_data(0, &1).unwrap().with_header("h", "v"),
        "kept",
    );
    log.publish_typed(&[typed(0, 0, Some("dropped")), kept])
        .await
        .unwrap();
    let request = FeedRequest {
        headers: HeaderSelection::All,
        event_types: EventTypeFilter::only(["kept"]),
        ..FeedRequest::new(1, vec![Cursor::first(0)])
    };
    let lines: Vec<_> =
        futures_util::StreamExt::collect(zeroeventhub::server::DataReader::read(&log, request))
            .await;
    let Some(Ok(zeroeventhub::FeedLine::Event(event))) = lines.first() else {
        panic!("expected the kept event first: {lines:?}");
    };
    assert_eq!(event.data_json(), "1");
    let headers = event.headers.as_ref().unwrap();
    assert_eq!(headers["h"], "v");
    assert!(headers["appended-at"].ends_with('Z'), "{headers:?}");
    assert_eq!(lines.len(), 3, "{lines:?}");
}

async fn typed_appends_commit_and_roll_back_with_their_transaction<DB: Backend>(pool: Pool<DB>) {
    let log = EventLog::new(pool.clone(), 2);
    log.migrate().await.unwrap();
    let mut transaction = pool.begin().await.unwrap();
    let gone = Event::from_data(0, "gone").unwrap();
    log.append_typed(&mut transaction, &gone, "t")
        .await
        .unwrap();
    transaction.rollback().await.unwrap();

    let mut transaction = pool.begin().await.unwrap();
    let first = Event::from_data(0, "first").unwrap();
    let cursor = log
        .append_typed(&mut transaction, &first, "t")
        .await
        .unwrap();
    assert_eq!(cursor.as_str(), "1");
    let cursors = log
        .append_all_typed(
            &mut transaction,
            &[
                TypedEvent::new(Event::from_data(1, "second").unwrap(), "u"),
                TypedEvent::from(Event::from_data(0, "third").unwrap()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(cursors, [self::cursor(1, "1"), self::cursor(0, "2")]);
    transaction.commit().await.unwrap();

    let all = || vec![Cursor::first(0), Cursor::first(1)];
    let request = |filter| FeedRequest {
        event_types: filter,
        ..FeedRequest::new(2, all())
    };
    assert_eq!(
        read_lines(&log, request(EventTypeFilter::only(["t"]))).await,
        ["0 \"first\"", "0=1", "0=2", "1=1"]
    );
    assert_eq!(
        read_lines(&log, request(EventTypeFilter::skip(["t"]))).await,
        ["0 \"third\"", "0=2", "1 \"second\"", "1=1", "0=2", "1=1"]
    );
    // Unknown partitions are refused before anything is written.
    let outside = log
        .publish_typed(&[typed(0, 9, Some("t")), typed(2, 9, Some("t"))])
        .await
        .unwrap_err();
    assert!(
        matches!(outside, zeroeventhub_sqlx::Error::UnknownPartition(_)),
        "{outside:?}"
    );
    assert_eq!(
        read_lines(&log, FeedRequest::new(2, vec![Cursor::last(0)])).await,
        ["0=2"]
    );
}

/// Where no hint cuts a response short (there the SQL log counts what it
/// sends, the memory log what it looks at), both logs answer every
/// filter alike.
async fn filtered_answers_match_the_memory_log<DB: Backend>(pool: Pool<DB>) {
    let sql = fixture(pool).await;
    let memory = MemoryLog::new(3);
    for TypedEvent { event, event_type } in fixture_events() {
        match event_type {
            Some(event_type) => memory.append_typed(event, &event_type),
            None => memory.append(event),
        }
        .unwrap();
    }
    let filters = [
        EventTypeFilter::All,
        EventTypeFilter::only(["a"]),
        EventTypeFilter::only(["A", "c"]),
        EventTypeFilter::only(["b"]),
        EventTypeFilter::only(["none"]),
        EventTypeFilter::skip(["a"]),
        EventTypeFilter::skip(["B", "c"]),
        EventTypeFilter::skip(["none"]),
        EventTypeFilter::skip(Vec::<String>::new()),
    ];
    let starts = ["_first", "_last", "0", "1", "2", "3", "4", "5"];
    for hint in [None, Some(6), Some(100)] {
        for filter in &filters {
            for start in starts {
                let request = FeedRequest {
                    page_size_hint: hint,
                    ..filtered(
                        filter.clone(),
                        vec![cursor(0, start), Cursor::first(1), Cursor::first(2)],
                    )
                };
                let expected = read_lines(&memory, request.clone()).await;
                let actual = read_lines(&sql, request.clone()).await;
                assert_eq!(actual, expected, "{request:?}");
            }
        }
    }
}

/// The events table as the previous version created it: no `event_type`.
fn previous_version_table<DB: Backend>(table: &str) -> String {
    let created_at = if <DB as sqlx::Database>::NAME == "PostgreSQL" {
        "TIMESTAMPTZ NOT NULL DEFAULT now()"
    } else {
        "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
    };
    format!(
        "CREATE TABLE {table} (
            partition_id BIGINT NOT NULL,
            position BIGINT NOT NULL,
            headers TEXT,
            data TEXT NOT NULL,
            created_at {created_at},
            PRIMARY KEY (partition_id, position)
        )"
    )
}

async fn execute<DB: Backend>(pool: &Pool<DB>, sql: String)
where
    for<'e> &'e Pool<DB>: Executor<'e, Database = DB>,
{
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(pool)
        .await
        .unwrap();
}

async fn a_table_of_the_previous_version_is_migrated_and_still_serves<DB: Backend>(pool: Pool<DB>)
where
    for<'e> &'e Pool<DB>: Executor<'e, Database = DB>,
{
    let table = "old_events";
    execute(&pool, previous_version_table::<DB>(table)).await;
    // Rows as the previous version appended them.
    execute(
        &pool,
        format!(
            "INSERT INTO {table} (partition_id, position, headers, data)
             VALUES (0, 1, '{{\"h\":\"v\"}}', '\"old 1\"'), (0, 2, NULL, '\"old 2\"')"
        ),
    )
    .await;
    let log = EventLog::new(pool.clone(), 1).with_table(table).unwrap();
    // Several processes, all starting the new version at once.
    support::all_at_once(4, || {
        let log = log.clone();
        async move { log.migrate().await }
    })
    .await;
    log.migrate().await.unwrap();

    let request = |filter| FeedRequest {
        event_types: filter,
        headers: HeaderSelection::All,
        ..FeedRequest::new(1, vec![Cursor::first(0)])
    };
    assert_eq!(
        read_lines(&log, request(EventTypeFilter::All)).await,
        [
            "0 \"old 1\" {\"h\": \"v\"}",
            "0=1",
            "0 \"old 2\"",
            "0=2",
            "0=2"
        ]
    );
    // The old events have no type; new ones go on from their positions.
    log.publish_typed(&[typed(0, 3, Some("new"))])
        .await
        .unwrap();
    assert_eq!(
        read_lines(&log, request(EventTypeFilter::only(["new"]))).await,
        ["0 3", "0=3", "0=3"]
    );
    assert_eq!(
        read_lines(&log, request(EventTypeFilter::skip(["new"]))).await,
        [
            "0 \"old 1\" {\"h\": \"v\"}",
            "0=1",
            "0 \"old 2\"",
            "0=2",
            "0=3"
        ]
    );
}

async fn ddl_makes_the_type_column<DB: Backend>(pool: Pool<DB>)
where
    for<'e> &'e Pool<DB>: Executor<'e, Database = DB>,
{
    let fresh = EventLog::new(pool.clone(), 1)
        .with_table("fresh_events")
        .unwrap();
    let ddl = fresh.ddl();
    assert!(
        ddl.iter().any(|sql| sql.contains("event_type TEXT")),
        "{ddl:?}"
    );
    let upgrades = ddl
        .iter()
        .any(|sql| sql.contains("ADD COLUMN IF NOT EXISTS"));
    let postgres = <DB as sqlx::Database>::NAME == "PostgreSQL";
    assert_eq!(upgrades, postgres, "{ddl:?}");
    for sql in ddl {
        execute(&pool, sql).await;
    }
    fresh
        .publish_typed(&[typed(0, 1, Some("t"))])
        .await
        .unwrap();
    let request = FeedRequest {
        event_types: EventTypeFilter::only(["t"]),
        ..FeedRequest::new(1, vec![Cursor::first(0)])
    };
    assert_eq!(read_lines(&fresh, request).await, ["0 1", "0=1", "0=1"]);

    // On PostgreSQL the same statements upgrade an older table, and run
    // twice.
    if postgres {
        execute(&pool, previous_version_table::<DB>("older_events")).await;
        let older = EventLog::new(pool.clone(), 1)
            .with_table("older_events")
            .unwrap();
        for _ in 0..2 {
            for sql in older.ddl() {
                execute(&pool, sql).await;
            }
        }
        older
            .publish_typed(&[typed(0, 1, Some("t"))])
            .await
            .unwrap();
        let request = FeedRequest {
            event_types: EventTypeFilter::only(["t"]),
            ..FeedRequest::new(1, vec![Cursor::first(0)])
        };
        assert_eq!(read_lines(&older, request).await, ["0 1", "0=1", "0=1"]);
    }
}
