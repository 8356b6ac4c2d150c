//! The consumer's cursors and partition leases in its own database.

mod leases;
mod statements;

use std::sync::Arc;

use sqlx::{Database, Pool, Transaction};
use zeroeventhub::Cursor;

use crate::{
    Error,
    backend::{Backend, Bind, statement},
};
use statements::Statements;

/// The table of cursors: one row per (consumer, partition).
pub const CURSORS_TABLE: &str = "zeh_consumer_cursors";
/// The table of leases: one row per (consumer, partition) being worked on.
pub const LEASES_TABLE: &str = "zeh_consumer_leases";
/// The table of group members: one row per live process of a consumer.
pub const MEMBERS_TABLE: &str = "zeh_consumer_members";

/// The nullable column of [`CURSORS_TABLE`] that marks a closed version 2
/// partition finished; tables made before it had none, and a migration
/// adds it.
const FINISHED_COLUMN: &str = "finished_at_ms";

/// A consumer's cursors, kept in its own database and saved in the same
/// transaction as the effects of the events: the
/// [`CursorStore`](zeroeventhub::consumer::CursorStore) of the consumer
/// runtime, and plain helpers for a loop of your own.
///
/// # Tables
///
/// [`migrate`](SqlCursorStore::migrate) creates them:
///
/// - [`CURSORS_TABLE`] (`consumer`, `partition_id`, `cursor`,
///   `updated_at_ms`, `finished_at_ms`), primary key (`consumer`,
///   `partition_id`); `finished_at_ms`, NULL until then, is when a closed
///   version 2 partition was consumed to its end
///   ([`mark_finished`](zeroeventhub::consumer::CursorStore::mark_finished)):
///   the runtime no longer asks for it, and an ordered split's children
///   start at once, after a restart too;
/// - [`LEASES_TABLE`] (`consumer`, `partition_id`, `owner`,
///   `expires_at_ms`), primary key (`consumer`, `partition_id`);
/// - [`MEMBERS_TABLE`] (`consumer`, `owner`, `expires_at_ms`), primary key
///   (`consumer`, `owner`): the live processes of each consumer name, by
///   which the runtime shares the partitions among them.
///
/// Tables made by an earlier version of this crate have no
/// `finished_at_ms`: [`migrate`](SqlCursorStore::migrate) adds it
/// (nullable, no default: no row is rewritten), and their cursors stay as
/// they are.
///
/// The flag is a column of the cursor's row rather than a table of its
/// own because it belongs to the cursor: it says that cursor is final.
/// Deleting a consumer's cursors, to consume a feed again from the start,
/// so forgets the flag too (a table of its own would go on skipping the
/// closed partitions); and a partition that never stored a cursor (closed
/// and empty) gets a row with its final one when it is marked.
///
/// Times are milliseconds since the Unix epoch by **the database's
/// clock** (`clock_timestamp()` on PostgreSQL, `julianday('now')` on
/// SQLite), never the processes' own: every process sharing the database
/// agrees on when a lease expires, whatever their clocks say.
///
/// # Leases and fencing
///
/// The runtime works on a partition only while it holds its lease:
/// [`claim`](zeroeventhub::consumer::CursorStore::claim) takes the lease
/// when nobody holds it, when it expired, or renews it when it is already
/// ours, in one atomic upsert. [`save_cursor`](zeroeventhub::consumer::CursorStore::save_cursor)
/// first renews the lease *inside the page's transaction* with an
/// `UPDATE ... WHERE owner = ours`, which row-locks the lease until commit,
/// and stores nothing (returning `false`) when another owner took it over:
/// a worker that lost its partition can never commit, and a takeover
/// waits for the page being committed to finish.
///
/// # SQLite
///
/// [`begin`](zeroeventhub::consumer::CursorStore::begin) starts transactions
/// with `BEGIN IMMEDIATE`: a page's transaction takes the write lock at
/// once, so a handler that reads before it writes never fails to upgrade
/// its lock while another partition commits. Partitions then apply their
/// pages one at a time; a page that takes longer than the pool's
/// `busy_timeout` (5 s by default) makes the others fail and retry.
///
/// The lock is not handed out in turn: SQLite's busy handler polls with
/// sleeps, so a worker that commits and begins its next page at once
/// (pages that come back immediately, a slow handler) can keep others,
/// in this process or another, waiting for seconds. Every page still
/// commits exactly once; for fairness between many busy partitions, or
/// several processes on one file, use PostgreSQL.
///
/// # Examples
///
/// A loop of your own, exactly once, with the plain helpers:
///
/// ```no_run
/// use sqlx::sqlite::SqlitePool;
/// use zeroeventhub::{client::Client, Cursor};
/// use zeroeventhub_sqlx::SqlCursorStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = SqlitePool::connect("sqlite://consumer.db?mode=rwc").await?;
/// let store = SqlCursorStore::new(pool.clone());
/// store.migrate().await?;
/// let client = Client::new("http://localhost:8080/person/feed/v1", 4)?;
///
/// let stored = store.load_cursors("person-sync").await?;
/// let mut cursors = Cursor::resume_all(stored, 4);
/// loop {
///     let page = client.fetch(&cursors).page().await?;
///     let mut tx = pool.begin().await?;
///     for event in page.events() {
///         sqlx::query("INSERT INTO people_seen (data) VALUES ($1)")
///             .bind(event.data_json())
///             .execute(&mut *tx)
///             .await?;
///     }
///     store.save_cursors(&mut tx, "person-sync", page.cursors()).await?;
///     tx.commit().await?;
///     cursors = page.advance_cursors(&cursors);
///     if page.is_empty() {
///         break;
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SqlCursorStore<DB: Database> {
    pool: Pool<DB>,
    sql: Arc<Statements>,
}

impl<DB: Database> Clone for SqlCursorStore<DB> {
    fn clone(&self) -> Self {
        SqlCursorStore {
            pool: self.pool.clone(),
            sql: Arc::clone(&self.sql),
        }
    }
}

impl<DB: Backend> SqlCursorStore<DB> {
    /// The store in `pool`'s database. Call
    /// [`migrate`](SqlCursorStore::migrate) once before use.
    pub fn new(pool: Pool<DB>) -> Self {
        SqlCursorStore {
            pool,
            sql: Arc::new(Statements::new::<DB>(None)),
        }
    }

    /// Keeps the tables in `schema` (`schema.zeh_consumer_cursors`, ...)
    /// instead of the connection's `search_path`; [`migrate`](SqlCursorStore::migrate)
    /// creates the schema on PostgreSQL when it is missing. (On SQLite a
    /// schema is an attached database.)
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTableName`] when `schema` is not a plain SQL
    /// identifier.
    pub fn with_schema(mut self, schema: &str) -> Result<Self, Error> {
        if schema.contains('.') {
            return Err(Error::InvalidTableName(schema.to_owned()));
        }
        crate::validate_table_name(schema)?;
        self.sql = Arc::new(Statements::new::<DB>(Some(schema)));
        Ok(self)
    }

    /// The statements [`migrate`](SqlCursorStore::migrate) runs, for a
    /// migration tool of your own (run them in this order, in one
    /// transaction).
    ///
    /// On PostgreSQL they also upgrade a cursors table made by an earlier
    /// version (`ALTER TABLE ... ADD COLUMN IF NOT EXISTS finished_at_ms
    /// BIGINT`). SQLite has no `ADD COLUMN IF NOT EXISTS`: there they only
    /// create the tables, and an older cursors table needs `ALTER TABLE
    /// zeh_consumer_cursors ADD COLUMN finished_at_ms BIGINT`, once (or
    /// `migrate`, which looks first).
    pub fn ddl(&self) -> Vec<String> {
        let schema = self.sql.schema.as_deref();
        crate::migrate::ddl::<DB>(schema, &self.ddl_statements(), &self.sql.added_columns())
    }

    fn ddl_statements(&self) -> [crate::backend::Sql; 3] {
        [
            self.sql.create_cursors.clone(),
            self.sql.create_leases.clone(),
            self.sql.create_members.clone(),
        ]
    }

    /// The pool the store uses.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// Creates the tables if they do not exist, and on PostgreSQL the
    /// [schema](SqlCursorStore::with_schema) if it is missing; adds the
    /// `finished_at_ms` column to a cursors table made by an earlier
    /// version of this crate. Safe to call at every start, from several
    /// processes at once.
    ///
    /// The column is looked for in the catalog first: a table that has it
    /// is not altered. Adding it takes the table's write lock for a moment,
    /// on PostgreSQL after the transactions using the table have ended. On
    /// SQLite a migration holds the database's write lock while it runs
    /// (a few milliseconds), so that processes starting together migrate
    /// one after another.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the database refuses.
    pub async fn migrate(&self) -> Result<(), Error> {
        let schema = self.sql.schema.as_deref();
        let columns = self.sql.added_columns();
        crate::migrate::run(&self.pool, schema, &self.ddl_statements(), &columns).await
    }

    /// Every stored cursor of `consumer`, by partition.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the database refuses;
    /// [`Error::CorruptRow`] for a stored cursor that is not a valid
    /// cursor.
    pub async fn load_cursors(&self, consumer: &str) -> Result<Vec<Cursor>, Error> {
        let mut connection = self.pool.acquire().await?;
        let query = statement::<DB>(&self.sql.load_all).text(consumer);
        let rows = DB::fetch_all(&mut connection, query).await?;
        rows.iter()
            .map(|row| to_cursor(partition_of(DB::get_int(row, 0)?)?, DB::get_text(row, 1)?))
            .collect()
    }

    /// The stored cursor of `partition_id` for `consumer`, if any.
    ///
    /// # Errors
    ///
    /// As [`load_cursors`](SqlCursorStore::load_cursors).
    pub async fn load_cursor(
        &self,
        consumer: &str,
        partition_id: u32,
    ) -> Result<Option<Cursor>, Error> {
        let mut connection = self.pool.acquire().await?;
        let query = statement::<DB>(&self.sql.load)
            .text(consumer)
            .int(partition_id.into());
        let rows = DB::fetch_all(&mut connection, query).await?;
        match rows.first() {
            None => Ok(None),
            Some(row) => to_cursor(partition_id, DB::get_text(row, 0)?).map(Some),
        }
    }

    /// Stores `cursors` (a slice, or [`Page::cursors`](zeroeventhub::Page::cursors))
    /// for `consumer` inside the caller's `transaction`,
    /// replacing those stored for their partitions: they commit or roll
    /// back with the effects of the events. No lease is checked: for a
    /// loop of your own, with one process per consumer (the runtime uses
    /// [`save_cursor`](zeroeventhub::consumer::CursorStore::save_cursor),
    /// which also checks the lease).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the database refuses.
    pub async fn save_cursors<'c>(
        &self,
        transaction: &mut Transaction<'_, DB>,
        consumer: &str,
        cursors: impl IntoIterator<Item = &'c Cursor>,
    ) -> Result<(), Error> {
        let cursors: Vec<&Cursor> = cursors.into_iter().collect();
        for cursor in cursors {
            let query = statement::<DB>(&self.sql.upsert)
                .text(consumer)
                .int(cursor.partition_id().into())
                .text(cursor.as_str());
            DB::execute(transaction, query).await?;
        }
        Ok(())
    }
}

/// A stored partition id, checked.
fn partition_of(stored: i64) -> Result<u32, Error> {
    u32::try_from(stored)
        .map_err(|_| Error::corrupt(CURSORS_TABLE, format!("partition {stored} out of range")))
}

fn to_cursor(partition_id: u32, value: String) -> Result<Cursor, Error> {
    Cursor::new(partition_id, value).map_err(|error| {
        Error::corrupt(CURSORS_TABLE, format!("partition {partition_id}: {error}"))
    })
}
