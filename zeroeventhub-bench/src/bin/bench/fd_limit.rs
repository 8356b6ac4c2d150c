//! The client processes that hold thousands of connections (the latency
//! and idle workloads: one socket per consumer on each side): enough file
//! descriptors, and their one-line report.

/// Raises this process's soft limit of open files (`RLIMIT_NOFILE`) to
/// its hard limit, and fails when that still leaves fewer than `needed`
/// (plus a margin for the runtime, the database and the pipes).
///
/// With the `rlimit` crate, a safe wrapper of `getrlimit`/`setrlimit`:
/// the workspace forbids unsafe code, so not `libc` directly.
pub(crate) fn ensure(needed: usize) -> anyhow::Result<u64> {
    const MARGIN: u64 = 256;
    let limit = rlimit::increase_nofile_limit(u64::MAX)?;
    let needed = needed as u64 + MARGIN;
    anyhow::ensure!(
        limit >= needed,
        "the open-file limit is {limit} (its hard limit), {needed} needed: raise it (ulimit -Hn)"
    );
    Ok(limit)
}

/// Runs `measure` (a part of the suite holding many connections) on a
/// runtime of its own and prints its report as one JSON line.
pub(crate) fn print_report(
    measure: impl std::future::Future<Output = anyhow::Result<serde_json::Value>>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(measure)?;
    println!("{report}");
    Ok(())
}
