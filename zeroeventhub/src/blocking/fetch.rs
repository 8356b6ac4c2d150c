//! One blocking request, built and sent, and the lines of its response.

use std::io::Read;

use http::{StatusCode, header::ACCEPT};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::Client;
use crate::{
    FeedLine, Page,
    client::{
        Error,
        request::{
            ACCEPT_NDJSON, ERROR_BODY_LIMIT, Requested, decoder_for, error_body_text, refusal,
            request_url, retry_after,
        },
    },
    ndjson::Decoder,
};

/// How many bytes of the body are read at a time.
const READ_SIZE: usize = 64 * 1024;

/// A blocking request for a page of the feed; made by [`Client::fetch`]:
/// the async client's builder, with the same parameters
/// ([`page_size_hint`](crate::client::FetchBuilder::page_size_hint),
/// [`headers`](crate::client::FetchBuilder::headers)), sent without async.
pub type FetchBuilder<'a> = crate::client::FetchBuilder<'a, Client>;

impl FetchBuilder<'_> {
    /// Sends the request and returns an iterator of the response's lines,
    /// decoded as the body arrives. A `204 No Content` or an empty body
    /// gives no line.
    ///
    /// # Errors
    ///
    /// As the async [`send`](crate::client::FetchBuilder::send): the call
    /// fails for an invalid request, a failed request hook, a request that
    /// cannot be sent or a non-2xx answer; the iterator then yields an
    /// error for a body cut off, a malformed line or a line of a partition
    /// not asked for, and ends.
    pub fn send(self) -> Result<Lines, Error> {
        self.send_as()
    }

    /// Like [`send`](FetchBuilder::send), with each event's data
    /// deserialized into `T` while its line is parsed.
    ///
    /// # Errors
    ///
    /// As [`send`](FetchBuilder::send).
    pub fn send_as<T: DeserializeOwned>(self) -> Result<Lines<T>, Error> {
        let inner = &self.client.inner;
        let version_2 = self.token.is_some();
        let url = request_url(&inner.url, &self.request, self.token.as_deref())?;
        let mut builder = inner.http.get(url).header(ACCEPT, ACCEPT_NDJSON);
        if let Some(hook) = &inner.request_hook {
            builder = builder.headers(hook().map_err(Error::request_hook)?);
        }
        tracing::debug!(url = %inner.url, cursors = ?self.request.cursors, "fetching feed page");
        let response = builder.send().map_err(Error::transport)?;
        let status = response.status();
        let decoder = decoder_for(&self.request, version_2, inner.max_line_length);
        let requested = Requested::of(&self.request, version_2);
        if status == StatusCode::NO_CONTENT {
            requested.finish()?;
            return Ok(Lines::new(None, decoder, requested));
        }
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let mut body = Vec::new();
            // The start of the body only; a read error leaves what came.
            let _ = response
                .take(ERROR_BODY_LIMIT as u64)
                .read_to_end(&mut body);
            let body = error_body_text(body);
            tracing::debug!(%status, %body, "feed refused the request");
            return Err(refusal(status, body, retry_after, version_2));
        }
        Ok(Lines::new(Some(response), decoder, requested))
    }

    /// Sends the request and collects the response into a [`Page`].
    ///
    /// # Errors
    ///
    /// As [`send`](FetchBuilder::send); a page is returned only when the
    /// whole response arrived and decoded.
    pub fn page(self) -> Result<Page, Error> {
        self.page_as()
    }

    /// Like [`page`](FetchBuilder::page), with each event's data
    /// deserialized into `T` as its line is parsed.
    ///
    /// # Errors
    ///
    /// As [`send`](FetchBuilder::send).
    pub fn page_as<T: DeserializeOwned>(self) -> Result<Page<T>, Error> {
        let mut page = Page::new();
        for line in self.send_as()? {
            page.push(line?);
        }
        Ok(page)
    }
}

/// The lines of one response, decoded as the body arrives; returned by
/// [`FetchBuilder::send`].
///
/// Memory stays bounded by the longest line. The iterator ends after the
/// first error; dropping it closes the connection.
pub struct Lines<D = Box<RawValue>> {
    /// The body still to read; `None` once it has ended or failed.
    body: Option<reqwest::blocking::Response>,
    decoder: Decoder<D>,
    requested: Requested,
    buffer: Box<[u8]>,
    done: bool,
}

impl<D> std::fmt::Debug for Lines<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines")
            .field("requested", &self.requested)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<D: DeserializeOwned> Lines<D> {
    fn new(
        body: Option<reqwest::blocking::Response>,
        decoder: Decoder<D>,
        requested: Requested,
    ) -> Self {
        Lines {
            body,
            decoder,
            requested,
            buffer: vec![0; READ_SIZE].into_boxed_slice(),
            done: false,
        }
    }

    /// The next line, reading more of the body while none is complete.
    fn next_line(&mut self) -> Result<Option<FeedLine<D>>, Error> {
        loop {
            let Some(body) = self.body.as_mut() else {
                return self.decoder.decode_eof().map_err(Error::decode);
            };
            if let Some(line) = self.decoder.decode().map_err(Error::decode)? {
                return Ok(Some(line));
            }
            match body.read(&mut self.buffer) {
                Ok(0) => self.body = None,
                Ok(read) => self.decoder.push(&self.buffer[..read]),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(Error::body_interrupted_io(error)),
            }
        }
    }
}

impl<D: DeserializeOwned> Iterator for Lines<D> {
    type Item = Result<FeedLine<D>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = match self.next_line() {
            Ok(Some(line)) => {
                let number = self.decoder.lines_read();
                self.requested.check(line, number)
            }
            Ok(None) => {
                self.done = true;
                return self.requested.finish().err().map(Err);
            }
            Err(error) => Err(error),
        };
        if result.is_err() {
            // An error ends the response, as in the async stream.
            self.done = true;
            self.body = None;
        }
        Some(result)
    }
}
