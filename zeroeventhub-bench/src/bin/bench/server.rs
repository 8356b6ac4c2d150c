//! `bench server`: our producer for the benchmark suite.
//!
//! Serves a feed of `--events` events at `http://127.0.0.1:PORT/feed/v1`
//! and prints `listening on http://127.0.0.1:PORT/feed/v1` once bound.
//! Each event is built from a typed struct and serialised per request.
use std::io::Write;

use anyhow::Context;
use clap::ValueEnum;
use zeroeventhub_bench::{
    per_line::per_line_router,
    reader::BenchFeed,
    workload::{DEFAULT_EVENTS, FEED_PATH},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Framing {
    /// The library's handler: lines coalesced into chunks of about 32 KiB.
    Coalesced,
    /// One HTTP body chunk per line, as the Python reference sends them.
    PerLine,
}

/// Options of `bench server`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServerArgs {
    /// TCP port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The length of the feed.
    #[arg(long, default_value_t = DEFAULT_EVENTS)]
    events: u64,
    /// How lines are framed into HTTP body chunks.
    #[arg(long, value_enum, default_value_t = Framing::Coalesced)]
    framing: Framing,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

/// Serves until killed.
pub(crate) fn run(args: ServerArgs) -> anyhow::Result<()> {
    let feed = BenchFeed::new(args.events);
    let app = match args.framing {
        Framing::Coalesced => {
            zeroeventhub_axum::feed_router(FEED_PATH, zeroeventhub_axum::Feed::new(feed, 1))
        }
        Framing::PerLine => per_line_router(feed),
    };
    serve_until_killed(args.port, args.threads, async { Ok(app) })
}

/// Serves the router `app` makes on 127.0.0.1:`port` (0 = any free port)
/// until killed, on a tokio runtime of `threads` workers (default: one per
/// core); prints `listening on http://127.0.0.1:PORT/feed/v1` once bound.
pub(crate) fn serve_until_killed(
    port: u16,
    threads: Option<usize>,
    app: impl Future<Output = anyhow::Result<axum::Router>>,
) -> anyhow::Result<()> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = threads {
        runtime.worker_threads(threads);
    }
    runtime.enable_all().build()?.block_on(async {
        let app = app.await?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
        let address = listener.local_addr()?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on http://{address}{FEED_PATH}")?;
        stdout.flush()?;
        axum::serve(listener, app).await?;
        Ok(())
    })
}
