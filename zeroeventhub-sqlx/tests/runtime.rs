//! The consumer runtime against real producers (axum on loopback sockets,
//! with a front that injects faults) and real databases: transient
//! failures are retried (honouring `Retry-After`), client faults stop the
//! consumer, a poison event halts its partition or goes to the dead-letter
//! handler, shutdown finishes the page in hand and releases the leases,
//! cursors advance without events, and partitions never hold each other
//! back.

#[macro_use]
mod support;

use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes, to_bytes},
    extract::{Request, State},
    http::{
        HeaderValue, StatusCode,
        header::{CONTENT_TYPE, RETRY_AFTER},
    },
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use sqlx::{Pool, Sqlite, Transaction};
use support::{AppliedDb, NO_HANG};
use tempfile::TempDir;
use tokio::{
    net::TcpListener,
    sync::{Notify, watch},
    task::JoinHandle,
    time::Instant,
};
use zeroeventhub::{
    BoxError, Cursor, Event,
    client::Client,
    runtime::{
        Claim, Consumer, ConsumerConfig, ConsumerError, CursorStore, Handler, Lease,
        OnHandlerError, OnUnauthorized, StartFrom,
    },
};
use zeroeventhub_sqlx::{EventLog, SqlCursorStore};

on_both_databases!(
    transient_failures_are_retried_and_every_event_is_applied_once,
    a_refused_connection_is_retried_until_the_producer_is_up,
    retry_after_is_honoured,
    a_client_fault_stops_the_consumer_with_its_status,
    unauthorized_is_retried_by_default,
    unauthorized_stops_the_consumer_when_told_to,
    a_mismatched_partition_count_stops_the_consumer_with_400,
    a_poison_event_halts_its_partition_only_and_is_retried,
    a_poison_event_goes_to_the_dead_letter_handler_when_asked,
    whole_pages_go_to_a_page_handler,
    a_failing_page_halts_its_partition,
    a_failing_page_is_applied_event_by_event_to_find_its_dead_letter,
    shutdown_finishes_the_page_in_hand_and_releases_the_leases,
    shutdown_does_not_wait_for_a_producer_that_never_finishes,
    cursors_advance_on_pages_without_events,
    an_idle_partition_does_not_hold_back_a_busy_one,
    a_partition_taken_back_resumes_from_the_stored_cursor,
);

const CONSUMER: &str = "runtime-test";

// ---------------------------------------------------------------------------
// The producer: an event log behind a front that records every request and
// injects faults.

/// What the front answers to one request.
enum Fault {
    /// The feed's own answer.
    Pass,
    /// This status, with `Retry-After: SECONDS` when given.
    Status(StatusCode, Option<u64>),
    /// The feed's answer cut off halfway: the connection is aborted.
    Cut,
    /// 200, then a blank line every 200 ms, forever: a producer that never
    /// finishes its response.
    Trickle,
    /// Waits until notified, then answers 503.
    Held(Arc<Notify>),
}

/// A request as the front saw it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    path: String,
    partition_id: u32,
    cursor: String,
    /// How many requests for the same path and partition came before.
    nth: usize,
}

type Rule = Box<dyn Fn(&Seen) -> Fault + Send + Sync>;

struct Front {
    rule: Rule,
    seen: Mutex<Vec<Seen>>,
}

/// A producer serving an event log at `/feed` (and the same feed at
/// `/a/feed` and `/b/feed`, to tell consumers apart) on a loopback port.
struct Producer {
    base: String,
    log: EventLog<Sqlite>,
    published: Vec<Event>,
    partition_count: u32,
    front: Arc<Front>,
    server: JoinHandle<()>,
    _dir: TempDir,
}

impl Producer {
    /// A log with `events`, served at once.
    async fn start(
        partition_count: u32,
        events: Vec<Event>,
        rule: impl Fn(&Seen) -> Fault + Send + Sync + 'static,
    ) -> Self {
        Producer::start_after(partition_count, events, rule, None).await
    }

    /// A log with `events`, whose port refuses connections for `delay`
    /// (when given) before it is served.
    async fn start_after(
        partition_count: u32,
        events: Vec<Event>,
        rule: impl Fn(&Seen) -> Fault + Send + Sync + 'static,
        delay: Option<Duration>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::new(
            support::sqlite_pool(&dir, "producer.db").await,
            partition_count,
        );
        log.migrate().await.unwrap();
        if !events.is_empty() {
            log.publish(&events).await.unwrap();
        }
        let front = Arc::new(Front {
            rule: Box::new(rule),
            seen: Mutex::new(Vec::new()),
        });
        let app = ["/feed", "/a/feed", "/b/feed"]
            .into_iter()
            .fold(Router::new(), |app, path| {
                app.merge(zeroeventhub_axum::feed_router(
                    path,
                    zeroeventhub_axum::Feed::new(log.clone(), partition_count),
                ))
            })
            .layer(middleware::from_fn_with_state(
                Arc::clone(&front),
                front_door,
            ));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let listener = match delay {
            Some(_) => None, // closed: connections are refused
            None => Some(listener),
        };
        let server = tokio::spawn(async move {
            let listener = match listener {
                Some(listener) => listener,
                None => {
                    tokio::time::sleep(delay.unwrap_or_default()).await;
                    loop {
                        match TcpListener::bind(address).await {
                            Ok(listener) => break listener,
                            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                }
            };
            axum::serve(listener, app).await.unwrap();
        });
        Producer {
            base: format!("http://{address}"),
            log,
            published: events,
            partition_count,
            front,
            server,
            _dir: dir,
        }
    }

    /// A client of the feed at `path`.
    fn client_at(&self, path: &str) -> Client {
        Client::new(&format!("{}{path}", self.base), self.partition_count).unwrap()
    }

    fn client(&self) -> Client {
        self.client_at("/feed")
    }

    /// Every request so far.
    fn seen(&self) -> Vec<Seen> {
        self.front.seen.lock().unwrap().clone()
    }

    /// The requests so far at `path` for `partition_id`.
    fn seen_at(&self, path: &str, partition_id: u32) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|seen| seen.path == path && seen.partition_id == partition_id)
            .collect()
    }

    /// The published events of `partition_id`.
    fn events_of(&self, partition_id: u32) -> Vec<Event> {
        self.published
            .iter()
            .filter(|event| event.partition_id == partition_id)
            .cloned()
            .collect()
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The middleware in front of the feed.
async fn front_door(State(front): State<Arc<Front>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    // The runtime asks for one partition per request.
    let (partition_id, cursor) = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(key, value)| Some((key.strip_prefix("cursor")?.parse().ok()?, value)))
        .map(|(partition_id, cursor)| (partition_id, cursor.to_owned()))
        .expect("a request with a cursor");
    let seen = {
        let mut all = front.seen.lock().unwrap();
        let nth = all
            .iter()
            .filter(|seen| seen.path == path && seen.partition_id == partition_id)
            .count();
        let seen = Seen {
            at: Instant::now(),
            path,
            partition_id,
            cursor,
            nth,
        };
        all.push(seen.clone());
        seen
    };
    match (front.rule)(&seen) {
        Fault::Pass => next.run(request).await,
        Fault::Status(status, retry_after) => {
            let mut response = (status, "injected fault").into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
        Fault::Cut => {
            let (parts, body) = next.run(request).await.into_parts();
            let whole = to_bytes(body, usize::MAX).await.unwrap();
            assert!(whole.len() > 1, "a page to cut");
            let half = whole.slice(..whole.len() / 2);
            let chunks =
                futures_util::stream::iter([Ok(half), Err(std::io::Error::other("injected cut"))]);
            Response::from_parts(parts, Body::from_stream(chunks))
        }
        Fault::Trickle => {
            let blank_lines = futures_util::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from_static(b"\n")),
                    (),
                ))
            });
            let mut response = Body::from_stream(blank_lines).into_response();
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            );
            response
        }
        Fault::Held(release) => {
            release.notified().await;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

// ---------------------------------------------------------------------------
// The consumer: a handler that records what it applies.

/// Applies each event as a row of `applied`; fails on the poison event,
/// whose dead letter goes to `dead_letters`.
#[derive(Clone, Default)]
struct Recorder {
    state: Arc<RecorderState>,
}

#[derive(Default)]
struct RecorderState {
    /// The data of the event the handler fails on.
    poison: Option<String>,
    /// How long the handler takes per event, after applying it.
    delay: Duration,
    poison_attempts: AtomicUsize,
    /// How many events were applied (committed or not).
    handled: watch::Sender<usize>,
    /// When given, the handler waits after applying each event until it
    /// holds `true`.
    gate: Option<watch::Receiver<bool>>,
}

impl Recorder {
    fn failing_on(poison: &Event) -> Self {
        Recorder::with(RecorderState {
            poison: Some(poison.data_json().to_owned()),
            ..RecorderState::default()
        })
    }

    fn slow(delay: Duration) -> Self {
        Recorder::with(RecorderState {
            delay,
            ..RecorderState::default()
        })
    }

    fn with(state: RecorderState) -> Self {
        Recorder {
            state: Arc::new(state),
        }
    }

    fn poison_attempts(&self) -> usize {
        self.state.poison_attempts.load(Ordering::SeqCst)
    }
}

impl<DB: AppliedDb> Handler<Transaction<'static, DB>> for Recorder {
    async fn handle(
        &self,
        transaction: &mut Transaction<'static, DB>,
        event: &Event,
    ) -> Result<(), BoxError> {
        let data = event.data_json();
        if self.state.poison.as_deref() == Some(data) {
            self.state.poison_attempts.fetch_add(1, Ordering::SeqCst);
            return Err("the handler cannot take this event".into());
        }
        DB::insert_applied(
            &mut **transaction,
            event.partition_id,
            data.to_owned(),
            String::new(),
        )
        .await?;
        self.state.handled.send_modify(|handled| *handled += 1);
        if let Some(gate) = &self.state.gate {
            gate.clone().wait_for(|open| *open).await?;
        }
        if !self.state.delay.is_zero() {
            tokio::time::sleep(self.state.delay).await;
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        transaction: &mut Transaction<'static, DB>,
        event: &Event,
        error: &BoxError,
    ) -> Result<(), BoxError> {
        DB::insert_dead_letter(
            &mut **transaction,
            event.partition_id,
            event.data_json().to_owned(),
            error.to_string(),
        )
        .await?;
        Ok(())
    }
}

/// Applies whole pages at once, as a handler writing multi-row INSERTs
/// would: all the rows of a page in one call, or none when the page holds
/// the poison event. Event by event, it is its [`Recorder`].
#[derive(Clone, Default)]
struct PageRecorder {
    events: Recorder,
    /// The size of each page it was given.
    pages: Arc<Mutex<Vec<usize>>>,
    /// How many times it was given the page with the poison event.
    poison_pages: Arc<AtomicUsize>,
}

impl PageRecorder {
    fn pages(&self) -> Vec<usize> {
        self.pages.lock().unwrap().clone()
    }

    /// How many events went through [`Handler::handle`].
    fn handled_one_by_one(&self) -> usize {
        *self.events.state.handled.borrow()
    }
}

impl<DB: AppliedDb> Handler<Transaction<'static, DB>> for PageRecorder {
    async fn handle(
        &self,
        transaction: &mut Transaction<'static, DB>,
        event: &Event,
    ) -> Result<(), BoxError> {
        Handler::<Transaction<'static, DB>>::handle(&self.events, transaction, event).await
    }

    async fn handle_page(
        &self,
        transaction: &mut Transaction<'static, DB>,
        events: &[Event],
    ) -> Result<(), BoxError> {
        self.pages.lock().unwrap().push(events.len());
        let poison = self.events.state.poison.as_deref();
        if events.iter().any(|event| Some(event.data_json()) == poison) {
            self.poison_pages.fetch_add(1, Ordering::SeqCst);
            return Err("the page holds an event the handler cannot take".into());
        }
        for event in events {
            let data = event.data_json().to_owned();
            DB::insert_applied(&mut **transaction, event.partition_id, data, String::new()).await?;
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        transaction: &mut Transaction<'static, DB>,
        event: &Event,
        error: &BoxError,
    ) -> Result<(), BoxError> {
        Handler::<Transaction<'static, DB>>::dead_letter(&self.events, transaction, event, error)
            .await
    }
}

/// Quick pace and retries, small pages.
fn config() -> ConsumerConfig {
    ConsumerConfig {
        page_size_hint: Some(5),
        poll_interval: Duration::from_millis(10),
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        ..ConsumerConfig::new(CONSUMER)
    }
}

/// A store in `pool`, with every table the tests use.
async fn store<DB: AppliedDb>(pool: &Pool<DB>) -> SqlCursorStore<DB> {
    DB::create_tables(pool).await;
    let store = SqlCursorStore::new(pool.clone());
    store.migrate().await.unwrap();
    store
}

/// Runs a consumer until `shutdown` completes or it stops on its own.
async fn run<DB: AppliedDb>(
    client: Client,
    pool: &Pool<DB>,
    handler: impl Handler<Transaction<'static, DB>>,
    config: ConsumerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ConsumerError> {
    let consumer = Consumer::new(client, store(pool).await, handler, config);
    tokio::time::timeout(NO_HANG, consumer.run(shutdown))
        .await
        .expect("the consumer hangs")
}

/// Completes once `applied` holds at least `count` rows.
async fn applied_at_least<DB: AppliedDb>(pool: Pool<DB>, count: usize) {
    while DB::applied_count(&pool).await < count as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (at most [`NO_HANG`]) until `check` holds.
async fn until<F: FnMut() -> bool>(mut check: F) {
    tokio::time::timeout(NO_HANG, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("waited in vain");
}

/// Every event applied once, in order per partition, and the stored
/// cursors at the ends of the partitions.
async fn assert_complete<DB: AppliedDb>(producer: &Producer, pool: &Pool<DB>) {
    let applied = DB::applied(pool).await;
    support::assert_exactly_once(&producer.published, &applied, producer.partition_count);
    assert_eq!(
        stored(pool).await,
        support::log_ends(&producer.published, producer.partition_count)
    );
}

/// `poison` went to the dead letters, every other event was applied once,
/// and the cursors stand at the ends of the partitions.
async fn assert_dead_lettered<DB: AppliedDb>(producer: &Producer, pool: &Pool<DB>, poison: &Event) {
    let data = poison.data_json();
    assert_eq!(
        DB::dead_letters(pool).await,
        [(poison.partition_id, data.to_owned())]
    );
    let rest: Vec<Event> = producer
        .published
        .iter()
        .filter(|e| e.data_json() != data)
        .cloned()
        .collect();
    let partition_count = producer.partition_count;
    support::assert_exactly_once(&rest, &DB::applied(pool).await, partition_count);
    assert_eq!(
        stored(pool).await,
        support::log_ends(&producer.published, partition_count)
    );
}

/// The stored cursors of [`CONSUMER`].
async fn stored<DB: AppliedDb>(pool: &Pool<DB>) -> Vec<Cursor> {
    SqlCursorStore::new(pool.clone())
        .load_cursors(CONSUMER)
        .await
        .unwrap()
}

/// The data of each applied event of `partition_id`, in order.
async fn applied_in<DB: AppliedDb>(pool: &Pool<DB>, partition_id: u32) -> Vec<String> {
    DB::applied(pool)
        .await
        .into_iter()
        .filter(|applied| applied.partition_id == partition_id)
        .map(|applied| applied.data)
        .collect()
}

fn data_of(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.data_json().to_owned()).collect()
}

// ---------------------------------------------------------------------------
// Failures of the producer.

async fn transient_failures_are_retried_and_every_event_is_applied_once<DB: AppliedDb>(
    pool: Pool<DB>,
) {
    let producer = Producer::start(3, support::numbered_events(3, 20), |seen| match seen.nth {
        0 => Fault::Status(StatusCode::SERVICE_UNAVAILABLE, None),
        1 => Fault::Status(StatusCode::INTERNAL_SERVER_ERROR, None),
        // A page that breaks off after some of its events and checkpoints.
        2 => Fault::Cut,
        3 => Fault::Status(StatusCode::TOO_MANY_REQUESTS, None),
        4 => Fault::Cut,
        _ => Fault::Pass,
    })
    .await;
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(producer.client(), &pool, Recorder::default(), config(), all)
        .await
        .unwrap();

    assert_complete(&producer, &pool).await;
    for partition_id in 0..3 {
        // Every fault was met, then the partition went on.
        assert!(producer.seen_at("/feed", partition_id).len() > 5);
    }
}

async fn a_refused_connection_is_retried_until_the_producer_is_up<DB: AppliedDb>(pool: Pool<DB>) {
    let events = support::numbered_events(2, 10);
    let down_for = Some(Duration::from_millis(500));
    let producer = Producer::start_after(2, events, |_| Fault::Pass, down_for).await;
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(producer.client(), &pool, Recorder::default(), config(), all)
        .await
        .unwrap();

    assert_complete(&producer, &pool).await;
}

async fn retry_after_is_honoured<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(2, support::numbered_events(2, 10), |seen| match seen.nth {
        0 => Fault::Status(StatusCode::SERVICE_UNAVAILABLE, Some(1)),
        _ => Fault::Pass,
    })
    .await;
    // The back-off alone would retry within milliseconds.
    let config = ConsumerConfig {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..config()
    };
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(producer.client(), &pool, Recorder::default(), config, all)
        .await
        .unwrap();

    assert_complete(&producer, &pool).await;
    for partition_id in 0..2 {
        let seen = producer.seen_at("/feed", partition_id);
        let waited = seen[1].at - seen[0].at;
        assert!(
            waited >= Duration::from_millis(900),
            "partition {partition_id} asked again after {waited:?} despite Retry-After: 1"
        );
    }
}

async fn a_client_fault_stops_the_consumer_with_its_status<DB: AppliedDb>(pool: Pool<DB>) {
    // Partition 1 is refused on its third request; the others would go on.
    let producer = Producer::start(3, support::numbered_events(3, 50), |seen| {
        match (seen.partition_id, seen.nth) {
            (1, 2) => Fault::Status(StatusCode::NOT_FOUND, None),
            _ => Fault::Pass,
        }
    })
    .await;
    let never = std::future::pending();
    let error = run(
        producer.client(),
        &pool,
        Recorder::default(),
        config(),
        never,
    )
    .await
    .unwrap_err();

    let ConsumerError::Fetch {
        partition_id,
        error,
    } = error
    else {
        panic!("expected a fetch error, got {error:?}");
    };
    assert_eq!(partition_id, 1);
    assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
    assert!(error.to_string().contains("injected fault"), "{error}");
    // Refused once, not retried.
    assert_eq!(producer.seen_at("/feed", 1).len(), 3);
    // What was committed is whole: partition 1 holds its first two pages.
    assert_eq!(
        applied_in(&pool, 1).await,
        data_of(&producer.events_of(1)[..10])
    );
}

/// A producer that answers 401 and 403 for a while (a credential being
/// rotated): the consumer keeps trying, and then applies everything.
async fn unauthorized_is_retried_by_default<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(2, support::numbered_events(2, 20), |seen| match seen.nth {
        1 => Fault::Status(StatusCode::UNAUTHORIZED, None),
        2 => Fault::Status(StatusCode::FORBIDDEN, None),
        _ => Fault::Pass,
    })
    .await;
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(producer.client(), &pool, Recorder::default(), config(), all)
        .await
        .unwrap();
    assert_complete(&producer, &pool).await;
}

async fn unauthorized_stops_the_consumer_when_told_to<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(2, support::numbered_events(2, 20), |seen| match seen {
        seen if seen.partition_id == 0 && seen.nth == 1 => {
            Fault::Status(StatusCode::UNAUTHORIZED, None)
        }
        _ => Fault::Pass,
    })
    .await;
    let config = ConsumerConfig {
        on_unauthorized: OnUnauthorized::Stop,
        ..config()
    };
    let never = std::future::pending();
    let error = run(producer.client(), &pool, Recorder::default(), config, never)
        .await
        .unwrap_err();
    let ConsumerError::Fetch {
        partition_id,
        error,
    } = error
    else {
        panic!("expected a fetch error, got {error:?}");
    };
    assert_eq!(partition_id, 0);
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(producer.seen_at("/feed", 0).len(), 2, "not retried");
}

async fn a_mismatched_partition_count_stops_the_consumer_with_400<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(2, support::numbered_events(2, 5), |_| Fault::Pass).await;
    // The consumer assumes 3 partitions; the producer has 2.
    let client = Client::new(&format!("{}/feed", producer.base), 3).unwrap();
    let never = std::future::pending();
    let error = run(client, &pool, Recorder::default(), config(), never)
        .await
        .unwrap_err();

    let ConsumerError::Fetch { error, .. } = error else {
        panic!("expected a fetch error, got {error:?}");
    };
    assert_eq!(error.status(), Some(StatusCode::BAD_REQUEST));
    assert!(!error.is_transient());
    assert_eq!(DB::applied_count(&pool).await, 0);
    assert!(stored(&pool).await.is_empty());
}

// ---------------------------------------------------------------------------
// Failures of the handler.

async fn a_poison_event_halts_its_partition_only_and_is_retried<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(3, support::numbered_events(3, 20), |_| Fault::Pass).await;
    // Event 12 of partition 1, at position 13: in the page of 11..=15.
    let poison = producer.events_of(1)[12].clone();
    let handler = Recorder::failing_on(&poison);
    // Stop once the other partitions are done and the poison event failed
    // a few times.
    let others_done_and_retried = {
        let (pool, handler) = (pool.clone(), handler.clone());
        async move {
            loop {
                let applied = DB::applied(&pool).await;
                let others = applied.iter().filter(|a| a.partition_id != 1).count();
                if others == 40 && handler.poison_attempts() >= 3 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    run(
        producer.client(),
        &pool,
        handler.clone(),
        config(),
        others_done_and_retried,
    )
    .await
    .unwrap();

    assert!(handler.poison_attempts() > 1);
    for partition_id in [0, 2] {
        assert_eq!(
            applied_in(&pool, partition_id).await,
            data_of(&producer.events_of(partition_id))
        );
    }
    // Partition 1 stopped before the poison event, with effects and cursor
    // in step.
    let cursors = stored(&pool).await;
    let halted = cursors.iter().find(|c| c.partition_id() == 1).unwrap();
    let position: usize = halted.as_str().parse().unwrap();
    assert!(position < 13, "cursor {halted} passed the poison event");
    assert_eq!(
        applied_in(&pool, 1).await,
        data_of(&producer.events_of(1)[..position])
    );
    assert!(DB::dead_letters(&pool).await.is_empty());
}

async fn a_poison_event_goes_to_the_dead_letter_handler_when_asked<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(3, support::numbered_events(3, 20), |_| Fault::Pass).await;
    let poison = producer.events_of(1)[12].clone();
    let config = ConsumerConfig {
        on_handler_error: OnHandlerError::DeadLetter,
        ..config()
    };
    let all_but_one = applied_at_least(pool.clone(), producer.published.len() - 1);
    let handler = Recorder::failing_on(&poison);
    run(
        producer.client(),
        &pool,
        handler.clone(),
        config,
        all_but_one,
    )
    .await
    .unwrap();

    assert_eq!(handler.poison_attempts(), 1);
    assert_dead_lettered(&producer, &pool, &poison).await;
}

async fn whole_pages_go_to_a_page_handler<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(2, support::numbered_events(2, 20), |_| Fault::Pass).await;
    let handler = PageRecorder::default();
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(producer.client(), &pool, handler.clone(), config(), all)
        .await
        .unwrap();

    assert_complete(&producer, &pool).await;
    // Pages of at most 5 (the hint), each given once, none one by one.
    let pages = handler.pages();
    assert!(
        pages.iter().all(|&size| (1..=5).contains(&size)),
        "{pages:?}"
    );
    assert_eq!(pages.iter().sum::<usize>(), producer.published.len());
    assert_eq!(handler.handled_one_by_one(), 0);
}

async fn a_failing_page_halts_its_partition<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(2, support::numbered_events(2, 20), |_| Fault::Pass).await;
    // Event 12 of partition 1, at position 13: in the page of 11..=15.
    let poison = producer.events_of(1)[12].clone();
    let handler = PageRecorder {
        events: Recorder::failing_on(&poison),
        ..PageRecorder::default()
    };
    // Stop once partition 0 is done and the poison page failed a few times.
    let other_done_and_retried = {
        let (pool, handler) = (pool.clone(), handler.clone());
        async move {
            while applied_in(&pool, 0).await.len() < 20
                || handler.poison_pages.load(Ordering::SeqCst) < 3
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    run(
        producer.client(),
        &pool,
        handler.clone(),
        config(),
        other_done_and_retried,
    )
    .await
    .unwrap();

    // Partition 1 stopped after the page before the poison one, its
    // effects and cursor in step; nothing went event by event.
    assert_eq!(
        applied_in(&pool, 1).await,
        data_of(&producer.events_of(1)[..10])
    );
    let cursors = stored(&pool).await;
    let halted = cursors.iter().find(|c| c.partition_id() == 1).unwrap();
    assert_eq!(halted.as_str(), "10");
    assert_eq!(handler.handled_one_by_one(), 0);
    assert!(DB::dead_letters(&pool).await.is_empty());
}

async fn a_failing_page_is_applied_event_by_event_to_find_its_dead_letter<DB: AppliedDb>(
    pool: Pool<DB>,
) {
    let producer = Producer::start(3, support::numbered_events(3, 20), |_| Fault::Pass).await;
    let poison = producer.events_of(1)[12].clone();
    let config = ConsumerConfig {
        on_handler_error: OnHandlerError::DeadLetter,
        ..config()
    };
    let handler = PageRecorder {
        events: Recorder::failing_on(&poison),
        ..PageRecorder::default()
    };
    let all_but_one = applied_at_least(pool.clone(), producer.published.len() - 1);
    run(
        producer.client(),
        &pool,
        handler.clone(),
        config,
        all_but_one,
    )
    .await
    .unwrap();

    // The page (positions 11..=15) was tried whole once, then event by
    // event: the scan applied 11 and 12, failed on the poison event 13 and
    // was rolled back; the next pass applied 11, 12, 14 and 15 through
    // `handle`, and 13 went to the dead letters.
    assert_eq!(handler.events.poison_attempts(), 1);
    assert_eq!(handler.handled_one_by_one(), 2 + 4);
    assert_dead_lettered(&producer, &pool, &poison).await;
}

/// The log lines written while a [`CapturedLogs::install`] guard lives on
/// this thread.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Sends this thread's `tracing` events here (plain text, no colours)
    /// until the guard is dropped.
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> CapturedLogs {
        self.clone()
    }
}

// On a current-thread runtime, so that the consumer's tasks log to this
// thread's subscriber.
#[tokio::test]
async fn a_partition_that_makes_no_progress_is_reported_stuck() {
    let logs = CapturedLogs::default();
    let _guard = logs.install();
    let db = support::SqliteDb::new().await;
    let producer = Producer::start(1, support::numbered_events(1, 3), |_| {
        Fault::Status(StatusCode::SERVICE_UNAVAILABLE, None)
    })
    .await;
    let config = ConsumerConfig {
        stuck_after: 3,
        ..config()
    };
    let reported = {
        let logs = logs.clone();
        until(move || logs.text().contains("partition stuck"))
    };
    run(
        producer.client(),
        &db.pool,
        Recorder::default(),
        config,
        reported,
    )
    .await
    .unwrap();

    let text = logs.text();
    let stuck = text
        .lines()
        .find(|line| line.contains("partition stuck"))
        .unwrap();
    assert!(stuck.contains("WARN"), "{stuck}");
    assert!(stuck.contains("cursor=\"_first\""), "{stuck}");
    assert!(stuck.contains("failures=3"), "{stuck}");
    // Not before the third failure in a row.
    let failures_before = text
        .split("partition stuck")
        .next()
        .unwrap()
        .matches("fetch failed; retrying")
        .count();
    assert_eq!(failures_before, 3, "{text}");
    assert_eq!(Sqlite::applied_count(&db.pool).await, 0);
}

// ---------------------------------------------------------------------------
// Shutdown.

async fn shutdown_finishes_the_page_in_hand_and_releases_the_leases<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(1, support::numbered_events(1, 100), |_| Fault::Pass).await;
    let config = ConsumerConfig {
        page_size_hint: Some(10),
        // Long leases: only a release lets another process in at once.
        lease_ttl: Duration::from_secs(120),
        ..config()
    };
    // Shut down in the middle of the second page (events 11..=20).
    let handler = Recorder::slow(Duration::from_millis(20));
    let mut handled = handler.state.handled.subscribe();
    let mid_page = async move {
        handled.wait_for(|&handled| handled >= 15).await.unwrap();
    };
    run(producer.client(), &pool, handler, config.clone(), mid_page)
        .await
        .unwrap();

    // The page in hand was committed whole, and no other page started.
    assert_eq!(stored(&pool).await, [Cursor::new(0, "20").unwrap()]);
    assert_eq!(
        applied_in(&pool, 0).await,
        data_of(&producer.published[..20])
    );
    // The lease was released: another process claims it at once.
    let other = Lease {
        owner: "another-process".to_owned(),
        ttl: Duration::from_millis(1),
    };
    let store = SqlCursorStore::new(pool.clone());
    assert_eq!(
        store.claim(CONSUMER, 0, &other).await.unwrap(),
        Claim::Claimed
    );
    store.release(CONSUMER, 0, &other).await.unwrap();

    // A restart goes on from there.
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(producer.client(), &pool, Recorder::default(), config, all)
        .await
        .unwrap();
    assert_complete(&producer, &pool).await;
}

async fn shutdown_does_not_wait_for_a_producer_that_never_finishes<DB: AppliedDb>(pool: Pool<DB>) {
    // Partition 0's responses never end; the others are served normally.
    let producer = Producer::start(3, support::numbered_events(3, 10), |seen| {
        match seen.partition_id {
            0 => Fault::Trickle,
            _ => Fault::Pass,
        }
    })
    .await;
    let others_done = applied_at_least(pool.clone(), 20);
    run(
        producer.client(),
        &pool,
        Recorder::default(),
        config(),
        others_done,
    )
    .await
    .unwrap();

    for partition_id in [1, 2] {
        assert_eq!(
            applied_in(&pool, partition_id).await,
            data_of(&producer.events_of(partition_id))
        );
    }
    assert!(applied_in(&pool, 0).await.is_empty());
    let cursors = stored(&pool).await;
    assert_eq!(cursors, support::log_ends(&producer.published, 3)[1..]);
}

// ---------------------------------------------------------------------------
// Pace and fairness.

async fn cursors_advance_on_pages_without_events<DB: AppliedDb>(pool: Pool<DB>) {
    let producer = Producer::start(2, support::numbered_events(2, 10), |_| Fault::Pass).await;
    let config = ConsumerConfig {
        start: StartFrom::Last,
        ..config()
    };
    // From `_last`: no event to apply, yet the cursors become concrete.
    let cursors_stored = {
        let pool = pool.clone();
        async move {
            while stored(&pool).await.len() < 2 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    run(
        producer.client(),
        &pool,
        Recorder::default(),
        config.clone(),
        cursors_stored,
    )
    .await
    .unwrap();
    assert_eq!(DB::applied_count(&pool).await, 0);
    assert_eq!(
        stored(&pool).await,
        support::log_ends(&producer.published, 2)
    );

    // Events published later are applied, and only they.
    let later: Vec<Event> = support::numbered_events(2, 12)[20..].to_vec();
    producer.log.publish(&later).await.unwrap();
    let all_later = applied_at_least(pool.clone(), later.len());
    run(
        producer.client(),
        &pool,
        Recorder::default(),
        config,
        all_later,
    )
    .await
    .unwrap();
    support::assert_exactly_once(&later, &DB::applied(&pool).await, 2);
    assert_eq!(
        stored(&pool).await,
        [Cursor::new(0, "12").unwrap(), Cursor::new(1, "12").unwrap()]
    );
}

async fn an_idle_partition_does_not_hold_back_a_busy_one<DB: AppliedDb>(pool: Pool<DB>) {
    // Partition 0 has no events; partition 1 has many.
    let busy: Vec<Event> = (0..60)
        .map(|n| Event::from_data(1, &serde_json::json!({"n": n})).unwrap())
        .collect();
    let producer = Producer::start(2, busy, |_| Fault::Pass).await;
    // A caught-up partition waits an hour before asking again.
    let config = ConsumerConfig {
        poll_interval: Duration::from_secs(3600),
        ..config()
    };
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(producer.client(), &pool, Recorder::default(), config, all)
        .await
        .unwrap();

    assert_complete(&producer, &pool).await;
    // The idle partition asked once.
    assert_eq!(producer.seen_at("/feed", 0).len(), 1);
}

// ---------------------------------------------------------------------------
// Leases.

/// A worker whose lease expired while it waited, and whose partition
/// another process took, consumed and released meanwhile, goes on from
/// the cursor stored by that process, not from its own stale one.
async fn a_partition_taken_back_resumes_from_the_stored_cursor<DB: AppliedDb>(pool: Pool<DB>) {
    let release = Arc::new(Notify::new());
    let producer = Producer::start(1, support::numbered_events(1, 20), {
        let release = Arc::clone(&release);
        move |seen| match (seen.path.as_str(), seen.nth) {
            // Process A's first request hangs until released.
            ("/a/feed", 0) => Fault::Held(Arc::clone(&release)),
            _ => Fault::Pass,
        }
    })
    .await;
    let config = ConsumerConfig {
        lease_ttl: Duration::from_secs(1),
        ..config()
    };
    store(&pool).await;

    // Process A claims the partition, then waits on its request.
    let (stop_a, stopped_a) = tokio::sync::oneshot::channel::<()>();
    let a = tokio::spawn({
        let (client, pool, config) = (producer.client_at("/a/feed"), pool.clone(), config.clone());
        async move {
            let stopped = async move {
                let _ = stopped_a.await;
            };
            run(client, &pool, Recorder::default(), config, stopped).await
        }
    });
    until(|| !producer.seen_at("/a/feed", 0).is_empty()).await;

    // Process B takes over once A's lease expired, consumes everything and
    // stops, releasing the lease.
    let all = applied_at_least(pool.clone(), producer.published.len());
    let b = producer.client_at("/b/feed");
    run(b, &pool, Recorder::default(), config, all)
        .await
        .unwrap();

    // A's request fails; A claims the free partition again and goes on.
    release.notify_one();
    until(|| producer.seen_at("/a/feed", 0).len() >= 3).await;
    stop_a.send(()).unwrap();
    a.await.unwrap().unwrap();

    let a_seen = producer.seen_at("/a/feed", 0);
    assert_eq!(a_seen[0].cursor, "_first");
    assert_eq!(a_seen[1].cursor, "20", "A went on from its stale cursor");
    assert_complete(&producer, &pool).await;
}

/// A worker whose lease was taken over while it was applying a page
/// commits nothing of that page (fencing), then goes on from the cursor the
/// other process stored. PostgreSQL only: on SQLite, the page's
/// transaction holds the database's write lock, so no other process can
/// take the lease over before it ends.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_worker_that_lost_its_lease_mid_page_commits_nothing() {
    let Some(db) = support::postgres::PgDb::new().await else {
        return;
    };
    let pool = db.pool.clone();
    let producer = Producer::start(1, support::numbered_events(1, 20), |_| Fault::Pass).await;
    let config = ConsumerConfig {
        lease_ttl: Duration::from_secs(1),
        ..config()
    };
    store(&pool).await;

    // Process A stops in the middle of its first page until the gate opens.
    let (open, gate) = watch::channel(false);
    let handler = Recorder::with(RecorderState {
        gate: Some(gate),
        ..RecorderState::default()
    });
    let mut handled = handler.state.handled.subscribe();
    let (stop_a, stopped_a) = tokio::sync::oneshot::channel::<()>();
    let a = tokio::spawn({
        let (client, pool, config) = (producer.client_at("/a/feed"), pool.clone(), config.clone());
        async move {
            let stopped = async move {
                let _ = stopped_a.await;
            };
            run(client, &pool, handler, config, stopped).await
        }
    });
    handled.wait_for(|&handled| handled >= 1).await.unwrap();

    // Process B takes over once A's lease expired, consumes everything and
    // stops.
    let all = applied_at_least(pool.clone(), producer.published.len());
    run(
        producer.client_at("/b/feed"),
        &pool,
        Recorder::default(),
        config,
        all,
    )
    .await
    .unwrap();

    // A finishes its page, but must not commit it.
    open.send(true).unwrap();
    until(|| producer.seen_at("/a/feed", 0).len() >= 2).await;
    stop_a.send(()).unwrap();
    a.await.unwrap().unwrap();

    assert_eq!(producer.seen_at("/a/feed", 0)[1].cursor, "20");
    assert_complete(&producer, &pool).await;
}
