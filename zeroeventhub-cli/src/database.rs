//! The databases `zeh` reads and writes: a `STORE` argument (`sqlite:PATH`
//! or a `postgres://` URL) and the connection pool opened on it.

use std::{fmt, path::PathBuf, str::FromStr, time::Duration};

use anyhow::{Context, anyhow};
use url::Url;
use zeroeventhub_sqlx::sqlx::{
    Connection, PgConnection, PgPool, SqlitePool,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};

/// The prefixes of a SQLite store, longest first.
const SQLITE_PREFIXES: [&str; 2] = ["sqlite://", "sqlite:"];
/// The prefixes of a PostgreSQL store.
const POSTGRES_PREFIXES: [&str; 2] = ["postgres://", "postgresql://"];

/// How long a SQLite statement waits for another process's write lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening a connection may take before the command fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A database named on the command line.
#[derive(Clone)]
pub(crate) enum Database {
    /// A SQLite file, created if missing.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres {
        /// The parsed URL.
        options: Box<PgConnectOptions>,
        /// The URL as shown in messages: without its password.
        shown: String,
    },
}

impl Database {
    /// Whether `text` names a database rather than a file: it starts with
    /// `sqlite:`, `postgres://` or `postgresql://`.
    pub(crate) fn is_database(text: &str) -> bool {
        SQLITE_PREFIXES
            .iter()
            .chain(&POSTGRES_PREFIXES)
            .any(|prefix| text.starts_with(prefix))
    }

    /// Opens a pool of at most `max_connections` on the database; a SQLite
    /// file is created if missing and put in WAL mode (readers and the
    /// writer then never wait for each other).
    ///
    /// # Errors
    ///
    /// The database cannot be opened or reached.
    pub(crate) async fn connect(&self, max_connections: u32) -> anyhow::Result<Pool> {
        match self {
            Database::Sqlite(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT);
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect_with(options)
                    .await
                    .with_context(|| format!("cannot open {self}"))?;
                Ok(Pool::Sqlite(pool))
            }
            Database::Postgres { options, .. } => {
                // The pool retries failed connections until its timeout and
                // then reports only that: one connection first, for the cause.
                let probe =
                    tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options))
                        .await
                        .map_err(|_| {
                            anyhow!(
                                "no answer within {}",
                                humantime::format_duration(CONNECT_TIMEOUT)
                            )
                        })
                        .and_then(|connected| connected.map_err(Into::into))
                        .with_context(|| format!("cannot connect to {self}"))?;
                // Closing is a courtesy to the server: a failure changes nothing.
                let _ = probe.close().await;
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect_with((**options).clone())
                    .await
                    .with_context(|| format!("cannot connect to {self}"))?;
                Ok(Pool::Postgres(pool))
            }
        }
    }
}

impl FromStr for Database {
    type Err = String;

    /// Parses `sqlite:PATH` (also `sqlite://PATH`; the rest is a file path,
    /// taken as it is) or a `postgres://` / `postgresql://` URL.
    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(path) = SQLITE_PREFIXES
            .iter()
            .find_map(|prefix| text.strip_prefix(prefix))
        {
            return sqlite_path(path).map(Database::Sqlite);
        }
        if POSTGRES_PREFIXES
            .iter()
            .any(|prefix| text.starts_with(prefix))
        {
            let options = PgConnectOptions::from_str(text)
                .map_err(|error| format!("not a PostgreSQL URL: {error}"))?;
            return Ok(Database::Postgres {
                options: Box::new(options),
                shown: without_password(text),
            });
        }
        Err("expected sqlite:PATH or a postgres:// URL, \
             for example sqlite:events.db or postgres://user@localhost/mydb"
            .to_owned())
    }
}

/// Checks the path of `sqlite:PATH`.
fn sqlite_path(path: &str) -> Result<PathBuf, String> {
    if path.is_empty() {
        return Err("sqlite: needs a file path, for example sqlite:events.db".to_owned());
    }
    if path == ":memory:" || path.contains('?') {
        // An in-memory database would vanish with the process, and sqlx's
        // `?mode=` parameters would silently become part of a file name.
        return Err(format!(
            "sqlite:{path}: give a plain file path (no :memory:, no ?parameters)"
        ));
    }
    Ok(PathBuf::from(path))
}

/// `url` with its password, if any, replaced by `***`.
fn without_password(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // A URL with a password has a host: setting one cannot fail.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Database::Postgres { shown, .. } => f.write_str(shown),
        }
    }
}

impl fmt::Debug for Database {
    /// As [`Display`](fmt::Display): never shows a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A connection pool on a [`Database`].
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    /// On a SQLite file.
    Sqlite(SqlitePool),
    /// On a PostgreSQL database.
    Postgres(PgPool),
}

impl Pool {
    /// Closes every connection, waiting for those in use.
    pub(crate) async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_path_is_taken_as_it_is() {
        for (text, path) in [
            ("sqlite:events.db", "events.db"),
            ("sqlite:///tmp/events.db", "/tmp/events.db"),
            ("sqlite://events.db", "events.db"),
            ("sqlite:/a b/%20.db", "/a b/%20.db"),
        ] {
            match text.parse::<Database>().unwrap() {
                Database::Sqlite(parsed) => assert_eq!(parsed, PathBuf::from(path), "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn sqlite_without_a_plain_path_is_refused() {
        assert!("sqlite:".parse::<Database>().unwrap_err().contains("path"));
        assert!(
            "sqlite::memory:"
                .parse::<Database>()
                .unwrap_err()
                .contains(":memory:")
        );
        assert!(
            "sqlite:x.db?mode=rwc"
                .parse::<Database>()
                .unwrap_err()
                .contains("?parameters")
        );
    }

    #[test]
    fn postgres_urls_are_parsed_and_shown_without_password() {
        let database: Database =
            "postgresql://me:secret@db.example:5433/app?options=-c%20search_path%3Ds"
                .parse()
                .unwrap();
        let shown = database.to_string();
        assert!(matches!(database, Database::Postgres { .. }));
        assert!(!shown.contains("secret"), "{shown}");
        assert!(
            shown.starts_with("postgresql://me:***@db.example:5433/app"),
            "{shown}"
        );
        assert_eq!(format!("{database:?}"), shown);
        let database: Database = "postgres://u@h/d".parse().unwrap();
        assert_eq!(database.to_string(), "postgres://u@h/d");
        assert!("postgres://h:notaport/d".parse::<Database>().is_err());
    }

    #[test]
    fn other_texts_are_not_databases() {
        for text in ["events.ndjson", "mysql://h/d", "postgres:x", "./sqlite.db"] {
            assert!(!Database::is_database(text), "{text}");
            assert!(
                text.parse::<Database>()
                    .unwrap_err()
                    .contains("expected sqlite:PATH"),
                "{text}"
            );
        }
        assert!(Database::is_database("sqlite:x"));
        assert!(Database::is_database("postgresql://h/d"));
    }
}
