//! A feed served on a loopback port for tests (feature `test-support`).

use std::{
    net::{SocketAddr, TcpListener},
    thread::JoinHandle,
};

use axum::Router;
use tokio::sync::oneshot;
use zeroeventhub::server::DataReader;

/// The path [`TestFeed::serve`] serves its reader at.
pub const TEST_FEED_PATH: &str = "/feed";

/// A server on `127.0.0.1` with a port chosen by the OS, stopped when
/// dropped.
///
/// Started inside a tokio runtime (a `#[tokio::test]`), it runs as a task
/// of that runtime; started outside one (a plain `#[test]` with the
/// blocking client), on a thread with a runtime of its own. Dropping it
/// stops the server at once, cutting off responses still streaming.
///
/// ```
/// use zeroeventhub::{Event, server::MemoryLog};
/// use zeroeventhub_axum::TestFeed;
///
/// let log = MemoryLog::new(2);
/// log.append(Event::from_data(1, &"hello")?)?;
/// let feed = TestFeed::serve(log);
/// assert!(feed.url().starts_with("http://127.0.0.1:"));
/// assert!(feed.url().ends_with("/feed"));
/// // zeroeventhub::client::Client::new(feed.url(), 2)?, and fetch...
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TestFeed {
    addr: SocketAddr,
    url: String,
    server: Server,
}

impl TestFeed {
    /// Serves `feed` (an event log, or [`Feed::new`](crate::Feed::new)`(reader, n)`)
    /// at [`TEST_FEED_PATH`].
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound or no runtime started: a test
    /// cannot go on without them.
    pub fn serve<R: DataReader>(feed: impl Into<crate::Feed<R>>) -> TestFeed {
        let router = crate::feed_router(TEST_FEED_PATH, feed);
        let mut feed = TestFeed::serve_router(router);
        feed.url.push_str(TEST_FEED_PATH);
        feed
    }

    /// Serves `router` (your routes, layers and handlers); [`url`](TestFeed::url)
    /// is then the server's root, without a path.
    ///
    /// # Panics
    ///
    /// As [`serve`](TestFeed::serve).
    pub fn serve_router(router: Router) -> TestFeed {
        // Bound here, so the port accepts connections (queued) as soon as
        // this returns.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let server = match tokio::runtime::Handle::try_current() {
            // In the caller's runtime: what the reader holds (a database
            // pool, say) lives in that runtime too, and stays usable after
            // the feed is dropped.
            Ok(runtime) => Server::Task(runtime.spawn(serve(listener, router, None))),
            // No runtime (a plain `#[test]`): one of its own, on a thread.
            Err(_) => {
                let (stop, stopped) = oneshot::channel::<()>();
                let thread = std::thread::Builder::new()
                    .name(format!("test-feed-{}", addr.port()))
                    .spawn(move || {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("a runtime for the test feed")
                            .block_on(serve(listener, router, Some(stopped)));
                        // Dropping the runtime ends every connection still open.
                    })
                    .expect("a thread for the test feed");
                Server::Thread {
                    stop: Some(stop),
                    thread: Some(thread),
                }
            }
        };
        TestFeed {
            addr,
            url: format!("http://{addr}"),
            server,
        }
    }

    /// The feed's URL (for [`serve_router`](TestFeed::serve_router), the
    /// server's root).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The absolute URL of `path` (starting with `/`) on this server.
    pub fn url_of(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestFeed {
    fn drop(&mut self) {
        match &mut self.server {
            // Aborting the task ends the server and its connections.
            Server::Task(task) => task.abort(),
            Server::Thread { stop, thread } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                if let Some(thread) = thread.take() {
                    // A server that panicked has already failed its test.
                    let _ = thread.join();
                }
            }
        }
    }
}

/// Where the server runs.
#[derive(Debug)]
enum Server {
    /// A task of the caller's runtime.
    Task(tokio::task::JoinHandle<()>),
    /// A runtime of its own on a thread, stopped through `stop`.
    Thread {
        stop: Option<oneshot::Sender<()>>,
        thread: Option<JoinHandle<()>>,
    },
}

/// Serves `router` on `listener` until `stopped` completes (or is dropped),
/// or for ever without it.
async fn serve(listener: TcpListener, router: Router, stopped: Option<oneshot::Receiver<()>>) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    let stopped = async {
        match stopped {
            // A dropped sender also means: stop.
            Some(stopped) => {
                let _ = stopped.await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        served = axum::serve(listener, router) => served.expect("the test feed failed"),
        () = stopped => {}
    }
}
