//! `bench load`: the suite's W3 load generator, for machines without `wrk`.
//!
//! `--connections` tasks, each with its own keep-alive HTTP/1.1
//! connection ([`http1`](crate::http1): one TCP connection each, as wrk),
//! request the same URL back to back for `--seconds`, reading every body
//! whole. Prints one JSON line: requests, requests/s, latency p50/p99 in
//! ms, errors (statuses of 400 or more, broken connections).
//!
//! With `--report-every S` (the soak), it first prints `{"started":true}`
//! as it starts requesting, then one JSON line per interval of S seconds
//! (the last one shorter if S does not divide `--seconds`): the interval's
//! number from 1, its end and length in seconds, its requests, errors,
//! requests/s and latency p50/p99. Each interval's latencies are dropped
//! once printed, so that a long run's memory stays flat; the last line
//! then has the run's requests, errors and requests/s, and no percentiles.
//! With `--hold-s`, the connections stay open that long after the last
//! request (the last line comes after that).
use std::{
    io::Write,
    mem,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use zeroeventhub_bench::stats::percentile;

use crate::http1::{Connection, Target};

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
    /// Print the figures of every interval of this many seconds as it ends.
    #[arg(long)]
    report_every: Option<f64>,
    /// Seconds to keep the connections open, idle, after the last request
    /// (so that whoever counts the server's descriptors at the end of the
    /// run does not race with their closing).
    #[arg(long, default_value_t = 0.0)]
    hold_s: f64,
}

/// What one connection has seen since its tally was last taken.
#[derive(Debug, Default)]
struct Tally {
    /// Latencies of successful requests, in µs.
    latencies: Vec<u64>,
    errors: u64,
}

/// A connection's tally, which the reporter takes now and then.
type SharedTally = Arc<Mutex<Tally>>;

/// The ends of the intervals of `every` in a run of `duration`, measured
/// from its start: `every`, `2 * every` ... and `duration` itself last
/// (the last interval is shorter when `every` does not divide
/// `duration`). The soak samples at the same ends.
pub(crate) fn interval_ends(duration: Duration, every: Duration) -> Vec<Duration> {
    let mut ends = Vec::new();
    if !every.is_zero() {
        let mut end = every;
        while end < duration {
            ends.push(end);
            end += every;
        }
    }
    ends.push(duration);
    ends
}

/// Generates the load and prints the figures as JSON lines.
pub(crate) fn run(args: &LoadArgs) -> anyhow::Result<()> {
    let every = match args.report_every {
        Some(seconds) => {
            ensure!(seconds > 0.0, "--report-every must be above 0");
            Some(Duration::from_secs_f64(seconds))
        }
        None => None,
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads);
    }
    let runtime = runtime.enable_all().build()?;
    let duration = Duration::from_secs_f64(args.seconds);
    let target = Target::get(&args.url)?;
    let tallies: Vec<SharedTally> = (0..args.connections)
        .map(|_| SharedTally::default())
        .collect();
    let mut stdout = std::io::stdout();
    if every.is_some() {
        writeln!(stdout, "{}", serde_json::json!({ "started": true }))?;
        stdout.flush()?;
    }
    let started = Instant::now();
    let (requests, errors, elapsed) = runtime.block_on(async {
        let start = tokio::time::Instant::now();
        let deadline = start + duration;
        let tasks: Vec<_> = tallies
            .iter()
            .map(|tally| tokio::spawn(connection(target.clone(), deadline, Arc::clone(tally))))
            .collect();
        let (mut requests, mut errors) = (0, 0);
        let mut clients = Vec::with_capacity(tasks.len());
        if let Some(every) = every {
            let ends = interval_ends(duration, every);
            let mut previous = Duration::ZERO;
            // Every interval but the last ends at its tick.
            for (index, &end) in ends[..ends.len() - 1].iter().enumerate() {
                tokio::time::sleep_until(start + end).await;
                let (latencies, failed) = take(&tallies);
                requests += latencies.len() as u64;
                errors += failed;
                print_interval(index + 1, end, end - previous, &latencies, failed)?;
                previous = end;
            }
            // The last one ends with the connections.
            for task in tasks {
                clients.push(task.await.context("a connection task panicked")??);
            }
            let (latencies, failed) = take(&tallies);
            requests += latencies.len() as u64;
            errors += failed;
            let end = start.elapsed().max(previous);
            print_interval(ends.len(), end, end - previous, &latencies, failed)?;
        } else {
            for task in tasks {
                clients.push(task.await.context("a connection task panicked")??);
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::try_from_secs_f64(args.hold_s)?).await;
        drop(clients);
        anyhow::Ok((requests, errors, elapsed))
    })?;
    let report = if every.is_some() {
        serde_json::json!({
            "requests": requests,
            "errors": errors,
            "rps": requests as f64 / elapsed,
            "p50_ms": null,
            "p99_ms": null,
        })
    } else {
        let (latencies, errors) = take(&tallies);
        let millis = |p| percentile(&latencies, p).map(|micros| micros as f64 / 1000.0);
        serde_json::json!({
            "requests": latencies.len(),
            "errors": errors,
            "rps": latencies.len() as f64 / elapsed,
            "p50_ms": millis(50.0),
            "p99_ms": millis(99.0),
        })
    };
    writeln!(stdout, "{report}")?;
    Ok(())
}

/// Every connection's latencies since the last call, sorted, and their
/// errors.
fn take(tallies: &[SharedTally]) -> (Vec<u64>, u64) {
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for tally in tallies {
        let mut tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
        latencies.append(&mut tally.latencies);
        errors += mem::take(&mut tally.errors);
    }
    latencies.sort_unstable();
    (latencies, errors)
}

/// One interval's JSON line.
fn print_interval(
    index: usize,
    end: Duration,
    length: Duration,
    sorted: &[u64],
    errors: u64,
) -> anyhow::Result<()> {
    let millis = |p| percentile(sorted, p).map(|micros| micros as f64 / 1000.0);
    let line = serde_json::json!({
        "interval": index,
        "end_s": end.as_secs_f64(),
        "length_s": length.as_secs_f64(),
        "requests": sorted.len(),
        "errors": errors,
        "rps": sorted.len() as f64 / length.as_secs_f64().max(1e-9),
        "p50_ms": millis(50.0),
        "p99_ms": millis(99.0),
    });
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}

/// One keep-alive connection requesting `target` until `deadline`,
/// adding each request's outcome to `tally` (a status of 400 or more, or
/// a broken connection, is an error: the next request opens a new one);
/// returns the connection, still open.
async fn connection(
    target: Target,
    deadline: tokio::time::Instant,
    tally: SharedTally,
) -> anyhow::Result<Option<Connection>> {
    let mut open: Option<Connection> = None;
    while tokio::time::Instant::now() < deadline {
        let sent = Instant::now();
        let outcome = async {
            let connection = match &mut open {
                Some(connection) => connection,
                None => open.insert(Connection::open(&target).await?),
            };
            connection.get(&target).await
        }
        .await;
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        let ok = match outcome {
            Ok(answer) => {
                if !answer.reusable {
                    open = None;
                }
                answer.status < 400
            }
            Err(_) => {
                open = None;
                false
            }
        };
        let mut tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
        if ok {
            tally.latencies.push(micros);
        } else {
            tally.errors += 1;
        }
    }
    Ok(open)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_end_at_the_run_s_end() {
        let s = Duration::from_secs;
        assert_eq!(interval_ends(s(3), s(1)), [s(1), s(2), s(3)]);
        assert_eq!(interval_ends(s(25), s(10)), [s(10), s(20), s(25)]);
        assert_eq!(interval_ends(s(5), s(10)), [s(5)]);
        assert_eq!(interval_ends(s(600), s(10)).len(), 60);
        assert_eq!(interval_ends(s(5), Duration::ZERO), [s(5)]);
    }
}
