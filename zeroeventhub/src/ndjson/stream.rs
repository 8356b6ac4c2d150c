//! Any stream of body chunks, decoded into a stream of feed lines.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll, ready},
};

use futures_core::{Stream, TryStream};
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::{DecodeError, Decoder};
use crate::FeedLine;

/// Turns a stream of byte chunks (an HTTP body from any client) into a
/// stream of [`FeedLine`]s.
///
/// # Examples
///
/// ```
/// use futures_util::{stream, StreamExt};
/// use zeroeventhub::{ndjson::FeedLinesExt, FeedLine};
///
/// # tokio_test_block_on(async {
/// let chunks = ["{\"partition\":0,\"da", "ta\":1}\n{\"partition\":0,\"cursor\":\"1\"}"];
/// let lines: Vec<_> = stream::iter(chunks.map(Ok::<_, std::io::Error>))
///     .feed_lines()
///     .collect()
///     .await;
/// assert_eq!(lines.len(), 2);
/// assert!(matches!(lines[1], Ok(FeedLine::Checkpoint(_))));
/// # });
/// # fn tokio_test_block_on(f: impl std::future::Future) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f);
/// # }
/// ```
pub trait FeedLinesExt<B, E>: Stream<Item = Result<B, E>> + Sized {
    /// Decodes the chunks with a default [`Decoder`].
    fn feed_lines(self) -> FeedLines<Self> {
        self.feed_lines_with(Decoder::new())
    }

    /// Decodes the chunks with `decoder`: one with another maximum line
    /// length, or one that deserializes event data into your type
    /// ([`Decoder::typed`]).
    fn feed_lines_with<D>(self, decoder: Decoder<D>) -> FeedLines<Self, D> {
        FeedLines {
            body: self,
            chunk: None,
            decoder,
            body_ended: false,
            finished: false,
        }
    }
}

impl<S, B, E> FeedLinesExt<B, E> for S where S: Stream<Item = Result<B, E>> {}

pin_project! {
    /// The stream returned by [`FeedLinesExt::feed_lines`].
    ///
    /// Lines are parsed where they lie in the body's chunks; only a line
    /// split across chunks is copied. It ends after the first error,
    /// whether from the body or the decoder.
    #[must_use = "streams do nothing unless polled"]
    pub struct FeedLines<S, D = Box<RawValue>>
    where
        S: TryStream,
    {
        #[pin]
        body: S,
        // The chunk being decoded, and how far.
        chunk: Option<(S::Ok, usize)>,
        decoder: Decoder<D>,
        body_ended: bool,
        finished: bool,
    }
}

impl<S: TryStream, D> fmt::Debug for FeedLines<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedLines")
            .field("body_ended", &self.body_ended)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<S: TryStream, D> FeedLines<S, D> {
    /// The decoder, for example to ask it for the number of the line
    /// returned last ([`Decoder::lines_read`]).
    pub fn decoder(&self) -> &Decoder<D> {
        &self.decoder
    }
}

impl<S, B, E, D> Stream for FeedLines<S, D>
where
    S: Stream<Item = Result<B, E>> + TryStream<Ok = B, Error = E>,
    B: AsRef<[u8]>,
    D: DeserializeOwned,
{
    type Item = Result<FeedLine<D>, FeedLinesError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        while !*this.finished {
            let decoded = if let Some((chunk, offset)) = this.chunk {
                let bytes = chunk.as_ref();
                let (decoded, consumed) = this.decoder.decode_from(&bytes[*offset..]);
                *offset += consumed;
                if *offset == bytes.len() {
                    *this.chunk = None;
                }
                decoded
            } else if *this.body_ended {
                this.decoder.decode_eof()
            } else {
                match ready!(this.body.as_mut().poll_next(cx)) {
                    Some(Ok(chunk)) => *this.chunk = Some((chunk, 0)),
                    Some(Err(error)) => {
                        *this.finished = true;
                        return Poll::Ready(Some(Err(FeedLinesError::Body(error))));
                    }
                    None => *this.body_ended = true,
                }
                continue;
            };
            match decoded {
                Ok(Some(line)) => return Poll::Ready(Some(Ok(line))),
                Err(error) => {
                    *this.finished = true;
                    return Poll::Ready(Some(Err(FeedLinesError::Decode(error))));
                }
                Ok(None) if *this.body_ended => *this.finished = true,
                Ok(None) => {}
            }
        }
        Poll::Ready(None)
    }
}

/// Why a [`FeedLines`] stream failed.
#[derive(Debug, thiserror::Error)]
pub enum FeedLinesError<E> {
    /// The body stream failed.
    #[error("reading the body failed")]
    Body(#[source] E),
    /// A line could not be decoded.
    #[error(transparent)]
    Decode(DecodeError),
}
