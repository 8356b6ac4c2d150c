//! The decoder fed the same body whole, byte by byte and in arbitrary
//! chunks, with a bare `Decoder` and through `FeedLines`: every way must
//! give the same lines and the same error, and none may panic.
//!
//! Input: one byte choosing the maximum line length, one seeding the chunk
//! sizes, then the body.

#![no_main]

use futures_util::{FutureExt, StreamExt, stream};
use libfuzzer_sys::fuzz_target;
use zeroeventhub::{
    FeedLine,
    ndjson::{
        DEFAULT_MAX_LINE_LENGTH, DecodeError, Decoder, FeedLinesError, FeedLinesExt, encode_line,
    },
};

/// The lines a decoder gave, re-encoded, and the error that ended it.
#[derive(Debug, PartialEq)]
struct Outcome {
    lines: Vec<Vec<u8>>,
    error: Option<String>,
}

impl Outcome {
    fn new() -> Self {
        Outcome {
            lines: Vec::new(),
            error: None,
        }
    }

    /// Records one result; `false` when the decoder has nothing more now.
    fn take(&mut self, result: Result<Option<FeedLine>, DecodeError>) -> bool {
        match result {
            Ok(Some(line)) => {
                let mut out = Vec::new();
                encode_line(&line, &mut out).expect("raw data always encodes");
                self.lines.push(out);
                true
            }
            Ok(None) => false,
            Err(error) => {
                assert!(self.error.is_none(), "a second error after {error}");
                self.error = Some(error.to_string());
                true
            }
        }
    }
}

/// Pushes `chunks` into a bare decoder, taking lines as they come.
fn pushed<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, max: usize) -> Outcome {
    let mut decoder = Decoder::new().with_max_line_length(max);
    let mut outcome = Outcome::new();
    for chunk in chunks {
        decoder.push(chunk);
        while outcome.take(decoder.decode()) {}
    }
    while outcome.take(decoder.decode_eof()) {}
    outcome
}

/// The same through `FeedLines`, which parses lines where they lie.
fn streamed<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, max: usize) -> Outcome {
    let chunks: Vec<Result<&[u8], std::convert::Infallible>> = chunks.into_iter().map(Ok).collect();
    let results = stream::iter(chunks)
        .feed_lines_with(Decoder::new().with_max_line_length(max))
        .collect::<Vec<_>>()
        .now_or_never()
        .expect("every chunk is ready");
    let mut outcome = Outcome::new();
    for result in results {
        match result {
            Ok(line) => outcome.take(Ok(Some(line))),
            Err(FeedLinesError::Decode(error)) => outcome.take(Err(error)),
            Err(FeedLinesError::Body(never)) => match never {},
        };
    }
    outcome
}

/// Splits `body` into chunks of sizes drawn from a small generator.
fn chunks(body: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut state = u32::from(seed) | 1;
    let mut rest = body;
    let mut out = Vec::new();
    while !rest.is_empty() {
        // xorshift: cheap, and the same sizes for the same seed.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let size = (state as usize % 40 + 1).min(rest.len());
        let (head, tail) = rest.split_at(size);
        out.push(head);
        rest = tail;
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let [limit, seed, body @ ..] = input else {
        return;
    };
    // Small limits reach the line-length checks; 0 means the default.
    let max = match limit {
        0 => DEFAULT_MAX_LINE_LENGTH,
        n => usize::from(*n),
    };
    let whole = pushed([body], max);
    assert_eq!(whole, pushed(body.chunks(1), max), "byte by byte");
    assert_eq!(whole, pushed(chunks(body, *seed), max), "in chunks");
    assert_eq!(whole, streamed([body], max), "streamed whole");
    assert_eq!(whole, streamed(body.chunks(1), max), "streamed byte by byte");
    assert_eq!(whole, streamed(chunks(body, *seed), max), "streamed in chunks");
    // What the decoder gives, the encoder writes back as one line each.
    for line in &whole.lines {
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    }
});
