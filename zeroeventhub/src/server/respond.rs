//! From a request to a response, for any HTTP framework: the reader is
//! asked until it has an event or the wait is over.

use std::{
    collections::HashMap,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::{StreamExt, stream};
use http::StatusCode;
use pin_project_lite::pin_project;

use super::{DataReader, EncodeLines, ReadError, ResponseAborted, feed::Waiting};
use crate::{Cursor, FeedLine, FeedRequest, metrics};

/// The content type of a feed response.
pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// The content type of a discovery document (version 2).
pub const DISCOVERY_CONTENT_TYPE: &str = "application/json";

/// What to answer a feed request with.
#[derive(Debug)]
pub enum FeedResponse<B> {
    /// Refuse with `status` (400, 404, 409 or 500) and a plain-text
    /// `message`.
    Refused {
        /// The HTTP status code.
        status: StatusCode,
        /// The body: the client's fault named, or a generic text for the
        /// producer's own failures.
        message: String,
    },
    /// Answer 200 with [`CONTENT_TYPE`] and stream this body. The body ends
    /// with [`ResponseAborted`] when the reader fails after the start; the
    /// framework must then abort the response, not end it cleanly.
    Stream(B),
    /// Answer 200 with [`DISCOVERY_CONTENT_TYPE`] and this JSON text: a
    /// version 2 discovery document.
    Discovery(String),
}

/// The body of a feed response: chunks of encoded lines, ending with
/// [`ResponseAborted`] when the reader fails after the start.
pub type ResponseBody =
    Pin<Box<dyn Stream<Item = Result<Bytes, ResponseAborted>> + Send + 'static>>;

/// Answers a validated request: reads once, and while the reader finds no
/// event and `waiting` allows, waits for a change and reads again from the
/// checkpoints the last read ended at. When the wait is over (time up, or
/// the producer shutting down), the reader is asked once more: a reader
/// without change notifications sees its new events then.
///
/// The first line is always awaited, so that a refusal still gets its
/// status. While a wait is possible, lines are held back until the first
/// event, the end, or [`held_back_at_most`] lines (a reader that sends
/// checkpoints without end is then streamed as it is): memory stays
/// bounded by the cursors, however often the reader is asked.
pub(super) async fn answer<R: DataReader>(
    reader: &R,
    mut request: FeedRequest,
    mut waiting: Option<Waiting<'_>>,
    started: Instant,
    version_2: bool,
) -> FeedResponse<ResponseBody> {
    let mut first_read = true;
    loop {
        let mut lines = Box::pin(reader.read(request.clone()).fuse());
        let may_wait = waiting.is_some();
        let limit = if may_wait {
            held_back_at_most(&request)
        } else {
            1
        };
        let mut head = Vec::new();
        let mut nothing_new = true;
        while head.len() < limit {
            match lines.next().await {
                None => break,
                Some(Ok(line)) => {
                    let event = matches!(line, FeedLine::Event(_));
                    head.push(line);
                    if event {
                        nothing_new = false;
                        break;
                    }
                }
                Some(Err(error)) => return refusal(&error),
            }
        }
        let ended = head.len() < limit && nothing_new;
        // A first read that moved a concrete cursor (past events a filter
        // dropped) is progress to answer with now, not a reason to wait.
        let moved = first_read && moves_a_cursor(&request, &head);
        first_read = false;
        if let Some(wait) = waiting.as_mut().filter(|_| ended && !moved) {
            resume_from(&mut request, &head);
            // Nothing of the finished read is kept while the request waits.
            drop((lines, head));
            if !wait.changed().await {
                // Time is up: one last read, answered whatever it holds.
                waiting = None;
            }
            continue;
        }
        metrics::request_answered(StatusCode::OK);
        let lines = stream::iter(head.into_iter().map(Ok)).chain(lines);
        let lines = Counted::new(lines, started);
        return FeedResponse::Stream(if version_2 {
            Box::pin(EncodeLines::version_2(lines))
        } else {
            Box::pin(EncodeLines::new(lines))
        });
    }
}

/// How many lines a read may hold back while it looks for an event: the
/// checkpoints of a read without events (one per cursor, and one after
/// each chunk a reader may send), with room to spare.
fn held_back_at_most(request: &FeedRequest) -> usize {
    request.cursors.len().saturating_mul(2).saturating_add(16)
}

/// Whether `lines` end a partition somewhere other than the request's
/// cursor for it, a cursor other than `_first` and `_last` (those become
/// concrete at the first read, which is no progress).
fn moves_a_cursor<D>(request: &FeedRequest, lines: &[FeedLine<D>]) -> bool {
    lines.iter().any(|line| match line {
        FeedLine::Checkpoint(checkpoint) => request.cursors.iter().any(|cursor| {
            cursor.partition_id() == checkpoint.partition_id()
                && !cursor.is_first()
                && !cursor.is_last()
                && cursor.as_str() != checkpoint.as_str()
        }),
        FeedLine::Event(_) => false,
    })
}

/// Moves each partition's cursor in `request` to where the reader's last
/// checkpoint for it in `lines` says, so that `_last` is not read anew
/// after a wait.
fn resume_from<D>(request: &mut FeedRequest, lines: &[FeedLine<D>]) {
    let latest: HashMap<u32, &Cursor> = lines
        .iter()
        .filter_map(|line| match line {
            FeedLine::Checkpoint(cursor) => Some((cursor.partition_id(), cursor)),
            FeedLine::Event(_) => None,
        })
        .collect();
    for cursor in &mut request.cursors {
        if let Some(&latest) = latest.get(&cursor.partition_id()) {
            cursor.clone_from(latest);
        }
    }
}

pin_project! {
    /// The lines of a response, counted: when the body is dropped (sent
    /// whole, failed or abandoned), the events sent and the time since the
    /// request arrived are reported ([`metrics`]).
    struct Counted<S> {
        #[pin]
        lines: S,
        events: u64,
        started: Instant,
    }

    impl<S> PinnedDrop for Counted<S> {
        fn drop(this: Pin<&mut Self>) {
            metrics::response_sent(this.events, this.started.elapsed());
        }
    }
}

impl<S> Counted<S> {
    fn new(lines: S, started: Instant) -> Self {
        Counted {
            lines,
            events: 0,
            started,
        }
    }
}

impl<D, S: Stream<Item = Result<FeedLine<D>, ReadError>>> Stream for Counted<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let next = this.lines.poll_next(cx);
        if let Poll::Ready(Some(Ok(FeedLine::Event(_)))) = &next {
            *this.events += 1;
        }
        next
    }
}

/// The refusal for a reader's error before the response started.
fn refusal<B>(error: &ReadError) -> FeedResponse<B> {
    let refused = match error.client_message() {
        Some(message) => {
            tracing::debug!(%message, "feed request refused by the data reader");
            FeedResponse::Refused {
                status: StatusCode::BAD_REQUEST,
                message: message.to_owned(),
            }
        }
        None => {
            tracing::error!(%error, "feed request failed: the data reader failed");
            FeedResponse::Refused {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "internal server error".to_owned(),
            }
        }
    };
    if let FeedResponse::Refused { status, .. } = &refused {
        metrics::request_answered(*status);
    }
    refused
}
