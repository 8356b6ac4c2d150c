//! `bench sql-fill` and `bench sql-server`: the workload's feed served from
//! a SQLite event log.
//!
//! `sql-fill` creates the SQLite file `--db`, migrates a
//! `zeroeventhub_sqlx::EventLog` (one partition) and appends `--events`
//! events of the workload in one transaction (untimed; the time it took
//! goes to stderr). `sql-server`, a separate process so that its peak RSS is
//! the serving alone, serves that log at `http://127.0.0.1:PORT/feed/v1`
//! like `bench server` and prints `listening on URL` once bound. The log's
//! cursor is the event's position (equal to its seq here).
use std::{path::PathBuf, time::Instant};

use anyhow::Context;
use zeroeventhub::Event;
use zeroeventhub_bench::workload::{DEFAULT_EVENTS, FEED_PATH, PersonNameChanged};
use zeroeventhub_sqlx::{SqliteEventLog, sqlx};

use crate::{server::serve_until_killed, sqlite};

/// Connections the server keeps to the file, as `zeh serve` does:
/// requests in flight read in parallel.
const CONNECTIONS: u32 = 8;

/// Events built and appended per batch while filling (all in one
/// transaction), so that the whole feed is never in memory.
const FILL_BATCH: u64 = 1_000;

/// Options of `bench sql-fill`.
#[derive(Debug, clap::Args)]
pub(crate) struct SqlFillArgs {
    /// The SQLite file to create and fill (it must not hold a log yet).
    #[arg(long)]
    db: PathBuf,
    /// The length of the feed.
    #[arg(long, default_value_t = DEFAULT_EVENTS)]
    events: u64,
}

/// Options of `bench sql-server`.
#[derive(Debug, clap::Args)]
pub(crate) struct SqlServerArgs {
    /// TCP port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The SQLite file holding the log (`bench sql-fill` makes one).
    #[arg(long)]
    db: PathBuf,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

/// Creates and fills the log.
pub(crate) fn run_fill(args: &SqlFillArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let pool = sqlite::open(&args.db, 1).await?;
        let log = SqliteEventLog::new(pool, 1);
        log.migrate()
            .await
            .with_context(|| format!("cannot create the event log in {}", args.db.display()))?;
        let started = Instant::now();
        fill(&log, args.events)
            .await
            .with_context(|| format!("cannot fill the event log in {}", args.db.display()))?;
        eprintln!(
            "bench sql-fill: appended {} events in {:.2} s",
            args.events,
            started.elapsed().as_secs_f64()
        );
        log.pool().close().await;
        Ok(())
    })
}

/// Serves the log until killed.
pub(crate) fn run(args: SqlServerArgs) -> anyhow::Result<()> {
    // The pool is made inside the runtime that serves it.
    let app = async {
        let pool = sqlite::open(&args.db, CONNECTIONS).await?;
        let log = SqliteEventLog::new(pool, 1);
        Ok::<_, anyhow::Error>(zeroeventhub_axum::feed_router(
            FEED_PATH,
            zeroeventhub_axum::Feed::new(log, 1),
        ))
    };
    serve_until_killed(args.port, args.threads, app)
}

/// Appends the events 1..=`events` to partition 0, without headers, in one
/// transaction, then moves them from the WAL into the database file, so
/// that every run reads the same steady file.
async fn fill(log: &SqliteEventLog, events: u64) -> anyhow::Result<()> {
    let mut transaction = log.pool().begin().await?;
    let mut next = 1;
    while next <= events {
        let end = events.min(next + FILL_BATCH - 1);
        let batch = (next..=end)
            .map(|seq| Event::from_data(0, &PersonNameChanged::new(seq)))
            .collect::<Result<Vec<_>, _>>()?;
        log.append_all(&mut transaction, &batch).await?;
        next = end + 1;
    }
    transaction.commit().await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(log.pool())
        .await?;
    Ok(())
}
