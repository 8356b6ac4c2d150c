//! The suite in `--quick` mode, as CI runs it: it must work end to end and
//! print every workload. No assertion on any figure.
//!
//! The follow workload with `zeh` runs only when `zeh` was built beside
//! `bench` (`cargo test --workspace` builds it); otherwise it is skipped.
//! The other SQL workloads always run.

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
    ] {
        assert!(stdout.contains(workload), "no {workload:?} in:\n{stdout}");
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
