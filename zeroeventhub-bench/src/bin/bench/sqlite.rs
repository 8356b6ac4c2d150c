//! The SQLite files of the SQL workloads: opened as the suite's producer,
//! consumer and checks all open them.

use std::{path::Path, time::Duration};

use anyhow::Context;
use zeroeventhub_sqlx::sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A pool of at most `max_connections` on the SQLite file at `path`,
/// created if missing, in WAL mode (as `zeh` opens its files, and as
/// `zeroeventhub_sqlx::EventLog` recommends); `synchronous` is SQLite's
/// default (`FULL`): every commit is flushed to disk.
pub(crate) async fn open(path: &Path, max_connections: u32) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(BUSY_TIMEOUT);
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        .connect_with(options)
        .await
        .with_context(|| format!("cannot open the SQLite database {}", path.display()))
}

/// The integer `query` returns (one row, one column) from the SQLite file
/// at `path`: for the orchestrator's checks, which run outside any tokio
/// runtime.
pub(crate) fn query_int(path: &Path, query: &'static str) -> anyhow::Result<i64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    runtime.block_on(async {
        let pool = open(path, 1).await?;
        let value = zeroeventhub_sqlx::sqlx::query_scalar::<_, i64>(query)
            .fetch_one(&pool)
            .await
            .with_context(|| format!("`{query}` in {}", path.display()));
        pool.close().await;
        value
    })
}
