//! `zeh serve`: the events of a file, or the event log of a database,
//! served as a feed over HTTP.

use anyhow::Context;
use axum::Router;
use std::time::Duration;
use tokio::net::TcpListener;

use zeroeventhub::server::{BearerTokens, DataReader, Feed, MemoryLog, Partitioned};
use zeroeventhub_sqlx::{Backend, EventLog};

use crate::{
    Interrupted,
    args::ServeArgs,
    auth,
    database::Pool,
    event_log,
    http_server::{self, Limits},
    output::{Output, StdoutError, report},
    signal::Signals,
    source::{self, Source},
};

/// Loads the file or opens the database, binds the address, prints
/// `listening on URL` and serves until a signal; then shuts down
/// gracefully (a second signal ends at once with [`Interrupted`]).
///
/// # Errors
///
/// The file cannot be loaded, the database cannot be opened, the address
/// cannot be bound, or [`Interrupted`].
pub(crate) async fn run(args: ServeArgs, signals: &Signals) -> anyhow::Result<()> {
    crate::metrics::serve(args.metrics_addr)?;
    let (served, what, pool) = open(&args).await?;
    let ended = serve(&args, served, &what, signals).await?;
    // After a clean shutdown no request holds a connection any more; after
    // the grace period, the cut responses are dropped with the process.
    if let (Some(pool), Ended::Cleanly) = (pool, ended) {
        pool.close().await;
    }
    Ok(())
}

/// How serving ended after the first signal.
enum Ended {
    /// Every response in flight was answered.
    Cleanly,
    /// The grace period ran out: the responses still in flight are cut.
    GraceOver,
}

/// How `zeh serve` serves a log: at which path, with which defaults.
pub(crate) struct FeedSettings {
    path: String,
    /// The tokens a request must carry, if any.
    tokens: Option<BearerTokens>,
    /// Events per response when a request gives no page size hint.
    default_page_size: u32,
    /// The header carrying each event's append time, if any.
    time_header: Option<String>,
    max_wait: Duration,
}

/// A log served: its router, and the switch that answers the waiting
/// requests at once when the server shuts down.
pub(crate) struct Served {
    router: Router,
    shut_down: Box<dyn FnOnce() + Send>,
}

impl FeedSettings {
    fn of(args: &ServeArgs) -> anyhow::Result<Self> {
        let tokens = args
            .auth_token_file
            .as_deref()
            .map(auth::load)
            .transpose()?;
        Ok(FeedSettings {
            path: args.path.clone(),
            tokens,
            default_page_size: args.default_page_size,
            max_wait: args.max_wait(),
            time_header: args.time_header.clone(),
        })
    }

    /// A database's `log` with these settings' page size and time header.
    pub(crate) fn configure<DB: Backend>(&self, log: EventLog<DB>) -> EventLog<DB> {
        let log = log.with_default_page_size(self.default_page_size);
        match &self.time_header {
            Some(name) => log.with_time_header(name.clone()),
            None => log,
        }
    }

    /// `log` (a database's [configured](FeedSettings::configure) first)
    /// served as these settings say.
    pub(crate) fn serve<L: DataReader + Partitioned>(&self, log: L) -> Served {
        let feed = Feed::from(log).with_max_wait(self.max_wait);
        let router = zeroeventhub_axum::feed_router(&self.path, feed.clone());
        Served {
            router: match &self.tokens {
                Some(tokens) => auth::guard(router, tokens.clone()),
                None => router,
            },
            shut_down: Box::new(move || feed.shut_down()),
        }
    }
}

/// The served source, a description of what it serves, and the database
/// pool to close at the end, if any.
async fn open(args: &ServeArgs) -> anyhow::Result<(Served, String, Option<Pool>)> {
    let partitions = plural(args.partitions as usize, "partition");
    let settings = FeedSettings::of(args)?;
    match &args.source {
        Source::File(path) => {
            let log =
                MemoryLog::new(args.partitions).with_default_page_size(args.default_page_size);
            let events = source::load(path, &log)?;
            let what = format!(
                "{} in {partitions} from {}",
                plural(events, "event"),
                path.display()
            );
            Ok((settings.serve(log), what, None))
        }
        Source::Database(database) => {
            let (served, pool) =
                event_log::served(database, &args.table, args.partitions, &settings).await?;
            let what = format!(
                "the event log {} in {partitions} from {database}",
                args.table
            );
            Ok((served, what, Some(pool)))
        }
    }
}

/// Binds the address, prints `listening on URL` and serves `router` until
/// a signal.
async fn serve(
    args: &ServeArgs,
    served: Served,
    what: &str,
    signals: &Signals,
) -> anyhow::Result<Ended> {
    let Served { router, shut_down } = served;
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;

    let mut out = Output::stdout();
    match out
        .write_text(&format!("listening on http://{addr}{}\n", args.path))
        .and_then(|()| out.flush())
    {
        // Nobody reads stdout: serve all the same.
        Ok(()) | Err(StdoutError::Closed) => {}
        Err(error) => return Err(error.into()),
    }
    drop(out);
    report(&format!("serving {what}"));

    let first_signal = signals.wait_for(1);
    let grace = args.shutdown_grace;
    let limits = Limits {
        header_timeout: args.header_timeout,
        max_streams: args.max_streams as usize,
    };
    let server = http_server::serve(listener, router, limits, async move {
        first_signal.await;
        report(&format!(
            "shutting down once the requests in flight are answered, at most {} (signal again to stop at once)",
            humantime::format_duration(grace)
        ));
        // Long-polling requests are answered now, not when their wait ends.
        shut_down();
    });
    let grace_over = {
        let first_signal = signals.wait_for(1);
        async move {
            first_signal.await;
            tokio::time::sleep(grace).await;
        }
    };
    tokio::select! {
        () = server => {}
        () = grace_over => {
            // Ending the process closes their connections mid-body: a
            // consumer sees a failed response, never a complete one.
            report("the grace period is over: cutting the responses still in flight");
            return Ok(Ended::GraceOver);
        }
        () = signals.wait_for(2) => return Err(Interrupted.into()),
    }
    Ok(Ended::Cleanly)
}

/// `1 event`, `2 events`.
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}
