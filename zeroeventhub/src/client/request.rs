//! What the async and the blocking client share: the request URL, the
//! reading of a refusal, and the check of each line's partition.

use std::time::Duration;

use http::{HeaderMap, header::RETRY_AFTER};
use url::Url;

use super::Error;
use crate::{
    FeedLine, FeedRequest,
    ndjson::Decoder,
    v2::{EVENTS_PATH, EventsRequest},
};

/// How much of an error response's body [`Error::body`] keeps.
pub(crate) const ERROR_BODY_LIMIT: usize = 1024;

/// The content type a client asks for.
pub(crate) const ACCEPT_NDJSON: &str = "application/x-ndjson";

/// Parses a feed URL: absolute, `http` or `https`.
pub(crate) fn feed_url(url: &str) -> Result<Url, Error> {
    let parsed = Url::parse(url).map_err(|error| Error::invalid_url(url, error))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        let reason = format!("scheme {:?} is not http or https", parsed.scheme());
        return Err(Error::invalid_url(url, reason));
    }
    Ok(parsed)
}

/// The URL of `request` on the feed at `base`: the request's query after
/// any query the feed URL already has (an API key, say). With a `token`,
/// version 2's events request for the request's one cursor, at
/// `{base}/events`.
pub(crate) fn request_url(
    base: &Url,
    request: &FeedRequest,
    token: Option<&str>,
) -> Result<Url, Error> {
    let Some(token) = token else {
        let query = request.to_query_string().map_err(Error::invalid_request)?;
        return Ok(with_query(base.clone(), &query));
    };
    // Built with one cursor (`fetch_partition`); anything else is refused,
    // never sent.
    let [cursor] = request.cursors.as_slice() else {
        return Err(Error::invalid_request(
            crate::RequestError::MissingParameter { param: "cursor" },
        ));
    };
    let events = EventsRequest {
        token: token.to_owned(),
        cursor: cursor.clone(),
        page_size_hint: request.page_size_hint,
        event_types: request.event_types.clone(),
        wait: request.wait,
    };
    let query = events.to_query_string().map_err(Error::invalid_request)?;
    Ok(with_query(events_url(base), &query))
}

/// A version 2 feed's events URL: `{base}/events`, with the feed URL's
/// own query.
pub(crate) fn events_url(base: &Url) -> Url {
    let mut url = base.clone();
    let path = format!("{}/{EVENTS_PATH}", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// The decoder of a response to `request`: version 2's lines all belong
/// to its one partition.
pub(crate) fn decoder_for<D: serde::de::DeserializeOwned>(
    request: &FeedRequest,
    version_2: bool,
    max_line_length: usize,
) -> Decoder<D> {
    let decoder = Decoder::typed().with_max_line_length(max_line_length);
    match request.cursors.first() {
        Some(cursor) if version_2 => decoder.for_partition(cursor.partition_id()),
        _ => decoder,
    }
}

/// The error for a non-2xx answer: version 2's 409 is its own kind.
pub(crate) fn refusal(
    status: http::StatusCode,
    body: String,
    retry_after: Option<Duration>,
    version_2: bool,
) -> Error {
    if version_2 && status == http::StatusCode::CONFLICT {
        return Error::token_changed(body);
    }
    Error::refused(status, body, retry_after)
}

fn with_query(mut url: Url, query: &str) -> Url {
    let query = match url.query() {
        Some(existing) if !existing.is_empty() => format!("{existing}&{query}"),
        _ => query.to_owned(),
    };
    url.set_query(Some(&query));
    url
}

/// The delay a refusal asks for in `Retry-After` (whole seconds).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse().ok().map(Duration::from_secs)
}

/// The text of the start of a refusal's body: at most
/// [`ERROR_BODY_LIMIT`] bytes, lossily decoded, trailing space trimmed.
pub(crate) fn error_body_text(mut body: Vec<u8>) -> String {
    let cut = body.len() >= ERROR_BODY_LIMIT;
    body.truncate(ERROR_BODY_LIMIT);
    let mut text = String::from_utf8_lossy(&body).into_owned();
    // A multi-byte character cut at the limit shows as U+FFFD; drop it.
    if cut && text.ends_with('\u{fffd}') {
        text.pop();
    }
    text.trim_end().to_owned()
}

/// The partitions a request asked for, sorted, to check each line by; and
/// for version 2, whether a checkpoint came, as every response must hold.
#[derive(Debug, Default)]
pub(crate) struct Requested {
    partitions: Vec<u32>,
    version_2: bool,
    checkpoint_seen: bool,
}

impl Requested {
    pub(crate) fn of(request: &FeedRequest, version_2: bool) -> Self {
        let mut partitions: Vec<u32> = request.cursors.iter().map(|c| c.partition_id()).collect();
        partitions.sort_unstable();
        Requested {
            partitions,
            version_2,
            checkpoint_seen: false,
        }
    }

    /// `line` (number `line_number`) if its partition was asked for.
    pub(crate) fn check<D>(
        &mut self,
        line: FeedLine<D>,
        line_number: u64,
    ) -> Result<FeedLine<D>, Error> {
        let partition_id = line.partition_id();
        if self.partitions.binary_search(&partition_id).is_ok() {
            self.checkpoint_seen |= matches!(line, FeedLine::Checkpoint(_));
            Ok(line)
        } else {
            // The spec: a partition "not one the request asked for is a
            // protocol error".
            Err(Error::unexpected_partition(line_number, partition_id))
        }
    }

    /// At the end of a whole body: version 2's "a 200 without a
    /// checkpoint is a protocol error".
    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.version_2 && !self.checkpoint_seen {
            return Err(Error::missing_checkpoint());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cursor;

    #[test]
    fn url_must_be_absolute_http() {
        assert!(feed_url("https://example.com/feed?key=1").is_ok());
        let error = feed_url("ftp://example.com/feed").unwrap_err();
        assert_eq!(error.kind(), super::super::ErrorKind::InvalidUrl);
        assert_eq!(
            error.to_string(),
            "invalid feed URL \"ftp://example.com/feed\""
        );
        assert!(feed_url("not a url").is_err());
    }

    #[test]
    fn request_query_follows_the_feed_urls_own() {
        let base = feed_url("http://h/feed?key=a%20b").unwrap();
        let request = FeedRequest::new(2, vec![Cursor::first(1)]);
        let url = request_url(&base, &request, None).unwrap();
        assert_eq!(url.query(), Some("key=a%20b&n=2&cursor1=_first"));
    }

    #[test]
    fn error_body_is_cut_at_the_limit_on_a_character() {
        let body = "é".repeat(ERROR_BODY_LIMIT).into_bytes();
        let text = error_body_text(body);
        assert_eq!(text.chars().count(), ERROR_BODY_LIMIT / 2);
        assert_eq!(error_body_text(b"short \n".to_vec()), "short");
    }
}
