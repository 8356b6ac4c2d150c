//! Bearer tokens for a producer: the tokens a request may carry, read from
//! a text file of one token per line, and the check of a request's
//! `Authorization` header against them.

use std::{fmt, sync::Arc};

use subtle::ConstantTimeEq;

/// The bearer tokens a producer admits: each non-empty line of a token
/// file (surrounding spaces trimmed), so that a new token can be added
/// before the old one is removed.
///
/// Cheap to clone. Its `Debug` shows how many tokens it holds, never the
/// tokens.
///
/// # Examples
///
/// ```
/// use zeroeventhub::server::BearerTokens;
///
/// let tokens = BearerTokens::parse("old-token\n  new-token  \n\n");
/// assert_eq!(tokens.len(), 2);
/// assert!(tokens.admits(Some(b"Bearer new-token")));
/// assert!(tokens.admits(Some(b"bearer old-token")));
/// assert!(!tokens.admits(Some(b"Bearer new")));
/// assert!(!tokens.admits(Some(b"Basic new-token")));
/// assert!(!tokens.admits(None));
/// ```
#[derive(Clone)]
pub struct BearerTokens(Arc<[Box<[u8]>]>);

impl fmt::Debug for BearerTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerTokens({} tokens)", self.0.len())
    }
}

impl BearerTokens {
    /// The tokens of a token file's text: every line that is not blank,
    /// without its surrounding whitespace. A text without any gives an
    /// empty set, which admits nothing.
    pub fn parse(text: &str) -> Self {
        let tokens = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| Box::from(line.as_bytes()))
            .collect();
        BearerTokens(tokens)
    }

    /// How many tokens it holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds no token (and so admits nothing).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `authorization`, the value of a request's `Authorization`
    /// header, is `Bearer T` with T one of the tokens.
    ///
    /// T is compared with every token in constant time, so the time taken
    /// tells nothing of how much of a token was right (only, as with any
    /// such check, how many tokens there are).
    pub fn admits(&self, authorization: Option<&[u8]>) -> bool {
        let Some(given) = authorization.and_then(bearer_token) else {
            return false;
        };
        let mut admitted = subtle::Choice::from(0);
        for token in self.0.iter() {
            admitted |= token.as_ref().ct_eq(given);
        }
        admitted.into()
    }
}

/// The token of an `Authorization` value of the `Bearer` scheme: the
/// scheme's name in any case (as HTTP has it), one space, and a non-empty
/// token. `None` for any other value.
///
/// # Examples
///
/// ```
/// use zeroeventhub::server::bearer_token;
///
/// assert_eq!(bearer_token(b"Bearer abc"), Some(&b"abc"[..]));
/// assert_eq!(bearer_token(b"BEARER abc"), Some(&b"abc"[..]));
/// assert_eq!(bearer_token(b"Bearer "), None);
/// assert_eq!(bearer_token(b"Basic abc"), None);
/// ```
pub fn bearer_token(authorization: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = authorization.split_at_checked(b"Bearer ".len())?;
    (scheme.eq_ignore_ascii_case(b"Bearer ") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_listed_bearer_token_is_admitted() {
        let tokens = BearerTokens::parse("old-token\r\n\n  new-token  \n");
        assert!(tokens.admits(Some(b"Bearer old-token")));
        assert!(tokens.admits(Some(b"bearer new-token")));
        for refused in [
            &b"Bearer old"[..],
            b"Bearer old-token2",
            b"Bearer  old-token",
            b"Basic old-token",
            b"Bearer ",
            b"Bearer",
            b"old-token",
            b"",
        ] {
            assert!(
                !tokens.admits(Some(refused)),
                "{}",
                String::from_utf8_lossy(refused)
            );
        }
        assert!(!tokens.admits(None));
    }

    #[test]
    fn an_empty_file_admits_nothing() {
        let tokens = BearerTokens::parse("\n   \n");
        assert!(tokens.is_empty());
        assert!(!tokens.admits(Some(b"Bearer ")));
        assert!(!tokens.admits(Some(b"Bearer x")));
    }

    #[test]
    fn tokens_are_never_shown() {
        let tokens = BearerTokens::parse("s3cret\n");
        assert_eq!(format!("{tokens:?}"), "BearerTokens(1 tokens)");
    }
}
