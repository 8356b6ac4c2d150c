//! Serving the log as a feed: the [`DataReader`] of an [`EventLog`].

use std::sync::Arc;

use futures_core::Stream;
use serde_json::value::RawValue;
use zeroeventhub::{
    Cursor, Event, EventTypeFilter, FeedLine, FeedRequest, HeaderSelection, Headers,
    server::{self, ChangeNotifier, DataReader, Partitioned, ReadError, parse_position},
    v2::Discovery,
};

use super::EventLog;
use crate::{
    Error,
    backend::{Backend, Bind, statement},
};

/// How many rows a read fetches per query: a page is read in keyset chunks
/// of this size, so memory stays bounded and no connection is held while
/// the consumer receives the lines.
pub const READ_CHUNK: u32 = 256;

/// The most rows a request with an event-type filter examines, unless its
/// page size is larger or the log says otherwise
/// ([`with_scan_limit`](EventLog::with_scan_limit)).
pub const DEFAULT_SCAN_LIMIT: u32 = 10_000;

impl<DB: Backend> Partitioned for EventLog<DB> {
    fn partition_count(&self) -> u32 {
        EventLog::partition_count(self)
    }
}

impl<DB: Backend> DataReader for EventLog<DB> {
    type Data = Box<RawValue>;

    fn read(
        &self,
        request: FeedRequest,
    ) -> impl Stream<Item = Result<FeedLine, ReadError>> + Send + 'static {
        let log = self.clone();
        async_stream::try_stream! {
            let FeedRequest { mut cursors, page_size_hint, headers, event_types, .. } = request;
            // "Events after each requested cursor in ascending partition order."
            cursors.sort_by_key(Cursor::partition_id);
            let filter = filter_of(event_types);
            let page_size = page_size_hint.filter(|&hint| hint > 0).unwrap_or(log.default_page_size);
            // `budget`: the events still to send; `scan`: the rows still to
            // examine. Without a filter, each row examined is sent: the two
            // are one. With one, the hint counts what is sent, and the scan
            // is bounded on its own, so that a filter matching nothing
            // costs a bounded read and ends at the last row it examined.
            let mut budget = i64::from(page_size);
            let mut scan = match filter {
                None => budget,
                Some(_) => i64::from(page_size.max(log.scan_limit)),
            };
            let typed = filter.is_some();

            // Every cursor is checked before the first line, so that an
            // unknown one is refused with 400 rather than a cut-off body.
            // The check comes with each partition's first chunk, all read
            // on one connection: a request costs one query per partition
            // (more only for a page larger than a chunk), also when it
            // finds nothing and waits, or is woken and reads again.
            let mut firsts = Vec::with_capacity(cursors.len());
            let mut connection = log.pool.acquire().await.map_err(Error::from)?;
            // The first chunks are planned by the events to send, also with
            // a filter: what sits in memory at once stays within the page
            // size (or one chunk), whatever the scan limit. A partition
            // whose first chunk was filtered away reads on, chunk by chunk.
            let mut unplanned = budget;
            for cursor in &cursors {
                let limit = unplanned.clamp(0, READ_CHUNK.into());
                let first = log.first_chunk(&mut connection, cursor, limit, typed).await?;
                unplanned -= first.rows.len() as i64;
                firsts.push(first);
            }
            drop(connection);

            let mut ends = Vec::with_capacity(firsts.len());
            for FirstChunk { partition_id, start, mut rows, mut limit } in firsts {
                let mut position = start;
                loop {
                    let count = rows.len();
                    for row in rows {
                        if budget <= 0 || scan <= 0 {
                            break;
                        }
                        scan -= 1;
                        let (next, event) = log.decode(partition_id, &row, &headers, filter.as_ref())?;
                        // "Filtered-away events still move the checkpoint
                        // forward": the next one, or the partition's last.
                        position = next;
                        let Some(event) = event else { continue };
                        budget -= 1;
                        yield FeedLine::Event(event);
                        yield FeedLine::Checkpoint(position_cursor(partition_id, position));
                    }
                    if (count as i64) < limit || budget <= 0 || scan <= 0 {
                        break;
                    }
                    limit = scan.min(READ_CHUNK.into());
                    rows = log.rows_after(partition_id, position, limit, typed).await?;
                }
                ends.push(position_cursor(partition_id, position));
            }
            // "A checkpoint for each requested partition, even when no
            // event was returned."
            for cursor in ends {
                yield FeedLine::Checkpoint(cursor);
            }
        }
    }

    fn changes(&self) -> Option<&ChangeNotifier> {
        Some(self.changes.started(&self.pool, &self.sql.table))
    }

    /// Every partition `0..partition_count`, open, `exactlyOnce`, with the
    /// token `p{partition_count}`; made once, when the log is (see
    /// [Version 2](EventLog#version-2)).
    fn discovery(&self) -> Option<Arc<Discovery>> {
        self.discovery.get()
    }
}

/// The filter a read applies, `None` when it keeps every event (then the
/// read neither reads the types nor counts its rows apart).
fn filter_of(event_types: EventTypeFilter) -> Option<EventTypeFilter> {
    match event_types {
        EventTypeFilter::All => None,
        EventTypeFilter::Skip(types) if types.is_empty() => None,
        filter => Some(filter),
    }
}

/// A partition's first chunk of a response: where it starts, and up to
/// `limit` rows after that.
struct FirstChunk<Row> {
    partition_id: u32,
    start: i64,
    rows: Vec<Row>,
    limit: i64,
}

impl<DB: Backend> EventLog<DB> {
    /// Checks `cursor` and reads up to `limit` rows after it, on
    /// `connection`. A position `p` is checked with the same query that
    /// reads its rows, from `p` itself on: the row at `p` (the latest
    /// event of a partition is always kept) or any later row proves that
    /// `p` is not past the end, and is dropped. Only when there is none
    /// is the end asked for, to refuse the cursor with the end in the
    /// message (or to accept it, if its event has committed meanwhile).
    async fn first_chunk(
        &self,
        connection: &mut DB::Connection,
        cursor: &Cursor,
        limit: i64,
        typed: bool,
    ) -> Result<FirstChunk<DB::Row>, ReadError> {
        let partition_id = cursor.partition_id();
        let chunk = |start: i64, rows: Vec<DB::Row>| FirstChunk {
            partition_id,
            start,
            rows,
            limit,
        };
        let numbered = match parse_position(cursor, i64::MAX as u64) {
            Ok(position) if !cursor.is_last() => i64::try_from(position).ok(),
            _ => None,
        };
        match numbered {
            Some(0) => {
                let rows = self
                    .rows_on(connection, partition_id, 0, limit, typed)
                    .await?;
                Ok(chunk(0, rows))
            }
            Some(position) => {
                let mut rows = self
                    .rows_on(connection, partition_id, position - 1, limit + 1, typed)
                    .await?;
                let Some(first) = rows.first() else {
                    let start = self.start_of(connection, cursor).await?;
                    return Ok(chunk(start, Vec::new()));
                };
                if DB::get_int(first, 0).map_err(Error::from)? == position {
                    rows.remove(0);
                }
                rows.truncate(usize::try_from(limit).unwrap_or(0));
                Ok(chunk(position, rows))
            }
            // `_last`, or not a position: the end decides.
            None => {
                let start = self.start_of(connection, cursor).await?;
                let rows = self
                    .rows_on(connection, partition_id, start, limit, typed)
                    .await?;
                Ok(chunk(start, rows))
            }
        }
    }

    /// The position `cursor` stands for: `_first` is 0, `_last` the latest
    /// event's position, a number is itself if it is not past the latest.
    async fn start_of(
        &self,
        connection: &mut DB::Connection,
        cursor: &Cursor,
    ) -> Result<i64, ReadError> {
        if cursor.is_first() {
            return Ok(0);
        }
        let query = statement::<DB>(&self.sql.end).int(cursor.partition_id().into());
        let rows = DB::fetch_all(connection, query)
            .await
            .map_err(Error::from)?;
        let end = match rows.first() {
            Some(row) => DB::get_int(row, 0).map_err(Error::from)?,
            None => 0,
        };
        // Positions are never negative: the column only holds 1, 2, 3, ...
        let end = u64::try_from(end).unwrap_or(0);
        let position = parse_position(cursor, end)?;
        Ok(i64::try_from(position).unwrap_or(i64::MAX))
    }

    /// Up to `limit` rows of `partition_id` after `position`, in order, on
    /// a connection of the pool's.
    async fn rows_after(
        &self,
        partition_id: u32,
        position: i64,
        limit: i64,
        typed: bool,
    ) -> Result<Vec<DB::Row>, Error> {
        let mut connection = self.pool.acquire().await?;
        self.rows_on(&mut connection, partition_id, position, limit, typed)
            .await
    }

    /// Up to `limit` rows of `partition_id` after `position`, in order, on
    /// `connection` (none for a `limit` of 0); `typed`: with each event's
    /// type (for a filter).
    async fn rows_on(
        &self,
        connection: &mut DB::Connection,
        partition_id: u32,
        position: i64,
        limit: i64,
        typed: bool,
    ) -> Result<Vec<DB::Row>, Error> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let sql = if typed {
            &self.sql.after_typed
        } else {
            &self.sql.after
        };
        let query = statement::<DB>(sql)
            .int(partition_id.into())
            .int(position)
            .int(limit);
        Ok(DB::fetch_all(connection, query).await?)
    }

    /// The position and event in `row`, with the selected headers, or
    /// only the position when `filter` drops the event (a row of the
    /// typed statement then). The data goes out as stored, byte for byte.
    fn decode(
        &self,
        partition_id: u32,
        row: &DB::Row,
        selection: &HeaderSelection,
        filter: Option<&EventTypeFilter>,
    ) -> Result<(i64, Option<Event>), Error> {
        let table = &self.sql.table;
        let position = DB::get_int(row, 0)?;
        if let Some(filter) = filter {
            let event_type = DB::get_opt_text(row, self.sql.type_column)?;
            if !filter.keeps(event_type.as_deref()) {
                return Ok((position, None));
            }
        }
        let headers = match selection {
            HeaderSelection::None => None,
            _ => match DB::get_opt_text(row, 1)? {
                None => None,
                Some(json) => {
                    let headers: Headers = serde_json::from_str(&json).map_err(|error| {
                        Error::corrupt(table, format!("headers at position {position}: {error}"))
                    })?;
                    selection.select(Some(&headers))
                }
            },
        };
        let data = RawValue::from_string(DB::get_text(row, 2)?).map_err(|error| {
            Error::corrupt(table, format!("data at position {position}: {error}"))
        })?;
        let mut headers = headers;
        if let Some(name) = self
            .time_header
            .as_deref()
            .filter(|name| selection.selects(name))
        {
            let appended_at = DB::get_text(row, 3)?;
            headers
                .get_or_insert_with(Headers::new)
                .insert(name.to_owned(), appended_at);
        }
        Ok((
            position,
            Some(Event {
                partition_id,
                headers,
                data,
            }),
        ))
    }
}

/// The cursor after the event at `position` (or before the first for 0).
pub(super) fn position_cursor(partition_id: u32, position: i64) -> Cursor {
    server::position_cursor(partition_id, u64::try_from(position).unwrap_or(0))
}
