//! Invalid arguments exit 2 with a usage message; `--help` explains every
//! option.

use crate::support::{stderr_of, zeh};

/// Runs `zeh ARGS`, which must be refused by the argument parser; returns
/// its stderr.
fn refused(args: &[&str]) -> String {
    let output = zeh().args(args).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

const URL: &str = "http://127.0.0.1:7070/feed/v1";

#[test]
fn a_bad_url_is_refused() {
    for command in ["fetch", "follow"] {
        let stderr = refused(&[command, "not a url", "--partitions", "3"]);
        assert!(stderr.contains("'not a url' for '<URL>'"), "{stderr}");
        let stderr = refused(&[command, "ftp://example.com/feed", "--partitions", "3"]);
        assert!(stderr.contains("scheme"), "{stderr}");
    }
}

#[test]
fn a_cursor_for_a_partition_outside_the_feed_is_refused() {
    for command in ["fetch", "follow"] {
        let stderr = refused(&[command, URL, "--partitions", "3", "--cursor", "5=x"]);
        assert!(
            stderr.contains("invalid --cursor: parameter cursor5: partition index outside 0..3"),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("Usage: zeh {command} ")),
            "{stderr}"
        );
    }
}

#[test]
fn a_cursor_not_of_the_form_p_equals_c_is_refused() {
    let stderr = refused(&["fetch", URL, "--partitions", "3", "--cursor", "nonsense"]);
    assert!(stderr.contains("expected P=CURSOR"), "{stderr}");
    let stderr = refused(&["follow", URL, "--partitions", "3", "--cursor", "x=1"]);
    assert!(stderr.contains("not a partition number"), "{stderr}");
}

#[test]
fn an_empty_or_non_printable_cursor_is_refused() {
    let stderr = refused(&["fetch", URL, "--partitions", "3", "--cursor", "0="]);
    assert!(stderr.contains("cursor is empty"), "{stderr}");
    let stderr = refused(&["fetch", URL, "--partitions", "3", "--cursor", "0=caf\u{e9}"]);
    assert!(stderr.contains("not printable ASCII"), "{stderr}");
}

#[test]
fn a_partition_given_twice_is_refused() {
    let stderr = refused(&[
        "fetch",
        URL,
        "--partitions",
        "3",
        "--cursor",
        "1=a",
        "--cursor",
        "1=b",
    ]);
    assert!(stderr.contains("given more than once"), "{stderr}");
}

#[test]
fn a_bad_duration_is_refused() {
    let stderr = refused(&[
        "follow",
        URL,
        "--partitions",
        "3",
        "--poll-interval",
        "soon",
    ]);
    assert!(
        stderr.contains("'soon' for '--poll-interval <DURATION>'"),
        "{stderr}"
    );
}

/// `fetch` and `follow` need `--partitions` only for version 1 (without
/// it they discover the feed), `serve` and `append` always.
#[test]
fn missing_or_zero_partitions_are_refused() {
    refused(&["fetch", URL, "--partitions", "0"]);
    refused(&["follow", URL, "--partitions", "0"]);
    refused(&["serve", "events.ndjson"]);
    refused(&["append", "sqlite:log.db"]);
    refused(&["append", "sqlite:log.db", "--partitions", "0"]);
}

#[test]
fn bad_serve_options_are_refused() {
    refused(&["serve", "f", "--partitions", "3", "--addr", "nowhere"]);
    refused(&["serve", "f", "--partitions", "3", "--path", "feed"]);
    refused(&[
        "serve",
        "f",
        "--partitions",
        "3",
        "--default-page-size",
        "0",
    ]);
    refused(&["fetch", URL, "--partitions", "3", "--max-line-bytes", "0"]);
    refused(&["fetch", URL, "--partitions", "3", "--headers", "a,,b"]);
}

/// `zeh ARGS --help`.
fn help(args: &[&str]) -> String {
    let output = zeh().args(args).arg("--help").output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn help_lists_the_commands_with_examples() {
    let text = help(&[]);
    for word in [
        "fetch",
        "follow",
        "serve",
        "append",
        "Examples:",
        "zeh serve events.ndjson",
        "--store sqlite:consumer.db",
        "zeh append sqlite:producer.db",
        "zeh serve sqlite:producer.db",
    ] {
        assert!(text.contains(word), "{word} in {text}");
    }
}

#[test]
fn each_command_help_explains_every_option_with_an_example() {
    let feed = [
        "<URL>",
        "--partitions",
        "--cursor",
        "--page-size-hint",
        "--headers",
    ];
    for (command, options) in [
        ("fetch", vec!["--max-line-bytes"]),
        (
            "follow",
            vec!["--poll-interval", "--until-caught-up", "--store"],
        ),
        (
            "serve",
            vec!["<SOURCE>", "--addr", "--path", "--default-page-size"],
        ),
        ("append", vec!["<STORE>", "--partitions", "[FILE]"]),
    ] {
        let text = help(&[command]);
        let all: Vec<&str> = if command == "serve" || command == "append" {
            options
        } else {
            feed.iter().copied().chain(options).collect()
        };
        for option in all {
            let explanation = explanation_of(&text, option)
                .unwrap_or_else(|| panic!("{command} --help lacks {option}: {text}"));
            assert!(
                explanation.split_whitespace().count() > 3,
                "{command} {option} is explained: {explanation}"
            );
            assert!(
                explanation.contains("e.g. ") || option == "--until-caught-up",
                "{command} {option} has an example: {explanation}"
            );
        }
        assert!(text.contains("Examples:"), "{command}: {text}");
        assert!(
            text.contains(&format!("zeh {command} ")),
            "{command}: {text}"
        );
    }
}

#[test]
fn help_explains_the_store_tables_and_what_append_prints() {
    let follow = help(&["follow"]);
    for word in [
        "zeh_events",
        "zeh_consumer_cursors",
        "zeh cursors STORE",
        "one transaction",
        "resumes from the stored",
        "stored cursor",
        "exactly",
        "printed once it committed",
        "form a group",
    ] {
        assert!(follow.contains(word), "{word} in {follow}");
    }
    let serve = help(&["serve"]);
    for word in [
        "sqlite:PATH",
        "postgres://",
        "zeh_event_log",
        "next request",
    ] {
        assert!(serve.contains(word), "{word} in {serve}");
    }
    let append = help(&["append"]);
    for word in [
        "appended in one",
        "<stdin>:LINE",
        "checkpoint line per partition",
    ] {
        assert!(append.contains(word), "{word} in {append}");
    }
}

/// The help text of `option` in `help`: what follows it on its line and
/// the indented lines below, up to the next option or a blank line.
fn explanation_of(help: &str, option: &str) -> Option<String> {
    let mut lines = help.lines().skip_while(|line| {
        !line.trim_start().starts_with(&format!("{option} ")) && line.trim() != option
    });
    let first = lines.next()?.trim_start().strip_prefix(option)?;
    // Skip the value name (`<N>`) after the option, if any.
    let first = match first.trim_start().strip_prefix('<') {
        Some(rest) => rest.split_once('>').map_or("", |(_, after)| after),
        None => first,
    };
    let below = lines.take_while(|line| {
        let line = line.trim_start();
        !line.is_empty() && !line.starts_with('-') && !line.starts_with('<')
    });
    Some(
        std::iter::once(first)
            .chain(below)
            .collect::<Vec<_>>()
            .join(" "),
    )
}
