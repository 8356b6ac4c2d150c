//! An error with its causes, for logs and messages.

use std::{error::Error, fmt};

/// Displays an error and each of its [`source`](Error::source)s, joined by
/// `: `, leaving out a cause whose text is already shown: the whole story
/// on one line, each part once ("request to the feed failed: error sending
/// request: connection refused").
///
/// ```
/// use zeroeventhub::ErrorChain;
///
/// let error = std::io::Error::other("disk full");
/// assert_eq!(ErrorChain(&error).to_string(), "disk full");
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        let mut source = self.0.source();
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        f.write_str(&text)
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Chain(&'static str, Option<Box<Chain>>);

    impl fmt::Display for Chain {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Chain {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1
                .as_deref()
                .map(|cause| cause as &(dyn Error + 'static))
        }
    }

    #[test]
    fn causes_are_joined_each_once() {
        let error = Chain(
            "request failed: error sending request",
            Some(Box::new(Chain(
                "error sending request",
                Some(Box::new(Chain("connection refused", None))),
            ))),
        );
        assert_eq!(
            ErrorChain(&error).to_string(),
            "request failed: error sending request: connection refused"
        );
    }
}
