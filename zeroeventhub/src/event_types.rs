//! Event-type filters: `event-types` keeps, `skip-event-types` drops,
//! events by type, on requests of both versions.

use std::collections::BTreeSet;

use crate::RequestError;

/// Query parameter: only events of these types.
pub(crate) const EVENT_TYPES: &str = "event-types";
/// Query parameter: every event but those of these types.
pub(crate) const SKIP_EVENT_TYPES: &str = "skip-event-types";

/// Which events a consumer asks for by type (`event-types` or
/// `skip-event-types`, a `;`-separated list; at most one of the two).
///
/// Types are compared case-insensitively (Unicode lowercase). A producer
/// decides what an event's type is, and may ignore filters: a consumer
/// that needs them applied must also be safe when they are not. Events
/// filtered away still move the checkpoint forward.
///
/// # Examples
///
/// ```
/// use zeroeventhub::EventTypeFilter;
///
/// let only = EventTypeFilter::only(["OrderPlaced", "OrderPaid"]);
/// assert!(only.keeps(Some("orderplaced")));
/// assert!(!only.keeps(Some("OrderShipped")));
/// assert!(!only.keeps(None)); // an event without a type is none of them
///
/// let skip = EventTypeFilter::skip(["Heartbeat"]);
/// assert!(skip.keeps(Some("OrderPlaced")));
/// assert!(!skip.keeps(Some("HEARTBEAT")));
/// assert!(skip.keeps(None));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum EventTypeFilter {
    /// Every event (neither parameter).
    #[default]
    All,
    /// Only events of these types (`event-types`), held in lowercase.
    Only(BTreeSet<String>),
    /// Every event but those of these types (`skip-event-types`), held in
    /// lowercase.
    Skip(BTreeSet<String>),
}

impl EventTypeFilter {
    /// Keeps only events of the given types.
    pub fn only<I, S>(types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        EventTypeFilter::Only(lowercase(types))
    }

    /// Keeps every event but those of the given types.
    pub fn skip<I, S>(types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        EventTypeFilter::Skip(lowercase(types))
    }

    /// Whether an event of type `event_type` (`None`: the producer knows
    /// no type for it) passes the filter.
    pub fn keeps(&self, event_type: Option<&str>) -> bool {
        let listed = |types: &BTreeSet<String>| {
            event_type.is_some_and(|name| {
                types.contains(name) || types.contains(name.to_lowercase().as_str())
            })
        };
        match self {
            EventTypeFilter::All => true,
            EventTypeFilter::Only(types) => listed(types),
            EventTypeFilter::Skip(types) => !listed(types),
        }
    }

    /// Whether the filter keeps every event.
    pub fn is_all(&self) -> bool {
        matches!(self, EventTypeFilter::All)
    }

    /// The query parameter carrying this filter and its value, `None` for
    /// [`All`](EventTypeFilter::All) (and for an empty list, which would
    /// read back as no filter).
    ///
    /// # Errors
    ///
    /// A type that is empty or holds a `;` cannot be sent.
    pub(crate) fn query_pair(&self) -> Result<Option<(&'static str, String)>, RequestError> {
        let (param, types) = match self {
            EventTypeFilter::All => return Ok(None),
            EventTypeFilter::Only(types) => (EVENT_TYPES, types),
            EventTypeFilter::Skip(types) => (SKIP_EVENT_TYPES, types),
        };
        if types
            .iter()
            .any(|name| name.is_empty() || name.contains(';'))
        {
            return Err(RequestError::InvalidEventTypes {
                param,
                reason: "event types must be non-empty and hold no `;`",
            });
        }
        let names: Vec<&str> = types.iter().map(String::as_str).collect();
        Ok((!names.is_empty()).then(|| (param, names.join(";"))))
    }

    /// The filter of a request whose `event-types` and `skip-event-types`
    /// parameters held these values (each `None` when absent).
    ///
    /// # Errors
    ///
    /// Both parameters at once, or an empty type inside a list (`a;;b`).
    /// An empty value is the same as an absent parameter.
    pub(crate) fn from_params(
        only: Option<&str>,
        skip: Option<&str>,
    ) -> Result<Self, RequestError> {
        match (only, skip) {
            (Some(_), Some(_)) => Err(RequestError::BothEventTypeFilters),
            (Some(value), None) => {
                Ok(parse_list(EVENT_TYPES, value)?
                    .map_or(EventTypeFilter::All, EventTypeFilter::Only))
            }
            (None, Some(value)) => Ok(parse_list(SKIP_EVENT_TYPES, value)?
                .map_or(EventTypeFilter::All, EventTypeFilter::Skip)),
            (None, None) => Ok(EventTypeFilter::All),
        }
    }
}

/// A `;`-separated list (a raw `;` or one decoded from `%3B`, alike):
/// `None` when empty.
fn parse_list(param: &'static str, value: &str) -> Result<Option<BTreeSet<String>>, RequestError> {
    if value.is_empty() {
        return Ok(None);
    }
    let mut types = BTreeSet::new();
    for name in value.split(';') {
        if name.is_empty() {
            return Err(RequestError::InvalidEventTypes {
                param,
                reason: "empty event type in the `;`-separated list",
            });
        }
        types.insert(name.to_lowercase());
    }
    Ok(Some(types))
}

fn lowercase<I, S>(types: I) -> BTreeSet<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    types
        .into_iter()
        .map(|name| name.as_ref().to_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_reads_case_insensitively_and_an_empty_value_is_no_filter() {
        assert_eq!(
            EventTypeFilter::from_params(Some("A;b;B"), None),
            Ok(EventTypeFilter::only(["a", "b"]))
        );
        assert_eq!(
            EventTypeFilter::from_params(None, Some("x")),
            Ok(EventTypeFilter::skip(["X"]))
        );
        assert_eq!(
            EventTypeFilter::from_params(Some(""), None),
            Ok(EventTypeFilter::All)
        );
    }

    #[test]
    fn both_filters_or_an_empty_type_are_refused_naming_the_parameter() {
        let both = EventTypeFilter::from_params(Some("a"), Some("b")).unwrap_err();
        assert_eq!(both.parameter(), "event-types");
        let empty = EventTypeFilter::from_params(None, Some("a;;b")).unwrap_err();
        assert_eq!(empty.parameter(), "skip-event-types");
        assert!(empty.to_string().contains("empty event type"), "{empty}");
    }

    #[test]
    fn a_filter_builds_its_parameter() {
        let only = EventTypeFilter::only(["b", "A"]);
        assert_eq!(only.query_pair(), Ok(Some((EVENT_TYPES, "a;b".to_owned()))));
        assert_eq!(EventTypeFilter::All.query_pair(), Ok(None));
        assert!(EventTypeFilter::skip(["a;b"]).query_pair().is_err());
    }
}
