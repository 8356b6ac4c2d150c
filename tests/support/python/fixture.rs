//! The fixture of the interoperability tests
//! (`tests/fixtures/interop_events.ndjson`), the oracle of the expected
//! responses, and the comparison of JSON lines.
//!
//! Expected responses come from an oracle written here from the feed
//! semantics both test producers document (`producer.py`, `MemoryLog`):
//! per partition, in ascending partition order, each event after the cursor
//! followed by its checkpoint `"k"`, at most `pagesizehint` (default 1000)
//! events in the whole response, then one checkpoint per requested
//! partition.
//!
//! Event data is compared as parsed JSON (the reference producer re-encodes
//! it: `1.0e10` comes back as `10000000000.0`, non-ASCII as `\uXXXX`), with
//! integers compared exactly and never against floats, so that
//! 9007199254740993 turning into 9007199254740992 would be caught.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use zeroeventhub::{Event, FeedLine, HeaderSelection, ndjson::Decoder};

use super::{ConsumeCase, fixture_path};

/// The big integer of the fixture, which no float can hold.
pub(crate) const BIG_INTEGER: &str = "9007199254740993";

pub(crate) type HeaderMap = BTreeMap<String, String>;

/// One event of the fixture, parsed independently of the library.
#[derive(Debug, Clone)]
pub(crate) struct FixtureEvent {
    pub(crate) partition: u32,
    pub(crate) headers: Option<HeaderMap>,
    pub(crate) data: Value,
}

/// `tests/fixtures/interop_events.ndjson`.
#[derive(Debug)]
pub(crate) struct Fixture {
    /// The raw file.
    raw: Vec<u8>,
    /// The events in file order.
    pub(crate) events: Vec<FixtureEvent>,
}

impl Fixture {
    pub(crate) const PARTITIONS: u32 = 3;

    pub(crate) fn load() -> Fixture {
        let path = fixture_path();
        let raw = std::fs::read(&path)
            .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
        let text = std::str::from_utf8(&raw).expect("the fixture is UTF-8");
        // Only "\n" ends a line: U+2028 in the fixture is data.
        let events: Vec<FixtureEvent> = text
            .split('\n')
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let value: Value = serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("fixture line {line:?}: {error}"));
                let partition = value["partition"].as_u64().expect("partition") as u32;
                assert!(partition < Fixture::PARTITIONS, "fixture partition");
                let headers = value
                    .get("headers")
                    .map(|h| serde_json::from_value(h.clone()).expect("string headers"));
                FixtureEvent {
                    partition,
                    headers,
                    data: value.get("data").cloned().expect("data"),
                }
            })
            .collect();
        assert_eq!(events.len(), 12, "the fixture has 12 events");
        Fixture { raw, events }
    }

    /// The events of the fixture, decoded by our `ndjson::Decoder`.
    pub(crate) fn decoded_events(&self) -> Vec<Event> {
        let mut decoder = Decoder::new();
        decoder.push(&self.raw);
        let mut events = Vec::new();
        while let Some(line) = decoder.decode_eof().expect("the fixture decodes") {
            match line {
                FeedLine::Event(event) => events.push(event),
                FeedLine::Checkpoint(cursor) => panic!("checkpoint in the fixture: {cursor}"),
            }
        }
        assert_eq!(events.len(), self.events.len(), "events decoded");
        events
    }

    pub(crate) fn partition(&self, partition: u32) -> Vec<&FixtureEvent> {
        self.events
            .iter()
            .filter(|event| event.partition == partition)
            .collect()
    }

    pub(crate) fn count(&self, partition: u32) -> usize {
        self.partition(partition).len()
    }

    /// Every event, by partition and in order within it: the order of
    /// one response from `_first` for all partitions.
    pub(crate) fn in_response_order(&self) -> impl Iterator<Item = &FixtureEvent> + '_ {
        (0..Fixture::PARTITIONS).flat_map(|p| self.partition(p))
    }

    /// Every event as a wire line with `headers` selected, in response
    /// order.
    pub(crate) fn event_lines(&self, headers: &HeaderSelection) -> Vec<Value> {
        self.in_response_order()
            .map(|event| wire_event(event, headers))
            .collect()
    }

    /// The lines of one response to `case` (its `follow` ignored).
    pub(crate) fn expected_response(&self, case: &ConsumeCase) -> Vec<Value> {
        self.response(&case.start(), case.page_size_hint, &case.header_selection())
    }

    fn response(
        &self,
        start: &[(u32, String)],
        page_size_hint: Option<u32>,
        headers: &HeaderSelection,
    ) -> Vec<Value> {
        let mut budget = match page_size_hint {
            None | Some(0) => 1000,
            Some(hint) => hint as usize,
        };
        let mut start = start.to_vec();
        start.sort();
        let mut lines = Vec::new();
        let mut ends = Vec::new();
        for (partition, cursor) in start {
            let events = self.partition(partition);
            let mut position = match cursor.as_str() {
                "_first" => 0,
                "_last" => events.len(),
                digits => digits.parse().expect("a position"),
            };
            while budget > 0 && position < events.len() {
                lines.push(wire_event(events[position], headers));
                position += 1;
                budget -= 1;
                lines.push(checkpoint(partition, position));
            }
            ends.push(checkpoint(partition, position));
        }
        lines.extend(ends);
        lines
    }

    /// The events `consume.py --follow` prints for `case`.
    pub(crate) fn expected_follow(&self, case: &ConsumeCase) -> Vec<Value> {
        let mut cursors = case.start();
        let headers = case.header_selection();
        let mut events = Vec::new();
        for _ in 0..1000 {
            let mut saw_event = false;
            for line in self.response(&cursors, case.page_size_hint, &headers) {
                if let Some(cursor) = line.get("cursor") {
                    let partition = line["partition"].as_u64().unwrap() as u32;
                    let slot = cursors.iter_mut().find(|(p, _)| *p == partition).unwrap();
                    slot.1 = cursor.as_str().unwrap().to_owned();
                } else {
                    saw_event = true;
                    events.push(line);
                }
            }
            if !saw_event {
                return events;
            }
        }
        panic!("the oracle does not terminate for {case}");
    }
}

/// The headers a producer sends for `wanted`: `None` when nothing is
/// left (the key is then omitted on the wire).
pub(crate) fn select(headers: &Option<HeaderMap>, wanted: &HeaderSelection) -> Option<HeaderMap> {
    let headers = headers.as_ref()?;
    let selected: HeaderMap = match wanted {
        HeaderSelection::None => return None,
        HeaderSelection::All => headers.clone(),
        HeaderSelection::Names(names) => headers
            .iter()
            .filter(|(name, _)| names.contains(*name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
    };
    (!selected.is_empty()).then_some(selected)
}

fn wire_event(event: &FixtureEvent, headers: &HeaderSelection) -> Value {
    let mut line = Map::new();
    line.insert("partition".to_owned(), json!(event.partition));
    if let Some(selected) = select(&event.headers, headers) {
        line.insert("headers".to_owned(), json!(selected));
    }
    line.insert("data".to_owned(), event.data.clone());
    Value::Object(line)
}

fn checkpoint(partition: u32, position: usize) -> Value {
    json!({"partition": partition, "cursor": position.to_string()})
}

/// An event received by our client as a wire line (`headers` present
/// exactly when the event has them, even empty).
pub(crate) fn event_value(event: &Event) -> Value {
    let mut line = Map::new();
    line.insert("partition".to_owned(), json!(event.partition_id));
    if let Some(headers) = &event.headers {
        line.insert("headers".to_owned(), json!(headers));
    }
    let data = serde_json::from_str(event.data_json())
        .unwrap_or_else(|error| panic!("data {:?}: {error}", event.data_json()));
    line.insert("data".to_owned(), data);
    Value::Object(line)
}

/// A line received by our client, as `consume.py` prints it.
pub(crate) fn line_value(line: &FeedLine) -> Value {
    match line {
        FeedLine::Event(event) => event_value(event),
        FeedLine::Checkpoint(cursor) => {
            json!({"partition": cursor.partition_id(), "cursor": cursor.as_str()})
        }
    }
}

/// JSON equality where integers are compared exactly and never equal a
/// float, and floats by value (`1.0e10` == `10000000000.0`), whatever
/// serde_json features are on.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let integer = |n: &serde_json::Number| n.is_i64() || n.is_u64();
            match (integer(x), integer(y)) {
                (true, true) => x.as_i64() == y.as_i64() && x.as_u64() == y.as_u64(),
                (false, false) => x.as_f64() == y.as_f64(),
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| json_eq(x, y)))
        }
        _ => a == b,
    }
}

/// Asserts that two sequences of lines are equal, line by line.
pub(crate) fn assert_json_lines_eq(actual: &[Value], expected: &[Value], context: &str) {
    let show = |lines: &[Value]| -> String {
        lines
            .iter()
            .map(|line| format!("    {line}\n"))
            .collect::<String>()
    };
    let first_difference = actual
        .iter()
        .zip(expected)
        .position(|(a, e)| !json_eq(a, e));
    assert!(
        actual.len() == expected.len() && first_difference.is_none(),
        "{context}: lines differ (first difference at index {:?}, {} lines vs {} expected)\n\
         actual:\n{}expected:\n{}",
        first_difference,
        actual.len(),
        expected.len(),
        show(actual),
        show(expected)
    );
}
