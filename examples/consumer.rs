//! A consumer that processes every event exactly once, keeping its state
//! (the effects of the events and the cursors) in one JSON file that is
//! replaced atomically after each page: the file stands in for your
//! database, the replacement for its transaction.
//!
//! Start the producer first (`cargo run --example producer`), then:
//! `cargo run --example consumer [URL] [STATE_FILE]`. Stop it at any time
//! and start it again: it resumes where it stopped, with no event lost or
//! applied twice. It stops by itself once caught up.
#![allow(clippy::print_stdout)] // printing is this example's job

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};
use zeroeventhub::{Cursor, client::Client};

const PARTITIONS: u32 = 3;

/// Everything the consumer keeps, written in one piece.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// The effect of the events: the latest name of each person.
    names: BTreeMap<u64, String>,
    /// How many events were applied.
    applied: u64,
    /// The cursor of each partition, stored with the effects.
    cursors: BTreeMap<u32, String>,
}

#[derive(Debug, Deserialize)]
struct NameChanged {
    person_id: u64,
    new_name: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080/person/feed/v1".to_owned());
    let path = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/consumer-state.json".to_owned()),
    );

    let mut state: State = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => State::default(),
        Err(error) => return Err(error.into()),
    };
    let mut cursors = (0..PARTITIONS)
        .map(|p| match state.cursors.get(&p) {
            Some(cursor) => Cursor::new(p, cursor.as_str()),
            None => Ok(Cursor::first(p)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    println!("resuming from {} applied events", state.applied);

    let client = Client::new(&url, PARTITIONS)?;
    loop {
        let page = client.fetch(&cursors).page_size_hint(100).page().await?;
        // BEGIN: apply the covered events...
        for event in page.events() {
            let change: NameChanged = event.data_as()?;
            state.names.insert(change.person_id, change.new_name);
            state.applied += 1;
        }
        // ...store the new cursors with them...
        cursors = page.advance_cursors(&cursors);
        for cursor in &cursors {
            state
                .cursors
                .insert(cursor.partition_id(), cursor.as_str().to_owned());
        }
        // ...COMMIT: both reach the disk together, or neither does.
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, serde_json::to_vec_pretty(&state)?)?;
        std::fs::rename(&temporary, &path)?;
        println!(
            "applied {} events (total {}), {} people known",
            page.len(),
            state.applied,
            state.names.len()
        );
        if page.is_empty() {
            println!("caught up; state in {}", path.display());
            return Ok(());
        }
    }
}
