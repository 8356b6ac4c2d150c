//! `zeh fetch` against `zeh serve` of the fixture.

use crate::support::{
    FIXTURE, Headers, PARTITIONS, Serve, checkpoint, lines_of_partition, partition_events,
    stderr_of, stdout_of, zeh,
};

/// The lines `serve` answers a request for every partition from `_first`
/// with: each partition's events with a checkpoint after each, then the
/// final checkpoints.
fn every_line(headers: Headers<'_>) -> Vec<String> {
    let mut lines = Vec::new();
    for partition in 0..3 {
        for (index, event) in partition_events(partition).iter().enumerate() {
            lines.push(event.line(headers));
            lines.push(checkpoint(partition, &(index + 1).to_string()));
        }
    }
    for partition in 0..3 {
        let len = partition_events(partition).len();
        lines.push(checkpoint(partition, &len.to_string()));
    }
    lines
}

fn fetch(serve: &Serve, args: &[&str]) -> std::process::Output {
    zeh()
        .args(["fetch", &serve.url, "--partitions", PARTITIONS])
        .args(args)
        .output()
        .expect("zeh runs")
}

#[test]
fn fetch_without_cursor_prints_every_line_of_every_partition_in_order() {
    let serve = Serve::fixture();
    let output = fetch(&serve, &[]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        stdout_of(&output).lines().collect::<Vec<_>>(),
        every_line(Headers::None)
    );
    assert_eq!(stderr_of(&output), "");
}

#[test]
fn fetch_prints_data_byte_for_byte() {
    let serve = Serve::fixture();
    let stdout = stdout_of(&fetch(&serve, &[]));
    for data in [
        "{\"id\":1, \"name\" : \"Ada Lovelace\"}",
        "{\"order\":\"A-1\",\"total\":1.0e10}",
        "[1, 2 ,3]",
        "\"a string with \\\"quotes\\\" and \\u00e9\"",
        "{\"text\":\"line\u{2028}separator\"}",
    ] {
        assert!(
            stdout.contains(&format!(",\"data\":{data}}}\n")),
            "{data} in {stdout}"
        );
    }
}

#[test]
fn fetch_headers_all_prints_the_events_as_in_the_file() {
    let serve = Serve::fixture();
    let output = fetch(&serve, &["--headers", "_all"]);
    assert!(output.status.success());
    assert_eq!(
        stdout_of(&output).lines().collect::<Vec<_>>(),
        every_line(Headers::All)
    );
    // In the canonical wire form, an event with all its headers is the
    // fixture's line itself.
    let stdout = stdout_of(&output);
    for line in std::fs::read_to_string(FIXTURE).unwrap().lines() {
        assert!(stdout.contains(&format!("{line}\n")), "{line}");
    }
}

#[test]
fn fetch_headers_names_prints_only_those_headers() {
    let serve = Serve::fixture();
    let output = fetch(&serve, &["--headers", "ce_type,trace"]);
    assert!(output.status.success());
    assert_eq!(
        stdout_of(&output).lines().collect::<Vec<_>>(),
        every_line(Headers::Names(&["ce_type", "trace"]))
    );
    assert!(!stdout_of(&output).contains("ce_id"));
}

#[test]
fn fetch_with_cursors_requests_only_those_partitions() {
    let serve = Serve::fixture();
    let output = fetch(&serve, &["--cursor", "1=3", "--cursor", "2=_last"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let events = partition_events(1);
    assert_eq!(
        stdout_of(&output).lines().collect::<Vec<_>>(),
        [
            events[3].line(Headers::None),
            checkpoint(1, "4"),
            events[4].line(Headers::None),
            checkpoint(1, "5"),
            checkpoint(1, "5"),
            checkpoint(2, "3"),
        ]
    );
}

#[test]
fn fetch_page_size_hint_limits_the_events() {
    let serve = Serve::fixture();
    let output = fetch(&serve, &["--page-size-hint", "2"]);
    assert!(output.status.success());
    let stdout = stdout_of(&output);
    let events: Vec<&str> = stdout.lines().filter(|l| l.contains("\"data\":")).collect();
    let first = partition_events(0);
    assert_eq!(
        events,
        [first[0].line(Headers::None), first[1].line(Headers::None)]
    );
    assert_eq!(lines_of_partition(&stdout, 1), [checkpoint(1, "0")]);
}

#[test]
fn fetch_with_an_unknown_cursor_prints_the_status_and_message_and_exits_1() {
    let serve = Serve::fixture();
    let output = fetch(&serve, &["--cursor", "0=999"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_of(&output), "");
    let stderr = stderr_of(&output);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("400"), "{stderr}");
    assert!(
        stderr.contains("cursor0: \"999\" is not _first, _last or a position in 0..=4"),
        "{stderr}"
    );
}

#[test]
fn fetch_with_a_partition_count_the_feed_does_not_have_exits_1() {
    let serve = Serve::fixture();
    let output = zeh()
        .args(["fetch", &serve.url, "--partitions", "4"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("400") && stderr.contains("parameter n"),
        "{stderr}"
    );
}
