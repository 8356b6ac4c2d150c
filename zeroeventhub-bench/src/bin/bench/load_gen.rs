//! `bench load`: the suite's W3 load generator, for machines without `wrk`.
//!
//! `--connections` tasks, each with its own keep-alive connection, request
//! the same URL back to back for `--seconds`, reading every body whole.
//! Prints one JSON line: requests, requests/s, latency p50/p99 in ms, errors.
use std::time::{Duration, Instant};

use anyhow::Context;
use zeroeventhub_bench::stats::percentile;

/// Options of `bench load`.
#[derive(Debug, clap::Args)]
pub(crate) struct LoadArgs {
    /// The full URL to request, query included.
    #[arg(long)]
    url: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// How long to keep requesting.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

/// What one connection saw: latencies of successful requests (µs), errors.
type Tally = (Vec<u64>, u64);

/// Generates the load and prints the figures as one JSON line.
pub(crate) fn run(args: &LoadArgs) -> anyhow::Result<()> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads);
    }
    let runtime = runtime.enable_all().build()?;
    let duration = Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let tallies = runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + duration;
        let tasks: Vec<_> = (0..args.connections)
            .map(|_| tokio::spawn(connection(args.url.clone(), deadline)))
            .collect();
        let mut tallies = Vec::with_capacity(tasks.len());
        for task in tasks {
            tallies.push(task.await.context("a connection task panicked")??);
        }
        anyhow::Ok(tallies)
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let errors: u64 = tallies.iter().map(|(_, errors)| errors).sum();
    let mut latencies: Vec<u64> = tallies.into_iter().flat_map(|(l, _)| l).collect();
    latencies.sort_unstable();
    let millis = |p| percentile(&latencies, p).map(|micros| micros as f64 / 1000.0);
    let report = serde_json::json!({
        "requests": latencies.len(),
        "errors": errors,
        "rps": latencies.len() as f64 / elapsed,
        "p50_ms": millis(50.0),
        "p99_ms": millis(99.0),
    });
    println!("{report}");
    Ok(())
}

/// One keep-alive connection requesting `url` until `deadline`.
async fn connection(url: String, deadline: tokio::time::Instant) -> anyhow::Result<Tally> {
    // A client per task: its own pool, so one connection per task.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()?;
    let (mut latencies, mut errors) = (Vec::new(), 0);
    while tokio::time::Instant::now() < deadline {
        let sent = Instant::now();
        let outcome = async {
            let response = http.get(&url).send().await?.error_for_status()?;
            response.bytes().await
        }
        .await;
        match outcome {
            Ok(_) => latencies.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX)),
            Err(_) => errors += 1,
        }
    }
    Ok((latencies, errors))
}
