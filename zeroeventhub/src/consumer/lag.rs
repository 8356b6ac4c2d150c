//! How far behind the producer a partition is (feature `metrics`): in
//! events where cursors are positions (`zeroeventhub_consumer_lag_events`),
//! in seconds where events carry their append time
//! (`zeroeventhub_consumer_seconds_behind`).

use std::time::{Duration, Instant, SystemTime};

use crate::{Cursor, Event, client::Client, metrics};

/// One partition's lag reading: 0 once caught up; while behind, the
/// producer's head (a request from `_last`, with the version 2 `token`
/// when there is one) less the cursor, asked at most every `every` (never
/// without it).
#[derive(Debug)]
pub(super) struct LagProbe {
    every: Option<Duration>,
    token: Option<std::sync::Arc<str>>,
    probed: Option<Instant>,
}

impl LagProbe {
    pub(super) fn new(every: Option<Duration>, token: Option<std::sync::Arc<str>>) -> Self {
        LagProbe {
            every,
            token,
            probed: None,
        }
    }

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
        let Some(every) = self.every else {
            return;
        };
        if self.probed.is_some_and(|probed| probed.elapsed() < every) {
            return;
        }
        self.probed = Some(Instant::now());
        // A failing producer is reported by the next page's fetch.
        let head = match &self.token {
            Some(token) => client.head_of_partition(token, partition_id).await,
            None => client.head_of(partition_id).await,
        };
        let head = head.ok().flatten();
        if let Some(head) = head.and_then(|head| head.position()) {
            metrics::lag(partition_id, head.saturating_sub(position));
        }
    }
}

/// Sets `zeroeventhub_consumer_seconds_behind` after a page of `events`
/// committed: the age of the newest append time in header `name`, or 0
/// when the partition is caught up (no event).
pub(super) fn seconds_behind(partition_id: u32, events: &[Event], name: &str) {
    if events.is_empty() {
        metrics::seconds_behind(partition_id, Duration::ZERO);
        return;
    }
    let now = SystemTime::now();
    let behind = events
        .iter()
        .filter_map(|event| event.headers.as_ref()?.get(name))
        .filter_map(|time| metrics::append_age(time, now))
        .min();
    if let Some(behind) = behind {
        metrics::seconds_behind(partition_id, behind);
    }
}
