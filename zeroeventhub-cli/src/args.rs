//! The command line: clap types and the checks that span several
//! arguments (the long help texts are in `help.rs`).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, CommandFactory, Parser, Subcommand, error::ErrorKind};
use url::Url;
use zeroeventhub::{
    Cursor, EventTypeFilter, FeedRequest, HeaderSelection,
    client::{Client, ClientBuilder, FetchBuilder},
    ndjson::DEFAULT_MAX_LINE_LENGTH,
    reqwest::header::{HeaderName, HeaderValue},
    server::DEFAULT_PAGE_SIZE,
    v2::MAX_PARTITION_ID,
};
use zeroeventhub_sqlx::DEFAULT_TABLE;

use crate::{
    connect::Connection,
    database::Database,
    help::{
        ABOUT, AFTER_HELP, APPEND_AFTER_HELP, FETCH_AFTER_HELP, FOLLOW_AFTER_HELP, LONG_ABOUT,
        SERVE_AFTER_HELP,
    },
    parse,
    source::Source,
};

/// The largest partition count `zeh serve` and `zeh append` accept: a
/// file's log keeps a list per partition in memory.
const MAX_SERVED_PARTITIONS: i64 = 65_536;

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
    /// Fetch page after page and print (with --store, also store) the events, polling when caught up
    #[command(after_help = FOLLOW_AFTER_HELP)]
    Follow(FollowArgs),
    /// Serve the events of a file or an event log in a database as a feed over HTTP
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(ServeArgs),
    /// Append events from a file or stdin to an event log in a database
    #[command(after_help = APPEND_AFTER_HELP)]
    Append(AppendArgs),
    /// Print the cursors a consumer stored (zeh follow --store), one checkpoint line per partition
    Cursors(CursorsArgs),
    /// Print a version 2 (FeedAPI) producer's discovery document: its token and partitions, as one JSON line
    Discover(DiscoverArgs),
}

/// `zeh discover`.
#[derive(Debug, Args)]
pub(crate) struct DiscoverArgs {
    /// The feed's URL, e.g. http://127.0.0.1:7070/feed/v1
    #[arg(value_name = "URL", value_parser = parse::url)]
    pub(crate) url: Url,

    /// How to reach the feed.
    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,
}

/// The arguments `fetch` and `follow` share: which feed, from where.
#[derive(Debug, Args)]
pub(crate) struct FeedArgs {
    /// The feed's URL, e.g. http://127.0.0.1:7070/feed/v1
    #[arg(value_name = "URL", value_parser = parse::url)]
    pub(crate) url: Url,

    /// Speak version 1 (ZeroEventHub) to a feed of N partitions (the `n` parameter), e.g. --partitions 3
    ///
    /// Without it, zeh asks the producer for its discovery and speaks
    /// version 2 (FeedAPI): the partitions, the token and their changes
    /// come from the producer. A producer that speaks version 1 only
    /// answers that request with 400, and zeh then asks for --partitions.
    /// A producer that speaks both serves version 1 to requests with N.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) partitions: Option<u32>,

    /// Start partition P after CURSOR; repeat for more partitions, e.g. --cursor 0=_first --cursor 2=1042
    ///
    /// Only the partitions given are requested. Without --cursor every
    /// partition starts from _first: 0..N with --partitions N, else every
    /// partition of the producer's discovery. CURSOR is the producer's
    /// opaque string (printable ASCII): _first for the beginning, _last for
    /// only new events, or a cursor from a checkpoint. On version 2, the
    /// children of a split of P are partitions of their own: follow them
    /// with a --cursor each, or leave --cursor out to follow every one.
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
    /// without headers. Version 1 only (--partitions): version 2 events
    /// have no headers.
    #[arg(long, value_name = "LIST", value_parser = parse::headers)]
    pub(crate) headers: Option<HeaderSelection>,

    /// Ask only for events of these types (`event-types`), comma-separated, e.g. --event-types OrderPlaced,OrderPaid
    ///
    /// Types are compared without regard to case. A producer may ignore
    /// the filter and send every event. Events filtered away still move
    /// the cursors forward.
    #[arg(long, value_name = "LIST", value_parser = parse::event_types, conflicts_with = "skip_event_types")]
    pub(crate) event_types: Option<parse::EventTypes>,

    /// Ask for every event but those of these types (`skip-event-types`), comma-separated, e.g. --skip-event-types Heartbeat
    #[arg(long, value_name = "LIST", value_parser = parse::event_types)]
    pub(crate) skip_event_types: Option<parse::EventTypes>,

    /// How to reach the feed.
    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,
}

/// How `zeh` reaches a feed: extra headers, a token, a private CA, timeouts.
#[derive(Debug, Args)]
pub(crate) struct ConnectionArgs {
    /// Send this HTTP header with every request, as curl's -H; repeat for more, e.g. -H 'Authorization: Bearer abc'
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'", value_parser = parse::http_header)]
    pub(crate) http_headers: Vec<(HeaderName, HeaderValue)>,

    /// Send `Authorization: Bearer TOKEN`, TOKEN being the first line of this file, read again before every request, e.g. --bearer-token-file /run/secrets/feed-token
    ///
    /// A token that another process renews in the file is used from the
    /// next request on: a long follow outlives its tokens without a
    /// restart. `follow` retries 401 and 403 answers with back-off then,
    /// instead of ending.
    #[arg(long, value_name = "PATH")]
    pub(crate) bearer_token_file: Option<PathBuf>,

    /// Trust the certificate authorities in this PEM file for https:// feeds, besides the system's, e.g. --cacert /etc/company/ca.pem
    #[arg(long, value_name = "PEM")]
    pub(crate) cacert: Option<PathBuf>,

    /// How long to wait for a connection to the producer, e.g. --connect-timeout 3s
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse::duration)]
    pub(crate) connect_timeout: Duration,

    /// The longest silence allowed while a response arrives; it must exceed follow's --wait, e.g. --read-timeout 2m
    #[arg(long, value_name = "DURATION", default_value = "90s", value_parser = parse::duration)]
    pub(crate) read_timeout: Duration,
}

impl ConnectionArgs {
    /// How to reach the feed: headers, token file, timeouts.
    pub(crate) fn connection(&self) -> Connection {
        Connection {
            headers: self.http_headers.clone(),
            token_file: self.bearer_token_file.clone(),
            ca_file: self.cacert.clone(),
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
        }
    }
}

impl FeedArgs {
    /// Version 1: the cursors of the first request, those given or
    /// `_first` for every partition of `0..partitions`.
    pub(crate) fn start_cursors(&self, partitions: u32) -> Vec<Cursor> {
        if self.cursors.is_empty() {
            (0..partitions).map(Cursor::first).collect()
        } else {
            self.cursors.clone()
        }
    }

    /// The client of the feed, reaching it as the options say;
    /// `configure` sets the rest.
    ///
    /// # Errors
    ///
    /// As [`Connection::client`].
    pub(crate) fn client(
        &self,
        configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
    ) -> anyhow::Result<Client> {
        self.connection.connection().client(
            self.url.as_str(),
            self.partitions.unwrap_or(0),
            configure,
        )
    }

    /// A version 1 request for `cursors` with the optional parameters
    /// given.
    pub(crate) fn fetch<'c>(&self, client: &'c Client, cursors: &[Cursor]) -> FetchBuilder<'c> {
        self.request(client.fetch(cursors))
    }

    /// `fetch` (of either version) with the optional parameters given:
    /// headers (version 1 only), page size hint, event-type filter.
    pub(crate) fn request<'c>(&self, fetch: FetchBuilder<'c>) -> FetchBuilder<'c> {
        let mut fetch = fetch.headers(self.headers.clone().unwrap_or_default());
        if let Some(hint) = self.page_size_hint {
            fetch = fetch.page_size_hint(hint);
        }
        fetch.event_types(self.event_type_filter())
    }

    /// The event-type filter `--event-types` or `--skip-event-types` asks for.
    pub(crate) fn event_type_filter(&self) -> EventTypeFilter {
        match (&self.event_types, &self.skip_event_types) {
            (Some(types), _) => EventTypeFilter::only(&types.0),
            (None, Some(types)) => EventTypeFilter::skip(&types.0),
            (None, None) => EventTypeFilter::All,
        }
    }

    /// The checks that need two arguments, as the producer would make
    /// them: each `--cursor` partition in `0..N` (version 2: a partition
    /// id, at most 32767), none given twice; `--headers` only on version 1.
    fn check(&self) -> Result<(), String> {
        let Some(partitions) = self.partitions else {
            if self.headers.is_some() {
                return Err(VERSION_1_ONLY.replace("{option}", "--headers"));
            }
            if self.cursors.is_empty() {
                return Ok(());
            }
            let request = FeedRequest::new(MAX_PARTITION_ID + 1, self.cursors.clone());
            return request
                .validate()
                .map_err(|error| format!("invalid --cursor: {error}"));
        };
        let request = FeedRequest::new(partitions, self.start_cursors(partitions));
        request
            .validate()
            .map_err(|error| format!("invalid --cursor: {error} (--partitions {partitions})"))
    }
}

/// Why an option needs `--partitions`; `{option}` names it.
const VERSION_1_ONLY: &str = "{option} asks for event headers, which only version 1 (ZeroEventHub) has: \
     give the feed's partition count with --partitions N to speak version 1";

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

    /// Once caught up, ask the producer to hold each request up to SECS seconds and answer as soon as an event arrives; 0 polls every --poll-interval instead, e.g. --wait 5
    ///
    /// Long-polling: an event reaches zeh within milliseconds of its
    /// commit, and an idle feed costs a request per SECS. A producer that
    /// does not hold requests (it ignores wait) is asked at most once per
    /// --poll-interval.
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    pub(crate) wait: u32,

    /// How long to wait after a page without events when not long-polling (--wait 0), and the least time between two requests when caught up against a producer that does not hold them, e.g. --poll-interval 500ms
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse::duration)]
    pub(crate) poll_interval: Duration,

    /// Exit 0 at the first page without events instead of polling (for scripts)
    #[arg(long)]
    pub(crate) until_caught_up: bool,

    /// Also write each page's events and cursors to a database, and resume from it, e.g. --store sqlite:consumer.db
    ///
    /// STORE is sqlite:PATH (created if missing) or a postgres:// URL. One
    /// transaction per page writes the covered events to zeh_events (or
    /// --table) and the cursors of --name; a restart resumes from the
    /// stored cursors. Processes with the same --name and STORE share the
    /// partitions.
    #[arg(long, value_name = "STORE", value_parser = parse::store)]
    pub(crate) store: Option<Database>,

    /// With --store: the consumer's name, under which its cursors and leases are kept, e.g. --name billing
    ///
    /// Processes with the same name and store form a group: each partition
    /// is applied by one of them at a time, and the partitions are shared
    /// out among them.
    #[arg(long, value_name = "NAME", default_value = "zeh", requires = "store")]
    pub(crate) name: String,

    /// With --store: the table the events go to, e.g. --table person_events
    ///
    /// For two consumers of different feeds in one database. A plain SQL
    /// name, optionally with a schema (schema.table).
    #[arg(long, value_name = "TABLE", default_value = "zeh_events", requires = "store", value_parser = parse::table)]
    pub(crate) table: String,

    /// With --store: how long a partition's lease lasts without renewal, e.g. --lease-ttl 10s
    ///
    /// How soon another process of the group takes over the partitions of
    /// one that died.
    #[arg(long, value_name = "DURATION", default_value = "30s", requires = "store", value_parser = parse::lease_ttl)]
    pub(crate) lease_ttl: Duration,

    /// With --store: this process's stable identity in the group, e.g. --instance $(hostname)
    ///
    /// A restart with the same identity takes its own leases back at once
    /// instead of waiting --lease-ttl for them to lapse. It must be unique
    /// among the live processes of the group. Without it, each process gets
    /// a fresh identity.
    #[arg(long, value_name = "ID", requires = "store")]
    pub(crate) instance: Option<String>,

    /// With --store: ask for header NAME, the producer's append time of each event (zeh serve --time-header), and report how many seconds behind the consumer is (with --metrics-addr: zeroeventhub_consumer_seconds_behind), e.g. --time-header zeh-appended-at
    #[arg(long, value_name = "NAME", requires = "store")]
    pub(crate) time_header: Option<String>,

    /// Serve the library's metrics in the Prometheus text format at http://ADDR/metrics, e.g. --metrics-addr 127.0.0.1:9464
    #[arg(long, value_name = "ADDR", value_parser = parse::listen_addr)]
    pub(crate) metrics_addr: Option<SocketAddr>,
}

impl FollowArgs {
    /// A read timeout that a held request would outlast cuts it off: the
    /// timeout must exceed the wait.
    fn check(&self) -> Result<(), String> {
        if self.time_header.is_some() && self.feed.partitions.is_none() {
            return Err(VERSION_1_ONLY.replace("{option}", "--time-header"));
        }
        match self.long_poll() {
            Some(wait) if self.feed.connection.read_timeout <= wait => Err(format!(
                "--read-timeout {} must exceed --wait {} (the producer may hold a request that long)",
                humantime::format_duration(self.feed.connection.read_timeout),
                self.wait
            )),
            _ => Ok(()),
        }
    }

    /// The long-poll of a caught-up request: `--wait`, none with `0` or
    /// `--until-caught-up`.
    pub(crate) fn long_poll(&self) -> Option<Duration> {
        Some(Duration::from_secs(self.wait.into()))
            .filter(|wait| !wait.is_zero() && !self.until_caught_up)
    }
}

/// `zeh cursors`.
#[derive(Debug, Args)]
pub(crate) struct CursorsArgs {
    /// The consumer's database: sqlite:PATH or a postgres:// URL, e.g. sqlite:consumer.db
    #[arg(value_name = "STORE", value_parser = parse::store)]
    pub(crate) store: Database,

    /// The consumer's name (as given to zeh follow --name), e.g. --name billing
    #[arg(long, value_name = "NAME", default_value = "zeh")]
    pub(crate) name: String,

    /// Also ask this feed where each partition ends, and print how far behind the consumer is, e.g. --feed http://127.0.0.1:7070/feed/v1
    ///
    /// Each line then also holds `head`, the producer's current cursor
    /// (null for a partition a version 2 feed no longer lists), and, where
    /// cursors are positions (as zeh's and zeroeventhub-sqlx's are),
    /// `behind`: the events between the two. Version 2 from the feed's
    /// discovery, unless --partitions is given.
    #[arg(long, value_name = "URL", value_parser = parse::url)]
    pub(crate) feed: Option<Url>,

    /// With --feed: speak version 1 to a feed of N partitions, e.g. --partitions 3
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), requires = "feed")]
    pub(crate) partitions: Option<u32>,
}

/// `zeh serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// A file of events (one per line in the wire form) or a database's event log, e.g. events.ndjson or sqlite:producer.db
    ///
    /// sqlite:PATH and postgres:// URLs are databases (the table
    /// zeh_event_log, created if missing); anything else is a file path.
    #[arg(value_name = "SOURCE", value_parser = parse::source)]
    pub(crate) source: Source,

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

    /// Hold a request that asks to wait (long-polling) at most SECS seconds; 0 answers every request at once, e.g. --max-wait 30
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub(crate) max_wait: u32,

    /// Serve only requests with `Authorization: Bearer TOKEN`, TOKEN one line of this file; others get 401, e.g. --auth-token-file /run/secrets/feed-tokens
    ///
    /// Each non-empty line is a token (so a new one can be added before the
    /// old one is removed); the file is read at the start. Tokens are
    /// compared in constant time and never logged.
    #[arg(long, value_name = "PATH")]
    pub(crate) auth_token_file: Option<PathBuf>,

    /// After Ctrl-C or SIGTERM, how long the responses in flight may take to finish before they are cut and zeh exits, e.g. --shutdown-grace 30s
    ///
    /// A cut response is aborted: its consumer sees a failed response and
    /// asks again elsewhere, never mistaking it for a whole page.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse::duration)]
    pub(crate) shutdown_grace: Duration,

    /// Close a connection that takes longer than this to send a request's head (a slow client, or one idle between requests), e.g. --header-timeout 30s
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse::duration)]
    pub(crate) header_timeout: Duration,

    /// The most responses in flight at once, held long-polls included; past it, 503 with Retry-After, e.g. --max-streams 10000
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_streams: u32,

    /// Serve the library's metrics in the Prometheus text format at http://ADDR/metrics, e.g. --metrics-addr 127.0.0.1:9464
    #[arg(long, value_name = "ADDR", value_parser = parse::listen_addr)]
    pub(crate) metrics_addr: Option<SocketAddr>,

    /// With a database: the event log's table, e.g. --table person_events
    ///
    /// For several feeds in one database. A plain SQL name, optionally with
    /// a schema (schema.table); created if missing.
    #[arg(long, value_name = "TABLE", default_value = DEFAULT_TABLE, value_parser = parse::table)]
    pub(crate) table: String,

    /// With a database: send each event's append time as header NAME (RFC 3339, UTC) to consumers that ask for it, e.g. --time-header zeh-appended-at
    ///
    /// A consumer that asks for it (zeh follow --time-header NAME) can tell
    /// how many seconds behind it is.
    #[arg(long, value_name = "NAME")]
    pub(crate) time_header: Option<String>,
}

impl ServeArgs {
    /// `--table` names a table of a database: a file has none.
    fn check(&self) -> Result<(), String> {
        match self.source {
            Source::File(_) if self.table != DEFAULT_TABLE => {
                Err("--table applies to a database SOURCE (sqlite:PATH or postgres://...), not to a file".to_owned())
            }
            Source::File(_) if self.time_header.is_some() => {
                Err("--time-header applies to a database SOURCE (sqlite:PATH or postgres://...), not to a file".to_owned())
            }
            _ => Ok(()),
        }
    }

    /// `--max-wait` as a duration.
    pub(crate) fn max_wait(&self) -> Duration {
        Duration::from_secs(self.max_wait.into())
    }
}

/// `zeh append`.
#[derive(Debug, Args)]
pub(crate) struct AppendArgs {
    /// The database of the event log: sqlite:PATH (created if missing) or a postgres:// URL, e.g. sqlite:producer.db
    #[arg(value_name = "STORE", value_parser = parse::store)]
    pub(crate) store: Database,

    /// The event log's partition count; every event's partition must be in 0..N, e.g. --partitions 3
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=MAX_SERVED_PARTITIONS)
    )]
    pub(crate) partitions: u32,

    /// The events, one per line in the wire form; stdin when absent or -, e.g. events.ndjson
    #[arg(value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,

    /// With a database: the event log's table, e.g. --table person_events
    ///
    /// For several feeds in one database. A plain SQL name, optionally with
    /// a schema (schema.table); created if missing.
    #[arg(long, value_name = "TABLE", default_value = DEFAULT_TABLE, value_parser = parse::table)]
    pub(crate) table: String,
}

impl Cli {
    /// Parses the command line; exits with status 2 and a usage message
    /// when it is invalid, including the checks that span arguments.
    pub(crate) fn parse_checked() -> Cli {
        let cli = Cli::parse();
        let (name, problem) = match &cli.command {
            Command::Fetch(args) => ("fetch", args.feed.check()),
            Command::Follow(args) => ("follow", args.feed.check().and_then(|()| args.check())),
            Command::Serve(args) => ("serve", args.check()),
            Command::Append(_) | Command::Cursors(_) | Command::Discover(_) => return cli,
        };
        if let Err(message) = problem {
            let mut command = Cli::command();
            command.build();
            // The subcommand's own usage line when it is found (it always is).
            let error = match command.find_subcommand_mut(name) {
                Some(subcommand) => subcommand.error(ErrorKind::ValueValidation, message),
                None => Cli::command().error(ErrorKind::ValueValidation, message),
            };
            error.exit();
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
            Command::Serve(_) | Command::Append(_) | Command::Cursors(_) | Command::Discover(_) => {
                panic!("not a feed command")
            }
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
            feed(&cli).start_cursors(3),
            [Cursor::first(0), Cursor::first(1), Cursor::first(2)]
        );
        let client = Client::new("http://h/feed", 3).unwrap();
        let cursors = feed(&cli).start_cursors(3);
        let fetch = feed(&cli).fetch(&client, &cursors);
        assert_eq!(fetch.request(), &FeedRequest::new(3, cursors));
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
        assert_eq!(feed(&cli).start_cursors(3), [Cursor::new(2, "x").unwrap()]);
    }

    #[test]
    fn without_partitions_version_2_checks_apply() {
        let cli = parse(&["fetch", "http://h/f"]).unwrap();
        assert_eq!(feed(&cli).partitions, None);
        assert_eq!(feed(&cli).check(), Ok(()));
        let cli = parse(&["fetch", "http://h/f", "--cursor", "32768=x"]).unwrap();
        assert!(feed(&cli).check().unwrap_err().contains("outside 0..32768"));
        let cli = parse(&["fetch", "http://h/f", "--headers", "_all"]).unwrap();
        assert!(
            feed(&cli)
                .check()
                .unwrap_err()
                .starts_with("--headers asks for event headers")
        );
        let cli = parse(&[
            "follow",
            "http://h/f",
            "--store",
            "sqlite:c.db",
            "--time-header",
            "t",
        ])
        .unwrap();
        let Command::Follow(args) = cli.command else {
            panic!("expected follow")
        };
        assert!(
            args.check()
                .unwrap_err()
                .starts_with("--time-header asks for event headers")
        );
    }

    #[test]
    fn follow_defaults() {
        let cli = parse(&["follow", "http://h/f", "--partitions", "1"]).unwrap();
        let Command::Follow(args) = cli.command else {
            panic!("expected follow")
        };
        assert_eq!(args.poll_interval, Duration::from_secs(1));
        assert_eq!(args.long_poll(), Some(Duration::from_secs(20)));
        assert!(!args.until_caught_up);
        assert!(args.store.is_none());
    }

    #[test]
    fn follow_wait_zero_or_until_caught_up_does_not_long_poll() {
        for extra in [&["--wait", "0"][..], &["--until-caught-up"][..]] {
            let mut args = vec!["follow", "http://h/f", "--partitions", "1"];
            args.extend_from_slice(extra);
            let Command::Follow(args) = parse(&args).unwrap().command else {
                panic!("expected follow")
            };
            assert_eq!(args.long_poll(), None, "{extra:?}");
        }
        assert!(parse(&["follow", "http://h/f", "--partitions", "1", "--wait", "-1"]).is_err());
    }

    #[test]
    fn serve_max_wait_defaults_to_a_minute() {
        let Command::Serve(args) = parse(&["serve", "f.ndjson", "--partitions", "1"])
            .unwrap()
            .command
        else {
            panic!("expected serve")
        };
        assert_eq!(args.max_wait(), Duration::from_secs(60));
    }

    #[test]
    fn follow_store_is_a_database() {
        let cli = parse(&[
            "follow",
            "http://h/f",
            "--partitions",
            "1",
            "--store",
            "sqlite:c.db",
        ])
        .unwrap();
        let Command::Follow(args) = cli.command else {
            panic!("expected follow")
        };
        assert_eq!(args.store.unwrap().to_string(), "sqlite:c.db");
        let refused = parse(&[
            "follow",
            "http://h/f",
            "--partitions",
            "1",
            "--store",
            "c.db",
        ]);
        assert!(refused.is_err());
    }

    #[test]
    fn serve_source_is_a_file_unless_it_names_a_database() {
        for (text, file) in [
            ("events.ndjson", true),
            ("postgres:x", true),
            ("sqlite:p.db", false),
            ("postgresql://u@h/d", false),
        ] {
            let cli = parse(&["serve", text, "--partitions", "3"]).unwrap();
            let Command::Serve(args) = cli.command else {
                panic!("expected serve")
            };
            assert_eq!(matches!(args.source, Source::File(_)), file, "{text}");
        }
        assert!(parse(&["serve", "sqlite:", "--partitions", "3"]).is_err());
    }

    #[test]
    fn append_reads_stdin_without_a_file() {
        let cli = parse(&["append", "sqlite:p.db", "--partitions", "3"]).unwrap();
        let Command::Append(args) = cli.command else {
            panic!("expected append")
        };
        assert_eq!(args.file, None);
        assert!(parse(&["append", "p.db", "--partitions", "3"]).is_err());
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
