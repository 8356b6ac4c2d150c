//! Creating tables, once, from any number of processes.

use sqlx::{Pool, Transaction};

use crate::{
    Error,
    backend::{Backend, Bind, Sql, statement},
};

/// A column that tables made by an earlier version of this crate lack: a
/// migration adds it when it is missing.
#[derive(Debug, Clone)]
pub(crate) struct AddedColumn {
    /// The table (a checked name, perhaps `schema.table`).
    pub(crate) table: String,
    /// The column's name and its SQL type, nullable: `event_type TEXT`.
    pub(crate) name: &'static str,
    pub(crate) sql_type: &'static str,
}

impl AddedColumn {
    fn alter(&self, if_not_exists: bool) -> String {
        let if_not_exists = if if_not_exists { "IF NOT EXISTS " } else { "" };
        format!(
            "ALTER TABLE {} ADD COLUMN {if_not_exists}{} {}",
            self.table, self.name, self.sql_type
        )
    }
}

/// Runs the idempotent statements `ddl` (`CREATE ... IF NOT EXISTS`) in
/// one transaction, behind the dialect's migration lock; first creates
/// `schema` when the database has schemas and it is missing (checked
/// first: a role that may not create schemas can still use one that
/// exists). Then adds each of `columns` that its table lacks, in the same
/// transaction.
///
/// The transaction writes from its start (SQLite's `BEGIN IMMEDIATE`;
/// PostgreSQL's migration lock): one that read the catalog first could
/// not then write when another process created a table meanwhile
/// ("database is locked"), so processes that start together on one
/// database migrate it one after another, each finding the other's
/// tables.
pub(crate) async fn run<DB: Backend>(
    pool: &Pool<DB>,
    schema: Option<&str>,
    ddl: &[Sql],
    columns: &[AddedColumn],
) -> Result<(), Error> {
    let mut transaction = begin(pool).await?;
    if let (Some(schema), Some(exists)) = (schema, DB::SCHEMA_EXISTS) {
        let exists = statement::<DB>(&exists.into()).text(schema);
        if DB::fetch_all(&mut transaction, exists).await?.is_empty() {
            let create = create_schema(schema);
            DB::execute(&mut transaction, statement::<DB>(&create.into())).await?;
        }
    }
    for sql in ddl {
        DB::execute(&mut transaction, statement::<DB>(sql)).await?;
    }
    for column in missing_columns(&mut transaction, columns).await? {
        let alter = column.alter(false);
        DB::execute(&mut transaction, statement::<DB>(&alter.into())).await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// A migration's transaction, started as the dialect writes (or the
/// default), and the dialect's setup run in it.
async fn begin<DB: Backend>(pool: &Pool<DB>) -> Result<Transaction<'static, DB>, Error> {
    let mut transaction = match DB::BEGIN {
        Some(begin) => pool.begin_with(begin).await?,
        None => pool.begin().await?,
    };
    for &setup in DB::MIGRATION_SETUP {
        DB::execute(&mut transaction, statement::<DB>(&setup.into())).await?;
    }
    Ok(transaction)
}

/// Those of `columns` that their tables lack.
async fn missing_columns<DB: Backend>(
    transaction: &mut Transaction<'static, DB>,
    columns: &[AddedColumn],
) -> Result<Vec<AddedColumn>, Error> {
    let mut missing = Vec::new();
    for column in columns {
        let exists = DB::column_exists(&column.table, column.name);
        if DB::fetch_all(transaction, statement::<DB>(&exists.into()))
            .await?
            .is_empty()
        {
            missing.push(column.clone());
        }
    }
    Ok(missing)
}

/// The DDL a migration runs, for your own migration tool: the schema's
/// `CREATE SCHEMA` on a database with schemas, then `ddl`, then each of
/// `columns` as `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` where the
/// database understands it (PostgreSQL; SQLite has no such statement,
/// see the callers' docs).
pub(crate) fn ddl<DB: Backend>(
    schema: Option<&str>,
    ddl: &[Sql],
    columns: &[AddedColumn],
) -> Vec<String> {
    let schema = schema.filter(|_| DB::SCHEMA_EXISTS.is_some());
    let create = schema.map(create_schema);
    let alters = columns
        .iter()
        .filter(|_| DB::ADD_COLUMN_IF_NOT_EXISTS)
        .map(|column| column.alter(true));
    create
        .into_iter()
        .chain(ddl.iter().map(|sql| sql.to_string()))
        .chain(alters)
        .collect()
}

/// `schema` is a checked identifier.
fn create_schema(schema: &str) -> String {
    format!("CREATE SCHEMA IF NOT EXISTS {schema}")
}

/// The schema of a `schema.table` name.
#[cfg(feature = "producer")]
pub(crate) fn schema_of(table: &str) -> Option<&str> {
    table.split_once('.').map(|(schema, _)| schema)
}
