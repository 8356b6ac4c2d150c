//! `zeh follow`: against `zeh serve` of the fixture, against scripted
//! failures, and its end on a signal.

use std::{io::Write, net::TcpListener, sync::mpsc, thread};

use crate::support::{
    Headers, PARTITIONS, RawServer, Running, Serve, accept_request, chunked_response,
    closed_port_url, fixture_events, lines_of_partition, partition_events, status_response,
    stderr_of, stdout_of, zeh, zeh_process,
};

/// The fixture's events of `partition` as printed for `headers`.
fn expected(partition: u32, headers: Headers<'_>) -> Vec<String> {
    partition_events(partition)
        .iter()
        .map(|event| event.line(headers))
        .collect()
}

fn follow_until_caught_up(serve: &Serve, args: &[&str]) -> std::process::Output {
    zeh()
        .args([
            "follow",
            &serve.url,
            "--partitions",
            PARTITIONS,
            "--until-caught-up",
        ])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn follow_until_caught_up_prints_every_event_once_in_order_per_partition() {
    let serve = Serve::fixture();
    for hint in ["1000", "5", "1"] {
        let output = follow_until_caught_up(&serve, &["--page-size-hint", hint]);
        assert!(output.status.success(), "{}", stderr_of(&output));
        let stdout = stdout_of(&output);
        assert_eq!(stdout.lines().count(), fixture_events().len(), "{stdout}");
        for partition in 0..3 {
            assert_eq!(
                lines_of_partition(&stdout, partition),
                expected(partition, Headers::None),
                "page size hint {hint}"
            );
        }
        assert!(!stdout.contains("\"cursor\""), "events only: {stdout}");
    }
}

#[test]
fn follow_passes_the_header_selection() {
    let serve = Serve::fixture();
    for headers in [Headers::All, Headers::Names(&["ce_id"])] {
        let list = match headers {
            Headers::All => "_all".to_owned(),
            Headers::Names(names) => names.join(","),
            Headers::None => unreachable!(),
        };
        let output = follow_until_caught_up(&serve, &["--headers", &list]);
        assert!(output.status.success());
        let stdout = stdout_of(&output);
        for partition in 0..3 {
            assert_eq!(
                lines_of_partition(&stdout, partition),
                expected(partition, headers)
            );
        }
    }
}

#[test]
fn follow_starts_from_the_given_cursors_only() {
    let serve = Serve::fixture();
    let output = follow_until_caught_up(&serve, &["--cursor", "1=3", "--page-size-hint", "1"]);
    assert!(output.status.success());
    assert_eq!(
        stdout_of(&output).lines().collect::<Vec<_>>(),
        expected(1, Headers::None)[3..]
    );
}

#[test]
fn follow_from_last_is_caught_up_at_once() {
    let serve = Serve::fixture();
    let output = follow_until_caught_up(
        &serve,
        &[
            "--cursor", "0=_last", "--cursor", "1=_last", "--cursor", "2=_last",
        ],
    );
    assert!(output.status.success());
    assert_eq!(stdout_of(&output), "");
}

#[test]
fn follow_client_fault_exits_1_at_once() {
    let serve = Serve::fixture();
    let output = follow_until_caught_up(&serve, &["--cursor", "0=999"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert_eq!(stderr.lines().count(), 1, "no retry: {stderr}");
    assert!(
        stderr.contains("400") && stderr.contains("cursor0"),
        "{stderr}"
    );
}

#[test]
fn follow_protocol_error_exits_1_without_retrying() {
    let server = RawServer::start(vec![chunked_response(&["[1,2]"], true)]);
    let output = zeh()
        .args(["follow", &server.url, "--partitions", "1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("line 1: line is not a JSON object"),
        "{stderr}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn follow_retries_5xx_and_cut_off_bodies_then_goes_on_from_the_same_cursor() {
    let event = r#"{"partition":0,"data":"x"}"#;
    let checkpoint = r#"{"partition":0,"cursor":"1"}"#;
    let server = RawServer::start(vec![
        status_response("503 Service Unavailable", "busy"),
        // A page cut off after a checkpoint: nothing of it may be printed.
        chunked_response(&[event, checkpoint], false),
        chunked_response(&[event, checkpoint], true),
        chunked_response(&[checkpoint], true),
    ]);
    let output = zeh()
        .args([
            "follow",
            &server.url,
            "--partitions",
            "1",
            "--until-caught-up",
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stdout_of(&output), format!("{event}\n"));
    let messages: Vec<&str> = stderr.lines().collect();
    assert_eq!(messages.len(), 2, "{stderr}");
    assert!(
        messages[0].contains("503 Service Unavailable: busy (attempt 1); retrying in"),
        "{stderr}"
    );
    assert!(
        messages[1].contains("cut off") && messages[1].contains("(attempt 2); retrying in"),
        "{stderr}"
    );
    let requests = server.requests();
    assert!(requests[2].contains("cursor0=_first"), "{requests:?}");
    assert!(requests[3].contains("cursor0=1"), "{requests:?}");
}

#[test]
fn follow_keeps_retrying_when_the_feed_is_unreachable() {
    let mut zeh = Running::spawn(zeh_process(&[
        "follow",
        &closed_port_url(),
        "--partitions",
        "3",
    ]));
    let stderr = zeh.stderr_lines();
    for attempt in 1..=3 {
        let line = stderr.next_line().expect("a retry message");
        assert!(
            line.contains("onnection refused")
                && line.contains(&format!("(attempt {attempt}); retrying in")),
            "{line}"
        );
    }
    assert_eq!(zeh.child.try_wait().unwrap(), None, "still retrying");
}

/// Follows the fixture without `--until-caught-up`; returns once every
/// event is printed (it then polls, every hour).
fn follow_fixture_until_printed() -> (Serve, Running) {
    let serve = Serve::fixture();
    let mut zeh = Running::spawn(zeh_process(&[
        "follow",
        &serve.url,
        "--partitions",
        PARTITIONS,
        "--poll-interval",
        "1h",
    ]));
    let stdout = zeh.stdout_lines();
    assert_eq!(stdout.take(fixture_events().len()).len(), 12);
    (serve, zeh)
}

#[test]
fn follow_ends_cleanly_on_sigint() {
    let (_serve, mut zeh) = follow_fixture_until_printed();
    zeh.signal("INT");
    let status = zeh.wait();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn follow_ends_cleanly_on_sigterm() {
    let (_serve, mut zeh) = follow_fixture_until_printed();
    zeh.signal("TERM");
    assert_eq!(zeh.wait().code(), Some(0));
}

/// A feed that holds its first request until told to answer it with one
/// event; later requests get an empty page.
fn held_feed() -> (String, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feed", listener.local_addr().unwrap());
    let (arrived, on_arrival) = mpsc::channel();
    let (answer, on_answer) = mpsc::channel::<()>();
    thread::spawn(move || {
        let (mut stream, _) = accept_request(&listener);
        arrived.send(()).unwrap();
        if on_answer.recv().is_err() {
            return;
        }
        let page = chunked_response(
            &[
                r#"{"partition":0,"data":1}"#,
                r#"{"partition":0,"cursor":"1"}"#,
            ],
            true,
        );
        let _ = stream.write_all(&page);
        drop(stream);
        loop {
            let (mut stream, _) = accept_request(&listener);
            let _ = stream.write_all(&chunked_response(
                &[r#"{"partition":0,"cursor":"1"}"#],
                true,
            ));
        }
    });
    (url, on_arrival, answer)
}

#[test]
fn follow_prints_the_page_in_hand_after_a_signal_then_exits_0() {
    let (url, arrived, answer) = held_feed();
    let mut zeh = Running::spawn(zeh_process(&[
        "follow",
        &url,
        "--partitions",
        "1",
        "--poll-interval",
        "1h",
    ]));
    let stdout = zeh.stdout_lines();
    let stderr = zeh.stderr_lines();
    arrived.recv().unwrap();
    zeh.signal("INT");
    let notice = stderr.next_line().expect("a notice");
    assert!(
        notice.contains("stopping once the page in hand has arrived"),
        "{notice}"
    );
    answer.send(()).unwrap();
    assert_eq!(stdout.rest(), [r#"{"partition":0,"data":1}"#]);
    assert_eq!(zeh.wait().code(), Some(0));
}

#[test]
fn follow_abandons_the_request_in_flight_on_a_second_signal() {
    let (url, arrived, _answer) = held_feed();
    let mut zeh = Running::spawn(zeh_process(&["follow", &url, "--partitions", "1"]));
    let stdout = zeh.stdout_lines();
    let stderr = zeh.stderr_lines();
    arrived.recv().unwrap();
    zeh.signal("TERM");
    let notice = stderr.next_line().expect("a notice");
    assert!(notice.contains("signal again to stop at once"), "{notice}");
    zeh.signal("TERM");
    assert_eq!(zeh.wait().code(), Some(130));
    assert_eq!(stdout.rest(), Vec::<String>::new());
    assert_eq!(stderr.rest(), ["zeh: interrupted"]);
}

/// On a terminal (`script` gives zeh one), `follow` draws its progress on
/// stderr in place; into a pipe it draws nothing.
#[test]
fn follow_shows_its_progress_on_a_terminal_only() {
    let serve = Serve::fixture();
    let command = format!(
        "{} follow {} --partitions 3 --until-caught-up",
        env!("CARGO_BIN_EXE_zeh"),
        serve.url
    );
    let on_terminal = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output();
    let Ok(on_terminal) = on_terminal else {
        eprintln!("skipped the terminal half: no `script` command");
        return;
    };
    let text = String::from_utf8_lossy(&on_terminal.stdout);
    assert!(on_terminal.status.success(), "{text}");
    assert!(text.contains("\r12 events, "), "{text:?}");
    assert!(
        text.contains("| p0 4 caught up | p1 5 caught up | p2 3 caught up"),
        "{text:?}"
    );

    let piped = zeh()
        .args([
            "follow",
            &serve.url,
            "--partitions",
            "3",
            "--until-caught-up",
        ])
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert!(piped.stderr.is_empty(), "{}", stderr_of(&piped));
}
