//! Long-polling (`wait`) between the client and the axum producer, on
//! real sockets: held until an event arrives, answered with checkpoints
//! when the wait ends, capped, dropped when the client leaves, answered
//! at once when the producer shuts down.

mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use futures_util::Stream;
use zeroeventhub::{
    Cursor, Event, FeedLine, FeedRequest, Page,
    client::Client,
    server::{DataReader, Feed, MemoryLog, ReadError},
};
use zeroeventhub_axum::{TestFeed, feed_router};

use support::feeds::FEED;

/// Long enough that an answer before it proves the request was not held
/// to the end; a broken test fails within it.
const LONG_WAIT: Duration = Duration::from_secs(30);

fn serve<R: DataReader>(feed: &Feed<R>) -> (TestFeed, Client) {
    let server = TestFeed::serve_router(feed_router(FEED, feed.clone()));
    let client = Client::new(&server.url_of(FEED), feed.partition_count()).unwrap();
    (server, client)
}

/// Asks for `cursors` with `wait`; returns the page and how long it took.
async fn long_poll(client: &Client, cursors: &[Cursor], wait: Duration) -> (Page, Duration) {
    let started = Instant::now();
    let page = client.fetch(cursors).wait(wait).page().await.unwrap();
    (page, started.elapsed())
}

fn event(partition_id: u32, n: u64) -> Event {
    Event::from_data(partition_id, &serde_json::json!({ "n": n })).unwrap()
}

/// Appends `event` to `log` after `delay`, from another task.
fn append_later(log: &MemoryLog, delay: Duration, event: Event) {
    let log = log.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        log.append(event).unwrap();
    });
}

#[tokio::test]
async fn a_waiting_request_is_answered_as_soon_as_an_event_is_appended() {
    let log = MemoryLog::new(2);
    let (_server, client) = serve(&Feed::from(log.clone()));
    append_later(&log, Duration::from_millis(200), event(1, 7));

    let (page, took) = long_poll(&client, &[Cursor::first(0), Cursor::first(1)], LONG_WAIT).await;
    assert!(took < LONG_WAIT / 2, "held to the end");
    assert_eq!(page.events().len(), 1);
    assert_eq!(page.events()[0].data_json(), r#"{"n":7}"#);
    assert_eq!(page.cursor(1).unwrap().as_str(), "1");
    assert_eq!(page.cursor(0).unwrap().as_str(), "0");
}

#[tokio::test]
async fn a_request_from_last_gets_the_event_appended_while_it_waits() {
    let log = MemoryLog::new(1);
    log.append(event(0, 1)).unwrap();
    let (_server, client) = serve(&Feed::from(log.clone()));
    append_later(&log, Duration::from_millis(200), event(0, 2));

    let (page, _) = long_poll(&client, &[Cursor::last(0)], LONG_WAIT).await;
    let events: Vec<_> = page.events().iter().map(Event::data_json).collect();
    assert_eq!(events, [r#"{"n":2}"#]);
    assert_eq!(page.cursor(0).unwrap().as_str(), "2");
}

#[tokio::test]
async fn a_request_whose_partitions_have_events_is_answered_at_once() {
    let log = MemoryLog::new(1);
    log.append(event(0, 1)).unwrap();
    let (_server, client) = serve(&Feed::from(log));
    let (page, took) = long_poll(&client, &[Cursor::first(0)], LONG_WAIT).await;
    assert!(took < LONG_WAIT / 2, "held though it had events");
    assert_eq!(page.len(), 1);
}

#[tokio::test]
async fn without_events_it_is_answered_with_checkpoints_when_the_wait_ends() {
    let log = MemoryLog::new(2);
    let (_server, client) = serve(&Feed::from(log.clone()));
    // An event of a partition the request did not ask for does not end it.
    append_later(&log, Duration::from_millis(100), event(1, 1));

    let (page, took) = long_poll(&client, &[Cursor::last(0)], Duration::from_secs(1)).await;
    assert!(took >= Duration::from_secs(1), "not held");
    assert!(page.is_empty());
    assert_eq!(page.cursor(0).unwrap().as_str(), "0");
}

#[tokio::test]
async fn the_producer_caps_the_wait() {
    let feed = Feed::from(MemoryLog::new(1)).with_max_wait(Duration::from_secs(1));
    let (_server, client) = serve(&feed);
    let (page, took) = long_poll(&client, &[Cursor::first(0)], LONG_WAIT).await;
    assert!(took >= Duration::from_secs(1), "not held: {took:?}");
    assert!(took < LONG_WAIT / 2, "not capped: {took:?}");
    assert_eq!(page.cursor(0).unwrap().as_str(), "0");
}

/// A log that sends no change notifications, as a reader of a user's own
/// store may not.
#[derive(Clone)]
struct Unnotified(MemoryLog);

impl DataReader for Unnotified {
    type Data = Box<serde_json::value::RawValue>;

    fn read(
        &self,
        request: FeedRequest,
    ) -> impl Stream<Item = Result<FeedLine, ReadError>> + Send + 'static {
        self.0.read(request)
    }
}

#[tokio::test]
async fn a_reader_without_notifications_is_read_again_when_the_wait_ends() {
    let log = MemoryLog::new(1);
    let (_server, client) = serve(&Feed::new(Unnotified(log.clone()), 1));
    append_later(&log, Duration::from_millis(100), event(0, 1));

    let (page, took) = long_poll(&client, &[Cursor::first(0)], Duration::from_secs(1)).await;
    assert!(took >= Duration::from_secs(1));
    assert_eq!(page.len(), 1, "the event appended during the wait");
}

/// Polls `condition` until it holds; fails the test after 10 s.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_client_that_hangs_up_while_waiting_is_dropped_at_once() {
    let log = MemoryLog::new(1);
    let feed = Feed::from(log);
    let server = TestFeed::serve_router(feed_router(FEED, feed.clone()));
    let addr = server.url().trim_start_matches("http://").to_owned();
    let addr = addr.split('/').next().unwrap().to_owned();

    let mut socket = TcpStream::connect(&addr).unwrap();
    let request = format!("GET {FEED}?n=1&cursor0=_first&wait=60 HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    socket.write_all(request.as_bytes()).unwrap();
    eventually("the request waits", || feed.waiting() == 1).await;
    drop(socket);
    eventually("the waiting request is dropped", || feed.waiting() == 0).await;
    assert_eq!(feed.reader().changes().unwrap().listeners(), 0);
}

#[tokio::test]
async fn shutting_down_answers_the_waiting_requests_with_their_checkpoints() {
    let log = MemoryLog::new(1);
    log.append(event(0, 1)).unwrap();
    let feed = Feed::from(log).with_max_wait(Duration::from_secs(300));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let feed = feed.clone();
        let app = feed_router(FEED, feed.clone());
        async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                    feed.shut_down();
                })
                .await
        }
    });

    // A raw request, so that no client's timeout is in play.
    let waiting = tokio::task::spawn_blocking(move || {
        let mut socket = TcpStream::connect(addr).unwrap();
        let request = format!(
            "GET {FEED}?n=1&cursor0=1&wait=300 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        );
        socket.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        socket.read_to_string(&mut response).unwrap();
        response
    });
    eventually("the request waits", || feed.waiting() == 1).await;
    stop.send(()).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("answered at shutdown, not after its wait")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(r#"{"partition":0,"cursor":"1"}"#),
        "{response}"
    );
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    // After the shutdown, requests are answered at once.
    assert!(feed.is_shut_down());
}
