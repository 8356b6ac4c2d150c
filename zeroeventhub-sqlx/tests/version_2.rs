//! Version 2 (FeedAPI) of the event log on a real socket, through
//! `zeroeventhub_axum::feed_router`: discovery, one-partition pages,
//! filters, the 409 and 400 refusals, and long-polling.

#[macro_use]
mod support;

use std::time::{Duration, Instant};

use sqlx::Pool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroeventhub::{
    Cursor, Event, EventTypeFilter, Page,
    client::{Client, ErrorKind, FeedVersion},
    server::Feed,
    v2::PartitionInfo,
};
use zeroeventhub_axum::TestFeed;
use zeroeventhub_sqlx::{Backend, EventLog, TypedEvent};

on_both_databases!(
    the_discovery_lists_every_partition_with_a_token_of_the_count,
    two_producers_of_one_log_give_the_same_token,
    pages_of_a_partition_resume_from_their_checkpoints,
    a_filter_keeps_or_skips_by_type_and_moves_the_checkpoint,
    a_stale_token_is_409_and_an_unlisted_partition_400,
    a_long_poll_is_woken_by_an_append_of_another_connection,
    an_event_filtered_away_does_not_end_a_long_poll,
);

/// Long enough that an answer before it proves the request was woken.
const LONG_WAIT: Duration = Duration::from_secs(30);

/// Partition 0 holds `{"n":0}` to `{"n":4}` of types a, B, a, c, a;
/// partition 1 none.
const TYPES: [&str; 5] = ["a", "B", "a", "c", "a"];

fn typed(partition_id: u32, n: u64, event_type: &str) -> TypedEvent {
    TypedEvent::new(
        Event::from_data(partition_id, &serde_json::json!({ "n": n })).unwrap(),
        event_type,
    )
}

/// The log of two partitions with the events above, served through
/// `feed_router` at `/feed` on a loopback port, and a client of it.
async fn served<DB: Backend>(pool: &Pool<DB>) -> (EventLog<DB>, TestFeed, Client) {
    let log = EventLog::new(pool.clone(), 2);
    log.migrate().await.unwrap();
    let events: Vec<TypedEvent> = (0..)
        .zip(TYPES)
        .map(|(n, event_type)| typed(0, n, event_type))
        .collect();
    log.publish_typed(&events).await.unwrap();
    let server = TestFeed::serve_router(zeroeventhub_axum::feed_router(
        "/feed",
        Feed::from(log.clone()),
    ));
    let client = Client::new(&server.url_of("/feed"), 2).unwrap();
    (log, server, client)
}

fn ns(page: &Page) -> Vec<u64> {
    page.events()
        .iter()
        .map(|event| {
            event.data_as::<serde_json::Value>().unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn at(page: &Page, partition_id: u32) -> &str {
    page.cursor(partition_id).expect("a checkpoint").as_str()
}

/// A plain HTTP/1.1 GET of `path_and_query`: the status and the body as
/// sent (chunked framing included).
async fn raw_get(server: &TestFeed, path_and_query: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let request = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn the_discovery_lists_every_partition_with_a_token_of_the_count<DB: Backend>(
    pool: Pool<DB>,
) {
    let (_log, server, client) = served(&pool).await;
    let FeedVersion::V2(discovery) = client.detect_version().await.unwrap() else {
        panic!("the event log speaks version 2");
    };
    assert_eq!(discovery.token, "p2");
    assert!(discovery.exactly_once);
    assert_eq!(
        discovery.partitions,
        [PartitionInfo::open(0), PartitionInfo::open(1)]
    );
    let (status, body) = raw_get(&server, "/feed").await;
    assert_eq!(status, 200);
    assert!(
        body.contains(r#"{"token":"p2","exactlyOnce":true,"partitions":[{"id":"0"},{"id":"1"}]}"#),
        "{body}"
    );
    // The same URL still serves version 1 to a request with `n`.
    let page = client.fetch(&[Cursor::first(0)]).page().await.unwrap();
    assert_eq!(ns(&page), [0, 1, 2, 3, 4]);
}

/// The token is made from the partition count alone: another log value
/// (another replica, or the same process after a restart) on the same
/// database answers with it, and takes the other's tokens.
async fn two_producers_of_one_log_give_the_same_token<DB: Backend>(pool: Pool<DB>) {
    let (_log, _server, client) = served(&pool).await;
    let replica = TestFeed::serve(EventLog::new(pool.clone(), 2));
    let replica_client = Client::new(replica.url(), 2).unwrap();
    let token = client.discover().await.unwrap().token;
    assert_eq!(replica_client.discover().await.unwrap().token, token);
    let page = replica_client
        .fetch_partition(&token, Cursor::first(0))
        .page()
        .await
        .unwrap();
    assert_eq!(ns(&page), [0, 1, 2, 3, 4]);
    // Another partition count is another token.
    let resized = TestFeed::serve(EventLog::new(pool.clone(), 3));
    let resized_client = Client::new(resized.url(), 3).unwrap();
    assert_ne!(resized_client.discover().await.unwrap().token, token);
}

async fn pages_of_a_partition_resume_from_their_checkpoints<DB: Backend>(pool: Pool<DB>) {
    let (_log, server, client) = served(&pool).await;
    let token = client.discover().await.unwrap().token;
    let page = |cursor: Cursor| {
        client
            .fetch_partition(&token, cursor)
            .page_size_hint(2)
            .page()
    };
    let first = page(Cursor::first(0)).await.unwrap();
    assert_eq!((ns(&first), at(&first, 0)), (vec![0, 1], "2"));
    let second = page(first.cursor(0).unwrap().clone()).await.unwrap();
    assert_eq!((ns(&second), at(&second, 0)), (vec![2, 3], "4"));
    let third = page(second.cursor(0).unwrap().clone()).await.unwrap();
    assert_eq!((ns(&third), at(&third, 0)), (vec![4], "5"));
    let caught_up = page(third.cursor(0).unwrap().clone()).await.unwrap();
    assert!(caught_up.is_empty());
    assert_eq!(at(&caught_up, 0), "5");
    // `_last` and an empty partition become concrete cursors at once.
    let last = page(Cursor::last(0)).await.unwrap();
    assert_eq!((ns(&last), at(&last, 0)), (vec![], "5"));
    let empty = page(Cursor::first(1)).await.unwrap();
    assert_eq!((ns(&empty), at(&empty, 1)), (vec![], "0"));
    // Version 2's lines carry neither partition nor headers.
    let (status, body) = raw_get(&server, "/feed/events?token=p2&partition=0&cursor=4").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("{\"data\":{\"n\":4}}\n{\"cursor\":\"5\"}\n{\"cursor\":\"5\"}\n"),
        "{body:?}"
    );
    assert!(!body.contains("partition"), "{body:?}");
}

async fn a_filter_keeps_or_skips_by_type_and_moves_the_checkpoint<DB: Backend>(pool: Pool<DB>) {
    let (_log, server, client) = served(&pool).await;
    let token = client.discover().await.unwrap().token;
    let fetch = |filter, cursor| {
        client
            .fetch_partition(&token, cursor)
            .event_types(filter)
            .page()
    };
    let only = fetch(EventTypeFilter::only(["A"]), Cursor::first(0))
        .await
        .unwrap();
    assert_eq!((ns(&only), at(&only, 0)), (vec![0, 2, 4], "5"));
    let skip = fetch(EventTypeFilter::skip(["a", "b"]), Cursor::first(0))
        .await
        .unwrap();
    assert_eq!((ns(&skip), at(&skip, 0)), (vec![3], "5"));
    let none = fetch(EventTypeFilter::only(["c"]), Cursor::new(0, "4").unwrap())
        .await
        .unwrap();
    assert_eq!((ns(&none), at(&none, 0)), (vec![], "5"));
    // With a hint, the events sent are counted, and the checkpoint stops
    // at the last one.
    let hinted = client
        .fetch_partition(&token, Cursor::first(0))
        .event_types(EventTypeFilter::skip(["a"]))
        .page_size_hint(1)
        .page()
        .await
        .unwrap();
    assert_eq!((ns(&hinted), at(&hinted, 0)), (vec![1], "2"));
    // A raw `;` reads as `%3B` does.
    let (status, body) = raw_get(
        &server,
        "/feed/events?token=p2&partition=0&cursor=_first&event-types=b;C",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body.matches("\"data\"").count(), 2, "{body:?}");
    // Version 1 takes the filters too.
    let v1 = client
        .fetch(&[Cursor::first(0)])
        .event_types(EventTypeFilter::only(["c"]))
        .page()
        .await
        .unwrap();
    assert_eq!((ns(&v1), at(&v1, 0)), (vec![3], "5"));
}

async fn a_stale_token_is_409_and_an_unlisted_partition_400<DB: Backend>(pool: Pool<DB>) {
    let (_log, server, client) = served(&pool).await;
    for partition in [0, 1] {
        let error = client
            .fetch_partition("p3", Cursor::first(partition))
            .page()
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::TokenChanged, "{error}");
        assert_eq!(error.status().map(|status| status.as_u16()), Some(409));
    }
    let error = client
        .fetch_partition("p2", Cursor::first(2))
        .page()
        .await
        .unwrap_err();
    assert_eq!(
        error.status().map(|status| status.as_u16()),
        Some(400),
        "{error}"
    );
    let (status, body) = raw_get(&server, "/feed/events?token=p2&partition=2&cursor=_first").await;
    assert_eq!(status, 400);
    assert!(body.contains("partition"), "{body:?}");
    // A cursor past the end is the client's fault too, naming it.
    let (status, body) = raw_get(&server, "/feed/events?token=p2&partition=0&cursor=6").await;
    assert_eq!(status, 400);
    assert!(body.contains("cursor"), "{body:?}");
}

async fn a_long_poll_is_woken_by_an_append_of_another_connection<DB: Backend>(pool: Pool<DB>) {
    let (_log, _server, client) = served(&pool).await;
    let token = client.discover().await.unwrap().token;
    // Another log value: its appends reach the served one only through
    // the database, as another process's would.
    let other = EventLog::new(pool.clone(), 2);
    let appending = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        other.publish_typed(&[typed(1, 7, "x")]).await.unwrap();
    });
    let asked = Instant::now();
    let page = client
        .fetch_partition(&token, Cursor::last(1))
        .wait(LONG_WAIT)
        .page()
        .await
        .unwrap();
    assert!(
        asked.elapsed() < LONG_WAIT / 2,
        "not woken: {:?}",
        asked.elapsed()
    );
    assert_eq!((ns(&page), at(&page, 1)), (vec![7], "1"));
    appending.await.unwrap();
}

async fn an_event_filtered_away_does_not_end_a_long_poll<DB: Backend>(pool: Pool<DB>) {
    let (log, _server, client) = served(&pool).await;
    let token = client.discover().await.unwrap().token;
    let appending = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        log.publish_typed(&[typed(1, 1, "unwanted")]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        log.publish_typed(&[typed(1, 2, "wanted")]).await.unwrap();
    });
    let asked = Instant::now();
    let page = client
        .fetch_partition(&token, Cursor::first(1))
        .event_types(EventTypeFilter::only(["wanted"]))
        .wait(LONG_WAIT)
        .page()
        .await
        .unwrap();
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(800),
        "ended by the unwanted event: {took:?}"
    );
    assert!(took < LONG_WAIT / 2, "not woken: {took:?}");
    assert_eq!((ns(&page), at(&page, 1)), (vec![2], "2"));
    appending.await.unwrap();
}
