//! The event log: appends in the caller's transaction, and the feed it
//! serves (the same answers as the core's `MemoryLog`).

#[macro_use]
mod support;

use serde_json::value::RawValue;
use sqlx::Pool;
use support::read_lines;
use zeroeventhub::{
    Cursor, Event, FeedRequest, HeaderSelection,
    server::{DataReader, MemoryLog},
};
use zeroeventhub_sqlx::{Backend, Error, EventLog, READ_CHUNK};

on_both_databases!(
    append_is_visible_only_after_commit,
    rollback_leaves_no_event,
    first_reads_every_event_with_a_checkpoint_after_each,
    last_is_the_current_end,
    a_position_resumes_after_it,
    page_size_hint_limits_the_whole_response,
    default_page_size_applies_without_a_hint,
    headers_are_sent_as_requested,
    every_requested_partition_ends_with_a_checkpoint,
    unknown_cursor_is_the_clients_fault,
    data_is_relayed_byte_for_byte,
    data_written_with_newlines_by_another_tool_is_served_on_one_line,
    a_page_longer_than_a_chunk_is_read_whole,
    append_to_unknown_partition_appends_nothing,
    migrate_is_idempotent,
    logs_in_different_tables_are_separate,
    answers_match_the_memory_log,
    the_time_header_carries_the_append_time,
);

/// Events of the fixture: three in partition 0 (with headers), one in 1,
/// none in 2.
fn fixture_events() -> Vec<Event> {
    let mut events: Vec<Event> = (0..3)
        .map(|n| {
            Event::from_data(0, &n)
                .unwrap()
                .with_header("n", n.to_string())
                .with_header("kind", "number")
        })
        .collect();
    events.push(Event::from_data(1, &10).unwrap());
    events
}

async fn fixture<DB: Backend>(pool: Pool<DB>) -> EventLog<DB> {
    let log = EventLog::new(pool, 3);
    log.migrate().await.unwrap();
    log.publish(&fixture_events()).await.unwrap();
    log
}

fn cursor(partition_id: u32, value: &str) -> Cursor {
    Cursor::new(partition_id, value).unwrap()
}

async fn append_is_visible_only_after_commit<DB: Backend>(pool: Pool<DB>) {
    let log = EventLog::new(pool.clone(), 1);
    log.migrate().await.unwrap();
    let everything = || FeedRequest::new(1, vec![Cursor::first(0)]);

    let mut transaction = pool.begin().await.unwrap();
    let cursor = log
        .append(&mut transaction, &Event::from_data(0, "a").unwrap())
        .await
        .unwrap();
    assert_eq!(cursor.as_str(), "1");
    assert_eq!(read_lines(&log, everything()).await, ["0=0"]);
    transaction.commit().await.unwrap();
    assert_eq!(
        read_lines(&log, everything()).await,
        ["0 \"a\"", "0=1", "0=1"]
    );
}

async fn rollback_leaves_no_event<DB: Backend>(pool: Pool<DB>) {
    let log = EventLog::new(pool.clone(), 1);
    log.migrate().await.unwrap();
    let mut transaction = pool.begin().await.unwrap();
    log.append(&mut transaction, &Event::from_data(0, "gone").unwrap())
        .await
        .unwrap();
    transaction.rollback().await.unwrap();
    // Dropping a transaction rolls it back too.
    {
        let mut transaction = pool.begin().await.unwrap();
        log.append(&mut transaction, &Event::from_data(0, "dropped").unwrap())
            .await
            .unwrap();
    }
    let cursors = log
        .publish(&[Event::from_data(0, "kept").unwrap()])
        .await
        .unwrap();
    assert_eq!(
        cursors,
        [cursor(0, "1")],
        "positions of rolled-back events are reused"
    );
    let request = FeedRequest::new(1, vec![Cursor::first(0)]);
    assert_eq!(
        read_lines(&log, request).await,
        ["0 \"kept\"", "0=1", "0=1"]
    );
}

async fn first_reads_every_event_with_a_checkpoint_after_each<DB: Backend>(pool: Pool<DB>) {
    let log = fixture(pool).await;
    let request = FeedRequest::new(3, vec![Cursor::first(1), Cursor::first(0)]);
    assert_eq!(
        read_lines(&log, request).await,
        [
            "0 0", "0=1", "0 1", "0=2", "0 2", "0=3", "1 10", "1=1", "0=3", "1=1"
        ]
    );
}

async fn last_is_the_current_end<DB: Backend>(pool: Pool<DB>) {
    let log = fixture(pool).await;
    let request = FeedRequest::new(3, vec![Cursor::last(0), Cursor::last(1), Cursor::last(2)]);
    assert_eq!(read_lines(&log, request).await, ["0=3", "1=1", "2=0"]);
    log.publish(&[Event::from_data(2, "new").unwrap()])
        .await
        .unwrap();
    let request = FeedRequest::new(3, vec![cursor(2, "0")]);
    assert_eq!(read_lines(&log, request).await, ["2 \"new\"", "2=1", "2=1"]);
}

async fn a_position_resumes_after_it<DB: Backend>(pool: Pool<DB>) {
    let log = fixture(pool).await;
    let request = FeedRequest::new(3, vec![cursor(0, "2"), cursor(1, "0")]);
    assert_eq!(
        read_lines(&log, request).await,
        ["0 2", "0=3", "1 10", "1=1", "0=3", "1=1"]
    );
    let request = FeedRequest::new(3, vec![cursor(0, "3")]);
    assert_eq!(read_lines(&log, request).await, ["0=3"]);
}

async fn page_size_hint_limits_the_whole_response<DB: Backend>(pool: Pool<DB>) {
    let log = fixture(pool).await;
    let request = FeedRequest {
        page_size_hint: Some(2),
        ..FeedRequest::new(3, vec![cursor(0, "1"), Cursor::first(1)])
    };
    assert_eq!(
        read_lines(&log, request).await,
        ["0 1", "0=2", "0 2", "0=3", "0=3", "1=0"]
    );
}

async fn default_page_size_applies_without_a_hint<DB: Backend>(pool: Pool<DB>) {
    let log = fixture(pool).await.with_default_page_size(1);
    for hint in [None, Some(0)] {
        let request = FeedRequest {
            page_size_hint: hint,
            ..FeedRequest::new(3, vec![Cursor::first(0), Cursor::first(1)])
        };
        assert_eq!(
            read_lines(&log, request).await,
            ["0 0", "0=1", "0=1", "1=0"]
        );
    }
}

async fn headers_are_sent_as_requested<DB: Backend>(pool: Pool<DB>) {
    let log = fixture(pool).await;
    let request = |headers| FeedRequest {
        headers,
        page_size_hint: Some(1),
        ..FeedRequest::new(3, vec![Cursor::first(0)])
    };
    let first_line = |lines: Vec<String>| lines[0].clone();
    assert_eq!(
        first_line(read_lines(&log, request(HeaderSelection::None)).await),
        "0 0"
    );
    assert_eq!(
        first_line(read_lines(&log, request(HeaderSelection::names(["n", "other"]))).await),
        "0 0 {\"n\": \"0\"}"
    );
    assert_eq!(
        first_line(read_lines(&log, request(HeaderSelection::names(["other"]))).await),
        "0 0"
    );
    assert_eq!(
        first_line(read_lines(&log, request(HeaderSelection::All)).await),
        "0 0 {\"kind\": \"number\", \"n\": \"0\"}"
    );
    // An event without headers has none, whatever is asked.
    let request = FeedRequest {
        headers: HeaderSelection::All,
        ..FeedRequest::new(3, vec![Cursor::first(1)])
    };
    assert_eq!(read_lines(&log, request).await, ["1 10", "1=1", "1=1"]);
}

async fn every_requested_partition_ends_with_a_checkpoint<DB: Backend>(pool: Pool<DB>) {
    let log = fixture(pool).await;
    let request = FeedRequest {
        page_size_hint: Some(1),
        ..FeedRequest::new(3, vec![Cursor::first(0), Cursor::first(1), Cursor::last(2)])
    };
    assert_eq!(
        read_lines(&log, request).await,
        ["0 0", "0=1", "0=1", "1=0", "2=0"]
    );
}

async fn unknown_cursor_is_the_clients_fault<DB: Backend>(pool: Pool<DB>) {
    let log = fixture(pool).await;
    for bad in ["4", "x", "+1", "-1", "1.0", " 1", "99999999999999999999"] {
        // The bad cursor comes second: nothing of the first is sent.
        let request = FeedRequest::new(3, vec![Cursor::first(0), cursor(1, bad)]);
        let lines = read_lines(&log, request).await;
        assert_eq!(lines.len(), 1, "{bad}: {lines:?}");
        assert!(
            lines[0].starts_with("error: bad request: parameter cursor1: "),
            "{bad}: {lines:?}"
        );
    }
    let mut lines = std::pin::pin!(log.read(FeedRequest::new(3, vec![cursor(2, "1")])));
    let error = futures_util::StreamExt::next(&mut lines)
        .await
        .unwrap()
        .unwrap_err();
    assert!(error.is_bad_request());
    assert_eq!(
        error.client_message(),
        Some("parameter cursor2: \"1\" is not _first, _last or a position in 0..=0")
    );
}

async fn data_is_relayed_byte_for_byte<DB: Backend>(pool: Pool<DB>) {
    let log = EventLog::new(pool, 1);
    log.migrate().await.unwrap();
    let texts = [
        "{\"n\":1.0e10, \"s\":\"\\u2028\"}",
        "{\"s\":\"\u{2028}\u{2029}\u{85} line\\nbreaks é 😀\",\"big\":123456789012345678901234567890}",
        "[1,\n 2 ,3]",
        "\"\\ud83d\\ude00\"",
        "-0.0",
        "null",
    ];
    let events: Vec<Event> = texts
        .iter()
        .map(|text| Event::new(0, RawValue::from_string((*text).to_owned()).unwrap()))
        .collect();
    log.publish(&events).await.unwrap();
    let lines = log.read(FeedRequest::new(1, vec![Cursor::first(0)]));
    let received: Vec<String> = futures_util::StreamExt::collect::<Vec<_>>(lines)
        .await
        .into_iter()
        .filter_map(|line| match line.unwrap() {
            zeroeventhub::FeedLine::Event(event) => Some(event.data_json().to_owned()),
            zeroeventhub::FeedLine::Checkpoint(_) => None,
        })
        .collect();
    assert_eq!(received, texts);
}

/// Regression: a row whose JSON holds raw newlines between its tokens
/// (written by another tool, pretty-printed) was served over two lines,
/// and every consumer of the feed failed on it, at every later fetch too.
async fn data_written_with_newlines_by_another_tool_is_served_on_one_line<DB: Backend>(
    pool: Pool<DB>,
) where
    for<'e> &'e Pool<DB>: sqlx::Executor<'e, Database = DB>,
{
    let log = EventLog::new(pool.clone(), 1);
    log.migrate().await.unwrap();
    let stored = [
        "{\"a\": [\n  1, 2]}",
        "{\r\n  \"s\": \"x\\ny\",\r\n\t\"n\": 1.50\r\n}",
    ];
    let placeholders: Vec<Event> = stored
        .iter()
        .map(|_| Event::from_data(0, &0).unwrap())
        .collect();
    log.publish(&placeholders).await.unwrap();
    for (position, text) in (1..).zip(stored) {
        // As another tool would write it: SQL text, no library in between.
        let update = format!(
            "UPDATE {} SET data = '{text}' WHERE position = {position}",
            log.table()
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(update))
            .execute(&pool)
            .await
            .unwrap();
    }
    let server = zeroeventhub_axum::TestFeed::serve(log);
    let url = server.url().to_owned();
    let client = zeroeventhub::client::Client::new(&url, 1).unwrap();
    let page = client
        .fetch(&[Cursor::first(0)])
        .page()
        .await
        .expect("the feed decodes");
    drop(server);
    let received: Vec<serde_json::Value> = page
        .events()
        .iter()
        .map(|event| event.data_as().unwrap())
        .collect();
    let expected: Vec<serde_json::Value> = stored
        .iter()
        .map(|text| serde_json::from_str(text).unwrap())
        .collect();
    assert_eq!(received, expected);
    assert_eq!(page.events()[0].data_json(), "{\"a\": [   1, 2]}");
}

async fn a_page_longer_than_a_chunk_is_read_whole<DB: Backend>(pool: Pool<DB>) {
    let log = EventLog::new(pool, 2);
    log.migrate().await.unwrap();
    let count = 2 * READ_CHUNK as usize + 7;
    let events: Vec<Event> = (0..count)
        .map(|n| Event::from_data(1, &n).unwrap())
        .collect();
    log.publish(&events).await.unwrap();

    let request = FeedRequest::new(2, vec![Cursor::first(0), Cursor::first(1)]);
    let lines = read_lines(&log, request).await;
    let mut expected = vec![];
    for n in 0..count {
        expected.push(format!("1 {n}"));
        expected.push(format!("1={}", n + 1));
    }
    expected.extend(["0=0".to_owned(), format!("1={count}")]);
    assert_eq!(lines, expected);

    // A hint of exactly one chunk ends exactly there.
    let request = FeedRequest {
        page_size_hint: Some(READ_CHUNK),
        ..FeedRequest::new(2, vec![Cursor::first(1)])
    };
    let lines = read_lines(&log, request).await;
    assert_eq!(lines.len(), 2 * READ_CHUNK as usize + 1);
    assert_eq!(lines.last().unwrap(), &format!("1={READ_CHUNK}"));
}

async fn append_to_unknown_partition_appends_nothing<DB: Backend>(pool: Pool<DB>) {
    let log = EventLog::new(pool.clone(), 2);
    log.migrate().await.unwrap();
    let events = [
        Event::from_data(0, "fine").unwrap(),
        Event::from_data(2, "outside").unwrap(),
    ];
    let error = log.publish(&events).await.unwrap_err();
    assert!(
        matches!(&error, Error::UnknownPartition(e) if e.partition_id == 2 && e.partition_count == 2),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "partition 2 is outside 0..2");
    let request = FeedRequest::new(2, vec![Cursor::first(0)]);
    assert_eq!(read_lines(&log, request).await, ["0=0"]);
}

async fn migrate_is_idempotent<DB: Backend>(pool: Pool<DB>) {
    let log = fixture(pool).await;
    // Several processes may migrate at once, at every start.
    support::all_at_once(4, || {
        let log = log.clone();
        async move { log.migrate().await }
    })
    .await;
    let request = FeedRequest::new(3, vec![Cursor::last(0)]);
    assert_eq!(read_lines(&log, request).await, ["0=3"]);
}

async fn logs_in_different_tables_are_separate<DB: Backend>(pool: Pool<DB>) {
    let orders = EventLog::new(pool.clone(), 1)
        .with_table("orders_events")
        .unwrap();
    let people = EventLog::new(pool.clone(), 1)
        .with_table("people_events")
        .unwrap();
    assert_eq!(orders.table(), "orders_events");
    assert!(matches!(
        EventLog::new(pool, 1).with_table("x; drop table y"),
        Err(Error::InvalidTableName(_))
    ));
    for log in [&orders, &people] {
        log.migrate().await.unwrap();
    }
    orders
        .publish(&[Event::from_data(0, "order").unwrap()])
        .await
        .unwrap();
    people
        .publish(&[Event::from_data(0, "person").unwrap()])
        .await
        .unwrap();
    people
        .publish(&[Event::from_data(0, "person 2").unwrap()])
        .await
        .unwrap();
    let request = || FeedRequest::new(1, vec![Cursor::first(0)]);
    assert_eq!(
        read_lines(&orders, request()).await,
        ["0 \"order\"", "0=1", "0=1"]
    );
    assert_eq!(
        read_lines(&people, request()).await,
        ["0 \"person\"", "0=1", "0 \"person 2\"", "0=2", "0=2"]
    );
}

/// The same events in a `MemoryLog` and an `EventLog` give the same answer
/// to every request: the SQL log has exactly the reference semantics.
async fn answers_match_the_memory_log<DB: Backend>(pool: Pool<DB>) {
    let sql = fixture(pool).await;
    let memory = MemoryLog::new(3);
    for event in fixture_events() {
        memory.append(event).unwrap();
    }
    let starts = ["_first", "_last", "0", "1", "2", "3", "4", "x"];
    let headers = [
        HeaderSelection::None,
        HeaderSelection::All,
        HeaderSelection::names(["n"]),
    ];
    for hint in [None, Some(0), Some(1), Some(2), Some(3), Some(10)] {
        for start0 in starts {
            for start1 in &starts[..4] {
                for selection in &headers {
                    let request = FeedRequest {
                        page_size_hint: hint,
                        headers: selection.clone(),
                        ..FeedRequest::new(
                            3,
                            vec![cursor(0, start0), cursor(1, start1), Cursor::first(2)],
                        )
                    };
                    let expected = read_lines(&memory, request.clone()).await;
                    let actual = read_lines(&sql, request.clone()).await;
                    assert_eq!(actual, expected, "{request:?}");
                }
            }
        }
    }
}

/// `with_time_header`: each event carries its append time, RFC 3339 in
/// UTC, to requests that ask for that header, on both databases.
async fn the_time_header_carries_the_append_time<DB: Backend>(pool: Pool<DB>) {
    let log = EventLog::new(pool, 1).with_time_header("appended-at");
    log.migrate().await.unwrap();
    let before = std::time::SystemTime::now() - std::time::Duration::from_secs(2);
    log.publish(&[Event::from_data(0, &1).unwrap().with_header("h", "v")])
        .await
        .unwrap();
    let after = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    let read = |headers| {
        let log = log.clone();
        async move {
            let request = FeedRequest {
                headers,
                ..FeedRequest::new(1, vec![Cursor::first(0)])
            };
            let lines: Vec<_> = futures_util::StreamExt::collect(log.read(request)).await;
            match lines.into_iter().next() {
                Some(Ok(zeroeventhub::FeedLine::Event(event))) => event.headers,
                other => panic!("expected an event, got {other:?}"),
            }
        }
    };
    let headers = read(HeaderSelection::All).await.expect("headers");
    assert_eq!(headers["h"], "v");
    let time = &headers["appended-at"];
    assert_eq!(time.len(), "2026-12-01T14:03:07.123Z".len(), "{time}");
    assert!(time.ends_with('Z'), "{time}");
    let parsed = humantime::parse_rfc3339(time).unwrap();
    assert!(before < parsed && parsed < after, "{time}");
    let only = read(HeaderSelection::names(["appended-at"])).await.unwrap();
    assert_eq!(only.keys().collect::<Vec<_>>(), ["appended-at"]);
    assert_eq!(read(HeaderSelection::names(["h"])).await.unwrap().len(), 1);
    assert_eq!(read(HeaderSelection::None).await, None);
}
