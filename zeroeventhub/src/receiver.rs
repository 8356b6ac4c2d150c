//! Callbacks for users who prefer them to streams.

use std::future::Future;

use futures_core::Stream;
use futures_util::StreamExt;

use crate::{Cursor, Event, FeedLine};

/// Receives the lines of a response one by one, in order: events and
/// checkpoints. Driven by [`receive_events`].
///
/// To process exactly once, apply events as they come and, on each
/// checkpoint, commit their effects together with the cursor.
///
/// # Examples
///
/// ```
/// use futures_util::stream;
/// use zeroeventhub::{receive_events, Cursor, Event, EventReceiver, FeedLine};
///
/// #[derive(Default)]
/// struct Counter {
///     events: usize,
///     last: Option<Cursor>,
/// }
///
/// impl EventReceiver for Counter {
///     type Error = std::convert::Infallible;
///
///     async fn event(&mut self, _event: Event) -> Result<(), Self::Error> {
///         self.events += 1;
///         Ok(())
///     }
///
///     async fn checkpoint(&mut self, cursor: Cursor) -> Result<(), Self::Error> {
///         self.last = Some(cursor);
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let lines = vec![
///     Ok::<_, std::io::Error>(FeedLine::Event(Event::from_data(0, &1).unwrap())),
///     Ok(FeedLine::Checkpoint(Cursor::new(0, "1").unwrap())),
/// ];
/// let mut counter = Counter::default();
/// receive_events(stream::iter(lines), &mut counter).await.unwrap();
/// assert_eq!(counter.events, 1);
/// assert_eq!(counter.last.unwrap().as_str(), "1");
/// # });
/// ```
pub trait EventReceiver {
    /// The error the receiver may fail with; it stops the driver.
    type Error;

    /// Called for each event.
    fn event(&mut self, event: Event) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Called for each checkpoint: every event received before it may now
    /// be committed with this cursor.
    fn checkpoint(
        &mut self,
        cursor: Cursor,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Feeds every line of `lines` to `receiver`, in order.
///
/// # Errors
///
/// Stops at the first error of the stream or of the receiver and returns
/// it; lines after it are not read.
pub async fn receive_events<S, E, R>(
    lines: S,
    receiver: &mut R,
) -> Result<(), ReceiveError<E, R::Error>>
where
    S: Stream<Item = Result<FeedLine, E>>,
    R: EventReceiver + ?Sized,
{
    let mut lines = std::pin::pin!(lines);
    while let Some(line) = lines.next().await {
        match line.map_err(ReceiveError::Stream)? {
            FeedLine::Event(event) => receiver.event(event).await,
            FeedLine::Checkpoint(cursor) => receiver.checkpoint(cursor).await,
        }
        .map_err(ReceiveError::Receiver)?;
    }
    Ok(())
}

/// Why [`receive_events`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError<S, R> {
    /// The stream of lines failed (for a client: HTTP or decoding).
    #[error("reading the feed failed")]
    Stream(#[source] S),
    /// The receiver failed.
    #[error("the receiver failed")]
    Receiver(#[source] R),
}
