//! How far behind the producer a partition is, in events, where cursors
//! are positions (feature `metrics`): the gauge
//! `zeroeventhub_consumer_lag_events`.

use std::time::{Duration, Instant};

use crate::{Cursor, client::Client, metrics};

/// The least time between two requests for the producer's head.
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// One partition's lag reading: 0 once caught up; while behind, the
/// producer's head (a request from `_last`) less the cursor, asked at most
/// every [`PROBE_EVERY`].
#[derive(Debug, Default)]
pub(super) struct LagProbe {
    probed: Option<Instant>,
}

impl LagProbe {
    /// After a page committed at `cursor`; `caught_up` when it held no event.
    pub(super) async fn after_page(
        &mut self,
        client: &Client,
        partition_id: u32,
        cursor: &Cursor,
        caught_up: bool,
    ) {
        let Some(position) = cursor.position() else {
            return;
        };
        if caught_up {
            metrics::lag(partition_id, 0);
            return;
        }
        if self
            .probed
            .is_some_and(|probed| probed.elapsed() < PROBE_EVERY)
        {
            return;
        }
        self.probed = Some(Instant::now());
        // A failing producer is reported by the next page's fetch.
        let head = client.head_of(partition_id).await.ok().flatten();
        if let Some(head) = head.and_then(|head| head.position()) {
            metrics::lag(partition_id, head.saturating_sub(position));
        }
    }
}
