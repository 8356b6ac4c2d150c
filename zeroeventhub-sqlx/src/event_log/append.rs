//! Appending to the log in the caller's transaction: events with a type
//! or without one, through one code path.

use sqlx::Transaction;
use zeroeventhub::{Cursor, Event, server::UnknownPartition};

use super::{EventLog, changes, read};
use crate::{
    Error,
    backend::{Backend, Bind, statement},
};

/// An event and its type, for [`append_all_typed`](EventLog::append_all_typed)
/// and [`publish_typed`](EventLog::publish_typed): the type is what a
/// consumer's `event-types` and `skip-event-types` filters compare with
/// (case-insensitively). `None` appends the event without a type.
///
/// A type is stored as given. One that is empty or holds a `;` can never
/// be named in a filter (the lists are `;`-separated): such an event is
/// then dropped by every `event-types` and kept by every
/// `skip-event-types`.
///
/// # Examples
///
/// ```
/// use zeroeventhub::Event;
/// use zeroeventhub_sqlx::TypedEvent;
///
/// let placed = TypedEvent::new(Event::from_data(0, &"o1")?, "OrderPlaced");
/// assert_eq!(placed.event_type.as_deref(), Some("OrderPlaced"));
/// let untyped = TypedEvent::from(Event::from_data(0, &"o2")?);
/// assert_eq!(untyped.event_type, None);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TypedEvent {
    /// The event.
    pub event: Event,
    /// Its type, or `None` for none.
    pub event_type: Option<String>,
}

impl TypedEvent {
    /// `event`, of type `event_type`.
    pub fn new(event: Event, event_type: impl Into<String>) -> Self {
        TypedEvent {
            event,
            event_type: Some(event_type.into()),
        }
    }
}

impl From<Event> for TypedEvent {
    /// The event without a type.
    fn from(event: Event) -> Self {
        TypedEvent {
            event,
            event_type: None,
        }
    }
}

/// What an append writes of each item it is given: the event, and its
/// type if it has one.
trait Appendable {
    fn event(&self) -> &Event;
    fn event_type(&self) -> Option<&str>;
}

impl Appendable for Event {
    fn event(&self) -> &Event {
        self
    }

    fn event_type(&self) -> Option<&str> {
        None
    }
}

impl Appendable for TypedEvent {
    fn event(&self) -> &Event {
        &self.event
    }

    fn event_type(&self) -> Option<&str> {
        self.event_type.as_deref()
    }
}

impl Appendable for (&Event, &str) {
    fn event(&self) -> &Event {
        self.0
    }

    fn event_type(&self) -> Option<&str> {
        Some(self.1)
    }
}

impl<DB: Backend> EventLog<DB> {
    /// Appends `event` inside the caller's transaction `transaction`, and
    /// returns the event's cursor (its position in its partition). The
    /// event is part of the feed once the transaction commits, and never
    /// if it rolls back: write your state change and its event in the same
    /// transaction. The event has no type: event-type filters treat it as
    /// [`TypedEvent`] says; see [`append_typed`](EventLog::append_typed).
    ///
    /// On PostgreSQL this holds the partition's append lock until the
    /// transaction ends (see [Gap safety](EventLog#gap-safety)): append
    /// last, commit soon. A transaction appending to several partitions
    /// should use [`append_all`](EventLog::append_all), which locks them in
    /// a fixed order: separate appends in different orders in concurrent
    /// transactions may deadlock (PostgreSQL then aborts one of them).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownPartition`] when the event's partition is outside
    /// `0..partition_count`; [`Error::Database`] when the database
    /// refuses (the transaction is then best rolled back).
    pub async fn append(
        &self,
        transaction: &mut Transaction<'_, DB>,
        event: &Event,
    ) -> Result<Cursor, Error> {
        self.append_one(transaction, event).await
    }

    /// Appends `event` as an event of type `event_type`, as
    /// [`append`](EventLog::append) does: consumers can then keep or skip
    /// it by type (`event-types`, `skip-event-types`; see
    /// [Event-type filters](EventLog#event-type-filters)).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use sqlx::sqlite::SqlitePool;
    /// use zeroeventhub::{server::DataReader, Cursor, Event, EventTypeFilter, FeedLine, FeedRequest};
    /// use zeroeventhub_sqlx::EventLog;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let url = format!("sqlite://{}?mode=rwc", dir.path().join("orders.db").display());
    /// let pool = SqlitePool::connect(&url).await?;
    /// let log = EventLog::new(pool.clone(), 1);
    /// log.migrate().await?;
    ///
    /// let mut tx = pool.begin().await?;
    /// let placed = Event::from_data(0, &serde_json::json!({"order": "o1"}))?;
    /// log.append_typed(&mut tx, &placed, "OrderPlaced").await?;
    /// let paid = Event::from_data(0, &serde_json::json!({"order": "o1", "paid": true}))?;
    /// log.append_typed(&mut tx, &paid, "OrderPaid").await?;
    /// tx.commit().await?;
    ///
    /// // A consumer that wants only payments (types compare case-insensitively):
    /// let request = FeedRequest {
    ///     event_types: EventTypeFilter::only(["orderpaid"]),
    ///     ..FeedRequest::new(1, vec![Cursor::first(0)])
    /// };
    /// let lines: Vec<_> = log.read(request).collect().await;
    /// assert!(matches!(&lines[0], Ok(FeedLine::Event(e)) if e == &paid));
    /// // The final checkpoint is past both events, the skipped one too.
    /// assert!(matches!(lines.last(), Some(Ok(FeedLine::Checkpoint(c))) if c.as_str() == "2"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`append`](EventLog::append).
    pub async fn append_typed(
        &self,
        transaction: &mut Transaction<'_, DB>,
        event: &Event,
        event_type: &str,
    ) -> Result<Cursor, Error> {
        self.append_one(transaction, &(event, event_type)).await
    }

    /// Appends `events`, in order, inside the caller's transaction, and
    /// returns their cursors; see [`append`](EventLog::append). The
    /// partitions' locks (PostgreSQL) are taken in ascending order before
    /// the first event is written.
    ///
    /// # Errors
    ///
    /// As [`append`](EventLog::append); nothing is appended when a
    /// partition is unknown.
    pub async fn append_all(
        &self,
        transaction: &mut Transaction<'_, DB>,
        events: &[Event],
    ) -> Result<Vec<Cursor>, Error> {
        self.append_each(transaction, events).await
    }

    /// Appends `events`, each with its type (or none), in order, inside
    /// the caller's transaction, and returns their cursors: as
    /// [`append_all`](EventLog::append_all), with types.
    ///
    /// # Errors
    ///
    /// As [`append_all`](EventLog::append_all).
    pub async fn append_all_typed(
        &self,
        transaction: &mut Transaction<'_, DB>,
        events: &[TypedEvent],
    ) -> Result<Vec<Cursor>, Error> {
        self.append_each(transaction, events).await
    }

    /// Appends `events` in a transaction of its own and commits it: for
    /// events that go with no other change (imports, tools, tests).
    ///
    /// # Errors
    ///
    /// As [`append_all`](EventLog::append_all); nothing is appended on
    /// error.
    pub async fn publish(&self, events: &[Event]) -> Result<Vec<Cursor>, Error> {
        self.publish_each(events).await
    }

    /// Appends `events`, each with its type (or none), in a transaction of
    /// its own and commits it: [`publish`](EventLog::publish) with types.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(log: zeroeventhub_sqlx::SqliteEventLog) -> Result<(), Box<dyn std::error::Error>> {
    /// use zeroeventhub::Event;
    /// use zeroeventhub_sqlx::TypedEvent;
    ///
    /// log.publish_typed(&[
    ///     TypedEvent::new(Event::from_data(0, &"o1")?, "OrderPlaced"),
    ///     TypedEvent::from(Event::from_data(0, &"note")?), // no type
    /// ])
    /// .await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`publish`](EventLog::publish).
    pub async fn publish_typed(&self, events: &[TypedEvent]) -> Result<Vec<Cursor>, Error> {
        self.publish_each(events).await
    }

    async fn append_one<T: Appendable + Sync>(
        &self,
        transaction: &mut Transaction<'_, DB>,
        item: &T,
    ) -> Result<Cursor, Error> {
        let mut cursors = self
            .append_each(transaction, std::slice::from_ref(item))
            .await?;
        cursors
            .pop()
            .ok_or_else(|| Error::corrupt(&self.sql.table, "an append returned no position"))
    }

    async fn publish_each<T: Appendable + Sync>(&self, items: &[T]) -> Result<Vec<Cursor>, Error> {
        let mut transaction = self.pool.begin().await?;
        let cursors = self.append_each(&mut transaction, items).await?;
        transaction.commit().await?;
        self.changes.committed(&distinct_partitions(items));
        Ok(cursors)
    }

    /// Every append goes through here: `items` in order, with their types.
    async fn append_each<T: Appendable + Sync>(
        &self,
        transaction: &mut Transaction<'_, DB>,
        items: &[T],
    ) -> Result<Vec<Cursor>, Error> {
        if let Some(event) = items
            .iter()
            .map(Appendable::event)
            .find(|event| event.partition_id >= self.partition_count)
        {
            return Err(UnknownPartition {
                partition_id: event.partition_id,
                partition_count: self.partition_count,
            }
            .into());
        }
        let connection: &mut DB::Connection = transaction;
        if let Some(lock) = &self.sql.lock {
            for partition_id in distinct_partitions(items) {
                let query = statement::<DB>(lock).int(partition_id.into());
                DB::execute(connection, query).await?;
            }
        }
        let mut cursors = Vec::with_capacity(items.len());
        for item in items {
            let event = item.event();
            let query = statement::<DB>(&self.sql.insert)
                .int(event.partition_id.into())
                .opt_text(headers_json(event))
                .text(event.data.get())
                .opt_text(item.event_type().map(str::to_owned));
            let rows = DB::fetch_all(connection, query).await?;
            let position = match rows.first() {
                Some(row) => DB::get_int(row, 0)?,
                None => return Err(Error::corrupt(&self.sql.table, "an append returned no row")),
            };
            cursors.push(read::position_cursor(event.partition_id, position));
        }
        if let Some(notify) = &self.sql.notify {
            let partitions = distinct_partitions(items);
            let partitions = changes::partition_list(&partitions);
            DB::execute(connection, statement::<DB>(notify).text(partitions)).await?;
        }
        self.changes.appended();
        Ok(cursors)
    }
}

/// The partitions of `items`, ascending, each once.
fn distinct_partitions<T: Appendable>(items: &[T]) -> Vec<u32> {
    let mut partitions: Vec<u32> = items.iter().map(|item| item.event().partition_id).collect();
    partitions.sort_unstable();
    partitions.dedup();
    partitions
}

/// The event's headers in the form an [`EventLog`] stores them: a JSON
/// object of strings (names in order), or `None` (NULL) when the event has
/// no headers or an empty map.
fn headers_json(event: &Event) -> Option<String> {
    let headers = event
        .headers
        .as_ref()
        .filter(|headers| !headers.is_empty())?;
    // A map of strings to strings always serializes.
    serde_json::to_string(headers).ok()
}
