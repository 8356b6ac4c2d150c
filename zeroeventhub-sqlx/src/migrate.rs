//! Creating tables, once, from any number of processes.

use sqlx::Pool;

use crate::{
    Error,
    backend::{Backend, Bind, Sql, statement},
};

/// Runs the idempotent statements `ddl` (`CREATE ... IF NOT EXISTS`) in
/// one transaction, behind the dialect's migration lock; first creates
/// `schema` when the database has schemas and it is missing (checked
/// first: a role that may not create schemas can still use one that
/// exists).
pub(crate) async fn run<DB: Backend>(
    pool: &Pool<DB>,
    schema: Option<&str>,
    ddl: &[Sql],
) -> Result<(), Error> {
    let mut transaction = pool.begin().await?;
    for &setup in DB::MIGRATION_SETUP {
        DB::execute(&mut transaction, statement::<DB>(&setup.into())).await?;
    }
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
    transaction.commit().await?;
    Ok(())
}

/// The DDL a migration runs, for your own migration tool: the schema's
/// `CREATE SCHEMA` on a database with schemas, then `ddl`.
pub(crate) fn ddl<DB: Backend>(schema: Option<&str>, ddl: &[Sql]) -> Vec<String> {
    let schema = schema.filter(|_| DB::SCHEMA_EXISTS.is_some());
    let create = schema.map(create_schema);
    create
        .into_iter()
        .chain(ddl.iter().map(|sql| sql.to_string()))
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
