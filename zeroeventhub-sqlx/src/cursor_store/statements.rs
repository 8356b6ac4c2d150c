//! The SQL of the cursor store, written once for every database.

use super::{CURSORS_TABLE, FINISHED_COLUMN, LEASES_TABLE, MEMBERS_TABLE};
use crate::{
    backend::{Dialect, Sql},
    migrate::AddedColumn,
};

/// The cursor store's SQL, with the database's clock filled in.
#[derive(Debug)]
pub(super) struct Statements {
    /// The schema the tables are in, if given.
    pub(super) schema: Option<String>,
    /// The cursors table, qualified.
    pub(super) cursors: String,
    pub(super) create_cursors: Sql,
    pub(super) create_leases: Sql,
    /// The cursor of consumer `$1`, partition `$2`.
    pub(super) load: Sql,
    /// Partition and cursor of every partition of consumer `$1`.
    pub(super) load_all: Sql,
    /// Stores cursor `$3` of consumer `$1`, partition `$2`.
    pub(super) upsert: Sql,
    /// Marks partition `$2` of consumer `$1` finished, storing cursor `$3`
    /// if it has none.
    pub(super) finish: Sql,
    /// The finished partitions of consumer `$1`.
    pub(super) load_finished: Sql,
    /// Takes or renews the lease of consumer `$1`, partition `$2` for owner
    /// `$3` until `$4` ms from now; returns a row if it did.
    pub(super) claim: Sql,
    /// Renews the lease if owner `$3` holds it; returns a row if it did.
    pub(super) renew: Sql,
    /// Gives the lease up if owner `$3` holds it.
    pub(super) release: Sql,
    pub(super) create_members: Sql,
    /// The owner of the lease of consumer `$1`, partition `$2`, and the
    /// milliseconds it has left (0 or less: lapsed).
    pub(super) holder: Sql,
    /// Registers owner `$2` as a member of consumer `$1` until `$3` ms
    /// from now.
    pub(super) join: Sql,
    /// Every live member of consumer `$1` and the live leases it holds.
    pub(super) members: Sql,
    /// Removes owner `$2` from consumer `$1`'s members.
    pub(super) leave: Sql,
}

impl Statements {
    /// The statements on the tables in `schema`, or unqualified (the
    /// connection's `search_path` on PostgreSQL).
    pub(super) fn new<DB: Dialect>(schema: Option<&str>) -> Self {
        let now = DB::NOW_MS;
        let qualified = |table: &str| match schema {
            Some(schema) => format!("{schema}.{table}"),
            None => table.to_owned(),
        };
        let (cursors, leases, members) = (
            qualified(CURSORS_TABLE),
            qualified(LEASES_TABLE),
            qualified(MEMBERS_TABLE),
        );
        let sql = |text: String| -> Sql { text.into() };
        Statements {
            schema: schema.map(str::to_owned),
            create_cursors: sql(format!(
                "CREATE TABLE IF NOT EXISTS {cursors} (
                    consumer TEXT NOT NULL,
                    partition_id BIGINT NOT NULL,
                    cursor TEXT NOT NULL,
                    updated_at_ms BIGINT NOT NULL,
                    {FINISHED_COLUMN} BIGINT,
                    PRIMARY KEY (consumer, partition_id)
                )"
            )),
            create_leases: sql(format!(
                "CREATE TABLE IF NOT EXISTS {leases} (
                    consumer TEXT NOT NULL,
                    partition_id BIGINT NOT NULL,
                    owner TEXT NOT NULL,
                    expires_at_ms BIGINT NOT NULL,
                    PRIMARY KEY (consumer, partition_id)
                )"
            )),
            load: sql(format!(
                "SELECT cursor FROM {cursors} WHERE consumer = $1 AND partition_id = $2"
            )),
            load_all: sql(format!(
                "SELECT partition_id, cursor FROM {cursors} WHERE consumer = $1 ORDER BY partition_id"
            )),
            upsert: sql(format!(
                "INSERT INTO {cursors} (consumer, partition_id, cursor, updated_at_ms)
                 VALUES ($1, $2, $3, {now})
                 ON CONFLICT (consumer, partition_id)
                 DO UPDATE SET cursor = excluded.cursor, updated_at_ms = excluded.updated_at_ms"
            )),
            // A stored cursor stays (it is the final one), and so does the
            // time it was first marked.
            finish: sql(format!(
                "INSERT INTO {cursors}
                   (consumer, partition_id, cursor, updated_at_ms, {FINISHED_COLUMN})
                 VALUES ($1, $2, $3, {now}, {now})
                 ON CONFLICT (consumer, partition_id)
                 DO UPDATE SET {FINISHED_COLUMN} =
                   COALESCE({cursors}.{FINISHED_COLUMN}, excluded.{FINISHED_COLUMN})"
            )),
            load_finished: sql(format!(
                "SELECT partition_id FROM {cursors}
                 WHERE consumer = $1 AND {FINISHED_COLUMN} IS NOT NULL
                 ORDER BY partition_id"
            )),
            // One statement, atomic on both databases: the conflicting row
            // is locked (PostgreSQL) or the database is (SQLite) while the
            // condition is checked and the row written.
            claim: sql(format!(
                "INSERT INTO {leases} (consumer, partition_id, owner, expires_at_ms)
                 VALUES ($1, $2, $3, {now} + $4)
                 ON CONFLICT (consumer, partition_id)
                 DO UPDATE SET owner = excluded.owner, expires_at_ms = excluded.expires_at_ms
                 WHERE {leases}.owner = excluded.owner OR {leases}.expires_at_ms <= {now}
                 RETURNING owner"
            )),
            renew: sql(format!(
                "UPDATE {leases} SET expires_at_ms = {now} + $4
                 WHERE consumer = $1 AND partition_id = $2 AND owner = $3
                 RETURNING owner"
            )),
            release: sql(format!(
                "DELETE FROM {leases} WHERE consumer = $1 AND partition_id = $2 AND owner = $3"
            )),
            create_members: sql(format!(
                "CREATE TABLE IF NOT EXISTS {members} (
                    consumer TEXT NOT NULL,
                    owner TEXT NOT NULL,
                    expires_at_ms BIGINT NOT NULL,
                    PRIMARY KEY (consumer, owner)
                )"
            )),
            holder: sql(format!(
                "SELECT owner, expires_at_ms - {now} FROM {leases}
                 WHERE consumer = $1 AND partition_id = $2"
            )),
            join: sql(format!(
                "INSERT INTO {members} (consumer, owner, expires_at_ms)
                 VALUES ($1, $2, {now} + $3)
                 ON CONFLICT (consumer, owner)
                 DO UPDATE SET expires_at_ms = excluded.expires_at_ms"
            )),
            members: sql(format!(
                "SELECT m.owner, COUNT(l.partition_id) FROM {members} m
                 LEFT JOIN {leases} l
                   ON l.consumer = m.consumer AND l.owner = m.owner AND l.expires_at_ms > {now}
                 WHERE m.consumer = $1 AND m.expires_at_ms > {now}
                 GROUP BY m.owner
                 ORDER BY m.owner"
            )),
            leave: sql(format!(
                "DELETE FROM {members} WHERE consumer = $1 AND owner = $2"
            )),
            cursors,
        }
    }

    /// The columns that tables made by an earlier version lack.
    pub(super) fn added_columns(&self) -> [AddedColumn; 1] {
        [AddedColumn {
            table: self.cursors.clone(),
            name: FINISHED_COLUMN,
            sql_type: "BIGINT",
        }]
    }
}
