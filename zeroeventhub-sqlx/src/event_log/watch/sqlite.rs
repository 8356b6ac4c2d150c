//! SQLite: one connection of the log's own asks `PRAGMA data_version`,
//! which changes when any other connection (of this process or another)
//! commits to the database file. It asks only while requests wait: every
//! interval, and back to back right after this process appended (for a
//! few milliseconds at most, then every millisecond for a while), so that
//! an append of this process wakes its waiters about as soon as it
//! commits.
//!
//! On a change it looks up which partitions got rows since the last check
//! (rows come in rowid order, so one range scan of the new rows tells) and
//! wakes only their waiters: a commit to another table of the database
//! wakes nobody, and nobody's feed query runs for a partition that did not
//! change.

use std::time::Duration;

use futures_core::future::BoxFuture;
use futures_util::FutureExt;
use sqlx::{Connection, Pool, Sqlite, SqliteConnection};
use tokio::time::Instant;

use super::super::changes::{Watch, Watcher, keep_watching};

/// How long after an append of this process the check runs back to back,
/// without sleeping (a round trip to the connection's worker thread each):
/// the commit of an append made last in its transaction is seen within
/// tens of microseconds. Only until that commit is seen: append last,
/// commit soon.
const EAGER_AT_ONCE_FOR: Duration = Duration::from_millis(20);
/// After that, how often to check (tokio's timer ticks in milliseconds)...
const EAGER_INTERVAL: Duration = Duration::from_millis(1);
/// ...and for how long after the append, before the usual interval.
const EAGER_FOR: Duration = Duration::from_secs(1);

impl Watch for Sqlite {
    const NOTIFY: Option<&'static str> = None;

    fn watch(pool: Pool<Sqlite>, watcher: Watcher) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            keep_watching(&watcher, || check(&pool, &watcher)).await;
        })
    }
}

/// Checks until the connection fails.
async fn check(pool: &Pool<Sqlite>, watcher: &Watcher) -> Result<(), sqlx::Error> {
    let mut connection = SqliteConnection::connect_with(&pool.connect_options()).await?;
    let mut seen = data_version(&mut connection).await?;
    let mut rows = NewRows::of(&watcher.table);
    rows.start(&mut connection).await;
    // Commits before the first check are found by reading again.
    watcher.notifier.notify_all();
    // When this process last appended, until its commit is seen.
    let mut appended: Option<Instant> = None;
    loop {
        if watcher.notifier.listeners() == 0 {
            watcher.notifier.listened().await;
        }
        let since = appended.map(|at| at.elapsed());
        let interval = match since {
            Some(since) if since < EAGER_AT_ONCE_FOR => Duration::ZERO,
            Some(since) if since < EAGER_FOR => EAGER_INTERVAL,
            _ => watcher.interval,
        };
        if interval.is_zero() {
            if watcher.appended.notified().now_or_never().is_some() {
                appended = Some(Instant::now());
            }
            tokio::task::yield_now().await;
        } else {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = watcher.appended.notified() => {
                    appended = Some(Instant::now());
                    continue;
                }
            }
        }
        let now = data_version(&mut connection).await?;
        if now != seen {
            seen = now;
            if rows.wake(&mut connection, watcher).await {
                appended = None;
            }
        }
    }
}

/// The log's rows since the last check.
struct NewRows {
    /// The rowid of the newest row seen; `None` when it could not be read
    /// (then every change wakes every waiter).
    newest: Option<i64>,
    newest_sql: String,
    since_sql: String,
}

impl NewRows {
    fn of(table: &str) -> Self {
        NewRows {
            newest: None,
            newest_sql: format!("SELECT COALESCE(MAX(rowid), 0) FROM {table}"),
            since_sql: format!(
                "SELECT partition_id, MAX(rowid) FROM {table} WHERE rowid > $1 GROUP BY partition_id"
            ),
        }
    }

    /// Reads where the log ends now.
    async fn start(&mut self, connection: &mut SqliteConnection) {
        let newest = sqlx::query_scalar(sqlx::AssertSqlSafe(self.newest_sql.as_str()))
            .fetch_one(connection)
            .await;
        self.newest = match newest {
            Ok(newest) => Some(newest),
            Err(error) => {
                tracing::debug!(%error, "cannot read the event log's newest row; every change wakes every waiting request");
                None
            }
        };
    }

    /// Wakes the waiters of the partitions with new rows; `true` when the
    /// log changed (or may have).
    async fn wake(&mut self, connection: &mut SqliteConnection, watcher: &Watcher) -> bool {
        let Some(newest) = self.newest else {
            watcher.notifier.notify_all();
            self.start(connection).await;
            return true;
        };
        let rows: Result<Vec<(i64, i64)>, _> =
            sqlx::query_as(sqlx::AssertSqlSafe(self.since_sql.as_str()))
                .bind(newest)
                .fetch_all(&mut *connection)
                .await;
        match rows {
            Ok(rows) => {
                for &(partition_id, rowid) in &rows {
                    match u32::try_from(partition_id) {
                        Ok(partition_id) => watcher.notifier.notify(partition_id),
                        Err(_) => watcher.notifier.notify_all(),
                    }
                    self.newest = self.newest.max(Some(rowid));
                }
                !rows.is_empty()
            }
            Err(error) => {
                tracing::debug!(%error, "cannot read the event log's new rows; waking every waiting request");
                watcher.notifier.notify_all();
                self.newest = None;
                true
            }
        }
    }
}

async fn data_version(connection: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(connection)
        .await
}
