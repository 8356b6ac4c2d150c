//! `zeh serve --auth-token-file`: only requests that carry one of the
//! file's bearer tokens are served; the others get 401.

use std::{path::Path, sync::Arc};

use anyhow::{Context, bail};
use axum::{
    Router,
    extract::{Request, State},
    http::{
        HeaderValue, StatusCode,
        header::{AUTHORIZATION, WWW_AUTHENTICATE},
    },
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq;

/// The tokens a request may carry: each non-empty line of the file, so
/// that a new token can be added before the old one is removed.
#[derive(Clone)]
pub(crate) struct Tokens(Arc<Vec<Vec<u8>>>);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens themselves.
        write!(f, "Tokens({} tokens)", self.0.len())
    }
}

impl Tokens {
    /// Reads the tokens of the file at `path`.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or holds no token.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?;
        let tokens = Tokens::parse(&text);
        if tokens.0.is_empty() {
            bail!("the token file {} holds no token", path.display());
        }
        Ok(tokens)
    }

    fn parse(text: &str) -> Self {
        let tokens = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| line.as_bytes().to_vec())
            .collect();
        Tokens(Arc::new(tokens))
    }

    /// Whether `authorization` is `Bearer T` with T one of the tokens. T is
    /// compared with every token in constant time, so the time taken tells
    /// nothing of how much of a token was right.
    fn admit(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(given) = authorization.and_then(|value| bearer(value.as_bytes())) else {
            return false;
        };
        let mut admitted = subtle::Choice::from(0);
        for token in self.0.iter() {
            admitted |= token.as_slice().ct_eq(given);
        }
        admitted.into()
    }

    /// `router` with every request checked first.
    pub(crate) fn guard(&self, router: Router) -> Router {
        router.layer(middleware::from_fn_with_state(self.clone(), check))
    }
}

/// The token of an `Authorization: Bearer TOKEN` value (the scheme in any
/// case, as HTTP has it).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = value.split_at_checked(7)?;
    (scheme.eq_ignore_ascii_case(b"bearer ") && !token.is_empty()).then_some(token)
}

async fn check(State(tokens): State<Tokens>, request: Request, next: Next) -> Response {
    if tokens.admit(request.headers().get(AUTHORIZATION)) {
        return next.run(request).await;
    }
    tracing::debug!("request refused: no valid bearer token");
    (
        StatusCode::UNAUTHORIZED,
        [(WWW_AUTHENTICATE, "Bearer")],
        "a valid bearer token is required (Authorization: Bearer TOKEN)",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap()
    }

    #[test]
    fn only_a_listed_bearer_token_is_admitted() {
        let tokens = Tokens::parse("old-token\n\n  new-token  \n");
        assert!(tokens.admit(Some(&header("Bearer old-token"))));
        assert!(tokens.admit(Some(&header("bearer new-token"))));
        for refused in [
            "Bearer old",
            "Bearer old-token2",
            "Basic old-token",
            "Bearer ",
            "old-token",
        ] {
            assert!(!tokens.admit(Some(&header(refused))), "{refused}");
        }
        assert!(!tokens.admit(None));
    }

    #[test]
    fn tokens_are_never_shown() {
        let tokens = Tokens::parse("s3cret\n");
        assert_eq!(format!("{tokens:?}"), "Tokens(1 tokens)");
    }

    #[test]
    fn a_file_without_tokens_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, "\n  \n").unwrap();
        let error = Tokens::load(&path).unwrap_err();
        assert!(error.to_string().contains("holds no token"), "{error}");
    }
}
