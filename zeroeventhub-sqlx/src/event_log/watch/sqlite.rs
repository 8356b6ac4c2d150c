//! SQLite: one connection of the log's own asks `PRAGMA data_version`,
//! which changes when any other connection (of this process or another)
//! commits to the database file. It asks only while requests wait: every
//! interval, and every millisecond for a while after this process
//! appended, so that an append of this process wakes its waiters about as
//! soon as it commits.

use std::time::Duration;

use futures_core::future::BoxFuture;
use sqlx::{Connection, Pool, Sqlite, SqliteConnection};
use tokio::time::Instant;
use zeroeventhub::ErrorChain;

use super::super::changes::{Watch, Watcher};

/// How often to check right after this process appended.
const EAGER_INTERVAL: Duration = Duration::from_millis(1);
/// How long to check eagerly after an append whose commit is not seen.
const EAGER_FOR: Duration = Duration::from_secs(1);
/// How long to wait before connecting again after the checking
/// connection failed.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

impl Watch for Sqlite {
    const NOTIFY: Option<&'static str> = None;

    fn watch(pool: Pool<Sqlite>, watcher: Watcher) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            loop {
                if let Err(error) = check(&pool, &watcher).await {
                    tracing::warn!(
                        error = %ErrorChain(&error),
                        table = %watcher.table,
                        "the connection checking for new events failed; connecting again"
                    );
                }
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        })
    }
}

/// Checks until the connection fails.
async fn check(pool: &Pool<Sqlite>, watcher: &Watcher) -> Result<(), sqlx::Error> {
    let mut connection = SqliteConnection::connect_with(&pool.connect_options()).await?;
    let mut seen = data_version(&mut connection).await?;
    // Commits before the first check are found by reading again.
    watcher.notifier.notify_all();
    let mut eager_until: Option<Instant> = None;
    loop {
        if watcher.notifier.listeners() == 0 {
            watcher.notifier.listened().await;
        }
        let eager = eager_until.is_some_and(|until| Instant::now() < until);
        let interval = if eager {
            EAGER_INTERVAL
        } else {
            watcher.interval
        };
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = watcher.appended.notified() => {
                eager_until = Some(Instant::now() + EAGER_FOR);
                continue;
            }
        }
        let now = data_version(&mut connection).await?;
        if now != seen {
            seen = now;
            eager_until = None;
            watcher.notifier.notify_all();
        }
    }
}

async fn data_version(connection: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(connection)
        .await
}
