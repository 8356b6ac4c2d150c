//! A whole response, sorted into what a consumer can safely apply.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::{Cursor, Event, FeedLine};

/// The lines of one response, sorted for exactly-once processing: per
/// partition, the latest checkpoint and the events it covers.
///
/// A checkpoint covers the events of its partition that arrived before it.
/// Events that arrive after the last checkpoint of their partition are
/// *not* covered: no cursor in the page resumes after them, so a consumer
/// that applied them and stored the earlier cursor would receive them again
/// on the next request and apply them twice. The page keeps them apart
/// ([`uncovered_events`](Page::uncovered_events)); a consumer simply does
/// not apply them, and gets them again next time with a checkpoint.
///
/// The exactly-once recipe: in one database transaction, apply
/// [`events`](Page::events) and store [`cursors`](Page::cursors).
///
/// # Examples
///
/// ```
/// use zeroeventhub::{Cursor, Event, FeedLine, Page};
///
/// let lines = vec![
///     FeedLine::Event(Event::from_data(0, "a")?),
///     FeedLine::Checkpoint(Cursor::new(0, "1").unwrap()),
///     FeedLine::Event(Event::from_data(0, "b")?), // after the last checkpoint
/// ];
/// let page: Page = lines.into_iter().collect();
/// assert_eq!(page.events().len(), 1);
/// assert_eq!(page.cursor(0).unwrap().as_str(), "1");
/// assert_eq!(page.uncovered_events().count(), 1);
///
/// let next = page.advance_cursors(&[Cursor::first(0), Cursor::first(1)]);
/// assert_eq!(next, [Cursor::new(0, "1").unwrap(), Cursor::first(1)]);
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// `Page<T>` holds events whose data was deserialized into `T`, from
/// [`FetchBuilder::page_as`](crate::client::FetchBuilder::page_as) or
/// [`Page::into_typed`].
#[derive(Debug, Clone)]
pub struct Page<D = Box<RawValue>> {
    events: Vec<Event<D>>,
    cursors: BTreeMap<u32, Cursor>,
    pending: BTreeMap<u32, Vec<Event<D>>>,
    /// For each checkpoint that covered events: the end of its events in
    /// `events`, and the checkpoint. Ascending ends.
    coverage: Vec<(usize, Cursor)>,
}

impl<D> Default for Page<D> {
    fn default() -> Self {
        Page {
            events: Vec::new(),
            cursors: BTreeMap::new(),
            pending: BTreeMap::new(),
            coverage: Vec::new(),
        }
    }
}

impl<D> Page<D> {
    /// An empty page.
    pub fn new() -> Self {
        Page::default()
    }

    /// Adds the next line of the response.
    pub fn push(&mut self, line: FeedLine<D>) {
        match line {
            FeedLine::Event(event) => self
                .pending
                .entry(event.partition_id)
                .or_default()
                .push(event),
            FeedLine::Checkpoint(cursor) => {
                if let Some(covered) = self.pending.remove(&cursor.partition_id()) {
                    self.events.extend(covered);
                    self.coverage.push((self.events.len(), cursor.clone()));
                }
                self.cursors.insert(cursor.partition_id(), cursor);
            }
        }
    }

    /// The events covered by a checkpoint, in the order received within
    /// each partition: the events to apply.
    pub fn events(&self) -> &[Event<D>] {
        &self.events
    }

    /// The checkpoint that covers `events()[index]`: the first after it in
    /// its partition. A consumer that stored it has applied that event, so
    /// it identifies the event (an idempotency key, a name in a log).
    ///
    /// ```
    /// use zeroeventhub::{Cursor, Event, FeedLine, Page};
    ///
    /// let mut page = Page::new();
    /// page.push(FeedLine::Event(Event::from_data(0, &"a")?));
    /// page.push(FeedLine::Event(Event::from_data(0, &"b")?));
    /// page.push(FeedLine::Checkpoint(Cursor::new(0, "2").unwrap()));
    /// page.push(FeedLine::Event(Event::from_data(0, &"c")?));
    /// page.push(FeedLine::Checkpoint(Cursor::new(0, "3").unwrap()));
    /// assert_eq!(page.checkpoint_of(1), Some(&Cursor::new(0, "2").unwrap()));
    /// assert_eq!(page.checkpoint_of(2), Some(&Cursor::new(0, "3").unwrap()));
    /// assert_eq!(page.checkpoint_of(3), None);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn checkpoint_of(&self, index: usize) -> Option<&Cursor> {
        let covering = self.coverage.partition_point(|(end, _)| *end <= index);
        self.coverage.get(covering).map(|(_, cursor)| cursor)
    }

    /// The covered events, each with the checkpoint that covers it (see
    /// [`checkpoint_of`](Page::checkpoint_of)).
    pub fn covered(&self) -> impl Iterator<Item = (&Event<D>, &Cursor)> + '_ {
        let mut start = 0;
        self.coverage.iter().flat_map(move |(end, cursor)| {
            let events = &self.events[start..*end];
            start = *end;
            events.iter().map(move |event| (event, cursor))
        })
    }

    /// The latest checkpoint of each partition that had one, by partition:
    /// the cursors to store with the effects of [`events`](Page::events).
    pub fn cursors(&self) -> impl ExactSizeIterator<Item = &Cursor> + '_ {
        self.cursors.values()
    }

    /// The latest checkpoint of `partition_id`, if the page has one.
    pub fn cursor(&self, partition_id: u32) -> Option<&Cursor> {
        self.cursors.get(&partition_id)
    }

    /// Events received after the last checkpoint of their partition. Do
    /// not apply them: no cursor of this page moves past them.
    pub fn uncovered_events(&self) -> impl Iterator<Item = &Event<D>> + '_ {
        self.pending.values().flatten()
    }

    /// Whether the page holds no covered event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The number of covered events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// `cursors` with each replaced by this page's latest checkpoint for
    /// its partition, when there is one: the cursors of the next request.
    pub fn advance_cursors(&self, cursors: &[Cursor]) -> Vec<Cursor> {
        cursors
            .iter()
            .map(|c| self.cursor(c.partition_id()).unwrap_or(c).clone())
            .collect()
    }

    /// Consumes the page: the covered events and the latest cursors.
    pub fn into_parts(self) -> (Vec<Event<D>>, Vec<Cursor>) {
        (self.events, self.cursors.into_values().collect())
    }
}

impl Page {
    /// Deserializes the data of every covered event into `T`.
    ///
    /// # Errors
    ///
    /// Names the first event whose data does not match `T`.
    pub fn into_typed<T: DeserializeOwned>(self) -> Result<Page<T>, TypedPageError> {
        let typed = |events: Vec<Event>, offset: usize| {
            events
                .into_iter()
                .enumerate()
                .map(|(index, event)| {
                    let data = event.data_as().map_err(|source| TypedPageError {
                        index: offset + index,
                        partition_id: event.partition_id,
                        source,
                    })?;
                    Ok(Event {
                        partition_id: event.partition_id,
                        headers: event.headers,
                        data,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let covered = self.events.len();
        let mut pending = BTreeMap::new();
        for (partition_id, events) in self.pending {
            pending.insert(partition_id, typed(events, covered)?);
        }
        Ok(Page {
            events: typed(self.events, 0)?,
            cursors: self.cursors,
            pending,
            coverage: self.coverage,
        })
    }
}

impl PartialEq for Page {
    fn eq(&self, other: &Self) -> bool {
        self.events == other.events
            && self.cursors == other.cursors
            && self.pending == other.pending
    }
}

impl Eq for Page {}

impl<D> Extend<FeedLine<D>> for Page<D> {
    fn extend<I: IntoIterator<Item = FeedLine<D>>>(&mut self, lines: I) {
        lines.into_iter().for_each(|line| self.push(line));
    }
}

impl<D> FromIterator<FeedLine<D>> for Page<D> {
    fn from_iter<I: IntoIterator<Item = FeedLine<D>>>(lines: I) -> Self {
        let mut page = Page::new();
        page.extend(lines);
        page
    }
}

/// An event of a page whose data does not match the requested type.
#[derive(Debug, thiserror::Error)]
#[error("event {index} of the page (partition {partition_id}) does not match the type")]
pub struct TypedPageError {
    /// The event's 0-based index among the page's events (covered ones
    /// first, then the uncovered).
    pub index: usize,
    /// The event's partition.
    pub partition_id: u32,
    /// The deserialization error.
    pub source: serde_json::Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(partition_id: u32, n: u32) -> FeedLine {
        Event::from_data(partition_id, &n).unwrap().into()
    }

    fn checkpoint(partition_id: u32, cursor: &str) -> FeedLine {
        Cursor::new(partition_id, cursor).unwrap().into()
    }

    #[test]
    fn page_covers_events_up_to_last_checkpoint_per_partition() {
        let page: Page = [
            event(0, 1),
            event(1, 10),
            checkpoint(0, "a"),
            event(0, 2),
            checkpoint(1, "b"),
            event(1, 11),
            event(0, 3),
            checkpoint(0, "c"),
            event(0, 4),
        ]
        .into_iter()
        .collect();
        let covered: Vec<u32> = page.events().iter().map(|e| e.data_as().unwrap()).collect();
        assert_eq!(covered, [1, 10, 2, 3]);
        let cursors: Vec<String> = page.cursors().map(Cursor::to_string).collect();
        assert_eq!(cursors, ["0=c", "1=b"]);
        let uncovered: Vec<u32> = page
            .uncovered_events()
            .map(|e| e.data_as().unwrap())
            .collect();
        assert_eq!(uncovered, [4, 11]);
    }

    #[test]
    fn each_covered_event_has_the_checkpoint_that_covers_it() {
        let page: Page = [
            event(0, 1),
            event(1, 10),
            checkpoint(0, "a"),
            event(0, 2),
            checkpoint(1, "b"),
            event(0, 3),
            checkpoint(0, "c"),
        ]
        .into_iter()
        .collect();
        let covered: Vec<(u32, String)> = page
            .covered()
            .map(|(event, cursor)| (event.data_as().unwrap(), cursor.to_string()))
            .collect();
        let expected = [(1, "0=a"), (10, "1=b"), (2, "0=c"), (3, "0=c")];
        let expected: Vec<(u32, String)> =
            expected.iter().map(|(n, c)| (*n, c.to_string())).collect();
        assert_eq!(covered, expected);
        for (index, (_, cursor)) in expected.iter().enumerate() {
            assert_eq!(&page.checkpoint_of(index).unwrap().to_string(), cursor);
        }
    }

    #[test]
    fn page_with_only_checkpoints_still_moves_cursors() {
        let page: Page = [checkpoint(2, "x")].into_iter().collect();
        assert!(page.is_empty());
        assert_eq!(
            page.advance_cursors(&[Cursor::last(2)]),
            [Cursor::new(2, "x").unwrap()]
        );
    }

    #[test]
    fn typed_page_names_the_event_that_does_not_match() {
        let page: Page = [
            event(0, 1),
            event(1, 2),
            checkpoint(0, "a"),
            checkpoint(1, "b"),
        ]
        .into_iter()
        .collect();
        let typed = page.clone().into_typed::<u8>().unwrap();
        assert_eq!(typed.events()[1].data, 2);
        assert_eq!(typed.cursors().len(), 2);
        let error = page.into_typed::<String>().unwrap_err();
        assert_eq!((error.index, error.partition_id), (0, 0));
    }
}
