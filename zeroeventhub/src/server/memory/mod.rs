//! An event log in memory: a complete [`DataReader`] for tests, examples
//! and prototypes. Changing its partitions (version 2) is in
//! `partitions.rs`, its errors in `error.rs`.

mod error;
mod partitions;

pub use error::{AppendError, SplitError, UnknownPartition};

use std::{
    ops::Range,
    sync::{Arc, PoisonError, RwLock},
};

use futures_core::Stream;
use futures_util::{future::Either, stream};
use serde_json::value::RawValue;

use super::{ChangeNotifier, DataReader, Partitioned, ReadError, parse_position, position_cursor};
use crate::{
    Cursor, Event, EventTypeFilter, FeedLine, FeedRequest, HeaderSelection,
    v2::{Discovery, PartitionInfo},
};

/// The page size used when a request gives no `pagesizehint`.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;

/// An append-only event log in memory, served as a feed.
///
/// Each partition is a list of events. The cursor of the k-th event
/// (1-based) of a partition is `"k"`: `"0"` and `_first` mean before the
/// first event, `_last` the current end. (After a
/// [redistributing split](MemoryLog::split_redistributing), an event keeps
/// the position it had in its parent, and new events follow the parent's
/// last: a cursor of the parent is a valid start on each child.) A request gets, partition by
/// partition in ascending order, the events after each cursor, at most the
/// page size hint in total, a checkpoint after each event, and at the end
/// a checkpoint for every requested partition, even one that returned no
/// event. Headers are included as requested. A cursor that is not `_first`,
/// `_last` or a position in `0..=len` is refused as the client's fault.
///
/// Clones share the log: append through one, serve through another. An
/// append wakes the long-polling requests waiting for its partition.
///
/// It serves version 2 as well (its [discovery](DataReader::discovery)
/// lists its partitions, token `"1"` at first), and applies event-type
/// filters to events appended with a type
/// ([`append_typed`](MemoryLog::append_typed)). To put a consumer through
/// the cases of version 2, it can [`close`](MemoryLog::close) a partition
/// and split one by either method ([`split`](MemoryLog::split),
/// [`split_redistributing`](MemoryLog::split_redistributing)); each
/// changes the token.
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
    state: Arc<RwLock<State>>,
    default_page_size: u32,
    changes: ChangeNotifier,
}

/// The partitions (ids `0..len`), how often they changed (the token), and
/// the discovery that lists them, made at each change and shared by every
/// request until the next.
#[derive(Debug)]
struct State {
    partitions: Vec<Partition>,
    generation: u64,
    discovery: Arc<Discovery>,
}

#[derive(Debug)]
struct Partition {
    /// Ascending by position.
    events: Vec<Stored>,
    /// The position of its latest event, or the one it started after.
    end: u64,
    info: PartitionInfo,
    /// Whether the discovery lists it: not once its events were
    /// redistributed to its children.
    listed: bool,
}

impl Partition {
    fn open(id: u32) -> Self {
        Partition {
            events: Vec::new(),
            end: 0,
            info: PartitionInfo::open(id),
            listed: true,
        }
    }
}

#[derive(Debug)]
struct Stored {
    /// Its cursor: 1-based, unique in the partition's line of ancestors.
    position: u64,
    event: Event,
    event_type: Option<Box<str>>,
}

impl MemoryLog {
    /// An empty log of `partition_count` partitions.
    pub fn new(partition_count: u32) -> Self {
        let partitions = (0..partition_count).map(Partition::open).collect();
        let mut state = State {
            partitions,
            generation: 0,
            // Made by `changed`, right below.
            discovery: Arc::new(Discovery {
                token: String::new(),
                exactly_once: true,
                partitions: Vec::new(),
            }),
        };
        state.changed();
        MemoryLog {
            state: Arc::new(RwLock::new(state)),
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

    /// The number of partitions (split ones included).
    pub fn partition_count(&self) -> u32 {
        self.read_lock().partitions.len() as u32
    }

    /// The number of events in `partition_id` (0 for an unknown partition).
    /// A partition whose events were redistributed keeps them.
    pub fn len(&self, partition_id: u32) -> usize {
        self.read_lock()
            .partitions
            .get(partition_id as usize)
            .map_or(0, |partition| partition.events.len())
    }

    /// Whether the whole log is empty.
    pub fn is_empty(&self) -> bool {
        self.read_lock()
            .partitions
            .iter()
            .all(|partition| partition.events.is_empty())
    }

    /// Appends `event` to its partition and returns the event's cursor.
    ///
    /// # Errors
    ///
    /// Fails when the event's partition is outside `0..partition_count`
    /// or closed.
    pub fn append(&self, event: Event) -> Result<Cursor, AppendError> {
        self.store(event, None)
    }

    /// Appends `event` as an event of type `event_type`, for event-type
    /// filters (`event-types`, `skip-event-types`); an event appended
    /// without a type is dropped by `event-types` and kept by
    /// `skip-event-types`.
    ///
    /// # Errors
    ///
    /// As [`append`](MemoryLog::append).
    pub fn append_typed(&self, event: Event, event_type: &str) -> Result<Cursor, AppendError> {
        self.store(event, Some(event_type.into()))
    }

    fn store(&self, event: Event, event_type: Option<Box<str>>) -> Result<Cursor, AppendError> {
        let mut state = self.write_lock();
        let partition_id = event.partition_id;
        let partition = state.partition_mut(partition_id)?;
        if !partition.listed {
            return Err(AppendError::Redistributed { partition_id });
        }
        if partition.info.closed {
            return Err(AppendError::Closed { partition_id });
        }
        partition.end += 1;
        let position = partition.end;
        partition.events.push(Stored {
            position,
            event,
            event_type,
        });
        let cursor = position_cursor(partition_id, position);
        drop(state);
        self.changes.notify(partition_id);
        Ok(cursor)
    }

    /// The version 2 token now: it changes with every
    /// [`close`](MemoryLog::close) and [`split`](MemoryLog::split).
    pub fn token(&self) -> String {
        self.read_lock().generation.to_string()
    }

    fn read_lock(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_lock(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The event at `index` of `partition_id` with the selected headers,
    /// and its position; no event when `filter` drops it.
    fn event(
        &self,
        partition_id: u32,
        index: usize,
        headers: &HeaderSelection,
        filter: &EventTypeFilter,
    ) -> Option<(u64, Option<Event>)> {
        let state = self.read_lock();
        let stored = state
            .partitions
            .get(partition_id as usize)?
            .events
            .get(index)?;
        if !filter.keeps(stored.event_type.as_deref()) {
            return Some((stored.position, None));
        }
        let event = &stored.event;
        let event = Event {
            partition_id,
            headers: headers.select(event.headers.as_ref()),
            data: event.data.clone(),
        };
        Some((stored.position, Some(event)))
    }

    /// Plans a response from the log as it is now: for each requested
    /// partition, the range of its events to send, and the position of
    /// the checkpoint that ends it.
    fn plan(&self, request: &FeedRequest) -> Result<Vec<(u32, Range<usize>, u64)>, ReadError> {
        let state = self.read_lock();
        let mut budget = request
            .page_size_hint
            .filter(|&hint| hint > 0)
            .unwrap_or(self.default_page_size) as usize;
        let mut plan = Vec::with_capacity(request.cursors.len());
        for cursor in &request.cursors {
            let (events, end): (&[Stored], u64) = state
                .partitions
                .get(cursor.partition_id() as usize)
                .map_or((&[], 0), |partition| (&partition.events, partition.end));
            let after = parse_position(cursor, end)?;
            let start = events.partition_point(|stored| stored.position <= after);
            let stop = events.len().min(start + budget);
            budget -= stop - start;
            let checkpoint = if stop == events.len() {
                end
            } else if stop > start {
                events[stop - 1].position
            } else {
                after
            };
            plan.push((cursor.partition_id(), start..stop, checkpoint));
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
        let filter = request.event_types;
        let ends: Vec<_> = plan
            .iter()
            .map(|(partition_id, _, end)| position_cursor(*partition_id, *end))
            .collect();
        let lines = plan
            .into_iter()
            .flat_map(|(partition_id, range, _)| range.map(move |index| (partition_id, index)))
            .flat_map(move |(partition_id, index)| {
                // An event filtered away sends nothing: the next
                // checkpoint moves past it.
                let (position, event) = log
                    .event(partition_id, index, &headers, &filter)
                    .unwrap_or((0, None));
                let checkpoint = event
                    .as_ref()
                    .map(|_| FeedLine::Checkpoint(position_cursor(partition_id, position)));
                event.map(FeedLine::Event).into_iter().chain(checkpoint)
            })
            .chain(ends.into_iter().map(FeedLine::Checkpoint))
            .map(Ok);
        Either::Right(stream::iter(lines))
    }

    fn changes(&self) -> Option<&ChangeNotifier> {
        Some(&self.changes)
    }

    fn discovery(&self) -> Option<Arc<Discovery>> {
        Some(Arc::clone(&self.read_lock().discovery))
    }
}

impl State {
    /// After a change of the partitions: a new token, and the discovery
    /// that lists them.
    fn changed(&mut self) {
        self.generation += 1;
        self.discovery = Arc::new(Discovery {
            token: self.generation.to_string(),
            exactly_once: true,
            partitions: self
                .partitions
                .iter()
                .filter(|partition| partition.listed)
                .map(|partition| partition.info.clone())
                .collect(),
        });
    }

    fn partition_mut(&mut self, partition_id: u32) -> Result<&mut Partition, UnknownPartition> {
        let partition_count = self.partitions.len() as u32;
        self.partitions
            .get_mut(partition_id as usize)
            .ok_or(UnknownPartition {
                partition_id,
                partition_count,
            })
    }
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
