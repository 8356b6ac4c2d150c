//! The wire format: newline-delimited JSON, one feed line per line.
//!
//! [`Decoder`] turns body chunks into [`FeedLine`](crate::FeedLine)s without
//! doing any I/O; [`FeedLinesExt`] wraps it around any stream of chunks;
//! [`encode_line`] writes a line in its exact wire form.

mod decoder;
mod encoder;
mod line;
mod stream;

#[cfg(test)]
mod decoder_tests;

pub use decoder::{DEFAULT_MAX_LINE_LENGTH, DecodeError, DecodeErrorKind, Decoder};
pub use encoder::{encode_line, encode_line_v2};
pub use stream::{FeedLines, FeedLinesError, FeedLinesExt};
