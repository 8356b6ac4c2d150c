//! An event log in memory: a complete [`DataReader`] for tests, examples
//! and prototypes.

use std::{
    ops::Range,
    sync::{Arc, PoisonError, RwLock},
};

use futures_core::Stream;
use futures_util::{future::Either, stream};
use serde_json::value::RawValue;

use super::{ChangeNotifier, DataReader, Partitioned, ReadError, parse_position, position_cursor};
use crate::{Cursor, Event, FeedLine, FeedRequest, HeaderSelection};

/// The page size used when a request gives no `pagesizehint`.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;

/// An append-only event log in memory, served as a feed.
///
/// Each partition is a list of events. The cursor of the k-th event
/// (1-based) of a partition is `"k"`: `"0"` and `_first` mean before the
/// first event, `_last` the current end. A request gets, partition by
/// partition in ascending order, the events after each cursor, at most the
/// page size hint in total, a checkpoint after each event, and at the end
/// a checkpoint for every requested partition, even one that returned no
/// event. Headers are included as requested. A cursor that is not `_first`,
/// `_last` or a position in `0..=len` is refused as the client's fault.
///
/// Clones share the log: append through one, serve through another. An
/// append wakes the long-polling requests waiting for its partition.
///
/// # Examples
///
/// ```
/// use futures_util::StreamExt;
/// use zeroeventhub::{server::{DataReader, MemoryLog}, Cursor, Event, FeedRequest, FeedLine};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let log = MemoryLog::new(2);
/// log.append(Event::from_data(1, "hello").unwrap()).unwrap();
/// let lines: Vec<_> = log.read(FeedRequest::new(2, vec![Cursor::first(1)])).collect().await;
/// assert!(matches!(lines[0], Ok(FeedLine::Event(_))));
/// assert!(matches!(&lines[1], Ok(FeedLine::Checkpoint(c)) if c.as_str() == "1"));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct MemoryLog {
    partitions: Arc<RwLock<Vec<Vec<Event>>>>,
    default_page_size: u32,
    changes: ChangeNotifier,
}

impl MemoryLog {
    /// An empty log of `partition_count` partitions.
    pub fn new(partition_count: u32) -> Self {
        MemoryLog {
            partitions: Arc::new(RwLock::new(vec![Vec::new(); partition_count as usize])),
            default_page_size: DEFAULT_PAGE_SIZE,
            changes: ChangeNotifier::new(partition_count),
        }
    }

    /// Sets the page size for requests without a hint (default
    /// [`DEFAULT_PAGE_SIZE`]).
    #[must_use]
    pub fn with_default_page_size(mut self, page_size: u32) -> Self {
        self.default_page_size = page_size.max(1);
        self
    }

    /// The number of partitions.
    pub fn partition_count(&self) -> u32 {
        self.read_lock().len() as u32
    }

    /// The number of events in `partition_id` (0 for an unknown partition).
    pub fn len(&self, partition_id: u32) -> usize {
        self.read_lock()
            .get(partition_id as usize)
            .map_or(0, Vec::len)
    }

    /// Whether the whole log is empty.
    pub fn is_empty(&self) -> bool {
        self.read_lock().iter().all(Vec::is_empty)
    }

    /// Appends `event` to its partition and returns the event's cursor.
    ///
    /// # Errors
    ///
    /// Fails when the event's partition is outside `0..partition_count`.
    pub fn append(&self, event: Event) -> Result<Cursor, UnknownPartition> {
        let mut partitions = self
            .partitions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let count = partitions.len() as u32;
        let partition_id = event.partition_id;
        let partition = partitions
            .get_mut(partition_id as usize)
            .ok_or(UnknownPartition {
                partition_id,
                partition_count: count,
            })?;
        partition.push(event);
        let cursor = position_cursor(partition_id, partition.len() as u64);
        drop(partitions);
        self.changes.notify(partition_id);
        Ok(cursor)
    }

    fn read_lock(&self) -> std::sync::RwLockReadGuard<'_, Vec<Vec<Event>>> {
        self.partitions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The event at `index` of `partition_id`, with the selected headers.
    fn event(&self, partition_id: u32, index: usize, headers: &HeaderSelection) -> Option<Event> {
        let partitions = self.read_lock();
        let event = partitions.get(partition_id as usize)?.get(index)?;
        Some(Event {
            partition_id,
            headers: headers.select(event.headers.as_ref()),
            data: event.data.clone(),
        })
    }

    /// Plans a response from the log as it is now: for each requested
    /// partition, the range of positions to send.
    fn plan(&self, request: &FeedRequest) -> Result<Vec<(u32, Range<usize>)>, ReadError> {
        let partitions = self.read_lock();
        let mut budget = request
            .page_size_hint
            .filter(|&hint| hint > 0)
            .unwrap_or(self.default_page_size) as usize;
        let mut plan = Vec::with_capacity(request.cursors.len());
        for cursor in &request.cursors {
            let len = partitions
                .get(cursor.partition_id() as usize)
                .map_or(0, Vec::len);
            let start = parse_position(cursor, len as u64)? as usize;
            let end = len.min(start + budget);
            budget -= end - start;
            plan.push((cursor.partition_id(), start..end));
        }
        Ok(plan)
    }
}

impl Partitioned for MemoryLog {
    fn partition_count(&self) -> u32 {
        MemoryLog::partition_count(self)
    }
}

impl DataReader for MemoryLog {
    type Data = Box<RawValue>;

    fn read(
        &self,
        request: FeedRequest,
    ) -> impl Stream<Item = Result<FeedLine, ReadError>> + Send + 'static {
        let plan = match self.plan(&request) {
            Ok(plan) => plan,
            Err(error) => return Either::Left(stream::iter([Err(error)])),
        };
        // Lines are made one at a time as the body is sent, not all at once.
        let log = self.clone();
        let headers = request.headers;
        let ends: Vec<_> = plan
            .iter()
            .map(|(partition_id, range)| position_cursor(*partition_id, range.end as u64))
            .collect();
        let lines = plan
            .into_iter()
            .flat_map(|(partition_id, range)| range.map(move |index| (partition_id, index)))
            .flat_map(move |(partition_id, index)| {
                let event = log
                    .event(partition_id, index, &headers)
                    .map(FeedLine::Event);
                let checkpoint =
                    FeedLine::Checkpoint(position_cursor(partition_id, index as u64 + 1));
                event.into_iter().chain([checkpoint])
            })
            .chain(ends.into_iter().map(FeedLine::Checkpoint))
            .map(Ok);
        Either::Right(stream::iter(lines))
    }

    fn changes(&self) -> Option<&ChangeNotifier> {
        Some(&self.changes)
    }
}

/// An event for a partition the log does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("partition {partition_id} is outside 0..{partition_count}")]
pub struct UnknownPartition {
    /// The event's partition.
    pub partition_id: u32,
    /// The log's partition count.
    pub partition_count: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn log() -> MemoryLog {
        let log = MemoryLog::new(2);
        for n in 0..3 {
            let event = Event::from_data(0, &n)
                .unwrap()
                .with_header("n", n.to_string());
            log.append(event).unwrap();
        }
        log.append(Event::from_data(1, &10).unwrap()).unwrap();
        log
    }

    async fn read(log: &MemoryLog, request: FeedRequest) -> Vec<String> {
        log.read(request)
            .map(|line| match line {
                Ok(FeedLine::Event(e)) => {
                    format!("{} {} {:?}", e.partition_id, e.data_json(), e.headers)
                }
                Ok(FeedLine::Checkpoint(c)) => c.to_string(),
                Err(error) => format!("error: {error}"),
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn page_size_limits_the_whole_response() {
        let request = FeedRequest {
            page_size_hint: Some(2),
            headers: HeaderSelection::names(["n"]),
            ..FeedRequest::new(2, vec![Cursor::new(0, "1").unwrap(), Cursor::first(1)])
        };
        assert_eq!(
            read(&log(), request).await,
            [
                "0 1 Some({\"n\": \"1\"})",
                "0=2",
                "0 2 Some({\"n\": \"2\"})",
                "0=3",
                "0=3",
                "1=0",
            ]
        );
    }

    #[tokio::test]
    async fn last_is_the_current_end() {
        let request = FeedRequest::new(2, vec![Cursor::last(0), Cursor::last(1)]);
        assert_eq!(read(&log(), request).await, ["0=3", "1=1"]);
    }

    #[tokio::test]
    async fn unknown_cursor_is_the_clients_fault() {
        for bad in ["4", "x", "+1", "-1"] {
            let request = FeedRequest::new(2, vec![Cursor::new(0, bad).unwrap()]);
            let lines = read(&log(), request).await;
            assert_eq!(lines.len(), 1);
            assert!(
                lines[0].starts_with("error: bad request: parameter cursor0"),
                "{lines:?}"
            );
        }
    }

    /// Regression: raw data with newlines between its tokens must reach
    /// the consumer on one line, as the same value.
    #[tokio::test]
    async fn raw_data_with_newlines_is_served_on_one_line() {
        let log = MemoryLog::new(1);
        let raw = "{\r\n  \"a\": [\n1,\t2],\n  \"s\": \"x\\ny\"\n}";
        let data = serde_json::value::RawValue::from_string(raw.to_owned()).unwrap();
        log.append(Event::new(0, data)).unwrap();
        let super::super::FeedResponse::Stream(body) = super::super::Feed::from(log)
            .respond("n=1&cursor0=_first")
            .await
        else {
            panic!("the request is valid")
        };
        let chunks: Vec<_> = body.map(|chunk| chunk.unwrap()).collect().await;
        let mut decoder = crate::ndjson::Decoder::<serde_json::Value>::typed();
        let mut values = Vec::new();
        for chunk in &chunks {
            decoder.push(chunk);
            while let Some(line) = decoder.decode().expect("every line decodes") {
                if let FeedLine::Event(event) = line {
                    values.push(event.data);
                }
            }
        }
        assert_eq!(
            values,
            [serde_json::from_str::<serde_json::Value>(raw).unwrap()]
        );
    }

    #[test]
    fn append_to_unknown_partition_fails() {
        let error = log().append(Event::from_data(2, &0).unwrap()).unwrap_err();
        assert_eq!(error.to_string(), "partition 2 is outside 0..2");
    }
}
