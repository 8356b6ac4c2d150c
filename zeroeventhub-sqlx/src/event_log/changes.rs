//! Waking the log's long-polling requests when events are committed, by
//! this process or any other: one change check per log, shared by every
//! waiting request.

use std::{
    future::Future,
    sync::{Arc, OnceLock},
    time::Duration,
};

use futures_core::future::BoxFuture;
use sqlx::{Database, Pool};
use tokio::{sync::Notify, task::JoinHandle};
use zeroeventhub::server::ChangeNotifier;

/// How often a SQLite log checks whether another connection committed,
/// while requests wait, unless told otherwise.
pub const DEFAULT_CHANGE_CHECK_INTERVAL: Duration = Duration::from_millis(10);

/// How a database tells a log that events were committed.
pub trait Watch: Database {
    /// SQL run inside an appending transaction (`{table}` stands for the
    /// table, `$1` for the partitions, [`partition_list`]): for a database
    /// that delivers it to every listener at commit (PostgreSQL's
    /// `NOTIFY`).
    const NOTIFY: Option<&'static str>;

    /// The task that watches `pool`'s database for commits and notifies
    /// `watcher.notifier`; it runs until the log is dropped.
    fn watch(pool: Pool<Self>, watcher: Watcher) -> BoxFuture<'static, ()>;
}

/// What a watch task needs: whom to wake, and about which table.
#[derive(Debug)]
pub struct Watcher {
    /// The log's table, as the log names it.
    pub(crate) table: String,
    /// The waiting requests.
    pub(crate) notifier: ChangeNotifier,
    /// Told when this process appended, so that a commit is looked for
    /// at once rather than at the next check (SQLite).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) appended: Arc<Notify>,
    /// The interval between two checks, for a database that must be asked.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) interval: Duration,
}

/// The partitions of an append, as its notification names them: `0,7`.
pub(crate) fn partition_list(partitions: &[u32]) -> String {
    let partitions: Vec<String> = partitions.iter().map(u32::to_string).collect();
    partitions.join(",")
}

#[cfg(feature = "postgres")]
/// The partitions a notification `TABLE:P1,P2` names, if it is about
/// `table`; `None` for another table. A partition that cannot be read is
/// `None` in the list (wake every request then).
pub(crate) fn partitions_of(payload: &str, table: &str) -> Option<Vec<Option<u32>>> {
    let (of, partitions) = payload.split_once(':')?;
    (of == table).then(|| partitions.split(',').map(|p| p.parse().ok()).collect())
}

/// How long a watch task waits before connecting again after its
/// connection failed.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Runs `watch` (a change check on a connection of its own) for ever:
/// again, a second later, whenever it fails.
pub(crate) async fn keep_watching<F, Fut>(watcher: &Watcher, mut watch: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), sqlx::Error>>,
{
    loop {
        if let Err(error) = watch().await {
            tracing::warn!(
                error = %zeroeventhub::ErrorChain(&error),
                table = %watcher.table,
                "the connection watching the event log for new events failed; connecting again"
            );
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// The change signal of one log and its clones, and the watch task,
/// started by the first waiting request and stopped with the last clone.
#[derive(Debug)]
pub(crate) struct Changes {
    notifier: ChangeNotifier,
    appended: Arc<Notify>,
    interval: Duration,
    task: OnceLock<Option<AbortOnDrop>>,
}

impl Changes {
    pub(crate) fn new(partition_count: u32, interval: Duration) -> Self {
        Changes {
            notifier: ChangeNotifier::new(partition_count),
            appended: Arc::new(Notify::new()),
            interval,
            task: OnceLock::new(),
        }
    }

    /// The notifier, with the watch task started if it was not yet (and
    /// a runtime is at hand).
    pub(crate) fn started<DB: Watch>(&self, pool: &Pool<DB>, table: &str) -> &ChangeNotifier {
        self.task.get_or_init(|| {
            let runtime = tokio::runtime::Handle::try_current().ok()?;
            let watcher = Watcher {
                table: table.to_owned(),
                notifier: self.notifier.clone(),
                appended: Arc::clone(&self.appended),
                interval: self.interval,
            };
            Some(AbortOnDrop(runtime.spawn(DB::watch(pool.clone(), watcher))))
        });
        &self.notifier
    }

    /// This process appended to `partitions` in a transaction not yet
    /// committed: look for the commit now.
    pub(crate) fn appended(&self) {
        self.appended.notify_one();
    }

    /// This process committed appends to `partitions`: wake their waiters.
    pub(crate) fn committed(&self, partitions: &[u32]) {
        for &partition_id in partitions {
            self.notifier.notify(partition_id);
        }
    }
}

/// A task stopped when its handle is dropped.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_the_table_and_partitions() {
        let payload = format!("16384:{}", partition_list(&[0, 7]));
        assert_eq!(
            partitions_of(&payload, "16384"),
            Some(vec![Some(0), Some(7)])
        );
        assert_eq!(partitions_of(&payload, "16385"), None);
        assert_eq!(partitions_of("16384:x", "16384"), Some(vec![None]));
    }
}
