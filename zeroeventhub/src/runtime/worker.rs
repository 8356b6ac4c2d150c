//! The loop of one partition: claim, fetch, apply and commit, repeat.

use std::{sync::Arc, time::Duration};

use tokio::{sync::watch, time::Instant};

use super::{
    Backoff, ConsumerConfig, ConsumerError, CursorStore, Handler, Lease, OnHandlerError, StartFrom,
    store::EventFailed,
};
use crate::{BoxError, Cursor, Event, Page, client::Client};

/// What every partition's worker shares.
#[derive(Debug)]
pub(crate) struct Shared<S, H> {
    pub(crate) client: Client,
    pub(crate) store: S,
    pub(crate) handler: H,
    pub(crate) config: ConsumerConfig,
    pub(crate) lease: Lease,
}

/// How applying a page ended.
enum Applied {
    Committed,
    /// Another process owns the partition now; nothing was committed.
    LeaseLost,
}

/// Runs partition `partition_id` until `stop` turns true or a client fault
/// makes going on pointless.
pub(crate) async fn run_partition<S, H>(
    shared: Arc<Shared<S, H>>,
    partition_id: u32,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ConsumerError>
where
    S: CursorStore,
    H: Handler<S::Transaction>,
{
    let config = &shared.config;
    let store = &shared.store;
    let mut backoff = Backoff::new(config.initial_backoff, config.max_backoff);
    // `Some` while this worker holds the lease, with the cursor to go on from.
    let mut held: Option<(Cursor, Instant)> = None;

    while !*stop.borrow() {
        // Hold the lease: claim it when not held, renew it when a third of
        // its time has passed without a commit renewing it.
        let renew = held
            .as_ref()
            .is_none_or(|(_, renewed)| renewed.elapsed() > config.lease_ttl / 3);
        if renew {
            match claim(&shared, partition_id).await {
                Ok(Some(cursor)) => held = Some((cursor, Instant::now())),
                Ok(None) if held.is_some() => {
                    held = None;
                    tracing::warn!("lease lost to another process; waiting to take over");
                }
                Ok(None) => {
                    if wait(&mut stop, config.lease_ttl / 3).await {
                        break;
                    }
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "cursor store failed; retrying");
                    if wait(&mut stop, backoff.next_delay()).await {
                        break;
                    }
                    continue;
                }
            }
        }
        let Some((cursor, renewed)) = held.clone() else {
            continue;
        };

        // No page is in hand while it is being fetched: a shutdown does not
        // wait for a slow or stalled producer (nothing is applied yet).
        let mut fetch = shared
            .client
            .fetch(std::slice::from_ref(&cursor))
            .headers(config.headers.clone());
        if let Some(hint) = config.page_size_hint {
            fetch = fetch.page_size_hint(hint);
        }
        let fetched = tokio::select! {
            fetched = fetch.page() => fetched,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let page = match fetched {
            Ok(page) => page,
            Err(error) if error.is_transient() => {
                let delay = backoff.next_delay_after(&error);
                tracing::warn!(%error, cursor = cursor.as_str(), retry_in = ?delay, "fetch failed; retrying");
                report_stuck(&backoff, config, &cursor);
                if wait(&mut stop, delay).await {
                    break;
                }
                continue;
            }
            Err(error) => {
                tracing::error!(%error, "the feed refused the request; stopping");
                return Err(ConsumerError::Fetch {
                    partition_id,
                    error,
                });
            }
        };

        let next = page.cursor(partition_id).cloned();
        let moved = next.as_ref().is_some_and(|next| *next != cursor);
        let Some(next) = next.filter(|_| moved || !page.is_empty()) else {
            if page.uncovered_events().next().is_some() {
                tracing::warn!(
                    cursor = cursor.as_str(),
                    "the page's events came without a checkpoint; none can be applied"
                );
            }
            backoff.reset();
            if wait(&mut stop, config.poll_interval).await {
                break;
            }
            continue;
        };

        match apply(&shared, &page, &next).await {
            Ok(Applied::Committed) => {
                tracing::info!(
                    events = page.len(),
                    cursor = next.as_str(),
                    more_likely = config
                        .page_size_hint
                        .is_some_and(|hint| page.len() >= hint as usize),
                    "page committed"
                );
                backoff.reset();
                held = Some((next, Instant::now()));
                if page.is_empty() && wait(&mut stop, config.poll_interval).await {
                    break;
                }
            }
            Ok(Applied::LeaseLost) => {
                tracing::warn!("lease lost to another process; page rolled back");
                held = None;
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, cursor = cursor.as_str(), retry_in = ?delay, "page failed and was rolled back; retrying");
                report_stuck(&backoff, config, &cursor);
                held = Some((cursor, renewed));
                if wait(&mut stop, delay).await {
                    break;
                }
            }
        }
    }

    if held.is_some() {
        if let Err(error) = store
            .release(&config.name, partition_id, &shared.lease)
            .await
        {
            tracing::warn!(%error, "could not release the lease; it will expire");
        }
    }
    Ok(())
}

/// Claims or renews the lease. On success, returns the cursor to go on
/// from: the stored one, or the configured start.
///
/// Even when renewing, the cursor is read again: a claim cannot tell a
/// renewal from a takeover, and while this worker waited (on a slow
/// request, a back-off, a poll), its lease may have expired and another
/// process may have taken the partition, moved its cursor and let it go.
/// Going on from the cursor held in memory would apply those events again.
async fn claim<S, H>(shared: &Shared<S, H>, partition_id: u32) -> Result<Option<Cursor>, S::Error>
where
    S: CursorStore,
{
    let name = &shared.config.name;
    if !shared
        .store
        .claim(name, partition_id, &shared.lease)
        .await?
    {
        return Ok(None);
    }
    let stored = shared.store.load_cursor(name, partition_id).await?;
    Ok(Some(stored.unwrap_or_else(|| match shared.config.start {
        StartFrom::First => Cursor::first(partition_id),
        StartFrom::Last => Cursor::last(partition_id),
    })))
}

/// Applies the page's covered events and stores `next` in one transaction.
///
/// The events go to [`Handler::handle_page`] all at once. Only when that
/// fails under [`OnHandlerError::DeadLetter`] does the page go again event
/// by event, to find the events to pass to the dead-letter handler.
async fn apply<S, H>(shared: &Shared<S, H>, page: &Page, next: &Cursor) -> Result<Applied, BoxError>
where
    S: CursorStore,
    H: Handler<S::Transaction>,
{
    let store = &shared.store;
    let handler = &shared.handler;
    let dead_letters = shared.config.on_handler_error == OnHandlerError::DeadLetter;
    let events = page.events();
    // Set once the page goes event by event: the events the handler failed
    // on, which go to the dead-letter handler instead.
    let mut one_by_one: Option<Vec<(usize, BoxError)>> = None;
    loop {
        let mut transaction = store.begin().await?;
        let failure = if events.is_empty() {
            None
        } else if let Some(poisoned) = &one_by_one {
            apply_each(handler, &mut transaction, events, poisoned)
                .await
                .map(|(index, error)| (Some(index), error))
        } else {
            let applied = handler.handle_page(&mut transaction, events).await;
            applied
                .err()
                .map(|error| match error.downcast::<EventFailed>() {
                    // The default `handle_page` tells which event failed.
                    Ok(failed) => (Some(failed.index), failed.error),
                    Err(error) => (None, error),
                })
        };
        match failure {
            None => {}
            Some((_, error)) if !dead_letters => return Err(error),
            Some((None, error)) => {
                // Roll back, and look for the event that fails.
                drop(transaction);
                tracing::warn!(%error, "handler failed on a page; applying it event by event");
                one_by_one = Some(Vec::new());
                continue;
            }
            Some((Some(index), error)) => {
                let poisoned = one_by_one.get_or_insert_with(Vec::new);
                if poisoned.iter().any(|(i, _)| *i == index) {
                    // The dead-letter handler failed too.
                    return Err(error);
                }
                // Roll back, and go again without the poisoned event.
                drop(transaction);
                tracing::warn!(%error, event = index, "handler failed; the event goes to the dead-letter handler");
                poisoned.push((index, error));
                continue;
            }
        }
        let name = &shared.config.name;
        if !store
            .save_cursor(&mut transaction, name, next, &shared.lease)
            .await?
        {
            return Ok(Applied::LeaseLost);
        }
        store.commit(transaction).await?;
        return Ok(Applied::Committed);
    }
}

/// Applies `events` one at a time, those in `poisoned` through the
/// dead-letter handler; returns the first failure and the index of its event.
async fn apply_each<Tx, H>(
    handler: &H,
    transaction: &mut Tx,
    events: &[Event],
    poisoned: &[(usize, BoxError)],
) -> Option<(usize, BoxError)>
where
    Tx: Send,
    H: Handler<Tx>,
{
    for (index, event) in events.iter().enumerate() {
        let result = match poisoned.iter().find(|(i, _)| *i == index) {
            Some((_, error)) => handler.dead_letter(transaction, event, error).await,
            None => handler.handle(transaction, event).await,
        };
        if let Err(error) = result {
            return Some((index, error));
        }
    }
    None
}

fn report_stuck(backoff: &Backoff, config: &ConsumerConfig, cursor: &Cursor) {
    let failures = backoff.failures();
    if config.stuck_after > 0 && failures > 0 && failures % config.stuck_after == 0 {
        tracing::warn!(
            cursor = cursor.as_str(),
            failures,
            "partition stuck: no progress from this cursor"
        );
    }
}

/// Sleeps for `delay`; returns `true` at once when told to stop.
async fn wait(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    let stopped = tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        // Told to stop, or the consumer is gone.
        _ = stop.wait_for(|stop| *stop) => true,
    };
    stopped || *stop.borrow()
}
