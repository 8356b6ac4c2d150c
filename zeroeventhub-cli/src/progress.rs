//! `zeh follow`'s progress on a terminal: one line on stderr, redrawn in
//! place at most a few times a second: events and events/s, and each
//! partition's position and whether it is caught up. Nothing of it when
//! stderr is not a terminal (a log file, a pipe, a test).

use std::{
    collections::BTreeMap,
    io::{IsTerminal, Write},
    sync::Mutex,
    time::{Duration, Instant},
};

/// The least time between two redraws.
const REDRAW_EVERY: Duration = Duration::from_millis(200);
/// The partitions shown by name; the others are summed up.
const PARTITIONS_SHOWN: usize = 8;

/// The progress line, shared by the workers of `follow --store`.
#[derive(Debug)]
pub(crate) struct Progress {
    state: Option<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    started: Instant,
    drawn: Option<Instant>,
    events: u64,
    partitions: BTreeMap<u32, Partition>,
}

/// Where a partition stands.
#[derive(Debug, Default)]
struct Partition {
    /// Its cursor, when known (not with `--store`, where the runtime has
    /// it), or its event count.
    position: String,
    caught_up: bool,
}

impl Progress {
    /// Drawn when stderr is a terminal; a no-op otherwise.
    pub(crate) fn on_stderr() -> Self {
        let state = std::io::stderr().is_terminal().then(|| {
            Mutex::new(State {
                started: Instant::now(),
                drawn: None,
                events: 0,
                partitions: BTreeMap::new(),
            })
        });
        Progress { state }
    }

    /// `events` more events of `partition_id`, which is now at `position`
    /// (its count so far when `None`) and caught up or not.
    pub(crate) fn advanced(
        &self,
        partition_id: u32,
        events: u64,
        position: Option<&str>,
        caught_up: bool,
    ) {
        let Some(state) = &self.state else {
            return;
        };
        let mut state = state.lock().unwrap_or_else(|poison| poison.into_inner());
        state.events += events;
        let partition = state.partitions.entry(partition_id).or_default();
        partition.position = match position {
            Some(position) => position.to_owned(),
            None => {
                let count: u64 = partition.position.parse().unwrap_or(0) + events;
                count.to_string()
            }
        };
        partition.caught_up = caught_up;
        if state
            .drawn
            .is_none_or(|drawn| drawn.elapsed() >= REDRAW_EVERY)
        {
            state.draw();
        }
    }
}

impl Drop for Progress {
    /// Draws the line one last time and ends it, before zeh exits.
    fn drop(&mut self) {
        if let Some(state) = &self.state {
            let mut state = state.lock().unwrap_or_else(|poison| poison.into_inner());
            if state.drawn.is_some() {
                state.draw();
                let _ = writeln!(std::io::stderr());
            }
        }
    }
}

impl State {
    fn draw(&mut self) {
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.events as f64 / seconds;
        let mut line = format!("{} events, {rate:.0}/s", self.events);
        for (partition_id, partition) in self.partitions.iter().take(PARTITIONS_SHOWN) {
            let mark = if partition.caught_up {
                " caught up"
            } else {
                ""
            };
            line.push_str(&format!(" | p{partition_id} {}{mark}", partition.position));
        }
        let more = self.partitions.len().saturating_sub(PARTITIONS_SHOWN);
        if more > 0 {
            let caught_up = self
                .partitions
                .values()
                .skip(PARTITIONS_SHOWN)
                .filter(|partition| partition.caught_up)
                .count();
            line.push_str(&format!(" | {more} more, {caught_up} caught up"));
        }
        // Back to the start of the line, the line, the rest of it cleared.
        let _ = write!(std::io::stderr().lock(), "\r{line}\x1b[K");
        self.drawn = Some(Instant::now());
    }
}
