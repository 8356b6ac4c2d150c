//! Writing feed lines in their exact wire form.

use serde::Serialize;

use crate::{Event, FeedLine, Headers};

/// Appends `line` and its `\n` to `out`, in the exact wire form:
///
/// - an event: `{"partition":0,"headers":{"a":"b"},"data":...}`, without
///   the `headers` key when the event has none; raw `data`
///   (`Box<RawValue>`) is copied byte for byte, any other `D` is
///   serialized straight into `out`;
/// - a checkpoint: `{"partition":0,"cursor":"..."}`.
///
/// Every line is one line, whatever the data: a raw `\n` in `data` (raw
/// JSON may be pretty-printed) can only be whitespace between two tokens,
/// since JSON strings cannot hold one unescaped, so it is written as a
/// space. The value is the same; every other byte is kept.
///
/// # Examples
///
/// ```
/// use zeroeventhub::{ndjson::encode_line, Cursor, Event, FeedLine};
///
/// let mut out = Vec::new();
/// let event = Event::from_data(0, &serde_json::json!({"a": 1}))?.with_header("id", "e1");
/// encode_line(&FeedLine::Event(event), &mut out)?;
/// encode_line(&FeedLine::<()>::Checkpoint(Cursor::new(0, "17").unwrap()), &mut out)?;
/// assert_eq!(
///     String::from_utf8(out).unwrap(),
///     "{\"partition\":0,\"headers\":{\"id\":\"e1\"},\"data\":{\"a\":1}}\n\
///      {\"partition\":0,\"cursor\":\"17\"}\n"
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// # Errors
///
/// Fails only when `D`'s `Serialize` implementation fails (raw data never
/// does); `out` is then left as it was.
pub fn encode_line<D: Serialize>(
    line: &FeedLine<D>,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    encode(line, out, true)
}

/// Appends `line` and its `\n` to `out` in the wire form of version 2
/// (FeedAPI), whose lines belong to the one partition asked for:
/// `{"data":...}` for an event (its partition and headers are not
/// written) and `{"cursor":"..."}` for a checkpoint. Otherwise as
/// [`encode_line`].
///
/// ```
/// use zeroeventhub::{ndjson::encode_line_v2, Cursor, Event, FeedLine};
///
/// let mut out = Vec::new();
/// let event = Event::from_data(3, &serde_json::json!({"a": 1}))?.with_header("id", "e1");
/// encode_line_v2(&FeedLine::Event(event), &mut out)?;
/// encode_line_v2(&FeedLine::<()>::Checkpoint(Cursor::new(3, "17").unwrap()), &mut out)?;
/// assert_eq!(String::from_utf8(out).unwrap(), "{\"data\":{\"a\":1}}\n{\"cursor\":\"17\"}\n");
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// # Errors
///
/// As [`encode_line`].
pub fn encode_line_v2<D: Serialize>(
    line: &FeedLine<D>,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    encode(line, out, false)
}

/// `with_partition`: version 1's form, else version 2's.
fn encode<D: Serialize>(
    line: &FeedLine<D>,
    out: &mut Vec<u8>,
    with_partition: bool,
) -> Result<(), serde_json::Error> {
    match line {
        FeedLine::Event(event) => {
            let start = out.len();
            encode_event(event, out, with_partition).inspect_err(|_| out.truncate(start))
        }
        FeedLine::Checkpoint(cursor) => {
            if with_partition {
                write_partition(cursor.partition_id(), out);
                out.extend_from_slice(b",\"cursor\":");
            } else {
                out.extend_from_slice(b"{\"cursor\":");
            }
            write_str(cursor.as_str(), out);
            out.extend_from_slice(b"}\n");
            Ok(())
        }
    }
}

fn encode_event<D: Serialize>(
    event: &Event<D>,
    out: &mut Vec<u8>,
    with_partition: bool,
) -> Result<(), serde_json::Error> {
    if with_partition {
        write_partition(event.partition_id, out);
        if let Some(headers) = &event.headers {
            out.extend_from_slice(b",\"headers\":");
            write_headers(headers, out);
        }
        out.extend_from_slice(b",\"data\":");
    } else {
        out.extend_from_slice(b"{\"data\":");
    }
    let data_start = out.len();
    // A `RawValue` is written verbatim; other types are serialized here.
    serde_json::to_writer(&mut *out, &event.data)?;
    flatten_newlines(&mut out[data_start..]);
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// Turns every raw `\n` of serialized JSON into a space. The wire format
/// promises one line per item, and a newline outside a JSON string is
/// whitespace between tokens (inside one it is always escaped), so this
/// keeps the value as it was. Data without a newline (the common case) is
/// only scanned, by `memchr`.
fn flatten_newlines(json: &mut [u8]) {
    let mut from = 0;
    while let Some(offset) = memchr::memchr(b'\n', &json[from..]) {
        json[from + offset] = b' ';
        from += offset + 1;
    }
}

fn write_partition(partition_id: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"partition\":");
    out.extend_from_slice(itoa::Buffer::new().format(partition_id).as_bytes());
}

fn write_headers(headers: &Headers, out: &mut Vec<u8>) {
    out.push(b'{');
    for (index, (name, value)) in headers.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_str(name, out);
        out.push(b':');
        write_str(value, out);
    }
    out.push(b'}');
}

/// Writes `text` as a JSON string: quotes, backslashes and control
/// characters escaped; everything else, U+2028 included, as UTF-8. A raw
/// `\n` can never appear, so a line always ends where the encoder says.
fn write_str(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Cursors (printable ASCII) and most header values need no escape.
    if bytes.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.extend_from_slice(bytes);
    } else {
        write_escaped(bytes, out);
    }
    out.push(b'"');
}

/// The body of [`write_str`] for text that needs escaping.
fn write_escaped(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..index]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cursor;

    fn encoded(line: FeedLine) -> String {
        let mut out = Vec::new();
        encode_line(&line, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn typed_data_is_serialized_in_place() {
        let mut out = Vec::new();
        let event = Event {
            partition_id: 1,
            headers: None,
            data: serde_json::json!({"a": [1, "x"]}),
        };
        encode_line(&FeedLine::Event(event), &mut out).unwrap();
        assert_eq!(out, b"{\"partition\":1,\"data\":{\"a\":[1,\"x\"]}}\n");
    }

    #[test]
    fn failed_serialization_leaves_the_buffer_as_it_was() {
        let mut out = b"kept\n".to_vec();
        let bad = std::collections::HashMap::from([(vec![1u8], 1)]);
        let event = Event {
            partition_id: 0,
            headers: None,
            data: bad,
        };
        assert!(encode_line(&FeedLine::Event(event), &mut out).is_err());
        assert_eq!(out, b"kept\n");
    }

    #[test]
    fn event_without_headers_has_no_headers_key() {
        let event = Event::from_data(3, &[1, 2]).unwrap();
        assert_eq!(encoded(event.into()), "{\"partition\":3,\"data\":[1,2]}\n");
    }

    #[test]
    fn strings_are_escaped_as_json() {
        let event = Event::from_data(0, &0)
            .unwrap()
            .with_header("q\"\\", "\n\t\u{1}\u{2028}é");
        let text = encoded(event.into());
        assert_eq!(
            text,
            "{\"partition\":0,\"headers\":{\"q\\\"\\\\\":\"\\n\\t\\u0001\u{2028}é\"},\"data\":0}\n"
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["headers"]["q\"\\"], "\n\t\u{1}\u{2028}é");
        // Text that needs no escape is copied as it is, U+2028 included.
        let event = Event::from_data(0, &0)
            .unwrap()
            .with_header("a", "é\u{2028}~ ");
        assert_eq!(
            encoded(event.into()),
            "{\"partition\":0,\"headers\":{\"a\":\"é\u{2028}~ \"},\"data\":0}\n"
        );
    }

    #[test]
    fn checkpoint_cursor_is_escaped() {
        let cursor = Cursor::new(7, "a\"b\\c").unwrap();
        assert_eq!(
            encoded(cursor.into()),
            "{\"partition\":7,\"cursor\":\"a\\\"b\\\\c\"}\n"
        );
    }

    /// Regression (found by fuzzing): raw data holding a newline between
    /// tokens was written over two lines, and the consumer failed on it.
    #[test]
    fn raw_data_with_newlines_between_tokens_stays_on_one_line() {
        for raw in [
            "{\"a\": [\n  1, 2]}",
            "{\r\n  \"a\" : \"x\\ny\",\r\n  \"b\": [1,\n2]\r\n}",
            "\n\t[ 1 ,\n\n\"\u{2028}\" ]\n",
        ] {
            let data = serde_json::value::RawValue::from_string(raw.to_owned()).unwrap();
            let stored = data.get().to_owned();
            let text = encoded(FeedLine::Event(Event::new(0, data)));
            assert_eq!(text.matches('\n').count(), 1, "{text:?}");
            assert!(text.ends_with("}\n"));
            let line: serde_json::Value = serde_json::from_str(&text).unwrap();
            let want: serde_json::Value = serde_json::from_str(raw).unwrap();
            assert_eq!(line["data"], want);
            // Only the newlines changed: every other byte is as it was.
            let data = &text["{\"partition\":0,\"data\":".len()..text.len() - 2];
            assert_eq!(data, stored.replace('\n', " "));
        }
    }
}
