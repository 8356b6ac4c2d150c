//! The client's error.

use std::time::Duration;

use reqwest::StatusCode;

use crate::{RequestError, ndjson::DecodeError};

/// A boxed error from user code (a request hook).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why fetching from a feed failed.
///
/// The message names the failure; a foreign cause (reqwest's error, for
/// transport failures) is not repeated in it but given by
/// [`source()`](std::error::Error::source): print the chain (for example
/// with `anyhow`'s `{:#}`) to see it.
///
/// Each cause is its own variant, so a consumer can tell a producer's
/// refusal (`Status` 4xx: fix the request) from a passing failure
/// (`Transport`, `BodyInterrupted`, `Status` 5xx: try again) and from a
/// producer that breaks the protocol (`Decode`, `UnexpectedPartition`).
/// [`is_transient`](Error::is_transient) sums that up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The feed URL cannot be used.
    #[error("invalid feed URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The cursors or options do not make a valid request (checked before
    /// sending, as the producer would).
    #[error("invalid request: {0}")]
    InvalidRequest(RequestError),
    /// The request hook failed to produce its headers.
    #[error("the request hook failed")]
    RequestHook(#[source] BoxError),
    /// The request could not be sent or its response headers not read
    /// (connect, TLS, timeout).
    #[error("request to the feed failed")]
    Transport(#[source] reqwest::Error),
    /// The producer answered with a status other than 2xx.
    #[error("the feed answered {status}: {body}")]
    Status {
        /// The status code.
        status: StatusCode,
        /// The start (at most 1 KiB) of the response body, lossily decoded.
        body: String,
        /// The delay the producer asked for in a `Retry-After` header
        /// (in seconds), if any.
        retry_after: Option<Duration>,
    },
    /// The body was cut off before its end (the connection broke or the
    /// producer aborted the response after a failure), or reading it timed
    /// out.
    #[error("the response body was cut off")]
    BodyInterrupted(#[source] reqwest::Error),
    /// A line of the response is malformed.
    #[error("malformed response: {0}")]
    Decode(DecodeError),
    /// A line belongs to a partition the request did not ask for.
    #[error("malformed response: line {line}: partition {partition_id} was not requested")]
    UnexpectedPartition {
        /// The 1-based line number.
        line: u64,
        /// The partition on the line.
        partition_id: u32,
    },
}

impl From<RequestError> for Error {
    fn from(error: RequestError) -> Self {
        Error::InvalidRequest(error)
    }
}

impl Error {
    /// The response status, for [`Error::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The delay the producer asked for with `Retry-After`, for
    /// [`Error::Status`].
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the error is a timeout (sending or reading the body).
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Transport(error) | Error::BodyInterrupted(error) => error.is_timeout(),
            _ => false,
        }
    }

    /// Whether trying the same request again later may succeed: transport
    /// failures, cut-off bodies, 5xx, 408 and 429. Client faults (other
    /// 4xx), invalid requests and protocol violations are not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport(_) | Error::BodyInterrupted(_) => true,
            Error::Status { status, .. } => {
                status.is_server_error()
                    || *status == StatusCode::REQUEST_TIMEOUT
                    || *status == StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }
}
