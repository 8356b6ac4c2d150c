//! The change check of each database, behind [`Watch`](super::changes::Watch).

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
