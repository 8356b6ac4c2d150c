//! The producer's bearer-token check on any token file and any
//! `Authorization` value: it never panics, and it admits exactly the
//! values `Bearer T` (scheme in any case) with T a trimmed, non-empty
//! line of the file.
//!
//! Input: the token file's text, a `0xFF` byte, then the header value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zeroeventhub::server::{BearerTokens, bearer_token};

fuzz_target!(|input: &[u8]| {
    let (file, header) = match input.iter().position(|&byte| byte == 0xFF) {
        Some(at) => (&input[..at], &input[at + 1..]),
        None => (input, &b""[..]),
    };
    let Ok(file) = std::str::from_utf8(file) else {
        return;
    };
    let tokens = BearerTokens::parse(file);
    let lines: Vec<&str> = file
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(tokens.len(), lines.len());

    // The header as given: admitted exactly when its token is a line.
    let expected = bearer_token(header)
        .is_some_and(|token| lines.iter().any(|line| line.as_bytes() == token));
    assert_eq!(tokens.admits(Some(header)), expected, "{header:?}");
    if let Some(token) = bearer_token(header) {
        assert!(header.len() == token.len() + 7 && header.ends_with(token));
        assert!(header[..7].eq_ignore_ascii_case(b"bearer "));
    }

    // Every line of the file, sent as a token, is admitted; a longer or
    // shorter one only when it is itself a line.
    for line in &lines {
        let mut value = b"Bearer ".to_vec();
        value.extend_from_slice(line.as_bytes());
        assert!(tokens.admits(Some(&value)), "{line:?}");
        value.pop();
        let shorter = &value[7..];
        assert_eq!(
            tokens.admits(Some(&value)),
            !shorter.is_empty() && lines.iter().any(|other| other.as_bytes() == shorter)
        );
    }
    assert!(!tokens.admits(None));
});
