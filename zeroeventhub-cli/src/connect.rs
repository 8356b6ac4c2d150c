//! How `fetch` and `follow` reach a feed: extra headers (`-H`), a bearer
//! token read from a file before every request, and the timeouts.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, anyhow};
use zeroeventhub::{
    client::{Client, ClientBuilder},
    reqwest::{
        self,
        header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue},
    },
};

use crate::output::describe_feed_error;

/// The connection options of `fetch` and `follow`, already parsed.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    /// `-H 'Name: value'`, in order.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// `--bearer-token-file`.
    pub(crate) token_file: Option<PathBuf>,
    /// `--cacert`: roots trusted besides the system's.
    pub(crate) ca_file: Option<PathBuf>,
    /// `--connect-timeout`.
    pub(crate) connect_timeout: Duration,
    /// `--read-timeout`.
    pub(crate) read_timeout: Duration,
}

impl Default for Connection {
    /// No extra headers or token, and the default timeouts.
    fn default() -> Self {
        Connection {
            headers: Vec::new(),
            token_file: None,
            ca_file: None,
            connect_timeout: zeroeventhub::client::DEFAULT_CONNECT_TIMEOUT,
            read_timeout: zeroeventhub::client::DEFAULT_READ_TIMEOUT,
        }
    }
}

impl Connection {
    /// The client of the feed at `url` with `partitions` partitions, sending
    /// these headers with these timeouts; `configure` sets the rest.
    ///
    /// # Errors
    ///
    /// The URL is not one the client accepts, or the HTTP client cannot be
    /// built.
    pub(crate) fn client(
        &self,
        url: &str,
        partitions: u32,
        configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
    ) -> anyhow::Result<Client> {
        let mut defaults = HeaderMap::new();
        for (name, value) in &self.headers {
            defaults.append(name.clone(), value.clone());
        }
        let mut http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .default_headers(defaults);
        if let Some(path) = &self.ca_file {
            http = http.tls_certs_merge(roots(path)?);
        }
        let http = http.build().context("cannot build the HTTP client")?;
        let mut builder = Client::builder(url, partitions).http_client(http);
        if let Some(path) = &self.token_file {
            let path = Arc::new(path.clone());
            builder = builder.request_hook(move || {
                let path = Arc::clone(&path);
                async move { bearer_header(&path).await }
            });
        }
        configure(builder)
            .build()
            .map_err(|error| anyhow!(describe_feed_error(&error)))
    }
}

/// The certificates of the PEM file at `path`.
fn roots(path: &std::path::Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read the CA file {}", path.display()))?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("the CA file {} is not PEM", path.display()))?;
    if roots.is_empty() {
        anyhow::bail!("the CA file {} holds no certificate", path.display());
    }
    Ok(roots)
}

/// `Authorization: Bearer TOKEN`, TOKEN being the first line of the file
/// at `path`, read now: a token that another process rotates is picked up
/// by the next request.
async fn bearer_header(path: &std::path::Path) -> anyhow::Result<HeaderMap> {
    let text = tokio::fs::read_to_string(path)
        .await
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let token = bearer_token(&text)
        .with_context(|| format!("the token file {} holds no token", path.display()))?;
    // Never shown: not in errors, not in debug output.
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        anyhow!(
            "the token in {} holds characters a header cannot carry",
            path.display()
        )
    })?;
    value.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    Ok(headers)
}

/// The token of a token file: its first line, without surrounding
/// whitespace; `None` when that is empty.
fn bearer_token(text: &str) -> Option<&str> {
    let token = text.lines().next()?.trim();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_the_first_line_trimmed() {
        assert_eq!(bearer_token("abc\n"), Some("abc"));
        assert_eq!(bearer_token("  abc \r\nnext\n"), Some("abc"));
        assert_eq!(bearer_token(""), None);
        assert_eq!(bearer_token("\nabc"), None);
    }

    #[tokio::test]
    async fn a_token_file_becomes_a_sensitive_authorization_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let headers = bearer_header(&path).await.unwrap();
        let value = &headers[AUTHORIZATION];
        assert_eq!(value, "Bearer s3cret");
        assert!(value.is_sensitive());
        assert!(!format!("{headers:?}").contains("s3cret"));

        std::fs::write(&path, "\n").unwrap();
        let error = bearer_header(&path).await.unwrap_err();
        assert!(format!("{error:#}").contains("holds no token"), "{error:#}");
        let error = bearer_header(&dir.path().join("missing"))
            .await
            .unwrap_err();
        assert!(format!("{error:#}").contains("cannot read the token file"));
    }
}
