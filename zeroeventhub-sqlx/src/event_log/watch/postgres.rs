//! PostgreSQL: `LISTEN` on one connection per log; every append, by any
//! process or replica, sends a `NOTIFY` that PostgreSQL delivers at commit.

use futures_core::future::BoxFuture;
use sqlx::{
    Pool, Postgres,
    pool::PoolOptions,
    postgres::{PgListener, PgNotification},
};

use super::super::changes::{Watch, Watcher, keep_watching, partitions_of};

/// The channel every event log notifies. The payload, `OID:P1,P2`, names
/// the table by its OID, which tells apart tables of one name in different
/// schemas.
const CHANNEL: &str = "zeroeventhub";

/// The OID of the log's table, resolved on the log's own pool (whose
/// connections may set a `search_path` the listening one lacks).
const TABLE_OID: &str = "SELECT CAST(CAST(CAST(CAST($1 AS TEXT) AS regclass) AS oid) AS BIGINT)";

impl Watch for Postgres {
    const NOTIFY: Option<&'static str> = Some(
        "SELECT pg_notify('zeroeventhub', CAST(CAST(CAST('{table}' AS regclass) AS oid) AS TEXT) || ':' || $1)",
    );

    fn watch(pool: Pool<Postgres>, watcher: Watcher) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            keep_watching(&watcher, || listen(&pool, &watcher)).await;
        })
    }
}

/// Listens until the connection fails. The connection is one of its own,
/// made with the pool's options, so the pool keeps all of its connections.
async fn listen(pool: &Pool<Postgres>, watcher: &Watcher) -> Result<(), sqlx::Error> {
    let oid: i64 = sqlx::query_scalar(TABLE_OID)
        .bind(&watcher.table)
        .fetch_one(pool)
        .await?;
    let table = oid.to_string();
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
            Some(notification) => wake(watcher, &table, &notification),
            // The connection was lost and made again: what was committed
            // in between was not notified.
            None => watcher.notifier.notify_all(),
        }
    }
}

/// Wakes the waiters of the partitions `notification` names, if it is
/// about the table of OID `table`.
fn wake(watcher: &Watcher, table: &str, notification: &PgNotification) {
    let Some(partitions) = partitions_of(notification.payload(), table) else {
        return;
    };
    for partition in partitions {
        match partition {
            Some(partition_id) => watcher.notifier.notify(partition_id),
            None => watcher.notifier.notify_all(),
        }
    }
}
