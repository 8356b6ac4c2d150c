//! `zeh append`: events in the wire form, from a file or stdin, appended
//! to the event log in a database in one transaction.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{self, BufReader},
    path::Path,
};

use anyhow::Context;
use zeroeventhub::{Cursor, FeedLine};
use zeroeventhub_sqlx::TypedEvent;

use crate::{args::AppendArgs, event_log, output::Output, source};

/// The name of stdin in messages.
const STDIN_NAME: &str = "<stdin>";

/// Reads and checks the whole input, appends it in one transaction, and
/// prints the cursor after the last event appended to each partition.
///
/// The database is opened only once the input is read and valid: a bad
/// line leaves it untouched (not even created).
///
/// # Errors
///
/// The input cannot be read or holds a line that is not an event of the
/// log (named `FILE:LINE`), the database fails, or stdout cannot be
/// written. Nothing is appended on error.
pub(crate) async fn run(args: AppendArgs) -> anyhow::Result<()> {
    let (file, partitions) = (args.file.clone(), args.partitions);
    let events = tokio::task::spawn_blocking(move || read_input(file.as_deref(), partitions))
        .await
        .context("reading the input failed")??;
    if events.is_empty() {
        return Ok(());
    }
    let cursors = event_log::append(&args.store, &args.table, args.partitions, &events).await?;
    let mut out = Output::stdout();
    for cursor in last_per_partition(cursors) {
        out.write_line(&FeedLine::Checkpoint(cursor))?;
    }
    out.flush()?;
    Ok(())
}

/// Every event of the file at `path`, or of stdin when `path` is `None`
/// or `-`.
fn read_input(path: Option<&Path>, partitions: u32) -> anyhow::Result<Vec<TypedEvent>> {
    match path {
        None => read_stdin(partitions),
        Some(path) if path == Path::new("-") => read_stdin(partitions),
        Some(path) => {
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            source::collect(
                BufReader::new(file),
                &path.display().to_string(),
                partitions,
            )
        }
    }
}

fn read_stdin(partitions: u32) -> anyhow::Result<Vec<TypedEvent>> {
    source::collect(io::stdin().lock(), STDIN_NAME, partitions)
}

/// The last of `cursors` of each partition, in ascending partition order.
fn last_per_partition(cursors: Vec<Cursor>) -> impl Iterator<Item = Cursor> {
    let mut last = BTreeMap::new();
    for cursor in cursors {
        last.insert(cursor.partition_id(), cursor);
    }
    last.into_values()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_cursor_of_each_partition_in_partition_order() {
        let cursors = [(2, "1"), (0, "5"), (2, "2"), (0, "6")]
            .map(|(partition, value)| Cursor::new(partition, value).unwrap());
        let last: Vec<String> = last_per_partition(cursors.to_vec())
            .map(|cursor| cursor.to_string())
            .collect();
        assert_eq!(last, ["0=6", "2=2"]);
    }
}
