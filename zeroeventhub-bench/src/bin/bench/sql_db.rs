//! Where a SQL part of the suite keeps its tables: a SQLite file, or a
//! schema on a PostgreSQL server. The same options for every part
//! (`sql-fill`, `sql-server`, `sql-consume`, `latency-server`, ...).

use std::{ffi::OsString, path::PathBuf};

use anyhow::bail;

/// `--db PATH` or `--pg-url URL --pg-schema NAME`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DbArgs {
    /// The SQLite file.
    #[arg(long, conflicts_with_all = ["pg_url", "pg_schema"])]
    db: Option<PathBuf>,
    /// The PostgreSQL server (instead of --db); the tables go into --pg-schema.
    #[arg(long, requires = "pg_schema")]
    pg_url: Option<String>,
    /// The PostgreSQL schema to work in (it must exist).
    #[arg(long, requires = "pg_url")]
    pg_schema: Option<String>,
}

/// A database of a SQL part, as [`DbArgs`] name it.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

impl DbArgs {
    /// The database named, or an error when none is.
    pub(crate) fn db(&self) -> anyhow::Result<Db> {
        match self.optional()? {
            Some(db) => Ok(db),
            None => bail!("give --db PATH, or --pg-url URL with --pg-schema NAME"),
        }
    }

    /// The database named, if one is.
    pub(crate) fn optional(&self) -> anyhow::Result<Option<Db>> {
        match (&self.db, &self.pg_url, &self.pg_schema) {
            (None, None, None) => Ok(None),
            (Some(path), None, None) => Ok(Some(Db::Sqlite(path.clone()))),
            (None, Some(url), Some(schema)) => Ok(Some(Db::Postgres {
                url: url.clone(),
                schema: schema.clone(),
            })),
            _ => bail!("give --db PATH, or --pg-url URL with --pg-schema NAME, not both"),
        }
    }
}

impl Db {
    /// The command-line options that name this database, for a child
    /// process.
    pub(crate) fn args(&self) -> Vec<OsString> {
        match self {
            Db::Sqlite(path) => vec!["--db".into(), path.into()],
            Db::Postgres { url, schema } => vec![
                "--pg-url".into(),
                url.into(),
                "--pg-schema".into(),
                schema.into(),
            ],
        }
    }

    /// For messages: the file, or the schema.
    pub(crate) fn describe(&self) -> String {
        match self {
            Db::Sqlite(path) => path.display().to_string(),
            Db::Postgres { schema, .. } => format!("PostgreSQL schema {schema}"),
        }
    }
}
