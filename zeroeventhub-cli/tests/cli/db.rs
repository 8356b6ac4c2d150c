//! Databases for the tests of `--store`, `serve STORE` and `append`: a
//! SQLite file in a temporary directory, or a PostgreSQL schema of its own
//! when a server is reachable at `ZEH_PG_URL`; and reading back what `zeh`
//! wrote, with sqlx.

use std::{future::Future, path::PathBuf, time::Duration};

use tempfile::TempDir;
use zeroeventhub_sqlx::sqlx::{
    self, AssertSqlSafe, Connection, Executor, PgConnection, SqliteConnection,
    sqlite::SqliteConnectOptions,
};

/// A row of `zeh_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventRow {
    pub(crate) id: i64,
    pub(crate) partition_id: i64,
    pub(crate) headers: Option<String>,
    pub(crate) data: String,
}

/// A database `zeh` writes to, removed on drop.
pub(crate) enum TestDb {
    /// A SQLite file in a temporary directory.
    Sqlite { _dir: TempDir, path: PathBuf },
    /// A schema of its own on the PostgreSQL server.
    Postgres { url: String, schema: String },
}

impl TestDb {
    /// A SQLite file that does not exist yet (`zeh` creates it).
    pub(crate) fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("store.db");
        TestDb::Sqlite { _dir: dir, path }
    }

    /// A fresh schema on the server at `ZEH_PG_URL`, or `None` (with the
    /// reason printed) when none is configured or reachable. Under CI, a
    /// configured but unreachable server fails the test.
    pub(crate) fn postgres() -> Option<Self> {
        let url = reachable_url()?;
        let schema = format!("zeh_cli_test_{:016x}", fastrand::u64(..));
        block_on(async {
            let mut connection = PgConnection::connect(&url).await?;
            connection
                .execute(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .await?;
            connection.close().await
        })
        .expect("create the test schema");
        Some(TestDb::Postgres { url, schema })
    }

    /// The STORE argument naming this database: for PostgreSQL, the URL
    /// with `options=-c search_path=SCHEMA`, so that `zeh`'s tables go
    /// into the test's schema.
    pub(crate) fn store(&self) -> String {
        match self {
            TestDb::Sqlite { path, .. } => format!("sqlite:{}", path.display()),
            TestDb::Postgres { url, schema } => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}options=-c%20search_path%3D{schema}")
            }
        }
    }

    /// The rows of `zeh_events`, by id.
    pub(crate) fn events(&self) -> Vec<EventRow> {
        self.try_events().expect("read zeh_events")
    }

    /// The rows of `zeh_events`, by id, or the error (no such table yet).
    pub(crate) fn try_events(&self) -> Result<Vec<EventRow>, sqlx::Error> {
        const SQL: &str = "SELECT id, partition_id, headers, data FROM zeh_events ORDER BY id";
        let rows: Vec<(i64, i64, Option<String>, String)> = match self {
            TestDb::Sqlite { .. } => block_on(async {
                let mut connection = self.sqlite_connection().await?;
                sqlx::query_as(SQL).fetch_all(&mut connection).await
            }),
            TestDb::Postgres { .. } => block_on(async {
                let mut connection = self.pg_connection().await?;
                sqlx::query_as(SQL).fetch_all(&mut connection).await
            }),
        }?;
        Ok(rows
            .into_iter()
            .map(|(id, partition_id, headers, data)| EventRow {
                id,
                partition_id,
                headers,
                data,
            })
            .collect())
    }

    /// The stored cursors of the consumer `zeh` (`zeh follow --store`'s
    /// default name), by partition.
    pub(crate) fn cursors(&self) -> Vec<(i64, String)> {
        self.cursors_of("zeh")
    }

    /// The stored cursors of the consumer `name`, by partition (none when
    /// the tables do not exist yet).
    pub(crate) fn cursors_of(&self, name: &str) -> Vec<(i64, String)> {
        let sql = format!(
            "SELECT partition_id, cursor FROM zeh_consumer_cursors \
             WHERE consumer = '{name}' ORDER BY partition_id"
        );
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            TestDb::Sqlite { .. } => block_on(async {
                let mut connection = self.sqlite_connection().await?;
                sqlx::query_as(sql).fetch_all(&mut connection).await
            }),
            TestDb::Postgres { .. } => block_on(async {
                let mut connection = self.pg_connection().await?;
                sqlx::query_as(sql).fetch_all(&mut connection).await
            }),
        }
        .unwrap_or_default()
    }

    /// Runs `sql` (test setup, or a change behind `zeh`'s back).
    pub(crate) fn execute(&self, sql: &str) {
        let sql = AssertSqlSafe(sql.to_owned());
        match self {
            TestDb::Sqlite { .. } => block_on(async {
                let mut connection = self.sqlite_connection().await?;
                connection.execute(sql).await.map(drop)
            }),
            TestDb::Postgres { .. } => block_on(async {
                let mut connection = self.pg_connection().await?;
                connection.execute(sql).await.map(drop)
            }),
        }
        .expect("run SQL");
    }

    /// A connection to the SQLite file, which must exist.
    pub(crate) async fn sqlite_connection(&self) -> Result<SqliteConnection, sqlx::Error> {
        let TestDb::Sqlite { path, .. } = self else {
            panic!("not a SQLite database")
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(Duration::from_secs(30));
        SqliteConnection::connect_with(&options).await
    }

    /// A connection to the server, with the test's schema as `search_path`.
    pub(crate) async fn pg_connection(&self) -> Result<PgConnection, sqlx::Error> {
        let TestDb::Postgres { url, schema } = self else {
            panic!("not a PostgreSQL database")
        };
        let mut connection = PgConnection::connect(url).await?;
        connection
            .execute(AssertSqlSafe(format!("SET search_path TO {schema}")))
            .await?;
        Ok(connection)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let TestDb::Postgres { url, schema } = self else {
            return;
        };
        let dropped = block_on(async {
            let mut connection = PgConnection::connect(url).await?;
            // A connection of a killed process may still hold locks: give
            // up rather than hang (the schema then stays).
            connection.execute("SET lock_timeout = '10s'").await?;
            connection
                .execute(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .await?;
            connection.close().await
        });
        if let Err(error) = dropped {
            eprintln!("could not drop test schema {schema}: {error}");
        }
    }
}

/// Runs `future` to completion on a runtime of its own (the tests are
/// synchronous: they run `zeh` as a process).
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// `ZEH_PG_URL` if a server answers there.
fn reachable_url() -> Option<String> {
    let Ok(url) = std::env::var("ZEH_PG_URL") else {
        eprintln!("skipped: PostgreSQL not reachable at (ZEH_PG_URL unset) (set ZEH_PG_URL)");
        return None;
    };
    let attempt = block_on(async {
        match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&url)).await {
            Ok(Ok(connection)) => {
                connection.close().await.ok();
                Ok(())
            }
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("no answer within 10 s".to_owned()),
        }
    });
    let Err(reason) = attempt else {
        return Some(url);
    };
    if std::env::var_os("CI").is_some() {
        panic!("PostgreSQL not reachable at {url} under CI: {reason}");
    }
    eprintln!("skipped: PostgreSQL not reachable at {url} (set ZEH_PG_URL): {reason}");
    None
}

/// Asserts that `stored` (the rows of one partition, in id order, in the
/// form the caller compares) is `expected`: every event exactly once, in
/// feed order; a failure names the first row that differs.
pub(crate) fn assert_rows_in_order<T: PartialEq + std::fmt::Debug>(
    partition: u32,
    stored: &[T],
    expected: &[T],
) {
    assert!(
        stored == expected,
        "partition {partition}: {} rows, first difference at {:?}",
        stored.len(),
        stored
            .iter()
            .zip(expected)
            .position(|(stored, expected)| stored != expected)
    );
}
