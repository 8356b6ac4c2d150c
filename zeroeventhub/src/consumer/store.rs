//! What the runtime needs from the consumer's database, and from the user.

use std::{future::Future, time::Duration};

use crate::{BoxError, Cursor, Event, Page};

/// The consumer's database as the runtime sees it: cursors per
/// (consumer name, partition), transactions, leases that make one
/// worker at a time the owner of a partition, and, for version 2, which
/// closed partitions have been consumed to their end.
///
/// The runtime's promise rests on two rules an implementation keeps:
///
/// - [`save_cursor`](CursorStore::save_cursor) writes inside the given
///   transaction, so the cursor commits or rolls back with the handler's
///   effects;
/// - it also checks, in that transaction and with a row lock or an
///   equivalent, that the lease is still held by `lease.owner`: a worker
///   that lost its partition to another process can never commit.
pub trait CursorStore: Send + Sync + 'static {
    /// A database transaction, handed to the [`Handler`] with each page.
    type Transaction: Send + 'static;
    /// The store's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The stored cursor of `partition_id` for `consumer`, if any.
    fn load_cursor(
        &self,
        consumer: &str,
        partition_id: u32,
    ) -> impl Future<Output = Result<Option<Cursor>, Self::Error>> + Send;

    /// Takes or renews the lease on (`consumer`, `partition_id`) for
    /// `lease.owner` until `lease.ttl` from now, unless another owner holds
    /// an unexpired lease: then says who, and until when.
    fn claim(
        &self,
        consumer: &str,
        partition_id: u32,
        lease: &Lease,
    ) -> impl Future<Output = Result<Claim, Self::Error>> + Send;

    /// Registers `lease.owner` as a live member of `consumer`'s group until
    /// `lease.ttl` from now, and returns the live members with the number
    /// of partitions each holds (this one included). The runtime calls it
    /// every third of a lease period and shares the partitions out by it:
    /// with K members, each holds about N/K.
    ///
    /// The default returns no member: the store knows no groups, and each
    /// process claims what it can (the first to start takes every
    /// partition).
    fn heartbeat(
        &self,
        consumer: &str,
        lease: &Lease,
    ) -> impl Future<Output = Result<Vec<Member>, Self::Error>> + Send {
        let _ = (consumer, lease);
        async { Ok(Vec::new()) }
    }

    /// Removes `lease.owner` from `consumer`'s group at once (it stops).
    /// The default does nothing.
    fn leave(
        &self,
        consumer: &str,
        lease: &Lease,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = (consumer, lease);
        async { Ok(()) }
    }

    /// Gives the lease up, if `lease.owner` holds it, so another process
    /// can take over at once.
    fn release(
        &self,
        consumer: &str,
        partition_id: u32,
        lease: &Lease,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Starts a transaction.
    fn begin(&self) -> impl Future<Output = Result<Self::Transaction, Self::Error>> + Send;

    /// Stores `cursor` for `consumer` inside `transaction`, and renews the
    /// lease, if `lease.owner` still holds it. Returns `false`, storing
    /// nothing, when the lease has passed to another owner: the runtime
    /// then rolls back.
    fn save_cursor(
        &self,
        transaction: &mut Self::Transaction,
        consumer: &str,
        cursor: &Cursor,
        lease: &Lease,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Commits `transaction`. (Dropping a transaction rolls it back.)
    fn commit(
        &self,
        transaction: Self::Transaction,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Version 2: records that the closed partition `last.partition_id()`
    /// has been consumed to its end for `consumer`, at `last`: the final
    /// checkpoint, which is stored already when the partition brought
    /// events (a partition that never did has no stored cursor, and a
    /// store that needs a row may store `last`; one that has a cursor
    /// keeps it). The runtime calls it once a response on the closed
    /// partition brings no event, while it still holds the lease.
    ///
    /// The flag only ever goes from unset to set, so no lease is checked.
    /// Nothing depends on it for correctness: it spares the runtime, after
    /// a restart or in another member of the group, one request on a
    /// partition that is known to be empty, and lets an ordered split's
    /// children start at once.
    ///
    /// The default stores nothing: the runtime then polls a closed
    /// partition once more after a restart (a request that brings no
    /// event), and only then starts the children that wait for it.
    fn mark_finished(
        &self,
        consumer: &str,
        last: &Cursor,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = (consumer, last);
        async { Ok(()) }
    }

    /// Version 2: the partitions of `consumer` recorded as finished by
    /// [`mark_finished`](CursorStore::mark_finished), in ascending order.
    /// The runtime skips those that its discovery lists as closed (a
    /// partition listed as open is consumed whatever the store says).
    ///
    /// The default returns none: the runtime then polls a closed
    /// partition once more after a restart.
    fn load_finished(
        &self,
        consumer: &str,
    ) -> impl Future<Output = Result<Vec<u32>, Self::Error>> + Send {
        let _ = consumer;
        async { Ok(Vec::new()) }
    }
}

/// What a [`CursorStore::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The lease is this owner's now (taken, or renewed).
    Claimed,
    /// Another owner holds the lease.
    HeldBy {
        /// Its owner.
        owner: String,
        /// How long it lasts unless renewed.
        expires_in: Duration,
    },
}

/// A live member of a consumer group, as [`CursorStore::heartbeat`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its lease owner name.
    pub owner: String,
    /// How many partitions it holds a live lease on.
    pub partitions: u32,
}

/// Who holds a partition, and for how long a claim lasts without renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The process's identity in the group: unique to a live process, and
    /// the same after a restart when it is stable
    /// ([`ConsumerConfig::instance`](super::ConsumerConfig::instance)), so
    /// a restarted process takes its own leases back at once.
    pub owner: String,
    /// How long a lease lasts unless renewed; another process takes the
    /// partition over this long after this one died.
    pub ttl: Duration,
}

/// Applies events to the consumer's database, inside the transaction in
/// which the runtime then stores the cursor.
///
/// The runtime hands over each page's covered events, in order within the
/// partition, through [`handle_page`](Handler::handle_page), which by
/// default calls [`handle`](Handler::handle) once per event. When either
/// fails, the transaction is rolled back: nothing of the page is kept.
pub trait Handler<Tx: Send>: Send + Sync + 'static {
    /// Applies one event.
    fn handle(
        &self,
        transaction: &mut Tx,
        event: &Event,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Applies the covered events of one page (never none), in order:
    /// [`page.events()`](Page::events), each with the checkpoint that
    /// covers it in [`page.covered()`](Page::covered) (an idempotency key,
    /// or a name for an event in a log).
    ///
    /// The default calls [`handle`](Handler::handle) for each event.
    /// Override it to write a page in bulk, for example with one multi-row
    /// `INSERT` instead of one statement per event: a round trip to the
    /// database per event is what limits a consumer most.
    ///
    /// When it fails, the transaction is rolled back. Under
    /// [`OnHandlerError::DeadLetter`](super::OnHandlerError::DeadLetter),
    /// the runtime then applies that page again event by event with
    /// `handle`, to find the event that fails and pass it to
    /// [`dead_letter`](Handler::dead_letter); so `handle` must apply an
    /// event exactly as `handle_page` would.
    fn handle_page(
        &self,
        transaction: &mut Tx,
        page: &Page,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        async move {
            for (index, event) in page.events().iter().enumerate() {
                if let Err(error) = self.handle(transaction, event).await {
                    return Err(Box::new(EventFailed { index, error }) as BoxError);
                }
            }
            Ok(())
        }
    }

    /// Called once a page's transaction has committed, with its events
    /// (none when only the cursor moved): for what must follow the commit
    /// and never precede it, such as printing, metrics or a notification.
    /// The default does nothing.
    fn committed(&self, events: &[Event]) {
        let _ = events;
    }

    /// Receives an event the handler failed on, when the runtime is told to
    /// skip such events ([`OnHandlerError::DeadLetter`](super::OnHandlerError::DeadLetter)),
    /// inside the transaction that goes on without it: store it somewhere
    /// for a person to look at. The default logs it and drops it.
    fn dead_letter(
        &self,
        transaction: &mut Tx,
        event: &Event,
        error: &BoxError,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = transaction;
        tracing::error!(
            partition = event.partition_id,
            %error,
            data = event.data_json(),
            "event skipped: the handler failed on it"
        );
        async { Ok(()) }
    }
}

/// The error of the default [`Handler::handle_page`]: which event of the
/// page failed, so that the runtime need not search for it.
#[derive(Debug)]
pub(crate) struct EventFailed {
    pub(crate) index: usize,
    pub(crate) error: BoxError,
}

impl std::fmt::Display for EventFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "event {} of the page: {}", self.index, self.error)
    }
}

impl std::error::Error for EventFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}
