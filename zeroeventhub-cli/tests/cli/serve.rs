//! `zeh serve`: the listening line, the options, the source file's errors
//! and the end on a signal.

use std::{io::Write, net::TcpListener};

use tempfile::NamedTempFile;

use crate::support::{
    FIXTURE, Headers, PARTITIONS, Serve, checkpoint, partition_events, stderr_of, stdout_of, zeh,
};

#[test]
fn serve_prints_the_url_with_the_real_port_and_serves_at_the_path() {
    let serve = Serve::start(&[
        FIXTURE,
        "--partitions",
        PARTITIONS,
        "--path",
        "/person/feed/v1",
    ]);
    let rest = serve
        .url
        .strip_prefix("http://127.0.0.1:")
        .expect("the bound address");
    let (port, path) = rest.split_once('/').expect("a path");
    assert_ne!(port.parse::<u16>().expect("a port"), 0);
    assert_eq!(path, "person/feed/v1");
    let output = zeh()
        .args([
            "fetch",
            &serve.url,
            "--partitions",
            PARTITIONS,
            "--cursor",
            "2=_last",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&output), format!("{}\n", checkpoint(2, "3")));
}

#[test]
fn serve_default_page_size_applies_without_a_hint() {
    let serve = Serve::start(&[
        FIXTURE,
        "--partitions",
        PARTITIONS,
        "--default-page-size",
        "1",
    ]);
    let output = zeh()
        .args([
            "fetch",
            &serve.url,
            "--partitions",
            PARTITIONS,
            "--cursor",
            "1=_first",
        ])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&output).lines().collect::<Vec<_>>(),
        [
            partition_events(1)[0].line(Headers::None),
            checkpoint(1, "1"),
            checkpoint(1, "1"),
        ]
    );
}

#[test]
fn serve_ends_cleanly_on_sigterm() {
    let mut serve = Serve::fixture();
    // Serve a request first, so that the server is past its start.
    let output = zeh()
        .args(["fetch", &serve.url, "--partitions", PARTITIONS])
        .output()
        .unwrap();
    assert!(output.status.success());
    serve.process.signal("TERM");
    assert_eq!(serve.process.wait().code(), Some(0));
}

#[test]
fn serve_ends_cleanly_on_sigint() {
    let mut serve = Serve::fixture();
    serve.process.signal("INT");
    assert_eq!(serve.process.wait().code(), Some(0));
}

/// Runs `zeh serve` on a file holding `text`; it must fail at once.
fn serve_text(text: &str) -> (NamedTempFile, std::process::Output) {
    let mut file = NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    let path = file.path().to_str().unwrap().to_owned();
    let output = zeh()
        .args(["serve", &path, "--partitions", "3", "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    (file, output)
}

/// Checks a failure to load a source: exit 1, nothing on stdout, one line
/// on stderr naming the file and line; returns that line.
fn source_failure(text: &str, line: u32) -> String {
    let (file, output) = serve_text(text);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stdout_of(&output), "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let at = format!("zeh: {}:{line}: ", file.path().display());
    assert!(stderr.starts_with(&at), "{stderr}");
    stderr
}

const GOOD: &str = "{\"partition\":0,\"data\":1}\n";

#[test]
fn serve_refuses_a_checkpoint_in_the_source() {
    let stderr = source_failure(
        &format!("{GOOD}\n{{\"partition\":0,\"cursor\":\"1\"}}\n"),
        3,
    );
    assert!(stderr.contains("a checkpoint"), "{stderr}");
}

#[test]
fn serve_refuses_a_partition_outside_the_feed() {
    let stderr = source_failure(&format!("{GOOD}{{\"partition\":3,\"data\":1}}\n"), 2);
    assert!(stderr.contains("partition 3 is outside 0..3"), "{stderr}");
}

#[test]
fn serve_refuses_a_malformed_line() {
    let stderr = source_failure(&format!("{GOOD}{GOOD}{{\"partition\":0,\"data\":\n"), 3);
    assert!(stderr.contains("invalid JSON"), "{stderr}");
}

#[test]
fn serve_refuses_a_line_without_data() {
    let stderr = source_failure("{\"partition\":0,\"dta\":1}\n", 1);
    assert!(stderr.contains("not an event"), "{stderr}");
}

#[test]
fn serve_names_a_missing_source() {
    let output = zeh()
        .args(["serve", "/nonexistent/events.ndjson", "--partitions", "1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.starts_with("zeh: cannot open /nonexistent/events.ndjson: "),
        "{stderr}"
    );
}

#[test]
fn serve_on_an_address_in_use_exits_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = zeh()
        .args([
            "serve",
            FIXTURE,
            "--partitions",
            PARTITIONS,
            "--addr",
            &addr,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_of(&output), "");
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

/// A client that reads nothing of a large response holds it in flight;
/// after the grace period `zeh serve` cuts it and exits 0, and what the
/// client got is not a complete body.
#[test]
fn serve_cuts_the_responses_still_in_flight_once_the_grace_period_is_over() {
    use std::io::Read;

    let mut file = NamedTempFile::new().unwrap();
    let line = format!("{{\"partition\":0,\"data\":\"{}\"}}\n", "x".repeat(100));
    for _ in 0..250_000 {
        file.write_all(line.as_bytes()).unwrap();
    }
    file.flush().unwrap();
    let path = file.path().to_str().unwrap().to_owned();
    let mut serve = Serve::start(&[&path, "--partitions", "1", "--shutdown-grace", "1s"]);

    let rest = serve.url.strip_prefix("http://").unwrap();
    let (addr, route) = rest.split_once('/').unwrap();
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    let request = format!(
        "GET /{route}?n=1&cursor0=_first&pagesizehint=250000 HTTP/1.1\r\nHost: {addr}\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).unwrap();
    let mut head = [0_u8; 12];
    socket.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    std::thread::sleep(std::time::Duration::from_millis(300));

    let signalled = std::time::Instant::now();
    serve.process.signal("TERM");
    assert_eq!(serve.process.wait().code(), Some(0));
    assert!(
        signalled.elapsed() < std::time::Duration::from_secs(20),
        "not cut after the grace period"
    );
    let mut received = Vec::new();
    let _ = socket.read_to_end(&mut received);
    assert!(
        !received.ends_with(b"\r\n0\r\n\r\n"),
        "a cut response must not end as a complete chunked body"
    );
}
