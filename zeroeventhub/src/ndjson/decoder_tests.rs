//! The decoder against every edge of the wire format, fed whole, one byte
//! at a time and split at every position.

use super::*;
use crate::{Cursor, Event, FeedLine};

/// What a decoder made of a body: the lines, re-encoded, and the error that
/// ended it, if any.
#[derive(Debug, PartialEq)]
struct Outcome {
    lines: Vec<String>,
    error: Option<String>,
}

fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, max: usize) -> Outcome {
    let mut decoder = Decoder::new().with_max_line_length(max);
    let mut outcome = Outcome {
        lines: Vec::new(),
        error: None,
    };
    let take = |result: Result<Option<FeedLine>, DecodeError>, outcome: &mut Outcome| match result {
        Ok(Some(line)) => {
            let mut out = Vec::new();
            encode_line(&line, &mut out).unwrap();
            outcome.lines.push(String::from_utf8(out).unwrap());
            true
        }
        Ok(None) => false,
        Err(error) => {
            assert!(outcome.error.is_none(), "a second error after {error}");
            outcome.error = Some(error.to_string());
            true
        }
    };
    for chunk in chunks {
        decoder.push(chunk);
        while take(decoder.decode(), &mut outcome) {}
    }
    while take(decoder.decode_eof(), &mut outcome) {}
    outcome
}

/// The same through [`FeedLines`], which parses lines where they lie in
/// the chunks ([`Decoder::decode_from`]) instead of pushing every chunk.
fn decode_stream<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, max: usize) -> Outcome {
    use futures_util::{FutureExt, StreamExt, stream};

    let chunks = chunks.into_iter().map(Ok::<_, std::convert::Infallible>);
    let decoder = Decoder::new().with_max_line_length(max);
    let results = stream::iter(chunks)
        .feed_lines_with(decoder)
        .collect::<Vec<_>>()
        .now_or_never()
        .expect("the chunks are all ready");
    let mut outcome = Outcome {
        lines: Vec::new(),
        error: None,
    };
    for result in results {
        match result {
            Ok(line) => {
                let mut out = Vec::new();
                encode_line(&line, &mut out).unwrap();
                outcome.lines.push(String::from_utf8(out).unwrap());
            }
            Err(error) => {
                assert!(outcome.error.is_none(), "a second error after {error}");
                outcome.error = Some(error.to_string());
            }
        }
    }
    outcome
}

/// Decodes `body` whole, byte by byte and split in two at every position,
/// with a bare [`Decoder`] and through [`FeedLines`], asserts that every
/// way gives the same outcome, and returns it.
fn decode_every_way(body: &[u8], max: usize) -> Outcome {
    let whole = decode_chunks([body], max);
    assert_eq!(whole, decode_stream([body], max), "stream whole differs");
    let bytewise = decode_chunks(body.chunks(1), max);
    assert_eq!(whole, bytewise, "byte by byte differs");
    let bytewise = decode_stream(body.chunks(1), max);
    assert_eq!(whole, bytewise, "stream byte by byte differs");
    for split in 0..=body.len() {
        let (head, tail) = body.split_at(split);
        assert_eq!(
            whole,
            decode_chunks([head, tail], max),
            "split at {split} differs"
        );
        assert_eq!(
            whole,
            decode_stream([head, tail], max),
            "stream split at {split} differs"
        );
    }
    whole
}

fn decode(body: &str) -> Outcome {
    decode_every_way(body.as_bytes(), DEFAULT_MAX_LINE_LENGTH)
}

const EVENT: &str = "{\"partition\":0,\"data\":{\"a\":\"é\u{2028}x\"}}\n";
const CHECKPOINT: &str = "{\"partition\":0,\"cursor\":\"1\"}\n";

#[test]
fn decoder_lines_end_only_at_newline() {
    let outcome = decode(&format!("{EVENT}{CHECKPOINT}"));
    assert_eq!(outcome.lines, [EVENT, CHECKPOINT]);
    assert_eq!(outcome.error, None);
}

#[test]
fn decoder_unicode_line_separators_are_data() {
    let body = "{\"partition\":0,\"data\":\"a\u{2028}b\u{2029}c\u{85}d\"}\n";
    assert_eq!(decode(body).lines, [body]);
}

#[test]
fn decoder_tolerates_crlf() {
    let outcome = decode(&format!("{EVENT}{CHECKPOINT}").replace('\n', "\r\n"));
    assert_eq!(outcome.lines, [EVENT, CHECKPOINT]);
    assert_eq!(outcome.error, None);
}

#[test]
fn decoder_skips_blank_lines() {
    let outcome = decode(&format!("\n\r\n  \n{EVENT}\n\t\n{CHECKPOINT}\n"));
    assert_eq!(outcome.lines, [EVENT, CHECKPOINT]);
}

#[test]
fn decoder_accepts_missing_final_newline() {
    let outcome = decode(&format!("{EVENT}{}", CHECKPOINT.trim_end()));
    assert_eq!(outcome.lines, [EVENT, CHECKPOINT]);
    let outcome = decode(&format!("{EVENT}{}\r", CHECKPOINT.trim_end()));
    assert_eq!(outcome.lines, [EVENT, CHECKPOINT]);
}

#[test]
fn decoder_empty_body_gives_nothing() {
    assert_eq!(decode("").lines, Vec::<String>::new());
    assert_eq!(decode("").error, None);
}

#[test]
fn decoder_skips_lines_without_data_or_cursor() {
    let outcome = decode(&format!(
        "{{\"partition\":0,\"kind\":\"ping\"}}\n{{\"token\":\"v2\"}}\n{EVENT}"
    ));
    assert_eq!(outcome.lines, [EVENT]);
}

#[test]
fn decoder_rejects_missing_partition_with_line_number() {
    let outcome = decode(&format!("{EVENT}\n{{\"data\":1}}\n{CHECKPOINT}"));
    assert_eq!(outcome.lines, [EVENT]);
    assert_eq!(
        outcome.error.as_deref(),
        Some("line 3: missing `partition`")
    );
}

#[test]
fn decoder_rejects_non_integer_partition() {
    let outcome = decode("{\"partition\":\"0\",\"cursor\":\"a\"}\n");
    assert_eq!(
        outcome.error.as_deref(),
        Some("line 1: `partition` must be a non-negative integer, got \"0\"")
    );
}

#[test]
fn decoder_rejects_invalid_json_and_stops() {
    let outcome = decode(&format!(
        "{EVENT}{{\"partition\":0,\"data\":}}\n{CHECKPOINT}"
    ));
    assert_eq!(outcome.lines, [EVENT]);
    let error = outcome.error.unwrap();
    assert!(error.starts_with("line 2: invalid JSON"), "{error}");
}

#[test]
fn decoder_rejects_truncated_last_line() {
    let outcome = decode(&format!("{EVENT}{{\"partition\":0,\"cur"));
    assert_eq!(outcome.lines, [EVENT]);
    assert!(outcome.error.unwrap().starts_with("line 2: invalid JSON"));
}

#[test]
fn decoder_rejects_invalid_utf8() {
    let body = b"{\"partition\":0,\"data\":\"\xff\"}\n";
    let outcome = decode_every_way(body, DEFAULT_MAX_LINE_LENGTH);
    let error = outcome.error.unwrap();
    assert!(error.starts_with("line 1: line is not UTF-8"), "{error}");
    // Also in the value of a key the decoder otherwise ignores.
    let body = b"{\"partition\":0,\"data\":1,\"note\":\"\xc3\"}\n";
    let error = decode_every_way(body, DEFAULT_MAX_LINE_LENGTH)
        .error
        .unwrap();
    assert!(error.starts_with("line 1: line is not UTF-8"), "{error}");
}

#[test]
fn decoder_line_split_inside_utf8_sequence() {
    // decode_every_way splits inside the two-byte `é` and three-byte U+2028.
    assert_eq!(decode(EVENT).lines, [EVENT]);
}

#[test]
fn decoder_line_longer_than_maximum_fails() {
    let max = CHECKPOINT.len() - 1;
    let body = format!("{CHECKPOINT}{EVENT}{CHECKPOINT}");
    let outcome = decode_every_way(body.as_bytes(), max);
    assert_eq!(outcome.lines, [CHECKPOINT]);
    assert_eq!(
        outcome.error.as_deref(),
        Some(format!("line 2: line longer than the maximum of {max} bytes").as_str())
    );
}

#[test]
fn decoder_line_of_exactly_maximum_passes() {
    let max = CHECKPOINT.len() - 1;
    let outcome = decode_every_way(CHECKPOINT.as_bytes(), max);
    assert_eq!(outcome.lines, [CHECKPOINT]);
    assert_eq!(outcome.error, None);
}

#[test]
fn decoder_does_not_buffer_beyond_maximum() {
    let mut decoder = Decoder::new().with_max_line_length(1024);
    let mut error = None;
    for _ in 0..100 {
        decoder.push(&[b' '; 100]);
        if let Err(e) = decoder.decode() {
            error = Some(e);
            break;
        }
    }
    let error = error.expect("an unterminated line must fail");
    assert_eq!(error.line(), 1);
    assert!(matches!(
        error.kind(),
        DecodeErrorKind::LineTooLong { max: 1024 }
    ));
    // After an error the stream ends.
    decoder.push(CHECKPOINT.as_bytes());
    assert!(decoder.decode().unwrap().is_none());
    assert!(decoder.decode_eof().unwrap().is_none());
}

#[test]
fn decoder_line_numbers_count_blank_lines() {
    let outcome = decode(&format!("\n\n{EVENT}\r\n{{\"partition\":1.5,\"data\":1}}"));
    assert_eq!(
        outcome.error.as_deref(),
        Some("line 5: `partition` must be a non-negative integer, got 1.5")
    );
}

#[test]
fn encode_then_decode_round_trips() {
    let lines = vec![
        FeedLine::Event(
            Event::from_data(0, &serde_json::json!({"n": 1, "s": "a\nb\u{2028}"}))
                .unwrap()
                .with_header("ce_id", "x\"y")
                .with_header("empty", ""),
        ),
        FeedLine::Event(Event::new(
            2,
            serde_json::value::RawValue::from_string("1.0e10".into()).unwrap(),
        )),
        FeedLine::Event(Event::from_data(4_000_000_000, &()).unwrap()),
        FeedLine::Checkpoint(Cursor::new(0, "a b\\c\"d~").unwrap()),
        FeedLine::Checkpoint(Cursor::first(2)),
    ];
    let mut body = Vec::new();
    for line in &lines {
        encode_line(line, &mut body).unwrap();
    }
    let outcome = decode_every_way(&body, DEFAULT_MAX_LINE_LENGTH);
    assert_eq!(outcome.error, None);
    let mut decoder = Decoder::new();
    decoder.push(&body);
    let mut decoded = Vec::new();
    while let Some(line) = decoder.decode_eof().unwrap() {
        decoded.push(line);
    }
    assert_eq!(decoded, lines);
}

/// Regression (found by fuzzing): a decode error quoted the offending text
/// whole, up to the line limit (16 MiB) in one message.
#[test]
fn decoder_error_quotes_long_text_only_in_part() {
    let long = "x".repeat(1_000_000);
    for line in [
        format!("{{\"partition\":0,\"headers\":\"{long}\",\"data\":1}}\n"),
        format!("{{\"partition\":\"{long}\",\"cursor\":\"1\"}}\n"),
    ] {
        let mut decoder = Decoder::new();
        decoder.push(line.as_bytes());
        let message = decoder.decode().unwrap_err().to_string();
        assert!(
            message.len() < 400,
            "{} bytes: {}",
            message.len(),
            &message[..400]
        );
        assert!(message.contains("xxx..."), "{message}");
    }
    let mut decoder = Decoder::new();
    decoder.push(format!("{{\"partition\":0,\"headers\":\"{long}\",\"data\":1}}\n").as_bytes());
    let message = decoder.decode().unwrap_err().to_string();
    assert!(
        message.ends_with(&format!("(at column {})", long.len() + 27)),
        "{message}"
    );
}
