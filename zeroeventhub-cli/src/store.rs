//! `zeh follow --store`: the core runtime on zeroeventhub-sqlx's cursor
//! store, with a handler that writes each page's events to the events
//! table in the page's transaction.
//!
//! - the events table (`zeh_events`, or `--table`): `id` (autoincrement),
//!   `partition_id`, `headers` (a JSON object of strings, or NULL when the
//!   event has none), `data` (the JSON text exactly as received);
//! - the cursors, leases and group members: the tables of
//!   `SqlCursorStore`, per consumer name (`--name`, default `zeh`).
//!
//! Several processes with one name and store form a group and share the
//! partitions; whichever dies when, the events table holds every event up
//! to the stored cursors exactly once.

use std::{fmt::Write as _, sync::Arc};

use anyhow::{Context, anyhow};
use zeroeventhub::{
    BoxError, Cursor, ErrorChain, Event, FeedLine, Page,
    client::Client,
    consumer::{Consumer, Handler},
};
use zeroeventhub_sqlx::{
    Backend, SqlCursorStore,
    sqlx::{self, Postgres, QueryBuilder, Sqlite, Transaction},
};

use crate::{
    args::{CursorsArgs, FollowArgs},
    connect::Connection,
    database::{Database, Pool},
    output::{Output, describe_feed_error},
    runtime::{self, Printer},
    signal::Signals,
    version,
};

/// Events per INSERT: 3 parameters each, well under SQLite's limit of
/// 32,766 bound parameters and PostgreSQL's 65,535.
const INSERT_BATCH: usize = 1_000;

/// Follows the feed of `client` into `store` with the runtime until
/// caught up (with `--until-caught-up`), a signal (the pages in hand are
/// stored first; a second signal abandons them) or a failure retrying
/// cannot fix. Each event is printed once its page has committed.
/// `partitions` is how many partition workers may run at once.
///
/// # Errors
///
/// The store cannot be opened or refuses its tables; the feed refuses a
/// request or breaks the protocol; stdout fails;
/// [`Interrupted`](crate::Interrupted).
pub(crate) async fn follow(
    args: &FollowArgs,
    client: Client,
    partitions: usize,
    store: &Database,
    signals: &Signals,
) -> anyhow::Result<()> {
    // A connection per partition worker, the heartbeat and one spare.
    let connections = u32::try_from(partitions)
        .unwrap_or(u32::MAX)
        .saturating_add(2);
    let pool = store.connect(connections.min(32)).await?;
    let result = match &pool {
        Pool::Sqlite(pool) => follow_on(args, client, store, pool.clone(), signals).await,
        Pool::Postgres(pool) => follow_on(args, client, store, pool.clone(), signals).await,
    };
    pool.close().await;
    result
}

async fn follow_on<DB>(
    args: &FollowArgs,
    client: Client,
    database: &Database,
    pool: sqlx::Pool<DB>,
    signals: &Signals,
) -> anyhow::Result<()>
where
    DB: Backend + EventsTable,
    Writer: Handler<Transaction<'static, DB>>,
{
    let table = &args.table;
    let store = SqlCursorStore::new(pool.clone());
    let tables = async {
        store.migrate().await?;
        DB::create(&pool, table).await?;
        Ok::<_, BoxError>(())
    };
    tables.await.map_err(|error| {
        anyhow!(
            "cannot create the tables of zeh follow --store in {database}: {}",
            ErrorChain(&*error)
        )
    })?;

    let printer = Arc::new(Printer::stdout());
    let writer = Writer {
        insert: format!("INSERT INTO {table} (partition_id, headers, data) "),
        printer: Arc::clone(&printer),
    };
    let consumer = Consumer::new(client, store, writer, runtime::config(args));
    runtime::run(consumer, &printer, signals).await
}

/// The handler: writes each page's events to the events table, in the
/// page's transaction, and prints them once it has committed.
pub(crate) struct Writer {
    /// The head of the multi-row INSERT.
    insert: String,
    printer: Arc<Printer>,
}

/// The events table in one database: its DDL, and a page's rows.
pub(crate) trait EventsTable: Backend {
    /// Creates `table` if it does not exist.
    fn create(
        pool: &sqlx::Pool<Self>,
        table: &str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// Writing a page's events: the handler's one statement for a page and
/// for an event alone.
trait Insert<DB: sqlx::Database> {
    fn insert(
        &self,
        transaction: &mut Transaction<'static, DB>,
        events: &[Event],
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// `Handler` and `EventsTable` for a database: the SQL is the same on
/// both, the types are not.
macro_rules! events_table {
    ($db:ty, $id:literal, $lock:expr) => {
        impl EventsTable for $db {
            async fn create(pool: &sqlx::Pool<Self>, table: &str) -> Result<(), sqlx::Error> {
                let mut transaction = pool.begin().await?;
                if let Some(lock) = $lock {
                    sqlx::query(lock).execute(&mut *transaction).await?;
                }
                let mut ddl = String::new();
                let _ = write!(
                    ddl,
                    "CREATE TABLE IF NOT EXISTS {table} (
                        id {},
                        partition_id BIGINT NOT NULL,
                        headers TEXT,
                        data TEXT NOT NULL
                    )",
                    $id
                );
                sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await
            }
        }

        impl Handler<Transaction<'static, $db>> for Writer {
            async fn handle(
                &self,
                transaction: &mut Transaction<'static, $db>,
                event: &Event,
            ) -> Result<(), BoxError> {
                self.insert(transaction, std::slice::from_ref(event)).await
            }

            async fn handle_page(
                &self,
                transaction: &mut Transaction<'static, $db>,
                page: &Page,
            ) -> Result<(), BoxError> {
                self.insert(transaction, page.events()).await
            }

            fn committed(&self, events: &[Event]) {
                self.printer.committed(events);
            }
        }

        impl Insert<$db> for Writer {
            // Multi-row INSERTs: one round trip to the database per
            // thousand events, not one per event.
            async fn insert(
                &self,
                transaction: &mut Transaction<'static, $db>,
                events: &[Event],
            ) -> Result<(), BoxError> {
                for batch in events.chunks(INSERT_BATCH) {
                    let mut insert = QueryBuilder::new(self.insert.as_str());
                    insert.push_values(batch, |mut row, event| {
                        row.push_bind(i64::from(event.partition_id))
                            .push_bind(headers_json(event))
                            .push_bind(event.data.get());
                    });
                    insert.build().execute(&mut **transaction).await?;
                }
                Ok(())
            }
        }
    };
}

events_table!(Sqlite, "INTEGER PRIMARY KEY AUTOINCREMENT", None::<&str>);
// Created behind a lock: two processes creating it at once would
// otherwise race in the catalog.
events_table!(
    Postgres,
    "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    Some("SELECT pg_advisory_xact_lock(hashtext('zeh_events'))")
);

/// An event's headers as the JSON text of the `headers` column, `None`
/// when it has none.
fn headers_json(event: &Event) -> Option<String> {
    let headers = event
        .headers
        .as_ref()
        .filter(|headers| !headers.is_empty())?;
    serde_json::to_string(headers).ok()
}

/// `zeh cursors STORE`: the stored cursors of consumer `--name`, one
/// checkpoint line per partition, partitions ascending; with `--feed`,
/// each with the producer's head and how far behind it is.
///
/// # Errors
///
/// The store cannot be opened or read, or the feed fails.
pub(crate) async fn print_cursors(args: &CursorsArgs) -> anyhow::Result<()> {
    let (database, name) = (&args.store, args.name.as_str());
    let pool = database.connect(1).await?;
    let cursors = match &pool {
        Pool::Sqlite(pool) => SqlCursorStore::new(pool.clone()).load_cursors(name).await,
        Pool::Postgres(pool) => SqlCursorStore::new(pool.clone()).load_cursors(name).await,
    };
    pool.close().await;
    let cursors = cursors
        .map_err(|error| anyhow!("{}", ErrorChain(&error)))
        .with_context(|| format!("cannot read the cursors of {name} in {database}"))?;
    let mut out = Output::stdout();
    let feed = match &args.feed {
        Some(url) => Some(Heads::connect(url, args.partitions).await?),
        None => None,
    };
    for cursor in cursors {
        let Some(feed) = &feed else {
            out.write_line(&FeedLine::Checkpoint(cursor))?;
            continue;
        };
        let head = feed.of(cursor.partition_id()).await?;
        out.write_text(&lag_line(&cursor, head.as_ref()))?;
    }
    out.flush()?;
    Ok(())
}

/// Where the partitions of a feed end now: version 1 with a partition
/// count, version 2 from the discovery otherwise.
struct Heads {
    client: Client,
    /// Version 2: the discovery's token and the partitions it lists.
    listed: Option<(String, Vec<u32>)>,
}

impl Heads {
    async fn connect(url: &url::Url, partitions: Option<u32>) -> anyhow::Result<Self> {
        let client = Connection::default().client(url.as_str(), partitions.unwrap_or(0), |b| b)?;
        let listed = match partitions {
            Some(_) => None,
            None => {
                let discovery = version::discover(&client).await?;
                let ids = discovery.partitions.iter().map(|p| p.id).collect();
                Some((discovery.token, ids))
            }
        };
        Ok(Heads { client, listed })
    }

    /// The head of `partition_id`; none for a partition the discovery no
    /// longer lists (its events went to a split's children).
    async fn of(&self, partition_id: u32) -> anyhow::Result<Option<Cursor>> {
        let head = match &self.listed {
            None => self.client.head_of(partition_id).await,
            Some((_, ids)) if !ids.contains(&partition_id) => return Ok(None),
            Some((token, _)) => self.client.head_of_partition(token, partition_id).await,
        };
        head.map_err(|error| anyhow!(describe_feed_error(&error)))
    }
}

/// `{"partition":P,"cursor":C,"head":H,"behind":N}`, `behind` only where
/// both are positions.
fn lag_line(cursor: &Cursor, head: Option<&Cursor>) -> String {
    // A cursor is printable ASCII: as a JSON string it only needs `"` and
    // `\` escaped, which serde_json does.
    let text = |cursor: &Cursor| serde_json::Value::from(cursor.as_str()).to_string();
    let head_text = head.map_or_else(|| "null".to_owned(), text);
    let behind = match (cursor.position(), head.and_then(Cursor::position)) {
        (Some(at), Some(end)) => format!(",\"behind\":{}", end.saturating_sub(at)),
        _ => String::new(),
    };
    format!(
        "{{\"partition\":{},\"cursor\":{},\"head\":{head_text}{behind}}}\n",
        cursor.partition_id(),
        text(cursor)
    )
}
