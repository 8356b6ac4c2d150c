//! The producer's event log in a database (zeroeventhub-sqlx's `EventLog`,
//! table `zeh_event_log` unless `--table` names another): served by
//! `zeh serve STORE`, written by `zeh append STORE`.

use anyhow::Context;
use zeroeventhub::Cursor;
use zeroeventhub_sqlx::{Backend, EventLog, TypedEvent, sqlx};

use crate::{
    database::{Database, Pool},
    serve::{FeedSettings, Served},
};

/// Connections `zeh serve` keeps to the database: requests in flight read
/// in parallel.
const SERVE_CONNECTIONS: u32 = 8;

/// Opens the log of `partitions` partitions in `database` (creating its
/// table if missing) and returns it served as `settings` say, and the
/// pool to close at the end.
///
/// # Errors
///
/// The database cannot be opened or refuses the table.
pub(crate) async fn served(
    database: &Database,
    table: &str,
    partitions: u32,
    settings: &FeedSettings,
) -> anyhow::Result<(Served, Pool)> {
    let pool = database.connect(SERVE_CONNECTIONS).await?;
    let served = match &pool {
        Pool::Sqlite(pool) => {
            let log = open(pool, table, partitions, database).await?;
            settings.serve(settings.configure(log))
        }
        Pool::Postgres(pool) => {
            let log = open(pool, table, partitions, database).await?;
            settings.serve(settings.configure(log))
        }
    };
    Ok((served, pool))
}

/// Appends `events`, in order, to the log of `partitions` partitions in
/// `database` (creating its table if missing), in one transaction; returns
/// their cursors.
///
/// # Errors
///
/// The database cannot be opened or refuses the table or the events:
/// nothing is appended then.
pub(crate) async fn append(
    database: &Database,
    table: &str,
    partitions: u32,
    events: &[TypedEvent],
) -> anyhow::Result<Vec<Cursor>> {
    let pool = database.connect(1).await?;
    let published = match &pool {
        Pool::Sqlite(pool) => {
            open(pool, table, partitions, database)
                .await?
                .publish_typed(events)
                .await
        }
        Pool::Postgres(pool) => {
            open(pool, table, partitions, database)
                .await?
                .publish_typed(events)
                .await
        }
    };
    let cursors = published.with_context(|| format!("cannot append to {database}"))?;
    pool.close().await;
    Ok(cursors)
}

/// The log of `partitions` partitions in `table` of `pool`'s database,
/// created if missing.
async fn open<DB: Backend>(
    pool: &sqlx::Pool<DB>,
    table: &str,
    partitions: u32,
    database: &Database,
) -> anyhow::Result<EventLog<DB>> {
    let log = EventLog::new(pool.clone(), partitions).with_table(table)?;
    log.migrate()
        .await
        .with_context(|| format!("cannot create the table {table} in {database}"))?;
    Ok(log)
}
