//! The producer's `DataReader`: a feed of a fixed length whose events are
//! built and serialised per request, nothing preloaded.

use std::sync::{Arc, OnceLock};

use futures_util::{Stream, stream};
use zeroeventhub::{
    FeedLine, FeedRequest,
    server::{DataReader, ReadError, parse_position},
    v2::{Discovery, PartitionInfo},
};

use crate::workload::{PersonNameChanged, checkpoint, feed_lines};

/// The version 2 token of every [`BenchFeed`]: its one partition never
/// changes.
pub const TOKEN: &str = "bench";

/// The page size when the request has no `pagesizehint` (or `0`).
pub const DEFAULT_PAGE_SIZE: u64 = 1000;

/// A feed of `events` events in one partition; cursor = seq of the last
/// event delivered (`0` before the first). It speaks version 2 as well:
/// its discovery lists partition `0`, open, with the token [`TOKEN`].
#[derive(Debug, Clone, Copy)]
pub struct BenchFeed {
    events: u64,
}

impl BenchFeed {
    /// A feed of `events` events.
    pub fn new(events: u64) -> Self {
        BenchFeed { events }
    }
}

impl DataReader for BenchFeed {
    type Data = PersonNameChanged;

    fn read(
        &self,
        request: FeedRequest,
    ) -> impl Stream<Item = Result<FeedLine<PersonNameChanged>, ReadError>> + Send + 'static {
        // One partition: the validated request holds exactly cursor0.
        let start = request
            .cursors
            .first()
            .map_or(Ok(0), |cursor| parse_position(cursor, self.events));
        let page = request
            .page_size_hint
            .filter(|&hint| hint > 0)
            .map_or(DEFAULT_PAGE_SIZE, u64::from);
        let (refusal, start, end) = match start {
            Ok(start) => (None, start, self.events.min(start.saturating_add(page))),
            Err(error) => (Some(error), 0, 0),
        };
        // Every response ends with a checkpoint, even one without events.
        let empty_page_checkpoint = (refusal.is_none() && start == end)
            .then(|| Ok(FeedLine::Checkpoint(checkpoint(start))));
        let lines = feed_lines(start, end).map(Ok);
        stream::iter(
            refusal
                .map(Err)
                .into_iter()
                .chain(lines)
                .chain(empty_page_checkpoint),
        )
    }

    fn discovery(&self) -> Option<Arc<Discovery>> {
        // Made once per process: the request's cost, not the document's.
        static DISCOVERY: OnceLock<Arc<Discovery>> = OnceLock::new();
        let discovery = DISCOVERY.get_or_init(|| {
            Arc::new(Discovery {
                token: TOKEN.to_owned(),
                exactly_once: true,
                partitions: vec![PartitionInfo::open(0)],
            })
        });
        Some(Arc::clone(discovery))
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use zeroeventhub::Cursor;

    use super::*;

    async fn read(
        feed: BenchFeed,
        cursor: &str,
        hint: Option<u32>,
    ) -> Vec<FeedLine<PersonNameChanged>> {
        let mut request = FeedRequest::new(1, vec![Cursor::new(0, cursor).unwrap()]);
        request.page_size_hint = hint;
        feed.read(request)
            .map(|line| line.expect("no error"))
            .collect()
            .await
    }

    #[tokio::test]
    async fn pages_follow_the_cursor() {
        let feed = BenchFeed::new(5);
        let lines = read(feed, "_first", Some(2)).await;
        assert_eq!(lines.len(), 4);
        assert!(matches!(&lines[3], FeedLine::Checkpoint(c) if *c == checkpoint(2)));
        let lines = read(feed, "4", Some(2)).await;
        assert_eq!(lines.len(), 2);
        assert!(matches!(&lines[1], FeedLine::Checkpoint(c) if *c == checkpoint(5)));
        let lines = read(feed, "_last", None).await;
        assert!(matches!(lines.as_slice(), [FeedLine::Checkpoint(c)] if *c == checkpoint(5)));
    }

    #[test]
    fn the_discovery_lists_the_one_partition_with_the_token() {
        let discovery = BenchFeed::new(5).discovery().expect("version 2");
        assert_eq!(discovery.token, TOKEN);
        assert_eq!(discovery.partitions, [PartitionInfo::open(0)]);
    }

    #[tokio::test]
    async fn unknown_cursor_is_refused() {
        let request = FeedRequest::new(1, vec![Cursor::new(0, "6").unwrap()]);
        let lines: Vec<_> = BenchFeed::new(5).read(request).collect().await;
        assert_eq!(lines.len(), 1);
        assert!(lines[0].as_ref().unwrap_err().is_bad_request());
    }
}
