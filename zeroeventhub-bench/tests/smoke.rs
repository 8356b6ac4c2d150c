//! The suite in `--quick` mode, as CI runs it: it must work end to end and
//! print every workload. No assertion on any figure. Then `bench soak` for
//! a few seconds on each log: a row per second, every event delivered to
//! every consumer exactly once.
//!
//! The follow workload with `zeh` runs only when `zeh` was built beside
//! `bench` (`cargo test --workspace` builds it); otherwise it is skipped.
//! The other SQLite workloads always run. The PostgreSQL workloads and
//! cases run when `ZEH_PG_URL` names a server (CI sets it); without it they
//! are skipped, with the reason printed; under CI a server that does not
//! answer fails the suite.

use std::process::Command;

#[test]
fn quick_suite_runs_every_workload() {
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        // The suite's own load generator, so that it is exercised even
        // where wrk is installed.
        .args(["--quick", "--load-generator", "rust"])
        .output()
        .expect("the bench binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench --quick failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    for workload in [
        "W1 bulk replay",
        "W1 server alone",
        "W2 paged",
        "W1 per-line framing",
        "W3 tailing",
        "W1 from SQLite log",
        "follow into SQLite (zeh)",
        "consume into SQLite (library)",
        "W1 from PostgreSQL log",
        "consume into PostgreSQL (library)",
        "Commit to consumer",
        "Waiting consumers",
    ] {
        assert!(stdout.contains(workload), "no {workload:?} in:\n{stdout}");
    }
    // Every latency case of the in-memory and SQLite logs ran: long-poll,
    // poll 1 s, poll 100 ms (SQLite: also `publish`, long-poll only).
    let rows = |prefix: &str| {
        stdout
            .lines()
            .filter(|line| line.starts_with(prefix))
            .collect::<Vec<_>>()
    };
    for (prefix, count) in [
        ("| in-memory | serving process |", 3),
        ("| SQLite | serving process |", 3),
        ("| SQLite | serving process, `publish` |", 1),
        ("| SQLite | another process |", 3),
    ] {
        let found = rows(prefix);
        assert_eq!(found.len(), count, "latency rows {prefix:?}: {found:#?}");
        for row in found {
            assert!(!row.contains("skipped") && !row.contains("FAILED"), "{row}");
        }
    }
    for log in ["in-memory", "SQLite"] {
        let idle = rows(&format!("| {log} | 10 |"));
        assert_eq!(idle.len(), 1, "no idle row of {log}:\n{stdout}");
        assert!(!idle[0].contains("skipped"), "{}", idle[0]);
    }
    let postgres = [
        "| W1 from PostgreSQL log | ours |",
        "| consume into PostgreSQL (library) | ours |",
        "| PostgreSQL | another process | long-poll |",
        "| PostgreSQL | 10 |",
    ];
    if std::env::var_os("ZEH_PG_URL").is_some() {
        for prefix in postgres {
            let found = rows(prefix);
            assert!(!found.is_empty(), "no row {prefix:?} in:\n{stdout}");
            assert!(!found[0].contains("skipped"), "{}", found[0]);
        }
    } else {
        eprintln!("skipped: the PostgreSQL workloads (ZEH_PG_URL unset; set it to run them)");
    }
    for workload in ["W1 from SQLite log", "consume into SQLite (library)"] {
        let row = stdout
            .lines()
            .find(|line| line.starts_with(&format!("| {workload} | ours |")))
            .unwrap_or_else(|| panic!("no row of {workload:?} in:\n{stdout}"));
        assert!(!row.contains("skipped"), "{workload:?} did not run: {row}");
    }
    assert!(stdout.contains("| workload |"), "no table in:\n{stdout}");
    assert!(
        stdout.contains("bench load"),
        "W3 did not use bench load:\n{stdout}"
    );
}

/// `bench soak` for 3 s, sampled every second: what a user checks is that
/// it prints its rows and summary, and that nothing was lost or
/// duplicated (the command itself fails otherwise).
fn soak(log: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "soak",
            "--duration",
            "3s",
            "--sample-every",
            "1",
            "--consumers",
            "5",
            "--rate",
            "50",
            "--connections",
            "2",
            "--log",
            log,
        ])
        .output()
        .expect("the bench binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench soak --log {log} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("| time | RSS MiB | fds |"),
        "no table in:\n{stdout}"
    );
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("| 0:0"))
        .collect();
    assert_eq!(rows.len(), 3, "rows of one second each in:\n{stdout}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("bench: soak: 0:0"))
            .count(),
        3,
        "a progress line per sample in:\n{stderr}"
    );
    let delivered = stdout
        .lines()
        .find(|line| line.starts_with("- delivered: "))
        .unwrap_or_else(|| panic!("no delivered line in:\n{stdout}"));
    assert!(
        delivered.ends_with("lost 0, duplicated 0, failed requests 0"),
        "{delivered}"
    );
    // Every event appended (up to 150: 3 s at 50/s; fewer if the
    // appends fall behind) reached each of the 5 consumers.
    let counts: Vec<u64> = delivered["- delivered: ".len()..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|word| !word.is_empty())
        .take(4)
        .map(|number| number.parse().unwrap())
        .collect();
    let [receipts, due, events, consumers] = counts[..] else {
        panic!("{delivered}");
    };
    assert_eq!((receipts, consumers), (due, 5), "{delivered}");
    assert!(
        events > 0 && events <= 150 && receipts == events * 5,
        "{delivered}"
    );
    for figure in ["- producer RSS: first ", "- producer open fds: first "] {
        assert!(stdout.contains(figure), "no {figure:?} in:\n{stdout}");
    }
}

#[test]
fn soak_on_the_in_memory_log() {
    soak("memory");
}

#[test]
fn soak_on_a_sqlite_log() {
    soak("sqlite");
}
