//! `zeh follow`: page after page from the current cursors, printing the
//! covered events, retrying transient failures. With `--store`, or on a
//! version 2 feed, the consumer runtime does it instead
//! ([`store::follow`], [`runtime::follow_in_memory`]).

use std::time::Duration;

use anyhow::anyhow;
use zeroeventhub::{
    FeedLine, Page,
    client::{self, FetchBuilder},
    consumer::{Backoff, Polling},
};

use crate::{
    Interrupted,
    args::FollowArgs,
    output::{Output, describe_feed_error, report},
    progress::Progress,
    runtime,
    signal::Signals,
    store, version,
};

/// The first retry delay's ceiling.
const RETRY_INITIAL: Duration = Duration::from_millis(100);
/// The longest retry delay.
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Follows the feed until caught up (with `--until-caught-up`), a signal,
/// or a failure that retrying cannot fix.
///
/// With `--store`, the consumer runtime follows it into the store
/// ([`store::follow`]). Without `--partitions`, the feed's discovery says
/// which partitions there are, and the runtime follows them as version 2
/// says (token changes, closed partitions, splits), keeping the cursors in
/// memory when there is no store ([`runtime::follow_in_memory`]).
///
/// A first signal while a request is in flight lets that page arrive and
/// be stored and printed, then ends the loop; a signal while sleeping, or
/// while the producer holds a long-polling request (no page is in hand
/// then), ends it at once; a second signal abandons the request in flight
/// ([`Interrupted`]).
///
/// # Errors
///
/// A non-transient failure of the feed (4xx, a malformed response), of
/// the store, a failure to write to stdout, or [`Interrupted`].
pub(crate) async fn run(args: FollowArgs, signals: &Signals) -> anyhow::Result<()> {
    crate::metrics::serve(args.metrics_addr)?;
    let client = args.feed.client(|builder| builder)?;
    let Some(partitions) = args.feed.partitions else {
        // Version 2: a discovery now, for a clear error when the producer
        // speaks version 1 only, and to check --cursor; the runtime
        // discovers again whenever the token changes.
        let discovery = version::discover(&client).await?;
        let listed = version::start_cursors(&args.feed, &discovery)?.len();
        return match &args.store {
            Some(database) => store::follow(&args, client, listed, database, signals).await,
            None => runtime::follow_in_memory(&args, client, signals).await,
        };
    };
    let mut cursors = args.feed.start_cursors(partitions);
    if let Some(database) = &args.store {
        return store::follow(&args, client, cursors.len(), database, signals).await;
    }
    let mut backoff = Backoff::new(RETRY_INITIAL, RETRY_MAX);
    let mut out = Output::stdout();
    let mut polling = Polling::new(args.long_poll(), args.poll_interval);
    let progress = Progress::on_stderr();

    while !signals.received() {
        let mut fetch = args.feed.fetch(&client, &cursors);
        let held = polling.next_wait();
        if let Some(wait) = held {
            fetch = fetch.wait(wait);
        }
        let Some(fetched) = fetch_page_in_hand(fetch, held.is_some(), signals).await? else {
            break;
        };
        let page = match fetched {
            Ok(page) => page,
            // "Transient failures (connect errors, 5xx, cut-off bodies) are
            // retried with exponential back-off and jitter, capped"; with a
            // token file, also a refused or unreadable token: the file may
            // hold a fresh one by the next attempt.
            Err(error)
                if error.is_transient()
                    || (args.feed.connection.bearer_token_file.is_some()
                        && token_refused(&error)) =>
            {
                // A producer's `Retry-After` is a floor for the delay.
                let delay = backoff.next_delay_after(&error);
                report(&format!(
                    "{} (attempt {}); retrying in {}",
                    describe_feed_error(&error),
                    backoff.failures(),
                    humantime::format_duration(round_to_millis(delay)),
                ));
                if !signals.sleep(delay).await {
                    break;
                }
                continue;
            }
            Err(error) => return Err(anyhow!(describe_feed_error(&error))),
        };
        backoff.reset();
        // Only the events the page's checkpoints cover: the cursors move to
        // those checkpoints, and uncovered events come again next time.
        cursors = page.advance_cursors(&cursors);
        for cursor in &cursors {
            let partition_id = cursor.partition_id();
            let events = page
                .events()
                .iter()
                .filter(|event| event.partition_id == partition_id)
                .count();
            progress.advanced(
                partition_id,
                events as u64,
                Some(cursor.as_str()),
                events == 0,
            );
        }
        let (events, _) = page.into_parts();
        let caught_up = events.is_empty();
        for event in events {
            out.write_line(&FeedLine::Event(event))?;
        }
        out.flush()?;
        // "When a page brings no event, long-polls, or waits
        // --poll-interval [...]; with --until-caught-up, exits 0 instead."
        if !caught_up {
            polling.got_events();
        } else if args.until_caught_up || !signals.sleep(polling.pause_after_empty()).await {
            break;
        }
    }
    Ok(())
}

/// Fetches a page. A first signal meanwhile lets the page arrive (the
/// caller stops after printing it), unless the request is `held` by the
/// producer (long-polling): that one is dropped at once (`None`), as no
/// page is in hand. A second signal abandons any request.
async fn fetch_page_in_hand(
    fetch: FetchBuilder<'_>,
    held: bool,
    signals: &Signals,
) -> Result<Option<Result<Page, client::Error>>, Interrupted> {
    let fetch = fetch.page();
    tokio::pin!(fetch);
    let mut announced = false;
    loop {
        tokio::select! {
            fetched = &mut fetch => return Ok(Some(fetched)),
            () = signals.wait_for(1), if held => return Ok(None),
            () = signals.wait_for(1), if !announced && !held => {
                report("stopping once the page in hand has arrived (signal again to stop at once)");
                announced = true;
            }
            () = signals.wait_for(2) => return Err(Interrupted),
        }
    }
}

/// Whether the producer refused the credentials (401, 403), or the token
/// could not be read.
fn token_refused(error: &client::Error) -> bool {
    let refused = error
        .status()
        .is_some_and(|status| status.as_u16() == 401 || status.as_u16() == 403);
    refused || error.is_request_hook()
}

/// `duration` without its sub-millisecond part, for messages.
fn round_to_millis(duration: Duration) -> Duration {
    Duration::from_millis(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}
