//! `bench latency-server`: the producer of the latency and idle workloads.
//!
//! Serves an event log of one partition through the core's
//! `zeroeventhub::server::Feed` (long-polling, `--max-wait-s`) at
//! `http://127.0.0.1:PORT/feed/v1`, and prints `listening on URL` once
//! bound. The log is a `MemoryLog` without `--db`/`--pg-url`, else a
//! `zeroeventhub_sqlx::EventLog` on that database, migrated at start.
//!
//! Two routes of its own, for the benchmark only:
//!
//! - `POST /bench/append?seq=N`: appends the workload's event `N` as the
//!   serving process's own code would (SQLite and PostgreSQL: `append`
//!   inside a transaction of its own, then commit: the outbox path;
//!   `&publish=1`: `EventLog::publish`) on a thread of its own, and
//!   answers with the system
//!   clock read right after the commit, in nanoseconds since the epoch
//!   (`MemoryLog`: right before `append`, which makes the event visible
//!   and wakes the waiters in one call: read after it, the clock would
//!   count the waking of a thousand waiters as before the "commit");
//! - `GET /bench/waiting`: how many requests the feed holds now.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Router,
    extract::{Query, State},
    http::StatusCode,
    routing::{get, post},
};
use serde::Deserialize;
use zeroeventhub::{
    Event,
    server::{DataReader, Feed, MemoryLog},
};
use zeroeventhub_bench::{
    stats::unix_nanos,
    workload::{FEED_PATH, PersonNameChanged},
};
use zeroeventhub_sqlx::{Backend, EventLog, PgEventLog, SqliteEventLog};

use crate::{
    dedicated::Dedicated,
    fd_limit, pg,
    server::serve_until_killed,
    sql_db::{Db, DbArgs},
    sql_server::CONNECTIONS,
    sqlite,
};

/// The bench's append route.
pub(crate) const APPEND_PATH: &str = "/bench/append";
/// The bench's route telling how many requests wait.
pub(crate) const WAITING_PATH: &str = "/bench/waiting";

/// Connections the server must be able to hold open.
const MAX_CONNECTIONS: usize = 12_000;

/// Options of `bench latency-server`.
#[derive(Debug, clap::Args)]
pub(crate) struct LatencyServerArgs {
    /// TCP port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The database of the log (none: a `MemoryLog`).
    #[command(flatten)]
    db: DbArgs,
    /// The longest a request may wait, in seconds (`Feed::with_max_wait`).
    #[arg(long, default_value_t = 60)]
    max_wait_s: u64,
    /// SQLite: the change check's interval in ms (default: the library's).
    #[arg(long)]
    change_check_ms: Option<u64>,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

/// Serves until killed.
pub(crate) fn run(args: LatencyServerArgs) -> anyhow::Result<()> {
    fd_limit::ensure(MAX_CONNECTIONS)?;
    let db = args.db.optional()?;
    let max_wait = Duration::from_secs(args.max_wait_s);
    let change_check = args.change_check_ms.map(Duration::from_millis);
    let app = async move {
        Ok(match db {
            None => router(MemoryLog::new(1), max_wait)?,
            Some(Db::Sqlite(path)) => {
                let mut log = SqliteEventLog::new(sqlite::open(&path, CONNECTIONS).await?, 1);
                if let Some(interval) = change_check {
                    log = log.with_change_check_interval(interval);
                }
                log.migrate().await.context("cannot create the event log")?;
                router(log, max_wait)?
            }
            Some(Db::Postgres { url, schema }) => {
                let log = PgEventLog::new(pg::pool(&url, &schema, CONNECTIONS).await?, 1);
                log.migrate().await.context("cannot create the event log")?;
                router(log, max_wait)?
            }
        })
    };
    serve_until_killed(args.port, args.threads, app)
}

/// A log the append route can write to as its producer would.
trait Appendable: DataReader + Clone + Send + Sync {
    /// Appends `event`, returns once it is committed, with the clock
    /// (ns since the epoch) at the commit.
    fn append_committed(
        &self,
        event: Event,
        publish: bool,
    ) -> impl Future<Output = anyhow::Result<u64>> + Send;
}

impl Appendable for MemoryLog {
    async fn append_committed(&self, event: Event, _publish: bool) -> anyhow::Result<u64> {
        let visible = unix_nanos();
        self.append(event)?;
        Ok(visible)
    }
}

impl<DB: Backend> Appendable for EventLog<DB> {
    async fn append_committed(&self, event: Event, publish: bool) -> anyhow::Result<u64> {
        if publish {
            self.publish(std::slice::from_ref(&event)).await?;
        } else {
            // The outbox path: the producer's own transaction.
            let mut transaction = self.pool().begin().await?;
            self.append(&mut transaction, &event).await?;
            transaction.commit().await?;
        }
        Ok(unix_nanos())
    }
}

/// The state of the bench's routes.
struct Served<L> {
    log: L,
    feed: Feed<L>,
    /// Where the appends run: not among the requests they wake.
    appends: Dedicated,
}

fn router<L: Appendable>(log: L, max_wait: Duration) -> anyhow::Result<Router> {
    let feed = Feed::new(log.clone(), 1).with_max_wait(max_wait);
    let served = Arc::new(Served {
        log,
        feed: feed.clone(),
        appends: Dedicated::start("bench-append")?,
    });
    Ok(zeroeventhub_axum::feed_router(FEED_PATH, feed).merge(
        Router::new()
            .route(APPEND_PATH, post(append::<L>))
            .route(WAITING_PATH, get(waiting::<L>))
            .with_state(served),
    ))
}

#[derive(Debug, Deserialize)]
struct AppendQuery {
    seq: u64,
    #[serde(default)]
    publish: u8,
}

/// Appends the event, then answers with the clock after its commit.
async fn append<L: Appendable>(
    State(served): State<Arc<Served<L>>>,
    Query(query): Query<AppendQuery>,
) -> Result<String, (StatusCode, String)> {
    let failed = |error: anyhow::Error| (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}"));
    let event = Event::from_data(0, &PersonNameChanged::new(query.seq))
        .map_err(|error| failed(error.into()))?;
    let log = served.log.clone();
    let publish = query.publish != 0;
    let committed = served
        .appends
        .run(async move { log.append_committed(event, publish).await })
        .await
        .map_err(failed)?;
    Ok(committed.to_string())
}

async fn waiting<L: Appendable>(State(served): State<Arc<Served<L>>>) -> String {
    served.feed.waiting().to_string()
}
