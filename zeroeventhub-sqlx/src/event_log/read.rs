//! Serving the log as a feed: the [`DataReader`] of an [`EventLog`].

use futures_core::Stream;
use serde_json::value::RawValue;
use zeroeventhub::{
    Cursor, Event, FeedLine, FeedRequest, HeaderSelection, Headers,
    server::{self, ChangeNotifier, DataReader, Partitioned, ReadError, parse_position},
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
            let FeedRequest { mut cursors, page_size_hint, headers, .. } = request;
            // "Events after each requested cursor in ascending partition order."
            cursors.sort_by_key(Cursor::partition_id);
            let mut budget = i64::from(
                page_size_hint.filter(|&hint| hint > 0).unwrap_or(log.default_page_size),
            );

            // Every cursor is checked before the first line, so that an
            // unknown one is refused with 400 rather than a cut-off body.
            let mut starts = Vec::with_capacity(cursors.len());
            for cursor in &cursors {
                starts.push((cursor.partition_id(), log.start_of(cursor).await?));
            }

            let mut ends = Vec::with_capacity(starts.len());
            for (partition_id, start) in starts {
                let mut position = start;
                while budget > 0 {
                    let limit = budget.min(READ_CHUNK.into());
                    let rows = log.rows_after(partition_id, position, limit).await?;
                    let count = rows.len();
                    for row in rows {
                        let (next, event) = log.decode(partition_id, &row, &headers)?;
                        position = next;
                        budget -= 1;
                        yield FeedLine::Event(event);
                        yield FeedLine::Checkpoint(position_cursor(partition_id, position));
                    }
                    if (count as i64) < limit {
                        break;
                    }
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
}

impl<DB: Backend> EventLog<DB> {
    /// The position `cursor` stands for: `_first` is 0, `_last` the latest
    /// event's position, a number is itself if it is not past the latest.
    async fn start_of(&self, cursor: &Cursor) -> Result<i64, ReadError> {
        if cursor.is_first() {
            return Ok(0);
        }
        let mut connection = self.pool.acquire().await?;
        let query = statement::<DB>(&self.sql.end).int(cursor.partition_id().into());
        let rows = DB::fetch_all(&mut connection, query).await?;
        let end = match rows.first() {
            Some(row) => DB::get_int(row, 0)?,
            None => 0,
        };
        // Positions are never negative: the column only holds 1, 2, 3, ...
        let end = u64::try_from(end).unwrap_or(0);
        let position = parse_position(cursor, end)?;
        Ok(i64::try_from(position).unwrap_or(i64::MAX))
    }

    /// Up to `limit` rows of `partition_id` after `position`, in order.
    async fn rows_after(
        &self,
        partition_id: u32,
        position: i64,
        limit: i64,
    ) -> Result<Vec<DB::Row>, Error> {
        let mut connection = self.pool.acquire().await?;
        let query = statement::<DB>(&self.sql.after)
            .int(partition_id.into())
            .int(position)
            .int(limit);
        Ok(DB::fetch_all(&mut connection, query).await?)
    }

    /// The position and event in `row`, with the selected headers. The
    /// data goes out as stored, byte for byte.
    fn decode(
        &self,
        partition_id: u32,
        row: &DB::Row,
        selection: &HeaderSelection,
    ) -> Result<(i64, Event), Error> {
        let table = &self.sql.table;
        let position = DB::get_int(row, 0)?;
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
        Ok((
            position,
            Event {
                partition_id,
                headers,
                data,
            },
        ))
    }
}

/// The cursor after the event at `position` (or before the first for 0).
pub(super) fn position_cursor(partition_id: u32, position: i64) -> Cursor {
    server::position_cursor(partition_id, u64::try_from(position).unwrap_or(0))
}
