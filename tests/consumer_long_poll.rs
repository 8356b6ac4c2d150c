//! The consumer runtime long-polls once caught up, against the axum
//! producer on a real socket, and falls back to its poll interval against
//! a producer that answers at once.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{extract::Request, middleware::Next};
use zeroeventhub::{
    BoxError, Event,
    client::Client,
    consumer::{Consumer, ConsumerConfig, Handler, MemoryCursorStore, MemoryTransaction},
    server::{Feed, MemoryLog},
};
use zeroeventhub_axum::{TEST_FEED_PATH, TestFeed, feed_router};

/// Only so that a broken test fails instead of hanging.
const NO_HANG: Duration = Duration::from_secs(20);

/// Keeps the `n` of every committed event.
#[derive(Default, Clone)]
struct Committed(Arc<Mutex<Vec<u64>>>);

impl Committed {
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl Handler<MemoryTransaction<u64>> for Committed {
    async fn handle(
        &self,
        transaction: &mut MemoryTransaction<u64>,
        event: &Event,
    ) -> Result<(), BoxError> {
        let data: serde_json::Value = event.data_as()?;
        transaction.push(data["n"].as_u64().ok_or("no n")?);
        Ok(())
    }

    fn committed(&self, events: &[Event]) {
        let mut committed = self.0.lock().unwrap();
        for event in events {
            let data: serde_json::Value = event.data_as().unwrap();
            committed.push(data["n"].as_u64().unwrap());
        }
    }
}

/// Serves `feed`, counting the requests it gets.
fn serve_counted(feed: Feed<MemoryLog>) -> (TestFeed, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    let router = feed_router(TEST_FEED_PATH, feed).layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            counter.fetch_add(1, Ordering::SeqCst);
            next.run(request)
        },
    ));
    (TestFeed::serve_router(router), requests)
}

/// Runs a consumer of one partition until `stop` is sent.
fn start(
    server: &TestFeed,
    handler: Committed,
    config: ConsumerConfig,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), zeroeventhub::consumer::ConsumerError>>,
) {
    let client = Client::new(&server.url_of(TEST_FEED_PATH), 1).unwrap();
    let consumer = Consumer::new(client, MemoryCursorStore::new(), handler, config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(consumer.run(async {
        let _ = stopped.await;
    }));
    (stop, task)
}

async fn committed_at_least(handler: &Committed, count: usize) {
    tokio::time::timeout(NO_HANG, async {
        while handler.count() < count {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("committed in time");
}

fn event(n: u64) -> Event {
    Event::from_data(0, &serde_json::json!({ "n": n })).unwrap()
}

#[tokio::test]
async fn a_caught_up_consumer_long_polls_and_gets_each_new_event_at_once() {
    let log = MemoryLog::new(1);
    let (server, requests) = serve_counted(Feed::from(log.clone()));
    let handler = Committed::default();
    // Polling alone would take an hour to see a new event.
    let config = ConsumerConfig {
        poll_interval: Duration::from_secs(3600),
        ..ConsumerConfig::new("long-poll")
    };
    let (stop, task) = start(&server, handler.clone(), config);

    for n in 1..=5 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        log.append(event(n)).unwrap();
        committed_at_least(&handler, n as usize).await;
    }
    assert_eq!(*handler.0.lock().unwrap(), [1, 2, 3, 4, 5]);

    // Idle, a caught-up consumer holds one request open at a time.
    let before = requests.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(requests.load(Ordering::SeqCst) - before <= 1);

    stop.send(()).unwrap();
    // The held request does not hold up the shutdown.
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stopped at once")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn against_a_producer_that_answers_at_once_it_asks_once_per_poll_interval() {
    let log = MemoryLog::new(1);
    // A producer without long-polling: every request is answered at once.
    let (server, requests) = serve_counted(Feed::from(log.clone()).with_max_wait(Duration::ZERO));
    let handler = Committed::default();
    let config = ConsumerConfig {
        poll_interval: Duration::from_millis(200),
        ..ConsumerConfig::new("fallback")
    };
    let (stop, task) = start(&server, handler.clone(), config);

    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = requests.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let asked = requests.load(Ordering::SeqCst) - before;
    // About five in a second; without the fallback, hundreds.
    assert!((2..=8).contains(&asked), "asked {asked} times in 1 s");

    log.append(event(1)).unwrap();
    committed_at_least(&handler, 1).await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
