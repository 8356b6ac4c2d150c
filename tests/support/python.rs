//! The harness of the Python interoperability tests (`interop_*.rs`):
//! finding the Python interpreter with the reference implementation,
//! running the producers (`producer.py`, and ours on a `MemoryLog`) and
//! `consume.py`. The fixture and the oracle of the expected responses are
//! in [`fixture`].

pub(crate) mod fixture;

use std::{
    ffi::OsString,
    fmt,
    future::Future,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    sync::OnceLock,
    time::Duration,
};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStdout, Command},
    task::JoinHandle,
};
use zeroeventhub::{
    Cursor, HeaderSelection,
    client::{Client, FetchBuilder},
    server::MemoryLog,
};

use fixture::Fixture;

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
pub(crate) async fn within<F: Future>(what: &str, future: F) -> F::Output {
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
pub(crate) fn python_or_skip(test: &str) -> Option<PathBuf> {
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
pub(crate) struct PythonProducer {
    child: Child,
    url: String,
    // Kept open so that the producer never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl PythonProducer {
    pub(crate) async fn start(python: &Path) -> PythonProducer {
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

    pub(crate) fn url(&self) -> &str {
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
pub(crate) struct RustProducer {
    url: String,
    server: JoinHandle<()>,
}

impl RustProducer {
    pub(crate) async fn start(fixture: &Fixture) -> RustProducer {
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

    pub(crate) fn url(&self) -> &str {
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
pub(crate) struct ConsumeCase {
    /// `--cursor P=C`; empty: every partition from `_first`.
    pub(crate) cursors: Vec<(u32, String)>,
    /// `--page-size-hint K`.
    pub(crate) page_size_hint: Option<u32>,
    /// `--headers H`, as given on the command line.
    pub(crate) headers: Option<&'static str>,
    /// `--follow`.
    pub(crate) follow: bool,
}

impl ConsumeCase {
    /// Cases of a single request.
    pub(crate) fn single_requests() -> Vec<ConsumeCase> {
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
    pub(crate) fn all() -> Vec<ConsumeCase> {
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
    pub(crate) fn cursors(&self) -> Vec<Cursor> {
        self.start()
            .into_iter()
            .map(|(p, c)| Cursor::new(p, c).expect("valid cursor"))
            .collect()
    }

    /// The header selection, parsed as `consume.py` does.
    pub(crate) fn header_selection(&self) -> HeaderSelection {
        match self.headers {
            None => HeaderSelection::None,
            Some("_all") => HeaderSelection::All,
            Some(names) => HeaderSelection::names(names.split(',').filter(|name| !name.is_empty())),
        }
    }

    /// The request of this case, on `client`.
    pub(crate) fn fetch<'c>(&self, client: &'c Client) -> FetchBuilder<'c> {
        let fetch = client
            .fetch(&self.cursors())
            .headers(self.header_selection());
        match self.page_size_hint {
            Some(hint) => fetch.page_size_hint(hint),
            None => fetch,
        }
    }

    /// What `consume.py` must print for this case.
    pub(crate) fn expected(&self, fixture: &Fixture) -> Vec<Value> {
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
pub(crate) struct ConsumeOutput {
    case: String,
    status: ExitStatus,
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl ConsumeOutput {
    /// The printed lines, parsed; fails the test unless `consume.py`
    /// succeeded.
    pub(crate) fn expect_success(self) -> Vec<Value> {
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
pub(crate) async fn run_consume(python: &Path, url: &str, case: &ConsumeCase) -> ConsumeOutput {
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
