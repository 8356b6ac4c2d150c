//! Encode, then decode, arbitrary events and checkpoints: each is written
//! on exactly one line, and comes back with the same partition, headers
//! and cursor, and with data of the same JSON value.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use zeroeventhub::{
    Cursor, Event, FeedLine,
    ndjson::{Decoder, encode_line},
};

#[derive(Arbitrary, Debug)]
struct Input {
    partition_id: u32,
    headers: Option<Vec<(String, String)>>,
    /// Tried as raw JSON text; the event is skipped when it is not JSON.
    data: String,
    cursor: String,
}

fuzz_target!(|input: Input| {
    let mut lines = Vec::new();
    if let Ok(data) = RawValue::from_string(input.data.clone()) {
        let mut event = Event::new(input.partition_id, data);
        if let Some(headers) = &input.headers {
            event.headers = Some(headers.iter().cloned().collect());
        }
        lines.push(FeedLine::Event(event));
    }
    if let Ok(cursor) = Cursor::new(input.partition_id, input.cursor.clone()) {
        lines.push(FeedLine::Checkpoint(cursor));
    }
    for line in lines {
        let mut out = Vec::new();
        encode_line(&line, &mut out).expect("raw data always encodes");
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
        assert_eq!(out.last(), Some(&b'\n'));
        let mut decoder = Decoder::new();
        decoder.push(&out);
        let decoded = decoder
            .decode()
            .unwrap_or_else(|error| panic!("{:?} must decode: {error}", String::from_utf8_lossy(&out)))
            .expect("a whole line");
        assert!(decoder.decode_eof().expect("nothing after it").is_none());
        match (line, decoded) {
            (FeedLine::Event(sent), FeedLine::Event(received)) => {
                assert_eq!(sent.partition_id, received.partition_id);
                // An empty header map is sent as `{}` and comes back empty.
                assert_eq!(sent.headers, received.headers);
                assert_same_json(sent.data_json(), received.data_json());
            }
            (FeedLine::Checkpoint(sent), FeedLine::Checkpoint(received)) => {
                assert_eq!(sent, received);
            }
            (sent, received) => panic!("sent {sent:?}, received {received:?}"),
        }
    }
});

/// The same JSON value, and byte for byte the same text but for newlines
/// between tokens, which the encoder turns into spaces.
fn assert_same_json(sent: &str, received: &str) {
    assert_eq!(received, sent.replace('\n', " "));
    let (sent, received): (serde_json::Value, serde_json::Value) = match (
        serde_json::from_str(sent),
        serde_json::from_str(received),
    ) {
        (Ok(sent), Ok(received)) => (sent, received),
        // A number beyond f64 is valid raw JSON but no `Value`; the text
        // comparison above covers it.
        (Err(_), Err(_)) => return,
        (sent, received) => panic!("parsed differently: {sent:?} and {received:?}"),
    };
    assert_eq!(sent, received);
}
