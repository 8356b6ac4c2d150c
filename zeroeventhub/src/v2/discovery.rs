//! The discovery document: what a version 2 producer answers to a GET of
//! its feed URL without parameters.

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::{
    excerpt::{VALUE_CHARS, excerpt},
    request::decimal,
};

/// The highest partition id of version 2: ids are in `0..=32767`.
pub const MAX_PARTITION_ID: u32 = 32767;

/// A producer's discovery document: its token and its partitions.
///
/// Read with [`Discovery::parse`], which also checks the rules of
/// PROTOCOL.md (ids in `0..=32767` and unique, `startsAfterPartition`
/// naming a listed closed partition); written with `serde_json`. Unknown
/// fields are ignored.
///
/// # Examples
///
/// ```
/// use zeroeventhub::v2::Discovery;
///
/// let discovery = Discovery::parse(br#"{"token":"t7","exactlyOnce":true,"partitions":[
///     {"id":"0","closed":true},
///     {"id":"1","startsAfterPartition":"0"},
///     {"id":"2","startsAfterPartition":0, "newFlag":1}]}"#)?;
/// assert_eq!(discovery.token, "t7");
/// assert!(discovery.partition(0).unwrap().closed);
/// assert_eq!(discovery.partition(2).unwrap().starts_after_partition, Some(0));
/// assert_eq!(
///     serde_json::to_string(&discovery.partitions[1])?,
///     r#"{"id":"1","startsAfterPartition":"0"}"#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    /// Opaque; sent back on every events request. It changes when the
    /// partitions do, and a request with an old one gets 409.
    pub token: String,
    /// Whether the producer promises never to repeat an event.
    #[serde(default)]
    pub exactly_once: bool,
    /// The partitions, in the producer's order.
    pub partitions: Vec<PartitionInfo>,
}

/// One partition of a [`Discovery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionInfo {
    /// The partition's id, in `0..=32767` (a string on the wire; an
    /// integer is accepted too).
    #[serde(serialize_with = "write_id", deserialize_with = "read_id")]
    pub id: u32,
    /// No new event will ever appear in it: consume it to its end, then
    /// stop polling it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub closed: bool,
    /// Split, method 1: every event of this partition comes after every
    /// event of this closed partition.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "write_optional_id",
        deserialize_with = "read_optional_id"
    )]
    pub starts_after_partition: Option<u32>,
    /// Split, method 2: partitions whose cursor is a valid start on this
    /// one, nearest ancestor first.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "write_ids",
        deserialize_with = "read_ids"
    )]
    pub cursor_from_partitions: Vec<u32>,
}

impl PartitionInfo {
    /// An open partition without ancestors.
    pub fn open(id: u32) -> Self {
        PartitionInfo {
            id,
            closed: false,
            starts_after_partition: None,
            cursor_from_partitions: Vec::new(),
        }
    }
}

impl Discovery {
    /// Reads and checks a discovery document.
    ///
    /// # Errors
    ///
    /// The body is not such a document (JSON, shape, an id outside
    /// `0..=32767`), an id is listed twice, or a `startsAfterPartition`
    /// names a partition that is not listed as closed.
    pub fn parse(body: &[u8]) -> Result<Self, DiscoveryError> {
        let discovery: Discovery = serde_json::from_slice(body).map_err(|error| {
            DiscoveryError::Malformed(excerpt(&error, crate::excerpt::VALUE_CHARS * 4))
        })?;
        discovery.validate()?;
        Ok(discovery)
    }

    /// Checks the rules [`parse`](Discovery::parse) checks, on a document
    /// a producer is about to serve.
    ///
    /// # Errors
    ///
    /// As [`parse`](Discovery::parse), for the rules beyond the shape.
    pub fn validate(&self) -> Result<(), DiscoveryError> {
        let mut by_id = BTreeMap::new();
        for partition in &self.partitions {
            if partition.id > MAX_PARTITION_ID {
                return Err(DiscoveryError::IdOutOfRange(partition.id));
            }
            if by_id.insert(partition.id, partition).is_some() {
                return Err(DiscoveryError::RepeatedId(partition.id));
            }
        }
        for partition in &self.partitions {
            let Some(parent) = partition.starts_after_partition else {
                continue;
            };
            if !by_id.get(&parent).is_some_and(|parent| parent.closed) {
                return Err(DiscoveryError::ParentNotClosed {
                    id: partition.id,
                    parent,
                });
            }
        }
        Ok(())
    }

    /// The partition with this id, if listed.
    pub fn partition(&self, id: u32) -> Option<&PartitionInfo> {
        self.partitions.iter().find(|partition| partition.id == id)
    }
}

/// A discovery document that breaks the protocol's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// Not JSON, or not of the document's shape; holds serde_json's
    /// message (its first 256 characters).
    #[error("malformed discovery document: {0}")]
    Malformed(String),
    /// A partition id beyond 32767.
    #[error("partition id {0} is outside 0..=32767")]
    IdOutOfRange(u32),
    /// A partition listed twice.
    #[error("partition {0} is listed more than once")]
    RepeatedId(u32),
    /// `startsAfterPartition` names a partition that is not listed, or not
    /// closed.
    #[error("partition {id} starts after partition {parent}, which is not listed as closed")]
    ParentNotClosed {
        /// The child.
        id: u32,
        /// The partition it names.
        parent: u32,
    },
}

fn is_false(value: &bool) -> bool {
    !value
}

fn write_id<S: Serializer>(id: &u32, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(id)
}

fn write_optional_id<S: Serializer>(id: &Option<u32>, serializer: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => serializer.collect_str(id),
        None => serializer.serialize_none(),
    }
}

fn write_ids<S: Serializer>(ids: &[u32], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(ids.iter().map(|id| id.to_string()))
}

fn read_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    Id::deserialize(deserializer).map(|Id(id)| id)
}

fn read_optional_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    Option::<Id>::deserialize(deserializer).map(|id| id.map(|Id(id)| id))
}

fn read_ids<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u32>, D::Error> {
    Vec::<Id>::deserialize(deserializer).map(|ids| ids.into_iter().map(|Id(id)| id).collect())
}

/// A partition id as read: a string holding an integer in `0..=32767`, or
/// that integer itself.
struct Id(u32);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IdVisitor)
    }
}

struct IdVisitor;

impl IdVisitor {
    fn checked<E: de::Error>(id: u64, shown: &dyn fmt::Display) -> Result<Id, E> {
        match u32::try_from(id) {
            Ok(id) if id <= MAX_PARTITION_ID => Ok(Id(id)),
            _ => Err(E::custom(format_args!(
                "partition id {shown} is outside 0..=32767"
            ))),
        }
    }
}

impl de::Visitor<'_> for IdVisitor {
    type Value = Id;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a partition id: a string holding an integer in 0..=32767")
    }

    fn visit_u64<E: de::Error>(self, id: u64) -> Result<Id, E> {
        IdVisitor::checked(id, &id)
    }

    fn visit_i64<E: de::Error>(self, id: i64) -> Result<Id, E> {
        Err(E::custom(format_args!(
            "partition id {id} is outside 0..=32767"
        )))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Id, E> {
        let shown = excerpt(&text, VALUE_CHARS);
        let id = decimal(text).ok_or_else(|| {
            E::custom(format_args!(
                "partition id {shown:?} is not an integer without sign or leading zeros"
            ))
        })?;
        IdVisitor::checked(id, &format_args!("{shown:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Discovery, DiscoveryError> {
        Discovery::parse(text.as_bytes())
    }

    #[test]
    fn the_protocols_split_example_reads_with_string_and_integer_ids() {
        let discovery = parse(
            r#"{"token":"t7","exactlyOnce":true,"partitions":[
                {"id":"0","closed":true},
                {"id":"1","startsAfterPartition":"0"},
                {"id":2,"startsAfterPartition":0},
                {"id":"3","cursorFromPartitions":["1",0]}]}"#,
        )
        .unwrap();
        assert!(discovery.exactly_once);
        let ids: Vec<u32> = discovery.partitions.iter().map(|p| p.id).collect();
        assert_eq!(ids, [0, 1, 2, 3]);
        assert_eq!(
            discovery.partition(3).unwrap().cursor_from_partitions,
            [1, 0]
        );
        assert_eq!(
            serde_json::to_string(&discovery).unwrap(),
            r#"{"token":"t7","exactlyOnce":true,"partitions":[{"id":"0","closed":true},{"id":"1","startsAfterPartition":"0"},{"id":"2","startsAfterPartition":"0"},{"id":"3","cursorFromPartitions":["1","0"]}]}"#
        );
    }

    #[test]
    fn unknown_fields_are_ignored_and_exactly_once_defaults_to_false() {
        let discovery =
            parse(r#"{"token":"","partitions":[{"id":"0","future":[1]}],"more":{}}"#).unwrap();
        assert!(!discovery.exactly_once);
        assert_eq!(discovery.partitions, [PartitionInfo::open(0)]);
    }

    #[test]
    fn a_document_breaking_a_rule_is_refused_naming_it() {
        for (text, expected) in [
            (r#"{"token":"t","partitions":[{"id":"32768"}]}"#, "32768"),
            (r#"{"token":"t","partitions":[{"id":-1}]}"#, "-1"),
            (r#"{"token":"t","partitions":[{"id":"01"}]}"#, "\"01\""),
            (r#"{"token":"t","partitions":[{"id":"x"}]}"#, "\"x\""),
            (r#"{"partitions":[]}"#, "token"),
            (r#"[1]"#, "malformed"),
            (
                r#"{"token":"t","partitions":[{"id":"1"},{"id":1}]}"#,
                "listed more than once",
            ),
            (
                r#"{"token":"t","partitions":[{"id":"0"},{"id":"1","startsAfterPartition":"0"}]}"#,
                "not listed as closed",
            ),
            (
                r#"{"token":"t","partitions":[{"id":"1","startsAfterPartition":"5"}]}"#,
                "after partition 5",
            ),
        ] {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
