//! The crate's error.

#[cfg(feature = "consumer")]
use zeroeventhub::consumer::ConsumerError;
#[cfg(feature = "producer")]
use zeroeventhub::server::UnknownPartition;

/// What went wrong in an [`EventLog`](crate::EventLog), a
/// [`SqlCursorStore`](crate::SqlCursorStore) or [`consume`](crate::consume).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed (connection, SQL, constraint, serialization
    /// failure): often transient; retrying the transaction may succeed.
    #[error("the database failed")]
    Database(#[from] sqlx::Error),
    /// An event for a partition the log does not have.
    #[cfg(feature = "producer")]
    #[error(transparent)]
    UnknownPartition(#[from] UnknownPartition),
    /// A table name that is not a plain SQL identifier.
    #[error(
        "invalid table name {0:?}: use letters, digits and underscores, not starting with a digit, optionally qualified by a schema (schema.table)"
    )]
    InvalidTableName(String),
    /// A row this crate cannot have written: edited by hand, or by another
    /// program.
    #[error("table {table}: {reason}")]
    CorruptRow {
        /// The table.
        table: String,
        /// What is wrong with the row.
        reason: String,
    },
    /// The consumer stopped on its own (see [`ConsumerError`]).
    #[cfg(feature = "consumer")]
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
}

impl Error {
    pub(crate) fn corrupt(table: &str, reason: impl Into<String>) -> Self {
        Error::CorruptRow {
            table: table.to_owned(),
            reason: reason.into(),
        }
    }
}
