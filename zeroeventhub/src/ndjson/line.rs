//! Parsing of one feed line (without its `\n`) into a [`FeedLine`].

use std::fmt;

use serde::{
    Deserialize, Deserializer,
    de::{DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor},
};
use serde_json::value::RawValue;

use super::DecodeErrorKind;
use crate::{
    Cursor, Event, FeedLine, Headers,
    excerpt::{VALUE_CHARS, excerpt},
};

/// The keys of a line this library understands; others are ignored.
#[derive(Deserialize)]
#[serde(bound(deserialize = "D: DeserializeOwned"))]
struct WireLine<D> {
    #[serde(default)]
    partition: Partition,
    #[serde(default, deserialize_with = "present")]
    cursor: Option<String>,
    #[serde(default)]
    headers: Option<Headers>,
    #[serde(default, deserialize_with = "present")]
    data: Option<D>,
}

/// A line's `partition`, read without allocating: the JSON text of an
/// invalid one is recovered only when it is reported.
#[derive(Default)]
enum Partition {
    /// Absent, or `null`.
    #[default]
    Missing,
    /// An integer in `0..=u32::MAX`.
    Valid(u32),
    /// Anything else: a negative, fractional or too large number, a string...
    Invalid,
}

impl<'de> Deserialize<'de> for Partition {
    fn deserialize<De: Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        deserializer.deserialize_any(PartitionVisitor)
    }
}

struct PartitionVisitor;

impl<'de> Visitor<'de> for PartitionVisitor {
    type Value = Partition;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a partition number")
    }

    fn visit_u64<E>(self, value: u64) -> Result<Partition, E> {
        Ok(u32::try_from(value).map_or(Partition::Invalid, Partition::Valid))
    }

    fn visit_unit<E>(self) -> Result<Partition, E> {
        Ok(Partition::Missing)
    }

    // Every other JSON value is consumed whole and marked invalid.
    fn visit_i64<E>(self, _: i64) -> Result<Partition, E> {
        Ok(Partition::Invalid)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Partition, E> {
        Ok(Partition::Invalid)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Partition, E> {
        Ok(Partition::Invalid)
    }
    fn visit_str<E>(self, _: &str) -> Result<Partition, E> {
        Ok(Partition::Invalid)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Partition, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Partition::Invalid)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Partition, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Partition::Invalid)
    }
}

/// Deserializes a key that is present into `Some`, even when its value is
/// `null`: `"data": null` is an event whose data is `null`, and
/// `"cursor": null` is a malformed checkpoint, not a line without a cursor.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Parses one line. `Ok(None)` means the line is skipped: blank, or
/// carrying neither `cursor` nor `data`.
///
/// `data` is deserialized into `D` in the same pass: `Box<RawValue>` keeps
/// it as raw text, any other type is the consumer's own. With `fixed`
/// (version 2), every line belongs to that partition and its `partition`
/// key, if any, is not read.
#[inline]
pub(super) fn parse_line<D: DeserializeOwned>(
    line: &[u8],
    fixed: Option<u32>,
) -> Result<Option<FeedLine<D>>, DecodeErrorKind> {
    // The spec: "Only `\n` ends a line. A `\r` before it is tolerated."
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line.iter().find(|b| !b.is_ascii_whitespace()) {
        // "Blank lines are skipped."
        None => return Ok(None),
        Some(b'{') => {}
        Some(_) => return Err(DecodeErrorKind::NotAnObject),
    }
    // One UTF-8 check of the whole line; serde_json then reads it as text
    // and need not check every string again.
    let text = std::str::from_utf8(line).map_err(DecodeErrorKind::InvalidUtf8)?;
    let wire: WireLine<D> = serde_json::from_str(text).map_err(DecodeErrorKind::Json)?;
    // "A line with a `cursor` key is a checkpoint; otherwise a line with a
    // `data` key is an event; a line with neither is skipped."
    let partition_of = |wire_partition| match fixed {
        Some(id) => Ok(id),
        None => partition(wire_partition, text),
    };
    if let Some(value) = wire.cursor {
        let partition_id = partition_of(wire.partition)?;
        let cursor = Cursor::new(partition_id, value).map_err(DecodeErrorKind::InvalidCursor)?;
        Ok(Some(FeedLine::Checkpoint(cursor)))
    } else if let Some(data) = wire.data {
        Ok(Some(FeedLine::Event(Event {
            partition_id: partition_of(wire.partition)?,
            headers: wire.headers,
            data,
        })))
    } else {
        Ok(None)
    }
}

/// "A `partition` that is missing, not an integer [...] is a protocol error."
fn partition(partition: Partition, line: &str) -> Result<u32, DecodeErrorKind> {
    match partition {
        Partition::Valid(id) => Ok(id),
        Partition::Missing => Err(DecodeErrorKind::MissingPartition),
        Partition::Invalid => Err(DecodeErrorKind::InvalidPartition(partition_text(line))),
    }
}

/// The JSON text of a line's `partition`, read again for the error message.
fn partition_text(line: &str) -> String {
    #[derive(Deserialize)]
    struct PartitionOnly<'a> {
        #[serde(borrow)]
        partition: &'a RawValue,
    }
    serde_json::from_str::<PartitionOnly<'_>>(line).map_or_else(
        |_| String::new(),
        |only| excerpt(&only.partition.get(), VALUE_CHARS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Option<FeedLine>, DecodeErrorKind> {
        parse_line(line.as_bytes(), None)
    }

    #[test]
    fn data_parses_straight_into_the_callers_type() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Point {
            x: i32,
        }
        let line = br#"{"partition":1,"data":{"x":7},"extra":[1]}"#;
        let Some(FeedLine::Event(event)) = parse_line::<Point>(line, None).unwrap() else {
            panic!("expected an event")
        };
        assert_eq!(event.data, Point { x: 7 });
        assert!(matches!(
            parse_line::<Point>(br#"{"partition":1,"data":{"y":7}}"#, None),
            Err(DecodeErrorKind::Json(_))
        ));
    }

    #[test]
    fn event_with_headers() {
        let Some(FeedLine::Event(event)) =
            parse(r#"{"partition":2,"headers":{"a":"1"},"data":{"x":[1,2]}}"#).unwrap()
        else {
            panic!("expected an event")
        };
        assert_eq!(event.partition_id, 2);
        assert_eq!(event.header("a"), Some("1"));
        assert_eq!(event.data_json(), r#"{"x":[1,2]}"#);
    }

    #[test]
    fn null_data_is_an_event() {
        let line = parse(r#"{"partition":0,"data":null}"#).unwrap().unwrap();
        let FeedLine::Event(event) = line else {
            panic!("expected an event")
        };
        assert_eq!(event.data_json(), "null");
    }

    #[test]
    fn cursor_wins_over_data() {
        let line = parse(r#"{"partition":1,"cursor":"c","data":1}"#).unwrap();
        assert_eq!(
            line,
            Some(FeedLine::Checkpoint(Cursor::new(1, "c").unwrap()))
        );
    }

    #[test]
    fn line_without_data_or_cursor_is_skipped() {
        assert_eq!(parse(r#"{"partition":0,"future":true}"#).unwrap(), None);
        assert_eq!(parse(r#"{"kind":"heartbeat"}"#).unwrap(), None);
    }

    #[test]
    fn partition_must_be_present_and_an_integer() {
        assert!(matches!(
            parse(r#"{"data":1}"#),
            Err(DecodeErrorKind::MissingPartition)
        ));
        assert!(matches!(
            parse(r#"{"partition":null,"cursor":"a"}"#),
            Err(DecodeErrorKind::MissingPartition)
        ));
        for bad in [
            "1.5",
            "-1",
            "\"0\"",
            "1e2",
            "4294967296",
            "true",
            "[1, {}]",
            "{\"a\": [0]}",
        ] {
            let line = format!(r#"{{"partition":{bad},"data":1}}"#);
            match parse(&line) {
                Err(DecodeErrorKind::InvalidPartition(text)) => assert_eq!(text, bad),
                other => panic!("{bad}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn null_or_non_printable_cursor_is_rejected() {
        assert!(matches!(
            parse(r#"{"partition":0,"cursor":null}"#),
            Err(DecodeErrorKind::Json(_))
        ));
        assert!(matches!(
            parse(r#"{"partition":0,"cursor":""}"#),
            Err(DecodeErrorKind::InvalidCursor(_))
        ));
        assert!(matches!(
            parse(r#"{"partition":0,"cursor":"a\u0007"}"#),
            Err(DecodeErrorKind::InvalidCursor(_))
        ));
    }

    #[test]
    fn non_objects_are_rejected() {
        assert!(matches!(
            parse(r#"[0,"c"]"#),
            Err(DecodeErrorKind::NotAnObject)
        ));
        assert!(matches!(parse("42"), Err(DecodeErrorKind::NotAnObject)));
        assert!(matches!(
            parse(r#"{"partition":0,"data":"#),
            Err(DecodeErrorKind::Json(_))
        ));
    }

    #[test]
    fn blank_and_crlf_lines() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse(" \t\r").unwrap(), None);
        assert!(
            parse("{\"partition\":0,\"cursor\":\"a\"}\r")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn headers_must_be_strings() {
        assert!(matches!(
            parse(r#"{"partition":0,"headers":{"a":1},"data":1}"#),
            Err(DecodeErrorKind::Json(_))
        ));
    }
}
