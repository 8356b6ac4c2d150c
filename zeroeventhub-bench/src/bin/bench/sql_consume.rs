//! `bench sql-consume`: the library's ready-made consumer into a SQL store
//! (a SQLite file or a PostgreSQL schema), exactly once.
//!
//! Runs `zeroeventhub_sqlx::consume` (the consumer runtime with a
//! `SqlCursorStore`) from `_first` in pages of `--page-size`, with a
//! handler that inserts each page's events (`seq` and `id`) into an
//! application table with multi-row INSERTs (`Handler::handle_page`),
//! inside the page's transaction where the runtime then stores the cursor,
//! and stops once the event with seq `--events` is applied. Then
//! checks the table (exactly `--events` rows, seqs 1..=events, all
//! distinct) and prints one JSON line: wall seconds, events, CPU seconds
//! and peak RSS, like `bench consume`.
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use tokio::sync::Notify;
use zeroeventhub::{
    BoxError, Event, Page,
    client::Client,
    consumer::{ConsumerConfig, Handler},
};
use zeroeventhub_bench::{proc_stats::Proc, workload::PersonNameChanged};
use zeroeventhub_sqlx::{
    Backend,
    sqlx::{self, Pool, Postgres, QueryBuilder, Sqlite, Transaction},
};

use crate::{
    pg,
    sql_db::{Db, DbArgs},
    sqlite,
};

/// The application table the handler writes (`BIGINT`: 64 bits on both
/// databases).
const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS bench_applied (seq BIGINT NOT NULL, id TEXT NOT NULL)";
/// The head of the handler's multi-row INSERT.
const INSERT: &str = "INSERT INTO bench_applied (seq, id) ";
/// Rows per INSERT (2 parameters each, well under SQLite's limit).
const INSERT_BATCH: usize = 1_000;
const CHECK: &str = "SELECT COUNT(*), COUNT(DISTINCT seq), COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) \
     FROM bench_applied";

/// How long a caught-up partition waits before asking again: short, so
/// that waiting never dominates the measured time.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Options of `bench sql-consume`.
#[derive(Debug, clap::Args)]
pub(crate) struct SqlConsumeArgs {
    /// The feed's URL.
    #[arg(long)]
    url: String,
    /// How many events to apply from `_first` before stopping.
    #[arg(long)]
    events: u64,
    /// The consumer's database (a SQLite file is created if missing; it
    /// must not hold the tables of an earlier run).
    #[command(flatten)]
    db: DbArgs,
    /// The `pagesizehint` of every request.
    #[arg(long, default_value_t = 1_000)]
    page_size: u32,
}

/// Applies the feed's events into the store and prints the figures as one
/// JSON line.
pub(crate) fn run(args: &SqlConsumeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(consume(args))?;
    println!("{report}");
    Ok(())
}

/// Inserts each event's seq and id in the page's transaction; wakes the
/// waiter once the event with seq `last` is applied.
#[derive(Debug)]
struct Apply {
    last: u64,
    done: Arc<Notify>,
}

/// The handler on one database's transactions, and `$insert`, its
/// multi-row INSERTs: the same code for SQLite and PostgreSQL.
macro_rules! apply_on {
    ($db:ty, $insert:ident) => {
        /// Writes `rows` in multi-row INSERTs of up to [`INSERT_BATCH`].
        async fn $insert(
            transaction: &mut Transaction<'static, $db>,
            rows: Vec<(i64, String)>,
        ) -> Result<(), BoxError> {
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let mut insert = QueryBuilder::<$db>::new(INSERT);
                insert.push_values(rows.by_ref().take(INSERT_BATCH), |mut row, (seq, id)| {
                    row.push_bind(seq).push_bind(id);
                });
                insert.build().execute(&mut **transaction).await?;
            }
            Ok(())
        }

        impl Handler<Transaction<'static, $db>> for Apply {
            /// One event: what the runtime falls back to when a page fails.
            async fn handle(
                &self,
                transaction: &mut Transaction<'static, $db>,
                event: &Event,
            ) -> Result<(), BoxError> {
                let (rows, last) = self.rows(std::slice::from_ref(event))?;
                $insert(transaction, rows).await?;
                self.applied(last);
                Ok(())
            }

            /// A whole page in multi-row INSERTs, as a handler that cares
            /// for speed writes it.
            async fn handle_page(
                &self,
                transaction: &mut Transaction<'static, $db>,
                page: &Page,
            ) -> Result<(), BoxError> {
                let (rows, last) = self.rows(page.events())?;
                $insert(transaction, rows).await?;
                self.applied(last);
                Ok(())
            }
        }
    };
}

apply_on!(Sqlite, insert_sqlite);
apply_on!(Postgres, insert_postgres);

impl Apply {
    /// The (seq, id) rows of `events`, and whether the event with seq
    /// `last` is among them.
    fn rows(&self, events: &[Event]) -> Result<(Vec<(i64, String)>, bool), BoxError> {
        let mut last = false;
        let rows = events
            .iter()
            .map(|event| {
                let data: PersonNameChanged = event.data_as()?;
                last |= data.seq == self.last;
                Ok((i64::try_from(data.seq)?, data.id.to_string()))
            })
            .collect::<Result<_, BoxError>>()?;
        Ok((rows, last))
    }

    /// Rows were written: wakes the waiter if `last` was among them (the
    /// runtime commits the page in hand before it stops).
    fn applied(&self, last: bool) {
        if last {
            self.done.notify_one();
        }
    }
}

async fn consume(args: &SqlConsumeArgs) -> anyhow::Result<serde_json::Value> {
    match args.db.db()? {
        Db::Sqlite(path) => {
            consume_into(
                args,
                sqlite::open(&path, 4).await?,
                &path.display().to_string(),
            )
            .await
        }
        Db::Postgres { url, schema } => {
            consume_into(args, pg::pool(&url, &schema, 4).await?, &schema).await
        }
    }
}

/// Consumes into `pool`'s database (`place` names it in messages), then
/// checks the table.
async fn consume_into<DB>(
    args: &SqlConsumeArgs,
    pool: Pool<DB>,
    place: &str,
) -> anyhow::Result<serde_json::Value>
where
    DB: Backend,
    Apply: Handler<Transaction<'static, DB>>,
    for<'c> &'c Pool<DB>: sqlx::Executor<'c, Database = DB>,
    (i64, i64, i64, i64): for<'r> sqlx::FromRow<'r, DB::Row>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    // The consumer stops at the event with seq --events: there must be one.
    ensure!(args.events > 0, "--events must be at least 1");
    sqlx::query(CREATE_TABLE)
        .execute(&pool)
        .await
        .with_context(|| format!("cannot create bench_applied in {place}"))?;
    let client = Client::new(&args.url, 1)?;
    let config = ConsumerConfig {
        page_size_hint: Some(args.page_size),
        poll_interval: POLL_INTERVAL,
        ..ConsumerConfig::new("bench")
    };
    let done = Arc::new(Notify::new());
    let handler = Apply {
        last: args.events,
        done: Arc::clone(&done),
    };

    let cpu_before = Proc::Current.cpu_seconds()?;
    let started = Instant::now();
    zeroeventhub_sqlx::consume(client, pool.clone(), handler, config, done.notified())
        .await
        .context("the consumer stopped")?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = Proc::Current.cpu_seconds()? - cpu_before;

    let (rows, distinct, min, max): (i64, i64, i64, i64) = sqlx::query_as(CHECK)
        .fetch_one(&pool)
        .await
        .with_context(|| format!("cannot read bench_applied in {place}"))?;
    pool.close().await;
    let expected = i64::try_from(args.events)?;
    ensure!(
        (rows, distinct, min, max) == (expected, expected, 1, expected),
        "bench_applied holds {rows} rows, {distinct} distinct seqs from {min} to {max}; \
         {expected} rows with seqs 1..={expected} expected"
    );
    Ok(serde_json::json!({
        "wall_s": wall,
        "events": rows,
        "cpu_s": cpu,
        "peak_rss_kib": Proc::Current.peak_rss_kib()?,
    }))
}
