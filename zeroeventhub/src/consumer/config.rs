//! How a [`Consumer`](super::Consumer) behaves.

use std::time::Duration;

use crate::{Cursor, EventTypeFilter, HeaderSelection};

/// How long a caught-up partition asks the producer to hold its request,
/// unless configured otherwise.
pub const DEFAULT_LONG_POLL: Duration = Duration::from_secs(20);

/// The settings of a [`Consumer`](super::Consumer). Start from
/// [`ConsumerConfig::new`] and change the fields you care about.
///
/// ```
/// use std::time::Duration;
/// use zeroeventhub::consumer::{ConsumerConfig, OnHandlerError};
///
/// let config = ConsumerConfig {
///     poll_interval: Duration::from_millis(250),
///     on_handler_error: OnHandlerError::DeadLetter,
///     ..ConsumerConfig::new("billing")
/// };
/// assert_eq!(config.name, "billing");
/// ```
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The consumer's name: cursors and leases are kept per name and
    /// partition, so two consumers of one feed need two names. Processes
    /// with the same name and store form a group and share the partitions.
    pub name: String,
    /// This process's stable identity in the group, such as the host or
    /// pod name (as a Kafka client's static membership): a restart with
    /// the same identity takes its own leases back at once instead of
    /// waiting for them to lapse. It must be unique among the live
    /// processes of the name. `None` (the default): a fresh identity per
    /// process (`pid…`).
    pub instance: Option<String>,
    /// The partitions to consume; empty means all of `0..n`. The members
    /// of a group share these: give them all the same set (a member given
    /// fewer still counts toward the group's size, and can leave a
    /// partition unclaimed).
    pub partitions: Vec<u32>,
    /// Where a partition without a stored cursor starts.
    pub start: StartFrom,
    /// Where given partitions without a stored cursor start instead of
    /// [`start`](ConsumerConfig::start): a cursor per partition.
    pub start_cursors: Vec<Cursor>,
    /// `pagesizehint` of each request; `None` leaves it to the producer.
    pub page_size_hint: Option<u32>,
    /// Which event headers to ask for. None by default, as in the
    /// protocol: a handler that reads a header (to dispatch on a type, say)
    /// must ask for it here, or it gets none.
    pub headers: HeaderSelection,
    /// Which events to ask for by type (`event-types` /
    /// `skip-event-types`; all by default). A producer may ignore it, so
    /// a handler that must not see other types checks them too. Events
    /// filtered away still move the cursors forward.
    pub event_types: EventTypeFilter,
    /// The header in which the producer sends each event's append time
    /// (RFC 3339, as zeroeventhub-sqlx's `EventLog::with_time_header`
    /// writes it), for the gauge `zeroeventhub_consumer_seconds_behind`
    /// (feature `metrics`). It is asked for besides
    /// [`headers`](ConsumerConfig::headers). `None` (the default): no such
    /// gauge.
    pub time_header: Option<String>,
    /// For the gauge `zeroeventhub_consumer_lag_events` (feature
    /// `metrics`, cursors that are positions): how often a partition that
    /// is behind asks the producer for its head (one more request from
    /// `_last`). `None` (the default): never; the gauge is then only set
    /// to 0 once caught up.
    pub lag_probe: Option<Duration>,
    /// Long-polling: once a partition is caught up, ask the producer to
    /// hold the request this long (`wait`) and answer as soon as an event
    /// arrives, so that events reach the handler within milliseconds of
    /// their commit. `None` (or zero): poll every
    /// [`poll_interval`](ConsumerConfig::poll_interval). At most two thirds
    /// of [`lease_ttl`](ConsumerConfig::lease_ttl) is asked for, so that
    /// the lease outlasts the wait; the HTTP client's read timeout must
    /// exceed it (the default client's does).
    pub long_poll: Option<Duration>,
    /// How long a caught-up partition waits before asking again without
    /// long-polling, and the least time between two requests of a
    /// caught-up partition when the producer does not hold them (it
    /// ignores `wait`, or caps it low).
    pub poll_interval: Duration,
    /// The first delay before retrying a failure; it doubles on each
    /// further failure, up to `max_backoff`, with full jitter.
    pub initial_backoff: Duration,
    /// The longest delay between retries.
    pub max_backoff: Duration,
    /// How long a partition's lease lasts without renewal: how soon another
    /// process takes over a partition whose worker died.
    pub lease_ttl: Duration,
    /// What to do when the handler fails on an event.
    pub on_handler_error: OnHandlerError,
    /// What to do when the feed answers 401 or 403.
    pub on_unauthorized: OnUnauthorized,
    /// Stop a partition once a page brings no event (its cursor stored):
    /// [`run`](super::Consumer::run) then returns when every partition has
    /// caught up, for a batch job. A partition another process holds is
    /// not caught up by this one.
    pub until_caught_up: bool,
    /// After this many failed attempts in a row on one cursor, the
    /// partition is reported stuck (a `tracing` warning, repeated every
    /// this many attempts).
    pub stuck_after: u32,
    /// Which version of the protocol to speak: version 1 (the default),
    /// version 2 (FeedAPI) from its discovery on, or whichever the
    /// producer speaks (discovered once at the start).
    pub protocol: Protocol,
    /// Version 2: when children of a split (method 1,
    /// `startsAfterPartition`) start.
    pub splits: SplitOrder,
}

impl ConsumerConfig {
    /// The defaults, for the consumer called `name`: a fresh identity per
    /// process, all partitions from `_first`, no headers, long-poll 20 s
    /// once caught up (else poll every second), back off from 100 ms to 30 s, leases of 30 s, retry a
    /// failing handler, retry on 401/403, report stuck after 5 attempts.
    pub fn new(name: impl Into<String>) -> Self {
        ConsumerConfig {
            name: name.into(),
            instance: None,
            partitions: Vec::new(),
            start: StartFrom::First,
            start_cursors: Vec::new(),
            page_size_hint: None,
            headers: HeaderSelection::None,
            event_types: EventTypeFilter::All,
            time_header: None,
            lag_probe: None,
            long_poll: Some(DEFAULT_LONG_POLL),
            poll_interval: Duration::from_secs(1),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            lease_ttl: Duration::from_secs(30),
            on_handler_error: OnHandlerError::Retry,
            on_unauthorized: OnUnauthorized::Retry,
            until_caught_up: false,
            stuck_after: 5,
            protocol: Protocol::Version1,
            splits: SplitOrder::Ordered,
        }
    }
}

/// Which version of the protocol a [`Consumer`](super::Consumer) speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// Version 1 (ZeroEventHub): the client's partition count, all
    /// partitions for good.
    #[default]
    Version1,
    /// Version 2 (FeedAPI): the partitions of the producer's discovery,
    /// each with the discovery's token. When the token changes (409),
    /// every worker stops after its page, the producer is discovered
    /// again, and each partition goes on from its stored cursor. A closed
    /// partition is consumed to its end (a page without events), then no
    /// longer asked for; the store records it
    /// ([`CursorStore::mark_finished`](super::CursorStore::mark_finished)),
    /// so that a restart, or another member of the group, does not ask
    /// for it either. A split's children start as
    /// [`SplitOrder`] says (method 1) or from the stored cursor of their
    /// nearest listed ancestor (method 2, `cursorFromPartitions`).
    Version2,
    /// Version 2 when the producer answers the discovery, version 1 when
    /// it answers 400; asked once, at the start.
    Detect,
}

/// Version 2: when the children of a split by method 1
/// (`startsAfterPartition`) start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SplitOrder {
    /// Once their closed parent is finished, from `_first`: every event
    /// of a key is applied in order across the split.
    #[default]
    Ordered,
    /// At once, beside their parent: faster, but events of one key may be
    /// applied out of order across the split.
    Unordered,
}

/// Where a partition without a stored cursor starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// From the first event (`_first`).
    #[default]
    First,
    /// From events published from now on (`_last`).
    Last,
}

/// What the runtime does when the handler fails on an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnHandlerError {
    /// Roll back, halt the partition and retry the page with back-off until
    /// the handler succeeds: order is kept, nothing is skipped.
    #[default]
    Retry,
    /// Roll back, then apply the page again without the failing event,
    /// which goes to [`Handler::dead_letter`](super::Handler::dead_letter)
    /// in the same transaction.
    DeadLetter,
}

/// What the runtime does when the feed answers 401 Unauthorized or 403
/// Forbidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnUnauthorized {
    /// Keep trying with back-off, logging each refusal: a credential that
    /// is rotated or fixed while the consumer runs is picked up without a
    /// restart.
    #[default]
    Retry,
    /// Stop the consumer with the error.
    Stop,
}
