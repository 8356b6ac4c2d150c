//! Cursors that are positions: the k-th event of a partition has cursor `"k"`.

use super::ReadError;
use crate::Cursor;

/// The cursor after the first `position` events of a partition: `"k"`.
pub fn position_cursor(partition_id: u32, position: u64) -> Cursor {
    Cursor::new(partition_id, itoa::Buffer::new().format(position))
        .unwrap_or_else(|_| Cursor::first(partition_id))
}

/// The position `cursor` stands for in a partition whose latest event has
/// position `end`: `_first` is 0, `_last` is `end`, and a decimal number
/// in `0..=end` is itself. For logs whose cursors are positions, such as
/// [`MemoryLog`](super::MemoryLog).
///
/// # Errors
///
/// Anything else is the client's fault: a [`ReadError::bad_request`]
/// naming the parameter.
///
/// ```
/// use zeroeventhub::{server::parse_position, Cursor};
///
/// assert_eq!(parse_position(&Cursor::first(0), 9).unwrap(), 0);
/// assert_eq!(parse_position(&Cursor::last(0), 9).unwrap(), 9);
/// assert_eq!(parse_position(&Cursor::new(0, "4").unwrap(), 9).unwrap(), 4);
/// assert!(parse_position(&Cursor::new(0, "10").unwrap(), 9).is_err());
/// assert!(parse_position(&Cursor::new(0, "+4").unwrap(), 9).is_err());
/// assert_eq!(parse_position(&Cursor::new(0, "04").unwrap(), 9).unwrap(), 4);
/// ```
pub fn parse_position(cursor: &Cursor, end: u64) -> Result<u64, ReadError> {
    if cursor.is_first() {
        return Ok(0);
    }
    if cursor.is_last() {
        return Ok(end);
    }
    let text = cursor.as_str();
    // A cursor is the producer's own text, not a request parameter: as the
    // Python reference does, "004" is position 4 (digits only, no sign).
    text.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse::<u64>().ok())
        .flatten()
        .filter(|&position| position <= end)
        .ok_or_else(|| {
            ReadError::bad_request(format!(
                "parameter cursor{}: {text:?} is not _first, _last or a position in 0..={end}",
                cursor.partition_id()
            ))
        })
}
