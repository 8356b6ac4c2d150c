//! The fuzz targets' properties (see `fuzz/`), as property tests on
//! stable, so that `cargo test` keeps checking them: the decoder gives the
//! same answer however the body is cut into chunks, an accepted request
//! round-trips through its query string, and an encoded line decodes back
//! to what was encoded.

use proptest::prelude::*;
use serde_json::value::RawValue;
use zeroeventhub::{
    Cursor, Event, EventTypeFilter, FeedLine, FeedRequest, HeaderSelection,
    ndjson::{DecodeError, Decoder, encode_line},
    v2::EventsRequest,
};

/// Every line a decoder gave (re-encoded), and the error that ended it.
#[derive(Debug, PartialEq)]
struct Outcome {
    lines: Vec<Vec<u8>>,
    error: Option<String>,
}

impl Outcome {
    /// Takes one result; `false` when nothing more comes now (no line yet,
    /// or the error that ends the decoding).
    fn take(&mut self, result: Result<Option<FeedLine>, DecodeError>) -> bool {
        match result {
            Ok(Some(line)) => {
                let mut out = Vec::new();
                encode_line(&line, &mut out).unwrap();
                self.lines.push(out);
                true
            }
            Ok(None) => false,
            Err(error) => {
                self.error = Some(error.to_string());
                false
            }
        }
    }
}

/// `body` pushed into a decoder in chunks ending at `cuts` (taken modulo
/// the body's length, in order), lines taken as they come.
fn decode_in_chunks(body: &[u8], cuts: &[usize], max_line: usize) -> Outcome {
    let mut decoder = Decoder::new().with_max_line_length(max_line);
    let mut outcome = Outcome {
        lines: Vec::new(),
        error: None,
    };
    let mut ends: Vec<usize> = cuts.iter().map(|&cut| cut % (body.len() + 1)).collect();
    ends.sort_unstable();
    ends.push(body.len());
    let mut start = 0;
    for end in ends {
        decoder.push(&body[start..end]);
        start = end;
        while outcome.take(decoder.decode()) {}
        if outcome.error.is_some() {
            return outcome;
        }
    }
    while outcome.take(decoder.decode_eof()) {}
    outcome
}

/// Lines of a feed body: events, checkpoints, blank lines, `\r\n`, lines
/// of neither kind and garbage.
fn body_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..4, any::<i64>()).prop_map(|(p, n)| format!("{{\"partition\":{p},\"data\":{n}}}")),
        (0u32..4, "[a-z0-9]{1,8}")
            .prop_map(|(p, c)| format!("{{\"partition\":{p},\"cursor\":\"{c}\"}}")),
        Just(String::new()),
        Just("{\"other\":1}".to_owned()),
        "[ -~]{0,20}",
        "\\PC{0,12}",
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((body_line(), any::<bool>()), 0..12),
        any::<bool>(),
    )
        .prop_map(|(lines, final_newline)| {
            let mut body = String::new();
            for (index, (line, crlf)) in lines.iter().enumerate() {
                body.push_str(line);
                if index + 1 < lines.len() || final_newline {
                    body.push_str(if *crlf { "\r\n" } else { "\n" });
                }
            }
            body.into_bytes()
        })
}

proptest! {
    #[test]
    fn the_decoder_does_not_depend_on_how_the_body_is_cut(
        body in body(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        max_line in prop_oneof![Just(16usize), Just(64), Just(1 << 20)],
    ) {
        let whole = decode_in_chunks(&body, &[], max_line);
        let byte_by_byte: Vec<usize> = (0..body.len()).collect();
        prop_assert_eq!(&decode_in_chunks(&body, &byte_by_byte, max_line), &whole);
        prop_assert_eq!(&decode_in_chunks(&body, &cuts, max_line), &whole);
    }

    #[test]
    fn an_accepted_query_round_trips(
        params in prop::collection::vec(parameter(), 0..7),
        count in 1u32..8,
    ) {
        let query = params.join("&");
        if let Ok(request) = FeedRequest::parse(&query, count) {
            let again = request.to_query_string().unwrap();
            prop_assert_eq!(FeedRequest::parse(&again, count).unwrap(), request);
        }
    }

    #[test]
    fn an_accepted_version_2_query_round_trips(
        params in prop::collection::vec(prop_oneof![
            parameter(),
            "token=[!-~&&[^&=#]]{0,6}",
            prop_oneof!["[0-9]{1,5}", "0[0-9]", "-1", "x"].prop_map(|n| format!("partition={n}")),
            "cursor=[!-~&&[^&=#]]{0,8}",
        ], 0..8),
    ) {
        let query = params.join("&");
        if let Ok(request) = EventsRequest::parse(&query) {
            let again = request.to_query_string().unwrap();
            prop_assert_eq!(EventsRequest::parse(&again).unwrap(), request);
        }
    }

    #[test]
    fn a_built_request_round_trips(
        count in 1u32..64,
        cursors in prop::collection::btree_map(0u32..64, "[!-~]{1,12}", 1..6),
        hint in proptest::option::of(1u32..5000),
        names in proptest::option::of(prop::collection::btree_set("[a-z_]{1,6}", 0..4)),
        wait in proptest::option::of(1u32..120),
        types in proptest::option::of((any::<bool>(), prop::collection::btree_set("[A-Za-z.]{1,6}", 1..4))),
    ) {
        let cursors: Vec<Cursor> = cursors
            .into_iter()
            .filter(|(partition, _)| *partition < count)
            .map(|(partition, cursor)| Cursor::new(partition, cursor).unwrap())
            .collect();
        prop_assume!(!cursors.is_empty());
        let headers = match names {
            None => HeaderSelection::All,
            Some(names) if names.is_empty() => HeaderSelection::None,
            Some(names) => HeaderSelection::Names(names.into_iter().filter(|n| n != "_all").collect()),
        };
        let event_types = match types {
            None => EventTypeFilter::All,
            Some((true, types)) => EventTypeFilter::only(types),
            Some((false, types)) => EventTypeFilter::skip(types),
        };
        let request = FeedRequest { partition_count: count, cursors, page_size_hint: hint, headers, wait, event_types };
        let query = request.to_query_string().unwrap();
        let mut expected = request;
        if matches!(&expected.headers, HeaderSelection::Names(names) if names.is_empty()) {
            expected.headers = HeaderSelection::None;
        }
        prop_assert_eq!(FeedRequest::parse(&query, count).unwrap(), expected);
    }

    #[test]
    fn an_encoded_event_decodes_to_the_same_event(
        partition in any::<u32>(),
        headers in proptest::option::of(prop::collection::btree_map("\\PC{0,6}", "\\PC{0,6}", 0..3)),
        value in json(),
        pretty in any::<bool>(),
    ) {
        let text = if pretty {
            serde_json::to_string_pretty(&value).unwrap()
        } else {
            serde_json::to_string(&value).unwrap()
        };
        let mut event = Event::new(partition, RawValue::from_string(text).unwrap());
        event.headers = headers.map(|headers| headers.into_iter().collect());
        let mut out = Vec::new();
        encode_line(&FeedLine::Event(event.clone()), &mut out).unwrap();
        prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let mut decoder = Decoder::new();
        decoder.push(&out);
        let Some(FeedLine::Event(decoded)) = decoder.decode().unwrap() else {
            panic!("an event line")
        };
        prop_assert_eq!(decoded.partition_id, partition);
        prop_assert_eq!(&decoded.headers, &event.headers);
        let back: serde_json::Value = serde_json::from_str(decoded.data_json()).unwrap();
        prop_assert_eq!(back, value);
    }
}

/// One query parameter as a client might send it, well-formed or not.
fn parameter() -> impl Strategy<Value = String> {
    let number = prop_oneof!["[0-9]{1,3}", "0[0-9]", "-1", "", "[a-z%+]{1,3}"];
    prop_oneof![
        number.clone().prop_map(|n| format!("n={n}")),
        (
            number.clone(),
            "[!-~&&[^&=#%+]]{0,8}|_first|_last|%2[0-9A-F]"
        )
            .prop_map(|(index, cursor)| format!("cursor{index}={cursor}")),
        number.clone().prop_map(|n| format!("pagesizehint={n}")),
        number.prop_map(|n| format!("wait={n}")),
        "[a-z_,]{0,10}".prop_map(|names| format!("headers={names}")),
        "(skip-)?event-types=[a-zA-Z;]{0,6}(%3B|%3b|;)?[a-zA-Z%]{0,4}",
        "[a-z]{1,6}=[a-z0-9]{0,4}",
    ]
}

/// Any JSON value, nested a few levels, strings with any characters.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "\\PC{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z\\n]{0,4}", inner, 0..4)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}
