//! Creating tables, once, from any number of processes.

use sqlx::Pool;

use crate::{
    Error,
    backend::{Backend, Sql, statement},
};

/// Runs the idempotent statements `ddl` (`CREATE ... IF NOT EXISTS`) in
/// one transaction, behind the dialect's migration lock.
pub(crate) async fn run<DB: Backend>(pool: &Pool<DB>, ddl: &[Sql]) -> Result<(), Error> {
    let mut transaction = pool.begin().await?;
    for &setup in DB::MIGRATION_SETUP {
        DB::execute(&mut transaction, statement::<DB>(&setup.into())).await?;
    }
    for sql in ddl {
        DB::execute(&mut transaction, statement::<DB>(sql)).await?;
    }
    transaction.commit().await?;
    Ok(())
}
