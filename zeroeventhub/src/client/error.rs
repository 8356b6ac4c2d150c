//! The client's error.

use std::{fmt, time::Duration};

use http::StatusCode;

use crate::{BoxError, RequestError, ndjson::DecodeError};

/// Why fetching from a feed failed.
///
/// Opaque, as `reqwest::Error` is: ask it with [`kind`](Error::kind) and
/// the predicates. The message names what failed and never repeats its
/// cause, which is [`source()`](std::error::Error::source) (reqwest's
/// error for a transport failure, the [`DecodeError`] for a malformed
/// line): print the whole chain (for example with `anyhow`'s `{:#}`) to
/// see it.
///
/// [`is_transient`](Error::is_transient) tells a passing failure (try
/// again) from a refusal (fix the request) and from a producer that breaks
/// the protocol.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    source: Option<BoxError>,
}

/// The failures, with what each keeps for the predicates.
enum Kind {
    InvalidUrl {
        url: String,
    },
    InvalidRequest,
    RequestHook,
    Transport {
        timeout: bool,
    },
    Status {
        status: StatusCode,
        body: String,
        retry_after: Option<Duration>,
    },
    BodyInterrupted {
        timeout: bool,
    },
    Decode {
        line: u64,
    },
    UnexpectedPartition {
        line: u64,
        partition_id: u32,
    },
    TokenChanged {
        body: String,
    },
    MissingCheckpoint,
    InvalidDiscovery,
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The feed URL cannot be used (not an absolute `http`/`https` URL).
    InvalidUrl,
    /// The cursors or options do not make a valid request (checked before
    /// sending, as the producer would); the source is the
    /// [`RequestError`].
    InvalidRequest,
    /// The request hook failed to produce its headers; the source is its
    /// error.
    RequestHook,
    /// The request could not be sent or its response headers not read
    /// (connect, TLS, timeout); the source is reqwest's error.
    Transport,
    /// The producer answered with a status other than 2xx.
    Status,
    /// The body was cut off before its end (the connection broke, the
    /// producer aborted the response after a failure, or reading timed
    /// out); the source is reqwest's error.
    BodyInterrupted,
    /// A line of the response is malformed; the source is the
    /// [`DecodeError`].
    Decode,
    /// A line belongs to a partition the request did not ask for.
    UnexpectedPartition,
    /// Version 2: the producer answered 409, its token has changed (its
    /// partitions did): discover again, then go on from the stored
    /// cursors with the new token.
    TokenChanged,
    /// Version 2: a response ended without a checkpoint, which every
    /// response must hold.
    MissingCheckpoint,
    /// Version 2: the discovery document breaks the protocol; the source
    /// is the [`DiscoveryError`](crate::v2::DiscoveryError).
    InvalidDiscovery,
}

impl Error {
    fn new(kind: Kind, source: Option<BoxError>) -> Self {
        Error {
            inner: Box::new(Inner { kind, source }),
        }
    }

    pub(crate) fn invalid_url(url: &str, reason: impl Into<BoxError>) -> Self {
        let url = url.to_owned();
        Error::new(Kind::InvalidUrl { url }, Some(reason.into()))
    }

    pub(crate) fn invalid_request(error: RequestError) -> Self {
        Error::new(Kind::InvalidRequest, Some(error.into()))
    }

    pub(crate) fn request_hook(error: BoxError) -> Self {
        Error::new(Kind::RequestHook, Some(error))
    }

    pub(crate) fn transport(error: reqwest::Error) -> Self {
        let timeout = error.is_timeout();
        Error::new(Kind::Transport { timeout }, Some(error.into()))
    }

    pub(crate) fn refused(status: StatusCode, body: String, retry_after: Option<Duration>) -> Self {
        let kind = Kind::Status {
            status,
            body,
            retry_after,
        };
        Error::new(kind, None)
    }

    pub(crate) fn body_interrupted(error: reqwest::Error) -> Self {
        let timeout = error.is_timeout();
        Error::new(Kind::BodyInterrupted { timeout }, Some(error.into()))
    }

    /// A body read by the blocking client failed.
    #[cfg(feature = "blocking")]
    pub(crate) fn body_interrupted_io(error: std::io::Error) -> Self {
        let reqwest_timeout = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            .is_some_and(reqwest::Error::is_timeout);
        let timeout = reqwest_timeout || error.kind() == std::io::ErrorKind::TimedOut;
        Error::new(Kind::BodyInterrupted { timeout }, Some(error.into()))
    }

    pub(crate) fn decode(error: DecodeError) -> Self {
        let line = error.line();
        Error::new(Kind::Decode { line }, Some(error.into()))
    }

    pub(crate) fn unexpected_partition(line: u64, partition_id: u32) -> Self {
        Error::new(Kind::UnexpectedPartition { line, partition_id }, None)
    }

    pub(crate) fn token_changed(body: String) -> Self {
        Error::new(Kind::TokenChanged { body }, None)
    }

    pub(crate) fn missing_checkpoint() -> Self {
        Error::new(Kind::MissingCheckpoint, None)
    }

    pub(crate) fn invalid_discovery(error: crate::v2::DiscoveryError) -> Self {
        Error::new(Kind::InvalidDiscovery, Some(error.into()))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match &self.inner.kind {
            Kind::InvalidUrl { .. } => ErrorKind::InvalidUrl,
            Kind::InvalidRequest => ErrorKind::InvalidRequest,
            Kind::RequestHook => ErrorKind::RequestHook,
            Kind::Transport { .. } => ErrorKind::Transport,
            Kind::Status { .. } => ErrorKind::Status,
            Kind::BodyInterrupted { .. } => ErrorKind::BodyInterrupted,
            Kind::Decode { .. } => ErrorKind::Decode,
            Kind::UnexpectedPartition { .. } => ErrorKind::UnexpectedPartition,
            Kind::TokenChanged { .. } => ErrorKind::TokenChanged,
            Kind::MissingCheckpoint => ErrorKind::MissingCheckpoint,
            Kind::InvalidDiscovery => ErrorKind::InvalidDiscovery,
        }
    }

    /// Whether the producer answered with a status other than 2xx.
    pub fn is_status(&self) -> bool {
        self.kind() == ErrorKind::Status
    }

    /// The status the producer answered with, for a non-2xx answer.
    pub fn status(&self) -> Option<StatusCode> {
        match &self.inner.kind {
            Kind::Status { status, .. } => Some(*status),
            Kind::TokenChanged { .. } => Some(StatusCode::CONFLICT),
            _ => None,
        }
    }

    /// Whether a version 2 producer answered 409: its token has changed.
    pub fn is_token_changed(&self) -> bool {
        self.kind() == ErrorKind::TokenChanged
    }

    /// The start (at most 1 KiB, lossily decoded) of a non-2xx answer's
    /// body: a producer of this project names the parameter at fault there.
    pub fn body(&self) -> Option<&str> {
        match &self.inner.kind {
            Kind::Status { body, .. } | Kind::TokenChanged { body } => Some(body),
            _ => None,
        }
    }

    /// The delay a non-2xx answer asked for in its `Retry-After` header (in
    /// seconds), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.inner.kind {
            Kind::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the response broke the protocol: a malformed line, a line
    /// for a partition that was not asked for, a version 2 response
    /// without a checkpoint, or a malformed discovery document.
    pub fn is_decode(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::Decode { .. }
                | Kind::UnexpectedPartition { .. }
                | Kind::MissingCheckpoint
                | Kind::InvalidDiscovery
        )
    }

    /// The 1-based number of the response line at fault, for an error that
    /// [`is_decode`](Error::is_decode).
    pub fn line(&self) -> Option<u64> {
        match self.inner.kind {
            Kind::Decode { line } | Kind::UnexpectedPartition { line, .. } => Some(line),
            _ => None,
        }
    }

    /// Whether the request hook failed.
    pub fn is_request_hook(&self) -> bool {
        self.kind() == ErrorKind::RequestHook
    }

    /// Whether the error is a timeout (sending, or reading the body).
    pub fn is_timeout(&self) -> bool {
        match self.inner.kind {
            Kind::Transport { timeout } | Kind::BodyInterrupted { timeout } => timeout,
            _ => false,
        }
    }

    /// Whether trying the same request again later may succeed: transport
    /// failures, cut-off bodies, 5xx, 408 and 429. Client faults (other
    /// 4xx), invalid requests, request hook failures and protocol
    /// violations are not transient.
    pub fn is_transient(&self) -> bool {
        match &self.inner.kind {
            Kind::Transport { .. } | Kind::BodyInterrupted { .. } => true,
            Kind::Status { status, .. } => {
                status.is_server_error()
                    || *status == StatusCode::REQUEST_TIMEOUT
                    || *status == StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.kind {
            Kind::InvalidUrl { url } => write!(f, "invalid feed URL {url:?}"),
            Kind::InvalidRequest => f.write_str("invalid request"),
            Kind::RequestHook => f.write_str("the request hook failed"),
            Kind::Transport { .. } => f.write_str("request to the feed failed"),
            Kind::Status { status, body, .. } if body.is_empty() => {
                write!(f, "the feed answered {status}")
            }
            Kind::Status { status, body, .. } => write!(f, "the feed answered {status}: {body}"),
            Kind::BodyInterrupted { .. } => f.write_str("the response body was cut off"),
            Kind::Decode { .. } => f.write_str("malformed response"),
            Kind::UnexpectedPartition { line, partition_id } => write!(
                f,
                "malformed response: line {line}: partition {partition_id} was not requested"
            ),
            Kind::TokenChanged { .. } => {
                f.write_str("the feed answered 409 Conflict: its token has changed, discover again")
            }
            Kind::MissingCheckpoint => {
                f.write_str("malformed response: it ended without a checkpoint")
            }
            Kind::InvalidDiscovery => f.write_str("malformed discovery document"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Error");
        debug.field("kind", &self.kind());
        match &self.inner.kind {
            Kind::InvalidUrl { url } => debug.field("url", url),
            Kind::Status {
                status,
                body,
                retry_after,
            } => debug
                .field("status", status)
                .field("body", body)
                .field("retry_after", retry_after),
            Kind::Decode { line } => debug.field("line", line),
            Kind::UnexpectedPartition { line, partition_id } => debug
                .field("line", line)
                .field("partition_id", partition_id),
            _ => &mut debug,
        };
        if let Some(source) = &self.inner.source {
            debug.field("source", source);
        }
        debug.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let source = self.inner.source.as_ref()?;
        Some(&**source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As reqwest's: one pointer, so `Result<T, Error>` stays small.
    #[test]
    fn error_is_one_pointer() {
        assert_eq!(size_of::<Error>(), size_of::<usize>());
    }

    #[test]
    fn message_names_the_failure_and_the_cause_is_the_source() {
        let error = Error::invalid_request(RequestError::NoCursor);
        assert_eq!(error.to_string(), "invalid request");
        let source = std::error::Error::source(&error).unwrap();
        assert_eq!(source.to_string(), RequestError::NoCursor.to_string());
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
        assert!(!error.is_transient());
    }

    #[test]
    fn status_is_transient_for_5xx_408_429_only() {
        for (code, transient) in [
            (500, true),
            (503, true),
            (408, true),
            (429, true),
            (400, false),
            (401, false),
            (404, false),
        ] {
            let status = StatusCode::from_u16(code).unwrap();
            let error = Error::refused(status, "no".into(), Some(Duration::from_secs(3)));
            assert_eq!(error.is_transient(), transient, "{code}");
            assert!(error.is_status());
            assert_eq!(error.status(), Some(status));
            assert_eq!(error.body(), Some("no"));
            assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
            assert_eq!(error.line(), None);
        }
    }

    #[test]
    fn unexpected_partition_is_a_decode_error_with_its_line() {
        let error = Error::unexpected_partition(7, 3);
        assert!(error.is_decode());
        assert_eq!(error.line(), Some(7));
        assert_eq!(
            error.to_string(),
            "malformed response: line 7: partition 3 was not requested"
        );
    }
}
