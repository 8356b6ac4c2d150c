//! Value parsers for the command line: each turns one argument into a
//! typed value or a message that clap shows with the usage (exit status 2).

use std::{
    net::{SocketAddr, ToSocketAddrs},
    time::Duration,
};

use url::Url;
use zeroeventhub::{
    Cursor, HeaderSelection, ParseCursorError, RequestError,
    reqwest::header::{HeaderName, HeaderValue},
};

use crate::{database::Database, source::Source};

/// Parses a feed URL: absolute, `http` or `https`.
pub(crate) fn url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|error| format!("not a URL: {error}"))?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(format!("the scheme must be http or https, not {other:?}")),
    }
    // The url crate already refuses an http(s) URL without a host.
    Ok(url)
}

/// Parses `P=CURSOR`: a partition number, `=`, and a valid cursor string
/// (non-empty printable ASCII; it may itself hold `=`).
pub(crate) fn cursor(text: &str) -> Result<Cursor, String> {
    text.parse()
        .map_err(|error: ParseCursorError| error.to_string())
}

/// Parses the `headers` selection as the protocol's `headers` parameter:
/// `_all`, or comma-separated names (a trailing comma is tolerated). An
/// empty value selects no header.
pub(crate) fn headers(text: &str) -> Result<HeaderSelection, String> {
    text.parse()
        .map_err(|error: RequestError| error.to_string())
}

/// Parses an HTTP header as curl's `-H` takes it: `Name: value` (the
/// value without surrounding spaces). The value is never echoed in an
/// error: it may be a secret.
pub(crate) fn http_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or("expected 'NAME: VALUE', e.g. 'Authorization: Bearer abc'")?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("{:?} is not a valid header name", name.trim()))?;
    let mut value = HeaderValue::from_str(value.trim()).map_err(|_| {
        format!("the value of header {name} holds characters a header cannot carry")
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

/// The event types of `--event-types` or `--skip-event-types`.
#[derive(Debug, Clone)]
pub(crate) struct EventTypes(pub(crate) Vec<String>);

/// Parses a comma-separated list of event types (`A,B`): each non-empty,
/// without `;` (the protocol's separator).
pub(crate) fn event_types(text: &str) -> Result<EventTypes, String> {
    text.split(',')
        .map(|name| {
            let name = name.trim();
            if name.is_empty() {
                Err("expected comma-separated event types, e.g. OrderPlaced,OrderPaid".to_owned())
            } else if name.contains(';') {
                Err(format!(
                    "the event type {name:?} holds a `;`, which the protocol cannot send"
                ))
            } else {
                Ok(name.to_owned())
            }
        })
        .collect::<Result<_, _>>()
        .map(EventTypes)
}

/// Parses a STORE: `sqlite:PATH` or a `postgres://` URL.
pub(crate) fn store(text: &str) -> Result<Database, String> {
    text.parse()
}

/// Parses what `zeh serve` serves: a database when `text` starts with
/// `sqlite:`, `postgres://` or `postgresql://`, otherwise a file path.
pub(crate) fn source(text: &str) -> Result<Source, String> {
    if Database::is_database(text) {
        store(text).map(Source::Database)
    } else {
        Ok(Source::File(text.into()))
    }
}

/// Parses a table name for SQL text: `name` or `schema.name`, plain SQL
/// identifiers.
pub(crate) fn table(text: &str) -> Result<String, String> {
    zeroeventhub_sqlx::validate_table_name(text)
        .map(|()| text.to_owned())
        .map_err(|error| error.to_string())
}

/// Parses a lease time to live: a duration of at least 100 ms (a lease is
/// renewed every third of it).
pub(crate) fn lease_ttl(text: &str) -> Result<Duration, String> {
    let ttl = duration(text)?;
    if ttl < Duration::from_millis(100) {
        return Err("a lease must last at least 100ms".to_owned());
    }
    Ok(ttl)
}

/// Parses a duration such as `500ms`, `2s` or `1m 30s`.
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|error| format!("{error} (expected a duration such as 500ms, 2s or 1m)"))
}

/// Parses a listening address: `IP:PORT`, or `HOST:PORT` resolved now.
pub(crate) fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    text.to_socket_addrs()
        .map_err(|error| format!("expected HOST:PORT, for example 127.0.0.1:7070 ({error})"))?
        .next()
        .ok_or_else(|| format!("{text} resolves to no address"))
}

/// Parses the route of the feed: starts with `/`, holds only the
/// characters a URL path may hold without percent-encoding, and no segment
/// starts with `:` or `*` (axum's old capture syntax, refused by axum).
pub(crate) fn route_path(text: &str) -> Result<String, String> {
    const ALLOWED_PUNCTUATION: &str = "/-._~!$&'()*+,;=:@";
    if !text.starts_with('/') {
        return Err("the path must start with /, for example /feed/v1".to_owned());
    }
    if let Some(bad) = text
        .chars()
        .find(|&c| !c.is_ascii_alphanumeric() && !ALLOWED_PUNCTUATION.contains(c))
    {
        return Err(format!(
            "the path cannot hold {bad:?}: only letters, digits and {ALLOWED_PUNCTUATION}"
        ));
    }
    if text
        .split('/')
        .any(|segment| segment.starts_with(':') || segment.starts_with('*'))
    {
        return Err("a path segment cannot start with : or *".to_owned());
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_is_partition_equals_value() {
        assert_eq!(cursor("2=1042").unwrap(), Cursor::new(2, "1042").unwrap());
        assert_eq!(cursor("0=_first").unwrap(), Cursor::first(0));
        assert_eq!(cursor("1=a=b").unwrap().as_str(), "a=b");
    }

    #[test]
    fn cursor_without_equals_or_partition_is_refused() {
        assert!(cursor("nonsense").unwrap_err().contains("P=CURSOR"));
        assert!(cursor("=x").is_err());
        assert!(cursor("-1=x").is_err());
        assert!(cursor("a=x").is_err());
        assert!(
            cursor("99999999999=x")
                .unwrap_err()
                .contains("at most 4294967295")
        );
        assert!(cursor("01=x").is_err());
    }

    #[test]
    fn cursor_must_be_non_empty_printable_ascii() {
        assert!(cursor("0=").unwrap_err().contains("empty"));
        assert!(cursor("0=é").unwrap_err().contains("printable"));
        assert!(cursor("0=a\tb").is_err());
    }

    #[test]
    fn headers_selection() {
        assert_eq!(headers("_all").unwrap(), HeaderSelection::All);
        assert_eq!(headers("").unwrap(), HeaderSelection::None);
        assert_eq!(
            headers("ce_id,ce_type,ce_id,").unwrap(),
            HeaderSelection::names(["ce_id", "ce_type"])
        );
        assert!(headers("a,,b").is_err());
        assert!(headers("a,_all").is_err());
    }

    #[test]
    fn url_must_be_absolute_http() {
        assert!(url("http://127.0.0.1:7070/feed/v1?key=1").is_ok());
        assert!(url("not a url").is_err());
        assert!(
            url("ftp://example.com/feed")
                .unwrap_err()
                .contains("scheme")
        );
        assert!(url("http://").is_err());
        assert!(url("https://example.com/feed").is_ok());
    }

    #[test]
    fn durations_are_human() {
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(duration("2s").unwrap(), Duration::from_secs(2));
        assert!(duration("soon").is_err());
    }

    #[test]
    fn listen_addr_takes_ip_and_port() {
        assert_eq!(
            listen_addr("127.0.0.1:0").unwrap(),
            "127.0.0.1:0".parse::<SocketAddr>().unwrap()
        );
        assert!(listen_addr("nowhere").is_err());
    }

    #[test]
    fn route_path_starts_with_a_slash() {
        assert_eq!(route_path("/feed/v1").unwrap(), "/feed/v1");
        assert!(route_path("feed").is_err());
        assert_eq!(route_path("/").unwrap(), "/");
        assert!(route_path("/feed/{id}").is_err());
        assert!(route_path("/feed?x").is_err());
        assert!(route_path("/f%20d").is_err());
        assert!(route_path("/caf\u{e9}").is_err());
        assert!(route_path("/feed/:id").is_err());
        assert!(route_path("/feed/*rest").is_err());
        assert!(route_path("/a*b:c").is_ok());
    }
}
