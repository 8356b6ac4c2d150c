//! The long-polling workloads: commit-to-consumer latency (long-polling
//! against polling every 1 s and 100 ms), and what waiting consumers cost
//! an idle producer. Each case starts a fresh `bench latency-server` on a
//! fresh log (a new SQLite file, a new PostgreSQL schema) and runs one
//! `bench latency-client` or `bench idle-client` against it.

use std::process::Command;

use anyhow::Context;
use serde::Deserialize;

use super::{Outcome, Suite, sql::temp_dir};
use crate::{
    pg::Schema,
    procs::{Server, run_json_timed},
    sql_db::Db,
};

/// The mean gap between two appends of a latency case: long enough for
/// the server to be idle in between (the fan-out to 1,000 long-polling
/// consumers takes tens of ms on 2 cores); polling cases use the base.
fn gap_ms(asking: AskCase, consumers: usize) -> f64 {
    const BASE_MS: f64 = 10.0;
    const PER_CONSUMER_MS: f64 = 0.1;
    match asking {
        AskCase::LongPoll => BASE_MS + PER_CONSUMER_MS * consumers as f64,
        AskCase::Poll1s | AskCase::Poll100ms => BASE_MS,
    }
}

/// A case's figures, or why there are none.
#[derive(Debug, Clone)]
pub(crate) enum Case<T> {
    Done(T),
    Skipped(String),
    Failed(String),
}

impl<T> Case<T> {
    pub(crate) fn is_failed(&self) -> bool {
        matches!(self, Case::Failed(_))
    }

    fn of(result: anyhow::Result<T>) -> Case<T> {
        match result {
            Ok(figures) => Case::Done(figures),
            Err(error) => Case::Failed(format!("{error:#}")),
        }
    }
}

/// Which log, and who appends to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogCase {
    /// `MemoryLog`, appended by the serving process.
    Memory,
    /// SQLite, appended by the serving process in a transaction of its own.
    SqliteServer,
    /// SQLite, appended by the serving process with `publish`.
    SqlitePublish,
    /// SQLite, appended by another process (the measuring client).
    SqliteOther,
    /// PostgreSQL, appended by another process (the measuring client).
    PostgresOther,
}

impl LogCase {
    const ALL: [LogCase; 5] = [
        LogCase::Memory,
        LogCase::SqliteServer,
        LogCase::SqlitePublish,
        LogCase::SqliteOther,
        LogCase::PostgresOther,
    ];

    pub(crate) fn log(self) -> &'static str {
        match self {
            LogCase::Memory => "in-memory",
            LogCase::SqliteServer | LogCase::SqlitePublish | LogCase::SqliteOther => "SQLite",
            LogCase::PostgresOther => "PostgreSQL",
        }
    }

    pub(crate) fn appended_by(self) -> &'static str {
        match self {
            LogCase::Memory | LogCase::SqliteServer => "serving process",
            LogCase::SqlitePublish => "serving process, `publish`",
            LogCase::SqliteOther | LogCase::PostgresOther => "another process",
        }
    }

    /// `--append-via` of `bench latency-client`.
    fn append_via(self) -> &'static str {
        match self {
            LogCase::Memory | LogCase::SqliteServer => "server",
            LogCase::SqlitePublish => "server-publish",
            LogCase::SqliteOther | LogCase::PostgresOther => "database",
        }
    }

    fn is_postgres(self) -> bool {
        self == LogCase::PostgresOther
    }
}

/// How the consumers ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AskCase {
    LongPoll,
    Poll1s,
    Poll100ms,
}

impl AskCase {
    const ALL: [AskCase; 3] = [AskCase::LongPoll, AskCase::Poll1s, AskCase::Poll100ms];

    pub(crate) fn name(self) -> &'static str {
        match self {
            AskCase::LongPoll => "long-poll",
            AskCase::Poll1s => "poll 1 s",
            AskCase::Poll100ms => "poll 100 ms",
        }
    }

    fn args(self) -> [&'static str; 4] {
        match self {
            AskCase::LongPoll => ["--asking", "long-poll", "--interval-ms", "0"],
            AskCase::Poll1s => ["--asking", "poll", "--interval-ms", "1000"],
            AskCase::Poll100ms => ["--asking", "poll", "--interval-ms", "100"],
        }
    }
}

/// p50, p99 and max, in ms.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct Percentiles {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

/// What `bench latency-client` prints.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct LatencyFigures {
    pub(crate) events: u64,
    pub(crate) window_s: f64,
    pub(crate) errors: u64,
    pub(crate) rps: f64,
    pub(crate) server_cpu_s: f64,
    pub(crate) server_peak_rss_kib: u64,
    pub(crate) early: u64,
    /// Every consumer's receipt of every event.
    pub(crate) all_ms: Percentiles,
    /// The last consumer's receipt of each event.
    pub(crate) last_ms: Percentiles,
    /// The whole case, from the client's start to its end (ramp-up
    /// included), by the orchestrator's clock.
    #[serde(default)]
    pub(crate) case_s: f64,
}

/// One latency case.
#[derive(Debug, Clone)]
pub(crate) struct LatencyCase {
    pub(crate) log: LogCase,
    pub(crate) asking: AskCase,
    pub(crate) consumers: usize,
    pub(crate) gap_ms: f64,
    pub(crate) result: Case<LatencyFigures>,
}

/// What `bench idle-client` prints.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IdleFigures {
    pub(crate) ramp_s: f64,
    pub(crate) quiet_s: f64,
    pub(crate) server_cpu_s: f64,
    pub(crate) server_rss_kib: u64,
    pub(crate) server_peak_rss_kib: u64,
    pub(crate) client_rss_kib: u64,
    pub(crate) requests_meanwhile: u64,
    pub(crate) errors: u64,
}

/// One idle case.
#[derive(Debug, Clone)]
pub(crate) struct IdleCase {
    /// `in-memory`, `SQLite` or `PostgreSQL`.
    pub(crate) log: &'static str,
    pub(crate) consumers: usize,
    pub(crate) result: Case<IdleFigures>,
}

/// A fresh log for one case (none: a `MemoryLog`), and what keeps its
/// database alive (a temporary directory, a schema) until the case ends.
struct FreshLog {
    db: Option<Db>,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<Schema>,
}

impl Suite {
    /// Every latency case: each log, each way of asking, each count of
    /// consumers.
    pub(super) fn latency(&self) -> anyhow::Result<Outcome> {
        let mut cases = Vec::new();
        for log in LogCase::ALL {
            for asking in AskCase::ALL {
                // `publish` differs from the outbox path only in how
                // waiters are woken: long-polling alone shows it.
                if log == LogCase::SqlitePublish && asking != AskCase::LongPoll {
                    continue;
                }
                for &consumers in &self.settings.latency_consumers {
                    let gap_ms = gap_ms(asking, consumers);
                    eprintln!(
                        "bench: latency: {} ({}), {}, {consumers} consumer(s), {} events, gap {gap_ms} ms ...",
                        log.log(),
                        log.appended_by(),
                        asking.name(),
                        self.settings.latency_events,
                    );
                    let result = self.unavailable(log).unwrap_or_else(|| {
                        Case::of(self.latency_case(log, asking, consumers, gap_ms))
                    });
                    match &result {
                        Case::Done(figures) => eprintln!(
                            "bench: ... {:.1} s; last consumer p50 {} ms, p99 {} ms",
                            figures.case_s, figures.last_ms.p50, figures.last_ms.p99
                        ),
                        Case::Skipped(why) => eprintln!("bench: ... skipped: {why}"),
                        Case::Failed(why) => eprintln!("bench: ... FAILED: {why}"),
                    }
                    cases.push(LatencyCase {
                        log,
                        asking,
                        consumers,
                        gap_ms,
                        result,
                    });
                }
            }
        }
        Ok(Outcome::Latency(cases))
    }

    /// Every idle case: each log, each count of waiting consumers.
    pub(super) fn idle(&self) -> anyhow::Result<Outcome> {
        let mut cases = Vec::new();
        for log in [
            LogCase::Memory,
            LogCase::SqliteServer,
            LogCase::PostgresOther,
        ] {
            for &consumers in &self.settings.idle_consumers {
                eprintln!(
                    "bench: idle: {}, {consumers} waiting consumers ...",
                    log.log()
                );
                let result = self
                    .unavailable(log)
                    .unwrap_or_else(|| Case::of(self.idle_case(log, consumers)));
                if let Case::Failed(why) = &result {
                    eprintln!("bench: ... FAILED: {why}");
                }
                cases.push(IdleCase {
                    log: log.log(),
                    consumers,
                    result,
                });
            }
        }
        Ok(Outcome::Idle(cases))
    }

    /// For a PostgreSQL case without a server: skipped, or failed under CI.
    fn unavailable<T>(&self, log: LogCase) -> Option<Case<T>> {
        match &self.pg {
            Err(unavailable) if log.is_postgres() && unavailable.fatal => {
                Some(Case::Failed(unavailable.reason.clone()))
            }
            Err(unavailable) if log.is_postgres() => {
                Some(Case::Skipped(unavailable.reason.clone()))
            }
            _ => None,
        }
    }

    fn fresh_log(&self, log: LogCase) -> anyhow::Result<FreshLog> {
        Ok(match log {
            LogCase::Memory => FreshLog {
                db: None,
                _dir: None,
                _schema: None,
            },
            LogCase::SqliteServer | LogCase::SqlitePublish | LogCase::SqliteOther => {
                let dir = temp_dir()?;
                FreshLog {
                    db: Some(Db::Sqlite(dir.path().join("producer.db"))),
                    _dir: Some(dir),
                    _schema: None,
                }
            }
            LogCase::PostgresOther => {
                let url = self
                    .pg
                    .as_ref()
                    .map_err(|u| anyhow::anyhow!("{}", u.reason))?;
                let schema = Schema::create(url)?;
                FreshLog {
                    db: Some(schema.db()),
                    _dir: None,
                    _schema: Some(schema),
                }
            }
        })
    }

    /// `bench latency-server` on `fresh`'s log.
    fn latency_server(&self, fresh: &FreshLog) -> anyhow::Result<Server> {
        let mut command = Command::new(&self.exe);
        command.args(["latency-server", "--port", "0"]);
        if let Some(db) = &fresh.db {
            command.args(db.args());
        }
        Server::start(command)
    }

    fn latency_case(
        &self,
        log: LogCase,
        asking: AskCase,
        consumers: usize,
        gap_ms: f64,
    ) -> anyhow::Result<LatencyFigures> {
        let fresh = self.fresh_log(log)?;
        let server = self.latency_server(&fresh)?;
        let mut command = Command::new(&self.exe);
        command
            .args(["latency-client", "--url", server.url(), "--server-pid"])
            .arg(server.pid().to_string())
            .arg("--consumers")
            .arg(consumers.to_string())
            .arg("--events")
            .arg(self.settings.latency_events.to_string())
            .arg("--gap-ms")
            .arg(gap_ms.to_string())
            .args(asking.args())
            .args(["--append-via", log.append_via()]);
        if log.append_via() == "database"
            && let Some(db) = &fresh.db
        {
            command.args(db.args());
        }
        let (report, case_s) = run_json_timed(command)?;
        let mut figures: LatencyFigures = serde_json::from_value(report.clone())
            .with_context(|| format!("unexpected figures: {report}"))?;
        figures.case_s = case_s;
        drop(server); // before its log
        Ok(figures)
    }

    fn idle_case(&self, log: LogCase, consumers: usize) -> anyhow::Result<IdleFigures> {
        let fresh = self.fresh_log(log)?;
        let server = self.latency_server(&fresh)?;
        let mut command = Command::new(&self.exe);
        command
            .args(["idle-client", "--url", server.url(), "--server-pid"])
            .arg(server.pid().to_string())
            .arg("--consumers")
            .arg(consumers.to_string())
            .arg("--quiet-s")
            .arg(self.settings.idle_seconds.to_string());
        let (report, _) = run_json_timed(command)?;
        let figures = serde_json::from_value(report.clone())
            .with_context(|| format!("unexpected figures: {report}"))?;
        drop(server);
        Ok(figures)
    }
}
