//! The ready-made pairing: a feed consumed into a SQL database.

use std::future::Future;

use sqlx::{Pool, Transaction};
use zeroeventhub::{
    client::Client,
    consumer::{Consumer, ConsumerConfig, Handler},
};

use crate::{Error, SqlCursorStore, backend::Backend};

/// Consumes `client`'s feed exactly once into `pool`'s database until
/// `shutdown` completes.
///
/// Creates the cursor store's tables if needed, then runs the
/// [`Consumer`] runtime with a [`SqlCursorStore`]: for each partition, in
/// one transaction per page, `handler` applies every covered event and
/// the new cursor is stored, with the partition's lease checked, then the
/// transaction commits. Cursors are kept under
/// [`config.name`](ConsumerConfig::name). Several processes may run the
/// same consumer against one database: each partition is worked on by one
/// of them at a time, and taken over when its owner dies.
///
/// Implement [`Handler`] for the transaction of your database:
/// `impl Handler<sqlx::Transaction<'static, Sqlite>> for MyHandler`, and
/// run your statements on `&mut **transaction`.
///
/// # Errors
///
/// [`Error::Database`] when the tables cannot be created;
/// [`Error::Consumer`] when the consumer stops on its own (the producer
/// refused a request, a configured partition does not exist).
///
/// # Examples
///
/// A producer serves its event log over HTTP; a consumer copies every
/// event into a table of its own database, then stops:
///
/// ```
/// use std::time::Duration;
/// use sqlx::{Sqlite, Transaction, sqlite::SqlitePool};
/// use zeroeventhub::{client::Client, consumer::{ConsumerConfig, Handler}, BoxError, Event};
/// use zeroeventhub_sqlx::{EventLog, consume};
///
/// /// Applies one event: here, remembers its data.
/// struct Copy;
///
/// impl Handler<Transaction<'static, Sqlite>> for Copy {
///     async fn handle(&self, tx: &mut Transaction<'static, Sqlite>, event: &Event) -> Result<(), BoxError> {
///         sqlx::query("INSERT INTO copied (partition_id, data) VALUES ($1, $2)")
///             .bind(event.partition_id)
///             .bind(event.data_json())
///             .execute(&mut **tx)
///             .await?;
///         Ok(())
///     }
/// }
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let db = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
/// // The producer: an event log with three events, served on a local port.
/// let log = EventLog::new(SqlitePool::connect(&db("producer.db")).await?, 2);
/// log.migrate().await?;
/// let events: Vec<Event> = (0..3).map(|n| Event::from_data(n % 2, &n)).collect::<Result<_, _>>()?;
/// log.publish(&events).await?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let url = format!("http://{}/feed/v1", listener.local_addr()?);
/// let app = zeroeventhub_axum::feed_router("/feed/v1", log.clone());
/// tokio::spawn(async move { axum::serve(listener, app).await });
///
/// // The consumer, with its own database.
/// let pool = SqlitePool::connect(&db("consumer.db")).await?;
/// sqlx::query("CREATE TABLE copied (partition_id INTEGER, data TEXT)").execute(&pool).await?;
/// let config = ConsumerConfig { poll_interval: Duration::from_millis(20), ..ConsumerConfig::new("copier") };
/// // Stop once all three are in (a real consumer stops on a signal).
/// let all_copied = {
///     let pool = pool.clone();
///     async move {
///         while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM copied")
///             .fetch_one(&pool).await.unwrap_or(0) < 3
///         {
///             tokio::time::sleep(Duration::from_millis(20)).await;
///         }
///     }
/// };
/// consume(Client::new(&url, 2)?, pool.clone(), Copy, config, all_copied).await?;
///
/// let copied: i64 = sqlx::query_scalar("SELECT count(*) FROM copied").fetch_one(&pool).await?;
/// assert_eq!(copied, 3);
/// # Ok(())
/// # }
/// ```
pub async fn consume<DB, H>(
    client: Client,
    pool: Pool<DB>,
    handler: H,
    config: ConsumerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error>
where
    DB: Backend,
    H: Handler<Transaction<'static, DB>>,
{
    let store = SqlCursorStore::new(pool);
    store.migrate().await?;
    Consumer::new(client, store, handler, config)
        .run(shutdown)
        .await?;
    Ok(())
}
