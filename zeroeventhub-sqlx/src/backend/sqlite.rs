//! SQLite: one writer at a time.

use sqlx::Sqlite;

use super::{Backend, Dialect};

impl Dialect for Sqlite {
    // `julianday` has sub-millisecond precision; 2440587.5 is the Unix epoch.
    const NOW_MS: &'static str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
    const CREATED_AT: &'static str =
        "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";
    // Stored as RFC 3339 text in UTC already.
    const CREATED_AT_TEXT: &'static str = "created_at";
    // SQLite runs one write transaction at a time, and an append assigns
    // its position inside its own INSERT: appends are serialised already.
    const PARTITION_LOCK: Option<&'static str> = None;
    const MIGRATION_SETUP: &'static [&'static str] = &[];
    // Take the write lock at once: a transaction that reads before it
    // writes cannot then fail to upgrade (SQLITE_BUSY) while another
    // consumer's transaction commits.
    const BEGIN: Option<&'static str> = Some("BEGIN IMMEDIATE");
    const SCHEMA_EXISTS: Option<&'static str> = None;
    const ADD_COLUMN_IF_NOT_EXISTS: bool = false;

    // Without a schema, `pragma_table_info` finds the table as any
    // statement would (temp, main, then the attached databases).
    fn column_exists(table: &str, column: &str) -> String {
        let arguments = match table.split_once('.') {
            Some((schema, name)) => format!("'{name}', '{schema}'"),
            None => format!("'{table}'"),
        };
        format!("SELECT 1 FROM pragma_table_info({arguments}) WHERE name = '{column}'")
    }
}

impl Backend for Sqlite {}
