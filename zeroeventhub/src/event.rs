//! Events and the lines of a feed.

use std::collections::BTreeMap;

use serde::{Serialize, de::DeserializeOwned};
use serde_json::value::RawValue;

use crate::Cursor;

/// Event headers: a map from header name to value (both strings).
pub type Headers = BTreeMap<String, String>;

/// One event of a feed: its partition, optional headers and its data.
///
/// By default `data` is kept as raw JSON text (`D` = `Box<RawValue>`),
/// byte for byte as the producer wrote it: it is never parsed into a
/// [`serde_json::Value`] and written back. Deserialize it into your own
/// type, once, with [`Event::data_as`]; or let the decoder parse each line
/// straight into your type (`Event<T>`, from
/// [`FetchBuilder::send_as`](crate::client::FetchBuilder::send_as)),
/// which reads every byte once. A producer may also emit `Event<T>` for
/// any `T: Serialize`: the encoder writes the data straight into the body.
///
/// # Examples
///
/// ```
/// use serde::Deserialize;
/// use zeroeventhub::Event;
///
/// #[derive(Deserialize)]
/// struct NameChanged {
///     person_id: u64,
///     new_name: String,
/// }
///
/// let event = Event::from_data(0, &serde_json::json!({"person_id": 7, "new_name": "Ada"}))?
///     .with_header("ce_type", "NameChanged");
/// let typed: NameChanged = event.data_as()?;
/// assert_eq!(typed.person_id, 7);
/// assert_eq!(event.header("ce_type"), Some("NameChanged"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Event<D = Box<RawValue>> {
    /// The partition the event belongs to.
    pub partition_id: u32,
    /// The event's headers, when the producer sent any.
    pub headers: Option<Headers>,
    /// The event's data: any JSON value, by default kept as raw text.
    pub data: D,
}

impl Event {
    /// An event without headers.
    pub fn new(partition_id: u32, data: Box<RawValue>) -> Self {
        Event {
            partition_id,
            headers: None,
            data,
        }
    }

    /// An event whose data is `value` serialized to JSON.
    ///
    /// # Errors
    ///
    /// Fails when `value` cannot be serialized to JSON (for example a map
    /// with non-string keys).
    pub fn from_data<T: Serialize + ?Sized>(
        partition_id: u32,
        value: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(Event::new(
            partition_id,
            serde_json::value::to_raw_value(value)?,
        ))
    }

    /// The data as JSON text, exactly as received.
    pub fn data_json(&self) -> &str {
        self.data.get()
    }

    /// Deserializes the data into the caller's type.
    ///
    /// # Errors
    ///
    /// Fails when the data does not match `T`.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }
}

impl<D> Event<D> {
    /// Adds one header, keeping those already set.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .get_or_insert_with(Headers::new)
            .insert(name.into(), value.into());
        self
    }

    /// Replaces the headers.
    #[must_use]
    pub fn with_headers(mut self, headers: Option<Headers>) -> Self {
        self.headers = headers;
        self
    }

    /// The value of header `name`, if the event carries it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.as_ref()?.get(name).map(String::as_str)
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.partition_id == other.partition_id
            && self.headers == other.headers
            && self.data.get() == other.data.get()
    }
}

impl Eq for Event {}

/// One line of a feed response: an event or a checkpoint.
///
/// The spec: a checkpoint means "a consumer that has durably applied every
/// event received *before* this line may resume from this cursor later".
#[derive(Debug, Clone)]
pub enum FeedLine<D = Box<RawValue>> {
    /// An event.
    Event(Event<D>),
    /// A checkpoint: the cursor to resume the partition from.
    Checkpoint(Cursor),
}

impl PartialEq for FeedLine {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (FeedLine::Event(a), FeedLine::Event(b)) => a == b,
            (FeedLine::Checkpoint(a), FeedLine::Checkpoint(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for FeedLine {}

impl<D> FeedLine<D> {
    /// The partition the line belongs to.
    pub fn partition_id(&self) -> u32 {
        match self {
            FeedLine::Event(event) => event.partition_id,
            FeedLine::Checkpoint(cursor) => cursor.partition_id(),
        }
    }
}

impl<D> From<Event<D>> for FeedLine<D> {
    fn from(event: Event<D>) -> Self {
        FeedLine::Event(event)
    }
}

impl<D> From<Cursor> for FeedLine<D> {
    fn from(cursor: Cursor) -> Self {
        FeedLine::Checkpoint(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_kept_byte_for_byte() {
        let raw = RawValue::from_string("{\"n\":1.0e10, \"s\":\"\\u00e9\"}".into()).unwrap();
        let event = Event::new(0, raw);
        assert_eq!(event.data_json(), "{\"n\":1.0e10, \"s\":\"\\u00e9\"}");
    }

    #[test]
    fn typed_access_reports_mismatch() {
        let event = Event::from_data(0, "text").unwrap();
        assert!(event.data_as::<u32>().is_err());
        assert_eq!(event.data_as::<String>().unwrap(), "text");
    }

    #[test]
    fn header_lookup() {
        let event = Event::from_data(1, &1).unwrap();
        assert_eq!(event.header("a"), None);
        let event = event.with_header("a", "x");
        assert_eq!(event.header("a"), Some("x"));
        assert_eq!(FeedLine::from(event).partition_id(), 1);
    }
}
