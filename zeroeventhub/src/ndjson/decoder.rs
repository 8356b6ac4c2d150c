//! The incremental line decoder: bytes in, feed lines out, no I/O.

use std::{fmt, marker::PhantomData};

use bytes::{Buf, BytesMut};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::line::parse_line;
use crate::{FeedLine, InvalidCursor, excerpt::excerpt};

/// The default longest line [`Decoder`] accepts: 16 MiB.
pub const DEFAULT_MAX_LINE_LENGTH: usize = 16 * 1024 * 1024;

/// Decodes a feed response body, chunk by chunk, into [`FeedLine`]s.
///
/// Event data is deserialized into `D` as each line is parsed: by default
/// `Box<RawValue>` (raw JSON text); with `Decoder::<T>::typed()` straight
/// into the caller's type, reading each line only once.
///
/// Chunks may be split anywhere: inside a UTF-8 sequence, between `\r` and
/// `\n`, inside a JSON string. Lines end only at `\n` (a `\r` before it is
/// tolerated; U+2028 and friends are data). Blank lines, and lines carrying
/// neither `cursor` nor `data`, are skipped. The last line may lack its
/// `\n`: call [`Decoder::decode_eof`] once the body has ended.
///
/// Memory is bounded: a line longer than the maximum line length fails
/// with [`DecodeErrorKind::LineTooLong`] as soon as that many bytes arrive
/// without a `\n`. Every error ends the stream: after one, the decoder
/// yields nothing more, because skipping a bad line and reading on could
/// let a later checkpoint silently pass a lost event.
///
/// # Examples
///
/// ```
/// use zeroeventhub::{ndjson::Decoder, FeedLine};
///
/// let mut decoder = Decoder::new();
/// decoder.push(b"{\"partition\":0,\"data\":{\"a\":1}}\n{\"partition\":0,\"cur");
/// assert!(matches!(decoder.decode()?, Some(FeedLine::Event(_))));
/// assert_eq!(decoder.decode()?, None); // needs more bytes
///
/// decoder.push(b"sor\":\"7\"}");
/// let Some(FeedLine::Checkpoint(cursor)) = decoder.decode_eof()? else { panic!() };
/// assert_eq!(cursor.as_str(), "7");
/// assert_eq!(decoder.decode_eof()?, None);
/// # Ok::<(), zeroeventhub::ndjson::DecodeError>(())
/// ```
#[derive(Debug)]
pub struct Decoder<D = Box<RawValue>> {
    buffer: BytesMut,
    /// How many bytes at the start of `buffer` are known to hold no `\n`.
    scanned: usize,
    /// How many lines have been consumed so far.
    lines: u64,
    max_line_length: usize,
    /// Version 2: the partition every line belongs to (its lines carry no
    /// `partition`).
    partition: Option<u32>,
    failed: bool,
    data: PhantomData<fn() -> D>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder keeping event data as raw JSON, with the
    /// [default maximum line length](DEFAULT_MAX_LINE_LENGTH).
    pub fn new() -> Self {
        Decoder::typed()
    }
}

impl<D: DeserializeOwned> Decoder<D> {
    /// A decoder that deserializes event data into `D`, with the
    /// [default maximum line length](DEFAULT_MAX_LINE_LENGTH). A line whose
    /// data does not match `D` is a decode error.
    pub fn typed() -> Self {
        Decoder {
            buffer: BytesMut::new(),
            scanned: 0,
            lines: 0,
            max_line_length: DEFAULT_MAX_LINE_LENGTH,
            partition: None,
            failed: false,
            data: PhantomData,
        }
    }

    /// Makes the decoder fail on lines longer than `max` bytes (a trailing
    /// `\r` counts, the `\n` does not).
    #[must_use]
    pub fn with_max_line_length(mut self, max: usize) -> Self {
        self.max_line_length = max;
        self
    }

    /// Makes the decoder read a version 2 (FeedAPI) body, the answer to a
    /// request for one partition: its lines carry no `partition`, so every
    /// event and checkpoint is given `partition_id` (a `partition` key on
    /// a line is ignored). The other rules and limits stay the same.
    ///
    /// ```
    /// use zeroeventhub::{FeedLine, ndjson::Decoder};
    ///
    /// let mut decoder = Decoder::new().for_partition(7);
    /// decoder.push(b"{\"data\":{\"id\":1}}\n{\"cursor\":\"c1\"}\n");
    /// let Some(FeedLine::Event(event)) = decoder.decode()? else { panic!() };
    /// assert_eq!(event.partition_id, 7);
    /// let Some(FeedLine::Checkpoint(cursor)) = decoder.decode()? else { panic!() };
    /// assert_eq!((cursor.partition_id(), cursor.as_str()), (7, "c1"));
    /// # Ok::<(), zeroeventhub::ndjson::DecodeError>(())
    /// ```
    #[must_use]
    pub fn for_partition(mut self, partition_id: u32) -> Self {
        self.partition = Some(partition_id);
        self
    }

    /// The longest line this decoder accepts.
    pub fn max_line_length(&self) -> usize {
        self.max_line_length
    }

    /// How many lines (blank ones included) have been consumed: the
    /// number of the line [`decode`](Decoder::decode) returned last.
    pub fn lines_read(&self) -> u64 {
        self.lines
    }

    /// Appends the next chunk of the body.
    pub fn push(&mut self, chunk: &[u8]) {
        if !self.failed {
            self.buffer.extend_from_slice(chunk);
        }
    }

    /// The next complete line, or `None` when more bytes are needed.
    ///
    /// # Errors
    ///
    /// Fails on a malformed line or one longer than the maximum; after an
    /// error every call returns `Ok(None)`.
    pub fn decode(&mut self) -> Result<Option<FeedLine<D>>, DecodeError> {
        self.next(false)
    }

    /// Like [`decode`](Decoder::decode), for use once the body has ended:
    /// bytes left after the last `\n` are decoded as the final line. Call
    /// it until it returns `Ok(None)`.
    ///
    /// # Errors
    ///
    /// As [`decode`](Decoder::decode).
    pub fn decode_eof(&mut self) -> Result<Option<FeedLine<D>>, DecodeError> {
        self.next(true)
    }

    /// Decodes the next line ending in `input`, the body's next bytes;
    /// returns it with how many bytes of `input` were consumed (all of
    /// them when no line ends there, or after an error).
    ///
    /// The same as [`push`](Decoder::push) then [`decode`](Decoder::decode),
    /// without the copy: a line lying whole in `input` is parsed where it
    /// is; only the start of a line that `input` does not end is kept, to
    /// be ended by the next call or by [`decode_eof`](Decoder::decode_eof).
    /// Not to be mixed with `push` before the buffer is drained.
    #[inline]
    pub(crate) fn decode_from(
        &mut self,
        input: &[u8],
    ) -> (Result<Option<FeedLine<D>>, DecodeError>, usize) {
        let mut consumed = 0;
        while !self.failed {
            let rest = &input[consumed..];
            let Some(line_end) = memchr::memchr(b'\n', rest) else {
                // No line ends in `input`: keep its bytes for the next call.
                if self.buffer.len() + rest.len() > self.max_line_length {
                    return (Err(self.line_too_long()), input.len());
                }
                self.buffer.extend_from_slice(rest);
                self.scanned = self.buffer.len();
                return (Ok(None), input.len());
            };
            consumed += line_end + 1;
            if self.buffer.len() + line_end > self.max_line_length {
                return (Err(self.line_too_long()), consumed);
            }
            let parsed = if self.buffer.is_empty() {
                parse_line(&rest[..line_end], self.partition)
            } else {
                self.buffer.extend_from_slice(&rest[..line_end]);
                let parsed = parse_line(&self.buffer, self.partition);
                self.buffer.clear();
                parsed
            };
            self.scanned = 0;
            match self.line_done(parsed) {
                Ok(None) => {}
                decoded => return (decoded, consumed),
            }
        }
        (Ok(None), input.len())
    }

    fn next(&mut self, eof: bool) -> Result<Option<FeedLine<D>>, DecodeError> {
        while !self.failed {
            let line_end = match memchr::memchr(b'\n', &self.buffer[self.scanned..]) {
                Some(offset) => self.scanned + offset,
                None if eof && !self.buffer.is_empty() => self.buffer.len(),
                None => {
                    self.scanned = self.buffer.len();
                    if self.buffer.len() > self.max_line_length {
                        return Err(self.line_too_long());
                    }
                    return Ok(None);
                }
            };
            if line_end > self.max_line_length {
                return Err(self.line_too_long());
            }
            let parsed = parse_line(&self.buffer[..line_end], self.partition);
            self.buffer.advance((line_end + 1).min(self.buffer.len()));
            self.scanned = 0;
            match self.line_done(parsed) {
                Ok(None) => {}
                decoded => return decoded,
            }
        }
        Ok(None)
    }

    /// Counts a parsed line and turns its outcome into the decoder's:
    /// `Ok(None)` for a skipped line, an error (numbered with this line)
    /// that ends the stream for a bad one.
    fn line_done(
        &mut self,
        parsed: Result<Option<FeedLine<D>>, DecodeErrorKind>,
    ) -> Result<Option<FeedLine<D>>, DecodeError> {
        match parsed {
            Ok(line) => {
                self.lines += 1;
                Ok(line)
            }
            Err(kind) => Err(self.fail(kind)),
        }
    }

    fn line_too_long(&mut self) -> DecodeError {
        self.fail(DecodeErrorKind::LineTooLong {
            max: self.max_line_length,
        })
    }

    fn fail(&mut self, kind: DecodeErrorKind) -> DecodeError {
        self.failed = true;
        self.buffer = BytesMut::new();
        DecodeError {
            line: self.lines + 1,
            kind,
        }
    }
}

/// A line of a feed response that could not be decoded.
///
/// Carries the 1-based number of the offending line (blank lines count).
#[derive(Debug)]
pub struct DecodeError {
    line: u64,
    kind: DecodeErrorKind,
}

impl DecodeError {
    /// The 1-based number of the line that failed.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// What was wrong with the line.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.kind
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

// The message already holds the cause's text (serde_json's, for example),
// so `source()` stays empty rather than repeat it; `kind()` gives access.
impl std::error::Error for DecodeError {}

/// What was wrong with a line of a feed response.
#[derive(Debug)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The line is longer than the decoder's maximum line length.
    LineTooLong {
        /// The maximum, in bytes.
        max: usize,
    },
    /// The line is not valid UTF-8.
    InvalidUtf8(std::str::Utf8Error),
    /// The line is JSON but not a JSON object.
    NotAnObject,
    /// The line is not valid JSON, or a known key has the wrong type.
    Json(serde_json::Error),
    /// An event or checkpoint without a `partition` (or with `null`).
    MissingPartition,
    /// A `partition` that is not an integer in `0..=4294967295`; holds the
    /// JSON text received (its first 64 characters).
    InvalidPartition(String),
    /// A checkpoint whose cursor is empty or not printable ASCII.
    InvalidCursor(InvalidCursor),
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeErrorKind::LineTooLong { max } => {
                write!(f, "line longer than the maximum of {max} bytes")
            }
            DecodeErrorKind::InvalidUtf8(error) => write!(f, "line is not UTF-8: {error}"),
            DecodeErrorKind::NotAnObject => f.write_str("line is not a JSON object"),
            // serde_json quotes an unexpected string whole ("invalid type:
            // string \"...\""), which may be megabytes long.
            DecodeErrorKind::Json(error) => {
                let message = excerpt(error, JSON_ERROR_CHARS);
                write!(f, "invalid JSON: {message}")?;
                // A cut message has lost serde_json's "at line 1 column N".
                if message.chars().count() > JSON_ERROR_CHARS {
                    write!(f, " (at column {})", error.column())?;
                }
                Ok(())
            }
            DecodeErrorKind::MissingPartition => f.write_str("missing `partition`"),
            DecodeErrorKind::InvalidPartition(text) => {
                write!(f, "`partition` must be a non-negative integer, got {text}")
            }
            DecodeErrorKind::InvalidCursor(error) => write!(f, "invalid checkpoint: {error}"),
        }
    }
}

/// How much of serde_json's message a decode error shows.
const JSON_ERROR_CHARS: usize = 200;
