//! Reading events in the wire form, one per line: the file `zeh serve`
//! serves, and the input of `zeh append`.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
};

use anyhow::{Context, anyhow};
use serde::Deserialize;

use crate::database::Database;
use zeroeventhub::{
    FeedLine,
    ndjson::Decoder,
    server::{MemoryLog, UnknownPartition},
};
use zeroeventhub_sqlx::TypedEvent;

/// What `zeh serve` serves.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A file of events, loaded at the start.
    File(PathBuf),
    /// The event log in a database.
    Database(Database),
}

/// Appends every event of the file at `path` to `log`, in file order, and
/// returns how many there were.
///
/// The file holds one event per line in the wire form; see
/// [`read_events`].
///
/// # Errors
///
/// The file cannot be read, or a line is not an event of the log.
pub(crate) fn load(path: &Path, log: &MemoryLog) -> anyhow::Result<usize> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let name = path.display().to_string();
    let mut events = 0;
    read_events(BufReader::new(file), &name, |event| {
        match &event.event_type {
            Some(event_type) => log.append_typed(event.event, event_type)?,
            None => log.append(event.event)?,
        };
        events += 1;
        Ok(())
    })?;
    Ok(events)
}

/// Every event `reader` holds, in order, each in a partition in
/// `0..partition_count`.
///
/// # Errors
///
/// As [`read_events`], and for an event of a partition outside
/// `0..partition_count`, an error naming the line.
pub(crate) fn collect(
    reader: impl BufRead,
    name: &str,
    partition_count: u32,
) -> anyhow::Result<Vec<TypedEvent>> {
    let mut events = Vec::new();
    read_events(reader, name, |typed| {
        let partition_id = typed.event.partition_id;
        if partition_id >= partition_count {
            return Err(UnknownPartition {
                partition_id,
                partition_count,
            }
            .into());
        }
        events.push(typed);
        Ok(())
    })?;
    Ok(events)
}

/// Passes every event of `reader` to `each`, in order.
///
/// `reader` holds one event per line in the wire form. Blank lines are
/// skipped; any other line that is not an event (a checkpoint, a line
/// without `data`, malformed JSON), or that `each` refuses, is an error
/// naming the input (`name`) and the line: `NAME:LINE: reason`.
///
/// # Errors
///
/// The input cannot be read, a line is not an event, or `each` fails.
pub(crate) fn read_events(
    mut reader: impl BufRead,
    name: &str,
    mut each: impl FnMut(TypedEvent) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut line = Vec::new();
    let mut line_number = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {name}"))?;
        if read == 0 {
            return Ok(());
        }
        line_number += 1;
        let at = || format!("{name}:{line_number}");
        let Some(event) = parse_event(&line).with_context(at)? else {
            continue;
        };
        each(event).with_context(at)?;
    }
}

/// The key of an input line beside the wire form's: the event's type.
#[derive(Deserialize)]
struct TypeKey {
    #[serde(rename = "type", default)]
    event_type: Option<String>,
}

/// Decodes one line (with or without its `\n`): an event, `None` for a
/// blank line, or an error saying why the line is not an event.
fn parse_event(line: &[u8]) -> anyhow::Result<Option<TypedEvent>> {
    let mut decoder = Decoder::new();
    decoder.push(line);
    match decoder.decode_eof() {
        Ok(Some(FeedLine::Event(event))) => {
            // The line is a JSON object: the decoder said so.
            let TypeKey { event_type } = serde_json::from_slice(line)
                .map_err(|error| anyhow!("`type` must be a string: {error}"))?;
            Ok(Some(TypedEvent { event, event_type }))
        }
        Ok(Some(FeedLine::Checkpoint(cursor))) => Err(anyhow!(
            "a checkpoint (cursor {:?}), not an event",
            cursor.as_str()
        )),
        Ok(None) if line.iter().all(u8::is_ascii_whitespace) => Ok(None),
        // The protocol skips such lines for forward compatibility; in a
        // file of events, one is a mistake to point out.
        Ok(None) => Err(anyhow!("not an event: the line has no `data`")),
        Err(error) => Err(anyhow!("{}", error.kind())),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn load_text(text: &str, partitions: u32) -> (anyhow::Result<usize>, MemoryLog) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        let log = MemoryLog::new(partitions);
        (load(file.path(), &log), log)
    }

    #[test]
    fn events_are_appended_in_file_order() {
        let (loaded, log) = load_text(
            "{\"partition\":1,\"data\":1}\n\n{\"partition\":0,\"headers\":{\"a\":\"b\"},\"data\":2}\r\n{\"partition\":1,\"data\":3}",
            2,
        );
        assert_eq!(loaded.unwrap(), 3);
        assert_eq!((log.len(0), log.len(1)), (1, 2));
    }

    #[test]
    fn a_checkpoint_is_an_error_naming_the_line() {
        let (loaded, _) = load_text(
            "{\"partition\":0,\"data\":1}\n{\"partition\":0,\"cursor\":\"1\"}\n",
            1,
        );
        let message = format!("{:#}", loaded.unwrap_err());
        assert!(message.contains(":2: a checkpoint"), "{message}");
    }

    #[test]
    fn a_partition_outside_the_log_is_an_error_naming_the_line() {
        let (loaded, _) = load_text(
            "{\"partition\":0,\"data\":1}\n{\"partition\":3,\"data\":1}\n",
            3,
        );
        let message = format!("{:#}", loaded.unwrap_err());
        assert!(
            message.contains(":2: partition 3 is outside 0..3"),
            "{message}"
        );
    }

    #[test]
    fn malformed_or_dataless_lines_are_errors() {
        let (loaded, _) = load_text("{\"partition\":0,\"data\":\n", 1);
        assert!(format!("{:#}", loaded.unwrap_err()).contains(":1: invalid JSON"));
        let (loaded, _) = load_text("{\"partition\":0,\"dta\":1}\n", 1);
        assert!(format!("{:#}", loaded.unwrap_err()).contains(":1: not an event"));
    }

    #[test]
    fn collect_checks_partitions_and_names_the_input() {
        let text = "{\"partition\":1,\"data\":1}\n\n{\"partition\":0,\"data\":2}\n";
        let events = collect(text.as_bytes(), "<stdin>", 2).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            (events[0].event.partition_id, events[1].event.data.get()),
            (1, "2")
        );
        let error = collect(text.as_bytes(), "<stdin>", 1).unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            "<stdin>:1: partition 1 is outside 0..1"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let log = MemoryLog::new(1);
        let error = load(Path::new("/nonexistent/events.ndjson"), &log).unwrap_err();
        assert!(format!("{error:#}").starts_with("cannot open /nonexistent/events.ndjson"));
    }
}
