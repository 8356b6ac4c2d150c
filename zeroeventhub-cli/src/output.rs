//! Where the command writes: feed lines to stdout, messages to stderr, and
//! the one-line descriptions of failures.

use std::{
    fmt,
    io::{self, BufWriter, Stdout, Write},
};

use zeroeventhub::{FeedLine, client, ndjson::encode_line};

/// How much of an error response's body a message shows.
const BODY_START_CHARS: usize = 200;

/// Feed lines on stdout, in their exact wire form.
///
/// Lines are buffered until [`flush`](Output::flush); callers flush
/// whenever they are about to wait, so that output appears as items arrive
/// without a system call per line. A closed stdout (the reader of a pipe
/// went away, as with `| head -1`) is reported as [`StdoutError::Closed`].
#[derive(Debug)]
pub(crate) struct Output {
    out: BufWriter<Stdout>,
    line: Vec<u8>,
}

impl Output {
    /// Stdout, buffered here (each flush is about one write).
    pub(crate) fn stdout() -> Self {
        Output {
            out: BufWriter::with_capacity(64 * 1024, io::stdout()),
            line: Vec::new(),
        }
    }

    /// Writes one feed line and its `\n` (buffered).
    pub(crate) fn write_line(&mut self, line: &FeedLine) -> Result<(), StdoutError> {
        self.line.clear();
        // Raw data is copied as it is: encoding cannot fail.
        encode_line(line, &mut self.line)
            .map_err(|error| StdoutError::Failed(io::Error::other(error)))?;
        self.out.write_all(&self.line).map_err(StdoutError::from)
    }

    /// Writes `text` as it is (buffered).
    pub(crate) fn write_text(&mut self, text: &str) -> Result<(), StdoutError> {
        self.out
            .write_all(text.as_bytes())
            .map_err(StdoutError::from)
    }

    /// Sends everything written so far.
    pub(crate) fn flush(&mut self) -> Result<(), StdoutError> {
        self.out.flush().map_err(StdoutError::from)
    }
}

/// Writing to stdout failed.
#[derive(Debug)]
pub(crate) enum StdoutError {
    /// Nobody reads stdout any more: stop quietly.
    Closed,
    /// Another failure (disk full, ...).
    Failed(io::Error),
}

impl From<io::Error> for StdoutError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            StdoutError::Closed
        } else {
            StdoutError::Failed(error)
        }
    }
}

impl fmt::Display for StdoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StdoutError::Closed => f.write_str("stdout is closed"),
            StdoutError::Failed(error) => write!(f, "writing to stdout failed: {error}"),
        }
    }
}

impl std::error::Error for StdoutError {}

/// Writes `zeh: MESSAGE` on stderr, on one line. A failure to write to
/// stderr is ignored: there is nowhere left to report it.
pub(crate) fn report(message: &str) {
    let mut stderr = io::stderr().lock();
    // Over the progress line, if one is drawn; it is drawn again below.
    let clear = if io::IsTerminal::is_terminal(&stderr) {
        "\r\x1b[K"
    } else {
        ""
    };
    let _ = writeln!(stderr, "{clear}zeh: {}", one_line(message));
}

/// A one-line description of a client error: the status and the start of
/// the body for an HTTP error, the chain of causes otherwise.
pub(crate) fn describe_feed_error(error: &client::Error) -> String {
    if let (Some(status), Some(body)) = (error.status(), error.body()) {
        let body = one_line(body);
        return if body.is_empty() {
            format!("the feed answered {status} with an empty body")
        } else {
            format!("the feed answered {status}: {}", start_of(&body))
        };
    }
    describe(error)
}

/// `error` and its sources, joined by `: `, skipping a source whose text
/// its parent already shows; on one line.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    one_line(&zeroeventhub::ErrorChain(error).to_string())
}

/// `text` with every run of whitespace or control characters turned into
/// one space, trimmed.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first [`BODY_START_CHARS`] characters of `text`, with `...` when cut.
fn start_of(text: &str) -> String {
    match text.char_indices().nth(BODY_START_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain is the core's `ErrorChain` (tested there); `describe`
    /// puts it on one line.
    #[test]
    fn describe_puts_the_chain_on_one_line() {
        let error = anyhow::anyhow!("connection\n  refused").context("request failed");
        assert_eq!(
            describe(error.as_ref()),
            "request failed: connection refused"
        );
    }
}
