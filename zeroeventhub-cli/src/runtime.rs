//! `zeh follow` on the core consumer runtime: the configuration it gets
//! from the command line, the printing that follows each commit, and the
//! run itself with zeh's signal handling. `--store` runs it on a database
//! ([`store::follow`](crate::store::follow)); a version 2 feed without
//! `--store` runs it on cursors kept in memory ([`follow_in_memory`]).

use std::sync::{Arc, Mutex};

use anyhow::anyhow;
use tokio::sync::watch;
use zeroeventhub::{
    BoxError, ErrorChain, Event, FeedLine, Page,
    client::Client,
    consumer::{
        Consumer, ConsumerConfig, ConsumerError, CursorStore, Handler, MemoryCursorStore,
        MemoryTransaction, OnUnauthorized, Protocol, StartFrom,
    },
};

use crate::{
    Interrupted,
    args::FollowArgs,
    output::{Output, StdoutError, describe_feed_error},
    progress::Progress,
    signal::Signals,
};

/// With `--metrics-addr`: how often a partition that is behind asks the
/// producer for its head, for the lag gauge.
const LAG_PROBE: std::time::Duration = std::time::Duration::from_secs(5);

/// The runtime's configuration for `args`: the version the command line
/// chose (version 1 with `--partitions`, version 2 otherwise), where to
/// start, what to ask for, how to poll, and the group's settings.
pub(crate) fn config(args: &FollowArgs) -> ConsumerConfig {
    let feed = &args.feed;
    let mut config = ConsumerConfig {
        instance: args.instance.clone(),
        start: StartFrom::First,
        page_size_hint: feed.page_size_hint,
        headers: feed.headers.clone().unwrap_or_default(),
        event_types: feed.event_type_filter(),
        time_header: args.time_header.clone(),
        // The lag gauge only where someone reads it.
        lag_probe: args.metrics_addr.map(|_| LAG_PROBE),
        long_poll: args.long_poll(),
        poll_interval: args.poll_interval,
        lease_ttl: args.lease_ttl,
        until_caught_up: args.until_caught_up,
        // As the loop of version 1 without --store: a refusal is retried
        // only where a token file may hold a fresh token by then.
        on_unauthorized: if feed.connection.bearer_token_file.is_some() || args.store.is_some() {
            OnUnauthorized::Retry
        } else {
            OnUnauthorized::Stop
        },
        protocol: if feed.partitions.is_some() {
            Protocol::Version1
        } else {
            Protocol::Version2
        },
        ..ConsumerConfig::new(args.name.clone())
    };
    if !feed.cursors.is_empty() {
        // Only the partitions given; each from its stored cursor, or else
        // the one given.
        config.partitions = feed.cursors.iter().map(|c| c.partition_id()).collect();
        config.start_cursors = feed.cursors.clone();
    }
    config
}

/// Prints each page's events once its transaction has committed, and
/// counts them on the progress line. A failure to print is kept for
/// [`run`], which then stops the consumer.
pub(crate) struct Printer {
    out: Mutex<Output>,
    /// Set when printing failed: the consumer then stops.
    failed: watch::Sender<Option<Arc<StdoutError>>>,
    progress: Progress,
}

impl Printer {
    /// Prints to stdout, and draws the progress line on a terminal.
    pub(crate) fn stdout() -> Self {
        Printer {
            out: Mutex::new(Output::stdout()),
            failed: watch::channel(None).0,
            progress: Progress::on_stderr(),
        }
    }

    /// What a handler's `committed` does: counts and prints `events`.
    pub(crate) fn committed(&self, events: &[Event]) {
        let mut counts = std::collections::BTreeMap::<u32, u64>::new();
        for event in events {
            *counts.entry(event.partition_id).or_default() += 1;
        }
        for (partition_id, count) in counts {
            self.progress.advanced(partition_id, count, None, false);
        }
        if let Err(error) = self.print(events) {
            let _ = self.failed.send(Some(Arc::new(error)));
        }
    }

    fn print(&self, events: &[Event]) -> Result<(), StdoutError> {
        let mut out = self.out.lock().unwrap_or_else(|poison| poison.into_inner());
        for event in events {
            out.write_line(&FeedLine::Event(event.clone()))?;
        }
        out.flush()
    }

    /// Resolves once printing has failed.
    fn failure(&self) -> watch::Receiver<Option<Arc<StdoutError>>> {
        self.failed.subscribe()
    }
}

/// Runs `consumer` until it ends by itself (caught up with
/// `--until-caught-up`, or a failure), a first signal (the pages in hand
/// are applied first) or a failure to print; a second signal abandons the
/// pages in hand ([`Interrupted`]). `printer` is the one its handler
/// prints with.
///
/// # Errors
///
/// The consumer's failure, described on one line; a failure to print;
/// [`Interrupted`].
pub(crate) async fn run<S, H>(
    consumer: Consumer<S, H>,
    printer: &Printer,
    signals: &Signals,
) -> anyhow::Result<()>
where
    S: CursorStore,
    H: Handler<S::Transaction>,
{
    let failure = printer.failure();
    // A first signal: stop after the pages in hand. A failure to print:
    // stop too, and report it.
    let first_signal = signals.wait_for(1);
    let mut print_failure = failure.clone();
    let shutdown = async move {
        tokio::select! {
            () = first_signal => {}
            _ = print_failure.wait_for(Option::is_some) => {}
        }
    };
    let outcome = tokio::select! {
        outcome = consumer.run(shutdown) => outcome,
        () = signals.wait_for(2) => return Err(Interrupted.into()),
    };
    outcome.map_err(|error| match &error {
        ConsumerError::Fetch { error, .. } | ConsumerError::Discover { error } => {
            anyhow!(describe_feed_error(error))
        }
        other => anyhow!("{}", ErrorChain(other)),
    })?;
    // Stopped because stdout failed: a closed one ends it quietly (as
    // `| head` does), any other failure is reported.
    match failure.borrow().as_deref() {
        None => Ok(()),
        Some(StdoutError::Closed) => Err(StdoutError::Closed.into()),
        Some(failed) => Err(anyhow!("{failed}")),
    }
}

/// `zeh follow` of a version 2 feed without `--store`: the runtime, with
/// the cursors in memory for as long as zeh runs, printing each page. It
/// handles token changes, closed partitions and splits as it does with a
/// store.
///
/// # Errors
///
/// As [`run`].
pub(crate) async fn follow_in_memory(
    args: &FollowArgs,
    client: Client,
    signals: &Signals,
) -> anyhow::Result<()> {
    let printer = Arc::new(Printer::stdout());
    let handler = Printed(Arc::clone(&printer));
    let store = MemoryCursorStore::<()>::new();
    let consumer = Consumer::new(client, store, handler, config(args));
    run(consumer, &printer, signals).await
}

/// The handler of [`follow_in_memory`]: nothing to apply, only to print
/// once the cursor has moved.
struct Printed(Arc<Printer>);

impl Handler<MemoryTransaction<()>> for Printed {
    async fn handle(
        &self,
        _transaction: &mut MemoryTransaction<()>,
        _event: &Event,
    ) -> Result<(), BoxError> {
        Ok(())
    }

    async fn handle_page(
        &self,
        _transaction: &mut MemoryTransaction<()>,
        _page: &Page,
    ) -> Result<(), BoxError> {
        Ok(())
    }

    fn committed(&self, events: &[Event]) {
        self.0.committed(events);
    }
}
