//! Running the partition workers: version 1's partitions for good, or
//! version 2's in epochs, one per discovery, until its token changes.

use std::{collections::BTreeSet, future::Future, pin::Pin, sync::Arc};

use tokio::{sync::watch, task::JoinSet, time::Interval};
use tracing::Instrument;

use super::{
    Backoff, Consumer, ConsumerError, CursorStore, Handler, SplitOrder,
    worker::{Assignment, Ended, retries, run_partition},
};
use crate::{
    Cursor, ErrorChain, client,
    v2::{Discovery, PartitionInfo},
};

type Workers = JoinSet<Result<Ended, ConsumerError>>;

/// One run of a [`Consumer`]: its shutdown signal, the group heartbeats,
/// and for version 2 what is known across discoveries.
pub(super) struct Supervisor<'c, S, H, F> {
    consumer: &'c Consumer<S, H>,
    shutdown: Pin<Box<F>>,
    heartbeats: Interval,
    stopping: bool,
    backoff: Backoff,
    /// A discovery made already (by [`Protocol::Detect`](super::Protocol::Detect)).
    pub(super) discovered: Option<Discovery>,
    /// Version 2: the closed partitions consumed to their end, in this run
    /// or before it (as the store records them).
    finished: BTreeSet<u32>,
}

impl<'c, S, H, F> Supervisor<'c, S, H, F>
where
    S: CursorStore,
    H: Handler<S::Transaction>,
    F: Future<Output = ()> + Send,
{
    pub(super) fn new(consumer: &'c Consumer<S, H>, shutdown: F) -> Self {
        let config = &consumer.shared.config;
        let mut heartbeats = tokio::time::interval(config.lease_ttl / 3);
        heartbeats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeats.reset();
        Supervisor {
            consumer,
            shutdown: Box::pin(shutdown),
            heartbeats,
            stopping: false,
            backoff: Backoff::new(config.initial_backoff, config.max_backoff),
            discovered: None,
            finished: BTreeSet::new(),
        }
    }

    /// Version 1: the configured partitions (all of `0..n` by default),
    /// until shutdown or a fatal error.
    pub(super) async fn version_1(&mut self) -> Result<(), ConsumerError> {
        let shared = &self.consumer.shared;
        let count = shared.client.partition_count();
        let partitions: Vec<u32> = if shared.config.partitions.is_empty() {
            (0..count).collect()
        } else {
            shared.config.partitions.clone()
        };
        if let Some(&partition_id) = partitions.iter().find(|&&p| p >= count) {
            return Err(ConsumerError::InvalidPartition {
                partition_id,
                partition_count: count,
            });
        }
        let ready = partitions.into_iter().map(Assignment::version_1).collect();
        self.epoch(ready, Vec::new()).await.map(|_| ())
    }

    /// Version 2: discover, run the partitions of the discovery until its
    /// token changes, discover again, and so on.
    pub(super) async fn version_2(&mut self) -> Result<(), ConsumerError> {
        let mut refused_token: Option<String> = None;
        loop {
            let discovery = match self.discovered.take() {
                Some(discovery) => discovery,
                None => match self.discover().await {
                    Ok(Some(discovery)) => discovery,
                    Ok(None) => return Ok(()),
                    Err(error) => return Err(ConsumerError::Discover { error }),
                },
            };
            if refused_token.as_deref() == Some(discovery.token.as_str()) {
                // The producer still lists the token it refused (replicas
                // that do not agree yet): give it time.
                let delay = self.backoff.next_delay();
                tracing::warn!(retry_in = ?delay, "the discovery still gives the token that was refused");
                if self.pause(delay).await {
                    return Ok(());
                }
                continue;
            }
            let (ready, deferred) = match self.plan(&discovery).await {
                Ok(plan) => plan,
                Err(error) => {
                    let delay = self.backoff.next_delay();
                    tracing::warn!(error = %ErrorChain(&error), retry_in = ?delay, "cursor store failed; retrying");
                    if self.pause(delay).await {
                        return Ok(());
                    }
                    continue;
                }
            };
            let shares = u32::try_from(ready.len() + deferred.len()).unwrap_or(u32::MAX);
            self.consumer.shared.group.set_partitions(shares);
            tracing::info!(
                token = %discovery.token,
                partitions = ready.len(),
                waiting_for_parents = deferred.len(),
                finished = self.finished.len(),
                "consuming the partitions of the discovery"
            );
            if !self.epoch(ready, deferred).await? {
                return Ok(());
            }
            self.backoff.reset();
            refused_token = Some(discovery.token);
        }
    }

    /// The partitions of `discovery` to run now, and those waiting for a
    /// parent to finish (ordered splits): skipping finished closed ones,
    /// starting a split's children as version 2 says.
    async fn plan(
        &mut self,
        discovery: &Discovery,
    ) -> Result<(Vec<Assignment>, Vec<(u32, Assignment)>), S::Error> {
        if discovery
            .partitions
            .iter()
            .any(|partition| partition.closed)
        {
            self.load_finished().await;
        }
        let config = &self.consumer.shared.config;
        let token: Arc<str> = discovery.token.as_str().into();
        let followed = |id: u32| config.partitions.is_empty() || config.partitions.contains(&id);
        let mut ready = Vec::new();
        let mut deferred = Vec::new();
        for partition in &discovery.partitions {
            let id = partition.id;
            // A partition listed as open is consumed whatever the store
            // records of it.
            if !followed(id) || (partition.closed && self.finished.contains(&id)) {
                continue;
            }
            let mut assignment = Assignment {
                partition_id: id,
                token: Some(Arc::clone(&token)),
                closed: partition.closed,
                start: None,
            };
            if let Some(parent) = partition.starts_after_partition {
                // Method 1: after every event of the parent, from the start.
                // A parsed discovery lists the parent, closed; a child waits
                // for it only where this consumer follows it, or it would
                // wait for good.
                assignment.start = Some(Cursor::first(id));
                if config.splits == SplitOrder::Ordered
                    && followed(parent)
                    && !self.finished.contains(&parent)
                {
                    deferred.push((parent, assignment));
                    continue;
                }
            } else if !partition.cursor_from_partitions.is_empty() {
                assignment.start = Some(self.ancestor_start(partition).await?);
            }
            ready.push(assignment);
        }
        Ok((ready, deferred))
    }

    /// Adds the closed partitions the store records as finished (before
    /// this run, or by another member of the group) to those known. A store
    /// that fails costs a request on each: it is logged, and the plan goes
    /// on with what this run knows.
    async fn load_finished(&mut self) {
        let shared = &self.consumer.shared;
        match shared.store.load_finished(&shared.config.name).await {
            Ok(finished) => self.finished.extend(finished),
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "could not read the finished partitions; polling the closed ones");
            }
        }
    }

    /// Method 2: a child without a cursor of its own starts from the
    /// stored cursor of its nearest listed ancestor, else from `_first`.
    async fn ancestor_start(&self, partition: &PartitionInfo) -> Result<Cursor, S::Error> {
        let shared = &self.consumer.shared;
        for &ancestor in &partition.cursor_from_partitions {
            let stored = shared
                .store
                .load_cursor(&shared.config.name, ancestor)
                .await?;
            if let Some(cursor) = stored {
                // A stored cursor is valid, whichever partition it is for.
                if let Ok(start) = Cursor::new(partition.id, cursor.as_str()) {
                    tracing::info!(
                        partition = partition.id,
                        ancestor,
                        cursor = cursor.as_str(),
                        "a split's child starts from its ancestor's cursor"
                    );
                    return Ok(start);
                }
            }
        }
        Ok(Cursor::first(partition.id))
    }

    /// Runs `ready` (and each of `deferred` once its parent finished)
    /// until they all end. `Ok(true)` when they stopped because the
    /// producer's token changed, and the run goes on.
    async fn epoch(
        &mut self,
        ready: Vec<Assignment>,
        mut deferred: Vec<(u32, Assignment)>,
    ) -> Result<bool, ConsumerError> {
        let (stop, stopped) = watch::channel(self.stopping);
        let mut workers = Workers::new();
        for assignment in ready {
            self.spawn(&mut workers, assignment, &stopped);
        }
        let mut token_changed = false;
        let mut result = Ok(());
        loop {
            tokio::select! {
                _ = self.heartbeats.tick(), if !self.stopping => self.consumer.heartbeat().await,
                () = &mut self.shutdown, if !self.stopping => {
                    tracing::info!(consumer = %self.consumer.shared.config.name, "shutting down after the pages in hand");
                    self.stopping = true;
                    let _ = stop.send(true);
                }
                joined = workers.join_next() => match joined {
                    None => break,
                    Some(Ok(Ok(Ended::Stopped))) => {}
                    Some(Ok(Ok(Ended::Finished(parent)))) => {
                        self.finished.insert(parent);
                        let (children, waiting) = deferred.into_iter().partition(|(of, _)| *of == parent);
                        deferred = waiting;
                        for (_, child) in children {
                            if !*stop.borrow() {
                                self.spawn(&mut workers, child, &stopped);
                            }
                        }
                    }
                    Some(Ok(Ok(Ended::TokenChanged))) => {
                        token_changed = true;
                        let _ = stop.send(true);
                    }
                    Some(Ok(Err(error))) => {
                        if result.is_ok() {
                            result = Err(error);
                        }
                        let _ = stop.send(true);
                    }
                    Some(Err(join_error)) => {
                        if result.is_ok() {
                            result = Err(ConsumerError::WorkerFailed(join_error.to_string()));
                        }
                        let _ = stop.send(true);
                    }
                },
            }
        }
        result.map(|()| token_changed && !self.stopping)
    }

    fn spawn(
        &self,
        workers: &mut Workers,
        assignment: Assignment,
        stopped: &watch::Receiver<bool>,
    ) {
        let shared = &self.consumer.shared;
        let span = tracing::info_span!(
            "zeh_consumer",
            consumer = %shared.config.name,
            partition = assignment.partition_id
        );
        workers
            .spawn(run_partition(Arc::clone(shared), assignment, stopped.clone()).instrument(span));
    }

    /// Version 2's discovery, retried as a fetch is; `Ok(None)` when the
    /// shutdown came first.
    pub(super) async fn discover(&mut self) -> Result<Option<Discovery>, client::Error> {
        let shared = Arc::clone(&self.consumer.shared);
        loop {
            let discovered = tokio::select! {
                discovered = shared.client.discover() => discovered,
                () = &mut self.shutdown, if !self.stopping => {
                    self.stopping = true;
                    return Ok(None);
                }
            };
            match discovered {
                Ok(discovery) => {
                    self.backoff.reset();
                    return Ok(Some(discovery));
                }
                Err(error) if retries(&shared.config, &error) => {
                    let delay = self.backoff.next_delay_after(&error);
                    tracing::warn!(error = %ErrorChain(&error), retry_in = ?delay, "discovery failed; retrying");
                    if self.pause(delay).await {
                        return Ok(None);
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Waits `delay`, or until the shutdown; `true` for the shutdown.
    async fn pause(&mut self, delay: std::time::Duration) -> bool {
        if self.stopping {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => false,
            () = &mut self.shutdown => {
                self.stopping = true;
                true
            }
        }
    }

    /// Leaves the group, whatever the run's `result`, and returns it.
    pub(super) async fn finish(
        self,
        result: Result<(), ConsumerError>,
    ) -> Result<(), ConsumerError> {
        let shared = &self.consumer.shared;
        if let Err(error) = shared.store.leave(&shared.config.name, &shared.lease).await {
            tracing::warn!(error = %ErrorChain(&error), "could not leave the group; the membership will lapse");
        }
        result
    }
}
