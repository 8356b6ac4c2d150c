//! Errors of a producer: the client's fault or the producer's own.

use std::fmt;

use crate::BoxError;

/// Why a [`DataReader`](super::DataReader) could not serve a request.
///
/// Either the client's fault ([`bad_request`](ReadError::bad_request):
/// answered with 400 and the message) or the producer's own
/// ([`internal`](ReadError::internal), or any error converted with `?`:
/// answered with 500; the details are logged, never sent). After the
/// response has started, either kind aborts the body so the consumer sees
/// a failure, never a clean end.
///
/// ```
/// use zeroeventhub::server::ReadError;
///
/// let refused = ReadError::bad_request("cursor0: unknown cursor \"x\"");
/// assert!(refused.is_bad_request());
///
/// fn query_database() -> Result<(), std::io::Error> {
///     Err(std::io::Error::other("connection reset"))
/// }
/// fn read() -> Result<(), ReadError> {
///     query_database()?; // any error becomes an internal one
///     Ok(())
/// }
/// assert!(!read().unwrap_err().is_bad_request());
/// ```
pub struct ReadError {
    kind: Kind,
}

enum Kind {
    BadRequest(String),
    Internal(BoxError),
}

impl ReadError {
    /// The client's fault: answered with 400 and `message`, which should
    /// name the parameter at fault.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ReadError {
            kind: Kind::BadRequest(message.into()),
        }
    }

    /// The producer's own failure: logged, and answered with a generic 500.
    pub fn internal(error: impl Into<BoxError>) -> Self {
        ReadError {
            kind: Kind::Internal(error.into()),
        }
    }

    /// Whether this is the client's fault.
    pub fn is_bad_request(&self) -> bool {
        matches!(self.kind, Kind::BadRequest(_))
    }

    /// The message for the client, for a bad request.
    pub fn client_message(&self) -> Option<&str> {
        match &self.kind {
            Kind::BadRequest(message) => Some(message),
            Kind::Internal(_) => None,
        }
    }
}

// Like `anyhow::Error`, `ReadError` does not implement `std::error::Error`
// itself, which lets `?` turn any error into an internal one.
impl<E> From<E> for ReadError
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        ReadError::internal(error)
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::BadRequest(message) => write!(f, "bad request: {message}"),
            Kind::Internal(error) => write!(f, "producer failure: {error}"),
        }
    }
}

impl fmt::Debug for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::BadRequest(message) => f.debug_tuple("BadRequest").field(message).finish(),
            Kind::Internal(error) => f.debug_tuple("Internal").field(error).finish(),
        }
    }
}

/// The error a response body ends with when the producer failed after the
/// response had started. Its text is deliberately generic: the cause was
/// logged where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the producer failed while streaming the response")]
pub struct ResponseAborted;
