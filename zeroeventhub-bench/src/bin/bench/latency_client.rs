//! `bench latency-client`: from an append's commit to the consumers
//! holding the event.
//!
//! Starts `--consumers` consumers of `bench latency-server`'s feed
//! ([`tail`](crate::tail): long-polling, or polling every
//! `--interval-ms`), waits until all of them are in (long-polling: held by
//! the server), then appends `--events` events at random moments: gaps
//! drawn uniformly from 0.5 to 1.5 times `--gap-ms`. An event is appended
//! by the server (`--append-via server`: its `POST /bench/append`, which
//! answers with the clock right after its commit) or by this process
//! itself, into the log's SQLite file or PostgreSQL schema (`database`:
//! `EventLog::append` in a transaction, the clock read right after
//! `commit()` returns, on a thread of its own, so that the consumers'
//! work does not delay that reading). Each consumer stamps every event when the
//! page holding it has arrived. Once every consumer holds every event,
//! prints one JSON line: latency percentiles over every (event, consumer)
//! pair and over the last consumer of each event, the requests answered
//! and the server's CPU seconds between the first append and the end.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use clap::ValueEnum;
use zeroeventhub::{Event, client::Client};
use zeroeventhub_bench::{
    proc_stats::Proc,
    stats::{percentile, unix_nanos},
    workload::{FEED_PATH, PersonNameChanged},
};
use zeroeventhub_sqlx::{Backend, EventLog, PgEventLog, SqliteEventLog};

use crate::{
    dedicated::Dedicated,
    fd_limit,
    latency_server::{APPEND_PATH, WAITING_PATH},
    pg,
    sql_db::{Db, DbArgs},
    sqlite,
    tail::{Asking, Consumers, http_client},
};

/// Consumers started at once while ramping up (each batch is in before
/// the next starts): a burst of thousands of connects at once would
/// overflow the server's accept queue.
const RAMP_BATCH: usize = 250;
/// The longest ramping up may take.
const RAMP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long every consumer may take to hold the last event, after it was
/// appended.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// The wait every long-polling request asks for (the consumer runtime's
/// default).
pub(crate) const LONG_POLL: Duration = Duration::from_secs(20);

/// Who appends the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AppendVia {
    /// The serving process, in a transaction of its own (`POST /bench/append`).
    Server,
    /// The serving process, with `EventLog::publish`.
    ServerPublish,
    /// This process, into the log's database (`--db` or `--pg-url`).
    Database,
}

/// How the consumers ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AskingArg {
    LongPoll,
    Poll,
}

/// Options of `bench latency-client`.
#[derive(Debug, clap::Args)]
pub(crate) struct LatencyClientArgs {
    /// The feed's URL (`bench latency-server`).
    #[arg(long)]
    url: String,
    /// The server's process id, to read its CPU time.
    #[arg(long)]
    server_pid: u32,
    /// Consumers, each with a connection of its own.
    #[arg(long)]
    consumers: usize,
    /// Events to append.
    #[arg(long)]
    events: u64,
    /// The mean gap between two appends, in ms.
    #[arg(long)]
    gap_ms: f64,
    /// Long-poll (wait 20 s) or poll.
    #[arg(long, value_enum)]
    asking: AskingArg,
    /// The poll interval, in ms (with `--asking poll`).
    #[arg(long, default_value_t = 1_000)]
    interval_ms: u64,
    /// Who appends.
    #[arg(long, value_enum)]
    append_via: AppendVia,
    /// The log's database, for `--append-via database`.
    #[command(flatten)]
    db: DbArgs,
}

/// Measures and prints the figures as one JSON line.
pub(crate) fn run(args: &LatencyClientArgs) -> anyhow::Result<()> {
    fd_limit::ensure(args.consumers)?;
    fd_limit::print_report(measure(args))
}

/// The feed's URL without [`FEED_PATH`]: where the bench's routes are.
pub(crate) fn base_url(url: &str) -> anyhow::Result<&str> {
    url.strip_suffix(FEED_PATH)
        .with_context(|| format!("{url} does not end with {FEED_PATH}"))
}

/// Starts `consumers` consumers of `url` in batches, each batch in
/// (held by the server when long-polling, answered once when polling)
/// before the next.
pub(crate) async fn ramp_up(
    url: &str,
    count: usize,
    events: u64,
    asking: Asking,
) -> anyhow::Result<Consumers> {
    let consumers = Consumers::new(consumer_client(url, count)?, count, events, asking);
    start_all(consumers, url).await
}

/// The client that `count` consumers of `url` share.
pub(crate) fn consumer_client(url: &str, count: usize) -> anyhow::Result<Client> {
    Ok(Client::builder(url, 1)
        .http_client(http_client(count)?)
        .build()?)
}

/// Starts every consumer there is room for, of the feed at `url`, as
/// [`ramp_up`] does.
pub(crate) async fn start_all(mut consumers: Consumers, url: &str) -> anyhow::Result<Consumers> {
    let (count, asking) = (consumers.capacity(), consumers.asking());
    let waiting_url = format!("{}{WAITING_PATH}", base_url(url)?);
    let probe = reqwest::Client::new();
    let deadline = Instant::now() + RAMP_TIMEOUT;
    while consumers.started() < count {
        consumers.spawn(RAMP_BATCH);
        loop {
            let ready = match asking {
                Asking::LongPoll(_) => {
                    let text = probe.get(&waiting_url).send().await?.text().await?;
                    text.trim().parse::<usize>()?
                }
                Asking::Poll(_) => consumers.answered(),
            };
            if ready >= consumers.started() {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "only {ready} of {} consumers were in after {RAMP_TIMEOUT:?} ({} errors)",
                consumers.started(),
                consumers.errors()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(consumers)
}

async fn measure(args: &LatencyClientArgs) -> anyhow::Result<serde_json::Value> {
    ensure!(args.events > 0, "--events must be at least 1");
    let asking = match args.asking {
        AskingArg::LongPoll => Asking::LongPoll(LONG_POLL),
        AskingArg::Poll => Asking::Poll(Duration::from_millis(args.interval_ms)),
    };
    let appends = Dedicated::start("bench-append")?;
    let appender = {
        let (append_via, url, db) = (args.append_via, args.url.clone(), args.db.optional()?);
        Arc::new(appends.run(Appender::new(append_via, url, db)).await?)
    };
    let started = Instant::now();
    let consumers = ramp_up(&args.url, args.consumers, args.events, asking).await?;
    let ramp_s = started.elapsed().as_secs_f64();
    // A moment for the last answers and connections to settle.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let server = Proc::Pid(args.server_pid);
    let (requests_before, errors_before) = (consumers.requests(), consumers.errors());
    let server_cpu_before = server.cpu_seconds()?;
    let client_cpu_before = Proc::Current.cpu_seconds()?;
    let window = Instant::now();
    let mut commits = Vec::with_capacity(args.events as usize);
    for seq in 1..=args.events {
        let gap = args.gap_ms * (0.5 + fastrand::f64());
        tokio::time::sleep(Duration::from_secs_f64(gap / 1e3)).await;
        let appender = Arc::clone(&appender);
        commits.push(
            appends
                .run(async move { appender.append(seq).await })
                .await?,
        );
    }
    let appended_s = window.elapsed().as_secs_f64();
    if tokio::time::timeout(DRAIN_TIMEOUT, consumers.all_complete())
        .await
        .is_err()
    {
        bail!(
            "{} of {} consumers held every event {DRAIN_TIMEOUT:?} after the last append ({} errors)",
            consumers.complete(),
            args.consumers,
            consumers.errors()
        );
    }
    let window_s = window.elapsed().as_secs_f64();
    let server_cpu_s = server.cpu_seconds()? - server_cpu_before;
    let client_cpu_s = Proc::Current.cpu_seconds()? - client_cpu_before;
    let requests = consumers.requests() - requests_before;
    let errors = consumers.errors() - errors_before;

    let latencies = Latencies::of(&consumers, args.consumers, &commits);
    Ok(serde_json::json!({
        "consumers": args.consumers,
        "events": args.events,
        "ramp_s": ramp_s,
        "appended_s": appended_s,
        "window_s": window_s,
        "requests": requests,
        "errors": errors,
        "rps": requests as f64 / window_s,
        "server_cpu_s": server_cpu_s,
        "client_cpu_s": client_cpu_s,
        "server_peak_rss_kib": server.peak_rss_kib()?,
        "early": latencies.early,
        "all_ms": latencies.all.percentiles(),
        "last_ms": latencies.last.percentiles(),
    }))
}

/// Latencies in µs, sorted.
#[derive(Debug)]
struct Sorted(Vec<u64>);

impl Sorted {
    /// p50, p99 and max in ms.
    fn percentiles(&self) -> serde_json::Value {
        let ms = |micros: Option<u64>| micros.map(|m| m as f64 / 1e3);
        serde_json::json!({
            "p50": ms(percentile(&self.0, 50.0)),
            "p99": ms(percentile(&self.0, 99.0)),
            "max": ms(self.0.last().copied()),
        })
    }
}

/// Commit-to-receipt latencies.
#[derive(Debug)]
struct Latencies {
    /// Every consumer's receipt of every event.
    all: Sorted,
    /// The last consumer's receipt of each event.
    last: Sorted,
    /// Receipts stamped before the commit's stamp (counted as 0): the
    /// server reads its clock after the commit, and a woken consumer may
    /// be faster than that.
    early: u64,
}

impl Latencies {
    fn of(consumers: &Consumers, count: usize, commits: &[u64]) -> Latencies {
        let (mut all, mut last, mut early) = (Vec::new(), Vec::new(), 0);
        for (index, &commit) in commits.iter().enumerate() {
            let seq = index as u64 + 1;
            let mut latest = 0;
            for consumer in 0..count {
                // Every consumer holds every event (checked by the caller).
                let arrival = consumers.arrival(consumer, seq).unwrap_or(commit);
                early += u64::from(arrival < commit);
                let micros = arrival.saturating_sub(commit) / 1_000;
                latest = latest.max(micros);
                all.push(micros);
            }
            last.push(latest);
        }
        all.sort_unstable();
        last.sort_unstable();
        Latencies {
            all: Sorted(all),
            last: Sorted(last),
            early,
        }
    }
}

/// Appends the workload's events, one per call.
pub(crate) enum Appender {
    /// Through the server's append route.
    Server {
        http: reqwest::Client,
        url: String,
    },
    Sqlite(SqliteEventLog),
    Postgres(PgEventLog),
}

impl Appender {
    /// The appender; made on the thread where it appends, so that its
    /// connections belong to that thread's runtime.
    pub(crate) async fn new(
        append_via: AppendVia,
        url: String,
        db: Option<Db>,
    ) -> anyhow::Result<Appender> {
        let route = |publish: bool| -> anyhow::Result<Appender> {
            let base = base_url(&url)?;
            Ok(Appender::Server {
                http: reqwest::Client::new(),
                url: format!("{base}{APPEND_PATH}?publish={}", u8::from(publish)),
            })
        };
        Ok(match (append_via, db) {
            (AppendVia::Server, _) => route(false)?,
            (AppendVia::ServerPublish, _) => route(true)?,
            (AppendVia::Database, Some(Db::Sqlite(path))) => {
                Appender::Sqlite(SqliteEventLog::new(sqlite::open(&path, 1).await?, 1))
            }
            (AppendVia::Database, Some(Db::Postgres { url, schema })) => {
                Appender::Postgres(PgEventLog::new(pg::pool(&url, &schema, 1).await?, 1))
            }
            (AppendVia::Database, None) => bail!("--append-via database needs --db or --pg-url"),
        })
    }

    /// Appends the event `seq` and returns the clock right after its
    /// commit (ns since the epoch).
    pub(crate) async fn append(&self, seq: u64) -> anyhow::Result<u64> {
        match self {
            Appender::Server { http, url } => {
                let response = http
                    .post(format!("{url}&seq={seq}"))
                    .send()
                    .await?
                    .error_for_status()?;
                let text = response.text().await?;
                text.trim()
                    .parse()
                    .with_context(|| format!("the append route answered {text:?}"))
            }
            Appender::Sqlite(log) => append_committed(log, seq).await,
            Appender::Postgres(log) => append_committed(log, seq).await,
        }
    }
}

/// The outbox path from another process: `append` in a transaction of
/// its own, then commit; the clock read right after.
async fn append_committed<DB: Backend>(log: &EventLog<DB>, seq: u64) -> anyhow::Result<u64> {
    let event = Event::from_data(0, &PersonNameChanged::new(seq))?;
    let mut transaction = log.pool().begin().await?;
    log.append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(unix_nanos())
}
