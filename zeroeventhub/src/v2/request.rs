//! The version 2 events request: one partition, with the discovery's
//! token.

use crate::{
    Cursor, EventTypeFilter, RequestError,
    event_types::{EVENT_TYPES, SKIP_EVENT_TYPES},
    excerpt::{VALUE_CHARS, excerpt},
    request::{decimal, parse_hint, parse_wait, set_once},
};

use super::MAX_PARTITION_ID;

const TOKEN: &str = "token";
const PARTITION: &str = "partition";
const CURSOR: &str = "cursor";
const PAGE_SIZE_HINT: &str = "pagesizehint";
const WAIT: &str = "wait";

/// A version 2 (FeedAPI) events request, `GET {feed}/events?...`: one
/// partition, from one cursor, with the token of the discovery it follows.
///
/// # Examples
///
/// ```
/// use zeroeventhub::{Cursor, EventTypeFilter, v2::EventsRequest};
///
/// let mut request = EventsRequest::new("t7", Cursor::new(3, "120")?);
/// request.event_types = EventTypeFilter::skip(["heartbeat", "ping"]);
/// let query = request.to_query_string()?;
/// assert_eq!(query, "token=t7&partition=3&cursor=120&skip-event-types=heartbeat%3Bping");
/// assert_eq!(EventsRequest::parse(&query)?, request);
///
/// let error = EventsRequest::parse("token=t7&partition=40000&cursor=_first").unwrap_err();
/// assert_eq!(error.parameter(), "partition");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsRequest {
    /// `token`: the discovery's token. A producer whose token has changed
    /// answers 409.
    pub token: String,
    /// `partition` and `cursor`: where to start, in which partition.
    pub cursor: Cursor,
    /// `pagesizehint`, as in version 1: `None` (or `Some(0)`) leaves it to
    /// the producer.
    pub page_size_hint: Option<u32>,
    /// `event-types` / `skip-event-types`.
    pub event_types: EventTypeFilter,
    /// `wait` (long-polling), as in version 1.
    pub wait: Option<u32>,
}

impl EventsRequest {
    /// A request from `cursor` with the producer's defaults for the rest.
    pub fn new(token: impl Into<String>, cursor: Cursor) -> Self {
        EventsRequest {
            token: token.into(),
            cursor,
            page_size_hint: None,
            event_types: EventTypeFilter::All,
            wait: None,
        }
    }

    /// The query string of this request (without the leading `?`).
    ///
    /// # Errors
    ///
    /// The partition id is beyond 32767, or a filter's type cannot be sent.
    pub fn to_query_string(&self) -> Result<String, RequestError> {
        let partition = self.cursor.partition_id();
        if partition > MAX_PARTITION_ID {
            return Err(RequestError::InvalidPartition {
                value: partition.to_string(),
            });
        }
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair(TOKEN, &self.token);
        query.append_pair(PARTITION, itoa::Buffer::new().format(partition));
        query.append_pair(CURSOR, self.cursor.as_str());
        if let Some(hint) = self.page_size_hint.filter(|&hint| hint > 0) {
            query.append_pair(PAGE_SIZE_HINT, itoa::Buffer::new().format(hint));
        }
        if let Some((param, types)) = self.event_types.query_pair()? {
            query.append_pair(param, &types);
        }
        if let Some(wait) = self.wait.filter(|&wait| wait > 0) {
            query.append_pair(WAIT, itoa::Buffer::new().format(wait));
        }
        Ok(query.finish())
    }

    /// Parses and checks an events request's query string (without the
    /// `?`). Unknown parameters are ignored. Whether the token is current
    /// and the partition listed is for the producer to check next.
    ///
    /// # Errors
    ///
    /// A [`RequestError`] naming the parameter that is missing, repeated
    /// or wrong.
    pub fn parse(query: &str) -> Result<Self, RequestError> {
        let mut token = None;
        let mut partition = None;
        let mut cursor = None;
        let mut page_size_hint = None;
        let mut wait = None;
        let mut only_types = None;
        let mut skip_types = None;
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                TOKEN => set_once(&mut token, TOKEN, value.into_owned())?,
                PARTITION => set_once(&mut partition, PARTITION, parse_partition(&value)?)?,
                CURSOR => set_once(&mut cursor, CURSOR, value.into_owned())?,
                PAGE_SIZE_HINT => {
                    set_once(&mut page_size_hint, PAGE_SIZE_HINT, parse_hint(&value)?)?
                }
                WAIT => set_once(&mut wait, WAIT, parse_wait(&value)?)?,
                EVENT_TYPES => set_once(&mut only_types, EVENT_TYPES, value)?,
                SKIP_EVENT_TYPES => set_once(&mut skip_types, SKIP_EVENT_TYPES, value)?,
                _ => {}
            }
        }
        let event_types =
            EventTypeFilter::from_params(only_types.as_deref(), skip_types.as_deref())?;
        let token = token.ok_or(RequestError::MissingParameter { param: TOKEN })?;
        let partition = partition.ok_or(RequestError::MissingParameter { param: PARTITION })?;
        let cursor = cursor.ok_or(RequestError::MissingParameter { param: CURSOR })?;
        let cursor =
            Cursor::new(partition, cursor).map_err(|reason| RequestError::InvalidCursor {
                param: CURSOR.to_owned(),
                reason,
            })?;
        Ok(EventsRequest {
            token,
            cursor,
            page_size_hint: page_size_hint.flatten(),
            event_types,
            wait: wait.flatten(),
        })
    }
}

fn parse_partition(value: &str) -> Result<u32, RequestError> {
    decimal(value)
        .and_then(|id| u32::try_from(id).ok())
        .filter(|&id| id <= MAX_PARTITION_ID)
        .ok_or_else(|| RequestError::InvalidPartition {
            value: excerpt(&value, VALUE_CHARS),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(query: &str) -> (String, String) {
        let error = EventsRequest::parse(query).unwrap_err();
        (error.parameter().to_owned(), error.to_string())
    }

    #[test]
    fn a_full_request_round_trips_and_raw_semicolons_read_as_encoded_ones() {
        let request = EventsRequest {
            token: "a b&c".into(),
            cursor: Cursor::new(32767, "x=1").unwrap(),
            page_size_hint: Some(10),
            event_types: EventTypeFilter::only(["A", "b"]),
            wait: Some(20),
        };
        let query = request.to_query_string().unwrap();
        assert_eq!(EventsRequest::parse(&query).unwrap(), request);
        let raw =
            EventsRequest::parse("token=t&partition=0&cursor=_first&event-types=A;B").unwrap();
        assert_eq!(raw.event_types, EventTypeFilter::only(["a", "b"]));
    }

    #[test]
    fn every_bad_parameter_is_named() {
        for (query, param, says) in [
            ("partition=0&cursor=_first", "token", "missing"),
            ("token=t&cursor=_first", "partition", "missing"),
            ("token=t&partition=0", "cursor", "missing"),
            ("token=t&partition=x&cursor=_first", "partition", "\"x\""),
            (
                "token=t&partition=32768&cursor=_first",
                "partition",
                "0..=32767",
            ),
            ("token=t&partition=01&cursor=_first", "partition", "\"01\""),
            ("token=t&partition=0&cursor=", "cursor", "empty"),
            ("token=t&partition=0&cursor=%7F", "cursor", "printable"),
            (
                "token=t&token=u&partition=0&cursor=_first",
                "token",
                "more than once",
            ),
            (
                "token=t&partition=0&cursor=a&cursor=b",
                "cursor",
                "more than once",
            ),
            (
                "token=t&partition=0&cursor=a&pagesizehint=-1",
                "pagesizehint",
                "-1",
            ),
            ("token=t&partition=0&cursor=a&wait=x", "wait", "\"x\""),
            (
                "token=t&partition=0&cursor=a&event-types=a&skip-event-types=b",
                "event-types",
                "together",
            ),
        ] {
            let (named, message) = error_of(query);
            assert_eq!(named, param, "{query}: {message}");
            assert!(message.contains(says), "{query}: {message}");
        }
    }
}
