//! The ceiling a consumer is measured against: serde_json parsing the same
//! lines straight from a byte slice, split with memchr, no HTTP, no
//! decoder state.

use std::{hint::black_box, time::Instant};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{
    proc_stats::thread_cpu_seconds,
    workload::{PersonNameChanged, w1_body},
};

/// A line with its data left raw (what a decoder must do at least).
#[derive(Debug, Deserialize)]
pub struct RawLine<'a> {
    /// The partition.
    pub partition: u32,
    /// A checkpoint's cursor.
    #[serde(borrow, default)]
    pub cursor: Option<&'a str>,
    /// An event's data.
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
}

/// A line parsed in full, data typed (what a typed consumer must do at least).
#[derive(Debug, Deserialize)]
pub struct TypedLine {
    /// The partition.
    pub partition: u32,
    /// A checkpoint's cursor.
    #[serde(default)]
    pub cursor: Option<String>,
    /// An event's data.
    #[serde(default)]
    pub data: Option<PersonNameChanged>,
}

/// The non-empty lines of `body`.
pub fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = body;
    std::iter::from_fn(move || {
        while !rest.is_empty() {
            let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            let line = &rest[..end];
            rest = &rest[(end + 1).min(rest.len())..];
            if !line.is_empty() {
                return Some(line);
            }
        }
        None
    })
}

/// Parses every line of `body` with raw data; returns the number of events.
///
/// # Errors
///
/// Fails on a line that is not a valid feed line.
pub fn parse_raw(body: &[u8]) -> Result<u64, serde_json::Error> {
    let mut events = 0;
    for line in lines(body) {
        let line: RawLine<'_> = serde_json::from_slice(line)?;
        events += u64::from(line.data.is_some());
    }
    Ok(events)
}

/// Parses every line of `body` fully typed; returns the sum of the events'
/// `seq` (so the work cannot be optimised away).
///
/// # Errors
///
/// Fails on a line that is not a valid feed line of the workload.
pub fn parse_typed(body: &[u8]) -> Result<u64, serde_json::Error> {
    let mut sum = 0;
    for line in lines(body) {
        let line: TypedLine = serde_json::from_slice(line)?;
        sum += line.data.map_or(0, |data| data.seq);
    }
    Ok(sum)
}

/// Like [`parse_typed`], but checks each line's UTF-8 once and then
/// parses it as text, as our decoder does: serde_json then skips checking
/// every string again. Not the ceiling, shown beside it.
///
/// # Errors
///
/// Fails on a line that is not UTF-8 or not a valid feed line of the
/// workload.
pub fn parse_typed_text(body: &[u8]) -> Result<u64, Box<dyn std::error::Error>> {
    let mut sum = 0;
    for line in lines(body) {
        let line: TypedLine = serde_json::from_str(std::str::from_utf8(line)?)?;
        sum += line.data.map_or(0, |data| data.seq);
    }
    Ok(sum)
}

/// The ceiling on the W1 body of a feed of `events` events.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figures {
    /// The size of the body.
    pub body_bytes: u64,
    /// Seconds [`parse_raw`] takes, best of the repetitions.
    pub raw_s: f64,
    /// Seconds [`parse_typed`] takes, best of the repetitions.
    pub typed_s: f64,
    /// Whether the seconds are the thread's CPU time (else wall time).
    pub cpu_time: bool,
}

/// Builds the W1 body and times both parsers on it, best of `repetitions`:
/// the thread's CPU time when the kernel reports it (so that a busy
/// machine's preemptions do not count), else wall time.
///
/// # Errors
///
/// Fails if a parser fails, which would be a bug of the workload.
pub fn measure(events: u64, repetitions: usize) -> Result<Figures, serde_json::Error> {
    let body = w1_body(events);
    let cpu_time = thread_cpu_seconds().is_some();
    let start = Instant::now();
    let now = || thread_cpu_seconds().unwrap_or_else(|| start.elapsed().as_secs_f64());
    let best = |parse: fn(&[u8]) -> Result<u64, serde_json::Error>| {
        let mut best = f64::INFINITY;
        for _ in 0..repetitions.max(1) {
            let started = now();
            black_box(parse(black_box(&body))?);
            best = best.min(now() - started);
        }
        Ok::<_, serde_json::Error>(best)
    };
    Ok(Figures {
        body_bytes: body.len() as u64,
        raw_s: best(parse_raw)?,
        typed_s: best(parse_typed)?,
        cpu_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::w1_body;

    #[test]
    fn both_parsers_read_the_body() {
        let body = w1_body(10);
        assert_eq!(parse_raw(&body).unwrap(), 10);
        assert_eq!(parse_typed(&body).unwrap(), 55);
        assert_eq!(parse_typed_text(&body).unwrap(), 55);
        assert!(parse_typed_text(b"{\"partition\":0,\"cursor\":\"\xff\"}").is_err());
        assert_eq!(lines(b"a\n\nb").count(), 2);
    }

    #[test]
    fn measure_times_both() {
        let figures = measure(10, 1).unwrap();
        assert_eq!(figures.body_bytes, w1_body(10).len() as u64);
        assert!(figures.raw_s >= 0.0 && figures.typed_s >= 0.0);
    }
}
