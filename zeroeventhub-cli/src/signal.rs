//! Ctrl-C (SIGINT) and SIGTERM, counted, so that the first one can end a
//! command cleanly and a second one at once.

use std::{future::Future, io, time::Duration};

use tokio::sync::watch;

/// The termination signals received so far.
///
/// Once installed, SIGINT and SIGTERM no longer kill the process: the
/// commands decide when to stop.
#[derive(Debug, Clone)]
pub(crate) struct Signals {
    count: watch::Receiver<u32>,
}

impl Signals {
    /// Installs the handlers (at once, so that a signal arriving from now
    /// on is counted, not fatal) and starts counting. Must be called
    /// inside the tokio runtime.
    pub(crate) fn install() -> io::Result<Self> {
        let (sender, count) = watch::channel(0);
        let mut next = listener()?;
        tokio::spawn(async move {
            while next.recv().await {
                sender.send_modify(|count| *count += 1);
            }
        });
        Ok(Signals { count })
    }

    /// Whether a signal has arrived.
    pub(crate) fn received(&self) -> bool {
        *self.count.borrow() > 0
    }

    /// Resolves once `n` signals in all have arrived.
    pub(crate) fn wait_for(&self, n: u32) -> impl Future<Output = ()> + Send + 'static {
        let mut count = self.count.clone();
        async move {
            if count.wait_for(|&count| count >= n).await.is_err() {
                // The listener is gone: no signal will ever be counted.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Sleeps for `duration`, unless a signal arrives first. Returns
    /// whether it slept the whole time (`false`: a signal arrived).
    pub(crate) async fn sleep(&self, duration: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(duration) => !self.received(),
            () = self.wait_for(1) => false,
        }
    }
}

/// The next termination signal, whichever it is.
struct Listener {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

/// Registers the handlers.
fn listener() -> io::Result<Listener> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Listener {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }
    #[cfg(not(unix))]
    {
        Ok(Listener {})
    }
}

impl Listener {
    /// Waits for the next signal; `false` when no more can come.
    async fn recv(&mut self) -> bool {
        #[cfg(unix)]
        {
            tokio::select! {
                received = self.interrupt.recv() => received.is_some(),
                received = self.terminate.recv() => received.is_some(),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}
