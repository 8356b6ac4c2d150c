//! PostgreSQL: many writers at once, serialised per partition.

use sqlx::Postgres;

use super::{Backend, Dialect};

impl Dialect for Postgres {
    const NOW_MS: &'static str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";
    const CREATED_AT: &'static str = "TIMESTAMPTZ NOT NULL DEFAULT now()";
    const CREATED_AT_TEXT: &'static str =
        "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
    // Gap safety: appends to one partition wait for each other's
    // transactions, so they commit in position order. The key is the
    // table's OID in the high 32 bits and the partition in the low ones:
    // unique per table and partition within the database.
    const PARTITION_LOCK: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock((CAST('{table}' AS regclass)::oid::bigint << 32) | $1)");
    const MIGRATION_SETUP: &'static [&'static str] = &[
        // `CREATE TABLE IF NOT EXISTS` of a table that exists is a notice,
        // which sqlx logs at INFO on every start: not worth a line.
        "SET LOCAL client_min_messages = warning",
        // Two processes creating the same tables at once would otherwise
        // race in the catalog ("duplicate key value violates unique
        // constraint"). The key is "zeh_migr" in ASCII.
        "SELECT pg_advisory_xact_lock(8819570204341790578)",
    ];
    const BEGIN: Option<&'static str> = None;
    const SCHEMA_EXISTS: Option<&'static str> =
        Some("SELECT 1 FROM pg_namespace WHERE nspname = $1");
    const ADD_COLUMN_IF_NOT_EXISTS: bool = true;

    // The catalog, not `ADD COLUMN IF NOT EXISTS`: that takes the table's
    // ACCESS EXCLUSIVE lock even when the column is there, and would queue
    // every read and append behind it at every start.
    fn column_exists(table: &str, column: &str) -> String {
        format!(
            "SELECT 1 FROM pg_attribute WHERE attrelid = CAST('{table}' AS regclass) \
             AND attname = '{column}' AND NOT attisdropped"
        )
    }
}

impl Backend for Postgres {}
