//! Encoding a stream of feed lines into body chunks.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use futures_core::Stream;
use pin_project_lite::pin_project;
use serde::Serialize;

use super::{ReadError, ResponseAborted};
use crate::{
    FeedLine,
    ndjson::{encode_line, encode_line_v2},
};

/// The size a body chunk is filled to before it is sent: large enough for
/// few syscalls and frames, small enough to start sending early.
pub const CHUNK_TARGET: usize = 32 * 1024;

pin_project! {
    /// Body chunks of a response, made from a stream of feed lines.
    ///
    /// Lines are coalesced into chunks of about [`CHUNK_TARGET`] bytes,
    /// but never held back: when the line stream has nothing ready, what
    /// is buffered is sent at once. An error from the line stream is logged
    /// and ends the body with [`ResponseAborted`], after the lines before
    /// it, so the HTTP server aborts the response.
    ///
    /// ```
    /// use futures_util::{stream, StreamExt};
    /// use zeroeventhub::{server::EncodeLines, Cursor, FeedLine};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let lines = stream::iter([Ok(FeedLine::<()>::Checkpoint(Cursor::new(0, "5").unwrap()))]);
    /// let chunks: Vec<_> = EncodeLines::new(lines).collect().await;
    /// assert_eq!(chunks[0].as_ref().unwrap().as_ref(), b"{\"partition\":0,\"cursor\":\"5\"}\n");
    /// # });
    /// ```
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct EncodeLines<S> {
        #[pin]
        lines: S,
        buffer: Vec<u8>,
        state: State,
        version_2: bool,
    }
}

#[derive(Debug)]
enum State {
    Reading,
    /// The line stream ended: flush what is buffered, then end.
    Ended,
    /// The line stream failed: flush what is buffered, then fail.
    Failed,
    Done,
}

impl<S> EncodeLines<S> {
    /// Encodes `lines` in version 1's form ([`encode_line`]).
    pub fn new(lines: S) -> Self {
        EncodeLines {
            lines,
            buffer: Vec::new(),
            state: State::Reading,
            version_2: false,
        }
    }

    /// Encodes `lines`, all of one partition, in version 2's form
    /// ([`encode_line_v2`]).
    pub fn version_2(lines: S) -> Self {
        EncodeLines {
            version_2: true,
            ..EncodeLines::new(lines)
        }
    }
}

impl<S, D> Stream for EncodeLines<S>
where
    S: Stream<Item = Result<FeedLine<D>, ReadError>>,
    D: Serialize,
{
    type Item = Result<Bytes, ResponseAborted>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            match this.state {
                State::Reading => {}
                State::Ended | State::Failed if !this.buffer.is_empty() => {
                    return Poll::Ready(Some(Ok(take(this.buffer))));
                }
                State::Failed => {
                    *this.state = State::Done;
                    return Poll::Ready(Some(Err(ResponseAborted)));
                }
                State::Ended | State::Done => {
                    *this.state = State::Done;
                    return Poll::Ready(None);
                }
            }
            match this.lines.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(line))) => {
                    if this.buffer.capacity() == 0 {
                        this.buffer.reserve(CHUNK_TARGET + CHUNK_TARGET / 4);
                    }
                    let encoded = if *this.version_2 {
                        encode_line_v2(&line, this.buffer)
                    } else {
                        encode_line(&line, this.buffer)
                    };
                    if let Err(error) = encoded {
                        tracing::error!(%error, "feed response aborted: an event's data failed to serialize");
                        *this.state = State::Failed;
                        continue;
                    }
                    if this.buffer.len() >= CHUNK_TARGET {
                        return Poll::Ready(Some(Ok(take(this.buffer))));
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    // "If the producer fails after the response has started,
                    // the body must be cut off abnormally."
                    tracing::error!(%error, "feed response aborted: the data reader failed mid-stream");
                    *this.state = State::Failed;
                }
                Poll::Ready(None) => *this.state = State::Ended,
                Poll::Pending if this.buffer.is_empty() => return Poll::Pending,
                // Nothing more is ready: send what we have rather than wait.
                Poll::Pending => return Poll::Ready(Some(Ok(take(this.buffer)))),
            }
        }
    }
}

fn take(buffer: &mut Vec<u8>) -> Bytes {
    Bytes::from(std::mem::take(buffer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cursor, Event};
    use futures_util::{StreamExt, stream};

    fn event(n: usize) -> Result<FeedLine, ReadError> {
        Ok(Event::from_data(0, &"x".repeat(n)).unwrap().into())
    }

    #[tokio::test]
    async fn lines_are_coalesced_into_large_chunks() {
        let lines = stream::iter((0..1000).map(|_| event(100)));
        let chunks: Vec<Bytes> = EncodeLines::new(lines).map(Result::unwrap).collect().await;
        let total: usize = chunks.iter().map(Bytes::len).sum();
        assert!(
            chunks.len() <= total / CHUNK_TARGET + 1,
            "{} chunks",
            chunks.len()
        );
        assert!(chunks.iter().all(|c| c.ends_with(b"\n")));
    }

    #[tokio::test]
    async fn buffered_lines_are_sent_when_the_reader_pauses() {
        let (sender, receiver) =
            tokio::sync::mpsc::unbounded_channel::<Result<FeedLine, ReadError>>();
        let lines = tokio_stream_from(receiver);
        let mut chunks = Box::pin(EncodeLines::new(lines));
        sender
            .send(Ok(Cursor::new(0, "1").unwrap().into()))
            .unwrap();
        // The reader pauses: the line must come out without waiting.
        let chunk = chunks.next().await.unwrap().unwrap();
        assert_eq!(&chunk[..], b"{\"partition\":0,\"cursor\":\"1\"}\n");
        drop(sender);
        assert!(chunks.next().await.is_none());
    }

    #[tokio::test]
    async fn failure_flushes_then_aborts() {
        let lines = stream::iter([event(1), Err(ReadError::internal("disk on fire"))]);
        let chunks: Vec<_> = EncodeLines::new(lines).collect().await;
        assert_eq!(chunks.len(), 2);
        assert!(chunks[0].is_ok());
        assert_eq!(chunks[1], Err(ResponseAborted));
    }

    fn tokio_stream_from<T>(
        mut receiver: tokio::sync::mpsc::UnboundedReceiver<T>,
    ) -> impl Stream<Item = T> {
        stream::poll_fn(move |cx| receiver.poll_recv(cx))
    }
}
