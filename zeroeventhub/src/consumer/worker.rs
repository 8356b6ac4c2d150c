//! The loop of one partition: claim, fetch, apply and commit, repeat.

use std::{sync::Arc, time::Duration};

use tokio::{sync::watch, time::Instant};

use super::{
    Backoff, Claim, ConsumerConfig, ConsumerError, CursorStore, Handler, Lease, OnHandlerError,
    OnUnauthorized, Polling, StartFrom, group::Group, store::EventFailed,
};
use crate::{
    BoxError, Cursor, ErrorChain, Event, HeaderSelection, Page,
    client::{self, Client},
    metrics,
};

/// What every partition's worker shares.
#[derive(Debug)]
pub(crate) struct Shared<S, H> {
    pub(crate) client: Client,
    pub(crate) store: S,
    pub(crate) handler: H,
    pub(crate) config: ConsumerConfig,
    pub(crate) lease: Lease,
    pub(crate) group: Group,
}

/// How applying a page ended.
enum Applied {
    Committed,
    /// Another process owns the partition now; nothing was committed.
    LeaseLost,
}

/// The lease this worker holds: the cursor to go on from, and when the
/// lease was last renewed.
type Held = Option<(Cursor, Instant)>;

/// What a worker consumes: a partition, and for version 2 the token to
/// ask with, whether the partition is closed, and where it starts when no
/// cursor is stored (a split's child).
#[derive(Debug, Clone)]
pub(crate) struct Assignment {
    pub(crate) partition_id: u32,
    pub(crate) token: Option<Arc<str>>,
    pub(crate) closed: bool,
    pub(crate) start: Option<Cursor>,
}

impl Assignment {
    /// A version 1 partition.
    pub(crate) fn version_1(partition_id: u32) -> Self {
        Assignment {
            partition_id,
            token: None,
            closed: false,
            start: None,
        }
    }
}

/// How a worker ended, when not by an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Told to stop, or caught up with `until_caught_up`.
    Stopped,
    /// Version 2: its closed partition brought no more events; its last
    /// checkpoint is stored.
    Finished(u32),
    /// Version 2: the producer answered 409, its token has changed.
    TokenChanged,
}

/// Runs `assignment` until `stop` turns true or a failure makes going on
/// pointless; whichever way it ends, a lease it holds is released, so
/// that another process can take over at once.
pub(crate) async fn run_partition<S, H>(
    shared: Arc<Shared<S, H>>,
    assignment: Assignment,
    mut stop: watch::Receiver<bool>,
) -> Result<Ended, ConsumerError>
where
    S: CursorStore,
    H: Handler<S::Transaction>,
{
    let partition_id = assignment.partition_id;
    let mut held: Held = None;
    let result = drive(&shared, &assignment, &mut stop, &mut held).await;
    if held.is_some() {
        shared.group.lost();
        release(&shared, partition_id).await;
    }
    result
}

async fn release<S, H>(shared: &Shared<S, H>, partition_id: u32)
where
    S: CursorStore,
{
    let name = &shared.config.name;
    if let Err(error) = shared
        .store
        .release(name, partition_id, &shared.lease)
        .await
    {
        tracing::warn!(error = %ErrorChain(&error), "could not release the lease; it will lapse");
    }
}

/// The loop: hold the lease, fetch, apply and commit, repeat.
async fn drive<S, H>(
    shared: &Shared<S, H>,
    assignment: &Assignment,
    stop: &mut watch::Receiver<bool>,
    held: &mut Held,
) -> Result<Ended, ConsumerError>
where
    S: CursorStore,
    H: Handler<S::Transaction>,
{
    let partition_id = assignment.partition_id;
    let config = &shared.config;
    let mut backoff = Backoff::new(config.initial_backoff, config.max_backoff);
    // Who held the lease when this worker last found it taken, to log a
    // change of holder once rather than every attempt.
    let mut last_holder: Option<String> = None;
    let mut polling = Polling::of(config);
    // When the request that brought the newest applied events was sent.
    let mut newest_event: Option<Instant> = None;
    #[cfg(feature = "metrics")]
    let mut lag = super::lag::LagProbe::new(config.lag_probe, assignment.token.clone());

    while !*stop.borrow() {
        let regrouped = shared.group.regrouped();
        tokio::pin!(regrouped);
        regrouped.as_mut().enable();
        // Give a partition up when the group has more members than this
        // process leaves partitions for; then stay away for a lease period,
        // so that the member short of partitions gets it.
        if held.is_some() && shared.group.give_up_one() {
            *held = None;
            release(shared, partition_id).await;
            tracing::info!(
                fair_share = shared.group.fair_share(),
                "partition given up to another member of the group"
            );
            if wait(stop, config.lease_ttl).await {
                break;
            }
            continue;
        }
        // Hold the lease: claim it when not held, renew it when a third of
        // its time has passed without a commit renewing it.
        let renew = held.as_ref().is_none_or(|(_, renewed)| {
            renewed.elapsed() > config.lease_ttl / 3
                || polling.renew_first(renewed.elapsed(), config.lease_ttl)
        });
        if renew {
            if held.is_none() && !shared.group.may_claim() {
                // This process holds its share already.
                if wait(stop, config.lease_ttl / 3).await {
                    break;
                }
                continue;
            }
            match claim(shared, assignment).await {
                Ok(Ok(cursor)) => {
                    let taken = held.is_none();
                    if taken {
                        shared.group.claimed();
                        tracing::debug!(cursor = cursor.as_str(), "partition claimed");
                    }
                    last_holder = None;
                    *held = Some((cursor, Instant::now()));
                    if taken && assignment.closed && finished_already(shared, partition_id).await {
                        // Another member of the group finished it while
                        // this worker waited for the lease.
                        tracing::info!("closed partition finished already");
                        return Ok(Ended::Finished(partition_id));
                    }
                }
                Ok(Err(Holder { owner, expires_in })) => {
                    if held.take().is_some() {
                        shared.group.lost();
                        tracing::warn!(holder = %owner, "lease lost to another process");
                    }
                    if last_holder.as_ref() != Some(&owner) {
                        tracing::info!(
                            holder = %owner,
                            lapses_in = ?expires_in,
                            "waiting for the lease of partition {partition_id}, held by {owner} for {expires_in:?} more unless renewed"
                        );
                        last_holder = Some(owner);
                    }
                    if wait(stop, config.lease_ttl / 3).await {
                        break;
                    }
                    continue;
                }
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %ErrorChain(&error), retry_in = ?delay, "cursor store failed; retrying");
                    metrics::consumer_error("store");
                    if wait(stop, delay).await {
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
        let fetch = match &assignment.token {
            Some(token) => shared.client.fetch_partition(token, cursor.clone()),
            None => shared.client.fetch(std::slice::from_ref(&cursor)),
        };
        let mut fetch = fetch
            .headers(requested_headers(config))
            .event_types(config.event_types.clone());
        if let Some(hint) = config.page_size_hint {
            fetch = fetch.page_size_hint(hint);
        }
        let long_polling = polling.next_wait();
        if let Some(wait) = long_polling {
            fetch = fetch.wait(wait);
        }
        let asked = Instant::now();
        let fetched = tokio::select! {
            fetched = fetch.page() => fetched,
            _ = stop.wait_for(|stop| *stop) => break,
            // The group changed while the producer holds the request: look
            // at the shares again (this partition may be due to another
            // member) rather than wait for the answer.
            () = &mut regrouped, if long_polling.is_some() => continue,
        };
        metrics::fetched(asked.elapsed());
        if let Some(arrived) = newest_event {
            metrics::last_event_age(partition_id, arrived.elapsed());
        }
        let page = match fetched {
            Ok(page) => page,
            Err(error) if error.is_token_changed() => {
                tracing::info!(
                    "the producer's token has changed (409); stopping to discover again"
                );
                return Ok(Ended::TokenChanged);
            }
            Err(error) if retries(config, &error) => {
                metrics::consumer_error("fetch");
                let delay = backoff.next_delay_after(&error);
                tracing::warn!(
                    error = %ErrorChain(&error),
                    cursor = cursor.as_str(),
                    retry_in = ?delay,
                    "fetch failed; retrying"
                );
                report_stuck(&backoff, config, &cursor);
                if wait(stop, delay).await {
                    break;
                }
                continue;
            }
            Err(error) => {
                metrics::consumer_error("fetch");
                tracing::error!(error = %ErrorChain(&error), cursor = cursor.as_str(), "fetch failed for good; stopping");
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
            #[cfg(feature = "metrics")]
            {
                lag.after_page(&shared.client, partition_id, &cursor, true)
                    .await;
                if let Some(name) = &config.time_header {
                    super::lag::seconds_behind(partition_id, &[], name);
                }
            }
            if assignment.closed {
                return Ok(finished(shared, &cursor).await);
            }
            if config.until_caught_up || wait(stop, polling.pause_after_empty()).await {
                break;
            }
            continue;
        };

        // This page ends a closed partition if it commits (the cursor moved
        // past no event the filter dropped, and none came).
        let last = (assignment.closed && page.is_empty() && config.event_types.is_all())
            .then(|| next.clone());
        match apply(shared, &page, &next).await {
            Ok(Applied::Committed) => {
                tracing::debug!(
                    events = page.len(),
                    cursor = next.as_str(),
                    more_likely = config
                        .page_size_hint
                        .is_some_and(|hint| page.len() >= hint as usize),
                    "page committed"
                );
                backoff.reset();
                metrics::page_committed(partition_id, page.len());
                #[cfg(feature = "metrics")]
                {
                    lag.after_page(&shared.client, partition_id, &next, page.is_empty())
                        .await;
                    if let Some(name) = &config.time_header {
                        super::lag::seconds_behind(partition_id, page.events(), name);
                    }
                }
                shared.handler.committed(page.events());
                *held = Some((next, Instant::now()));
                if !page.is_empty() {
                    newest_event = Some(asked);
                    polling.got_events();
                } else if !config.event_types.is_all() {
                    // The cursor moved past events the filter dropped:
                    // more may follow, so this is not caught up yet.
                    polling.got_events();
                } else if let Some(last) = &last {
                    return Ok(finished(shared, last).await);
                } else if config.until_caught_up || wait(stop, polling.pause_after_empty()).await {
                    break;
                }
            }
            Ok(Applied::LeaseLost) => {
                metrics::consumer_error("lease_lost");
                tracing::warn!("lease lost to another process; page rolled back");
                *held = None;
                shared.group.lost();
            }
            Err(failure) => {
                metrics::consumer_error("apply");
                let delay = backoff.next_delay();
                // The failing event, named by the checkpoint that covers it.
                let covered_by = failure.event.and_then(|index| page.checkpoint_of(index));
                tracing::warn!(
                    error = %ErrorChain(&*failure.error),
                    event = ?failure.event,
                    covered_by = covered_by.map(Cursor::as_str),
                    cursor = cursor.as_str(),
                    retry_in = ?delay,
                    "page failed and was rolled back; retrying"
                );
                report_stuck(&backoff, config, &cursor);
                *held = Some((cursor, renewed));
                if wait(stop, delay).await {
                    break;
                }
            }
        }
    }
    Ok(Ended::Stopped)
}

/// Version 2: records that the closed partition is finished at `last`,
/// its final checkpoint, and says so. Only an optimisation hangs on the
/// record (a restart, or another member, skips the partition instead of
/// polling it once more): a store that fails is logged, and the run goes
/// on as if it had not.
async fn finished<S, H>(shared: &Shared<S, H>, last: &Cursor) -> Ended
where
    S: CursorStore,
{
    tracing::info!(cursor = last.as_str(), "closed partition finished");
    let name = &shared.config.name;
    if let Err(error) = shared.store.mark_finished(name, last).await {
        tracing::warn!(
            error = %ErrorChain(&error),
            "could not record the closed partition as finished; it will be polled once more after a restart"
        );
        metrics::consumer_error("store");
    }
    Ended::Finished(last.partition_id())
}

/// Version 2: whether the store records the closed `partition_id` as
/// finished (by another member of the group, say). A store that fails
/// says no: the worker then polls the partition, which is harmless.
async fn finished_already<S, H>(shared: &Shared<S, H>, partition_id: u32) -> bool
where
    S: CursorStore,
{
    match shared.store.load_finished(&shared.config.name).await {
        Ok(finished) => finished.contains(&partition_id),
        Err(error) => {
            tracing::warn!(error = %ErrorChain(&error), "could not read the finished partitions; polling this closed one");
            false
        }
    }
}

/// The headers to ask for: the configured ones, and the time header.
fn requested_headers(config: &ConsumerConfig) -> HeaderSelection {
    match (&config.headers, &config.time_header) {
        (HeaderSelection::All, _) | (_, None) => config.headers.clone(),
        (HeaderSelection::None, Some(name)) => HeaderSelection::names([name.as_str()]),
        (HeaderSelection::Names(names), Some(name)) => {
            let mut names = names.clone();
            names.insert(name.clone());
            HeaderSelection::Names(names)
        }
    }
}

/// Whether a failed fetch is tried again: transient failures, a failed
/// request hook (a token service that is down for a moment), and 401/403
/// unless the configuration says to stop on them.
pub(super) fn retries(config: &ConsumerConfig, error: &client::Error) -> bool {
    let unauthorized = error
        .status()
        .is_some_and(|status| status.as_u16() == 401 || status.as_u16() == 403);
    error.is_transient()
        || error.is_request_hook()
        || (unauthorized && config.on_unauthorized == OnUnauthorized::Retry)
}

/// Claims or renews the lease. On success, returns the cursor to go on
/// from: the stored one, or the configured start.
///
/// Even when renewing, the cursor is read again: a claim cannot tell a
/// renewal from a takeover, and while this worker waited (on a slow
/// request, a back-off, a poll), its lease may have expired and another
/// process may have taken the partition, moved its cursor and let it go.
/// Going on from the cursor held in memory would apply those events again.
async fn claim<S, H>(
    shared: &Shared<S, H>,
    assignment: &Assignment,
) -> Result<Result<Cursor, Holder>, S::Error>
where
    S: CursorStore,
{
    let partition_id = assignment.partition_id;
    let name = &shared.config.name;
    match shared
        .store
        .claim(name, partition_id, &shared.lease)
        .await?
    {
        Claim::Claimed => {}
        Claim::HeldBy { owner, expires_in } => return Ok(Err(Holder { owner, expires_in })),
    }
    let stored = shared.store.load_cursor(name, partition_id).await?;
    let config = &shared.config;
    let given = || {
        let mut given = config.start_cursors.iter();
        given
            .rfind(|cursor| cursor.partition_id() == partition_id)
            .cloned()
    };
    let split_start = || assignment.start.clone();
    Ok(Ok(stored
        .or_else(given)
        .or_else(split_start)
        .unwrap_or_else(|| match config.start {
            StartFrom::First => Cursor::first(partition_id),
            StartFrom::Last => Cursor::last(partition_id),
        })))
}

/// The other process that holds a lease, and for how long.
struct Holder {
    owner: String,
    expires_in: Duration,
}

/// Why a page was rolled back: the error, and the index in the page of
/// the event the handler failed on, when known.
struct PageFailed {
    error: BoxError,
    event: Option<usize>,
}

impl<E: Into<BoxError>> From<E> for PageFailed {
    fn from(error: E) -> Self {
        PageFailed {
            error: error.into(),
            event: None,
        }
    }
}

/// Applies the page's covered events and stores `next` in one transaction.
///
/// The events go to [`Handler::handle_page`] all at once. Only when that
/// fails under [`OnHandlerError::DeadLetter`] does the page go again event
/// by event, to find the events to pass to the dead-letter handler.
async fn apply<S, H>(
    shared: &Shared<S, H>,
    page: &Page,
    next: &Cursor,
) -> Result<Applied, PageFailed>
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
            let applied = handler.handle_page(&mut transaction, page).await;
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
            Some((event, error)) if !dead_letters => return Err(PageFailed { error, event }),
            Some((None, error)) => {
                // Roll back, and look for the event that fails.
                drop(transaction);
                tracing::warn!(error = %ErrorChain(&*error), "handler failed on a page; applying it event by event");
                one_by_one = Some(Vec::new());
                continue;
            }
            Some((Some(index), error)) => {
                let poisoned = one_by_one.get_or_insert_with(Vec::new);
                if poisoned.iter().any(|(i, _)| *i == index) {
                    // The dead-letter handler failed too.
                    return Err(PageFailed {
                        error,
                        event: Some(index),
                    });
                }
                // Roll back, and go again without the poisoned event.
                drop(transaction);
                tracing::warn!(error = %ErrorChain(&*error), event = index, "handler failed; the event goes to the dead-letter handler");
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
    if delay.is_zero() {
        return *stop.borrow();
    }
    let stopped = tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        // Told to stop, or the consumer is gone.
        _ = stop.wait_for(|stop| *stop) => true,
    };
    stopped || *stop.borrow()
}
