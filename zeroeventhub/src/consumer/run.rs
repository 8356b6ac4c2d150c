//! The consumer: one worker per partition, until shutdown or a fatal error.

use std::{future::Future, sync::Arc};

use super::{
    ConsumerConfig, CursorStore, Handler, Lease, Protocol, group::Group, supervise::Supervisor,
    worker::Shared,
};
use crate::{
    ErrorChain,
    client::{self, Client},
};

/// Consumes a feed exactly once into the consumer's database.
///
/// For each partition, a worker loops: fetch a page from the stored cursor,
/// hand every covered event to the [`Handler`] inside one transaction of
/// the [`CursorStore`], store the page's checkpoint in that same
/// transaction, commit, repeat. So the effects of an event and the cursor
/// past it are committed together or not at all, whatever crashes when.
///
/// - **Pace**: a partition asks again at once while pages bring events,
///   and waits [`poll_interval`](ConsumerConfig::poll_interval) once caught
///   up. Cursors advance even when a page has no event.
/// - **Fairness**: partitions run independently: an idle or failing
///   partition never holds the others back.
/// - **Failures**: transient ones (connect, timeout, 5xx, 408, 429, a
///   cut-off body) and store errors are retried with capped exponential
///   back-off and jitter, honouring `Retry-After`; a client fault (other
///   4xx) or a protocol violation stops the consumer with
///   [`ConsumerError::Fetch`]; a failing handler halts its partition and is
///   retried (or its event skipped, see
///   [`OnHandlerError`](super::OnHandlerError)). A partition without
///   progress is reported.
/// - **Ownership**: each partition is leased through the store; a process
///   works only on partitions it holds, another takes over when a lease
///   expires, and a worker that lost its lease cannot commit.
/// - **Groups**: processes with the same name and store share the
///   partitions: with K live processes each holds about N/K; one that
///   started first gives partitions up as others join, and the others take
///   over a dead one's partitions once its leases lapse (stores that keep
///   a group membership, as `zeroeventhub-sqlx`'s does).
/// - **Shutdown**: when `shutdown` completes, workers stop after the page
///   in hand (a request still in flight is abandoned: nothing of it was
///   applied); on every stop, a fatal error too, the leases are released
///   and the process leaves the group.
#[derive(Debug)]
pub struct Consumer<S, H> {
    pub(super) shared: Arc<Shared<S, H>>,
}

impl<S, H> Consumer<S, H>
where
    S: CursorStore,
    H: Handler<S::Transaction>,
{
    /// A consumer of `client`'s feed into `store`, applying events with
    /// `handler`.
    pub fn new(client: Client, store: S, handler: H, config: ConsumerConfig) -> Self {
        let owner = config
            .instance
            .clone()
            .unwrap_or_else(|| format!("pid{}-{:016x}", std::process::id(), fastrand::u64(..)));
        let lease = Lease {
            owner,
            ttl: config.lease_ttl,
        };
        let shared_partitions = match config.partitions.len() {
            0 => client.partition_count(),
            some => u32::try_from(some).unwrap_or(u32::MAX),
        };
        Consumer {
            shared: Arc::new(Shared {
                client,
                store,
                handler,
                config,
                lease,
                group: Group::new(shared_partitions),
            }),
        }
    }

    /// The name this process holds its leases under.
    pub fn lease_owner(&self) -> &str {
        &self.shared.lease.owner
    }

    /// Runs until `shutdown` completes (then returns `Ok` once every
    /// partition finished its page in hand) or a fatal error.
    ///
    /// # Errors
    ///
    /// [`ConsumerError::Fetch`] when the producer refuses a request (4xx) or
    /// breaks the protocol; [`ConsumerError::InvalidPartition`] for a
    /// configured partition outside `0..n` (version 1);
    /// [`ConsumerError::Discover`] when a version 2 producer's discovery
    /// fails for good.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ConsumerError> {
        let config = &self.shared.config;
        let mut run = Supervisor::new(&self, shutdown);
        // Join the group before claiming, so that members that run already
        // make room for this one.
        self.heartbeat().await;
        let version_2 = match config.protocol {
            Protocol::Version1 => false,
            Protocol::Version2 => true,
            Protocol::Detect => match run.discover().await {
                Ok(Some(found)) => {
                    run.discovered = Some(found);
                    true
                }
                Ok(None) => return run.finish(Ok(())).await,
                Err(error) if error.status() == Some(http::StatusCode::BAD_REQUEST) => false,
                Err(error) => return run.finish(Err(ConsumerError::Discover { error })).await,
            },
        };
        let result = if version_2 {
            run.version_2().await
        } else {
            run.version_1().await
        };
        run.finish(result).await
    }

    /// Renews this process's membership of its group and takes in what the
    /// group looks like now.
    pub(super) async fn heartbeat(&self) {
        let shared = &self.shared;
        match shared
            .store
            .heartbeat(&shared.config.name, &shared.lease)
            .await
        {
            Ok(members) => {
                tracing::debug!(
                    members = members.len(),
                    held = shared.group.held(),
                    fair_share = shared.group.fair_share(),
                    "group heartbeat"
                );
                shared.group.observe(&members);
            }
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "group heartbeat failed; sharing by the last one");
            }
        }
    }
}

/// Why a [`Consumer`] stopped on its own.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// The producer refused a request (4xx) or broke the protocol.
    #[error("fetching partition {partition_id} failed for good")]
    Fetch {
        /// The partition whose request failed.
        partition_id: u32,
        /// The client's error.
        #[source]
        error: client::Error,
    },
    /// A configured partition is outside `0..n`.
    #[error("partition {partition_id} is outside 0..{partition_count}")]
    InvalidPartition {
        /// The partition.
        partition_id: u32,
        /// The feed's partition count.
        partition_count: u32,
    },
    /// A worker task panicked (a bug in a handler or store).
    #[error("a partition worker failed: {0}")]
    WorkerFailed(String),
    /// Version 2: the producer's discovery failed for good (a 4xx other
    /// than 401/403, or a malformed document).
    #[error("discovering the feed failed for good")]
    Discover {
        /// The client's error.
        #[source]
        error: client::Error,
    },
}
