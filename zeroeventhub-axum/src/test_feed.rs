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

/// A server on `127.0.0.1` with a port chosen by the OS, running on a
/// thread of its own (with its own tokio runtime), stopped when dropped.
///
/// It needs no runtime from the caller: use it from a `#[tokio::test]` as
/// from a plain `#[test]` with the blocking client. Dropping it stops the
/// server at once, cutting off responses still streaming.
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
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
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
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("test-feed-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the test feed");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                    tokio::select! {
                        served = axum::serve(listener, router) => {
                            served.expect("the test feed failed");
                        }
                        // A dropped sender also means: stop.
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime ends every connection still open.
            })
            .expect("a thread for the test feed");
        TestFeed {
            addr,
            url: format!("http://{addr}"),
            stop: Some(stop),
            thread: Some(thread),
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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A server that panicked has already failed its test loudly.
            let _ = thread.join();
        }
    }
}
