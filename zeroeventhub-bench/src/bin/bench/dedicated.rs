//! A thread of its own for the appends of the latency workload, so that
//! the clock read right after a commit is not held up behind the tasks
//! that the commit wakes (a thousand responses on the same runtime).

use std::thread;

use anyhow::Context;
use tokio::{runtime::Handle, sync::oneshot};

/// A current-thread tokio runtime on a thread of its own, stopped when
/// dropped.
#[derive(Debug)]
pub(crate) struct Dedicated {
    handle: Handle,
    _stop: oneshot::Sender<()>,
}

impl Dedicated {
    /// Starts the thread, named `name`.
    pub(crate) fn start(name: &str) -> anyhow::Result<Dedicated> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start a tokio runtime")?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // Runs the spawned tasks until the sender is dropped.
                let _ = runtime.block_on(stopped);
            })
            .context("cannot start a thread")?;
        Ok(Dedicated {
            handle,
            _stop: stop,
        })
    }

    /// Runs `future` on the thread and waits for its output.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        future: impl Future<Output = anyhow::Result<T>> + Send + 'static,
    ) -> anyhow::Result<T> {
        self.handle
            .spawn(future)
            .await
            .context("a task of the dedicated thread panicked")?
    }
}
