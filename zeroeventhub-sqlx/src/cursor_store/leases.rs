//! The runtime's [`CursorStore`]: cursors saved with a fencing check on
//! the partition's lease.

use std::time::Duration;

use sqlx::Transaction;
use zeroeventhub::{
    Cursor,
    consumer::{Claim, CursorStore, Lease, Member},
};

use super::SqlCursorStore;
use crate::{
    Error,
    backend::{Backend, Bind, Statement, statement},
};

/// The longest lease: about a hundred years, far from overflowing.
const MAX_TTL_MS: i64 = 100 * 366 * 24 * 3600 * 1000;

impl<DB: Backend> CursorStore for SqlCursorStore<DB> {
    type Transaction = Transaction<'static, DB>;
    type Error = Error;

    async fn load_cursor(
        &self,
        consumer: &str,
        partition_id: u32,
    ) -> Result<Option<Cursor>, Error> {
        SqlCursorStore::load_cursor(self, consumer, partition_id).await
    }

    async fn claim(
        &self,
        consumer: &str,
        partition_id: u32,
        lease: &Lease,
    ) -> Result<Claim, Error> {
        let mut connection = self.pool.acquire().await?;
        // Refused, the lease was held: by whom? A holder that released it
        // in between leaves no row, and the claim is tried again.
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            let query = lease_query::<DB>(&self.sql.claim, consumer, partition_id, lease);
            if !DB::fetch_all(&mut connection, query).await?.is_empty() {
                return Ok(Claim::Claimed);
            }
            let query = statement::<DB>(&self.sql.holder)
                .text(consumer)
                .int(partition_id.into());
            if let Some(row) = DB::fetch_all(&mut connection, query).await?.first() {
                let left_ms = u64::try_from(DB::get_int(row, 1)?).unwrap_or(0);
                return Ok(Claim::HeldBy {
                    owner: DB::get_text(row, 0)?,
                    expires_in: Duration::from_millis(left_ms),
                });
            }
        }
        // Taken and given back between every attempt: busy, try later.
        Ok(Claim::HeldBy {
            owner: "another process (changing hands)".to_owned(),
            expires_in: Duration::ZERO,
        })
    }

    async fn heartbeat(&self, consumer: &str, lease: &Lease) -> Result<Vec<Member>, Error> {
        let mut connection = self.pool.acquire().await?;
        let join = statement::<DB>(&self.sql.join)
            .text(consumer)
            .text(lease.owner.as_str())
            .int(ttl_ms(lease));
        DB::execute(&mut connection, join).await?;
        let members = statement::<DB>(&self.sql.members).text(consumer);
        DB::fetch_all(&mut connection, members)
            .await?
            .iter()
            .map(|row| {
                Ok(Member {
                    owner: DB::get_text(row, 0)?,
                    partitions: u32::try_from(DB::get_int(row, 1)?).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    async fn leave(&self, consumer: &str, lease: &Lease) -> Result<(), Error> {
        let mut connection = self.pool.acquire().await?;
        let query = statement::<DB>(&self.sql.leave)
            .text(consumer)
            .text(lease.owner.as_str());
        DB::execute(&mut connection, query).await?;
        Ok(())
    }

    async fn release(&self, consumer: &str, partition_id: u32, lease: &Lease) -> Result<(), Error> {
        let mut connection = self.pool.acquire().await?;
        let query = statement::<DB>(&self.sql.release)
            .text(consumer)
            .int(partition_id.into())
            .text(lease.owner.as_str());
        DB::execute(&mut connection, query).await?;
        Ok(())
    }

    async fn begin(&self) -> Result<Transaction<'static, DB>, Error> {
        Ok(match DB::BEGIN {
            Some(begin) => self.pool.begin_with(begin).await?,
            None => self.pool.begin().await?,
        })
    }

    async fn save_cursor(
        &self,
        transaction: &mut Transaction<'static, DB>,
        consumer: &str,
        cursor: &Cursor,
        lease: &Lease,
    ) -> Result<bool, Error> {
        // Fencing: renew the lease in this transaction, which locks its row
        // until commit; if another owner holds it now, store nothing.
        let renew = lease_query::<DB>(&self.sql.renew, consumer, cursor.partition_id(), lease);
        if DB::fetch_all(transaction, renew).await?.is_empty() {
            return Ok(false);
        }
        self.save_cursors(transaction, consumer, [cursor]).await?;
        Ok(true)
    }

    async fn commit(&self, transaction: Transaction<'static, DB>) -> Result<(), Error> {
        Ok(transaction.commit().await?)
    }

    async fn mark_finished(&self, consumer: &str, last: &Cursor) -> Result<(), Error> {
        let mut connection = self.pool.acquire().await?;
        let query = statement::<DB>(&self.sql.finish)
            .text(consumer)
            .int(last.partition_id().into())
            .text(last.as_str());
        DB::execute(&mut connection, query).await?;
        Ok(())
    }

    async fn load_finished(&self, consumer: &str) -> Result<Vec<u32>, Error> {
        let mut connection = self.pool.acquire().await?;
        let query = statement::<DB>(&self.sql.load_finished).text(consumer);
        let rows = DB::fetch_all(&mut connection, query).await?;
        rows.iter()
            .map(|row| super::partition_of(DB::get_int(row, 0)?))
            .collect()
    }
}

/// `sql` with the arguments of a lease statement: consumer, partition,
/// owner and time to live in milliseconds.
fn lease_query<DB: Backend>(
    sql: &crate::backend::Sql,
    consumer: &str,
    partition_id: u32,
    lease: &Lease,
) -> Statement<DB> {
    statement::<DB>(sql)
        .text(consumer)
        .int(partition_id.into())
        .text(lease.owner.as_str())
        .int(ttl_ms(lease))
}

/// The lease's time to live in milliseconds, capped.
fn ttl_ms(lease: &Lease) -> i64 {
    i64::try_from(lease.ttl.as_millis())
        .unwrap_or(MAX_TTL_MS)
        .min(MAX_TTL_MS)
}
