//! `zeh serve --auth-token-file`: only requests that carry one of the
//! file's bearer tokens are served; the others get 401.

use std::path::Path;

use anyhow::{Context, bail};
use axum::{
    Router,
    extract::{Request, State},
    http::{
        StatusCode,
        header::{AUTHORIZATION, WWW_AUTHENTICATE},
    },
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use zeroeventhub::server::BearerTokens;

/// Reads the tokens of the token file at `path`.
///
/// # Errors
///
/// The file cannot be read, or holds no token.
pub(crate) fn load(path: &Path) -> anyhow::Result<BearerTokens> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let tokens = BearerTokens::parse(&text);
    if tokens.is_empty() {
        bail!("the token file {} holds no token", path.display());
    }
    Ok(tokens)
}

/// `router` with every request checked against `tokens` first.
pub(crate) fn guard(router: Router, tokens: BearerTokens) -> Router {
    router.layer(middleware::from_fn_with_state(tokens, check))
}

async fn check(State(tokens): State<BearerTokens>, request: Request, next: Next) -> Response {
    let authorization = request.headers().get(AUTHORIZATION);
    if tokens.admits(authorization.map(|value| value.as_bytes())) {
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

    #[test]
    fn a_file_without_tokens_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, "\n  \n").unwrap();
        let error = load(&path).unwrap_err();
        assert!(error.to_string().contains("holds no token"), "{error}");
    }
}
