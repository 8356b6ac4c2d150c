//! The request: its query string, built by clients and parsed by producers.

use std::collections::BTreeSet;

use crate::{Cursor, Headers, InvalidCursor};

/// Query parameter: the partition count the consumer assumes.
const PARTITION_COUNT: &str = "n";
/// Query parameter prefix: `cursorN` is the cursor of partition `N`.
const CURSOR_PREFIX: &str = "cursor";
/// Query parameter: the page size hint.
const PAGE_SIZE_HINT: &str = "pagesizehint";
/// Query parameter: the comma-separated header names to include.
const HEADERS: &str = "headers";
/// The `headers` value that selects every header.
const ALL_HEADERS: &str = "_all";

/// One request for a page of a feed: what the consumer sends, what the
/// producer's [`DataReader`](crate::server::DataReader) receives.
///
/// # Examples
///
/// ```
/// use zeroeventhub::{Cursor, FeedRequest, HeaderSelection};
///
/// let request = FeedRequest {
///     partition_count: 4,
///     cursors: vec![Cursor::first(0), Cursor::new(1, "1000")?],
///     page_size_hint: Some(100),
///     headers: HeaderSelection::names(["ce_id", "ce_type"]),
/// };
/// let query = request.to_query_string()?;
/// assert_eq!(query, "n=4&cursor0=_first&cursor1=1000&pagesizehint=100&headers=ce_id%2Cce_type");
/// assert_eq!(FeedRequest::parse(&query, 4)?, request);
///
/// let error = FeedRequest::parse("n=4&cursor9=_first", 4).unwrap_err();
/// assert_eq!(error.parameter(), "cursor9");
/// assert_eq!(error.to_string(), "parameter cursor9: partition index outside 0..4");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRequest {
    /// `n`: the partition count the consumer assumes the producer has.
    pub partition_count: u32,
    /// `cursorN`: where to start in each requested partition. Parsing sorts
    /// them by partition.
    pub cursors: Vec<Cursor>,
    /// `pagesizehint`: about how many events the whole response should hold
    /// at most; `None` (or `Some(0)`) leaves it to the producer. Only a
    /// hint: a response may hold more or fewer, and fewer does not mean
    /// the feed is exhausted.
    pub page_size_hint: Option<u32>,
    /// `headers`: which event headers to include.
    pub headers: HeaderSelection,
}

/// Which event headers a consumer asks for (`headers` parameter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HeaderSelection {
    /// No headers (the parameter is absent).
    #[default]
    None,
    /// Only these headers.
    Names(Vec<String>),
    /// Every header (`_all`).
    All,
}

impl HeaderSelection {
    /// Selects the named headers.
    pub fn names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        HeaderSelection::Names(names.into_iter().map(Into::into).collect())
    }

    /// Whether header `name` is selected.
    pub fn selects(&self, name: &str) -> bool {
        match self {
            HeaderSelection::None => false,
            HeaderSelection::Names(names) => names.iter().any(|n| n == name),
            HeaderSelection::All => true,
        }
    }

    /// The selected part of an event's headers, `None` when nothing is
    /// left: what a producer puts on the wire.
    ///
    /// ```
    /// use zeroeventhub::{HeaderSelection, Headers};
    ///
    /// let headers = Headers::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
    /// let picked = HeaderSelection::names(["b", "c"]).select(Some(&headers)).unwrap();
    /// assert_eq!(picked.len(), 1);
    /// assert_eq!(HeaderSelection::None.select(Some(&headers)), None);
    /// ```
    pub fn select(&self, headers: Option<&Headers>) -> Option<Headers> {
        let headers = headers?;
        let picked: Headers = match self {
            HeaderSelection::None => return None,
            HeaderSelection::All => headers.clone(),
            HeaderSelection::Names(names) => names
                .iter()
                .filter_map(|n| Some((n.clone(), headers.get(n)?.clone())))
                .collect(),
        };
        (!picked.is_empty()).then_some(picked)
    }

    fn parse(value: &str) -> Result<Self, RequestError> {
        // The spec: "A trailing comma is tolerated."
        let value = value.strip_suffix(',').unwrap_or(value);
        if value.is_empty() {
            return Ok(HeaderSelection::None);
        }
        let mut names: Vec<String> = Vec::new();
        for name in value.split(',') {
            if name.is_empty() {
                return Err(RequestError::InvalidHeaders {
                    reason: "empty header name",
                });
            }
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        if names.iter().any(|n| n == ALL_HEADERS) {
            if names.len() > 1 {
                return Err(RequestError::InvalidHeaders {
                    reason: "_all cannot be combined with header names",
                });
            }
            return Ok(HeaderSelection::All);
        }
        Ok(HeaderSelection::Names(names))
    }
}

impl FeedRequest {
    /// A request for `cursors` with the producer's defaults for the rest.
    pub fn new(partition_count: u32, cursors: Vec<Cursor>) -> Self {
        FeedRequest {
            partition_count,
            cursors,
            page_size_hint: None,
            headers: HeaderSelection::None,
        }
    }

    /// Checks what [`parse`](FeedRequest::parse) checks on the producer:
    /// at least one cursor, each for a partition in `0..partition_count`,
    /// none repeated; header names non-empty and without commas.
    ///
    /// # Errors
    ///
    /// Names the first parameter that would be rejected.
    pub fn validate(&self) -> Result<(), RequestError> {
        if self.cursors.is_empty() {
            return Err(RequestError::NoCursor);
        }
        let mut seen = BTreeSet::new();
        for cursor in &self.cursors {
            let param = || format!("{CURSOR_PREFIX}{}", cursor.partition_id());
            if cursor.partition_id() >= self.partition_count {
                return Err(RequestError::CursorOutOfRange {
                    param: param(),
                    partition_count: self.partition_count,
                });
            }
            if !seen.insert(cursor.partition_id()) {
                return Err(RequestError::RepeatedParameter { param: param() });
            }
        }
        if let HeaderSelection::Names(names) = &self.headers {
            if names.iter().any(|n| n.is_empty() || n.contains(',')) {
                return Err(RequestError::InvalidHeaders {
                    reason: "header names must be non-empty and hold no comma",
                });
            }
            if names.iter().any(|n| n == ALL_HEADERS) {
                return Err(RequestError::InvalidHeaders {
                    reason: "_all cannot be used as a header name; use HeaderSelection::All",
                });
            }
        }
        Ok(())
    }

    /// The query string of this request (without the leading `?`).
    ///
    /// # Errors
    ///
    /// Fails as [`validate`](FeedRequest::validate) does.
    pub fn to_query_string(&self) -> Result<String, RequestError> {
        self.validate()?;
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair(
            PARTITION_COUNT,
            itoa::Buffer::new().format(self.partition_count),
        );
        for cursor in &self.cursors {
            let name = format!("{CURSOR_PREFIX}{}", cursor.partition_id());
            query.append_pair(&name, cursor.as_str());
        }
        if let Some(hint) = self.page_size_hint.filter(|&hint| hint > 0) {
            query.append_pair(PAGE_SIZE_HINT, itoa::Buffer::new().format(hint));
        }
        match &self.headers {
            HeaderSelection::None => {}
            HeaderSelection::Names(names) if names.is_empty() => {}
            HeaderSelection::Names(names) => {
                query.append_pair(HEADERS, &names.join(","));
            }
            HeaderSelection::All => {
                query.append_pair(HEADERS, ALL_HEADERS);
            }
        }
        Ok(query.finish())
    }

    /// Parses and validates a request's query string (without the `?`) for
    /// a feed of `partition_count` partitions. Unknown parameters are
    /// ignored, as the spec asks.
    ///
    /// # Errors
    ///
    /// A [`RequestError`] naming the parameter that is missing or wrong; a
    /// producer answers it with status 400 and the error's text.
    pub fn parse(query: &str, partition_count: u32) -> Result<Self, RequestError> {
        let mut count = None;
        let mut page_size_hint = None;
        let mut headers = None;
        let mut cursors = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                PARTITION_COUNT => set_once(&mut count, PARTITION_COUNT, value.into_owned())?,
                PAGE_SIZE_HINT => {
                    set_once(&mut page_size_hint, PAGE_SIZE_HINT, parse_hint(&value)?)?
                }
                HEADERS => set_once(&mut headers, HEADERS, HeaderSelection::parse(&value)?)?,
                _ => {
                    let Some(index) = name.strip_prefix(CURSOR_PREFIX) else {
                        continue;
                    };
                    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                        continue;
                    }
                    cursors.push((name.to_string(), index.parse::<u64>().ok(), value));
                }
            }
        }

        let count = count.ok_or(RequestError::MissingPartitionCount)?;
        let count: u32 = count
            .parse()
            .map_err(|_| RequestError::InvalidPartitionCount { value: count })?;
        if count != partition_count {
            return Err(RequestError::PartitionCountMismatch {
                requested: count,
                partition_count,
            });
        }
        if cursors.is_empty() {
            return Err(RequestError::NoCursor);
        }
        let mut parsed: Vec<Cursor> = Vec::with_capacity(cursors.len());
        for (param, index, value) in cursors {
            let partition_id = match index {
                Some(index) if index < u64::from(partition_count) => index as u32,
                _ => {
                    return Err(RequestError::CursorOutOfRange {
                        param,
                        partition_count,
                    });
                }
            };
            if parsed.iter().any(|c| c.partition_id() == partition_id) {
                return Err(RequestError::RepeatedParameter { param });
            }
            let cursor = Cursor::new(partition_id, value)
                .map_err(|reason| RequestError::InvalidCursor { param, reason })?;
            parsed.push(cursor);
        }
        parsed.sort_by_key(Cursor::partition_id);
        Ok(FeedRequest {
            partition_count,
            cursors: parsed,
            page_size_hint: page_size_hint.flatten(),
            headers: headers.unwrap_or_default(),
        })
    }
}

fn set_once<T>(slot: &mut Option<T>, param: &str, value: T) -> Result<(), RequestError> {
    if slot.replace(value).is_some() {
        return Err(RequestError::RepeatedParameter {
            param: param.to_owned(),
        });
    }
    Ok(())
}

/// "`0` or absent = the producer's default."
fn parse_hint(value: &str) -> Result<Option<u32>, RequestError> {
    match value.parse::<u32>() {
        Ok(0) => Ok(None),
        Ok(hint) if value.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(hint)),
        _ => Err(RequestError::InvalidPageSizeHint {
            value: value.to_owned(),
        }),
    }
}

/// A request the producer must refuse (status 400), naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// `n` is absent.
    #[error("missing parameter n (the partition count)")]
    MissingPartitionCount,
    /// `n` is not a non-negative integer.
    #[error("parameter n must be a non-negative integer, got {value:?}")]
    InvalidPartitionCount {
        /// The value received.
        value: String,
    },
    /// `n` differs from the producer's partition count.
    #[error("parameter n is {requested} but the feed has {partition_count} partitions")]
    PartitionCountMismatch {
        /// The value received.
        requested: u32,
        /// The producer's partition count.
        partition_count: u32,
    },
    /// No `cursorN` parameter at all.
    #[error("no cursor: give at least one cursorN parameter, N in 0..n")]
    NoCursor,
    /// A `cursorN` with `N` outside `0..n`.
    #[error("parameter {param}: partition index outside 0..{partition_count}")]
    CursorOutOfRange {
        /// The parameter's name.
        param: String,
        /// The partition count.
        partition_count: u32,
    },
    /// A parameter given twice (a partition's cursor, `n`, ...).
    #[error("parameter {param} is given more than once")]
    RepeatedParameter {
        /// The parameter's name.
        param: String,
    },
    /// A cursor that is empty or not printable ASCII.
    #[error("parameter {param}: {reason}")]
    InvalidCursor {
        /// The parameter's name.
        param: String,
        /// What is wrong with it.
        reason: InvalidCursor,
    },
    /// `pagesizehint` is not a non-negative integer that fits in 32 bits.
    #[error("parameter pagesizehint must be an integer in 0..=4294967295, got {value:?}")]
    InvalidPageSizeHint {
        /// The value received.
        value: String,
    },
    /// `headers` is malformed.
    #[error("parameter headers: {reason}")]
    InvalidHeaders {
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl RequestError {
    /// The name of the parameter at fault (`n`, `cursor3`, ...).
    pub fn parameter(&self) -> &str {
        match self {
            RequestError::MissingPartitionCount
            | RequestError::InvalidPartitionCount { .. }
            | RequestError::PartitionCountMismatch { .. } => PARTITION_COUNT,
            RequestError::NoCursor => "cursorN",
            RequestError::CursorOutOfRange { param, .. }
            | RequestError::RepeatedParameter { param }
            | RequestError::InvalidCursor { param, .. } => param,
            RequestError::InvalidPageSizeHint { .. } => PAGE_SIZE_HINT,
            RequestError::InvalidHeaders { .. } => HEADERS,
        }
    }

    /// The HTTP status a producer answers with: always 400.
    pub fn status(&self) -> u16 {
        400
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
