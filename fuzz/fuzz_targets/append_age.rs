//! The consumer's reading of an event's append-time header (network
//! input, feature `metrics`): any value gives an age or `None`, never a
//! panic; a time it writes back in RFC 3339 reads as the same age.
//!
//! Input: eight bytes of "now" in milliseconds since the epoch, then the
//! header value.

#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use zeroeventhub::metrics::append_age;

fuzz_target!(|input: &[u8]| {
    let Some((now, value)) = input.split_first_chunk::<8>() else {
        return;
    };
    // Up to the year 10000, the limit of RFC 3339.
    let now_ms = u64::from_le_bytes(*now) % 253_402_300_800_000;
    let now = UNIX_EPOCH + Duration::from_millis(now_ms);
    let Ok(value) = std::str::from_utf8(value) else {
        return;
    };
    if let Some(age) = append_age(value, now) {
        let appended = now - age;
        // What was parsed, written again, reads as the same age, unless
        // the value was in the future (then the age is 0 both times).
        let again = humantime::format_rfc3339_nanos(appended).to_string();
        assert_eq!(append_age(&again, now), Some(age), "{value:?} -> {again:?}");
    }
});
