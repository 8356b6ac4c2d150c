//! `bench consume` and `bench probe`: our consumer for the benchmark suite.
//!
//! `consume` reads `--events` events from `_first`, following checkpoints,
//! in pages of `--page-size` (W1: one page of 100,000; W2: pages of 100,
//! over one keep-alive connection), deserialising each event's data into a
//! typed struct, and prints one JSON line: wall seconds, events, requests,
//! data bytes, CPU seconds and peak RSS. `probe` fetches one page and
//! prints the size of its body.
use std::time::Instant;

use anyhow::ensure;
use futures_util::{StreamExt, TryStreamExt};
use zeroeventhub::{Cursor, FeedLine, client::Client};
use zeroeventhub_bench::{proc_stats::Proc, workload::PersonNameChanged};

/// Options of `bench consume`: our consumer, W1 and W2.
#[derive(Debug, clap::Args)]
pub(crate) struct ConsumeArgs {
    /// The feed's URL.
    #[arg(long)]
    url: String,
    /// How many events to read from `_first` before stopping.
    #[arg(long)]
    events: u64,
    /// The `pagesizehint` of every request.
    #[arg(long)]
    page_size: u32,
    /// Tokio worker threads; 0 = a current-thread runtime.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// The protocol version: 1 (`n` and `cursor0`) or 2 (a discovery, then
    /// `events?token=..&partition=0&cursor=..`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    protocol: u8,
}

/// Options of `bench probe`: one page from `_first`, its body size.
#[derive(Debug, clap::Args)]
pub(crate) struct ProbeArgs {
    /// The feed's URL.
    #[arg(long)]
    url: String,
    /// The `pagesizehint` of the request.
    #[arg(long)]
    page_size: u32,
}

/// Consumes the feed and prints the figures as one JSON line.
pub(crate) fn run_consume(args: &ConsumeArgs) -> anyhow::Result<()> {
    let runtime = match args.threads {
        0 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        threads => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?,
    };
    let report = runtime.block_on(consume(
        &args.url,
        args.events,
        args.page_size,
        args.protocol,
    ))?;
    println!("{report}");
    Ok(())
}

/// Fetches one page and prints its body size as one JSON line.
pub(crate) fn run_probe(args: &ProbeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(probe(&args.url, args.page_size))?;
    println!("{report}");
    Ok(())
}

async fn consume(
    url: &str,
    events: u64,
    page_size: u32,
    protocol: u8,
) -> anyhow::Result<serde_json::Value> {
    // One client, so one keep-alive connection for all the pages.
    let client = Client::new(url, 1)?;
    let mut cursor = Cursor::first(0);
    let (mut received, mut requests) = (0_u64, 0_u64);
    let cpu_before = Proc::Current.cpu_seconds()?;
    let started = Instant::now();
    // Version 2: one discovery, timed with the rest.
    let token = match protocol {
        2 => {
            requests += 1;
            Some(client.discover().await?.token)
        }
        _ => None,
    };
    while received < events {
        requests += 1;
        let fetch = match &token {
            Some(token) => client.fetch_partition(token, cursor.clone()),
            None => client.fetch(std::slice::from_ref(&cursor)),
        };
        // Each line is parsed once, straight into the typed struct.
        let mut lines = fetch
            .page_size_hint(page_size)
            .send_as::<PersonNameChanged>()
            .await?;
        let before_page = received;
        while let Some(line) = lines.try_next().await? {
            match line {
                FeedLine::Event(event) => {
                    let data = event.data;
                    received += 1;
                    ensure!(
                        data.seq == received,
                        "event with seq {} where {received} was expected",
                        data.seq
                    );
                }
                FeedLine::Checkpoint(checkpoint) => cursor = checkpoint,
            }
        }
        ensure!(
            received > before_page,
            "the feed ended after {received} events, {events} expected"
        );
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = Proc::Current.cpu_seconds()? - cpu_before;
    Ok(serde_json::json!({
        "wall_s": wall,
        "events": received,
        "requests": requests,
        "cpu_s": cpu,
        "peak_rss_kib": Proc::Current.peak_rss_kib()?,
    }))
}

async fn probe(url: &str, page_size: u32) -> anyhow::Result<serde_json::Value> {
    let response = reqwest::get(format!("{url}?n=1&cursor0=_first&pagesizehint={page_size}"))
        .await?
        .error_for_status()?;
    let mut body = response.bytes_stream();
    let (mut bytes, mut chunks) = (0_usize, 0_u64);
    while let Some(chunk) = body.next().await {
        bytes += chunk?.len();
        chunks += 1;
    }
    Ok(serde_json::json!({ "body_bytes": bytes, "chunks": chunks }))
}
