//! Interoperability with the reference Python implementation (`zeroeventhub`
//! on PyPI): our client against its producer, its client against ours, and
//! its client against both producers side by side.
//!
//! The Python side lives in `tests/python/` (`producer.py` runs the
//! reference FastAPI handler under uvicorn, `consume.py` drives the
//! reference client). Python is found through `ZEH_PYTHON` (which must then
//! work: CI sets it), or else `target/py-venv/bin/python`; without either,
//! every test here says it is skipped and passes. `ZEH_SKIP_PYTHON=1`
//! forces the skip. `bash .ci/run` (or `python3 -m venv target/py-venv &&
//! target/py-venv/bin/pip install -r tests/python/requirements.txt`)
//! prepares the interpreter.
//!
//! Expected responses come from an oracle written here from the feed
//! semantics both test producers document (`producer.py`, `MemoryLog`):
//! per partition, in ascending partition order, each event after the cursor
//! followed by its checkpoint `"k"`, at most `pagesizehint` (default 1000)
//! events in the whole response, then one checkpoint per requested
//! partition.
//!
//! Event data is compared as parsed JSON (the reference producer re-encodes
//! it: `1.0e10` comes back as `10000000000.0`, non-ASCII as `\uXXXX`), with
//! integers compared exactly and never against floats, so that
//! 9007199254740993 turning into 9007199254740992 would be caught.

use futures_util::TryStreamExt;
use serde_json::Value;
use zeroeventhub::{Cursor, FeedLine, HeaderSelection, client::Client};

use interop::{
    ConsumeCase, Fixture, PythonProducer, RustProducer, assert_json_lines_eq, event_value,
    line_value, python_or_skip, run_consume, within,
};

/// The big integer of the fixture, which no float can hold.
const BIG_INTEGER: &str = "9007199254740993";

// ---------------------------------------------------------------------------
// Our client reading the reference (Python) producer.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn rust_client_fetches_every_event_of_the_python_producer_in_one_page() {
    let Some(python) =
        python_or_skip("rust_client_fetches_every_event_of_the_python_producer_in_one_page")
    else {
        return;
    };
    let fixture = Fixture::load();
    let producer = PythonProducer::start(&python).await;
    let client = Client::new(producer.url(), Fixture::PARTITIONS).unwrap();

    let cursors = all_first();
    let page = within("fetch_page", client.fetch(&cursors).page())
        .await
        .expect("fetch_page from the Python producer");

    assert_eq!(page.len(), fixture.events.len(), "every event in one page");
    assert_eq!(page.uncovered_events().count(), 0);
    let expected = events_only(fixture.expected_response(&ConsumeCase::default()));
    let received: Vec<Value> = page.events().iter().map(event_value).collect();
    assert_json_lines_eq(&received, &expected, "events of one page from _first");

    // Each partition ends at the count of its events: "4", "4", "4".
    let cursors: Vec<String> = page.cursors().map(Cursor::to_string).collect();
    let expected_cursors: Vec<String> = (0..Fixture::PARTITIONS)
        .map(|p| format!("{p}={}", fixture.count(p)))
        .collect();
    assert_eq!(cursors, expected_cursors);

    // The integer beyond 2^53 arrives as the exact same text.
    assert!(
        page.events()
            .iter()
            .any(|event| event.data_json() == BIG_INTEGER),
        "no event with data {BIG_INTEGER} exactly: {:?}",
        page.events()
            .iter()
            .map(|e| e.data_json())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn rust_client_follows_the_python_producer_page_by_page() {
    let Some(python) = python_or_skip("rust_client_follows_the_python_producer_page_by_page")
    else {
        return;
    };
    let fixture = Fixture::load();
    let producer = PythonProducer::start(&python).await;
    let client = Client::new(producer.url(), Fixture::PARTITIONS).unwrap();
    let mut cursors = all_first();
    let mut received = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 100, "still receiving events after 100 pages");
        let page = within(
            "fetch_page",
            client.fetch(&cursors).page_size_hint(2).page(),
        )
        .await
        .expect("fetch_page from the Python producer");
        assert_eq!(page.uncovered_events().count(), 0);
        cursors = page.advance_cursors(&cursors);
        if page.is_empty() {
            break;
        }
        received.extend(page.events().iter().map(event_value));
    }

    // Every event exactly once, in order within its partition.
    for partition in 0..Fixture::PARTITIONS {
        let of_partition = |lines: &[Value]| -> Vec<Value> {
            lines
                .iter()
                .filter(|line| line["partition"] == partition)
                .cloned()
                .collect()
        };
        let expected = of_partition(&fixture.event_lines(&HeaderSelection::None));
        assert_json_lines_eq(
            &of_partition(&received),
            &expected,
            &format!("events of partition {partition}, following with pagesizehint=2"),
        );
    }
    // And exactly the sequence the documented semantics give.
    let case = ConsumeCase {
        page_size_hint: Some(2),
        follow: true,
        ..ConsumeCase::default()
    };
    assert_json_lines_eq(&received, &fixture.expected_follow(&case), "all events");
    let end: Vec<String> = cursors.iter().map(Cursor::to_string).collect();
    let expected_end: Vec<String> = (0..Fixture::PARTITIONS)
        .map(|p| format!("{p}={}", fixture.count(p)))
        .collect();
    assert_eq!(end, expected_end, "cursors after the last page");
}

#[tokio::test]
async fn rust_client_selects_headers_from_the_python_producer() {
    let Some(python) = python_or_skip("rust_client_selects_headers_from_the_python_producer")
    else {
        return;
    };
    let fixture = Fixture::load();
    let producer = PythonProducer::start(&python).await;
    let client = Client::new(producer.url(), Fixture::PARTITIONS).unwrap();

    let selections = [
        HeaderSelection::None,
        HeaderSelection::names(["a"]),
        HeaderSelection::names(["b", "c"]),
        HeaderSelection::names(["nope"]),
        HeaderSelection::All,
    ];
    for headers in selections {
        let fetch = client.fetch(&all_first()).headers(headers.clone());
        let page = within("fetch_page", fetch.page())
            .await
            .expect("fetch_page from the Python producer");
        // Headers exactly as selected, and absent (not empty) when nothing
        // is selected.
        let received: Vec<_> = page
            .events()
            .iter()
            .map(|event| (event.partition_id, event.headers.clone()))
            .collect();
        let expected: Vec<_> = fixture
            .in_response_order()
            .map(|event| (event.partition, interop::select(&event.headers, &headers)))
            .collect();
        assert_eq!(received, expected, "headers for {headers:?}");
        let expected_lines = fixture.event_lines(&headers);
        let received_lines: Vec<Value> = page.events().iter().map(event_value).collect();
        assert_json_lines_eq(
            &received_lines,
            &expected_lines,
            &format!("events with headers {headers:?}"),
        );
    }
}

#[tokio::test]
async fn rust_client_gets_400_for_a_bad_cursor_from_the_python_producer() {
    let Some(python) =
        python_or_skip("rust_client_gets_400_for_a_bad_cursor_from_the_python_producer")
    else {
        return;
    };
    let producer = PythonProducer::start(&python).await;
    let client = Client::new(producer.url(), Fixture::PARTITIONS).unwrap();

    for bad in ["99", "x", "-1", "5"] {
        let cursors = [Cursor::first(0), Cursor::new(1, bad).unwrap()];
        let result = within("fetch_page", client.fetch(&cursors).page()).await;
        let error = result.expect_err("a bad cursor is refused");
        let (Some(status), Some(body)) = (error.status(), error.body()) else {
            panic!("cursor {bad:?}: expected a 400, got {error:?}");
        };
        assert_eq!(status.as_u16(), 400, "cursor {bad:?}: {body}");
        assert!(body.contains("cursor1"), "cursor {bad:?}: body {body:?}");
    }
}

#[tokio::test]
async fn rust_client_stream_matches_the_python_client_line_by_line() {
    let Some(python) = python_or_skip("rust_client_stream_matches_the_python_client_line_by_line")
    else {
        return;
    };
    let fixture = Fixture::load();
    let producer = PythonProducer::start(&python).await;
    let client = Client::new(producer.url(), Fixture::PARTITIONS).unwrap();

    for case in ConsumeCase::single_requests() {
        let stream = within("fetch_events", case.fetch(&client).send())
            .await
            .unwrap_or_else(|error| panic!("{case}: fetch_events: {error}"));
        let lines: Vec<FeedLine> = within("reading the response", stream.try_collect())
            .await
            .unwrap_or_else(|error| panic!("{case}: reading the response: {error}"));
        let ours: Vec<Value> = lines.iter().map(line_value).collect();

        let theirs = run_consume(&python, producer.url(), &case)
            .await
            .expect_success();
        let context = format!("{case}: our client vs consume.py");
        assert_json_lines_eq(&ours, &theirs, &context);
        assert_json_lines_eq(&ours, &fixture.expected_response(&case), &case.to_string());
    }
}

// ---------------------------------------------------------------------------
// The reference (Python) client reading our producer.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn python_client_reads_the_rust_producer() {
    let Some(python) = python_or_skip("python_client_reads_the_rust_producer") else {
        return;
    };
    let fixture = Fixture::load();
    let producer = RustProducer::start(&fixture).await;

    for case in ConsumeCase::all() {
        let output = run_consume(&python, producer.url(), &case).await;
        let received = output.expect_success();
        assert_json_lines_eq(&received, &case.expected(&fixture), &case.to_string());
    }

    // Our producer copies data byte for byte; the reference client reads
    // the big integer as a Python int and prints it back exactly.
    let output = run_consume(&python, producer.url(), &ConsumeCase::default()).await;
    assert!(
        output.stdout.contains(&format!("\"data\":{BIG_INTEGER}}}")),
        "{BIG_INTEGER} not printed exactly:\n{}",
        output.stdout
    );
}

#[tokio::test]
async fn python_client_sees_the_same_lines_from_both_producers() {
    let Some(python) = python_or_skip("python_client_sees_the_same_lines_from_both_producers")
    else {
        return;
    };
    let fixture = Fixture::load();
    let ours = RustProducer::start(&fixture).await;
    let theirs = PythonProducer::start(&python).await;

    for case in ConsumeCase::all() {
        let from_ours = run_consume(&python, ours.url(), &case)
            .await
            .expect_success();
        let from_theirs = run_consume(&python, theirs.url(), &case)
            .await
            .expect_success();
        assert!(!from_theirs.is_empty(), "{case}: no output at all");
        let context = format!("{case}: Rust producer vs Python producer");
        assert_json_lines_eq(&from_ours, &from_theirs, &context);
    }
}

#[tokio::test]
async fn python_client_fails_on_a_bad_cursor_like_with_the_python_producer() {
    let Some(python) =
        python_or_skip("python_client_fails_on_a_bad_cursor_like_with_the_python_producer")
    else {
        return;
    };
    let fixture = Fixture::load();
    let ours = RustProducer::start(&fixture).await;
    let theirs = PythonProducer::start(&python).await;

    for bad in ["99", "x", "-1"] {
        let case = ConsumeCase {
            cursors: vec![(0, "_first".to_owned()), (2, bad.to_owned())],
            ..ConsumeCase::default()
        };
        for (producer, url) in [("Rust", ours.url()), ("Python", theirs.url())] {
            let output = run_consume(&python, url, &case).await;
            assert_eq!(
                output.code,
                Some(1),
                "{case} against the {producer} producer: exit status; stdout:\n{}\nstderr:\n{}",
                output.stdout,
                output.stderr
            );
            assert!(
                output.stderr.contains("HTTP 400") && output.stderr.contains("cursor2"),
                "{case} against the {producer} producer: stderr {:?}",
                output.stderr
            );
            assert!(
                output.stdout.trim().is_empty(),
                "{case} against the {producer} producer: printed {:?}",
                output.stdout
            );
        }
    }
}

/// The harness itself, without Python: the comparison must tell an
/// integer from the float nearest to it.
#[test]
fn json_comparison_is_exact_for_integers() {
    let parse = |text: &str| -> Value { serde_json::from_str(text).unwrap() };
    assert!(interop::json_eq(&parse(BIG_INTEGER), &parse(BIG_INTEGER)));
    assert!(!interop::json_eq(
        &parse(BIG_INTEGER),
        &parse("9007199254740992.0")
    ));
    assert!(!interop::json_eq(
        &parse(BIG_INTEGER),
        &parse("9007199254740992")
    ));
    assert!(!interop::json_eq(&parse("1"), &parse("1.0")));
    assert!(interop::json_eq(&parse("1.0e10"), &parse("10000000000.0")));
    assert!(interop::json_eq(&parse("-2.5E-3"), &parse("-0.0025")));
    assert!(interop::json_eq(
        &parse(r#"{"a":[1,{"b":"\u00e9"}]}"#),
        &parse(r#"{"a":[1,{"b":"é"}]}"#)
    ));
    assert!(!interop::json_eq(
        &parse(r#"{"a":1}"#),
        &parse(r#"{"a":1,"b":2}"#)
    ));
    assert!(!interop::json_eq(&parse("[1,2]"), &parse("[2,1]")));
}

// ---------------------------------------------------------------------------

fn all_first() -> Vec<Cursor> {
    (0..Fixture::PARTITIONS).map(Cursor::first).collect()
}

fn events_only(lines: Vec<Value>) -> Vec<Value> {
    lines
        .into_iter()
        .filter(|line| line.get("cursor").is_none())
        .collect()
}

/// The test harness: finding Python, running the producers and
/// `consume.py`, the fixture and the oracle of the expected responses.
mod interop {
    use std::{
        collections::BTreeMap,
        ffi::OsString,
        fmt,
        future::Future,
        path::{Path, PathBuf},
        process::{ExitStatus, Stdio},
        sync::OnceLock,
        time::Duration,
    };

    use serde_json::{Map, Value, json};
    use tokio::{
        io::{AsyncBufReadExt, BufReader},
        process::{Child, ChildStdout, Command},
        task::JoinHandle,
    };
    use zeroeventhub::{
        Cursor, Event, FeedLine, HeaderSelection,
        client::{Client, FetchBuilder},
        ndjson::Decoder,
        server::MemoryLog,
    };

    /// Only there so that a broken run does not hang forever.
    const TIMEOUT: Duration = Duration::from_secs(60);

    const SKIPPED: &str = "skipped: Python reference implementation not available \
                           (set ZEH_PYTHON or run .ci/run)";

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    fn script(name: &str) -> PathBuf {
        root().join("tests/python").join(name)
    }

    fn fixture_path() -> PathBuf {
        root().join("tests/fixtures/interop_events.ndjson")
    }

    /// Awaits `future`, failing the test if it takes longer than [`TIMEOUT`].
    pub(super) async fn within<F: Future>(what: &str, future: F) -> F::Output {
        tokio::time::timeout(TIMEOUT, future)
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer within {TIMEOUT:?}"))
    }

    // -- Finding Python ------------------------------------------------------

    /// The Python interpreter that has the reference implementation, or
    /// `None` (after saying that `test` is skipped) when there is none.
    ///
    /// # Panics
    ///
    /// When `ZEH_PYTHON` is set but cannot run the reference implementation.
    pub(super) fn python_or_skip(test: &str) -> Option<PathBuf> {
        static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
        let python = PYTHON.get_or_init(find_python).clone();
        if python.is_none() {
            eprintln!("{test}: {SKIPPED}");
        }
        python
    }

    fn find_python() -> Option<PathBuf> {
        if std::env::var_os("ZEH_SKIP_PYTHON").is_some_and(|value| value == "1") {
            eprintln!("ZEH_SKIP_PYTHON=1: not looking for Python");
            return None;
        }
        if let Some(python) = std::env::var_os("ZEH_PYTHON").filter(|p| !p.is_empty()) {
            let python = PathBuf::from(python);
            if let Err(why) = check_python(&python) {
                panic!(
                    "ZEH_PYTHON={} is set but cannot run the Python reference implementation: \
                     {why} (unset ZEH_PYTHON to skip these tests, or install \
                     tests/python/requirements.txt into that interpreter)",
                    python.display()
                );
            }
            return Some(python);
        }
        let venv = root().join("target/py-venv/bin/python");
        check_python(&venv).ok().map(|()| venv)
    }

    fn check_python(python: &Path) -> Result<(), String> {
        let output = std::process::Command::new(python)
            .args(["-c", "import zeroeventhub, uvicorn, fastapi, httpx"])
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("cannot run it: {error}"))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("").trim();
        Err(format!(
            "`import zeroeventhub, uvicorn, fastapi, httpx` failed ({}): {last}",
            output.status
        ))
    }

    // -- The producers -------------------------------------------------------

    /// `producer.py` serving the fixture; killed when dropped.
    #[derive(Debug)]
    pub(super) struct PythonProducer {
        child: Child,
        url: String,
        // Kept open so that the producer never writes into a closed pipe.
        _stdout: BufReader<ChildStdout>,
    }

    impl PythonProducer {
        pub(super) async fn start(python: &Path) -> PythonProducer {
            let mut child = Command::new(python)
                .arg(script("producer.py"))
                .arg("--events")
                .arg(fixture_path())
                .args([
                    "--partitions",
                    &Fixture::PARTITIONS.to_string(),
                    "--port",
                    "0",
                ])
                .current_dir(root())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|error| panic!("cannot start producer.py: {error}"));
            let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
            let mut line = String::new();
            let read = within("producer.py starting", stdout.read_line(&mut line)).await;
            let url = match read {
                Ok(_) => line.trim().strip_prefix("listening on ").map(str::to_owned),
                Err(error) => panic!("reading producer.py's stdout: {error}"),
            };
            let Some(url) = url else {
                let status = within("producer.py exiting", child.wait()).await;
                panic!("producer.py did not say where it listens: printed {line:?}, {status:?}");
            };
            PythonProducer {
                child,
                url,
                _stdout: stdout,
            }
        }

        pub(super) fn url(&self) -> &str {
            &self.url
        }
    }

    impl Drop for PythonProducer {
        fn drop(&mut self) {
            let _ = self.child.start_kill();
        }
    }

    /// Our producer: a `MemoryLog` loaded from the fixture, served by
    /// `zeroeventhub_axum::feed_router` on a free port; stopped when dropped.
    #[derive(Debug)]
    pub(super) struct RustProducer {
        url: String,
        server: JoinHandle<()>,
    }

    impl RustProducer {
        pub(super) async fn start(fixture: &Fixture) -> RustProducer {
            let log = MemoryLog::new(Fixture::PARTITIONS);
            for event in fixture.decoded_events() {
                log.append(event).expect("event of the fixture appended");
            }
            let app: axum::Router = zeroeventhub_axum::feed_router("/feed/v1", log);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            let address = listener.local_addr().expect("local address");
            let server = tokio::spawn(async move {
                axum::serve(listener, app).await.expect("axum::serve");
            });
            RustProducer {
                url: format!("http://{address}/feed/v1"),
                server,
            }
        }

        pub(super) fn url(&self) -> &str {
            &self.url
        }
    }

    impl Drop for RustProducer {
        fn drop(&mut self) {
            self.server.abort();
        }
    }

    // -- consume.py ----------------------------------------------------------

    /// One invocation of `consume.py`, and the same request for our client.
    #[derive(Debug, Clone, Default)]
    pub(super) struct ConsumeCase {
        /// `--cursor P=C`; empty: every partition from `_first`.
        pub(super) cursors: Vec<(u32, String)>,
        /// `--page-size-hint K`.
        pub(super) page_size_hint: Option<u32>,
        /// `--headers H`, as given on the command line.
        pub(super) headers: Option<&'static str>,
        /// `--follow`.
        pub(super) follow: bool,
    }

    impl ConsumeCase {
        /// Cases of a single request.
        pub(super) fn single_requests() -> Vec<ConsumeCase> {
            let cursors = |list: &[(u32, &str)]| -> Vec<(u32, String)> {
                list.iter().map(|&(p, c)| (p, c.to_owned())).collect()
            };
            vec![
                ConsumeCase::default(),
                ConsumeCase {
                    headers: Some("_all"),
                    ..ConsumeCase::default()
                },
                ConsumeCase {
                    headers: Some("a"),
                    ..ConsumeCase::default()
                },
                ConsumeCase {
                    headers: Some("b,c"),
                    page_size_hint: Some(5),
                    ..ConsumeCase::default()
                },
                ConsumeCase {
                    cursors: cursors(&[(1, "2"), (2, "_last")]),
                    headers: Some("a"),
                    ..ConsumeCase::default()
                },
                ConsumeCase {
                    cursors: cursors(&[(0, "1"), (2, "0")]),
                    page_size_hint: Some(3),
                    headers: Some("_all"),
                    ..ConsumeCase::default()
                },
                ConsumeCase {
                    cursors: cursors(&[(0, "_last"), (1, "4"), (2, "004")]),
                    ..ConsumeCase::default()
                },
            ]
        }

        /// Every case: single requests and `--follow`.
        pub(super) fn all() -> Vec<ConsumeCase> {
            let mut cases = ConsumeCase::single_requests();
            cases.extend([
                ConsumeCase {
                    page_size_hint: Some(2),
                    follow: true,
                    ..ConsumeCase::default()
                },
                ConsumeCase {
                    page_size_hint: Some(3),
                    headers: Some("_all"),
                    follow: true,
                    ..ConsumeCase::default()
                },
                ConsumeCase {
                    cursors: vec![(1, "1".to_owned()), (2, "_first".to_owned())],
                    page_size_hint: Some(1),
                    headers: Some("a"),
                    follow: true,
                },
            ]);
            cases
        }

        fn args(&self) -> Vec<String> {
            let mut args = Vec::new();
            for (partition, cursor) in &self.cursors {
                args.push("--cursor".to_owned());
                args.push(format!("{partition}={cursor}"));
            }
            if let Some(hint) = self.page_size_hint {
                args.push("--page-size-hint".to_owned());
                args.push(hint.to_string());
            }
            if let Some(headers) = self.headers {
                args.push("--headers".to_owned());
                args.push(headers.to_owned());
            }
            if self.follow {
                args.push("--follow".to_owned());
            }
            args
        }

        /// The start cursors, as strings.
        fn start(&self) -> Vec<(u32, String)> {
            if self.cursors.is_empty() {
                (0..Fixture::PARTITIONS)
                    .map(|p| (p, "_first".to_owned()))
                    .collect()
            } else {
                self.cursors.clone()
            }
        }

        /// The start cursors for our client.
        pub(super) fn cursors(&self) -> Vec<Cursor> {
            self.start()
                .into_iter()
                .map(|(p, c)| Cursor::new(p, c).expect("valid cursor"))
                .collect()
        }

        /// The header selection, parsed as `consume.py` does.
        pub(super) fn header_selection(&self) -> HeaderSelection {
            match self.headers {
                None => HeaderSelection::None,
                Some("_all") => HeaderSelection::All,
                Some(names) => {
                    HeaderSelection::names(names.split(',').filter(|name| !name.is_empty()))
                }
            }
        }

        /// The request of this case, on `client`.
        pub(super) fn fetch<'c>(&self, client: &'c Client) -> FetchBuilder<'c> {
            let fetch = client
                .fetch(&self.cursors())
                .headers(self.header_selection());
            match self.page_size_hint {
                Some(hint) => fetch.page_size_hint(hint),
                None => fetch,
            }
        }

        /// What `consume.py` must print for this case.
        pub(super) fn expected(&self, fixture: &Fixture) -> Vec<Value> {
            if self.follow {
                fixture.expected_follow(self)
            } else {
                fixture.expected_response(self)
            }
        }
    }

    impl fmt::Display for ConsumeCase {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "consume.py URL --partitions {}", Fixture::PARTITIONS)?;
            for arg in self.args() {
                write!(f, " {arg}")?;
            }
            Ok(())
        }
    }

    /// What `consume.py` did.
    #[derive(Debug)]
    pub(super) struct ConsumeOutput {
        case: String,
        status: ExitStatus,
        pub(super) code: Option<i32>,
        pub(super) stdout: String,
        pub(super) stderr: String,
    }

    impl ConsumeOutput {
        /// The printed lines, parsed; fails the test unless `consume.py`
        /// succeeded.
        pub(super) fn expect_success(self) -> Vec<Value> {
            assert!(
                self.status.success(),
                "{} failed ({}):\nstderr:\n{}\nstdout:\n{}",
                self.case,
                self.status,
                self.stderr,
                self.stdout
            );
            self.stdout
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| {
                    serde_json::from_str(line).unwrap_or_else(|error| {
                        panic!(
                            "{}: printed a line that is not JSON ({error}): {line:?}",
                            self.case
                        )
                    })
                })
                .collect()
        }
    }

    /// Runs `consume.py URL --partitions 3 ARGS...` to its end.
    pub(super) async fn run_consume(python: &Path, url: &str, case: &ConsumeCase) -> ConsumeOutput {
        let mut args: Vec<OsString> = vec![
            script("consume.py").into(),
            url.into(),
            "--partitions".into(),
            Fixture::PARTITIONS.to_string().into(),
        ];
        args.extend(case.args().into_iter().map(OsString::from));
        let output = Command::new(python)
            .args(&args)
            .current_dir(root())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = within(&format!("{case} against {url}"), output)
            .await
            .unwrap_or_else(|error| panic!("cannot run consume.py: {error}"));
        ConsumeOutput {
            case: format!("{case} against {url}"),
            status: output.status,
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).expect("consume.py prints UTF-8"),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    // -- The fixture and the oracle ------------------------------------------

    pub(super) type HeaderMap = BTreeMap<String, String>;

    /// One event of the fixture, parsed independently of the library.
    #[derive(Debug, Clone)]
    pub(super) struct FixtureEvent {
        pub(super) partition: u32,
        pub(super) headers: Option<HeaderMap>,
        pub(super) data: Value,
    }

    /// `tests/fixtures/interop_events.ndjson`.
    #[derive(Debug)]
    pub(super) struct Fixture {
        /// The raw file.
        raw: Vec<u8>,
        /// The events in file order.
        pub(super) events: Vec<FixtureEvent>,
    }

    impl Fixture {
        pub(super) const PARTITIONS: u32 = 3;

        pub(super) fn load() -> Fixture {
            let path = fixture_path();
            let raw = std::fs::read(&path)
                .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
            let text = std::str::from_utf8(&raw).expect("the fixture is UTF-8");
            // Only "\n" ends a line: U+2028 in the fixture is data.
            let events: Vec<FixtureEvent> = text
                .split('\n')
                .filter(|line| !line.trim().is_empty())
                .map(|line| {
                    let value: Value = serde_json::from_str(line)
                        .unwrap_or_else(|error| panic!("fixture line {line:?}: {error}"));
                    let partition = value["partition"].as_u64().expect("partition") as u32;
                    assert!(partition < Fixture::PARTITIONS, "fixture partition");
                    let headers = value
                        .get("headers")
                        .map(|h| serde_json::from_value(h.clone()).expect("string headers"));
                    FixtureEvent {
                        partition,
                        headers,
                        data: value.get("data").cloned().expect("data"),
                    }
                })
                .collect();
            assert_eq!(events.len(), 12, "the fixture has 12 events");
            Fixture { raw, events }
        }

        /// The events of the fixture, decoded by our `ndjson::Decoder`.
        pub(super) fn decoded_events(&self) -> Vec<Event> {
            let mut decoder = Decoder::new();
            decoder.push(&self.raw);
            let mut events = Vec::new();
            while let Some(line) = decoder.decode_eof().expect("the fixture decodes") {
                match line {
                    FeedLine::Event(event) => events.push(event),
                    FeedLine::Checkpoint(cursor) => panic!("checkpoint in the fixture: {cursor}"),
                }
            }
            assert_eq!(events.len(), self.events.len(), "events decoded");
            events
        }

        pub(super) fn partition(&self, partition: u32) -> Vec<&FixtureEvent> {
            self.events
                .iter()
                .filter(|event| event.partition == partition)
                .collect()
        }

        pub(super) fn count(&self, partition: u32) -> usize {
            self.partition(partition).len()
        }

        /// Every event, by partition and in order within it: the order of
        /// one response from `_first` for all partitions.
        pub(super) fn in_response_order(&self) -> impl Iterator<Item = &FixtureEvent> + '_ {
            (0..Fixture::PARTITIONS).flat_map(|p| self.partition(p))
        }

        /// Every event as a wire line with `headers` selected, in response
        /// order.
        pub(super) fn event_lines(&self, headers: &HeaderSelection) -> Vec<Value> {
            self.in_response_order()
                .map(|event| wire_event(event, headers))
                .collect()
        }

        /// The lines of one response to `case` (its `follow` ignored).
        pub(super) fn expected_response(&self, case: &ConsumeCase) -> Vec<Value> {
            self.response(&case.start(), case.page_size_hint, &case.header_selection())
        }

        fn response(
            &self,
            start: &[(u32, String)],
            page_size_hint: Option<u32>,
            headers: &HeaderSelection,
        ) -> Vec<Value> {
            let mut budget = match page_size_hint {
                None | Some(0) => 1000,
                Some(hint) => hint as usize,
            };
            let mut start = start.to_vec();
            start.sort();
            let mut lines = Vec::new();
            let mut ends = Vec::new();
            for (partition, cursor) in start {
                let events = self.partition(partition);
                let mut position = match cursor.as_str() {
                    "_first" => 0,
                    "_last" => events.len(),
                    digits => digits.parse().expect("a position"),
                };
                while budget > 0 && position < events.len() {
                    lines.push(wire_event(events[position], headers));
                    position += 1;
                    budget -= 1;
                    lines.push(checkpoint(partition, position));
                }
                ends.push(checkpoint(partition, position));
            }
            lines.extend(ends);
            lines
        }

        /// The events `consume.py --follow` prints for `case`.
        pub(super) fn expected_follow(&self, case: &ConsumeCase) -> Vec<Value> {
            let mut cursors = case.start();
            let headers = case.header_selection();
            let mut events = Vec::new();
            for _ in 0..1000 {
                let mut saw_event = false;
                for line in self.response(&cursors, case.page_size_hint, &headers) {
                    if let Some(cursor) = line.get("cursor") {
                        let partition = line["partition"].as_u64().unwrap() as u32;
                        let slot = cursors.iter_mut().find(|(p, _)| *p == partition).unwrap();
                        slot.1 = cursor.as_str().unwrap().to_owned();
                    } else {
                        saw_event = true;
                        events.push(line);
                    }
                }
                if !saw_event {
                    return events;
                }
            }
            panic!("the oracle does not terminate for {case}");
        }
    }

    /// The headers a producer sends for `wanted`: `None` when nothing is
    /// left (the key is then omitted on the wire).
    pub(super) fn select(
        headers: &Option<HeaderMap>,
        wanted: &HeaderSelection,
    ) -> Option<HeaderMap> {
        let headers = headers.as_ref()?;
        let selected: HeaderMap = match wanted {
            HeaderSelection::None => return None,
            HeaderSelection::All => headers.clone(),
            HeaderSelection::Names(names) => headers
                .iter()
                .filter(|(name, _)| names.contains(*name))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        };
        (!selected.is_empty()).then_some(selected)
    }

    fn wire_event(event: &FixtureEvent, headers: &HeaderSelection) -> Value {
        let mut line = Map::new();
        line.insert("partition".to_owned(), json!(event.partition));
        if let Some(selected) = select(&event.headers, headers) {
            line.insert("headers".to_owned(), json!(selected));
        }
        line.insert("data".to_owned(), event.data.clone());
        Value::Object(line)
    }

    fn checkpoint(partition: u32, position: usize) -> Value {
        json!({"partition": partition, "cursor": position.to_string()})
    }

    /// An event received by our client as a wire line (`headers` present
    /// exactly when the event has them, even empty).
    pub(super) fn event_value(event: &Event) -> Value {
        let mut line = Map::new();
        line.insert("partition".to_owned(), json!(event.partition_id));
        if let Some(headers) = &event.headers {
            line.insert("headers".to_owned(), json!(headers));
        }
        let data = serde_json::from_str(event.data_json())
            .unwrap_or_else(|error| panic!("data {:?}: {error}", event.data_json()));
        line.insert("data".to_owned(), data);
        Value::Object(line)
    }

    /// A line received by our client, as `consume.py` prints it.
    pub(super) fn line_value(line: &FeedLine) -> Value {
        match line {
            FeedLine::Event(event) => event_value(event),
            FeedLine::Checkpoint(cursor) => {
                json!({"partition": cursor.partition_id(), "cursor": cursor.as_str()})
            }
        }
    }

    /// JSON equality where integers are compared exactly and never equal a
    /// float, and floats by value (`1.0e10` == `10000000000.0`), whatever
    /// serde_json features are on.
    pub(super) fn json_eq(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let integer = |n: &serde_json::Number| n.is_i64() || n.is_u64();
                match (integer(x), integer(y)) {
                    (true, true) => x.as_i64() == y.as_i64() && x.as_u64() == y.as_u64(),
                    (false, false) => x.as_f64() == y.as_f64(),
                    _ => false,
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .all(|(key, x)| y.get(key).is_some_and(|y| json_eq(x, y)))
            }
            _ => a == b,
        }
    }

    /// Asserts that two sequences of lines are equal, line by line.
    pub(super) fn assert_json_lines_eq(actual: &[Value], expected: &[Value], context: &str) {
        let show = |lines: &[Value]| -> String {
            lines
                .iter()
                .map(|line| format!("    {line}\n"))
                .collect::<String>()
        };
        let first_difference = actual
            .iter()
            .zip(expected)
            .position(|(a, e)| !json_eq(a, e));
        assert!(
            actual.len() == expected.len() && first_difference.is_none(),
            "{context}: lines differ (first difference at index {:?}, {} lines vs {} expected)\n\
             actual:\n{}expected:\n{}",
            first_difference,
            actual.len(),
            expected.len(),
            show(actual),
            show(expected)
        );
    }
}
