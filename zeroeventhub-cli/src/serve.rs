//! `zeh serve`: the events of a file, served as a feed over HTTP.

use anyhow::Context;
use tokio::net::TcpListener;
use zeroeventhub::server::MemoryLog;

use crate::{
    Interrupted,
    args::ServeArgs,
    output::{Output, StdoutError, report},
    signal::Signals,
    source,
};

/// Loads the file, binds the address, prints `listening on URL` and serves
/// until a signal; then shuts down gracefully (a second signal ends at
/// once with [`Interrupted`]).
///
/// # Errors
///
/// The file cannot be loaded, the address cannot be bound, or
/// [`Interrupted`].
pub(crate) async fn run(args: ServeArgs, signals: &Signals) -> anyhow::Result<()> {
    let log = MemoryLog::new(args.partitions).with_default_page_size(args.default_page_size);
    let events = source::load(&args.source, &log)?;
    let router = zeroeventhub_axum::feed_router(&args.path, log, args.partitions);
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
    report(&format!(
        "serving {} in {} from {}",
        plural(events, "event"),
        plural(args.partitions as usize, "partition"),
        args.source.display()
    ));

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
