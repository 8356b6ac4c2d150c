//! A feed as a framework adapter serves it: a reader, its partition count,
//! and the rules of long-polling.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

use super::{
    ChangeSubscription, DataReader, FeedResponse, Partitioned, ResponseBody, listing::Listings,
    respond::answer,
};
use crate::{
    Cursor, FeedRequest, RequestError, metrics,
    v2::{Discovery, EventsRequest},
};

/// The longest a request may wait (`wait`) unless the feed says otherwise.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(60);

/// A feed: a [`DataReader`], the producer's partition count, and how long a
/// long-polling request may be held. Everything an HTTP framework adapter
/// needs is [`respond`](Feed::respond); `zeroeventhub-axum` mounts a `Feed`
/// as a route.
///
/// Cheap to clone: clones share the reader and the
/// [`shut_down`](Feed::shut_down) switch.
///
/// # Long-polling
///
/// A request with `wait=S` that finds no event after its cursors is held
/// until one of its partitions gets one (it is then answered at once) or
/// for `S` seconds, capped by [`with_max_wait`](Feed::with_max_wait)
/// (default [`DEFAULT_MAX_WAIT`]); then it is answered with its
/// checkpoints. A reader with [change notifications](DataReader::changes)
/// is read again when notified; any other reader once more when the wait
/// ends. A waiting request holds no database connection and costs no CPU;
/// one whose client hangs up is dropped with its connection.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zeroeventhub::{server::{Feed, FeedResponse, MemoryLog}, Event};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let log = MemoryLog::new(2);
/// let feed = Feed::from(log.clone()).with_max_wait(Duration::from_secs(30));
///
/// let waiting = tokio::spawn({
///     let feed = feed.clone();
///     async move { feed.respond("n=2&cursor0=_first&wait=20").await }
/// });
/// log.append(Event::from_data(0, "hello").unwrap()).unwrap(); // answers it at once
/// assert!(matches!(waiting.await.unwrap(), FeedResponse::Stream(_)));
/// # });
/// ```
pub struct Feed<R> {
    reader: Arc<R>,
    partition_count: u32,
    max_wait: Duration,
    shared: Arc<Shared>,
}

/// The state clones of a feed share: whether it shuts down, who waits,
/// and the index of the reader's discovery.
#[derive(Default)]
struct Shared {
    done: AtomicBool,
    notify: Notify,
    waiting: AtomicUsize,
    listings: Listings,
}

impl<R> Clone for Feed<R> {
    fn clone(&self) -> Self {
        Feed {
            reader: Arc::clone(&self.reader),
            partition_count: self.partition_count,
            max_wait: self.max_wait,
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<R> fmt::Debug for Feed<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feed")
            .field("partition_count", &self.partition_count)
            .field("max_wait", &self.max_wait)
            .field("waiting", &self.waiting())
            .field("shut_down", &self.is_shut_down())
            .finish_non_exhaustive()
    }
}

impl<R: DataReader> Feed<R> {
    /// A feed of `partition_count` partitions served by `reader`.
    pub fn new(reader: R, partition_count: u32) -> Self {
        Feed {
            reader: Arc::new(reader),
            partition_count,
            max_wait: DEFAULT_MAX_WAIT,
            shared: Arc::default(),
        }
    }

    /// Caps the `wait` of a request at `max_wait` (default
    /// [`DEFAULT_MAX_WAIT`]); [`Duration::ZERO`] answers every request at
    /// once, as a producer without long-polling. Keep it below the idle
    /// timeouts of the proxies between producer and consumers.
    #[must_use]
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The feed's partition count.
    pub fn partition_count(&self) -> u32 {
        self.partition_count
    }

    /// The longest a request may wait.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// The reader.
    pub fn reader(&self) -> &R {
        &self.reader
    }

    /// Answers a feed request: parses and validates `query` (without the
    /// `?`), asks the reader, waits as the request's `wait` asks when
    /// there is no event yet, and waits for the first line, so that a
    /// refusal can still get its status.
    ///
    /// A bad request gets 400 with a message naming the parameter; a
    /// reader refusal ([`ReadError::bad_request`](super::ReadError::bad_request))
    /// before the first event gets 400 with its message; a reader failure
    /// before the first event is logged and gets 500 with a generic
    /// message.
    ///
    /// A reader with a [discovery](DataReader::discovery) speaks version 2
    /// too: a request without `n` is then answered with the discovery
    /// document, and version 2's events requests go to
    /// [`respond_events`](Feed::respond_events).
    pub async fn respond(&self, query: &str) -> FeedResponse<ResponseBody> {
        let started = std::time::Instant::now();
        if !carries_partition_count(query) {
            if let Some(discovery) = self.reader.discovery() {
                return discovery_document(&discovery);
            }
        }
        match FeedRequest::parse(query, self.partition_count) {
            Ok(request) => self.serve(request, started, false).await,
            Err(error) => refused(&error),
        }
    }

    /// Answers a version 2 events request (`GET {feed}/events?...`, the
    /// query without the `?`): one partition, with the discovery's token.
    ///
    /// 404 when the reader has no [discovery](DataReader::discovery) (the
    /// feed speaks version 1 only); 409 when `token` is not the current
    /// one, whatever the partition; 400 naming the parameter for a
    /// malformed request or a partition the discovery does not list. Then
    /// as [`respond`](Feed::respond), long-polling included, with the lines
    /// in version 2's form.
    pub async fn respond_events(&self, query: &str) -> FeedResponse<ResponseBody> {
        let started = std::time::Instant::now();
        let Some(discovery) = self.reader.discovery() else {
            metrics::request_answered(http::StatusCode::NOT_FOUND);
            return FeedResponse::Refused {
                status: http::StatusCode::NOT_FOUND,
                message: "this feed speaks version 1 only: no events endpoint".to_owned(),
            };
        };
        let request = match EventsRequest::parse(query) {
            Ok(request) => request,
            Err(error) => return refused(&error),
        };
        if request.token != discovery.token {
            return refused(&RequestError::TokenChanged);
        }
        let id = request.cursor.partition_id();
        let listing = self.shared.listings.of(&discovery);
        if !listing.lists(id) {
            return refused(&RequestError::UnknownPartition { id });
        }
        let request = FeedRequest {
            page_size_hint: request.page_size_hint,
            wait: request.wait,
            event_types: request.event_types,
            ..FeedRequest::new(listing.partition_count(), vec![request.cursor])
        };
        self.serve(request, started, true).await
    }

    async fn serve(
        &self,
        request: FeedRequest,
        started: std::time::Instant,
        version_2: bool,
    ) -> FeedResponse<ResponseBody> {
        let wait = request
            .wait
            .map(|seconds| Duration::from_secs(seconds.into()).min(self.max_wait))
            .filter(|wait| !wait.is_zero() && !self.is_shut_down());
        tracing::debug!(
            cursors = ?request.cursors,
            page_size_hint = ?request.page_size_hint,
            ?wait,
            "serving feed request"
        );
        let waiting = wait.map(|wait| self.waiting_for(&request, wait));
        answer(&*self.reader, request, waiting, started, version_2).await
    }

    fn waiting_for(&self, request: &FeedRequest, wait: Duration) -> Waiting<'_> {
        self.shared.waiting.fetch_add(1, Ordering::AcqRel);
        metrics::waiting(1.0);
        let changes = self
            .reader
            .changes()
            .map(|changes| changes.subscribe(request.cursors.iter().map(Cursor::partition_id)));
        Waiting {
            shared: &self.shared,
            deadline: Instant::now() + wait,
            changes,
        }
    }
}

impl<R> Feed<R> {
    /// Ends every wait now and answers the waiting requests with their
    /// checkpoints; from now on requests are answered at once. Call it
    /// when the server starts its graceful shutdown (with `axum::serve`,
    /// in the future given to `with_graceful_shutdown`), so that
    /// long-polling requests do not hold the shutdown up.
    pub fn shut_down(&self) {
        self.shared.done.store(true, Ordering::Release);
        self.shared.notify.notify_waiters();
    }

    /// Whether [`shut_down`](Feed::shut_down) was called.
    pub fn is_shut_down(&self) -> bool {
        self.shared.done.load(Ordering::Acquire)
    }

    /// How many requests wait now.
    pub fn waiting(&self) -> usize {
        self.shared.waiting.load(Ordering::Acquire)
    }
}

/// Whether a query string has an `n` parameter: a version 1 request.
fn carries_partition_count(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name == "n")
}

fn discovery_document<B>(discovery: &Discovery) -> FeedResponse<B> {
    match serde_json::to_string(discovery) {
        Ok(json) => {
            metrics::request_answered(http::StatusCode::OK);
            FeedResponse::Discovery(json)
        }
        Err(error) => {
            tracing::error!(%error, "discovery request failed: the document did not serialize");
            metrics::request_answered(http::StatusCode::INTERNAL_SERVER_ERROR);
            FeedResponse::Refused {
                status: http::StatusCode::INTERNAL_SERVER_ERROR,
                message: "internal server error".to_owned(),
            }
        }
    }
}

fn refused<B>(error: &RequestError) -> FeedResponse<B> {
    tracing::debug!(%error, "feed request refused");
    metrics::request_answered(error.status());
    FeedResponse::Refused {
        status: error.status(),
        message: error.to_string(),
    }
}

/// A reader that knows its partition count (an event log such as
/// [`MemoryLog`](super::MemoryLog)) is a feed by itself.
impl<R: DataReader + Partitioned> From<R> for Feed<R> {
    fn from(log: R) -> Self {
        let partition_count = log.partition_count();
        Feed::new(log, partition_count)
    }
}

/// One request's wait: until its deadline, a change of its partitions, or
/// the feed's shutdown. Subscribed before the first read, so that an event
/// appended just after it still ends the wait.
pub(super) struct Waiting<'a> {
    shared: &'a Shared,
    deadline: Instant,
    changes: Option<ChangeSubscription>,
}

impl Waiting<'_> {
    /// Waits on; `true` when a change may have brought events, `false`
    /// when the wait is over.
    pub(super) async fn changed(&mut self) -> bool {
        let shutdown = self.shared.notify.notified();
        tokio::pin!(shutdown);
        shutdown.as_mut().enable();
        if self.shared.done.load(Ordering::Acquire) {
            return false;
        }
        let changed = async {
            match &mut self.changes {
                Some(changes) => changes.changed().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = changed => true,
            () = tokio::time::sleep_until(self.deadline) => false,
            () = shutdown => false,
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.shared.waiting.fetch_sub(1, Ordering::AcqRel);
        metrics::waiting(-1.0);
    }
}
