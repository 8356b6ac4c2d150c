//! Parsing of one feed line (without its `\n`) into a [`FeedLine`].

use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::value::RawValue;

use super::DecodeErrorKind;
use crate::{Cursor, Event, FeedLine, Headers};

/// The keys of a line this library understands; others are ignored.
#[derive(Deserialize)]
#[serde(bound(deserialize = "D: DeserializeOwned"))]
struct WireLine<'a, D> {
    #[serde(borrow, default)]
    partition: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "present")]
    cursor: Option<String>,
    #[serde(default)]
    headers: Option<Headers>,
    #[serde(default, deserialize_with = "present")]
    data: Option<D>,
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
/// it as raw text, any other type is the consumer's own.
pub(super) fn parse_line<D: DeserializeOwned>(
    line: &[u8],
) -> Result<Option<FeedLine<D>>, DecodeErrorKind> {
    // The spec: "Only `\n` ends a line. A `\r` before it is tolerated."
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line.iter().find(|b| !b.is_ascii_whitespace()) {
        // "Blank lines are skipped."
        None => return Ok(None),
        Some(b'{') => {}
        Some(_) => return Err(DecodeErrorKind::NotAnObject),
    }
    let wire: WireLine<'_, D> = serde_json::from_slice(line).map_err(DecodeErrorKind::Json)?;
    // "A line with a `cursor` key is a checkpoint; otherwise a line with a
    // `data` key is an event; a line with neither is skipped."
    if let Some(value) = wire.cursor {
        let partition_id = partition(wire.partition)?;
        let cursor = Cursor::new(partition_id, value).map_err(DecodeErrorKind::InvalidCursor)?;
        Ok(Some(FeedLine::Checkpoint(cursor)))
    } else if let Some(data) = wire.data {
        Ok(Some(FeedLine::Event(Event {
            partition_id: partition(wire.partition)?,
            headers: wire.headers,
            data,
        })))
    } else {
        Ok(None)
    }
}

/// "A `partition` that is missing, not an integer [...] is a protocol error."
fn partition(raw: Option<&RawValue>) -> Result<u32, DecodeErrorKind> {
    let raw = raw.ok_or(DecodeErrorKind::MissingPartition)?.get();
    raw.parse()
        .map_err(|_| DecodeErrorKind::InvalidPartition(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Option<FeedLine>, DecodeErrorKind> {
        parse_line(line.as_bytes())
    }

    #[test]
    fn data_parses_straight_into_the_callers_type() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Point {
            x: i32,
        }
        let line = br#"{"partition":1,"data":{"x":7},"extra":[1]}"#;
        let Some(FeedLine::Event(event)) = parse_line::<Point>(line).unwrap() else {
            panic!("expected an event")
        };
        assert_eq!(event.data, Point { x: 7 });
        assert!(matches!(
            parse_line::<Point>(br#"{"partition":1,"data":{"y":7}}"#),
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
        for bad in ["1.5", "-1", "\"0\"", "1e2", "4294967296", "true"] {
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
