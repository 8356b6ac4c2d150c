//! The request parsers of both versions on any query string: they never
//! panic, and what they accept comes back the same through
//! `to_query_string`.
//!
//! Input: one byte choosing the feed's partition count (1..=256), then the
//! query string.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zeroeventhub::{FeedRequest, v2::EventsRequest};

fuzz_target!(|input: &[u8]| {
    let [count, query @ ..] = input else {
        return;
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    if let Ok(request) = EventsRequest::parse(query) {
        let again = request
            .to_query_string()
            .unwrap_or_else(|error| panic!("an accepted request {request:?} must build: {error}"));
        let parsed = EventsRequest::parse(&again)
            .unwrap_or_else(|error| panic!("{again:?} built from {request:?} must parse: {error}"));
        assert_eq!(parsed, request, "{query:?} -> {again:?}");
    }
    let partition_count = u32::from(*count) + 1;
    let Ok(request) = FeedRequest::parse(query, partition_count) else {
        return;
    };
    let again = request
        .to_query_string()
        .unwrap_or_else(|error| panic!("an accepted request {request:?} must build: {error}"));
    let parsed = FeedRequest::parse(&again, partition_count)
        .unwrap_or_else(|error| panic!("{again:?} built from {request:?} must parse: {error}"));
    assert_eq!(parsed, request, "{query:?} -> {again:?}");
});
