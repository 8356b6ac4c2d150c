//! Databases to test against: SQLite files in a temporary directory, and
//! PostgreSQL schemas of their own when a server is reachable.
#![allow(dead_code, unreachable_pub)] // each test file uses a part

use std::time::Duration;

use futures_util::StreamExt;
use sqlx::{
    Pool, Sqlite,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};
use tempfile::TempDir;
use zeroeventhub::{FeedLine, FeedRequest, server::DataReader};

pub mod runtime_harness;

/// A generous bound, only so that a broken test fails instead of hanging.
pub const NO_HANG: Duration = Duration::from_secs(60);

/// A SQLite database file in a temporary directory, deleted on drop.
pub struct SqliteDb {
    pub pool: Pool<Sqlite>,
    pub dir: TempDir,
}

impl SqliteDb {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pool = sqlite_pool(&dir, "test.db").await;
        SqliteDb { pool, dir }
    }
}

/// A pool on the file `name` in `dir` (created if missing), in WAL mode
/// so that readers and a writer work at once.
pub async fn sqlite_pool(dir: &TempDir, name: &str) -> Pool<Sqlite> {
    sqlite_pool_at(&dir.path().join(name)).await
}

/// A pool on the SQLite file at `path`, as [`sqlite_pool`] makes it.
pub async fn sqlite_pool_at(path: &std::path::Path) -> Pool<Sqlite> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(30));
    SqlitePoolOptions::new()
        .max_connections(16)
        .connect_with(options)
        .await
        .expect("open the SQLite database")
}

/// Runs `count` futures made by `make` at once, each in a task of its own
/// (as separate processes would), and panics if one fails.
pub async fn all_at_once<F, Fut, E>(count: usize, make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Debug + Send + 'static,
{
    let tasks: Vec<_> = (0..count).map(|_| tokio::spawn(make())).collect();
    for task in tasks {
        task.await.expect("a task panicked").expect("a task failed");
    }
}

/// Every line of `reader`'s answer to `request`, in a form easy to compare:
/// `"P DATA HEADERS"` for an event, `"P=CURSOR"` for a checkpoint,
/// `"error: ..."` for an error.
pub async fn read_lines<R>(reader: &R, request: FeedRequest) -> Vec<String>
where
    R: DataReader<Data = Box<serde_json::value::RawValue>>,
{
    reader
        .read(request)
        .map(|line| match line {
            Ok(FeedLine::Event(event)) => match &event.headers {
                None => format!("{} {}", event.partition_id, event.data_json()),
                Some(headers) => {
                    format!("{} {} {headers:?}", event.partition_id, event.data_json())
                }
            },
            Ok(FeedLine::Checkpoint(cursor)) => cursor.to_string(),
            Err(error) => format!("error: {error}"),
        })
        .collect()
        .await
}

/// Runs each named `async fn NAME<DB: Backend>(pool: Pool<DB>)` of the
/// calling file as a test on SQLite (`sqlite::NAME`) and, with feature
/// `postgres`, on PostgreSQL (`postgres::NAME`).
#[allow(unused_macros)]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = crate::support::SqliteDb::new().await;
                    super::$name(db.pool.clone()).await;
                }
            )*
        }

        #[cfg(feature = "postgres")]
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = crate::support::postgres::PgDb::new().await else {
                        return;
                    };
                    super::$name(db.pool.clone()).await;
                }
            )*
        }
    };
}

#[cfg(feature = "postgres")]
pub mod postgres {
    //! A schema of its own per test, on the server at `ZEH_PG_URL`.

    use std::time::Duration;

    use sqlx::{
        AssertSqlSafe, Connection, Executor, PgConnection, Pool, Postgres, postgres::PgPoolOptions,
    };

    /// A schema of its own on the test server, dropped on drop; the pool's
    /// connections have it as their `search_path`.
    pub struct PgDb {
        pub pool: Pool<Postgres>,
        pub url: String,
        pub schema: String,
    }

    impl PgDb {
        /// A fresh schema, or `None` (with the reason printed) when no
        /// server is configured or reachable. Under CI, a configured but
        /// unreachable server fails the test.
        pub async fn new() -> Option<Self> {
            let url = reachable_url().await?;
            let schema = format!("zeh_test_{:016x}", fastrand::u64(..));
            let mut connection = PgConnection::connect(&url).await.expect("connect");
            connection
                .execute(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .await
                .expect("create the test schema");
            connection.close().await.ok();
            let pool = pool_in(&url, &schema).await;
            Some(PgDb { pool, url, schema })
        }
    }

    /// A pool on the server at `url` whose connections have `schema` as
    /// their `search_path` (for another process to use a [`PgDb`]).
    pub async fn pool_in(url: &str, schema: &str) -> Pool<Postgres> {
        let search_path = format!("SET search_path TO {schema}");
        PgPoolOptions::new()
            .max_connections(16)
            .after_connect(move |connection, _| {
                let search_path = search_path.clone();
                Box::pin(async move {
                    connection.execute(AssertSqlSafe(search_path)).await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .expect("connect the pool")
    }

    impl Drop for PgDb {
        fn drop(&mut self) {
            // Drop is not async: drop the schema from a thread of its own.
            let (url, schema) = (self.url.clone(), self.schema.clone());
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async move {
                    let mut connection = PgConnection::connect(&url).await?;
                    // A connection of a failed test may still hold locks:
                    // give up rather than hang (the schema then stays).
                    connection.execute("SET lock_timeout = '10s'").await?;
                    connection
                        .execute(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                        .await?;
                    connection.close().await
                })
            });
            if let Ok(Err(error)) = dropped.join() {
                eprintln!("could not drop test schema {}: {error}", self.schema);
            }
        }
    }

    /// `ZEH_PG_URL` if a server answers there.
    async fn reachable_url() -> Option<String> {
        let Ok(url) = std::env::var("ZEH_PG_URL") else {
            eprintln!("skipped: PostgreSQL not reachable at (ZEH_PG_URL unset) (set ZEH_PG_URL)");
            return None;
        };
        let attempt = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&url));
        let reason = match attempt.await {
            Ok(Ok(connection)) => {
                connection.close().await.ok();
                return Some(url);
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => "no answer within 10 s".to_owned(),
        };
        if std::env::var_os("CI").is_some() {
            panic!("PostgreSQL not reachable at {url} under CI: {reason}");
        }
        eprintln!("skipped: PostgreSQL not reachable at {url} (set ZEH_PG_URL): {reason}");
        None
    }
}

/// A consumer's table of applied events, for tests of the runtime: one row
/// per event a handler applied, in the order committed, with no unique
/// constraint (so a duplicate shows); and a table of dead letters.
pub trait AppliedDb: zeroeventhub_sqlx::Backend + Sized {
    /// Creates `applied` and `dead_letters` if missing.
    fn create_tables(pool: &Pool<Self>) -> impl std::future::Future<Output = ()> + Send;
    /// Inserts the row of one applied event, on `connection` (a
    /// transaction's).
    fn insert_applied(
        connection: &mut Self::Connection,
        partition_id: u32,
        data: String,
        owner: String,
    ) -> impl std::future::Future<Output = Result<(), sqlx::Error>> + Send;
    /// Inserts a dead letter, on `connection` (a transaction's).
    fn insert_dead_letter(
        connection: &mut Self::Connection,
        partition_id: u32,
        data: String,
        error: String,
    ) -> impl std::future::Future<Output = Result<(), sqlx::Error>> + Send;
    /// Every applied row, in the order committed.
    fn applied(pool: &Pool<Self>) -> impl std::future::Future<Output = Vec<Applied>> + Send;
    /// (partition, data) of every dead letter.
    fn dead_letters(
        pool: &Pool<Self>,
    ) -> impl std::future::Future<Output = Vec<(u32, String)>> + Send;
    /// The number of applied rows.
    fn applied_count(pool: &Pool<Self>) -> impl std::future::Future<Output = u64> + Send;
}

/// A row of `applied`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub partition_id: u32,
    pub data: String,
    pub owner: String,
}

macro_rules! applied_db {
    ($db:ty, $id:literal) => {
        impl AppliedDb for $db {
            async fn create_tables(pool: &Pool<Self>) {
                let applied = concat!(
                    "CREATE TABLE IF NOT EXISTS applied (id ",
                    $id,
                    ", partition_id BIGINT NOT NULL, data TEXT NOT NULL, owner TEXT NOT NULL)"
                );
                let dead_letters = concat!(
                    "CREATE TABLE IF NOT EXISTS dead_letters (id ",
                    $id,
                    ", partition_id BIGINT NOT NULL, data TEXT NOT NULL, error TEXT NOT NULL)"
                );
                sqlx::query(applied).execute(pool).await.unwrap();
                sqlx::query(dead_letters).execute(pool).await.unwrap();
            }

            async fn insert_applied(
                connection: &mut Self::Connection,
                partition_id: u32,
                data: String,
                owner: String,
            ) -> Result<(), sqlx::Error> {
                sqlx::query("INSERT INTO applied (partition_id, data, owner) VALUES ($1, $2, $3)")
                    .bind(i64::from(partition_id))
                    .bind(data)
                    .bind(owner)
                    .execute(connection)
                    .await?;
                Ok(())
            }

            async fn insert_dead_letter(
                connection: &mut Self::Connection,
                partition_id: u32,
                data: String,
                error: String,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO dead_letters (partition_id, data, error) VALUES ($1, $2, $3)",
                )
                .bind(i64::from(partition_id))
                .bind(data)
                .bind(error)
                .execute(connection)
                .await?;
                Ok(())
            }

            async fn applied(pool: &Pool<Self>) -> Vec<Applied> {
                let rows: Vec<(i64, String, String)> =
                    sqlx::query_as("SELECT partition_id, data, owner FROM applied ORDER BY id")
                        .fetch_all(pool)
                        .await
                        .unwrap();
                rows.into_iter()
                    .map(|(partition_id, data, owner)| Applied {
                        partition_id: partition_id.try_into().unwrap(),
                        data,
                        owner,
                    })
                    .collect()
            }

            async fn dead_letters(pool: &Pool<Self>) -> Vec<(u32, String)> {
                let rows: Vec<(i64, String)> =
                    sqlx::query_as("SELECT partition_id, data FROM dead_letters ORDER BY id")
                        .fetch_all(pool)
                        .await
                        .unwrap();
                rows.into_iter()
                    .map(|(partition_id, data)| (partition_id.try_into().unwrap(), data))
                    .collect()
            }

            async fn applied_count(pool: &Pool<Self>) -> u64 {
                let count: i64 = sqlx::query_scalar("SELECT count(*) FROM applied")
                    .fetch_one(pool)
                    .await
                    .unwrap();
                count.try_into().unwrap()
            }
        }
    };
}

applied_db!(sqlx::Sqlite, "INTEGER PRIMARY KEY AUTOINCREMENT");
#[cfg(feature = "postgres")]
applied_db!(sqlx::Postgres, "BIGSERIAL PRIMARY KEY");

/// Events `0..per_partition` of each of `partition_count` partitions,
/// interleaved; the data names each: `{"p":P,"n":N}`.
pub fn numbered_events(partition_count: u32, per_partition: u32) -> Vec<zeroeventhub::Event> {
    (0..per_partition)
        .flat_map(|n| (0..partition_count).map(move |p| (p, n)))
        .map(|(p, n)| {
            zeroeventhub::Event::from_data(p, &serde_json::json!({"p": p, "n": n})).unwrap()
        })
        .collect()
}

/// Asserts that `applied` holds every event of `published` exactly once,
/// in order within each partition (partitions `0..partition_count`).
pub fn assert_exactly_once(
    published: &[zeroeventhub::Event],
    applied: &[Applied],
    partition_count: u32,
) {
    let by_partition = |items: Vec<(u32, String)>| {
        let mut lists = vec![Vec::new(); partition_count as usize];
        for (partition_id, data) in items {
            lists[partition_id as usize].push(data);
        }
        lists
    };
    let expected = by_partition(
        published
            .iter()
            .map(|e| (e.partition_id, e.data_json().to_owned()))
            .collect(),
    );
    let actual = by_partition(
        applied
            .iter()
            .map(|a| (a.partition_id, a.data.clone()))
            .collect(),
    );
    for (partition_id, (expected, actual)) in expected.iter().zip(&actual).enumerate() {
        if actual == expected {
            continue;
        }
        let count = |list: &[String], item: &String| list.iter().filter(|i| *i == item).count();
        let missing: Vec<&String> = expected.iter().filter(|e| count(actual, e) == 0).collect();
        let mut repeated: Vec<&String> = actual.iter().filter(|a| count(actual, a) > 1).collect();
        repeated.dedup();
        panic!(
            "partition {partition_id}: {} events applied, {} published; missing: {missing:?}; \
             applied more than once: {repeated:?}; applied in this order: {actual:?}",
            actual.len(),
            expected.len(),
        );
    }
}

/// The cursor of each partition `0..partition_count` after all of
/// `published`, as an [`EventLog`](zeroeventhub_sqlx::EventLog) hands it
/// out: the number of events in the partition.
pub fn log_ends(
    published: &[zeroeventhub::Event],
    partition_count: u32,
) -> Vec<zeroeventhub::Cursor> {
    (0..partition_count)
        .map(|p| {
            let count = published.iter().filter(|e| e.partition_id == p).count();
            zeroeventhub::Cursor::new(p, count.to_string()).unwrap()
        })
        .collect()
}
