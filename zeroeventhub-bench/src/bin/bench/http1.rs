//! One HTTP/1.1 keep-alive connection for W3's load generator, as `wrk`
//! keeps one per connection: a TCP stream, the same `GET` written again
//! and again, each response read whole (its head, then a body framed by
//! `Content-Length` or chunked) before the next request.
//!
//! Not reqwest: a pooled client cannot promise one connection. When a
//! request goes out before the previous response's connection is back in
//! the pool, hyper-util's pool starts a new connection and closes one of
//! the two afterwards; on 2 busy cores `bench load` on reqwest opened a
//! new connection for about a quarter of its requests.

use std::io;

use memchr::{memchr, memmem};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The most a response's head, or a chunk's size line, may take.
const MAX_HEAD: usize = 64 * 1024;
/// What each read asks for.
const READ_SIZE: usize = 64 * 1024;

/// Where to connect, and the request to send there.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `host:port`.
    authority: String,
    request: Vec<u8>,
}

impl Target {
    /// A `GET` of `url` (`http://host:port/path?query`).
    pub(crate) fn get(url: &str) -> anyhow::Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("{url}: only http:// URLs"))?;
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        anyhow::ensure!(authority.contains(':'), "{url}: give the port (host:port)");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n\r\n").into_bytes();
        Ok(Target {
            authority: authority.to_owned(),
            request,
        })
    }
}

/// What a response said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// Whether the connection may carry the next request.
    pub(crate) reusable: bool,
}

/// An open connection.
#[derive(Debug)]
pub(crate) struct Connection {
    stream: TcpStream,
    /// Read but not yet parsed: `buffer[parsed..]`.
    buffer: Vec<u8>,
    parsed: usize,
}

impl Connection {
    pub(crate) async fn open(target: &Target) -> io::Result<Connection> {
        let stream = TcpStream::connect(&target.authority).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: Vec::with_capacity(READ_SIZE),
            parsed: 0,
        })
    }

    /// Sends the target's request and reads its whole response.
    pub(crate) async fn get(&mut self, target: &Target) -> io::Result<Answer> {
        self.stream.write_all(&target.request).await?;
        let head = self.head().await?;
        match head.body {
            Body::Empty => {}
            Body::Length(length) => self.skip(length).await?,
            Body::Chunked => loop {
                let line = self.line().await?;
                let size = line.split(';').next().unwrap_or_default().trim();
                let size = usize::from_str_radix(size, 16)
                    .map_err(|_| invalid(format!("bad chunk size line {line:?}")))?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    while !self.line().await?.is_empty() {}
                    break;
                }
                self.skip(size).await?;
                if !self.line().await?.is_empty() {
                    return Err(invalid("no CRLF after a chunk".into()));
                }
            },
            Body::UntilClose => {
                while self.fill().await? > 0 {
                    self.parsed = self.buffer.len();
                }
            }
        }
        Ok(Answer {
            status: head.status,
            reusable: head.keep_alive && head.body != Body::UntilClose,
        })
    }

    /// Reads more; the count of bytes read (0 at the end of the stream).
    async fn fill(&mut self) -> io::Result<usize> {
        if self.parsed > 0 {
            self.buffer.drain(..self.parsed);
            self.parsed = 0;
        }
        self.buffer.reserve(READ_SIZE);
        self.stream.read_buf(&mut self.buffer).await
    }

    /// Like [`fill`](Connection::fill), where the end of the stream is an
    /// error.
    async fn more(&mut self) -> io::Result<()> {
        if self.fill().await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    fn unparsed(&self) -> &[u8] {
        &self.buffer[self.parsed..]
    }

    /// The response's status line and headers.
    async fn head(&mut self) -> io::Result<Head> {
        loop {
            if let Some(end) = memmem::find(self.unparsed(), b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&self.unparsed()[..end]).into_owned();
                self.parsed += end + 4;
                return Head::parse(&text);
            }
            if self.unparsed().len() > MAX_HEAD {
                return Err(invalid("a response head over 64 KiB".into()));
            }
            self.more().await?;
        }
    }

    /// The next line, without its CRLF.
    async fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = memchr(b'\n', self.unparsed()) {
                let line = &self.unparsed()[..end];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let line = String::from_utf8_lossy(line).into_owned();
                self.parsed += end + 1;
                return Ok(line);
            }
            if self.unparsed().len() > MAX_HEAD {
                return Err(invalid("a line over 64 KiB".into()));
            }
            self.more().await?;
        }
    }

    /// Reads past `length` bytes.
    async fn skip(&mut self, mut length: usize) -> io::Result<()> {
        loop {
            let here = self.unparsed().len().min(length);
            self.parsed += here;
            length -= here;
            if length == 0 {
                return Ok(());
            }
            self.more().await?;
        }
    }
}

/// How a response's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Empty,
    Length(usize),
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

#[derive(Debug)]
struct Head {
    status: u16,
    keep_alive: bool,
    body: Body,
}

impl Head {
    fn parse(text: &str) -> io::Result<Head> {
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut words = status_line.split_whitespace();
        let (version, status) = (words.next(), words.next().and_then(|s| s.parse().ok()));
        let (Some(version), Some(status)) = (version, status) else {
            return Err(invalid(format!("bad status line {status_line:?}")));
        };
        let mut keep_alive = version == "HTTP/1.1";
        let (mut length, mut chunked) = (None, false);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse()
                        .map_err(|_| invalid(format!("bad content-length {value:?}")))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                let value = value.to_ascii_lowercase();
                keep_alive = if value.contains("close") {
                    false
                } else {
                    keep_alive || value.contains("keep-alive")
                };
            }
        }
        let body = match (status, chunked, length) {
            (100..200 | 204 | 304, _, _) => Body::Empty,
            (_, true, _) => Body::Chunked,
            (_, false, Some(length)) => Body::Length(length),
            (_, false, None) => Body::UntilClose,
        };
        Ok(Head {
            status,
            keep_alive,
            body,
        })
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_tell_how_the_body_is_framed() {
        let head = Head::parse("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx: y").unwrap();
        assert_eq!(
            (head.status, head.keep_alive, head.body),
            (200, true, Body::Chunked)
        );
        let head = Head::parse("HTTP/1.1 400 Bad Request\r\nContent-Length: 12").unwrap();
        assert_eq!((head.status, head.body), (400, Body::Length(12)));
        let head =
            Head::parse("HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 0").unwrap();
        assert!(!head.keep_alive);
        let head = Head::parse("HTTP/1.0 200 OK").unwrap();
        assert_eq!((head.keep_alive, head.body), (false, Body::UntilClose));
        assert!(Head::parse("garbage").is_err());
    }

    #[test]
    fn targets_are_http_urls_with_a_port() {
        let target = Target::get("http://127.0.0.1:8080/feed/v1?n=1&cursor0=_first").unwrap();
        assert_eq!(target.authority, "127.0.0.1:8080");
        assert_eq!(
            target.request,
            b"GET /feed/v1?n=1&cursor0=_first HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
        );
        assert!(Target::get("https://example.com:443/").is_err());
        assert!(Target::get("http://localhost/feed").is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn one_connection_carries_every_request() {
        // A server answering twice on one connection: chunked, then by
        // length, then closing.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 1024];
            let answers: [&[u8]; 2] = [
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\n\r\n",
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnot",
            ];
            for answer in answers {
                let _ = socket.read(&mut request).await.unwrap();
                socket.write_all(answer).await.unwrap();
            }
        });
        let target = Target::get(&format!("http://{address}/feed")).unwrap();
        let mut connection = Connection::open(&target).await.unwrap();
        let first = connection.get(&target).await.unwrap();
        assert_eq!(
            first,
            Answer {
                status: 200,
                reusable: true
            }
        );
        let second = connection.get(&target).await.unwrap();
        assert_eq!(
            second,
            Answer {
                status: 404,
                reusable: true
            }
        );
        assert!(connection.unparsed().is_empty());
        server.await.unwrap();
        assert!(connection.get(&target).await.is_err());
    }
}
