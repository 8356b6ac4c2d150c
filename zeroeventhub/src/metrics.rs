//! What the library reports through the `metrics` facade (feature
//! `metrics`; without it every function here is empty). The names, for
//! dashboards and alerts:
//!
//! | name | kind | labels | what |
//! | --- | --- | --- | --- |
//! | `zeroeventhub_consumer_events_total` | counter | `partition` | events applied (committed) |
//! | `zeroeventhub_consumer_pages_total` | counter | `partition` | pages committed |
//! | `zeroeventhub_consumer_errors_total` | counter | `kind`: `fetch`, `apply` (the handler or the store, page rolled back), `store` (leases), `lease_lost` | failures, each retried or fatal |
//! | `zeroeventhub_consumer_fetch_duration_seconds` | histogram | | one request, sent to page in hand (held long-polls included) |
//! | `zeroeventhub_consumer_last_event_age_seconds` | gauge | `partition` | time since the newest applied events were asked for, set at every answer (at least every long-poll) |
//! | `zeroeventhub_consumer_lag_events` | gauge | `partition` | events behind the producer's head, where cursors are positions (with `ConsumerConfig::lag_probe`, the head asked for at most that often while behind; 0 once caught up) |
//! | `zeroeventhub_consumer_seconds_behind` | gauge | `partition` | the age of the newest applied event, from its append time in `ConsumerConfig::time_header` (0 once caught up) |
//! | `zeroeventhub_producer_requests_total` | counter | `status` | requests answered |
//! | `zeroeventhub_producer_events_total` | counter | | events sent |
//! | `zeroeventhub_producer_response_duration_seconds` | histogram | | request to the end of its body (held long-polls included) |
//! | `zeroeventhub_producer_waiting_requests` | gauge | | long-polling requests held now |

#[cfg(any(feature = "consumer", feature = "server", feature = "metrics"))]
use std::time::Duration;

/// How old, at `now`, an event is whose append-time header holds `value`
/// (RFC 3339, as `zeroeventhub_sqlx::EventLog::with_time_header` writes
/// it). `None` when `value` is not such a time; zero for a time after
/// `now` (the producer's clock may be ahead).
///
/// The runtime's `zeroeventhub_consumer_seconds_behind` is this age for
/// the newest event of each committed page.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use zeroeventhub::metrics::append_age;
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// assert_eq!(append_age("2023-11-14T22:13:18.500Z", now), Some(Duration::from_millis(1_500)));
/// assert_eq!(append_age("2099-01-01T00:00:00Z", now), Some(Duration::ZERO));
/// assert_eq!(append_age("yesterday", now), None);
/// ```
#[cfg(feature = "metrics")]
pub fn append_age(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let appended = humantime::parse_rfc3339_weak(value.trim()).ok()?;
    Some(now.duration_since(appended).unwrap_or_default())
}

/// A page of `events` events of `partition_id` was committed.
#[cfg(feature = "consumer")]
pub(crate) fn page_committed(partition_id: u32, events: usize) {
    #[cfg(feature = "metrics")]
    {
        let partition = partition_id.to_string();
        metrics::counter!("zeroeventhub_consumer_pages_total", "partition" => partition.clone())
            .increment(1);
        metrics::counter!("zeroeventhub_consumer_events_total", "partition" => partition)
            .increment(events as u64);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (partition_id, events);
}

/// A consumer failure of this kind.
#[cfg(feature = "consumer")]
pub(crate) fn consumer_error(kind: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("zeroeventhub_consumer_errors_total", "kind" => kind).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = kind;
}

/// A fetch took `took`.
#[cfg(feature = "consumer")]
pub(crate) fn fetched(took: Duration) {
    #[cfg(feature = "metrics")]
    metrics::histogram!("zeroeventhub_consumer_fetch_duration_seconds").record(took.as_secs_f64());
    #[cfg(not(feature = "metrics"))]
    let _ = took;
}

/// The newest applied event of `partition_id` arrived `age` ago.
#[cfg(feature = "consumer")]
pub(crate) fn last_event_age(partition_id: u32, age: Duration) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("zeroeventhub_consumer_last_event_age_seconds", "partition" => partition_id.to_string())
        .set(age.as_secs_f64());
    #[cfg(not(feature = "metrics"))]
    let _ = (partition_id, age);
}

/// `partition_id` is `behind` events behind the producer's head.
#[cfg(all(feature = "consumer", feature = "metrics"))]
pub(crate) fn lag(partition_id: u32, behind: u64) {
    metrics::gauge!("zeroeventhub_consumer_lag_events", "partition" => partition_id.to_string())
        .set(behind as f64);
}

/// `partition_id`'s newest applied event was appended `behind` ago.
#[cfg(all(feature = "consumer", feature = "metrics"))]
pub(crate) fn seconds_behind(partition_id: u32, behind: Duration) {
    metrics::gauge!("zeroeventhub_consumer_seconds_behind", "partition" => partition_id.to_string())
        .set(behind.as_secs_f64());
}

/// A request was answered with `status` (its body may still stream).
#[cfg(feature = "server")]
pub(crate) fn request_answered(status: http::StatusCode) {
    #[cfg(feature = "metrics")]
    metrics::counter!("zeroeventhub_producer_requests_total", "status" => status.as_str().to_owned())
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = status;
}

/// A response's body ended after `events` events, `took` after its
/// request arrived.
#[cfg(feature = "server")]
pub(crate) fn response_sent(events: u64, took: Duration) {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("zeroeventhub_producer_events_total").increment(events);
        metrics::histogram!("zeroeventhub_producer_response_duration_seconds")
            .record(took.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (events, took);
}

/// A long-polling request starts (`1`) or stops (`-1`) waiting.
#[cfg(feature = "server")]
pub(crate) fn waiting(change: f64) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("zeroeventhub_producer_waiting_requests").increment(change);
    #[cfg(not(feature = "metrics"))]
    let _ = change;
}
