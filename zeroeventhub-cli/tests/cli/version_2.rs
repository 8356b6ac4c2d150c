//! Version 2 and event types through `zeh`: `serve FILE` with typed input
//! lines, `discover`, and `--event-types` / `--skip-event-types`.

use std::io::Write;

use tempfile::NamedTempFile;

use crate::support::{RawServer, Serve, status_response, stderr_of, stdout_of, zeh};

/// Two partitions; partition 0 holds events of types A, b and none.
fn typed_file() -> NamedTempFile {
    let mut file = NamedTempFile::new().unwrap();
    for line in [
        r#"{"partition":0,"type":"A","data":{"n":0}}"#,
        r#"{"partition":0,"type":"b","headers":{"h":"1"},"data":{"n":1}}"#,
        r#"{"partition":0,"data":{"n":2}}"#,
        r#"{"partition":1,"type":"A","data":{"n":3}}"#,
    ] {
        writeln!(file, "{line}").unwrap();
    }
    file
}

fn fetch(serve: &Serve, extra: &[&str]) -> String {
    let mut args = vec!["fetch", serve.url.as_str(), "--partitions", "2"];
    args.extend_from_slice(extra);
    let output = zeh().args(&args).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    stdout_of(&output)
}

#[test]
fn discover_prints_the_document_of_zeh_serve_as_one_json_line() {
    let file = typed_file();
    let serve = Serve::start(&[file.path().to_str().unwrap(), "--partitions", "2"]);
    let output = zeh().args(["discover", &serve.url]).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        stdout_of(&output),
        "{\"token\":\"1\",\"exactlyOnce\":true,\"partitions\":[{\"id\":\"0\"},{\"id\":\"1\"}]}\n"
    );
}

#[test]
fn discover_names_version_1_when_the_producer_answers_400() {
    let server = RawServer::start(vec![status_response(
        "400 Bad Request",
        "missing parameter n (the partition count)",
    )]);
    let output = zeh().args(["discover", &server.url]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("speaks version 1 only"),
        "{}",
        stderr_of(&output)
    );
    assert_eq!(server.requests(), ["GET /feed HTTP/1.1"]);
}

#[test]
fn event_type_filters_select_the_typed_input_lines() {
    let file = typed_file();
    let serve = Serve::start(&[file.path().to_str().unwrap(), "--partitions", "2"]);
    let only = fetch(&serve, &["--cursor", "0=_first", "--event-types", "a"]);
    assert_eq!(
        only,
        "{\"partition\":0,\"data\":{\"n\":0}}\n{\"partition\":0,\"cursor\":\"1\"}\n{\"partition\":0,\"cursor\":\"3\"}\n"
    );
    // Untyped events are kept by skip-event-types; the headers stay.
    let skip = fetch(
        &serve,
        &[
            "--cursor",
            "0=_first",
            "--skip-event-types",
            "A",
            "--headers",
            "_all",
        ],
    );
    assert!(
        skip.contains("{\"n\":1}") && skip.contains("{\"n\":2}"),
        "{skip}"
    );
    assert!(!skip.contains("{\"n\":0}"), "{skip}");
    assert!(skip.contains("\"headers\":{\"h\":\"1\"}"), "{skip}");
    // Without a filter every event comes, typed or not.
    assert_eq!(fetch(&serve, &[]).matches("\"data\"").count(), 4);
}

#[test]
fn malformed_event_type_options_are_usage_errors() {
    for args in [
        ["--event-types", "a,,b"].as_slice(),
        &["--event-types", "a;b"],
        &["--event-types", "a", "--skip-event-types", "b"],
    ] {
        let mut all = vec!["fetch", "http://127.0.0.1:9/feed", "--partitions", "2"];
        all.extend_from_slice(args);
        let output = zeh().args(&all).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr_of(&output)
        );
    }
}

#[test]
fn a_type_that_is_not_a_string_is_an_error_naming_the_line() {
    let mut file = NamedTempFile::new().unwrap();
    writeln!(file, r#"{{"partition":0,"data":1}}"#).unwrap();
    writeln!(file, r#"{{"partition":0,"type":7,"data":2}}"#).unwrap();
    let output = zeh()
        .args([
            "serve",
            file.path().to_str().unwrap(),
            "--partitions",
            "1",
            "--addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(stderr.contains(":2: `type` must be a string"), "{stderr}");
}

#[test]
fn append_stores_the_type_of_each_line_and_serve_filters_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("log.db").display());
    let file = typed_file();
    let output = zeh()
        .args([
            "append",
            &store,
            "--partitions",
            "2",
            file.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let serve = Serve::start(&[&store, "--partitions", "2"]);
    let only = fetch(&serve, &["--cursor", "0=_first", "--event-types", "B"]);
    assert!(
        only.contains("{\"n\":1}") && !only.contains("{\"n\":0}"),
        "{only}"
    );
    // The SQL log speaks version 2 as well.
    let output = zeh().args(["discover", &serve.url]).output().unwrap();
    assert!(
        stdout_of(&output).starts_with("{\"token\":\"p2\""),
        "{}",
        stdout_of(&output)
    );
}
