//! `bench soak`: the producer under steady load for a long time, sampled
//! from the outside, to show whether its memory, descriptors and latency
//! stay flat.
//!
//! Starts `bench latency-server` (the in-memory log, or a SQLite file) as
//! a process of its own, then in this process `--consumers` following
//! consumers ([`tail`](crate::tail): long-polling with a wait of 20 s,
//! from `_first`), all held by the server before anything else starts.
//! Then, for `--duration`, all at once:
//!
//! - W3's load: `bench load` as another process, `--connections`
//!   keep-alive connections requesting `_first` with `pagesizehint=100`
//!   back to back, printing its figures every interval;
//! - the appends: `--rate` events a second through the server's append
//!   route (`append` in a transaction of its own for SQLite), on a
//!   schedule (a slow append does not push back the next ones' due
//!   times), on a thread of its own, each answered with the clock right
//!   after its commit;
//! - the consumers, each checking that the seqs reach it in order, each
//!   once.
//!
//! Every `--sample-every` it reads the producer's `VmRSS`, open file
//! descriptors (the entries of `/proc/PID/fd`) and CPU time, takes the
//! load's line of the interval and the receipts of the interval (commit to
//! receipt, as in the latency workload), and prints a line on stderr. At
//! the end, once every consumer holds every event (a minute at most), it
//! prints a Markdown table of the samples and a summary on stdout, and
//! fails when an event was lost or duplicated, or a request failed.
//!
//! Its own memory stays bounded: each interval's latencies are dropped
//! once summarised, and the commit stamps are kept only until every
//! consumer has had their events.

use std::{
    collections::VecDeque,
    fmt::Write as _,
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, PoisonError},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use clap::ValueEnum;
use serde::Deserialize;
use tokio::sync::mpsc;
use zeroeventhub_bench::{
    proc_stats::{Proc, machine_cpu_seconds},
    stats::{Summary, percentile},
    workload::SMALL_PAGE,
};

use crate::{
    dedicated::Dedicated,
    fd_limit,
    latency_client::{AppendVia, Appender, LONG_POLL, consumer_client, start_all},
    load::CONNECTIONS,
    load_gen::interval_ends,
    procs::Server,
    report::{mib, number, rate},
    suite::{load_average, machine_line},
    tail::{Asking, Consumers, Mishaps, Receipt},
    workloads::temp_dir,
};

/// How long the consumers may take to hold every event after the last
/// append.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `bench load` may take to start.
const LOAD_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after an interval's end its line from `bench load` may take.
const LOAD_LINE_GRACE: Duration = Duration::from_secs(15);

/// The producer's event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SoakLog {
    /// `MemoryLog`.
    Memory,
    /// `zeroeventhub_sqlx::EventLog` on a SQLite file (WAL, synchronous
    /// FULL) in a temporary directory.
    Sqlite,
}

impl SoakLog {
    fn name(self) -> &'static str {
        match self {
            SoakLog::Memory => "in-memory log",
            SoakLog::Sqlite => "SQLite log (WAL, synchronous FULL), appends on the outbox path",
        }
    }
}

/// Options of `bench soak`.
#[derive(Debug, clap::Args)]
pub(crate) struct SoakArgs {
    /// How long the load runs: seconds, or with a unit (`90s`, `10m`, `1h`).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    duration: Duration,
    /// How often the producer is sampled: seconds, or with a unit.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    sample_every: Duration,
    /// Following consumers (long-polling, each with a connection of its own).
    #[arg(long, default_value_t = 100)]
    consumers: usize,
    /// Events appended per second (through the producer's append route).
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// W3's keep-alive connections requesting the first page of 100.
    #[arg(long, default_value_t = CONNECTIONS)]
    connections: u32,
    /// The producer's event log.
    #[arg(long, value_enum, default_value_t = SoakLog::Memory)]
    log: SoakLog,
}

/// A duration: seconds (`600`, `2.5`), or a number with `s`, `m` or `h`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = match text.char_indices().last() {
        Some((at, 's')) => (&text[..at], 1.0),
        Some((at, 'm')) => (&text[..at], 60.0),
        Some((at, 'h')) => (&text[..at], 3600.0),
        _ => (text, 1.0),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: give seconds, or e.g. 90s, 10m, 1h"))?;
    Duration::try_from_secs_f64(value * scale).map_err(|error| format!("{text:?}: {error}"))
}

/// Runs the soak and prints its report; fails when an event was lost or
/// duplicated, or a request failed.
pub(crate) fn run(args: &SoakArgs) -> anyhow::Result<()> {
    ensure!(!args.duration.is_zero(), "--duration must be above 0");
    ensure!(
        !args.sample_every.is_zero(),
        "--sample-every must be above 0"
    );
    ensure!(
        args.rate.is_finite() && args.rate > 0.0,
        "--rate must be above 0"
    );
    ensure!(args.consumers > 0, "--consumers must be at least 1");
    ensure!(args.connections > 0, "--connections must be at least 1");
    fd_limit::ensure(args.consumers)?;
    let exe = std::env::current_exe().context("cannot locate this executable")?;

    // The log's directory outlives the server (dropped in reverse order).
    let dir = match args.log {
        SoakLog::Memory => None,
        SoakLog::Sqlite => Some(temp_dir()?),
    };
    let mut command = Command::new(&exe);
    command.args(["latency-server", "--port", "0"]);
    if let Some(dir) = &dir {
        command.arg("--db").arg(dir.path().join("producer.db"));
    }
    let server = Server::start(command)?;

    println!("# ZeroEventHub soak\n");
    println!("{}", machine_line());
    println!(
        "- producer: `bench latency-server`, {}, pid {}; long-poll waits capped at 60 s",
        args.log.name(),
        server.pid()
    );
    println!(
        "- for {} ({:.0} s), sampled every {} s: {} following consumers (long-poll, wait {} s, \
         one connection each, in this process); {} events/s appended through the producer's \
         append route; W3: `bench load`, {} keep-alive connections requesting `_first` with \
         `pagesizehint={SMALL_PAGE}` back to back",
        clock(args.duration.as_secs_f64()),
        args.duration.as_secs_f64(),
        number(args.sample_every.as_secs_f64()),
        args.consumers,
        LONG_POLL.as_secs(),
        number(args.rate),
        args.connections,
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let soak = runtime.block_on(soak(args, &exe, &server))?;
    drop(server);
    println!("\n{}", soak.render(args));
    soak.verdict()
}

/// Everything the soak measured.
#[derive(Debug)]
struct Soak {
    rows: Vec<Row>,
    consumers: usize,
    appended: u64,
    /// Receipts taken after the last sample, while draining, and the
    /// largest of their latencies (ms).
    drained: u64,
    drained_max_ms: Option<f64>,
    /// Events that consumers never got (at the end).
    missing: u64,
    mishaps: Mishaps,
    consumer_requests: u64,
    consumer_errors: u64,
    w3_requests: u64,
    w3_errors: u64,
    /// Receipts stamped before their commit's stamp (counted as 0 ms).
    early: u64,
    /// Receipts whose commit stamp was no longer kept (a bug of the soak).
    unmatched: u64,
    elapsed_s: f64,
}

/// One sample.
#[derive(Debug, Clone)]
struct Row {
    /// When it was taken, in seconds from the start.
    at_s: f64,
    rss_kib: u64,
    fds: usize,
    /// The producer's CPU over the interval, % of one core.
    cpu_pct: f64,
    w3_rps: f64,
    w3_p99_ms: Option<f64>,
    /// Events appended in the interval, and since the start.
    appended: u64,
    appended_total: u64,
    /// Receipts (event x consumer) matched in the interval.
    delivered: u64,
    /// Commit to receipt, ms.
    latency: Option<Percentiles>,
    /// Events skipped by a consumer in the interval (lost).
    skipped: u64,
    duplicates: u64,
    /// Failed requests in the interval: the consumers', W3's.
    errors: u64,
    /// This process's RSS (the consumers').
    bench_rss_kib: u64,
    /// The CPU time other processes ran (the machine's user and system
    /// time less the soak's three processes'; interrupts left out), % of
    /// one core.
    others_pct: f64,
    /// The 1-minute load average.
    load1: f64,
}

/// p50, p99, max, in ms.
#[derive(Debug, Clone, Copy)]
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    /// Of sorted latencies in µs.
    fn of(sorted: &[u64]) -> Option<Percentiles> {
        let ms = |micros: u64| micros as f64 / 1e3;
        Some(Percentiles {
            p50: ms(percentile(sorted, 50.0)?),
            p99: ms(percentile(sorted, 99.0)?),
            max: ms(*sorted.last()?),
        })
    }
}

/// The commit stamps of the appended events, from the lowest seq a
/// consumer may still need.
#[derive(Debug, Default)]
struct Commits {
    log: Mutex<CommitLog>,
}

#[derive(Debug, Default)]
struct CommitLog {
    /// Stamps dropped from the front: `stamps[i]` is seq `dropped + 1 + i`.
    dropped: u64,
    stamps: VecDeque<u64>,
}

/// Where a receipt's commit stamp is.
enum Stamp {
    At(u64),
    /// Not appended yet, as far as this process knows (the consumer was
    /// faster than the append's answer).
    NotYet,
    /// Dropped already.
    Gone,
}

impl CommitLog {
    fn appended(&self) -> u64 {
        self.dropped + self.stamps.len() as u64
    }

    fn stamp(&self, seq: u64) -> Stamp {
        if seq <= self.dropped {
            return Stamp::Gone;
        }
        match self.stamps.get((seq - self.dropped - 1) as usize) {
            Some(&at) => Stamp::At(at),
            None => Stamp::NotYet,
        }
    }

    /// Drops the stamps of the seqs below `seq`.
    fn drop_below(&mut self, seq: u64) {
        while self.dropped + 1 < seq && self.stamps.pop_front().is_some() {
            self.dropped += 1;
        }
    }
}

impl Commits {
    fn lock(&self) -> std::sync::MutexGuard<'_, CommitLog> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The soak itself, once the producer runs.
async fn soak(args: &SoakArgs, exe: &Path, server: &Server) -> anyhow::Result<Soak> {
    let url = server.url().to_owned();
    let producer = Proc::Pid(server.pid());
    eprintln!(
        "bench: soak: starting {} following consumers ...",
        args.consumers
    );
    let consumers = Consumers::following(
        consumer_client(&url, args.consumers)?,
        args.consumers,
        Asking::LongPoll(LONG_POLL),
    );
    let consumers = start_all(consumers, &url).await?;
    println!(
        "- the producer once the consumers were in, before the load: RSS {} MiB, {} open fds",
        mib(producer.rss_kib()?),
        producer.open_fds()?
    );

    let w3_url = format!("{url}?n=1&cursor0=_first&pagesizehint={SMALL_PAGE}");
    let mut load = Load::start(exe, &w3_url, args)?;
    load.line(LOAD_START_TIMEOUT)
        .await
        .context("waiting for bench load to start")?;
    let start = Instant::now();
    eprintln!(
        "bench: soak: running for {} ...",
        clock(args.duration.as_secs_f64())
    );

    let commits = Arc::new(Commits::default());
    let appends = Dedicated::start("bench-append")?;
    let appending = appends.run(append_on_schedule(
        url.clone(),
        Arc::clone(&commits),
        start,
        args.duration,
        args.rate,
    ));
    let mut sampler = Sampler::new(&consumers, &commits, producer, Proc::Pid(load.pid()))?;
    let sampling = async {
        let mut rows = Vec::new();
        let ticks = interval_ends(args.duration, args.sample_every);
        for (index, end) in ticks.into_iter().enumerate() {
            tokio::time::sleep_until(tokio::time::Instant::from_std(start + end)).await;
            let mut row = sampler.sample(start)?;
            let interval = load.interval(index + 1).await?;
            row.w3_rps = interval.rps;
            row.w3_p99_ms = interval.p99_ms;
            row.errors += interval.errors;
            eprintln!("bench: soak: {}", row.line());
            rows.push(row);
        }
        anyhow::Ok(rows)
    };
    let (appended, rows) = tokio::try_join!(appending, sampling)?;
    let elapsed_s = start.elapsed().as_secs_f64();

    // Every consumer must end up with every event.
    let drain = Instant::now();
    while consumers.missing(appended) > 0 && drain.elapsed() < DRAIN_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = sampler.latencies();
    let totals = load.totals().await?;
    Ok(Soak {
        rows,
        consumers: args.consumers,
        appended,
        drained: drained.len() as u64,
        drained_max_ms: drained.last().map(|&micros| micros as f64 / 1e3),
        missing: consumers.missing(appended),
        mishaps: consumers.mishaps(),
        consumer_requests: consumers.requests(),
        consumer_errors: consumers.errors(),
        w3_requests: totals.requests,
        w3_errors: totals.errors,
        early: sampler.early,
        unmatched: sampler.unmatched,
        elapsed_s,
    })
}

/// Appends `rate` events a second from `start` until `duration` is over,
/// each due at its own time from the start (a late one does not delay
/// the next ones'; those still due when the time is over are not
/// appended), through the server's append route; records each commit's
/// stamp. Returns how many it appended.
async fn append_on_schedule(
    url: String,
    commits: Arc<Commits>,
    start: Instant,
    duration: Duration,
    rate: f64,
) -> anyhow::Result<u64> {
    // Made here, so that its connection belongs to this thread's runtime.
    let appender = Appender::new(AppendVia::Server, url, None).await?;
    let start = tokio::time::Instant::from_std(start);
    let mut appended = 0;
    loop {
        let due = Duration::from_secs_f64(appended as f64 / rate);
        if due >= duration || start.elapsed() >= duration {
            return Ok(appended);
        }
        tokio::time::sleep_until(start + due).await;
        let seq = appended + 1;
        let committed = appender
            .append(seq)
            .await
            .with_context(|| format!("appending event {seq}"))?;
        commits.lock().stamps.push_back(committed);
        appended = seq;
    }
}

/// Cumulative readings, whose differences make a row.
#[derive(Debug, Clone, Copy)]
struct Readings {
    at_s: f64,
    producer_cpu_s: f64,
    /// The soak's three processes together.
    ours_cpu_s: f64,
    machine_processes_s: f64,
    appended: u64,
    mishaps: Mishaps,
    consumer_errors: u64,
}

/// Takes the samples.
struct Sampler<'a> {
    consumers: &'a Consumers,
    commits: &'a Commits,
    producer: Proc,
    load: Proc,
    previous: Readings,
    /// Receipts whose commit's stamp was not known yet.
    carried: Vec<Receipt>,
    /// The buffer the receipts are swapped into, and the latencies of an
    /// interval: kept, so that their capacity is reused.
    receipts: Vec<Receipt>,
    micros: Vec<u64>,
    early: u64,
    unmatched: u64,
}

impl<'a> Sampler<'a> {
    fn new(
        consumers: &'a Consumers,
        commits: &'a Commits,
        producer: Proc,
        load: Proc,
    ) -> anyhow::Result<Self> {
        let mut sampler = Sampler {
            consumers,
            commits,
            producer,
            load,
            previous: Readings {
                at_s: 0.0,
                producer_cpu_s: 0.0,
                ours_cpu_s: 0.0,
                machine_processes_s: 0.0,
                appended: 0,
                mishaps: Mishaps::default(),
                consumer_errors: 0,
            },
            carried: Vec::new(),
            receipts: Vec::new(),
            micros: Vec::new(),
            early: 0,
            unmatched: 0,
        };
        sampler.previous = sampler.read(0.0)?;
        Ok(sampler)
    }

    fn read(&self, at_s: f64) -> anyhow::Result<Readings> {
        let producer_cpu_s = self
            .producer
            .total_cpu_seconds()
            .context("reading the producer's CPU time")?;
        let ours_cpu_s = producer_cpu_s
            + Proc::Current.total_cpu_seconds()?
            // Once `bench load` has ended, its time is no longer there.
            + self.load.total_cpu_seconds().unwrap_or(0.0);
        Ok(Readings {
            at_s,
            producer_cpu_s,
            ours_cpu_s,
            machine_processes_s: machine_cpu_seconds()?.0,
            appended: self.commits.lock().appended(),
            mishaps: self.consumers.mishaps(),
            consumer_errors: self.consumers.errors(),
        })
    }

    /// The row of the interval ending now, but W3's figures.
    fn sample(&mut self, start: Instant) -> anyhow::Result<Row> {
        let at_s = start.elapsed().as_secs_f64();
        let rss_kib = self
            .producer
            .rss_kib()
            .context("reading the producer's RSS")?;
        let fds = self
            .producer
            .open_fds()
            .context("reading the producer's open fds")?;
        let now = self.read(at_s)?;
        let before = std::mem::replace(&mut self.previous, now);
        let length = (now.at_s - before.at_s).max(1e-9);
        let (delivered, latency) = {
            let latencies = self.latencies();
            (latencies.len() as u64, Percentiles::of(latencies))
        };
        let load1 = load_average()
            .split_whitespace()
            .next()
            .and_then(|value| value.parse().ok())
            .unwrap_or(f64::NAN);
        Ok(Row {
            at_s,
            rss_kib,
            fds,
            cpu_pct: 100.0 * (now.producer_cpu_s - before.producer_cpu_s) / length,
            w3_rps: 0.0,
            w3_p99_ms: None,
            appended: now.appended - before.appended,
            appended_total: now.appended,
            delivered,
            latency,
            skipped: now.mishaps.skipped - before.mishaps.skipped,
            duplicates: now.mishaps.duplicates - before.mishaps.duplicates,
            errors: now.consumer_errors - before.consumer_errors,
            bench_rss_kib: Proc::Current.rss_kib()?,
            others_pct: (100.0
                * ((now.machine_processes_s - before.machine_processes_s)
                    - (now.ours_cpu_s - before.ours_cpu_s))
                / length)
                .max(0.0),
            load1,
        })
    }

    /// The commit-to-receipt latencies (µs, sorted) of the receipts since
    /// the last call; those whose commit's stamp is not known yet wait for
    /// the next call. Drops the stamps no one needs any more.
    fn latencies(&mut self) -> &[u64] {
        // Before taking the receipts: every receipt below it is queued.
        let lowest = self.consumers.lowest_next().unwrap_or(1);
        self.receipts.clear();
        self.consumers.swap_receipts(&mut self.receipts);
        self.receipts.append(&mut self.carried);
        self.micros.clear();
        let mut log = self.commits.lock();
        for receipt in &self.receipts {
            match log.stamp(receipt.seq) {
                Stamp::At(committed) => {
                    self.early += u64::from(receipt.at < committed);
                    self.micros
                        .push(receipt.at.saturating_sub(committed) / 1_000);
                }
                Stamp::NotYet => self.carried.push(*receipt),
                Stamp::Gone => self.unmatched += 1,
            }
        }
        let needed = self.carried.iter().map(|r| r.seq).min().unwrap_or(u64::MAX);
        log.drop_below(needed.min(lowest));
        drop(log);
        self.receipts.clear();
        self.micros.sort_unstable();
        &self.micros
    }
}

/// A line of `bench load --report-every`.
#[derive(Debug, Deserialize)]
struct LoadInterval {
    interval: usize,
    rps: f64,
    p99_ms: Option<f64>,
    errors: u64,
}

/// The last line of `bench load`.
#[derive(Debug, Deserialize)]
struct LoadTotals {
    requests: u64,
    errors: u64,
}

/// `bench load` with `--report-every`, killed when dropped.
#[derive(Debug)]
struct Load {
    child: Child,
    lines: mpsc::UnboundedReceiver<anyhow::Result<serde_json::Value>>,
}

impl Load {
    fn start(exe: &Path, url: &str, args: &SoakArgs) -> anyhow::Result<Load> {
        let mut command = Command::new(exe);
        command
            .args(["load", "--url", url, "--connections"])
            .arg(args.connections.to_string())
            .arg("--seconds")
            .arg(args.duration.as_secs_f64().to_string())
            .arg("--report-every")
            .arg(args.sample_every.as_secs_f64().to_string())
            // Open until after the last sample, which counts the
            // producer's descriptors.
            .args(["--hold-s", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().context("cannot start bench load")?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let (sender, lines) = mpsc::unbounded_channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let parsed = line.map_err(anyhow::Error::from).and_then(|line| {
                    serde_json::from_str(&line)
                        .with_context(|| format!("bench load printed {line:?}"))
                });
                if sender.send(parsed).is_err() {
                    break;
                }
            }
        });
        Ok(Load { child, lines })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its next line, within `timeout`.
    async fn line(&mut self, timeout: Duration) -> anyhow::Result<serde_json::Value> {
        match tokio::time::timeout(timeout, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => bail!(
                "bench load ended early ({})",
                match self.child.try_wait() {
                    Ok(Some(status)) => status.to_string(),
                    _ => "still running".into(),
                }
            ),
            Err(_) => bail!("bench load printed nothing for {timeout:?}"),
        }
    }

    /// Its line of interval `index` (from 1).
    async fn interval(&mut self, index: usize) -> anyhow::Result<LoadInterval> {
        let line = self.line(LOAD_LINE_GRACE).await?;
        let interval: LoadInterval = serde_json::from_value(line.clone())
            .with_context(|| format!("unexpected line of bench load: {line}"))?;
        ensure!(
            interval.interval == index,
            "bench load reported interval {} where {index} was due",
            interval.interval
        );
        Ok(interval)
    }

    /// Its last line, once it has ended well.
    async fn totals(&mut self) -> anyhow::Result<LoadTotals> {
        let line = self.line(LOAD_LINE_GRACE).await?;
        let totals = serde_json::from_value(line.clone())
            .with_context(|| format!("unexpected last line of bench load: {line}"))?;
        let deadline = Instant::now() + LOAD_LINE_GRACE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                ensure!(status.success(), "bench load failed ({status})");
                return Ok(totals);
            }
            ensure!(Instant::now() < deadline, "bench load did not end");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        // Our own child, by its id (nothing, once it has been waited for).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `m:ss` (or `h:mm:ss`) of a number of seconds, rounded.
fn clock(seconds: f64) -> String {
    let total = seconds.round() as u64;
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}

/// The slope of the least-squares line through `points` (x, y); `None`
/// for fewer than two distinct x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    (points.len() >= 2 && sxx > 0.0).then(|| sxy / sxx)
}

/// `-` for a missing figure.
fn maybe(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), number)
}

/// A signed figure with about three significant digits.
fn signed(value: f64) -> String {
    if value < 0.0 {
        format!("-{}", number(-value))
    } else {
        format!("+{}", number(value))
    }
}

impl Row {
    /// The progress line on stderr.
    fn line(&self) -> String {
        let latency = self.latency.map_or_else(
            || "no receipts".into(),
            |l| {
                format!(
                    "p50 {} p99 {} max {} ms",
                    number(l.p50),
                    number(l.p99),
                    number(l.max)
                )
            },
        );
        format!(
            "{}: RSS {} MiB, {} fds, CPU {:.0}%; W3 {} req/s; appended {}, delivered {}, {latency}; \
             lost {}, duplicated {}, failed requests {}; others' CPU {:.0}%",
            clock(self.at_s),
            mib(self.rss_kib),
            self.fds,
            self.cpu_pct,
            rate(self.w3_rps),
            self.appended,
            self.delivered,
            self.skipped,
            self.duplicates,
            self.errors,
            self.others_pct,
        )
    }
}

impl Soak {
    fn delivered(&self) -> u64 {
        self.rows.iter().map(|r| r.delivered).sum::<u64>() + self.drained
    }

    fn expected(&self) -> u64 {
        self.appended * self.consumers as u64
    }

    fn lost(&self) -> u64 {
        self.mishaps.skipped + self.missing
    }

    /// The table of samples and the summary, as Markdown.
    fn render(&self, args: &SoakArgs) -> String {
        let mut out = String::new();
        out.push_str(
            "Samples: the producer's RSS, open fds and CPU (% of one core) at the end of each \
             interval and over it; W3's requests/s and p99; the events appended and the \
             receipts (event x consumer) of the interval with their commit-to-consumer \
             latency; lost and duplicated events, failed requests; this process's RSS; the CPU \
             of other processes (the machine's user and system time less the soak's three \
             processes', % of one core) and the 1-minute load average:\n\n\
             | time | RSS MiB | fds | CPU % | W3 req/s | W3 p99 ms | appended | delivered \
             | p50 ms | p99 ms | max ms | lost | dup | failed | bench RSS MiB | others' CPU % \
             | load |\n\
             | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: \
             | --: | --: | --: | --: |\n",
        );
        for row in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.2} |",
                clock(row.at_s),
                mib(row.rss_kib),
                row.fds,
                row.cpu_pct,
                rate(row.w3_rps),
                maybe(row.w3_p99_ms),
                row.appended,
                row.delivered,
                maybe(row.latency.map(|l| l.p50)),
                maybe(row.latency.map(|l| l.p99)),
                maybe(row.latency.map(|l| l.max)),
                row.skipped,
                row.duplicates,
                row.errors,
                mib(row.bench_rss_kib),
                row.others_pct,
                row.load1,
            );
        }
        out.push('\n');
        self.summary(&mut out, args);
        out
    }

    fn summary(&self, out: &mut String, args: &SoakArgs) {
        let (Some(first), Some(last)) = (self.rows.first(), self.rows.last()) else {
            return;
        };
        let second_half = &self.rows[self.rows.len() / 2..];
        // Per minute, over the second half's samples.
        let per_minute = |figure: fn(&Row) -> Option<f64>| {
            let points: Vec<(f64, f64)> = second_half
                .iter()
                .filter_map(|r| Some((r.at_s / 60.0, figure(r)?)))
                .collect();
            slope(&points).map_or_else(|| "–".into(), signed)
        };
        let max_of = |figure: fn(&Row) -> Option<f64>| {
            self.rows
                .iter()
                .filter_map(|r| Some((figure(r)?, r.at_s)))
                .max_by(|a, b| a.0.total_cmp(&b.0))
        };
        let median_of = |figure: fn(&Row) -> Option<f64>| {
            let values: Vec<f64> = self.rows.iter().filter_map(figure).collect();
            Summary::of(&values)
        };
        let rss = |r: &Row| Some(r.rss_kib as f64 / 1024.0);
        let fds = |r: &Row| Some(r.fds as f64);
        let p99 = |r: &Row| r.latency.map(|l| l.p99);
        let p50 = |r: &Row| r.latency.map(|l| l.p50);
        let latency_max = |r: &Row| r.latency.map(|l| l.max);
        let w3 = |r: &Row| Some(r.w3_rps);
        let cpu = |r: &Row| Some(r.cpu_pct);
        let others = |r: &Row| Some(r.others_pct);
        let bench_rss = |r: &Row| Some(r.bench_rss_kib as f64 / 1024.0);
        let at = |found: Option<(f64, f64)>, show: fn(f64) -> String| {
            found.map_or_else(
                || "–".into(),
                |(value, at_s)| format!("{} (at {})", show(value), clock(at_s)),
            )
        };
        let mib_f = |value: f64| format!("{value:.1} MiB");
        let ms = |value: f64| format!("{} ms", number(value));
        // `show` for the figures, then the unit once.
        let median = |summary: Option<Summary>, show: fn(f64) -> String, unit: &str| {
            summary.map_or_else(
                || "–".into(),
                |s| {
                    format!(
                        "{}{unit} median ({}–{})",
                        show(s.median),
                        show(s.min),
                        show(s.max)
                    )
                },
            )
        };
        let whole = |value: f64| format!("{value:.0}");
        let _ = writeln!(
            out,
            "Summary: {} samples over {} (every {} s); slopes are least-squares lines through \
             the {} samples of the second half (from {} on), per minute.\n",
            self.rows.len(),
            clock(self.elapsed_s),
            number(args.sample_every.as_secs_f64()),
            second_half.len(),
            second_half
                .first()
                .map_or_else(|| "–".into(), |r| clock(r.at_s)),
        );
        // RSS against the events appended: what each event costs, if
        // the log keeps them (the in-memory log does).
        let per_event: Vec<(f64, f64)> = second_half
            .iter()
            .map(|r| (r.appended_total as f64, r.rss_kib as f64 * 1024.0))
            .collect();
        let _ = writeln!(
            out,
            "- producer RSS: first {}, last {}, max {}; second half {} MiB/min, {} bytes per \
             event appended",
            mib_f(first.rss_kib as f64 / 1024.0),
            mib_f(last.rss_kib as f64 / 1024.0),
            at(max_of(rss), mib_f),
            per_minute(rss),
            slope(&per_event).map_or_else(|| "–".into(), |bytes| format!("{bytes:.0}")),
        );
        let _ = writeln!(
            out,
            "- producer open fds: first {}, last {}, {}, max {}; second half {} fds/min",
            first.fds,
            last.fds,
            median(median_of(fds), whole, ""),
            at(max_of(fds), whole),
            per_minute(fds),
        );
        let _ = writeln!(
            out,
            "- commit to consumer p99: first {}, last {}, {}, max {}; second half {} ms/min; \
             p50 {}; the largest latency of any receipt {}",
            p99(first).map_or_else(|| "–".into(), ms),
            p99(last).map_or_else(|| "–".into(), ms),
            median(median_of(p99), number, " ms"),
            at(max_of(p99), ms),
            per_minute(p99),
            median(median_of(p50), number, " ms"),
            at(max_of(latency_max), ms),
        );
        let _ = writeln!(
            out,
            "- appended: {} events of the {} due ({}/s for {})",
            self.appended,
            (args.rate * args.duration.as_secs_f64()).ceil(),
            number(args.rate),
            clock(args.duration.as_secs_f64()),
        );
        let _ = writeln!(
            out,
            "- W3: {} ({} requests, {} failed); producer CPU {} of one core; others' CPU {}",
            median(median_of(w3), rate, " req/s"),
            self.w3_requests,
            self.w3_errors,
            median(median_of(cpu), whole, "%"),
            median(median_of(others), whole, "%"),
        );
        let _ = writeln!(
            out,
            "- following consumers: {} long-poll answers ({}/s), {} failed",
            self.consumer_requests,
            rate(self.consumer_requests as f64 / self.elapsed_s.max(1e-9)),
            self.consumer_errors,
        );
        let _ = writeln!(
            out,
            "- this process (the consumers): RSS first {}, last {}, max {}",
            mib_f(first.bench_rss_kib as f64 / 1024.0),
            mib_f(last.bench_rss_kib as f64 / 1024.0),
            at(max_of(bench_rss), mib_f),
        );
        let _ = writeln!(
            out,
            "- delivered: {} of {} receipts ({} events x {} consumers; {} after the last \
             sample, max latency {}); lost {}, duplicated {}, failed requests {}",
            self.delivered(),
            self.expected(),
            self.appended,
            self.consumers,
            self.drained,
            self.drained_max_ms.map_or_else(|| "–".into(), ms),
            self.lost(),
            self.mishaps.duplicates,
            self.consumer_errors + self.w3_errors,
        );
        if self.early > 0 {
            let _ = writeln!(
                out,
                "- {} receipts were stamped before their commit's stamp (counted as 0 ms)",
                self.early
            );
        }
    }

    /// An error when an event was lost or duplicated, or a request failed.
    fn verdict(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        if self.lost() > 0 {
            problems.push(format!(
                "{} events lost ({} skipped, {} never arrived)",
                self.lost(),
                self.mishaps.skipped,
                self.missing
            ));
        }
        if self.mishaps.duplicates > 0 {
            problems.push(format!("{} events duplicated", self.mishaps.duplicates));
        }
        if self.delivered() != self.expected() {
            problems.push(format!(
                "{} receipts where {} were due",
                self.delivered(),
                self.expected()
            ));
        }
        if self.consumer_errors + self.w3_errors > 0 {
            problems.push(format!(
                "{} failed requests (consumers {}, W3 {})",
                self.consumer_errors + self.w3_errors,
                self.consumer_errors,
                self.w3_errors
            ));
        }
        if self.unmatched > 0 {
            problems.push(format!(
                "{} receipts without a commit stamp",
                self.unmatched
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("the soak failed: {}", problems.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_seconds_or_with_a_unit() {
        let s = Duration::from_secs;
        assert_eq!(parse_duration("600"), Ok(s(600)));
        assert_eq!(parse_duration("90s"), Ok(s(90)));
        assert_eq!(parse_duration("10m"), Ok(s(600)));
        assert_eq!(parse_duration("1h"), Ok(s(3600)));
        assert_eq!(parse_duration("1.5m"), Ok(s(90)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn clocks_and_slopes() {
        assert_eq!(clock(0.4), "0:00");
        assert_eq!(clock(10.0), "0:10");
        assert_eq!(clock(600.2), "10:00");
        assert_eq!(clock(3725.0), "1:02:05");
        let line = [(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)];
        assert!((slope(&line).unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(slope(&[(1.0, 1.0)]), None);
        assert_eq!(slope(&[(1.0, 1.0), (1.0, 2.0)]), None);
        assert_eq!(signed(-0.5), "-0.50");
        assert_eq!(signed(0.0), "+0.00");
    }

    #[test]
    fn commit_stamps_are_dropped_from_the_front() {
        let mut log = CommitLog::default();
        log.stamps.extend([10, 20, 30]);
        assert!(matches!(log.stamp(2), Stamp::At(20)));
        assert!(matches!(log.stamp(4), Stamp::NotYet));
        log.drop_below(3);
        assert_eq!((log.dropped, log.appended()), (2, 3));
        assert!(matches!(log.stamp(2), Stamp::Gone));
        assert!(matches!(log.stamp(3), Stamp::At(30)));
        log.drop_below(u64::MAX);
        assert_eq!((log.dropped, log.stamps.len()), (3, 0));
        assert!(matches!(log.stamp(4), Stamp::NotYet));
    }
}
