//! Real feeds need credentials: `-H` and `--bearer-token-file` on `fetch`
//! and `follow`, `serve --auth-token-file` on the producer's side, and a
//! token renewed in its file while `follow` runs.

use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    thread,
};

use tempfile::TempDir;

use crate::support::{
    FIXTURE, PARTITIONS, Running, Serve, raw_get, stderr_of, stdout_of, zeh, zeh_process,
};

/// A directory holding the file `name` with `text`; returns both.
fn file_with(name: &str, text: &str) -> (TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

/// `zeh serve` of the fixture admitting the tokens in `tokens`.
fn guarded_serve(tokens: &str) -> (Serve, TempDir) {
    let (dir, path) = file_with("tokens", tokens);
    let serve = Serve::start(&[
        FIXTURE,
        "--partitions",
        PARTITIONS,
        "--auth-token-file",
        &path,
    ]);
    (serve, dir)
}

fn fetch(url: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["fetch", url, "--partitions", PARTITIONS];
    args.extend_from_slice(extra);
    zeh().args(&args).output().unwrap()
}

#[test]
fn serve_with_a_token_file_answers_401_without_a_listed_token() {
    let (serve, _tokens) = guarded_serve("rotated-out\ncurrent\n");
    let head = raw_get(&serve.url, "n=3&cursor0=_first");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );

    let refused = fetch(&serve.url, &["-H", "Authorization: Bearer wrong"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr_of(&refused).contains("401"),
        "{}",
        stderr_of(&refused)
    );
    assert!(!stderr_of(&refused).contains("wrong"));

    for token in ["current", "rotated-out"] {
        let header = format!("Authorization: Bearer {token}");
        let admitted = fetch(&serve.url, &["-H", &header, "--cursor", "1=_last"]);
        assert!(admitted.status.success(), "{}", stderr_of(&admitted));
        assert_eq!(stdout_of(&admitted), "{\"partition\":1,\"cursor\":\"5\"}\n");
    }
    let (_dir, token_file) = file_with("token", "current\n");
    let admitted = fetch(&serve.url, &["--bearer-token-file", &token_file]);
    assert!(admitted.status.success(), "{}", stderr_of(&admitted));
}

#[test]
fn follow_picks_up_a_token_renewed_in_its_file_without_a_restart() {
    let (serve, _tokens) = guarded_serve("fresh\n");
    let (dir, token_file) = file_with("token", "expired\n");
    let mut follow = Running::spawn(zeh_process(&[
        "follow",
        &serve.url,
        "--partitions",
        PARTITIONS,
        "--bearer-token-file",
        &token_file,
        "--until-caught-up",
    ]));
    let stdout = follow.stdout_lines();
    let stderr = follow.stderr_lines();
    let refused = stderr.next_line().expect("a message about the refusal");
    assert!(refused.contains("401"), "{refused}");
    assert!(refused.contains("retrying"), "{refused}");

    // Renewed as a token agent would: a new file moved over the old one.
    let renewed = dir.path().join("token.new");
    std::fs::write(&renewed, "fresh\n").unwrap();
    std::fs::rename(&renewed, &token_file).unwrap();
    assert_eq!(follow.wait().code(), Some(0));
    assert!(!stdout.rest().is_empty(), "the events, once admitted");
}

/// A server that answers one request with an empty page and hands back
/// the request's head.
fn recording_server() -> (String, thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feed", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let body = "{\"partition\":0,\"cursor\":\"0\"}\n";
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).unwrap();
        head
    });
    (url, server)
}

#[test]
fn fetch_sends_every_header_given_with_h() {
    let (url, server) = recording_server();
    let output = zeh()
        .args([
            "fetch",
            &url,
            "--partitions",
            "1",
            "-H",
            "X-Team: billing",
            "--header",
            "x-trace:  abc ",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let head = server.join().unwrap().to_ascii_lowercase();
    assert!(head.contains("x-team: billing\r\n"), "{head}");
    assert!(head.contains("x-trace: abc\r\n"), "{head}");
}

#[test]
fn a_malformed_header_or_a_read_timeout_below_the_wait_is_refused() {
    let url = "http://127.0.0.1:7070/feed/v1";
    let output = zeh()
        .args(["fetch", url, "--partitions", "1", "-H", "no colon"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("expected 'NAME: VALUE'"));

    let output = zeh()
        .args([
            "fetch",
            url,
            "--partitions",
            "1",
            "-H",
            "Authorization: Bearer a\u{1}b",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("the value of header authorization holds characters a header cannot carry"),
        "{stderr}"
    );

    let output = zeh()
        .args([
            "follow",
            url,
            "--partitions",
            "1",
            "--wait",
            "30",
            "--read-timeout",
            "10s",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("--read-timeout 10s must exceed --wait 30"),
        "{}",
        stderr_of(&output)
    );
}
