//! PostgreSQL: `LISTEN` on one connection per log; every append, by any
//! process or replica, sends a `NOTIFY` that PostgreSQL delivers at commit.

use std::time::Duration;

use futures_core::future::BoxFuture;
use sqlx::{
    Pool, Postgres,
    pool::PoolOptions,
    postgres::{PgListener, PgNotification},
};
use zeroeventhub::ErrorChain;

use super::super::changes::{Watch, Watcher, partitions_of};

/// The channel every event log notifies; the payload names the table.
const CHANNEL: &str = "zeroeventhub";

/// How long to wait before connecting again after the listening
/// connection failed.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

impl Watch for Postgres {
    const NOTIFY: Option<&'static str> = Some("SELECT pg_notify('zeroeventhub', $1)");

    fn watch(pool: Pool<Postgres>, watcher: Watcher) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            loop {
                if let Err(error) = listen(&pool, &watcher).await {
                    tracing::warn!(
                        error = %ErrorChain(&error),
                        table = %watcher.table,
                        "the connection listening for new events failed; connecting again"
                    );
                }
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        })
    }
}

/// Listens until the connection fails. The connection is one of its own,
/// made with the pool's options, so the pool keeps all of its connections.
async fn listen(pool: &Pool<Postgres>, watcher: &Watcher) -> Result<(), sqlx::Error> {
    let own = PoolOptions::<Postgres>::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with((*pool.connect_options()).clone())
        .await?;
    let mut listener = PgListener::connect_with(&own).await?;
    listener.listen(CHANNEL).await?;
    tracing::debug!(table = %watcher.table, "listening for new events");
    // Events committed while nobody listened are found by reading again.
    watcher.notifier.notify_all();
    loop {
        match listener.try_recv().await? {
            Some(notification) => wake(watcher, &notification),
            // The connection was lost and made again: what was committed
            // in between was not notified.
            None => watcher.notifier.notify_all(),
        }
    }
}

fn wake(watcher: &Watcher, notification: &PgNotification) {
    let Some(partitions) = partitions_of(notification.payload(), &watcher.table) else {
        return;
    };
    for partition in partitions {
        match partition {
            Some(partition_id) => watcher.notifier.notify(partition_id),
            None => watcher.notifier.notify_all(),
        }
    }
}
