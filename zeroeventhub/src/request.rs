//! The request: its query string, built by clients and parsed by producers.

use std::{collections::BTreeSet, str::FromStr};

use crate::{
    Cursor, EventTypeFilter, Headers, InvalidCursor,
    event_types::{EVENT_TYPES, SKIP_EVENT_TYPES},
    excerpt::{VALUE_CHARS, excerpt},
};

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
/// Query parameter (long-polling extension): how many seconds the producer
/// may hold a request that finds no new event.
const WAIT: &str = "wait";

/// One request for a page of a feed: what the consumer sends, what the
/// producer's [`DataReader`](crate::server::DataReader) receives.
///
/// # Examples
///
/// ```
/// use zeroeventhub::{Cursor, EventTypeFilter, FeedRequest, HeaderSelection};
///
/// let request = FeedRequest {
///     partition_count: 4,
///     cursors: vec![Cursor::first(0), Cursor::new(1, "1000")?],
///     page_size_hint: Some(100),
///     headers: HeaderSelection::names(["ce_id", "ce_type"]),
///     wait: Some(20),
///     event_types: EventTypeFilter::only(["OrderPlaced", "OrderPaid"]),
/// };
/// let query = request.to_query_string()?;
/// assert_eq!(
///     query,
///     "n=4&cursor0=_first&cursor1=1000&pagesizehint=100&headers=ce_id%2Cce_type&wait=20\
///      &event-types=orderpaid%3Borderplaced"
/// );
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
    /// `wait` (the long-polling extension): when none of the requested
    /// partitions has an event after its cursor, the producer may hold the
    /// request this many seconds, answering as soon as one arrives.
    /// `None` (or `Some(0)`) answers at once. A producer caps it, and one
    /// without the extension ignores it; the client's read timeout must
    /// exceed it.
    pub wait: Option<u32>,
    /// `event-types` / `skip-event-types` (an extension of version 1, as
    /// version 2 has them): which events to send by type. A producer may
    /// ignore it.
    pub event_types: EventTypeFilter,
}

/// Which event headers a consumer asks for (`headers` parameter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HeaderSelection {
    /// No headers (the parameter is absent).
    #[default]
    None,
    /// Only these headers. A set: each name once, looked up in `O(log n)`
    /// whatever the length of the request.
    Names(BTreeSet<String>),
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
            HeaderSelection::Names(names) => names.contains(name),
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
            // Walk the shorter of the two, so an event costs no more than
            // its own headers however many names the request lists.
            HeaderSelection::Names(names) if names.len() < headers.len() => names
                .iter()
                .filter_map(|n| Some((n.clone(), headers.get(n)?.clone())))
                .collect(),
            HeaderSelection::Names(names) => headers
                .iter()
                .filter(|(name, _)| names.contains(*name))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        };
        (!picked.is_empty()).then_some(picked)
    }
}

impl FromStr for HeaderSelection {
    type Err = RequestError;

    /// Parses the value of the `headers` parameter: `_all`, or
    /// comma-separated names (each kept once); empty selects no header.
    ///
    /// ```
    /// use zeroeventhub::HeaderSelection;
    ///
    /// assert_eq!("_all".parse(), Ok(HeaderSelection::All));
    /// assert_eq!("b,a,b,".parse(), Ok(HeaderSelection::names(["a", "b"])));
    /// assert!("a,,b".parse::<HeaderSelection>().is_err());
    /// ```
    fn from_str(value: &str) -> Result<Self, RequestError> {
        // The spec: "A trailing comma is tolerated."
        let value = value.strip_suffix(',').unwrap_or(value);
        if value.is_empty() {
            return Ok(HeaderSelection::None);
        }
        if value == ALL_HEADERS {
            return Ok(HeaderSelection::All);
        }
        let mut names = BTreeSet::new();
        for name in value.split(',') {
            if name.is_empty() {
                return Err(RequestError::InvalidHeaders {
                    reason: "empty header name",
                });
            }
            if name == ALL_HEADERS {
                return Err(RequestError::InvalidHeaders {
                    reason: "_all cannot be combined with header names",
                });
            }
            names.insert(name.to_owned());
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
            wait: None,
            event_types: EventTypeFilter::All,
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
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                query.append_pair(HEADERS, &names.join(","));
            }
            HeaderSelection::All => {
                query.append_pair(HEADERS, ALL_HEADERS);
            }
        }
        if let Some(wait) = self.wait.filter(|&wait| wait > 0) {
            query.append_pair(WAIT, itoa::Buffer::new().format(wait));
        }
        // form_urlencoded writes `;` as `%3B`, as version 2 asks.
        if let Some((param, types)) = self.event_types.query_pair()? {
            query.append_pair(param, &types);
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
        let mut wait = None;
        let mut only_types = None;
        let mut skip_types = None;
        let mut cursors = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                PARTITION_COUNT => set_once(&mut count, PARTITION_COUNT, value.into_owned())?,
                PAGE_SIZE_HINT => {
                    set_once(&mut page_size_hint, PAGE_SIZE_HINT, parse_hint(&value)?)?
                }
                HEADERS => set_once(&mut headers, HEADERS, value.parse()?)?,
                WAIT => set_once(&mut wait, WAIT, parse_wait(&value)?)?,
                EVENT_TYPES => set_once(&mut only_types, EVENT_TYPES, value)?,
                SKIP_EVENT_TYPES => set_once(&mut skip_types, SKIP_EVENT_TYPES, value)?,
                _ => {
                    let Some(index) = name.strip_prefix(CURSOR_PREFIX) else {
                        continue;
                    };
                    // `cursor` and `cursorx` are unknown parameters.
                    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                        continue;
                    }
                    cursors.push((name.to_string(), index_of(index), value));
                }
            }
        }

        let event_types =
            EventTypeFilter::from_params(only_types.as_deref(), skip_types.as_deref())?;
        let count = count.ok_or(RequestError::MissingPartitionCount)?;
        let count = decimal(&count)
            .and_then(|count| u32::try_from(count).ok())
            .ok_or_else(|| RequestError::InvalidPartitionCount {
                value: excerpt(&count, VALUE_CHARS),
            })?;
        if count != partition_count {
            return Err(RequestError::PartitionCountMismatch {
                requested: count,
                partition_count,
            });
        }
        if cursors.is_empty() {
            return Err(RequestError::NoCursor);
        }
        let mut parsed: Vec<(Cursor, String)> = Vec::with_capacity(cursors.len());
        for (param, index, value) in cursors {
            let partition_id = match index {
                Ok(index) if index < u64::from(partition_count) => index as u32,
                Ok(_) => {
                    return Err(RequestError::CursorOutOfRange {
                        param,
                        partition_count,
                    });
                }
                Err(()) => return Err(RequestError::InvalidCursorIndex { param }),
            };
            let cursor =
                Cursor::new(partition_id, value).map_err(|reason| RequestError::InvalidCursor {
                    param: param.clone(),
                    reason,
                })?;
            parsed.push((cursor, param));
        }
        // Sorted, a repeated partition's cursors stand side by side: the
        // check costs O(k log k) for k cursors, never O(k * k).
        parsed.sort_by_key(|(cursor, _)| cursor.partition_id());
        if let Some(pair) = parsed
            .windows(2)
            .find(|pair| pair[0].0.partition_id() == pair[1].0.partition_id())
        {
            return Err(RequestError::RepeatedParameter {
                param: pair[1].1.clone(),
            });
        }
        let parsed = parsed.into_iter().map(|(cursor, _)| cursor).collect();
        Ok(FeedRequest {
            partition_count,
            cursors: parsed,
            page_size_hint: page_size_hint.flatten(),
            headers: headers.unwrap_or_default(),
            wait: wait.flatten(),
            event_types,
        })
    }
}

pub(crate) fn set_once<T>(slot: &mut Option<T>, param: &str, value: T) -> Result<(), RequestError> {
    if slot.replace(value).is_some() {
        return Err(RequestError::RepeatedParameter {
            param: param.to_owned(),
        });
    }
    Ok(())
}

/// "`0` or absent = the producer's default."
pub(crate) fn parse_hint(value: &str) -> Result<Option<u32>, RequestError> {
    match decimal(value).map(u32::try_from) {
        Some(Ok(0)) => Ok(None),
        Some(Ok(hint)) => Ok(Some(hint)),
        _ => Err(RequestError::InvalidPageSizeHint {
            value: excerpt(&value, VALUE_CHARS),
        }),
    }
}

/// `wait=0` answers at once, as if absent. Values beyond `u32` are
/// refused, not saturated: they are malformed, whatever the producer's cap.
pub(crate) fn parse_wait(value: &str) -> Result<Option<u32>, RequestError> {
    match decimal(value).map(u32::try_from) {
        Some(Ok(0)) => Ok(None),
        Some(Ok(seconds)) => Ok(Some(seconds)),
        _ => Err(RequestError::InvalidWait {
            value: excerpt(&value, VALUE_CHARS),
        }),
    }
}

/// The partition index of a `cursorN` parameter (`index` is all digits):
/// `Err` when written with a leading zero, a number too large for `u64` as
/// `u64::MAX` (outside every feed).
fn index_of(index: &str) -> Result<u64, ()> {
    if index.len() > 1 && index.starts_with('0') {
        return Err(());
    }
    Ok(decimal(index).unwrap_or(u64::MAX))
}

/// The one rule for every integer of the protocol and the command line: a
/// non-negative decimal in ASCII digits, without sign, spaces or leading
/// zeros (`0` itself is fine). `None` for anything else, or beyond `u64`.
pub(crate) fn decimal(text: &str) -> Option<u64> {
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

/// A request the producer must refuse (status 400), naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// `n` is absent.
    #[error("missing parameter n (the partition count)")]
    MissingPartitionCount,
    /// `n` is not a non-negative integer (digits only, no sign, no leading
    /// zero) that fits in 32 bits.
    #[error(
        "parameter n must be a non-negative integer without sign or leading zeros, got {value:?}"
    )]
    InvalidPartitionCount {
        /// The value received (its first 64 characters).
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
    /// A `cursorN` whose `N` has a leading zero (`cursor04`): refused, not
    /// read as another partition's cursor.
    #[error("parameter {param}: the partition index must be written without leading zeros")]
    InvalidCursorIndex {
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
    /// `pagesizehint` is not a non-negative integer (digits only, no sign,
    /// no leading zero) that fits in 32 bits.
    #[error(
        "parameter pagesizehint must be an integer in 0..=4294967295 without sign or leading zeros, got {value:?}"
    )]
    InvalidPageSizeHint {
        /// The value received (its first 64 characters).
        value: String,
    },
    /// `wait` is not a non-negative integer of seconds (digits only, no
    /// sign, no leading zero) that fits in 32 bits.
    #[error(
        "parameter wait must be a whole number of seconds in 0..=4294967295 without sign or leading zeros, got {value:?}"
    )]
    InvalidWait {
        /// The value received (its first 64 characters).
        value: String,
    },
    /// `headers` is malformed.
    #[error("parameter headers: {reason}")]
    InvalidHeaders {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `event-types` or `skip-event-types` is malformed.
    #[error("parameter {param}: {reason}")]
    InvalidEventTypes {
        /// The parameter's name.
        param: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `event-types` and `skip-event-types` in one request.
    #[error("parameters event-types and skip-event-types cannot be given together")]
    BothEventTypeFilters,
    /// Version 2: a required parameter (`token`, `partition`, `cursor`) is
    /// absent.
    #[error("missing parameter {param}")]
    MissingParameter {
        /// The parameter's name.
        param: &'static str,
    },
    /// Version 2: `partition` is not an integer in `0..=32767`.
    #[error(
        "parameter partition must be a partition id in 0..=32767 (an integer without sign or leading zeros), got {value:?}"
    )]
    InvalidPartition {
        /// The value received (its first 64 characters).
        value: String,
    },
    /// Version 2: `partition` is not one the discovery lists.
    #[error("parameter partition: the feed has no partition {id} (discover again)")]
    UnknownPartition {
        /// The partition asked for.
        id: u32,
    },
    /// Version 2: `token` is not the producer's current one; answered with
    /// 409, for every partition at once.
    #[error("parameter token: the token has changed, discover again")]
    TokenChanged,
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
            | RequestError::InvalidCursorIndex { param }
            | RequestError::InvalidCursor { param, .. } => param,
            RequestError::InvalidPageSizeHint { .. } => PAGE_SIZE_HINT,
            RequestError::InvalidHeaders { .. } => HEADERS,
            RequestError::InvalidWait { .. } => WAIT,
            RequestError::InvalidEventTypes { param, .. } => param,
            RequestError::BothEventTypeFilters => EVENT_TYPES,
            RequestError::MissingParameter { param } => param,
            RequestError::InvalidPartition { .. } | RequestError::UnknownPartition { .. } => {
                "partition"
            }
            RequestError::TokenChanged => "token",
        }
    }

    /// The HTTP status a producer answers with: 409 for
    /// [`TokenChanged`](RequestError::TokenChanged), else 400.
    pub fn status(&self) -> http::StatusCode {
        match self {
            RequestError::TokenChanged => http::StatusCode::CONFLICT,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
