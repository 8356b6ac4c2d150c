//! `bench sql-fill` and `bench sql-server`: the workload's feed served from
//! a SQL event log, on SQLite or PostgreSQL.
//!
//! `sql-fill` migrates a `zeroeventhub_sqlx::EventLog` (one partition) in
//! the SQLite file `--db` (created) or the PostgreSQL schema `--pg-schema`,
//! and appends `--events` events of the workload in one transaction
//! (untimed; the time it took goes to stderr). `sql-server`, a separate
//! process so that its peak RSS is the serving alone, serves that log at
//! `http://127.0.0.1:PORT/feed/v1` like `bench server` and prints
//! `listening on URL` once bound. The log's cursor is the event's position
//! (equal to its seq here).
use std::time::Instant;

use anyhow::Context;
use zeroeventhub::Event;
use zeroeventhub_bench::workload::{DEFAULT_EVENTS, FEED_PATH, PersonNameChanged};
use zeroeventhub_sqlx::{Backend, EventLog, PgEventLog, SqliteEventLog, sqlx};

use crate::{
    pg,
    server::serve_until_killed,
    sql_db::{Db, DbArgs},
    sqlite,
};

/// Connections the server keeps to the database, as `zeh serve` does:
/// requests in flight read in parallel.
pub(crate) const CONNECTIONS: u32 = 8;

/// Events built and appended per batch while filling (all in one
/// transaction), so that the whole feed is never in memory.
const FILL_BATCH: u64 = 1_000;

/// Options of `bench sql-fill`.
#[derive(Debug, clap::Args)]
pub(crate) struct SqlFillArgs {
    /// The database to fill (it must not hold a log yet).
    #[command(flatten)]
    db: DbArgs,
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
    /// The database holding the log (`bench sql-fill` makes one).
    #[command(flatten)]
    db: DbArgs,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

/// Creates and fills the log.
pub(crate) fn run_fill(args: &SqlFillArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let db = args.db.db()?;
    runtime.block_on(async {
        match &db {
            Db::Sqlite(path) => {
                let log = SqliteEventLog::new(sqlite::open(path, 1).await?, 1);
                migrate_and_fill(&log, args.events, &db).await?;
                // Move the rows from the WAL into the database file, so
                // that every run reads the same steady file.
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(log.pool())
                    .await?;
                log.pool().close().await;
            }
            Db::Postgres { url, schema } => {
                let log = PgEventLog::new(pg::pool(url, schema, 1).await?, 1);
                migrate_and_fill(&log, args.events, &db).await?;
                // Visibility map, hint bits and statistics, so that the
                // first read is like every other.
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "VACUUM ANALYZE {}",
                    log.table()
                )))
                .execute(log.pool())
                .await?;
                log.pool().close().await;
            }
        }
        Ok(())
    })
}

/// Serves the log until killed.
pub(crate) fn run(args: SqlServerArgs) -> anyhow::Result<()> {
    let db = args.db.db()?;
    // The pool is made inside the runtime that serves it.
    let app = async move {
        Ok::<_, anyhow::Error>(match &db {
            Db::Sqlite(path) => router(SqliteEventLog::new(
                sqlite::open(path, CONNECTIONS).await?,
                1,
            )),
            Db::Postgres { url, schema } => router(PgEventLog::new(
                pg::pool(url, schema, CONNECTIONS).await?,
                1,
            )),
        })
    };
    serve_until_killed(args.port, args.threads, app)
}

fn router<DB: Backend>(log: EventLog<DB>) -> axum::Router {
    zeroeventhub_axum::feed_router(FEED_PATH, zeroeventhub_axum::Feed::new(log, 1))
}

/// Creates the log's table and appends the feed, timed on stderr.
async fn migrate_and_fill<DB: Backend>(
    log: &EventLog<DB>,
    events: u64,
    db: &Db,
) -> anyhow::Result<()> {
    log.migrate()
        .await
        .with_context(|| format!("cannot create the event log in {}", db.describe()))?;
    let started = Instant::now();
    fill(log, events)
        .await
        .with_context(|| format!("cannot fill the event log in {}", db.describe()))?;
    eprintln!(
        "bench sql-fill: appended {events} events in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Appends the events 1..=`events` to partition 0, without headers, in one
/// transaction.
async fn fill<DB: Backend>(log: &EventLog<DB>, events: u64) -> anyhow::Result<()> {
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
    Ok(())
}
