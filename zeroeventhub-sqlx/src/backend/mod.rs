//! The two databases behind one set of queries.
//!
//! Every query of this crate is written once, in the SQL that SQLite and
//! PostgreSQL share (`$N` parameters, `INSERT ... ON CONFLICT`,
//! `RETURNING`). What differs (the clock, a column type, locks) is a
//! constant of [`Dialect`], one small file per database.

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::sync::Arc;

use futures_core::future::BoxFuture;
use sqlx::{
    AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type,
    query::Query,
};

/// A database this crate works with: `sqlx::Sqlite` (feature `sqlite`) or
/// `sqlx::Postgres` (feature `postgres`).
///
/// It appears in bounds such as `EventLog<DB: Backend>`; it is sealed:
/// other crates cannot implement it.
#[cfg(feature = "producer")]
pub trait Backend: Ops + crate::event_log::changes::Watch {}
/// A database this crate works with: `sqlx::Sqlite` (feature `sqlite`) or
/// `sqlx::Postgres` (feature `postgres`).
///
/// It appears in bounds such as `SqlCursorStore<DB: Backend>`; it is
/// sealed: other crates cannot implement it.
#[cfg(not(feature = "producer"))]
pub trait Backend: Ops {}

/// A query with its arguments, ready to run on a connection.
pub(crate) type Statement<DB> = Query<'static, DB, <DB as Database>::Arguments>;

/// SQL text, built once when a log or store is made.
pub(crate) type Sql = Arc<str>;

/// A statement for `sql`, without arguments yet.
///
/// The SQL text of this crate is its own constant text with, at most, a
/// table name checked to be a plain identifier: never user data, which
/// always goes in as a bound argument.
pub(crate) fn statement<DB: Database>(sql: &Sql) -> Statement<DB> {
    sqlx::query(AssertSqlSafe(Arc::clone(sql)))
}

/// What tells the SQL dialects apart: constants, one file per database.
pub trait Dialect: Database {
    /// SQL expression: the database's clock, in whole milliseconds since
    /// the Unix epoch.
    const NOW_MS: &'static str;
    /// SQL: the type and default of the events table's `created_at`.
    const CREATED_AT: &'static str;
    /// SQL expression: `created_at` as RFC 3339 text in UTC with
    /// milliseconds (`2026-12-01T14:03:07.123Z`).
    const CREATED_AT_TEXT: &'static str;
    /// SQL run by an appending transaction before it appends to a
    /// partition (`{table}` stands for the table name, `$1` for the
    /// partition), or `None` when the database serialises writers anyway.
    const PARTITION_LOCK: Option<&'static str>;
    /// SQL run at the start of the migration transaction.
    const MIGRATION_SETUP: &'static [&'static str];
    /// SQL: one row when the schema `$1` exists, or `None` when the
    /// database has no schemas to create (SQLite's are attached files).
    const SCHEMA_EXISTS: Option<&'static str>;
    /// The statement that starts a transaction that reads before it
    /// writes: a consumer's, or a migration (`None`: the driver's default
    /// `BEGIN`).
    const BEGIN: Option<&'static str>;
    /// Whether the database understands `ALTER TABLE ... ADD COLUMN IF
    /// NOT EXISTS`.
    const ADD_COLUMN_IF_NOT_EXISTS: bool;

    /// SQL: one row when the table `table` (a checked name, perhaps
    /// `schema.table`) has the column `column` (a checked identifier).
    fn column_exists(table: &str, column: &str) -> String;
}

/// The few typed operations the shared code needs, written once for every
/// database sqlx supports with these types, so that the shared code only
/// needs the bound `DB: Backend`.
pub trait Ops: Dialect {
    /// Binds an integer.
    fn bind_int(query: Statement<Self>, value: i64) -> Statement<Self>;
    /// Binds a text.
    fn bind_text(query: Statement<Self>, value: String) -> Statement<Self>;
    /// Binds a text or NULL.
    fn bind_opt_text(query: Statement<Self>, value: Option<String>) -> Statement<Self>;
    /// Runs `query`, ignoring any rows.
    fn execute(
        connection: &mut Self::Connection,
        query: Statement<Self>,
    ) -> BoxFuture<'_, Result<(), sqlx::Error>>;
    /// Runs `query` and collects its rows.
    fn fetch_all(
        connection: &mut Self::Connection,
        query: Statement<Self>,
    ) -> BoxFuture<'_, Result<Vec<Self::Row>, sqlx::Error>>;
    /// The integer in column `index` of `row`.
    fn get_int(row: &Self::Row, index: usize) -> Result<i64, sqlx::Error>;
    /// The text in column `index` of `row`.
    fn get_text(row: &Self::Row, index: usize) -> Result<String, sqlx::Error>;
    /// The text or NULL in column `index` of `row`.
    fn get_opt_text(row: &Self::Row, index: usize) -> Result<Option<String>, sqlx::Error>;
}

impl<DB> Ops for DB
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    i64: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB>,
    String: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB>,
    Option<String>: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB>,
{
    fn bind_int(query: Statement<Self>, value: i64) -> Statement<Self> {
        query.bind(value)
    }

    fn bind_text(query: Statement<Self>, value: String) -> Statement<Self> {
        query.bind(value)
    }

    fn bind_opt_text(query: Statement<Self>, value: Option<String>) -> Statement<Self> {
        query.bind(value)
    }

    fn execute(
        connection: &mut Self::Connection,
        query: Statement<Self>,
    ) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        Box::pin(async move {
            connection.execute(query).await?;
            Ok(())
        })
    }

    fn fetch_all(
        connection: &mut Self::Connection,
        query: Statement<Self>,
    ) -> BoxFuture<'_, Result<Vec<Self::Row>, sqlx::Error>> {
        connection.fetch_all(query)
    }

    fn get_int(row: &Self::Row, index: usize) -> Result<i64, sqlx::Error> {
        row.try_get(index)
    }

    fn get_text(row: &Self::Row, index: usize) -> Result<String, sqlx::Error> {
        row.try_get(index)
    }

    fn get_opt_text(row: &Self::Row, index: usize) -> Result<Option<String>, sqlx::Error> {
        row.try_get(index)
    }
}

/// Binding arguments in the shared code: `statement(&sql).int(1).text(s)`.
pub(crate) trait Bind {
    /// Binds an integer.
    fn int(self, value: i64) -> Self;
    /// Binds a text.
    fn text(self, value: impl Into<String>) -> Self;
    /// Binds a text or NULL (an event's headers).
    #[cfg(feature = "producer")]
    fn opt_text(self, value: Option<String>) -> Self;
}

impl<DB: Ops> Bind for Statement<DB> {
    fn int(self, value: i64) -> Self {
        DB::bind_int(self, value)
    }

    fn text(self, value: impl Into<String>) -> Self {
        DB::bind_text(self, value.into())
    }

    #[cfg(feature = "producer")]
    fn opt_text(self, value: Option<String>) -> Self {
        DB::bind_opt_text(self, value)
    }
}
