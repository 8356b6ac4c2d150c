//! Cursors: a position in one partition of a feed.

use std::fmt;

use crate::excerpt::{VALUE_CHARS, excerpt};

/// The cursor that starts a partition from its first event.
pub const FIRST: &str = "_first";
/// The cursor that starts a partition from "about now": only new events.
pub const LAST: &str = "_last";

/// A position in one partition of a feed: the partition id and an opaque
/// cursor string chosen by the producer.
///
/// The spec: "Opaque string of printable ASCII, passed back verbatim."
/// A `Cursor` can only hold a valid cursor string (non-empty, printable
/// ASCII), so every cursor in hand can be sent in a request.
///
/// # Examples
///
/// ```
/// use zeroeventhub::Cursor;
///
/// let start = Cursor::first(0);
/// assert!(start.is_first());
///
/// let stored = Cursor::new(3, "1000240213124")?;
/// assert_eq!(stored.partition_id(), 3);
/// assert_eq!(stored.as_str(), "1000240213124");
///
/// assert!(Cursor::new(0, "").is_err());
/// assert!(Cursor::new(0, "tab\there").is_err());
/// # Ok::<(), zeroeventhub::InvalidCursor>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cursor {
    partition_id: u32,
    value: String,
}

impl Cursor {
    /// A cursor for `partition_id` with the producer's opaque `value`.
    ///
    /// # Errors
    ///
    /// Fails when `value` is empty or holds a byte that is not printable
    /// ASCII (`0x20..=0x7e`).
    pub fn new(partition_id: u32, value: impl Into<String>) -> Result<Self, InvalidCursor> {
        let value = value.into();
        validate(&value)?;
        Ok(Cursor {
            partition_id,
            value,
        })
    }

    /// The cursor that reads `partition_id` from its first event (`_first`).
    pub fn first(partition_id: u32) -> Self {
        Cursor {
            partition_id,
            value: FIRST.to_owned(),
        }
    }

    /// The cursor that reads only events published from now on in
    /// `partition_id` (`_last`).
    pub fn last(partition_id: u32) -> Self {
        Cursor {
            partition_id,
            value: LAST.to_owned(),
        }
    }

    /// The partition this cursor belongs to.
    pub fn partition_id(&self) -> u32 {
        self.partition_id
    }

    /// The opaque cursor string, exactly as the producer wrote it.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Consumes the cursor and returns its string.
    pub fn into_string(self) -> String {
        self.value
    }

    /// One cursor for each partition in `0..partition_count`: the one in
    /// `stored` (a consumer's saved cursors), or `_first` where it has none.
    /// Stored cursors of other partitions are left out.
    ///
    /// ```
    /// use zeroeventhub::Cursor;
    ///
    /// let stored = vec![Cursor::new(2, "17")?, Cursor::new(9, "3")?];
    /// assert_eq!(
    ///     Cursor::resume_all(stored, 3),
    ///     [Cursor::first(0), Cursor::first(1), Cursor::new(2, "17")?]
    /// );
    /// # Ok::<(), zeroeventhub::InvalidCursor>(())
    /// ```
    pub fn resume_all(
        stored: impl IntoIterator<Item = Cursor>,
        partition_count: u32,
    ) -> Vec<Cursor> {
        let mut cursors: Vec<Cursor> = (0..partition_count).map(Cursor::first).collect();
        for cursor in stored {
            if let Some(slot) = cursors.get_mut(cursor.partition_id as usize) {
                *slot = cursor;
            }
        }
        cursors
    }

    /// Whether this is the special `_first` cursor.
    pub fn is_first(&self) -> bool {
        self.value == FIRST
    }

    /// Whether this is the special `_last` cursor.
    pub fn is_last(&self) -> bool {
        self.value == LAST
    }

    /// The position this cursor stands for, where the producer's cursors
    /// are positions (as this workspace's event logs' are: `"k"` after the
    /// k-th event of a partition): `_first` is 0, digits are their number;
    /// `None` for `_last` or any other text. Two positions of a partition
    /// tell how many events lie between them.
    ///
    /// ```
    /// use zeroeventhub::Cursor;
    ///
    /// assert_eq!(Cursor::new(0, "1042")?.position(), Some(1042));
    /// assert_eq!(Cursor::first(0).position(), Some(0));
    /// assert_eq!(Cursor::new(0, "a9f3")?.position(), None);
    /// # Ok::<(), zeroeventhub::InvalidCursor>(())
    /// ```
    pub fn position(&self) -> Option<u64> {
        if self.is_first() {
            return Some(0);
        }
        let digits = self.value.bytes().all(|b| b.is_ascii_digit());
        digits.then(|| self.value.parse().ok()).flatten()
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({}={:?})", self.partition_id, self.value)
    }
}

impl fmt::Display for Cursor {
    /// Writes `PARTITION=CURSOR`, the form the `zeh` command takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.partition_id, self.value)
    }
}

impl std::str::FromStr for Cursor {
    type Err = ParseCursorError;

    /// Parses the `PARTITION=CURSOR` form that [`Display`](fmt::Display)
    /// writes: a partition number (digits, no sign, no leading zero), `=`,
    /// and a valid cursor string, which may itself hold `=`.
    ///
    /// ```
    /// use zeroeventhub::Cursor;
    ///
    /// let cursor: Cursor = "2=a=b".parse()?;
    /// assert_eq!((cursor.partition_id(), cursor.as_str()), (2, "a=b"));
    /// assert_eq!(cursor.to_string().parse::<Cursor>()?, cursor);
    /// assert!("02=x".parse::<Cursor>().is_err());
    /// # Ok::<(), zeroeventhub::ParseCursorError>(())
    /// ```
    fn from_str(text: &str) -> Result<Self, ParseCursorError> {
        let (partition, value) = text
            .split_once('=')
            .ok_or(ParseCursorError::MissingEquals)?;
        let partition_id = crate::request::decimal(partition)
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| ParseCursorError::InvalidPartition(excerpt(&partition, VALUE_CHARS)))?;
        Cursor::new(partition_id, value).map_err(|reason| ParseCursorError::InvalidCursor {
            partition_id,
            reason,
        })
    }
}

/// Why a text is not a cursor in its `PARTITION=CURSOR` form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseCursorError {
    /// No `=` between the partition and the cursor.
    #[error("expected P=CURSOR (partition, `=`, cursor), for example 0=_first or 2=1042")]
    MissingEquals,
    /// The text before `=` is not a partition number.
    #[error(
        "{0:?} before `=` is not a partition number \
         (digits without sign or leading zeros, at most 4294967295)"
    )]
    InvalidPartition(String),
    /// The text after `=` is not a valid cursor string.
    #[error("partition {partition_id}: {reason}")]
    InvalidCursor {
        /// The partition before `=`.
        partition_id: u32,
        /// What is wrong with the cursor string.
        reason: InvalidCursor,
    },
}

/// Why a string cannot be a cursor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidCursor {
    /// The cursor string is empty.
    #[error("cursor is empty")]
    Empty,
    /// The cursor string holds a byte outside printable ASCII.
    #[error("cursor holds a character that is not printable ASCII at byte {position}")]
    NotPrintable {
        /// Byte offset of the first offending byte.
        position: usize,
    },
}

/// Checks that `value` is a valid cursor string: non-empty printable ASCII.
pub(crate) fn validate(value: &str) -> Result<(), InvalidCursor> {
    if value.is_empty() {
        return Err(InvalidCursor::Empty);
    }
    match value.bytes().position(|b| !(0x20..=0x7e).contains(&b)) {
        Some(position) => Err(InvalidCursor::NotPrintable { position }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_and_last_are_recognised() {
        assert!(Cursor::first(1).is_first());
        assert!(Cursor::last(1).is_last());
        assert!(!Cursor::new(1, "42").unwrap().is_first());
        assert_eq!(Cursor::new(2, "_first").unwrap(), Cursor::first(2));
    }

    #[test]
    fn cursor_must_not_be_empty() {
        assert_eq!(Cursor::new(0, ""), Err(InvalidCursor::Empty));
    }

    #[test]
    fn cursor_must_be_printable_ascii() {
        assert_eq!(
            Cursor::new(0, "ab\ncd"),
            Err(InvalidCursor::NotPrintable { position: 2 })
        );
        assert_eq!(
            Cursor::new(0, "é"),
            Err(InvalidCursor::NotPrintable { position: 0 })
        );
        assert_eq!(
            Cursor::new(0, "\u{7f}"),
            Err(InvalidCursor::NotPrintable { position: 0 })
        );
        assert!(Cursor::new(0, " ~!\"{}").is_ok());
    }

    #[test]
    fn parse_is_partition_equals_cursor() {
        assert_eq!("0=_first".parse(), Ok(Cursor::first(0)));
        assert_eq!("1=a=b".parse::<Cursor>().unwrap().as_str(), "a=b");
        assert_eq!("x".parse::<Cursor>(), Err(ParseCursorError::MissingEquals));
        for bad in ["=x", "-1=x", "+1=x", "01=x", "a=x", "4294967296=x"] {
            assert!(
                matches!(
                    bad.parse::<Cursor>(),
                    Err(ParseCursorError::InvalidPartition(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            "3=".parse::<Cursor>(),
            Err(ParseCursorError::InvalidCursor {
                partition_id: 3,
                reason: InvalidCursor::Empty
            })
        );
    }

    #[test]
    fn display_is_partition_equals_cursor() {
        assert_eq!(Cursor::new(3, "x=y").unwrap().to_string(), "3=x=y");
    }
}
