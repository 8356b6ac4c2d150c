//! The workload of issue 5: one event type, serialised from a typed struct
//! per request, a checkpoint after every event, one partition, no headers.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroeventhub::{Cursor, Event, FeedLine, ndjson::encode_line, server::position_cursor};

/// The route every producer of the suite serves its feed at.
pub const FEED_PATH: &str = "/feed/v1";

/// The length of the feed in the full workloads.
pub const DEFAULT_EVENTS: u64 = 100_000;

/// The page size of W2 and W3.
pub const SMALL_PAGE: u64 = 100;

/// The event's data, about 190 bytes of JSON:
/// `{"id":"00000000-0000-4000-8000-00000000002a","type":"PersonNameChanged","seq":42,...}`.
///
/// Built as a producer would from a row it has read: the id is a
/// [`Uuid`], which serialises from a stack buffer, and the text fields that
/// are the same on every event borrow `'static` strings (a consumer
/// deserialising gets owned copies). What the suite measures is the
/// library, not `format!` and five allocations per event in the workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonNameChanged {
    /// A UUID derived from `seq`.
    pub id: Uuid,
    /// Always `PersonNameChanged`.
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
    /// The event's position in the feed, from 1; also its checkpoint's cursor.
    pub seq: u64,
    /// A fixed timestamp.
    pub when: Cow<'static, str>,
    /// Equal to `seq`.
    pub person_id: u64,
    /// The new name.
    pub new_name: PersonName,
}

/// A person's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonName {
    /// Always `Fred`.
    pub first_name: Cow<'static, str>,
    /// Always `Bloggs`.
    pub surname: Cow<'static, str>,
}

/// The UUID of the event at `seq`: `00000000-0000-4000-8000-` and `seq` in
/// twelve hex digits.
const ID_BASE: u128 = 0x0000_0000_0000_4000_8000_0000_0000_0000;

impl PersonNameChanged {
    /// The event at position `seq`, built as a producer would from a row.
    pub fn new(seq: u64) -> Self {
        PersonNameChanged {
            id: Uuid::from_u128(ID_BASE | u128::from(seq & 0xffff_ffff_ffff)),
            kind: Cow::Borrowed("PersonNameChanged"),
            seq,
            when: Cow::Borrowed("2023-09-26T11:23:30.472906Z"),
            person_id: seq,
            new_name: PersonName {
                first_name: Cow::Borrowed("Fred"),
                surname: Cow::Borrowed("Bloggs"),
            },
        }
    }
}

/// The checkpoint after the event at `seq` (cursor = seq; `0` is the
/// position before the first event).
pub fn checkpoint(seq: u64) -> Cursor {
    position_cursor(0, seq)
}

/// The lines after position `after` up to and including `end`: each event,
/// built as its struct (the encoder serialises it straight into the body),
/// followed by its checkpoint. Each line is built as it is asked for (no
/// pair of lines moved around together).
pub fn feed_lines(
    after: u64,
    end: u64,
) -> impl Iterator<Item = FeedLine<PersonNameChanged>> + Send + 'static {
    let mut seq = after + 1;
    let mut checkpoint_due = false;
    std::iter::from_fn(move || {
        if checkpoint_due {
            checkpoint_due = false;
            seq += 1;
            return Some(FeedLine::Checkpoint(checkpoint(seq - 1)));
        }
        (seq <= end).then(|| {
            checkpoint_due = true;
            FeedLine::Event(Event {
                partition_id: 0,
                headers: None,
                data: PersonNameChanged::new(seq),
            })
        })
    })
}

/// The whole W1 response body for a feed of `events` events, in memory
/// (for the micro-benchmarks and the ceiling measurement).
pub fn w1_body(events: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(usize::try_from(events).unwrap_or(0) * 240);
    for line in feed_lines(0, events) {
        encode_line(&line, &mut body).expect("the workload's data serialises");
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_matches_the_issue_example() {
        let data = serde_json::to_string(&PersonNameChanged::new(42)).unwrap();
        assert_eq!(
            data,
            r#"{"id":"00000000-0000-4000-8000-00000000002a","type":"PersonNameChanged","seq":42,"when":"2023-09-26T11:23:30.472906Z","person_id":42,"new_name":{"first_name":"Fred","surname":"Bloggs"}}"#
        );
    }

    #[test]
    fn body_has_an_event_and_a_checkpoint_per_seq() {
        let body = w1_body(3);
        let text = String::from_utf8(body).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6);
        assert!(lines[0].starts_with(r#"{"partition":0,"data":{"id":"#));
        assert_eq!(lines[5], r#"{"partition":0,"cursor":"3"}"#);
    }
}
