//! The harness of the runtime tests (`runtime_*.rs`): a producer (an event
//! log served by axum on a loopback port) behind a front that records every
//! request and injects faults, handlers that record what they apply, and
//! helpers to run a consumer and check what it did.

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
use tempfile::TempDir;
use tokio::{
    net::TcpListener,
    sync::{Notify, watch},
    task::JoinHandle,
    time::Instant,
};
use zeroeventhub::{
    BoxError, Cursor, Event, Page,
    client::Client,
    consumer::{Consumer, ConsumerConfig, ConsumerError, Handler},
};
use zeroeventhub_sqlx::{EventLog, SqlCursorStore};

use super::{AppliedDb, NO_HANG};

pub const CONSUMER: &str = "runtime-test";

// ---------------------------------------------------------------------------
// The producer: an event log behind a front that records every request and
// injects faults.

/// What the front answers to one request.
pub enum Fault {
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
pub struct Seen {
    pub at: Instant,
    pub path: String,
    pub partition_id: u32,
    pub cursor: String,
    /// How many requests for the same path and partition came before.
    pub nth: usize,
}

type Rule = Box<dyn Fn(&Seen) -> Fault + Send + Sync>;

struct Front {
    rule: Rule,
    seen: Mutex<Vec<Seen>>,
}

/// A producer serving an event log at `/feed` (and the same feed at
/// `/a/feed` and `/b/feed`, to tell consumers apart) on a loopback port.
pub struct Producer {
    pub base: String,
    pub log: EventLog<Sqlite>,
    pub published: Vec<Event>,
    pub partition_count: u32,
    front: Arc<Front>,
    server: JoinHandle<()>,
    _dir: TempDir,
}

impl Producer {
    /// A log with `events`, served at once.
    pub async fn start(
        partition_count: u32,
        events: Vec<Event>,
        rule: impl Fn(&Seen) -> Fault + Send + Sync + 'static,
    ) -> Self {
        Producer::start_after(partition_count, events, rule, None).await
    }

    /// A log with `events`, whose port refuses connections for `delay`
    /// (when given) before it is served.
    pub async fn start_after(
        partition_count: u32,
        events: Vec<Event>,
        rule: impl Fn(&Seen) -> Fault + Send + Sync + 'static,
        delay: Option<Duration>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::new(
            super::sqlite_pool(&dir, "producer.db").await,
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
    pub fn client_at(&self, path: &str) -> Client {
        Client::new(&format!("{}{path}", self.base), self.partition_count).unwrap()
    }

    pub fn client(&self) -> Client {
        self.client_at("/feed")
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.front.seen.lock().unwrap().clone()
    }

    /// The requests so far at `path` for `partition_id`.
    pub fn seen_at(&self, path: &str, partition_id: u32) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|seen| seen.path == path && seen.partition_id == partition_id)
            .collect()
    }

    /// The published events of `partition_id`.
    pub fn events_of(&self, partition_id: u32) -> Vec<Event> {
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
pub struct Recorder {
    pub state: Arc<RecorderState>,
}

#[derive(Default)]
pub struct RecorderState {
    /// The data of the event the handler fails on.
    pub poison: Option<String>,
    /// How long the handler takes per event, after applying it.
    pub delay: Duration,
    pub poison_attempts: AtomicUsize,
    /// How many events were applied (committed or not).
    pub handled: watch::Sender<usize>,
    /// When given, the handler waits after applying each event until it
    /// holds `true`.
    pub gate: Option<watch::Receiver<bool>>,
}

impl Recorder {
    pub fn failing_on(poison: &Event) -> Self {
        Recorder::with(RecorderState {
            poison: Some(poison.data_json().to_owned()),
            ..RecorderState::default()
        })
    }

    pub fn slow(delay: Duration) -> Self {
        Recorder::with(RecorderState {
            delay,
            ..RecorderState::default()
        })
    }

    pub fn with(state: RecorderState) -> Self {
        Recorder {
            state: Arc::new(state),
        }
    }

    pub fn poison_attempts(&self) -> usize {
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
pub struct PageRecorder {
    pub events: Recorder,
    /// The size of each page it was given.
    pub pages: Arc<Mutex<Vec<usize>>>,
    /// How many times it was given the page with the poison event.
    pub poison_pages: Arc<AtomicUsize>,
}

impl PageRecorder {
    pub fn pages(&self) -> Vec<usize> {
        self.pages.lock().unwrap().clone()
    }

    /// How many events went through [`Handler::handle`].
    pub fn handled_one_by_one(&self) -> usize {
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
        page: &Page,
    ) -> Result<(), BoxError> {
        let events = page.events();
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
pub fn config() -> ConsumerConfig {
    ConsumerConfig {
        page_size_hint: Some(5),
        poll_interval: Duration::from_millis(10),
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        ..ConsumerConfig::new(CONSUMER)
    }
}

/// A store in `pool`, with every table the tests use.
pub async fn store<DB: AppliedDb>(pool: &Pool<DB>) -> SqlCursorStore<DB> {
    DB::create_tables(pool).await;
    let store = SqlCursorStore::new(pool.clone());
    store.migrate().await.unwrap();
    store
}

/// Runs a consumer until `shutdown` completes or it stops on its own.
pub async fn run<DB: AppliedDb>(
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
pub async fn applied_at_least<DB: AppliedDb>(pool: Pool<DB>, count: usize) {
    while DB::applied_count(&pool).await < count as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (at most [`NO_HANG`]) until `check` holds.
pub async fn until<F: FnMut() -> bool>(mut check: F) {
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
pub async fn assert_complete<DB: AppliedDb>(producer: &Producer, pool: &Pool<DB>) {
    let applied = DB::applied(pool).await;
    super::assert_exactly_once(&producer.published, &applied, producer.partition_count);
    assert_eq!(
        stored(pool).await,
        super::log_ends(&producer.published, producer.partition_count)
    );
}

/// `poison` went to the dead letters, every other event was applied once,
/// and the cursors stand at the ends of the partitions.
pub async fn assert_dead_lettered<DB: AppliedDb>(
    producer: &Producer,
    pool: &Pool<DB>,
    poison: &Event,
) {
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
    super::assert_exactly_once(&rest, &DB::applied(pool).await, partition_count);
    assert_eq!(
        stored(pool).await,
        super::log_ends(&producer.published, partition_count)
    );
}

/// The stored cursors of [`CONSUMER`].
pub async fn stored<DB: AppliedDb>(pool: &Pool<DB>) -> Vec<Cursor> {
    SqlCursorStore::new(pool.clone())
        .load_cursors(CONSUMER)
        .await
        .unwrap()
}

/// The data of each applied event of `partition_id`, in order.
pub async fn applied_in<DB: AppliedDb>(pool: &Pool<DB>, partition_id: u32) -> Vec<String> {
    DB::applied(pool)
        .await
        .into_iter()
        .filter(|applied| applied.partition_id == partition_id)
        .map(|applied| applied.data)
        .collect()
}

pub fn data_of(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.data_json().to_owned()).collect()
}
