//! Long-polling: `zeh follow` (with and without `--store`) waits in the
//! producer once caught up and prints an event appended by another
//! process at once; it falls back to `--poll-interval` against a producer
//! that answers at once; a signal ends a held wait at once. `zeh serve`
//! caps the wait with `--max-wait` and answers waiting requests when it
//! shuts down.

use std::{
    io::Write,
    net::TcpListener,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use crate::{
    db::TestDb,
    support::{
        Running, Serve, accept_request, checkpoint, chunked_response, raw_get, zeh, zeh_process,
    },
};

/// The held wait zeh asks for by default (`--wait 20`): ending well before
/// it proves the wait was cut short.
const DEFAULT_WAIT: Duration = Duration::from_secs(20);

const EVENT: &str = r#"{"partition":0,"data":{"n":1}}"#;

/// `zeh append STORE --partitions 1` of one event, as another process.
fn append_event(db: &TestDb) {
    let appended = zeh()
        .args(["append", &db.store(), "--partitions", "1"])
        .write_stdin(format!("{EVENT}\n"))
        .output()
        .unwrap();
    assert!(appended.status.success(), "{appended:?}");
}

/// Follows the log of `db` served by `zeh serve`, appends an event with
/// `zeh append` once `follow` waits, and checks it is printed although
/// `--poll-interval` is an hour; then a signal ends the held wait at once.
fn follow_prints_an_appended_event_at_once(db: &TestDb, extra: &[&str]) {
    let serve = Serve::start(&[&db.store(), "--partitions", "1"]);
    let mut args = vec![
        "follow",
        serve.url.as_str(),
        "--partitions",
        "1",
        "--poll-interval",
        "1h",
    ];
    args.extend_from_slice(extra);
    let mut follow = Running::spawn(zeh_process(&args));
    let stdout = follow.stdout_lines();
    // Caught up at once on an empty log: the next request is held.
    thread::sleep(Duration::from_millis(300));
    append_event(db);
    assert_eq!(stdout.next_line().as_deref(), Some(EVENT));

    thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    follow.signal("TERM");
    assert_eq!(follow.wait().code(), Some(0));
    assert!(
        signalled.elapsed() < DEFAULT_WAIT / 2,
        "the held wait was not ended"
    );
}

#[test]
fn follow_long_polls_a_sqlite_log() {
    follow_prints_an_appended_event_at_once(&TestDb::sqlite(), &[]);
}

#[test]
fn follow_long_polls_a_postgres_log() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    follow_prints_an_appended_event_at_once(&db, &[]);
}

#[test]
fn follow_with_a_store_long_polls() {
    let store = TestDb::sqlite();
    let store_arg = store.store();
    follow_prints_an_appended_event_at_once(&TestDb::sqlite(), &["--store", &store_arg]);
}

/// A producer that ignores `wait`: every request is answered at once with
/// a checkpoint. Counts the requests.
fn impatient_producer() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feed", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    thread::spawn(move || {
        loop {
            let (mut stream, _) = accept_request(&listener);
            counted.fetch_add(1, Ordering::SeqCst);
            let body = chunked_response(&[&checkpoint(0, "0")], true);
            let _ = stream.write_all(&body);
        }
    });
    (url, requests)
}

#[test]
fn follow_asks_once_per_poll_interval_a_producer_that_ignores_wait() {
    let (url, requests) = impatient_producer();
    let mut follow = Running::spawn(zeh_process(&[
        "follow",
        &url,
        "--partitions",
        "1",
        "--poll-interval",
        "200ms",
    ]));
    thread::sleep(Duration::from_millis(1200));
    follow.signal("TERM");
    assert_eq!(follow.wait().code(), Some(0));
    let asked = requests.load(Ordering::SeqCst);
    // About six; without the fallback, thousands.
    assert!((2..=12).contains(&asked), "asked {asked} times");
}

#[test]
fn serve_caps_the_wait_with_max_wait() {
    let db = TestDb::sqlite();
    let serve = Serve::start(&[&db.store(), "--partitions", "1", "--max-wait", "1"]);
    let started = Instant::now();
    let response = raw_get(&serve.url, "n=1&cursor0=_last&wait=30");
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1), "not held: {took:?}");
    assert!(took < Duration::from_secs(15), "not capped: {took:?}");
    assert!(response.contains(&checkpoint(0, "0")), "{response}");
}

#[test]
fn serve_answers_the_waiting_requests_when_it_shuts_down() {
    let db = TestDb::sqlite();
    let mut serve = Serve::start(&[&db.store(), "--partitions", "1"]);
    let url = serve.url.clone();
    let waiting = thread::spawn(move || raw_get(&url, "n=1&cursor0=_last&wait=60"));
    thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    serve.process.signal("TERM");
    let response = waiting.join().unwrap();
    assert!(
        signalled.elapsed() < Duration::from_secs(30),
        "held to the end"
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(&checkpoint(0, "0")), "{response}");
    assert_eq!(serve.process.wait().code(), Some(0));
}
