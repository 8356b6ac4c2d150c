//! `zeh serve`: the events of a file, or the event log of a database,
//! served as a feed over HTTP.

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use zeroeventhub::server::MemoryLog;
use zeroeventhub_sqlx::DEFAULT_TABLE;

use crate::{
    Interrupted,
    args::ServeArgs,
    database::Pool,
    event_log,
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
    let (router, what, pool) = open(&args).await?;
    serve(&args, router, &what, signals).await?;
    // After a clean shutdown: no request holds a connection any more.
    if let Some(pool) = pool {
        pool.close().await;
    }
    Ok(())
}

/// The router of the source, a description of what it serves, and the
/// database pool to close at the end, if any.
async fn open(args: &ServeArgs) -> anyhow::Result<(Router, String, Option<Pool>)> {
    let partitions = plural(args.partitions as usize, "partition");
    match &args.source {
        Source::File(path) => {
            let log =
                MemoryLog::new(args.partitions).with_default_page_size(args.default_page_size);
            let events = source::load(path, &log)?;
            let router = zeroeventhub_axum::feed_router(&args.path, log);
            let what = format!(
                "{} in {partitions} from {}",
                plural(events, "event"),
                path.display()
            );
            Ok((router, what, None))
        }
        Source::Database(database) => {
            let (router, pool) = event_log::router(
                database,
                args.partitions,
                args.default_page_size,
                &args.path,
            )
            .await?;
            let what = format!("the event log {DEFAULT_TABLE} in {partitions} from {database}");
            Ok((router, what, Some(pool)))
        }
    }
}

/// Binds the address, prints `listening on URL` and serves `router` until
/// a signal.
async fn serve(
    args: &ServeArgs,
    router: Router,
    what: &str,
    signals: &Signals,
) -> anyhow::Result<()> {
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
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        first_signal.await;
        report(
            "shutting down once the requests in flight are answered (signal again to stop at once)",
        );
    });
    tokio::select! {
        served = server => served.context("serving failed")?,
        () = signals.wait_for(2) => return Err(Interrupted.into()),
    }
    Ok(())
}

/// `1 event`, `2 events`.
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}
