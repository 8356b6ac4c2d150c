//! `bench`: the benchmark suite of issue 5, one command.
//!
//! ```text
//! cargo run --release -p zeroeventhub-bench --bin bench -- [--runs 5] [--python] [--quick]
//! ```
//!
//! Without a subcommand, runs the suite: for each workload it starts this
//! same executable as `bench server` and, per run, as `bench consume` (or
//! curl, wrk, `bench load`, `zeh`; for the long-polling workloads `bench
//! latency-server` with `bench latency-client` or `bench idle-client`),
//! all separate processes, reads the
//! server's CPU time and peak RSS from `/proc`, and prints Markdown tables
//! of medians with min–max. With `--python`, the same workloads run against
//! the Python reference and our figures are printed as ratios against it. One binary,
//! so that `cargo run` always rebuilds every part of the suite. See
//! `BENCHMARKS.md` at the repository root.
//!
//! `bench soak [--duration 10m]` is the long run beside the suite: W3's
//! tailing load and following consumers against one producer for the
//! duration, the producer's RSS, open fds and latency sampled as it goes.
// A benchmark binary: printing its report and figures is its interface.
#![allow(clippy::print_stdout)]

mod client;
mod dedicated;
mod fd_limit;
mod http1;
mod idle_client;
mod latency_client;
mod latency_server;
mod load;
mod load_gen;
mod pg;
mod procs;
mod python;
mod report;
mod server;
mod soak;
mod sql_consume;
mod sql_db;
mod sql_server;
mod sqlite;
mod suite;
mod tail;
mod workloads;
mod zeh;

use clap::{Parser, Subcommand};

/// The ZeroEventHub benchmark suite (issue 5): W1–W3 with server and client
/// as separate processes, optionally against the Python reference.
#[derive(Debug, Parser)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    part: Option<Part>,
    #[command(flatten)]
    suite: suite::SuiteArgs,
}

/// The parts of the suite, each run as its own process by the suite.
#[derive(Debug, Subcommand)]
enum Part {
    /// Our producer: serves the workload's feed, prints `listening on URL`.
    Server(server::ServerArgs),
    /// Our consumer (W1, W2): prints one JSON line of figures.
    Consume(client::ConsumeArgs),
    /// Creates a SQLite event log holding the workload's feed.
    SqlFill(sql_server::SqlFillArgs),
    /// Our producer on a SQLite event log (`sql-fill`): prints `listening on URL`.
    SqlServer(sql_server::SqlServerArgs),
    /// The library's consumer runtime into a SQLite store: prints one JSON line of figures.
    SqlConsume(sql_consume::SqlConsumeArgs),
    /// The producer of the latency and idle workloads (long-polling, an
    /// append route): prints `listening on URL`.
    LatencyServer(latency_server::LatencyServerArgs),
    /// Consumers of `latency-server` and an appender: prints the commit-to-receipt latencies as JSON.
    LatencyClient(latency_client::LatencyClientArgs),
    /// Waiting consumers of `latency-server`: prints the server's idle CPU and memory as JSON.
    IdleClient(idle_client::IdleClientArgs),
    /// One untimed page from `_first`: prints its body size as JSON.
    Probe(client::ProbeArgs),
    /// W3's load generator for machines without wrk: prints JSON.
    Load(load_gen::LoadArgs),
    /// A long run of W3's tailing load and following consumers against
    /// `latency-server`: samples the producer's RSS, open fds, CPU and the
    /// commit-to-consumer latency every interval; prints a Markdown table
    /// and a summary, and fails when an event is lost or duplicated.
    Soak(soak::SoakArgs),
    /// The serde_json ceiling alone (e.g. under `valgrind --tool=callgrind`): prints JSON.
    Ceiling {
        /// The feed's length.
        #[arg(long, default_value_t = zeroeventhub_bench::workload::DEFAULT_EVENTS)]
        events: u64,
        /// Repetitions of each parse; the best is printed.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.part {
        None => suite::run(&cli.suite),
        Some(Part::Server(args)) => server::run(args),
        Some(Part::Consume(args)) => client::run_consume(&args),
        Some(Part::SqlFill(args)) => sql_server::run_fill(&args),
        Some(Part::SqlServer(args)) => sql_server::run(args),
        Some(Part::SqlConsume(args)) => sql_consume::run(&args),
        Some(Part::LatencyServer(args)) => latency_server::run(args),
        Some(Part::LatencyClient(args)) => latency_client::run(&args),
        Some(Part::IdleClient(args)) => idle_client::run(&args),
        Some(Part::Probe(args)) => client::run_probe(&args),
        Some(Part::Load(args)) => load_gen::run(&args),
        Some(Part::Soak(args)) => soak::run(&args),
        Some(Part::Ceiling { events, repeat }) => {
            let figures = zeroeventhub_bench::ceiling::measure(events, repeat)?;
            println!("{}", serde_json::to_string(&figures)?);
            Ok(())
        }
    }
}
