//! The producer's event log: an append-only table served as a feed.

mod append;
pub(crate) mod changes;
mod discovery;
mod read;
mod table;
mod watch;

use std::{sync::Arc, time::Duration};

use crate::{Error, backend::Backend};
use sqlx::{Database, Pool};

pub use append::TypedEvent;
use changes::Changes;
pub use changes::DEFAULT_CHANGE_CHECK_INTERVAL;
pub use read::{DEFAULT_SCAN_LIMIT, READ_CHUNK};
use table::Statements;

/// The table an [`EventLog`] uses unless told otherwise.
pub const DEFAULT_TABLE: &str = "zeh_event_log";

/// The page size used when a request gives no `pagesizehint`.
pub use zeroeventhub::server::DEFAULT_PAGE_SIZE;

/// An append-only event log in a SQL table: producers append in their own
/// transactions (the outbox pattern), and the log serves itself as a feed
/// ([`DataReader`](zeroeventhub::server::DataReader)).
///
/// # The table
///
/// [`migrate`](EventLog::migrate) creates it (default name
/// [`DEFAULT_TABLE`], see [`with_table`](EventLog::with_table)):
///
/// | column | type | |
/// | --- | --- | --- |
/// | `partition_id` | `BIGINT` | the event's partition |
/// | `position` | `BIGINT` | 1, 2, 3, ... within the partition |
/// | `headers` | `TEXT` or NULL | the headers as a JSON object of strings |
/// | `data` | `TEXT` | the data, byte for byte as appended |
/// | `created_at` | `TIMESTAMPTZ` (PostgreSQL), ISO 8601 `TEXT` (SQLite) | when it was appended |
/// | `event_type` | `TEXT` or NULL | the event's type, as appended, for event-type filters |
///
/// Tables made by an earlier version of this crate have no `event_type`:
/// `migrate` adds it (see [`migrate`](EventLog::migrate)); their events
/// have no type.
///
/// The primary key is (`partition_id`, `position`): reads are index range
/// scans. Positions within a partition are gap-free and never reused
/// while the partition's latest event is kept; to prune old events,
/// delete the oldest ones and keep at least the latest of each
/// partition.
///
/// # The feed
///
/// The cursor after the k-th event of a partition is `"k"`; `_first` (or
/// `"0"`) is before the first event, `_last` the current end. A request
/// gets, partition by partition in ascending order, the events after each
/// cursor, at most the page size hint in total (default
/// [`DEFAULT_PAGE_SIZE`], see [`with_default_page_size`](EventLog::with_default_page_size)),
/// a checkpoint after each event, and at the end a checkpoint for every
/// requested partition, even one without events. Headers are included as
/// requested. A cursor that is not `_first`, `_last` or a position in
/// `0..=end` is refused as the client's fault (400, naming the
/// parameter). Rows are read in keyset chunks of [`READ_CHUNK`]: a large
/// page never sits in memory, and no connection is held while the
/// consumer reads.
///
/// # Event-type filters
///
/// An event appended with a type ([`append_typed`](EventLog::append_typed),
/// [`TypedEvent`]) is kept or dropped by a request's `event-types` or
/// `skip-event-types` (the core's
/// [`EventTypeFilter`](zeroeventhub::EventTypeFilter), compared
/// case-insensitively, Unicode lowercase); an event without a type is
/// dropped by `event-types` and kept by `skip-event-types`. An event
/// filtered away sends nothing, but the checkpoints move past it: the
/// next checkpoint of its partition, and the partition's final one, which
/// is always past every row the request examined.
///
/// With a filter, the page size hint counts the events **sent**, and the
/// rows a request examines are bounded separately: at most the larger of
/// the page size and the scan limit ([`DEFAULT_SCAN_LIMIT`], see
/// [`with_scan_limit`](EventLog::with_scan_limit)), in chunks of
/// [`READ_CHUNK`] rows. A filter that matches nothing therefore costs one
/// request a bounded scan, and answers with the checkpoint at the last
/// row examined: never past a row it did not look at (an answer without
/// events whose checkpoint moved: there may be more, ask again from it
/// at once). Filtering happens
/// as the rows are read (the type is compared in Rust, exactly as the
/// core's `EventTypeFilter::keeps` does, on both databases); a request
/// without a filter reads neither the type nor anything more than before.
///
/// # Version 2
///
/// The log speaks version 2 (FeedAPI) as well as version 1, on the same
/// route: its [discovery](zeroeventhub::server::DataReader::discovery)
/// lists every partition `0..partition_count`, open, with
/// `exactlyOnce: true` and the token `p` followed by the partition count
/// (`"p4"`). The token depends on nothing else, so it is the same after a
/// restart and on every replica serving the same log; a new partition
/// count is a new token, and consumers holding the old one get 409 and
/// discover again. A log of more than 32,768 partitions (version 2's
/// highest id is 32767) has no discovery and speaks version 1 only.
///
/// # Gap safety
///
/// A checkpoint handed out never passes an event that is still
/// uncommitted and commits later with a lower position: within a
/// partition, events commit in position order.
///
/// - **SQLite** runs one write transaction at a time, and an append takes
///   its position (`max + 1`) inside its own `INSERT`, under the write
///   lock.
/// - **PostgreSQL**: an append first takes a transaction-scoped advisory
///   lock for its table and partition (`pg_advisory_xact_lock`, key = the
///   table's OID in the high 32 bits, the partition in the low 32 bits),
///   then takes its position. Appends to one partition therefore wait for
///   each other's transactions to end: the cost is that the partition's
///   append throughput is one transaction at a time, so keep appending
///   transactions short (append last, just before commit). Appends to
///   different partitions do not wait for each other. Readers never take
///   the lock.
///
/// Use PostgreSQL's default isolation level (`READ COMMITTED`) for
/// appending transactions: under `REPEATABLE READ` or `SERIALIZABLE`, two
/// concurrent appends to one partition make the later one fail (a
/// unique-key or serialization error; retry it), though never a gap.
///
/// # Long-polling
///
/// Served through a [`Feed`](zeroeventhub::server::Feed), a request that
/// asks to `wait` is woken as soon as one of its partitions gets an event,
/// whoever appended it. The first waiting request starts the log's change
/// check, one per log (and its clones), shared by all waiting requests:
///
/// - **PostgreSQL**: an append sends `NOTIFY` inside its transaction
///   (delivered at commit, to every producer replica), and the log
///   listens on a connection of its own, made with the pool's options
///   (the pool keeps all of its connections). A lost connection is made
///   again, and every waiting request reads again, so nothing committed in
///   between is missed. Only the waiters of the partitions an append names
///   are woken.
/// - **SQLite**: a connection of its own asks `PRAGMA data_version` (which
///   changes when any other connection commits), only while requests
///   wait: every [`DEFAULT_CHANGE_CHECK_INTERVAL`] (see
///   [`with_change_check_interval`](EventLog::with_change_check_interval))
///   for other processes, and right after an append of this process back
///   to back until its commit is seen (for 20 ms at most, then every
///   millisecond for a second); on a change, one range scan of the new rows
///   (by rowid) says which partitions got events, and only their waiters
///   are woken (a commit to another table wakes nobody).
///   [`publish`](EventLog::publish) wakes the waiters at once, having
///   committed itself. An in-memory database is
///   not seen by another connection: there, only `publish` wakes waiters
///   before their wait ends.
///
/// On SQLite, open the database in WAL mode
/// (`SqliteConnectOptions::journal_mode(SqliteJournalMode::Wal)`): then
/// serving the feed and appending never wait for each other. An append
/// waits for other writers up to the pool's `busy_timeout` (5 s by
/// default).
///
/// # Examples
///
/// A producer changes its state and appends the event in one transaction:
///
/// ```
/// use futures_util::StreamExt;
/// use sqlx::sqlite::SqlitePool;
/// use zeroeventhub::{server::DataReader, Cursor, Event, FeedLine, FeedRequest};
/// use zeroeventhub_sqlx::{EventLog, partition_for};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}?mode=rwc", dir.path().join("producer.db").display());
/// let pool = SqlitePool::connect(&url).await?;
/// let log = EventLog::new(pool.clone(), 4);
/// log.migrate().await?;
/// sqlx::query("CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT)").execute(&pool).await?;
///
/// let mut tx = pool.begin().await?;
/// sqlx::query("INSERT INTO people VALUES ('p1', 'Ada')").execute(&mut *tx).await?;
/// let event = Event::from_data(partition_for("p1", 4), &serde_json::json!({"id": "p1", "name": "Ada"}))?;
/// let cursor = log.append(&mut tx, &event).await?;
/// tx.commit().await?;
/// assert_eq!(cursor.as_str(), "1");
///
/// // Serve it (with zeroeventhub-axum), or read it directly:
/// let request = FeedRequest::new(4, vec![Cursor::first(event.partition_id)]);
/// let lines: Vec<_> = log.read(request).collect().await;
/// assert!(matches!(&lines[0], Ok(FeedLine::Event(e)) if e == &event));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct EventLog<DB: Database> {
    pool: Pool<DB>,
    partition_count: u32,
    default_page_size: u32,
    scan_limit: u32,
    sql: Arc<Statements>,
    changes: Arc<Changes>,
    time_header: Option<Arc<str>>,
    discovery: discovery::Shared,
}

impl<DB: Database> Clone for EventLog<DB> {
    fn clone(&self) -> Self {
        EventLog {
            pool: self.pool.clone(),
            partition_count: self.partition_count,
            default_page_size: self.default_page_size,
            scan_limit: self.scan_limit,
            sql: Arc::clone(&self.sql),
            changes: Arc::clone(&self.changes),
            time_header: self.time_header.clone(),
            discovery: self.discovery.clone(),
        }
    }
}

impl<DB: Backend> EventLog<DB> {
    /// The log of `partition_count` partitions in table [`DEFAULT_TABLE`]
    /// of `pool`'s database. Call [`migrate`](EventLog::migrate) once
    /// before use.
    pub fn new(pool: Pool<DB>, partition_count: u32) -> Self {
        EventLog {
            pool,
            partition_count,
            default_page_size: DEFAULT_PAGE_SIZE,
            scan_limit: DEFAULT_SCAN_LIMIT,
            sql: Arc::new(Statements::new::<DB>(DEFAULT_TABLE, false)),
            changes: Arc::new(Changes::new(partition_count, DEFAULT_CHANGE_CHECK_INTERVAL)),
            time_header: None,
            discovery: discovery::Shared::new(partition_count),
        }
    }

    /// Uses table `table` instead of [`DEFAULT_TABLE`]: for several feeds
    /// in one database. The name may be qualified by a schema
    /// (`schema.table`); unqualified names follow the connection's
    /// `search_path` (PostgreSQL).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTableName`] unless each part is a plain identifier
    /// (ASCII letters, digits, `_`, not starting with a digit, at most 63
    /// bytes).
    pub fn with_table(mut self, table: &str) -> Result<Self, Error> {
        crate::validate_table_name(table)?;
        self.sql = Arc::new(Statements::new::<DB>(table, self.time_header.is_some()));
        Ok(self)
    }

    /// Sends each event's append time as the header `name`, to consumers
    /// that ask for it (`headers=_all`, or the name): RFC 3339 in UTC with
    /// milliseconds, `2026-12-01T14:03:07.123Z`. With it a consumer can
    /// tell how many seconds behind it is
    /// (`ConsumerConfig::time_header`, and the runtime's
    /// `zeroeventhub_consumer_seconds_behind`). The time is the append's
    /// (on PostgreSQL, its transaction's start): close to the commit for
    /// an append made last in its transaction. It replaces a stored header
    /// of the same name.
    #[must_use]
    pub fn with_time_header(mut self, name: impl Into<String>) -> Self {
        self.time_header = Some(name.into().into());
        self.sql = Arc::new(Statements::new::<DB>(&self.sql.table, true));
        self
    }

    /// Sets the page size for requests without a hint (default
    /// [`DEFAULT_PAGE_SIZE`]; at least 1).
    #[must_use]
    pub fn with_default_page_size(mut self, page_size: u32) -> Self {
        self.default_page_size = page_size.max(1);
        self
    }

    /// Sets the scan limit of filtered requests (default
    /// [`DEFAULT_SCAN_LIMIT`]; at least 1): a request with an event-type
    /// filter examines at most this many rows, or its page size if that
    /// is larger, and ends at the last row examined. See
    /// [Event-type filters](EventLog#event-type-filters).
    #[must_use]
    pub fn with_scan_limit(mut self, rows: u32) -> Self {
        self.scan_limit = rows.max(1);
        self
    }

    /// How often SQLite is asked whether another connection committed,
    /// while requests wait (default [`DEFAULT_CHANGE_CHECK_INTERVAL`]):
    /// the longest an append of another process waits to wake them. No
    /// effect on PostgreSQL, which notifies. Set it before serving.
    #[must_use]
    pub fn with_change_check_interval(mut self, interval: Duration) -> Self {
        self.changes = Arc::new(Changes::new(self.partition_count, interval));
        self
    }

    /// The pool the log reads from.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The number of partitions: serve the log with this count.
    pub fn partition_count(&self) -> u32 {
        self.partition_count
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// The partition of the entity `key`: [`partition_for`](crate::partition_for)
    /// with this log's partition count.
    pub fn partition_for(&self, key: impl AsRef<[u8]>) -> u32 {
        crate::partition_for(key, self.partition_count)
    }

    /// Creates the table if it does not exist, and on PostgreSQL the
    /// schema of a `schema.table` name if that is missing; adds the
    /// `event_type` column to a table made by an earlier version of this
    /// crate. Safe to call at every start, from several processes at once.
    ///
    /// The column is looked for in the catalog first: a table that has it
    /// is not altered. Adding it (nullable, no default: no row is
    /// rewritten) takes the table's write lock for a moment, on
    /// PostgreSQL after the transactions using the table have ended. On
    /// SQLite a migration holds the database's write lock while it runs
    /// (a few milliseconds), so that processes starting together migrate
    /// one after another.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the database refuses.
    pub async fn migrate(&self) -> Result<(), Error> {
        let schema = crate::migrate::schema_of(&self.sql.table);
        let create = std::slice::from_ref(&self.sql.create);
        crate::migrate::run(&self.pool, schema, create, &self.sql.added_columns()).await
    }

    /// The statements [`migrate`](EventLog::migrate) runs, for a migration
    /// tool of your own (run them in this order, in one transaction).
    ///
    /// On PostgreSQL they also upgrade a table made by an earlier version
    /// (`ALTER TABLE ... ADD COLUMN IF NOT EXISTS event_type TEXT`).
    /// SQLite has no `ADD COLUMN IF NOT EXISTS`: there they only create
    /// the table, and an older table needs `ALTER TABLE {table} ADD
    /// COLUMN event_type TEXT`, once (or `migrate`, which looks first).
    pub fn ddl(&self) -> Vec<String> {
        let schema = crate::migrate::schema_of(&self.sql.table);
        let create = std::slice::from_ref(&self.sql.create);
        crate::migrate::ddl::<DB>(schema, create, &self.sql.added_columns())
    }
}
