//! `zeh fetch` when the feed or the network fails: the lines before the
//! failure stay printed, one line on stderr names the cause, exit status 1.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::mpsc,
    thread,
};

use crate::support::{
    DEADLINE, LAST_CHUNK, RawServer, Running, accept_request, chunk, chunked_head,
    chunked_response, closed_port_url, status_response, stderr_of, stdout_of, zeh, zeh_process,
};

const EVENT: &str = r#"{"partition":0,"data":{"n":1}}"#;
const CHECKPOINT: &str = r#"{"partition":0,"cursor":"1"}"#;

/// Runs `zeh fetch URL --partitions 1 ARGS` against a server answering
/// `response`, and checks the common shape of a failure: exit status 1,
/// the two good lines on stdout, one line on stderr; returns that line.
fn fetch_failure(response: Vec<u8>, args: &[&str]) -> String {
    let server = RawServer::start(vec![response]);
    let output = zeh()
        .args(["fetch", &server.url, "--partitions", "1"])
        .args(args)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stdout_of(&output), format!("{EVENT}\n{CHECKPOINT}\n"));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("zeh: "), "{stderr}");
    server.requests();
    stderr
}

#[test]
fn fetch_body_cut_off_keeps_the_lines_before_it() {
    let stderr = fetch_failure(chunked_response(&[EVENT, CHECKPOINT], false), &[]);
    assert!(stderr.contains("the response body was cut off"), "{stderr}");
}

#[test]
fn fetch_malformed_line_keeps_the_lines_before_it() {
    let response = chunked_response(&[EVENT, CHECKPOINT, r#"{"partition":0,"data":"#], true);
    let stderr = fetch_failure(response, &[]);
    assert!(stderr.contains("malformed response: line 3"), "{stderr}");
}

#[test]
fn fetch_line_for_a_partition_not_requested_keeps_the_lines_before_it() {
    let response = chunked_response(&[EVENT, CHECKPOINT, r#"{"partition":2,"data":2}"#], true);
    let stderr = fetch_failure(response, &["--cursor", "0=_first"]);
    assert!(
        stderr.contains("line 3: partition 2 was not requested"),
        "{stderr}"
    );
}

#[test]
fn fetch_line_longer_than_the_limit_keeps_the_lines_before_it() {
    let long = format!(r#"{{"partition":0,"data":"{}"}}"#, "x".repeat(100));
    let response = chunked_response(&[EVENT, CHECKPOINT, &long], true);
    let stderr = fetch_failure(response, &["--max-line-bytes", "64"]);
    assert!(
        stderr.contains("line 3: line longer than the maximum of 64 bytes"),
        "{stderr}"
    );
}

#[test]
fn fetch_http_error_with_an_empty_body_says_so() {
    let server = RawServer::start(vec![status_response("503 Service Unavailable", "")]);
    let output = zeh()
        .args(["fetch", &server.url, "--partitions", "2"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr_of(&output),
        "zeh: the feed answered 503 Service Unavailable with an empty body\n"
    );
}

#[test]
fn fetch_http_error_names_the_status_and_the_start_of_the_body_on_one_line() {
    let body = format!("database is down\nretry later\n{}", "detail ".repeat(200));
    let server = RawServer::start(vec![status_response("500 Internal Server Error", &body)]);
    let output = zeh()
        .args(["fetch", &server.url, "--partitions", "2"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_of(&output), "");
    let stderr = stderr_of(&output);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "zeh: the feed answered 500 Internal Server Error: database is down retry later detail"
        ),
        "{stderr}"
    );
    assert!(stderr.len() < 400, "only the start of the body: {stderr}");
    let requests = server.requests();
    assert!(
        requests[0].starts_with("GET /feed?n=2&cursor0=_first&cursor1=_first "),
        "{requests:?}"
    );
}

#[test]
fn fetch_connection_refused_exits_1() {
    let output = zeh()
        .args(["fetch", &closed_port_url(), "--partitions", "3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_of(&output), "");
    let stderr = stderr_of(&output);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("request to the feed failed") && stderr.contains("onnection refused"),
        "{stderr}"
    );
}

#[test]
fn fetch_into_a_closed_pipe_exits_quietly() {
    // The server sends one line, then waits until the reader of zeh's
    // stdout has gone away before sending more.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feed", listener.local_addr().unwrap());
    let (go_on, wait) = mpsc::channel::<()>();
    let server = thread::spawn(move || {
        let (mut stream, _) = accept_request(&listener);
        stream.write_all(&chunked_head()).unwrap();
        stream.write_all(&chunk(&format!("{EVENT}\n"))).unwrap();
        wait.recv().unwrap();
        for _ in 0..1000 {
            if stream.write_all(&chunk(&format!("{EVENT}\n"))).is_err() {
                return;
            }
        }
        let _ = stream.write_all(LAST_CHUNK);
    });

    let mut zeh = Running::spawn(zeh_process(&["fetch", &url, "--partitions", "1"]));
    // Read the first line in a thread, so that a zeh that does not flush
    // it fails the test instead of hanging it; then close the pipe.
    let stdout = zeh.child.stdout.take().unwrap();
    let (send_first, first) = mpsc::channel();
    thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let _ = send_first.send((line, stdout));
    });
    let (line, stdout) = first
        .recv_timeout(DEADLINE)
        .expect("zeh prints a line as soon as it arrives");
    assert_eq!(line, format!("{EVENT}\n"));
    drop(stdout); // like `| head -1`
    go_on.send(()).unwrap();

    let status = zeh.wait();
    let mut stderr = String::new();
    zeh.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr, "");
    assert!(status.success(), "{status:?}");
    server.join().unwrap();
}
