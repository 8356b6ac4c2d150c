//! The workloads, each measured with a freshly started server (so its peak
//! RSS is the workload's own), one warm-up request, then timed runs. The
//! SQL workloads are in [`sql`], the long-polling ones (latency, idle) in
//! [`latency`].

mod latency;
mod sql;

pub(crate) use latency::{Case, IdleCase, LatencyCase};
pub(crate) use sql::{FOLLOW_PAGE, temp_dir};

use std::{path::PathBuf, process::Command};

use anyhow::{Context, ensure};
use clap::ValueEnum;
use zeroeventhub_bench::workload::SMALL_PAGE;

use crate::{
    load::{Generator, LoadFigures},
    pg,
    procs::{Server, run, run_json},
    python::Python,
};

/// The workloads of issue 5, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Workload {
    /// One request for the whole feed, typed consumer.
    W1,
    /// W1's request with curl as the client: the server alone.
    W1ServerAlone,
    /// Pages of 100 over one keep-alive connection.
    W2,
    /// W1 on protocol version 2: a discovery, then one events request.
    #[value(name = "w1-v2")]
    W1V2,
    /// W2 on protocol version 2: pages of 100 from `{feed}/events`.
    #[value(name = "w2-v2")]
    W2V2,
    /// W1 from a producer sending one HTTP chunk per line.
    W1PerLine,
    /// 16 connections requesting a 100-event page for 10 s.
    W3,
    /// W1 from a producer serving a SQLite event log (`bench sql-server`).
    W1Sqlite,
    /// `zeh follow --store sqlite:` from `_first` until caught up.
    FollowSqliteZeh,
    /// The library's consumer runtime into a SQLite store (`bench sql-consume`).
    ConsumeSqlite,
    /// W1 from a producer serving a PostgreSQL event log.
    W1Postgres,
    /// The library's consumer runtime into a PostgreSQL store.
    ConsumePostgres,
    /// From an append's commit to the consumers holding the event
    /// (long-polling and polling; `bench latency-server`, `bench latency-client`).
    Latency,
    /// The producer's memory and CPU while thousands of consumers wait
    /// (`bench idle-client`).
    Idle,
}

/// Which table of the report a workload's figures go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Stream,
    Load,
    Latency,
    Idle,
}

impl Workload {
    pub(crate) const ALL: [Workload; 14] = [
        Workload::W1,
        Workload::W1ServerAlone,
        Workload::W2,
        Workload::W1V2,
        Workload::W2V2,
        Workload::W1PerLine,
        Workload::W3,
        Workload::W1Sqlite,
        Workload::FollowSqliteZeh,
        Workload::ConsumeSqlite,
        Workload::W1Postgres,
        Workload::ConsumePostgres,
        Workload::Latency,
        Workload::Idle,
    ];

    /// The name printed in the tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::W1 => "W1 bulk replay",
            Workload::W1ServerAlone => "W1 server alone (curl)",
            Workload::W2 => "W2 paged",
            Workload::W1V2 => "W1 bulk replay, version 2",
            Workload::W2V2 => "W2 paged, version 2",
            Workload::W1PerLine => "W1 per-line framing",
            Workload::W3 => "W3 tailing",
            Workload::W1Sqlite => "W1 from SQLite log",
            Workload::FollowSqliteZeh => "follow into SQLite (zeh)",
            Workload::ConsumeSqlite => "consume into SQLite (library)",
            Workload::W1Postgres => "W1 from PostgreSQL log",
            Workload::ConsumePostgres => "consume into PostgreSQL (library)",
            Workload::Latency => "commit-to-consumer latency",
            Workload::Idle => "idle waiting consumers",
        }
    }

    /// Whether the workload needs the SQL crate, which the Python
    /// reference has no counterpart of.
    pub(crate) fn is_sql(self) -> bool {
        matches!(
            self,
            Workload::W1Sqlite
                | Workload::FollowSqliteZeh
                | Workload::ConsumeSqlite
                | Workload::W1Postgres
                | Workload::ConsumePostgres
        )
    }

    /// Whether the workload needs PostgreSQL (wholly or in part).
    pub(crate) fn uses_postgres(self) -> bool {
        matches!(
            self,
            Workload::W1Postgres | Workload::ConsumePostgres | Workload::Latency | Workload::Idle
        )
    }

    /// Where its figures are printed.
    pub(crate) fn table(self) -> Table {
        match self {
            Workload::W3 => Table::Load,
            Workload::Latency => Table::Latency,
            Workload::Idle => Table::Idle,
            _ => Table::Stream,
        }
    }
}

/// Which protocol version our consumer speaks in a streaming workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Version1,
    Version2,
}

/// Whose producer and consumer run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// This workspace's crates.
    Ours,
    /// The `zeroeventhub` package from PyPI.
    Python,
}

impl Side {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Side::Ours => "ours",
            Side::Python => "python",
        }
    }
}

/// One timed run of a streaming workload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) wall_s: f64,
    /// `None` when the client is curl.
    pub(crate) client_cpu_s: Option<f64>,
    pub(crate) client_rss_kib: Option<u64>,
    pub(crate) server_cpu_s: f64,
}

/// The runs of a streaming workload (W1, W2, per-line, server alone).
#[derive(Debug, Clone)]
pub(crate) struct StreamRuns {
    pub(crate) samples: Vec<Sample>,
    pub(crate) events: u64,
    /// Response body bytes of the whole feed (all pages together).
    pub(crate) body_bytes: Option<u64>,
    pub(crate) server_rss_kib: u64,
}

/// The runs of W3.
#[derive(Debug, Clone)]
pub(crate) struct LoadRuns {
    pub(crate) generator: &'static str,
    pub(crate) runs: Vec<LoadFigures>,
    pub(crate) server_cpu_s: Vec<f64>,
    pub(crate) server_rss_kib: u64,
}

#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Stream(StreamRuns),
    Load(LoadRuns),
    Latency(Vec<LatencyCase>),
    Idle(Vec<IdleCase>),
    Skipped(String),
    Failed(String),
}

impl Outcome {
    /// Failures: the whole workload's, or its cases'.
    pub(crate) fn failures(&self) -> usize {
        match self {
            Outcome::Failed(_) => 1,
            Outcome::Latency(cases) => cases.iter().filter(|c| c.result.is_failed()).count(),
            Outcome::Idle(cases) => cases.iter().filter(|c| c.result.is_failed()).count(),
            Outcome::Stream(_) | Outcome::Load(_) | Outcome::Skipped(_) => 0,
        }
    }
}

/// What the suite runs with.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) events: u64,
    pub(crate) runs: usize,
    pub(crate) w3_runs: usize,
    pub(crate) python_runs: usize,
    pub(crate) w3_seconds: f64,
    pub(crate) client_threads: usize,
    /// Events appended per latency case.
    pub(crate) latency_events: u64,
    /// The consumer counts of the latency cases.
    pub(crate) latency_consumers: Vec<usize>,
    /// The consumer counts of the idle cases.
    pub(crate) idle_consumers: Vec<usize>,
    /// The quiet period of each idle case, in seconds.
    pub(crate) idle_seconds: f64,
}

/// The programs the suite runs.
#[derive(Debug, Clone)]
pub(crate) struct Suite {
    pub(crate) settings: Settings,
    /// This executable: `bench server`, `bench consume`, `bench probe`.
    pub(crate) exe: PathBuf,
    pub(crate) curl: Option<PathBuf>,
    pub(crate) generator: Generator,
    pub(crate) python: Option<Python>,
    /// `zeh` for the follow workload, or why that workload is skipped.
    pub(crate) zeh: Result<PathBuf, String>,
    /// The PostgreSQL server's URL, or why the PostgreSQL workloads (and
    /// cases) cannot run.
    pub(crate) pg: Result<String, pg::Unavailable>,
}

impl Suite {
    /// Measures `workload` on `side`. `full_body_bytes` is W1's body size
    /// on that side, if known (W2 sends the same lines in 1,000 pages).
    pub(crate) fn measure(
        &self,
        side: Side,
        workload: Workload,
        full_body_bytes: Option<u64>,
    ) -> Outcome {
        let events = self.settings.events;
        if side == Side::Python && workload.is_sql() {
            return Outcome::Skipped("the reference has no SQL event log / store".into());
        }
        if side == Side::Python && matches!(workload, Workload::Latency | Workload::Idle) {
            return Outcome::Skipped("the reference has no long-polling".into());
        }
        if side == Side::Python && matches!(workload, Workload::W1V2 | Workload::W2V2) {
            return Outcome::Skipped("the reference speaks version 1 only".into());
        }
        let result = match workload {
            Workload::W1 => self.consume(side, events, false, None),
            Workload::W2 => self.consume(side, SMALL_PAGE, false, full_body_bytes),
            Workload::W1V2 => self.consume_version_2(events),
            Workload::W2V2 => self.consume_version_2(SMALL_PAGE),
            Workload::W1PerLine if side == Side::Python => {
                return Outcome::Skipped(
                    "the reference always sends one chunk per line: see W1 bulk replay".into(),
                );
            }
            Workload::W1PerLine => self.consume(side, events, true, None),
            Workload::W1ServerAlone => self.server_alone(side),
            Workload::W3 => self.tailing(side),
            Workload::W1Sqlite => self.w1_sqlite(),
            Workload::FollowSqliteZeh => self.follow_zeh(),
            Workload::ConsumeSqlite => self.consume_sqlite(),
            Workload::W1Postgres => match self.postgres() {
                Ok(url) => self.w1_postgres(url),
                Err(unavailable) => return unavailable,
            },
            Workload::ConsumePostgres => match self.postgres() {
                Ok(url) => self.consume_postgres(url),
                Err(unavailable) => return unavailable,
            },
            Workload::Latency => self.latency(),
            Workload::Idle => self.idle(),
        };
        result.unwrap_or_else(|error| Outcome::Failed(format!("{error:#}")))
    }

    /// The PostgreSQL server, or the outcome of a workload that needs one
    /// when there is none: skipped, or failed under CI.
    fn postgres(&self) -> Result<&str, Outcome> {
        match &self.pg {
            Ok(url) => Ok(url),
            Err(unavailable) if unavailable.fatal => {
                Err(Outcome::Failed(unavailable.reason.clone()))
            }
            Err(unavailable) => Err(Outcome::Skipped(unavailable.reason.clone())),
        }
    }

    fn runs(&self, side: Side) -> usize {
        match side {
            Side::Ours => self.settings.runs,
            Side::Python => self.settings.python_runs,
        }
    }

    fn python(&self) -> anyhow::Result<&Python> {
        self.python
            .as_ref()
            .context("the Python reference is not available")
    }

    fn start_server(&self, side: Side, per_line: bool) -> anyhow::Result<Server> {
        let events = self.settings.events;
        match side {
            Side::Ours => {
                let mut command = Command::new(&self.exe);
                command
                    .args(["server", "--port", "0", "--events"])
                    .arg(events.to_string());
                if per_line {
                    command.args(["--framing", "per-line"]);
                }
                Server::start(command)
            }
            Side::Python => Server::start(self.python()?.server(events)),
        }
    }

    fn client_command(&self, side: Side, url: &str, page_size: u64) -> anyhow::Result<Command> {
        let events = self.settings.events;
        Ok(match side {
            Side::Ours => {
                let mut command = Command::new(&self.exe);
                command
                    .args(["consume", "--url", url, "--events"])
                    .arg(events.to_string())
                    .arg("--page-size")
                    .arg(page_size.to_string())
                    .arg("--threads")
                    .arg(self.settings.client_threads.to_string());
                command
            }
            Side::Python => self.python()?.client(url, events, page_size),
        })
    }

    /// One untimed request for a page from `_first` (a warm-up); returns
    /// the size of its body.
    fn probe(&self, url: &str, page_size: u64) -> anyhow::Result<u64> {
        let mut command = Command::new(&self.exe);
        command
            .args(["probe", "--url", url, "--page-size"])
            .arg(page_size.to_string());
        let report = run_json(command)?;
        report["body_bytes"]
            .as_u64()
            .with_context(|| format!("no body_bytes in {report}"))
    }

    /// W1, W2 and the per-line variant: a consumer process per run.
    fn consume(
        &self,
        side: Side,
        page_size: u64,
        per_line: bool,
        known_body_bytes: Option<u64>,
    ) -> anyhow::Result<Outcome> {
        let server = self.start_server(side, per_line)?;
        self.consume_from(
            &server,
            side,
            page_size,
            known_body_bytes,
            Protocol::Version1,
        )
    }

    /// W1 and W2 on version 2: our producer, our consumer speaking
    /// version 2 to it (the same reader behind both versions).
    fn consume_version_2(&self, page_size: u64) -> anyhow::Result<Outcome> {
        let server = self.start_server(Side::Ours, false)?;
        self.consume_from(&server, Side::Ours, page_size, None, Protocol::Version2)
    }

    /// The runs of a consumer process against `server`, after one warm-up.
    /// The body's size is known only for version 1 (version 2's lines have
    /// no `partition`).
    fn consume_from(
        &self,
        server: &Server,
        side: Side,
        page_size: u64,
        known_body_bytes: Option<u64>,
        protocol: Protocol,
    ) -> anyhow::Result<Outcome> {
        let probed = self.probe(server.url(), page_size)?;
        let body_bytes = match protocol {
            Protocol::Version1 if page_size >= self.settings.events => Some(probed),
            Protocol::Version1 => known_body_bytes,
            Protocol::Version2 => None,
        };
        let mut samples = Vec::new();
        for _ in 0..self.runs(side) {
            let mut client = self.client_command(side, server.url(), page_size)?;
            if protocol == Protocol::Version2 {
                client.args(["--protocol", "2"]);
            }
            samples.push(self.client_run(server, client)?);
        }
        Ok(Outcome::Stream(StreamRuns {
            samples,
            events: self.settings.events,
            body_bytes,
            server_rss_kib: server.peak_rss_kib()?,
        }))
    }

    /// One run of a client that prints a JSON line of figures (`wall_s`,
    /// `events`, `cpu_s`, `peak_rss_kib`), with the server's CPU time
    /// meanwhile; the client must have read the whole feed.
    fn client_run(&self, server: &Server, client: Command) -> anyhow::Result<Sample> {
        let cpu_before = server.cpu_seconds()?;
        let report = run_json(client)?;
        let server_cpu_s = server.cpu_seconds()? - cpu_before;
        let number = |name: &str| {
            report[name]
                .as_f64()
                .with_context(|| format!("no {name} in {report}"))
        };
        let events = report["events"].as_u64();
        ensure!(
            events == Some(self.settings.events),
            "the client read {events:?} events, {} expected",
            self.settings.events
        );
        Ok(Sample {
            wall_s: number("wall_s")?,
            client_cpu_s: Some(number("cpu_s")?),
            client_rss_kib: report["peak_rss_kib"].as_u64(),
            server_cpu_s,
        })
    }

    /// W1's request with curl as the client; wall time from our clock.
    fn server_alone(&self, side: Side) -> anyhow::Result<Outcome> {
        let Some(curl) = &self.curl else {
            return Ok(Outcome::Skipped("curl not found on the PATH".into()));
        };
        let server = self.start_server(side, false)?;
        let events = self.settings.events;
        let url = format!("{}?n=1&cursor0=_first&pagesizehint={events}", server.url());
        let fetch = || {
            let mut command = Command::new(curl);
            command.args([
                "-sS",
                "--fail",
                "-o",
                "/dev/null",
                "-w",
                "%{size_download}",
                &url,
            ]);
            run(command)
        };
        fetch()?; // warm-up
        let (mut samples, mut body_bytes) = (Vec::new(), None);
        for _ in 0..self.runs(side) {
            let cpu_before = server.cpu_seconds()?;
            let (size, wall_s) = fetch()?;
            let server_cpu_s = server.cpu_seconds()? - cpu_before;
            body_bytes = Some(size.trim().parse().context("curl's size_download")?);
            samples.push(Sample {
                wall_s,
                client_cpu_s: None,
                client_rss_kib: None,
                server_cpu_s,
            });
        }
        Ok(Outcome::Stream(StreamRuns {
            samples,
            events,
            body_bytes,
            server_rss_kib: server.peak_rss_kib()?,
        }))
    }

    /// W3: the load generator against a 100-event page from `_first`.
    fn tailing(&self, side: Side) -> anyhow::Result<Outcome> {
        let server = self.start_server(side, false)?;
        let url = format!(
            "{}?n=1&cursor0=_first&pagesizehint={SMALL_PAGE}",
            server.url()
        );
        self.probe(server.url(), SMALL_PAGE)?; // warm-up
        let runs = match side {
            Side::Ours => self.settings.w3_runs,
            Side::Python => 1,
        };
        let (mut figures, mut server_cpu_s) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let cpu_before = server.cpu_seconds()?;
            figures.push(self.generator.run(&url, self.settings.w3_seconds)?);
            server_cpu_s.push(server.cpu_seconds()? - cpu_before);
        }
        Ok(Outcome::Load(LoadRuns {
            generator: self.generator.name(),
            runs: figures,
            server_cpu_s,
            server_rss_kib: server.peak_rss_kib()?,
        }))
    }
}
