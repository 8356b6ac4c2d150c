//! `bench idle-client`: what waiting consumers cost a producer while
//! nothing happens.
//!
//! Starts `--consumers` long-polling consumers of `bench latency-server`'s
//! feed (each asking to wait `--wait-s`, longer than the measurement, so
//! that no request ends meanwhile), waits until the server holds all of
//! them, lets them settle for `--settle-s`, then reads the server's CPU
//! time before and after `--quiet-s` seconds without events, and its
//! resident and peak memory at the end. Prints one JSON line.

use std::time::{Duration, Instant};

use zeroeventhub_bench::proc_stats::Proc;

use crate::{fd_limit, latency_client::ramp_up, tail::Asking};

/// Options of `bench idle-client`.
#[derive(Debug, clap::Args)]
pub(crate) struct IdleClientArgs {
    /// The feed's URL (`bench latency-server`).
    #[arg(long)]
    url: String,
    /// The server's process id, to read its CPU time and memory.
    #[arg(long)]
    server_pid: u32,
    /// Waiting consumers, each with a connection of its own.
    #[arg(long)]
    consumers: usize,
    /// The wait each request asks for, in seconds.
    #[arg(long, default_value_t = 60)]
    wait_s: u64,
    /// Seconds between the last consumer's arrival and the measurement.
    #[arg(long, default_value_t = 2.0)]
    settle_s: f64,
    /// The quiet period measured, in seconds.
    #[arg(long, default_value_t = 10.0)]
    quiet_s: f64,
}

/// Measures and prints the figures as one JSON line.
pub(crate) fn run(args: &IdleClientArgs) -> anyhow::Result<()> {
    fd_limit::ensure(args.consumers)?;
    fd_limit::print_report(measure(args))
}

async fn measure(args: &IdleClientArgs) -> anyhow::Result<serde_json::Value> {
    let asking = Asking::LongPoll(Duration::from_secs(args.wait_s));
    let started = Instant::now();
    let consumers = ramp_up(&args.url, args.consumers, 0, asking).await?;
    let ramp_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(args.settle_s)).await;

    let server = Proc::Pid(args.server_pid);
    let requests_before = consumers.requests();
    let cpu_before = server.cpu_seconds()?;
    let quiet = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.quiet_s)).await;
    let quiet_s = quiet.elapsed().as_secs_f64();
    let cpu_s = server.cpu_seconds()? - cpu_before;
    let requests = consumers.requests() - requests_before;
    Ok(serde_json::json!({
        "consumers": args.consumers,
        "ramp_s": ramp_s,
        "quiet_s": quiet_s,
        "server_cpu_s": cpu_s,
        "server_rss_kib": server.rss_kib()?,
        "server_peak_rss_kib": server.peak_rss_kib()?,
        "client_rss_kib": Proc::Current.rss_kib()?,
        "requests_meanwhile": requests,
        "errors": consumers.errors(),
    }))
}
