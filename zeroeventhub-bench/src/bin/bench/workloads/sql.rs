//! The SQL workloads (crate `zeroeventhub-sqlx`, SQLite and PostgreSQL):
//! W1 served from an event log, and a feed followed into a store, by `zeh`
//! and by the library's consumer runtime. Each SQLite file lives in a
//! temporary directory of the orchestrator, deleted afterwards; each
//! PostgreSQL run works in a fresh schema, dropped afterwards.

use std::{
    path::Path,
    process::{Command, Stdio},
};

use anyhow::{Context, ensure};
use tempfile::TempDir;

use super::{Outcome, Protocol, Sample, Side, StreamRuns, Suite};
use crate::{
    pg::Schema,
    procs::{Server, run, run_with_cpu},
    sql_db::Db,
    sqlite,
};

/// The `pagesizehint` of the follow workloads.
pub(crate) const FOLLOW_PAGE: u64 = 1_000;

/// A fresh temporary directory for the workload's SQLite files.
pub(crate) fn temp_dir() -> anyhow::Result<TempDir> {
    tempfile::Builder::new()
        .prefix("zeh-bench-")
        .tempdir()
        .context("cannot create a temporary directory for the SQLite files")
}

impl Suite {
    /// W1 (one request for the whole feed, `bench consume`) from `bench
    /// sql-server`: the same feed, read from a SQLite event log that `bench
    /// sql-fill` made first, in its own process.
    pub(super) fn w1_sqlite(&self) -> anyhow::Result<Outcome> {
        let dir = temp_dir()?;
        self.w1_sql(&Db::Sqlite(dir.path().join("producer.db")))
    }

    /// W1 as [`w1_sqlite`](Suite::w1_sqlite), from a PostgreSQL event log
    /// in a fresh schema.
    pub(super) fn w1_postgres(&self, url: &str) -> anyhow::Result<Outcome> {
        let schema = Schema::create(url)?;
        self.w1_sql(&schema.db())
    }

    fn w1_sql(&self, db: &Db) -> anyhow::Result<Outcome> {
        let events = self.settings.events;
        let mut fill = Command::new(&self.exe);
        fill.args(["sql-fill", "--events"])
            .arg(events.to_string())
            .args(db.args());
        run(fill)?;
        let mut command = Command::new(&self.exe);
        command.args(["sql-server", "--port", "0"]).args(db.args());
        let server = Server::start(command)?;
        self.consume_from(&server, Side::Ours, events, None, Protocol::Version1)
    }

    /// `zeh follow --store sqlite:PATH --until-caught-up` against `bench
    /// server`, a fresh store per run; wall time from our clock around the
    /// process, its CPU time as a reaped child's.
    pub(super) fn follow_zeh(&self) -> anyhow::Result<Outcome> {
        let zeh = match &self.zeh {
            Ok(zeh) => zeh,
            Err(why) => return Ok(Outcome::Skipped(why.clone())),
        };
        let events = self.settings.events;
        let server = self.start_server(Side::Ours, false)?;
        // The warm-up; the pages of 1,000 together send the same lines.
        let body_bytes = self.probe(server.url(), events)?;
        let mut samples = Vec::new();
        for _ in 0..self.runs(Side::Ours) {
            let dir = temp_dir()?;
            let store = dir.path().join("consumer.db");
            let mut command = Command::new(zeh);
            command
                .args(["follow", server.url(), "--partitions", "1", "--store"])
                .arg(format!("sqlite:{}", store.display()))
                .args(["--until-caught-up", "--page-size-hint"])
                .arg(FOLLOW_PAGE.to_string())
                .stdout(Stdio::null());
            let cpu_before = server.cpu_seconds()?;
            let (_, wall_s, cpu_s) = run_with_cpu(command)?;
            let server_cpu_s = server.cpu_seconds()? - cpu_before;
            check_count(&store, "SELECT COUNT(*) FROM zeh_events", events)?;
            samples.push(Sample {
                wall_s,
                client_cpu_s: Some(cpu_s),
                client_rss_kib: None,
                server_cpu_s,
            });
        }
        Ok(Outcome::Stream(StreamRuns {
            samples,
            events,
            body_bytes: Some(body_bytes),
            server_rss_kib: server.peak_rss_kib()?,
        }))
    }

    /// `bench sql-consume` (the library's consumer runtime into a SQLite
    /// store, which checks its own table) against `bench server`, a fresh
    /// store per run.
    pub(super) fn consume_sqlite(&self) -> anyhow::Result<Outcome> {
        self.consume_sql(|| {
            let dir = temp_dir()?;
            let db = Db::Sqlite(dir.path().join("consumer.db"));
            Ok((dir, db))
        })
    }

    /// As [`consume_sqlite`](Suite::consume_sqlite), into a fresh
    /// PostgreSQL schema per run.
    pub(super) fn consume_postgres(&self, url: &str) -> anyhow::Result<Outcome> {
        self.consume_sql(|| {
            let schema = Schema::create(url)?;
            let db = schema.db();
            Ok((schema, db))
        })
    }

    /// `bench sql-consume` into the database `fresh` makes per run (with
    /// what keeps it alive until the run's end).
    fn consume_sql<K>(
        &self,
        fresh: impl Fn() -> anyhow::Result<(K, Db)>,
    ) -> anyhow::Result<Outcome> {
        let events = self.settings.events;
        let server = self.start_server(Side::Ours, false)?;
        let body_bytes = self.probe(server.url(), events)?; // warm-up
        let mut samples = Vec::new();
        for _ in 0..self.runs(Side::Ours) {
            let (_keep, db) = fresh()?;
            let mut command = Command::new(&self.exe);
            command
                .args(["sql-consume", "--url", server.url(), "--events"])
                .arg(events.to_string())
                .args(db.args())
                .arg("--page-size")
                .arg(FOLLOW_PAGE.to_string());
            samples.push(self.client_run(&server, command)?);
        }
        Ok(Outcome::Stream(StreamRuns {
            samples,
            events,
            body_bytes: Some(body_bytes),
            server_rss_kib: server.peak_rss_kib()?,
        }))
    }
}

/// Checks that `query` counts `expected` rows in the SQLite file `path`.
fn check_count(path: &Path, query: &'static str, expected: u64) -> anyhow::Result<()> {
    let found = sqlite::query_int(path, query)?;
    ensure!(
        u64::try_from(found).ok() == Some(expected),
        "`{query}` in {} gave {found}, {expected} expected",
        path.display()
    );
    Ok(())
}
