//! Quoting offending input in error messages, cut to a readable length.

use std::fmt;

/// How many characters of an offending value (a parameter, a partition)
/// an error message quotes.
pub(crate) const VALUE_CHARS: usize = 64;

/// The first `max` characters of `value`'s text, then `...` when there is
/// more; formatting stops there, so a huge quote costs nothing.
pub(crate) fn excerpt(value: &impl fmt::Display, max: usize) -> String {
    struct Capped {
        text: String,
        room: usize,
        cut: bool,
    }
    impl fmt::Write for Capped {
        fn write_str(&mut self, part: &str) -> fmt::Result {
            match part.char_indices().nth(self.room) {
                None => {
                    self.room -= part.chars().count();
                    self.text.push_str(part);
                    Ok(())
                }
                Some((end, _)) => {
                    self.text.push_str(&part[..end]);
                    self.cut = true;
                    Err(fmt::Error)
                }
            }
        }
    }
    let mut capped = Capped {
        text: String::new(),
        room: max,
        cut: false,
    };
    let _ = fmt::write(&mut capped, format_args!("{value}"));
    if capped.cut {
        capped.text.push_str("...");
    }
    capped.text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_whole() {
        assert_eq!(excerpt(&"abc", 3), "abc");
        assert_eq!(excerpt(&"", 3), "");
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        assert_eq!(excerpt(&"ééééé", 3), "ééé...");
        assert_eq!(excerpt(&format_args!("{}{}", "ab", "cd"), 3), "abc...");
    }
}
