//! The consumer: one worker per partition, until shutdown or a fatal error.

use std::{future::Future, sync::Arc};

use tokio::{sync::watch, task::JoinSet};
use tracing::Instrument;

use super::{
    ConsumerConfig, CursorStore, Handler, Lease,
    worker::{Shared, run_partition},
};
use crate::client::{self, Client};

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
/// - **Shutdown**: when `shutdown` completes, workers stop after the page
///   in hand (a request still in flight is abandoned: nothing of it was
///   applied) and release their leases.
#[derive(Debug)]
pub struct Consumer<S, H> {
    shared: Arc<Shared<S, H>>,
}

impl<S, H> Consumer<S, H>
where
    S: CursorStore,
    H: Handler<S::Transaction>,
{
    /// A consumer of `client`'s feed into `store`, applying events with
    /// `handler`.
    pub fn new(client: Client, store: S, handler: H, config: ConsumerConfig) -> Self {
        let lease = Lease {
            owner: format!("pid{}-{:016x}", std::process::id(), fastrand::u64(..)),
            ttl: config.lease_ttl,
        };
        Consumer {
            shared: Arc::new(Shared {
                client,
                store,
                handler,
                config,
                lease,
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
    /// configured partition outside `0..n`.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ConsumerError> {
        let config = &self.shared.config;
        let count = self.shared.client.partition_count();
        let partitions: Vec<u32> = if config.partitions.is_empty() {
            (0..count).collect()
        } else {
            config.partitions.clone()
        };
        if let Some(&partition_id) = partitions.iter().find(|&&p| p >= count) {
            return Err(ConsumerError::InvalidPartition {
                partition_id,
                partition_count: count,
            });
        }

        let (stop, stopped) = watch::channel(false);
        let mut workers = JoinSet::new();
        for partition_id in partitions {
            let span = tracing::info_span!("zeh_consumer", consumer = %config.name, partition = partition_id);
            workers.spawn(
                run_partition(Arc::clone(&self.shared), partition_id, stopped.clone())
                    .instrument(span),
            );
        }

        let mut shutdown = std::pin::pin!(shutdown);
        let mut stopping = false;
        let mut result = Ok(());
        loop {
            tokio::select! {
                () = &mut shutdown, if !stopping => {
                    tracing::info!(consumer = %config.name, "shutting down after the pages in hand");
                    stopping = true;
                    let _ = stop.send(true);
                }
                joined = workers.join_next() => match joined {
                    None => break,
                    Some(Ok(Ok(()))) => {}
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
        result
    }
}

/// Why a [`Consumer`] stopped on its own.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// The producer refused a request (4xx) or broke the protocol.
    #[error("partition {partition_id}: {error}")]
    Fetch {
        /// The partition whose request failed.
        partition_id: u32,
        /// The client's error.
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
}
