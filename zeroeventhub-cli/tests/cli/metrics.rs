//! `--metrics-addr`: `zeh serve` and `zeh follow` serve the library's
//! metrics in the Prometheus text format.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    thread,
    time::{Duration, Instant},
};

use zeroeventhub::server::MemoryLog;

use crate::{
    db::TestDb,
    support::{
        FIXTURE, PARTITIONS, Producer, Running, Serve, fixture_events, stderr_of, zeh, zeh_process,
    },
};

/// A free loopback address.
fn free_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// The text at `http://ADDR/metrics`, once the exporter answers.
fn scrape(addr: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut socket) = TcpStream::connect(addr) {
            let request =
                format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            socket.write_all(request.as_bytes()).unwrap();
            let mut response = String::new();
            if socket.read_to_string(&mut response).is_ok() && response.starts_with("HTTP/1.1 200")
            {
                return response;
            }
        }
        assert!(Instant::now() < deadline, "no metrics at {addr}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// The value of the sample `name{labels}` in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// Scrapes `addr` until `series` has `value`; fails after 20 s.
fn eventually_sample(addr: &str, series: &str, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(addr);
        if sample(&text, series) == Some(value) {
            return;
        }
        assert!(Instant::now() < deadline, "{series} never {value}: {text}");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_reports_requests_by_status_and_events_sent() {
    let metrics = free_addr();
    let serve = Serve::start(&[
        FIXTURE,
        "--partitions",
        PARTITIONS,
        "--metrics-addr",
        &metrics,
    ]);
    for _ in 0..2 {
        let fetched = zeh()
            .args(["fetch", &serve.url, "--partitions", PARTITIONS])
            .output()
            .unwrap();
        assert!(fetched.status.success(), "{}", stderr_of(&fetched));
    }
    let refused = zeh()
        .args(["fetch", &serve.url, "--partitions", "2"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));

    let text = scrape(&metrics);
    assert_eq!(
        sample(
            &text,
            "zeroeventhub_producer_requests_total{status=\"200\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "zeroeventhub_producer_requests_total{status=\"400\"}"
        ),
        Some(1.0),
        "{text}"
    );
    let events = 2 * fixture_events().len();
    assert_eq!(
        sample(&text, "zeroeventhub_producer_events_total"),
        Some(events as f64),
        "{text}"
    );
    assert!(
        text.contains("zeroeventhub_producer_response_duration_seconds"),
        "{text}"
    );
}

#[test]
fn follow_with_a_store_reports_the_events_and_pages_it_applied() {
    let serve = Serve::start(&[FIXTURE, "--partitions", PARTITIONS]);
    let store = TestDb::sqlite();
    let metrics = free_addr();
    let mut follow = Running::spawn(zeh_process(&[
        "follow",
        &serve.url,
        "--partitions",
        PARTITIONS,
        "--store",
        &store.store(),
        "--metrics-addr",
        &metrics,
    ]));
    let stdout = follow.stdout_lines();
    let all = fixture_events().len();
    assert_eq!(stdout.take(all).len(), all);

    let text = scrape(&metrics);
    let applied: f64 = (0..3)
        .filter_map(|p| {
            sample(
                &text,
                &format!("zeroeventhub_consumer_events_total{{partition=\"{p}\"}}"),
            )
        })
        .sum();
    assert_eq!(applied, all as f64, "{text}");
    assert!(
        sample(&text, "zeroeventhub_consumer_pages_total{partition=\"0\"}")
            .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    // Caught up: no event behind the producer's head (set once a request
    // finds nothing new).
    for partition in 0..3 {
        let series = format!("zeroeventhub_consumer_lag_events{{partition=\"{partition}\"}}");
        eventually_sample(&metrics, &series, 0.0);
    }
    follow.signal("TERM");
    assert_eq!(follow.wait().code(), Some(0));
}

#[test]
fn with_a_time_header_follow_reports_how_many_seconds_behind_it_is() {
    let producer = TestDb::sqlite();
    let appended = zeh()
        .args(["append", &producer.store(), "--partitions", "1"])
        .write_stdin("{\"partition\":0,\"data\":1}\n")
        .output()
        .unwrap();
    assert!(appended.status.success(), "{}", stderr_of(&appended));
    let serve = Serve::start(&[
        &producer.store(),
        "--partitions",
        "1",
        "--time-header",
        "appended-at",
    ]);
    let store = TestDb::sqlite();
    let metrics = free_addr();
    let mut follow = Running::spawn(zeh_process(&[
        "follow",
        &serve.url,
        "--partitions",
        "1",
        "--store",
        &store.store(),
        "--time-header",
        "appended-at",
        "--metrics-addr",
        &metrics,
    ]));
    let stdout = follow.stdout_lines();
    let line = stdout.next_line().expect("the event");
    assert!(line.contains("\"appended-at\":\""), "{line}");
    // Once caught up, it is 0 seconds behind.
    eventually_sample(
        &metrics,
        "zeroeventhub_consumer_seconds_behind{partition=\"0\"}",
        0.0,
    );
    follow.signal("TERM");
    assert_eq!(follow.wait().code(), Some(0));
}

/// On version 2 the runtime asks for a partition's head with the
/// discovery's token: a consumer far behind reports how far.
#[test]
fn follow_on_version_2_reports_how_many_events_behind_it_is() {
    const EVENTS: u32 = 50_000;
    let producer = Producer::start(MemoryLog::new(1));
    for n in 0..EVENTS {
        producer.append(0, n);
    }
    let store = TestDb::sqlite();
    let metrics = free_addr();
    // One event per page: catching up takes many commits, the first
    // page's probe sees nearly all of the feed ahead.
    let mut follow = Running::spawn(zeh_process(&[
        "follow",
        &producer.url,
        "--store",
        &store.store(),
        "--page-size-hint",
        "1",
        "--metrics-addr",
        &metrics,
    ]));
    let stdout = follow.stdout_lines();
    assert_eq!(stdout.take(1).len(), 1);
    let series = "zeroeventhub_consumer_lag_events{partition=\"0\"}";
    let deadline = Instant::now() + Duration::from_secs(20);
    let lag = loop {
        let text = scrape(&metrics);
        if let Some(lag) = sample(&text, series) {
            break lag;
        }
        assert!(Instant::now() < deadline, "no {series}: {text}");
        thread::sleep(Duration::from_millis(50));
    };
    assert!(
        lag > 0.0 && lag < f64::from(EVENTS),
        "{lag} events behind, of {EVENTS}"
    );
    follow.signal("TERM");
    assert_eq!(follow.wait().code(), Some(0));
}
