//! Shared helpers: the `zeh` binary, a `zeh serve` of the fixture that is
//! killed on drop, an in-memory log served in this process, a hand-made
//! HTTP server for broken responses, and the fixture's events with the
//! lines `zeh` must print for them.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, ChildStdout, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use zeroeventhub::{Event, server::MemoryLog};

/// The fixture: a dozen events over three partitions, some with headers.
pub(crate) const FIXTURE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events.ndjson");
/// The fixture's partition count.
pub(crate) const PARTITIONS: &str = "3";
/// Only there so that a broken test fails instead of hanging.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// `zeh` as a one-shot command.
pub(crate) fn zeh() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(env!("CARGO_BIN_EXE_zeh"));
    command.timeout(DEADLINE);
    command
}

/// `zeh` as a process to talk to while it runs.
pub(crate) fn zeh_process(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zeh"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// stdout of a finished command, as text.
pub(crate) fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// stderr of a finished command, as text.
pub(crate) fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// A running process, killed on drop.
pub(crate) struct Running {
    pub(crate) child: Child,
}

impl Running {
    /// Starts `command`.
    pub(crate) fn spawn(mut command: Command) -> Self {
        Running {
            child: command.spawn().expect("zeh starts"),
        }
    }

    /// Sends `signal` (`TERM`, `INT`) with the `kill` command.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit.
    pub(crate) fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "zeh did not exit");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The lines of the process's stdout, as they come.
    pub(crate) fn stdout_lines(&mut self) -> Lines {
        Lines::new(self.child.stdout.take().expect("stdout is piped"))
    }

    /// The lines of the process's stderr, as they come.
    pub(crate) fn stderr_lines(&mut self) -> Lines {
        Lines::new(self.child.stderr.take().expect("stderr is piped"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines read from a pipe by a thread, so that reading can give up at the
/// deadline.
pub(crate) struct Lines {
    receiver: mpsc::Receiver<String>,
}

impl Lines {
    fn new(pipe: impl Read + Send + 'static) -> Self {
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { receiver }
    }

    /// The next line, `None` at the end of the stream.
    pub(crate) fn next_line(&self) -> Option<String> {
        match self.receiver.recv_timeout(DEADLINE) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no line from zeh in time"),
        }
    }

    /// The next `n` lines.
    pub(crate) fn take(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| self.next_line().expect("zeh printed fewer lines"))
            .collect()
    }

    /// Every line until the end of the stream.
    pub(crate) fn rest(&self) -> Vec<String> {
        std::iter::from_fn(|| self.next_line()).collect()
    }
}

/// `zeh serve` of a file on a free port, killed on drop.
pub(crate) struct Serve {
    pub(crate) process: Running,
    /// The feed's URL, from the `listening on` line.
    pub(crate) url: String,
}

impl Serve {
    /// Serves the fixture with the default options.
    pub(crate) fn fixture() -> Self {
        Serve::start(&[FIXTURE, "--partitions", PARTITIONS])
    }

    /// `zeh serve ARGS --addr 127.0.0.1:0`; returns once it listens.
    pub(crate) fn start(args: &[&str]) -> Self {
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--addr", "127.0.0.1:0"]);
        let mut command = zeh_process(&all);
        command.stderr(Stdio::null());
        let mut process = Running::spawn(command);
        let stdout: ChildStdout = process.child.stdout.take().expect("stdout is piped");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("reading stdout");
        let url = first
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        Serve { process, url }
    }
}

/// A [`MemoryLog`] served over HTTP on a free port by a thread of its own,
/// at `/feed`, until dropped.
pub(crate) struct Producer {
    pub(crate) log: MemoryLog,
    pub(crate) url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Producer {
    pub(crate) fn start(log: MemoryLog) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/feed", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, is_ready) = mpsc::channel();
        let served = log.clone();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app: axum::Router = zeroeventhub_axum::feed_router("/feed", served);
                ready.send(()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        is_ready.recv().unwrap();
        Producer {
            log,
            url,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub(crate) fn append(&self, partition: u32, n: u32) {
        self.log
            .append(Event::from_data(partition, &n).unwrap())
            .unwrap();
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A long-poll still held ends with the process: do not wait on it.
        drop(self.thread.take());
    }
}

/// The `HOST:PORT` and the path of an `http://` URL.
pub(crate) fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (addr, path) = rest.split_once('/').unwrap_or((rest, ""));
    (addr.to_owned(), format!("/{path}"))
}

/// Sends `GET URL?QUERY` on a connection of its own, with no client in
/// between, and reads the whole response (head and body as received).
pub(crate) fn raw_get(url: &str, query: &str) -> String {
    let (addr, path) = split_url(url);
    let mut socket = TcpStream::connect(&addr).expect("connect");
    socket
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    let request =
        format!("GET {path}?{query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    socket.read_to_string(&mut response).expect("the response");
    response
}

/// A TCP port nobody listens on.
pub(crate) fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{addr}/feed/v1")
}

/// A hand-made HTTP server: answers the `n`-th connection with the `n`-th
/// response, written as given, then closes it. Joining it returns the
/// request lines it received.
pub(crate) struct RawServer {
    pub(crate) url: String,
    thread: Option<thread::JoinHandle<Vec<String>>>,
}

impl RawServer {
    /// Serves `responses`, one per connection.
    pub(crate) fn start(responses: Vec<Vec<u8>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/feed", listener.local_addr().expect("address"));
        let thread = thread::spawn(move || {
            let mut requests = Vec::new();
            for response in responses {
                let (mut stream, request_line) = accept_request(&listener);
                requests.push(request_line);
                // The client may have gone away already: that is its test.
                let _ = stream.write_all(&response);
                let _ = stream.flush();
            }
            requests
        });
        RawServer {
            url,
            thread: Some(thread),
        }
    }

    /// The request lines received (`GET /feed?... HTTP/1.1`).
    pub(crate) fn requests(mut self) -> Vec<String> {
        self.thread
            .take()
            .expect("joined once")
            .join()
            .expect("server thread")
    }
}

/// Accepts a connection and reads the request's head; returns the stream
/// and the request line.
pub(crate) fn accept_request(listener: &TcpListener) -> (TcpStream, String) {
    let (stream, _) = listener.accept().expect("accept");
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    reader.read_line(&mut request_line).expect("request line");
    loop {
        let mut header = String::new();
        let read = reader.read_line(&mut header).expect("request header");
        if read == 0 || header == "\r\n" {
            break;
        }
    }
    (stream, request_line.trim_end().to_owned())
}

/// The head of a `200` response with a chunked ndjson body.
pub(crate) fn chunked_head() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\n\
      Content-Type: application/x-ndjson\r\n\
      Transfer-Encoding: chunked\r\n\
      Connection: close\r\n\r\n"
        .to_vec()
}

/// One chunk of a chunked body.
pub(crate) fn chunk(data: &str) -> Vec<u8> {
    format!("{:x}\r\n{data}\r\n", data.len()).into_bytes()
}

/// The chunk that ends a chunked body.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A `200` response whose body is `lines`, one chunk per line; without
/// the terminating chunk when `complete` is false (a body cut off).
pub(crate) fn chunked_response(lines: &[&str], complete: bool) -> Vec<u8> {
    let mut response = chunked_head();
    for line in lines {
        response.extend(chunk(&format!("{line}\n")));
    }
    if complete {
        response.extend_from_slice(LAST_CHUNK);
    }
    response
}

/// A response with `status` (e.g. `503 Service Unavailable`) and `body`.
pub(crate) fn status_response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One event of the fixture, taken apart by hand (not by the library
/// under test).
#[derive(Debug, Clone)]
pub(crate) struct FixtureEvent {
    pub(crate) partition: u32,
    /// Header names and values, sorted by name.
    pub(crate) headers: Vec<(String, String)>,
    /// The data, exactly as written in the file.
    pub(crate) data: String,
}

/// Which headers a request asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Headers<'a> {
    None,
    Names(&'a [&'a str]),
    All,
}

impl FixtureEvent {
    /// The wire line (without `\n`) of this event as served for `headers`.
    pub(crate) fn line(&self, headers: Headers<'_>) -> String {
        let selected: Vec<&(String, String)> = self
            .headers
            .iter()
            .filter(|(name, _)| match headers {
                Headers::None => false,
                Headers::Names(names) => names.contains(&name.as_str()),
                Headers::All => true,
            })
            .collect();
        let mut line = format!("{{\"partition\":{}", self.partition);
        if !selected.is_empty() {
            let pairs: Vec<String> = selected
                .iter()
                .map(|(name, value)| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(name).unwrap(),
                        serde_json::to_string(value).unwrap()
                    )
                })
                .collect();
            line.push_str(&format!(",\"headers\":{{{}}}", pairs.join(",")));
        }
        line.push_str(&format!(",\"data\":{}}}", self.data));
        line
    }
}

/// The fixture's events, in file order.
pub(crate) fn fixture_events() -> Vec<FixtureEvent> {
    let text = std::fs::read_to_string(FIXTURE).expect("fixture");
    text.lines()
        .map(|line| {
            let rest = line
                .strip_prefix("{\"partition\":")
                .expect("line starts with the partition");
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let (_, data) = line.split_once(",\"data\":").expect("line has data");
            let data = data.strip_suffix('}').expect("line ends with }");
            let value: serde_json::Value = serde_json::from_str(line).expect("line is JSON");
            let mut headers: Vec<(String, String)> = value
                .get("headers")
                .and_then(serde_json::Value::as_object)
                .map(|map| {
                    map.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            headers.sort();
            FixtureEvent {
                partition: digits.parse().expect("partition"),
                headers,
                data: data.to_owned(),
            }
        })
        .collect()
}

/// The fixture's events of `partition`, in order.
pub(crate) fn partition_events(partition: u32) -> Vec<FixtureEvent> {
    fixture_events()
        .into_iter()
        .filter(|event| event.partition == partition)
        .collect()
}

/// A checkpoint line (without `\n`).
pub(crate) fn checkpoint(partition: u32, cursor: &str) -> String {
    format!("{{\"partition\":{partition},\"cursor\":\"{cursor}\"}}")
}

/// The lines of `output` whose partition is `partition`.
pub(crate) fn lines_of_partition(output: &str, partition: u32) -> Vec<String> {
    let prefix = format!("{{\"partition\":{partition},");
    output
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}
