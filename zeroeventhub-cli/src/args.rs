//! The command line: clap types, their help texts, and the checks that
//! span several arguments.

use std::{collections::BTreeSet, net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, CommandFactory, Parser, Subcommand, error::ErrorKind};
use url::Url;
use zeroeventhub::{
    Cursor, HeaderSelection, client::FetchOptions, ndjson::DEFAULT_MAX_LINE_LENGTH,
    server::DEFAULT_PAGE_SIZE,
};

use crate::parse;

/// The largest partition count `zeh serve` accepts: the log keeps a list
/// per partition in memory.
const MAX_SERVED_PARTITIONS: i64 = 65_536;

const ABOUT: &str = "Fetch, follow and serve ZeroEventHub feeds from a terminal";

const LONG_ABOUT: &str = "\
Fetch, follow and serve ZeroEventHub feeds from a terminal.

A ZeroEventHub feed is an HTTP endpoint that answers a GET with events in
newline-delimited JSON, partitioned, with a checkpoint (a cursor to resume
from) after the events of each partition. zeh prints the lines in their
wire form, one JSON object per line, so that they can be piped into jq or
head:

  {\"partition\":0,\"headers\":{\"ce_id\":\"e1\"},\"data\":{...}}   an event
  {\"partition\":0,\"cursor\":\"17\"}                            a checkpoint";

const AFTER_HELP: &str = "\
Examples:
  zeh serve events.ndjson --partitions 3
  zeh fetch http://127.0.0.1:7070/feed/v1 --partitions 3 --headers _all
  zeh follow http://127.0.0.1:7070/feed/v1 --partitions 3 --cursor 0=12 --cursor 1=_first

Exit status: 0 on success, 1 when the feed or the network fails, 2 on invalid arguments.";

const FETCH_AFTER_HELP: &str = "\
Prints every line of one response as it arrives: events and checkpoints, in
the order received, in their wire form. On an error the lines already
received stay printed, one line on stderr names the cause, and the exit
status is 1.

Examples:
  # every partition from the beginning, with all headers
  zeh fetch http://127.0.0.1:7070/feed/v1 --partitions 3 --headers _all
  # is my stored cursor still valid? (partition 1 after cursor 1042)
  zeh fetch http://127.0.0.1:7070/feed/v1 --partitions 3 --cursor 1=1042 --page-size-hint 10
  # only the data of the events
  zeh fetch http://127.0.0.1:7070/feed/v1 --partitions 3 | jq -c 'select(has(\"data\")) | .data'";

const FOLLOW_AFTER_HELP: &str = "\
Fetches page after page from the current cursors, prints the events each
page's checkpoints cover (events only, in the form `fetch` prints them) and
moves the cursors to the page's latest checkpoints. When a page brings no
event it waits --poll-interval before asking again, or with
--until-caught-up it exits 0.

Connection failures, 5xx answers and cut-off bodies are retried with
exponential back-off (100ms doubling up to 30s, with jitter), with a message
on stderr each time; a 4xx answer or a malformed response ends it with exit
status 1. Ctrl-C or SIGTERM ends it with exit status 0 once the page in hand
is printed (a second one abandons the request in flight: exit status 130).

Examples:
  # everything so far, then exit
  zeh follow http://127.0.0.1:7070/feed/v1 --partitions 3 --until-caught-up
  # tail partition 0 from where a consumer stopped, polling every 500ms
  zeh follow http://127.0.0.1:7070/feed/v1 --partitions 3 --cursor 0=1042 --poll-interval 500ms";

const SERVE_AFTER_HELP: &str = "\
SOURCE holds one event per line in the wire form:
  {\"partition\":0,\"headers\":{\"ce_id\":\"e1\"},\"data\":{\"id\":1}}   (headers optional)

The k-th event of a partition has the cursor \"k\"; _first is before the first
event and _last the current end. A response holds the events after each
requested cursor, at most the page size hint in total, a checkpoint after
each event and a final checkpoint for every requested partition. Headers
are sent only as requested. A cursor that is not _first, _last or a position
in 0..=len is answered 400.

Once bound, the first line on stdout is `listening on http://HOST:PORT/PATH`.
It serves until Ctrl-C or SIGTERM, then shuts down gracefully (exit status
0). Set RUST_LOG=debug to log every request on stderr.

Examples:
  zeh serve events.ndjson --partitions 3
  # any free port, another route, small pages
  zeh serve events.ndjson --partitions 3 --addr 127.0.0.1:0 --path /person/feed/v1 --default-page-size 5";

/// `zeh`: the command line.
#[derive(Debug, Parser)]
#[command(
    name = "zeh",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Send one request and print every line received
    #[command(after_help = FETCH_AFTER_HELP)]
    Fetch(FetchArgs),
    /// Fetch page after page and print the events, polling when caught up
    #[command(after_help = FOLLOW_AFTER_HELP)]
    Follow(FollowArgs),
    /// Serve the events of a file as a feed over HTTP
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(ServeArgs),
}

/// The arguments `fetch` and `follow` share: which feed, from where.
#[derive(Debug, Args)]
pub(crate) struct FeedArgs {
    /// The feed's URL, e.g. http://127.0.0.1:7070/feed/v1
    #[arg(value_name = "URL", value_parser = parse::url)]
    pub(crate) url: Url,

    /// The feed's partition count (the `n` parameter), e.g. --partitions 3
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) partitions: u32,

    /// Start partition P after CURSOR; repeat for more partitions, e.g. --cursor 0=_first --cursor 2=1042
    ///
    /// Only the partitions given are requested. Without --cursor every
    /// partition 0..N starts from _first. CURSOR is the producer's opaque
    /// string (printable ASCII): _first for the beginning, _last for only
    /// new events, or a cursor from a checkpoint.
    #[arg(long = "cursor", value_name = "P=CURSOR", value_parser = parse::cursor)]
    pub(crate) cursors: Vec<Cursor>,

    /// Ask for at most about K events per response (`pagesizehint`), e.g. --page-size-hint 100
    ///
    /// Only a hint: the producer may send more or fewer. 0 or absent leaves
    /// it to the producer.
    #[arg(long, value_name = "K")]
    pub(crate) page_size_hint: Option<u32>,

    /// Event headers to ask for: comma-separated names or _all, e.g. --headers ce_id,ce_type
    ///
    /// Passed through as the `headers` parameter. Without it, events come
    /// without headers.
    #[arg(long, value_name = "LIST", value_parser = parse::headers)]
    pub(crate) headers: Option<HeaderSelection>,
}

impl FeedArgs {
    /// The cursors of the first request: those given, or `_first` for
    /// every partition.
    pub(crate) fn start_cursors(&self) -> Vec<Cursor> {
        if self.cursors.is_empty() {
            (0..self.partitions).map(Cursor::first).collect()
        } else {
            self.cursors.clone()
        }
    }

    /// The optional request parameters.
    pub(crate) fn fetch_options(&self) -> FetchOptions {
        FetchOptions {
            page_size_hint: self.page_size_hint,
            headers: self.headers.clone().unwrap_or_default(),
        }
    }

    /// The checks that need two arguments: each `--cursor` partition in
    /// `0..N`, none given twice.
    fn check(&self) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for cursor in &self.cursors {
            let partition = cursor.partition_id();
            if partition >= self.partitions {
                return Err(format!(
                    "invalid value '{cursor}' for '--cursor <P=CURSOR>': partition {partition} \
                     is outside 0..{} (--partitions {})",
                    self.partitions, self.partitions
                ));
            }
            if !seen.insert(partition) {
                return Err(format!(
                    "invalid value '{cursor}' for '--cursor <P=CURSOR>': partition {partition} \
                     is given more than once"
                ));
            }
        }
        Ok(())
    }
}

/// `zeh fetch`.
#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    /// The feed and where to start.
    #[command(flatten)]
    pub(crate) feed: FeedArgs,

    /// Fail on a response line longer than B bytes, e.g. --max-line-bytes 65536
    #[arg(
        long,
        value_name = "B",
        default_value_t = DEFAULT_MAX_LINE_LENGTH as u64,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) max_line_bytes: u64,
}

/// `zeh follow`.
#[derive(Debug, Args)]
pub(crate) struct FollowArgs {
    /// The feed and where to start.
    #[command(flatten)]
    pub(crate) feed: FeedArgs,

    /// How long to wait after a page without events, e.g. --poll-interval 500ms
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse::duration)]
    pub(crate) poll_interval: Duration,

    /// Exit 0 at the first page without events instead of polling (for scripts)
    #[arg(long)]
    pub(crate) until_caught_up: bool,
}

/// `zeh serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// A file of events, one per line in the wire form, e.g. events.ndjson
    #[arg(value_name = "SOURCE")]
    pub(crate) source: PathBuf,

    /// The feed's partition count; every event's partition must be in 0..N, e.g. --partitions 3
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=MAX_SERVED_PARTITIONS)
    )]
    pub(crate) partitions: u32,

    /// The address to listen on; port 0 picks a free port, e.g. --addr 0.0.0.0:8080
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070", value_parser = parse::listen_addr)]
    pub(crate) addr: SocketAddr,

    /// The route of the feed, e.g. --path /person/feed/v1
    #[arg(long, value_name = "PATH", default_value = "/feed/v1", value_parser = parse::route_path)]
    pub(crate) path: String,

    /// Events per response when a request gives no page size hint, e.g. --default-page-size 100
    #[arg(
        long,
        value_name = "K",
        default_value_t = DEFAULT_PAGE_SIZE,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub(crate) default_page_size: u32,
}

impl Cli {
    /// Parses the command line; exits with status 2 and a usage message
    /// when it is invalid, including the checks that span arguments.
    pub(crate) fn parse_checked() -> Cli {
        let cli = Cli::parse();
        let (name, problem) = match &cli.command {
            Command::Fetch(args) => ("fetch", args.feed.check()),
            Command::Follow(args) => ("follow", args.feed.check()),
            Command::Serve(_) => ("serve", Ok(())),
        };
        if let Err(message) = problem {
            let mut command = Cli::command();
            command.build();
            let subcommand = command
                .find_subcommand_mut(name)
                .expect("the subcommand exists");
            subcommand.error(ErrorKind::ValueValidation, message).exit();
        }
        cli
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("zeh").chain(args.iter().copied()))
    }

    fn feed(cli: &Cli) -> &FeedArgs {
        match &cli.command {
            Command::Fetch(args) => &args.feed,
            Command::Follow(args) => &args.feed,
            Command::Serve(_) => panic!("not a feed command"),
        }
    }

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn without_cursor_every_partition_starts_from_first() {
        let cli = parse(&["fetch", "http://h/feed", "--partitions", "3"]).unwrap();
        assert_eq!(
            feed(&cli).start_cursors(),
            [Cursor::first(0), Cursor::first(1), Cursor::first(2)]
        );
        assert_eq!(feed(&cli).fetch_options(), FetchOptions::default());
    }

    #[test]
    fn cursors_outside_the_partitions_or_repeated_are_refused() {
        let cli = parse(&[
            "follow",
            "http://h/f",
            "--partitions",
            "3",
            "--cursor",
            "5=x",
        ])
        .unwrap();
        assert!(feed(&cli).check().unwrap_err().contains("outside 0..3"));
        let cli = parse(&[
            "fetch",
            "http://h/f",
            "--partitions",
            "3",
            "--cursor",
            "1=x",
            "--cursor",
            "1=y",
        ])
        .unwrap();
        assert!(feed(&cli).check().unwrap_err().contains("more than once"));
        let cli = parse(&[
            "fetch",
            "http://h/f",
            "--partitions",
            "3",
            "--cursor",
            "2=x",
        ])
        .unwrap();
        assert_eq!(feed(&cli).check(), Ok(()));
        assert_eq!(feed(&cli).start_cursors(), [Cursor::new(2, "x").unwrap()]);
    }

    #[test]
    fn follow_defaults() {
        let cli = parse(&["follow", "http://h/f", "--partitions", "1"]).unwrap();
        let Command::Follow(args) = cli.command else {
            panic!("expected follow")
        };
        assert_eq!(args.poll_interval, Duration::from_secs(1));
        assert!(!args.until_caught_up);
    }

    #[test]
    fn serve_defaults() {
        let cli = parse(&["serve", "events.ndjson", "--partitions", "3"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("expected serve")
        };
        assert_eq!(args.addr, "127.0.0.1:7070".parse::<SocketAddr>().unwrap());
        assert_eq!(args.path, "/feed/v1");
        assert_eq!(args.default_page_size, 1000);
    }

    #[test]
    fn partitions_must_be_positive() {
        assert!(parse(&["fetch", "http://h/f", "--partitions", "0"]).is_err());
        assert!(parse(&["serve", "f", "--partitions", "70000"]).is_err());
    }
}
