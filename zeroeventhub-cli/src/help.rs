//! The long help texts: what each command does, its exit statuses, and
//! examples to copy.

/// `zeh --help`, first line.
pub(crate) const ABOUT: &str = "Fetch, follow, serve and store ZeroEventHub feeds from a terminal";

/// `zeh --help`, above the commands.
pub(crate) const LONG_ABOUT: &str = "\
Fetch, follow, serve and store ZeroEventHub feeds from a terminal.

A ZeroEventHub feed is an HTTP endpoint that answers a GET with events in
newline-delimited JSON, partitioned, with a checkpoint (a cursor to resume
from) after the events of each partition. zeh prints the lines in their
wire form, one JSON object per line, so that they can be piped into jq or
head:

  {\"partition\":0,\"headers\":{\"ce_id\":\"e1\"},\"data\":{...}}   an event
  {\"partition\":0,\"cursor\":\"17\"}                            a checkpoint

A STORE is a database: sqlite:PATH (a SQLite file, created if missing) or a
postgres://USER@HOST/DATABASE URL.";

/// `zeh --help`, below the commands.
pub(crate) const AFTER_HELP: &str = "\
Examples:
  zeh serve events.ndjson --partitions 3
  zeh fetch http://127.0.0.1:7070/feed/v1 --partitions 3 --headers _all
  zeh follow http://127.0.0.1:7070/feed/v1 --partitions 3 --cursor 0=12 --cursor 1=_first
  zeh follow http://127.0.0.1:7070/feed/v1 --partitions 3 --store sqlite:consumer.db
  zeh append sqlite:producer.db --partitions 3 events.ndjson
  zeh serve sqlite:producer.db --partitions 3

Exit status: 0 on success, 1 when the feed, the network or the database fails,
2 on invalid arguments.";

/// `zeh fetch --help`, below the options.
pub(crate) const FETCH_AFTER_HELP: &str = "\
Prints every line of one response as it arrives: events and checkpoints, in
the order received, in their wire form. On an error the lines already
received stay printed, one line on stderr names the cause, and the exit
status is 1.

With --partitions N it speaks version 1 (ZeroEventHub): one request for
all the partitions. Without it, it asks the producer for its discovery and
speaks version 2 (FeedAPI): one request per listed partition (or per
--cursor), one after another; a producer that speaks only version 1
answers the discovery with 400, and zeh then says to give --partitions.
The lines have the same form on both versions, with `partition`.

Examples:
  # a version 2 feed: every listed partition from the beginning
  zeh fetch http://127.0.0.1:7070/feed/v1
  # every partition from the beginning, with all headers (version 1)
  zeh fetch http://127.0.0.1:7070/feed/v1 --partitions 3 --headers _all
  # is my stored cursor still valid? (partition 1 after cursor 1042)
  zeh fetch http://127.0.0.1:7070/feed/v1 --partitions 3 --cursor 1=1042 --page-size-hint 10
  # only the data of the events
  zeh fetch http://127.0.0.1:7070/feed/v1 --partitions 3 | jq -c 'select(has(\"data\")) | .data'";

/// `zeh follow --help`, below the options.
pub(crate) const FOLLOW_AFTER_HELP: &str = "\
Fetches page after page from the current cursors, prints the events each
page's checkpoints cover (events only, in the form `fetch` prints them) and
moves the cursors to the page's latest checkpoints. When a page brings no
event it long-polls: the next request asks the producer to hold it up to
--wait seconds (20) and to answer as soon as an event arrives, so new
events are printed within milliseconds of their commit. A producer that
answers such a request at once (it does not hold requests) is asked at most
once per --poll-interval; --wait 0 polls every --poll-interval instead. With
--until-caught-up it exits 0 at the first page without events.

Without --partitions it speaks version 2 (FeedAPI), from the producer's
discovery, on the library's consumer runtime (cursors in memory without
--store): when the producer's token changes (409) it discovers again and
goes on from the cursors it has; a closed partition is followed to its end
and then no longer asked for; the children of a split start after their
parent is finished (startsAfterPartition) or from their ancestor's cursor
(cursorFromPartitions). The lines have version 1's form either way.

With --store, it is the library's consumer runtime: each partition's pages
are fetched side by side, and each page's covered events and its new cursor
are written in one transaction; the events are printed once it committed
(each partition's in order, the partitions interleaved):
  zeh_events            id (autoincrement), partition_id, headers (JSON
                        object or NULL), data (the JSON text exactly as
                        received); --table names another table
  zeh_consumer_cursors  the stored cursor of each (--name, partition);
                        print them with `zeh cursors STORE --name NAME`
The tables are created if missing. A restart resumes from the stored
cursors: each followed partition (those of --cursor, or all of 0..N, or
all those the discovery lists) starts
from its stored cursor when it has one, otherwise from --cursor or _first.
Killed at any instant and restarted, the database holds every event exactly
once. Processes with the same --name and STORE form a group: each partition
is leased to one of them at a time, each holds about its share of the
partitions, and when one dies the others take its partitions over once its
leases lapse (--lease-ttl). Give a process a stable --instance to have it
take its own leases back at once after a restart.

Connection failures, 5xx answers and cut-off bodies are retried with
exponential back-off (100ms doubling up to 30s, with jitter), with a message
on stderr each time (with --store also 401/403 and database failures, which
do not end it); a 4xx answer or a malformed response ends it with exit
status 1 (with --store, the page in hand is then not stored: a restart
fetches it again). Ctrl-C or SIGTERM ends it with exit status 0 once the
pages in hand are stored and printed, at once while a request is held by
the producer (no page is in hand then); a second one abandons the requests
in flight: exit status 130.

Examples:
  # everything so far, then exit
  zeh follow http://127.0.0.1:7070/feed/v1 --partitions 3 --until-caught-up
  # a version 2 feed into a SQLite file, through its splits
  zeh follow http://127.0.0.1:7070/feed/v1 --store sqlite:consumer.db
  # tail partition 0 from where a consumer stopped, polling every 500ms
  zeh follow http://127.0.0.1:7070/feed/v1 --partitions 3 --cursor 0=1042 --wait 0 --poll-interval 500ms
  # copy the feed into a SQLite file; run it again to resume
  zeh follow http://127.0.0.1:7070/feed/v1 --partitions 3 --store sqlite:consumer.db --until-caught-up
  sqlite3 consumer.db 'SELECT partition_id, data FROM zeh_events ORDER BY id'
  # two processes of one group on PostgreSQL share the partitions
  zeh follow http://127.0.0.1:7070/feed/v1 --partitions 8 --store postgres://localhost/app --name billing &
  zeh follow http://127.0.0.1:7070/feed/v1 --partitions 8 --store postgres://localhost/app --name billing &
  zeh cursors postgres://localhost/app --name billing";

/// `zeh serve --help`, below the options.
pub(crate) const SERVE_AFTER_HELP: &str = "\
SOURCE is a file or a database. A file holds one event per line in the
wire form:
  {\"partition\":0,\"headers\":{\"ce_id\":\"e1\"},\"data\":{\"id\":1}}   (headers optional)
It is read once, at the start. The k-th event of a partition has the cursor
\"k\"; _first is before the first event and _last the current end.

A database (sqlite:PATH or a postgres:// URL) is served as the event log of
zeroeventhub-sqlx: the table zeh_event_log, created if missing, which
`zeh append` and programs using zeroeventhub-sqlx's EventLog write. Its
cursors are positions too (\"k\" after the k-th event of a partition), and
events committed while it serves appear on the next request.

A response holds the events after each requested cursor, at most the page
size hint in total, a checkpoint after each event and a final checkpoint
for every requested partition. Headers are sent only as requested. A cursor
that is not _first, _last or a position in 0..=end is answered 400.

Long-polling: a request with wait=S that finds no event after its cursors
is held until one of its partitions gets one, then answered at once, or
answered with its checkpoints after S seconds (at most --max-wait). Events
appended by any process wake it: on PostgreSQL by NOTIFY at commit, on
SQLite within about 10 ms.

Once bound, the first line on stdout is `listening on http://HOST:PORT/PATH`.
It serves until Ctrl-C or SIGTERM, then shuts down gracefully: held requests
are answered with their checkpoints at once, the others finish (exit status
0). Set RUST_LOG=debug to log every request on stderr.

Examples:
  zeh serve events.ndjson --partitions 3
  # any free port, another route, small pages
  zeh serve events.ndjson --partitions 3 --addr 127.0.0.1:0 --path /person/feed/v1 --default-page-size 5
  # an event log, growing while it is served
  zeh serve sqlite:producer.db --partitions 3
  zeh serve postgres://app@localhost/app --partitions 3";

/// `zeh append --help`, below the options.
pub(crate) const APPEND_AFTER_HELP: &str = "\
Appends events to the event log that `zeh serve STORE` serves (the table
zeh_event_log of zeroeventhub-sqlx, created if missing). The input holds one
event per line in the wire form, headers optional; blank lines are skipped:
  {\"partition\":0,\"headers\":{\"ce_id\":\"e1\"},\"data\":{\"id\":1}}

The whole input is read and checked first, then appended in one
transaction, in input order: either every event is appended or none. A line
that is not an event of 0..N (a checkpoint, malformed JSON, a partition
outside 0..N) is named as FILE:LINE (or <stdin>:LINE) on stderr, nothing is
appended and the exit status is 1.

On success, stdout has one checkpoint line per partition appended to, in
ascending partition order: the cursor after its last appended event.
  {\"partition\":0,\"cursor\":\"42\"}

Examples:
  zeh append sqlite:producer.db --partitions 3 events.ndjson
  echo '{\"partition\":1,\"data\":{\"id\":7}}' | zeh append sqlite:producer.db --partitions 3
  # copy a feed into an event log of your own
  zeh follow http://127.0.0.1:7070/feed/v1 --partitions 3 --until-caught-up | zeh append postgres://app@localhost/app --partitions 3";
