//! PostgreSQL for the suite: the server named by `ZEH_PG_URL` (as the
//! workspace's tests find it), a fresh schema per run that is dropped
//! afterwards, and pools whose connections work inside that schema.

use std::{env, time::Duration};

use crate::sql_db::Db;
use anyhow::Context;
use zeroeventhub_sqlx::sqlx::{
    AssertSqlSafe, Connection, Executor, PgConnection, PgPool, postgres::PgPoolOptions,
};

/// The variable naming the server, as in the workspace's tests.
pub(crate) const URL_VAR: &str = "ZEH_PG_URL";

/// How long the server may take to answer the first connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the PostgreSQL workloads cannot run.
#[derive(Debug, Clone)]
pub(crate) struct Unavailable {
    pub(crate) reason: String,
    /// Under CI (`CI` set), a server that is configured but does not
    /// answer fails the workloads instead of skipping them.
    pub(crate) fatal: bool,
}

/// The URL of the server to use, once it has answered; or why not.
///
/// `ZEH_PG_URL` unset: skipped. Set, but no answer within 10 s: skipped,
/// or under CI a failure (as the workspace's tests do).
pub(crate) fn locate() -> Result<String, Unavailable> {
    let Ok(url) = env::var(URL_VAR) else {
        return Err(Unavailable {
            reason: format!("{URL_VAR} unset (set it to a PostgreSQL URL)"),
            fatal: false,
        });
    };
    let answered = block_on(async {
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&url))
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {CONNECT_TIMEOUT:?}"))??;
        connection.close().await?;
        anyhow::Ok(())
    });
    match answered {
        Ok(()) => Ok(url),
        Err(error) => Err(Unavailable {
            reason: format!("PostgreSQL not reachable at {URL_VAR}={url}: {error:#}"),
            fatal: env::var_os("CI").is_some(),
        }),
    }
}

/// A schema of its own on the server, dropped (with everything in it)
/// when this is dropped.
#[derive(Debug)]
pub(crate) struct Schema {
    url: String,
    name: String,
}

impl Schema {
    /// Creates `zeh_bench_<random>` on the server at `url`.
    pub(crate) fn create(url: &str) -> anyhow::Result<Schema> {
        let name = format!("zeh_bench_{:016x}", fastrand::u64(..));
        block_on(async {
            let mut connection = PgConnection::connect(url).await?;
            connection
                .execute(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
                .await?;
            connection.close().await?;
            anyhow::Ok(())
        })
        .with_context(|| format!("cannot create schema {name} at {url}"))?;
        Ok(Schema {
            url: url.to_owned(),
            name,
        })
    }

    /// The schema as the SQL parts' options name it.
    pub(crate) fn db(&self) -> Db {
        Db::Postgres {
            url: self.url.clone(),
            schema: self.name.clone(),
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let dropped = block_on(async {
            let mut connection = PgConnection::connect(&self.url).await?;
            // A process killed mid-transaction may still hold locks for a
            // moment: give up rather than hang.
            connection.execute("SET lock_timeout = '10s'").await?;
            connection
                .execute(AssertSqlSafe(format!("DROP SCHEMA {} CASCADE", self.name)))
                .await?;
            connection.close().await?;
            anyhow::Ok(())
        });
        if let Err(error) = dropped {
            eprintln!("bench: could not drop schema {}: {error:#}", self.name);
        }
    }
}

/// A pool of at most `max_connections` on the server at `url` whose
/// connections have `schema` as their `search_path`: the tables of the
/// log and the store go there under their default names.
pub(crate) async fn pool(url: &str, schema: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let search_path = format!("SET search_path TO {schema}");
    PgPoolOptions::new()
        .max_connections(max_connections)
        .after_connect(move |connection, _| {
            let search_path = search_path.clone();
            Box::pin(async move {
                connection.execute(AssertSqlSafe(search_path)).await?;
                Ok(())
            })
        })
        .connect(url)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {url}"))
}

/// Runs `future` to completion on a runtime of its own, on a thread of its
/// own (so that it also works where a runtime is running already).
fn block_on<T: Send>(future: impl Future<Output = anyhow::Result<T>> + Send) -> anyhow::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start a tokio runtime")?
                    .block_on(future)
            })
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the PostgreSQL thread panicked")))
    })
}
