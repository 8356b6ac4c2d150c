//! The orchestrator: runs every workload on each side and prints the report.

use std::fs;

use anyhow::{Context, bail};
use clap::ValueEnum;
use zeroeventhub_bench::{ceiling, workload::DEFAULT_EVENTS};

use crate::{
    load::Generator,
    pg,
    procs::which,
    python::Python,
    report::{self, Measurement},
    workloads::{FOLLOW_PAGE, Outcome, Settings, Side, Suite, Workload},
    zeh,
};

/// Options of the suite (`bench` without a subcommand).
#[derive(Debug, clap::Args)]
pub(crate) struct SuiteArgs {
    /// Timed runs of each workload of ours (W3: see --w3-runs).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Timed runs of W3 of ours (each lasts --w3-seconds).
    #[arg(long, default_value_t = 3)]
    w3_runs: usize,
    /// Also run the Python reference (the venv at target/py-venv, or $ZEH_PYTHON).
    #[arg(long)]
    python: bool,
    /// Timed runs of each workload of the Python reference (slow: seconds each); W3 runs once.
    #[arg(long, default_value_t = 2)]
    python_runs: usize,
    /// Smoke test: 2,000 events, W3 for 1 s, one run of everything.
    #[arg(long)]
    quick: bool,
    /// The feed's length [default: 100,000; 2,000 with --quick].
    #[arg(long)]
    events: Option<u64>,
    /// How long each W3 run lasts [default: 10; 1 with --quick].
    #[arg(long)]
    w3_seconds: Option<f64>,
    /// W3's load generator.
    #[arg(long, value_enum, default_value_t = GeneratorChoice::Auto)]
    load_generator: GeneratorChoice,
    /// Tokio worker threads of `bench consume` (0 = a current-thread runtime).
    #[arg(long, default_value_t = 0)]
    client_threads: usize,
    /// Events appended per latency case [default: 1,000; 10 with --quick].
    #[arg(long)]
    latency_events: Option<u64>,
    /// Consumer counts of the latency cases, comma-separated [default: 1,100,1000; 2 with --quick].
    #[arg(long, value_delimiter = ',')]
    latency_consumers: Vec<usize>,
    /// Consumer counts of the idle cases, comma-separated [default: 1000,10000; 10 with --quick].
    #[arg(long, value_delimiter = ',')]
    idle_consumers: Vec<usize>,
    /// The quiet period of each idle case, in seconds [default: 10; 1 with --quick].
    #[arg(long)]
    idle_seconds: Option<f64>,
    /// Only these workloads (comma-separated) [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Workload>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GeneratorChoice {
    /// `wrk` when it is on the PATH, else `bench load`.
    Auto,
    Wrk,
    Rust,
}

/// Runs the suite and prints the report.
pub(crate) fn run(args: &SuiteArgs) -> anyhow::Result<()> {
    let workloads: Vec<Workload> = Workload::ALL
        .into_iter()
        .filter(|w| args.only.is_empty() || args.only.contains(w))
        .collect();
    let suite = suite(args, &workloads)?;
    let settings = &suite.settings;

    println!("# ZeroEventHub benchmark suite\n");
    print_setup(&suite, args, &workloads);

    let mut sides = vec![Side::Ours];
    if suite.python.is_some() {
        sides.push(Side::Python);
    }
    // First, while nothing of ours runs: best of 5, CPU time of one thread.
    eprintln!("bench: serde_json ceiling ...");
    let ceiling = ceiling::measure(settings.events, 5)?;
    let mut measurements = Vec::new();
    for side in sides {
        let mut full_body_bytes = None;
        for &workload in &workloads {
            eprintln!("bench: {} ({}) ...", workload.name(), side.name());
            let outcome = suite.measure(side, workload, full_body_bytes);
            match &outcome {
                Outcome::Stream(runs) if workload == Workload::W1 => {
                    full_body_bytes = runs.body_bytes
                }
                Outcome::Failed(why) => {
                    eprintln!("bench: {} ({}) failed: {why}", workload.name(), side.name())
                }
                _ => {}
            }
            measurements.push(Measurement {
                workload,
                side,
                outcome,
            });
        }
    }

    // Figures and ratios only: the targets and how they stand are in
    // BENCHMARKS.md.
    println!("{}", report::render(&measurements, &ceiling));
    let failed: usize = measurements.iter().map(|m| m.outcome.failures()).sum();
    if failed > 0 {
        bail!("{failed} workload(s) failed");
    }
    Ok(())
}

fn suite(args: &SuiteArgs, workloads: &[Workload]) -> anyhow::Result<Suite> {
    let quick = args.quick;
    let settings = Settings {
        events: args
            .events
            .unwrap_or(if quick { 2_000 } else { DEFAULT_EVENTS }),
        runs: if quick { 1 } else { args.runs.max(1) },
        w3_runs: if quick { 1 } else { args.w3_runs.max(1) },
        python_runs: if quick { 1 } else { args.python_runs.max(1) },
        w3_seconds: args.w3_seconds.unwrap_or(if quick { 1.0 } else { 10.0 }),
        client_threads: args.client_threads,
        latency_events: args
            .latency_events
            .unwrap_or(if quick { 10 } else { 1_000 })
            .max(1),
        latency_consumers: or_default(&args.latency_consumers, quick, &[2], &[1, 100, 1_000]),
        idle_consumers: or_default(&args.idle_consumers, quick, &[10], &[1_000, 10_000]),
        idle_seconds: args.idle_seconds.unwrap_or(if quick { 1.0 } else { 10.0 }),
    };
    // The server, clients and load generator are this same executable,
    // started as separate processes with a subcommand.
    let exe = std::env::current_exe().context("cannot locate this executable")?;
    let generator = match (args.load_generator, which("wrk")) {
        (GeneratorChoice::Auto | GeneratorChoice::Wrk, Some(wrk)) => Generator::Wrk(wrk),
        (GeneratorChoice::Wrk, None) => bail!("--load-generator wrk: wrk is not on the PATH"),
        (GeneratorChoice::Auto | GeneratorChoice::Rust, _) => Generator::Rust(exe.clone()),
    };
    let python = if args.python {
        Python::find()
            .map_err(|why| eprintln!("bench: Python reference skipped: {why}"))
            .ok()
    } else {
        None
    };
    // Built (if need be) before anything is measured.
    let zeh = if workloads.contains(&Workload::FollowSqliteZeh) {
        let located = zeh::locate(quick);
        if let Err(why) = &located {
            eprintln!(
                "bench: {}: skipped: {why}",
                Workload::FollowSqliteZeh.name()
            );
        }
        located
    } else {
        Err("not selected".into())
    };
    let pg = if workloads.iter().any(|w| w.uses_postgres()) {
        pg::locate()
    } else {
        Err(pg::Unavailable {
            reason: "not selected".into(),
            fatal: false,
        })
    };
    if let Err(unavailable) = &pg
        && unavailable.reason != "not selected"
    {
        eprintln!(
            "bench: PostgreSQL workloads {}: {}",
            if unavailable.fatal {
                "FAIL (CI)"
            } else {
                "skipped"
            },
            unavailable.reason
        );
    }
    Ok(Suite {
        settings,
        exe,
        curl: which("curl"),
        generator,
        python,
        zeh,
        pg,
    })
}

/// `given`, unless empty: then the quick or the full default.
fn or_default(given: &[usize], quick: bool, quick_default: &[usize], full: &[usize]) -> Vec<usize> {
    match (given.is_empty(), quick) {
        (false, _) => given.to_vec(),
        (true, true) => quick_default.to_vec(),
        (true, false) => full.to_vec(),
    }
}

/// The machine, the build's profile and the load average now, as the
/// first line of a report's setup: `- machine: ...`.
pub(crate) fn machine_line() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let profile = if cfg!(debug_assertions) {
        "DEBUG build: figures are not representative, use --release"
    } else {
        "release build"
    };
    format!(
        "- machine: {cpu}, {cores} cores, loopback; {profile}; load average at the start {}",
        load_average()
    )
}

/// The 1-, 5- and 15-minute load averages of `/proc/loadavg`.
pub(crate) fn load_average() -> String {
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_setup(suite: &Suite, args: &SuiteArgs, workloads: &[Workload]) {
    let s = &suite.settings;
    println!("{}", machine_line());
    println!(
        "- feed: {} events (each followed by its checkpoint), 1 partition; W2/W3 pages of 100",
        s.events
    );
    println!(
        "- runs: {} per workload of ours, W3 {} x {} s; Python reference: {}",
        s.runs,
        s.w3_runs,
        s.w3_seconds,
        match (&suite.python, args.python) {
            (Some(_), _) => format!("{} run(s) per workload, W3 once", s.python_runs),
            (None, true) => "skipped (see above)".into(),
            (None, false) => "not requested (--python)".into(),
        }
    );
    println!(
        "- W3 load generator: {}, 16 connections; W1 server alone: {}; client runtime: {}",
        suite.generator.name(),
        if suite.curl.is_some() {
            "curl"
        } else {
            "skipped (no curl)"
        },
        match s.client_threads {
            0 => "tokio current-thread".to_owned(),
            n => format!("tokio multi-thread, {n} workers"),
        }
    );
    if workloads.iter().any(|w| w.is_sql()) {
        println!(
            "- SQL: SQLite files (WAL, synchronous FULL) in a temporary directory; follow workloads \
             in pages of {FOLLOW_PAGE}; zeh: {}",
            match &suite.zeh {
                Ok(zeh) => zeh.display().to_string(),
                Err(why) => why.clone(),
            }
        );
    }
    if workloads.iter().any(|w| w.uses_postgres()) {
        println!(
            "- PostgreSQL: {}",
            match &suite.pg {
                Ok(url) => format!("{url}, a fresh schema per run"),
                Err(unavailable) => unavailable.reason.clone(),
            }
        );
    }
    if workloads.contains(&Workload::Latency) {
        println!(
            "- latency: {} events per case, consumers {:?}, one partition, long-poll wait 20 s",
            s.latency_events, s.latency_consumers
        );
    }
    if workloads.contains(&Workload::Idle) {
        println!(
            "- idle: {:?} waiting consumers (wait 60 s), quiet period {} s",
            s.idle_consumers, s.idle_seconds
        );
    }
    println!();
}
