//! The events table: its name and the SQL that uses it.

use super::changes::Watch;
use crate::{
    backend::{Dialect, Sql},
    migrate::AddedColumn,
};

/// The nullable column holding an event's type, for event-type filters;
/// tables made before it had none, and a migration adds it.
pub(super) const EVENT_TYPE_COLUMN: &str = "event_type";

/// The SQL of one event log, built once for its table and database.
#[derive(Debug)]
pub(super) struct Statements {
    pub(super) table: String,
    pub(super) create: Sql,
    /// Taken before appending to a partition (`$1`), if the database needs it.
    pub(super) lock: Option<Sql>,
    /// Appends to partition `$1` an event with headers `$2`, data `$3`
    /// and type `$4`; returns its position.
    pub(super) insert: Sql,
    /// The position of the latest event of partition `$1`, 0 if none.
    pub(super) end: Sql,
    /// Up to `$3` events of partition `$1` after position `$2`, in order:
    /// position, headers, data, and with a time header the append time.
    pub(super) after: Sql,
    /// As `after`, with each event's type as one more column (at
    /// [`type_column`](Statements::type_column)): for filtered reads only.
    pub(super) after_typed: Sql,
    /// The index of the type in the rows of `after_typed`.
    pub(super) type_column: usize,
    /// Announces an append (`$1` the payload), if the database delivers
    /// notifications at commit.
    pub(super) notify: Option<Sql>,
}

impl Statements {
    /// The statements of `table`; `with_time`: reads also return each
    /// event's append time.
    pub(super) fn new<DB: Dialect + Watch>(table: &str, with_time: bool) -> Self {
        // Last, where the migration of an older table adds it too.
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                partition_id BIGINT NOT NULL,
                position BIGINT NOT NULL,
                headers TEXT,
                data TEXT NOT NULL,
                created_at {created_at},
                {EVENT_TYPE_COLUMN} TEXT,
                PRIMARY KEY (partition_id, position)
            )",
            created_at = DB::CREATED_AT,
        );
        // The position is taken inside the INSERT itself: under SQLite's
        // write lock, or PostgreSQL's partition lock taken just before.
        let insert = format!(
            "INSERT INTO {table} (partition_id, position, headers, data, {EVENT_TYPE_COLUMN})
             SELECT $1, COALESCE(MAX(position), 0) + 1, $2, $3, $4 FROM {table} WHERE partition_id = $1
             RETURNING position"
        );
        let end = format!("SELECT COALESCE(MAX(position), 0) FROM {table} WHERE partition_id = $1");
        let time = if with_time {
            format!(", {}", DB::CREATED_AT_TEXT)
        } else {
            String::new()
        };
        let after = |typed: &str| {
            format!(
                "SELECT position, headers, data{time}{typed} FROM {table}
                 WHERE partition_id = $1 AND position > $2 ORDER BY position LIMIT $3"
            )
        };
        Statements {
            table: table.to_owned(),
            create: create.into(),
            lock: DB::PARTITION_LOCK.map(|lock| lock.replace("{table}", table).into()),
            insert: insert.into(),
            end: end.into(),
            after: after("").into(),
            after_typed: after(&format!(", {EVENT_TYPE_COLUMN}")).into(),
            type_column: if with_time { 4 } else { 3 },
            notify: DB::NOTIFY.map(|notify| notify.replace("{table}", table).into()),
        }
    }

    /// The columns a migration adds to a table made by an earlier version.
    pub(super) fn added_columns(&self) -> [AddedColumn; 1] {
        [AddedColumn {
            table: self.table.clone(),
            name: EVENT_TYPE_COLUMN,
            sql_type: "TEXT",
        }]
    }
}
