//! Table names that go into SQL text.

use crate::Error;

/// Checks that `table` is `name` or `schema.name`, each a plain SQL
/// identifier that needs no quoting (letters, digits and underscores, not
/// starting with a digit, at most 63 bytes): table names of this crate go
/// into SQL text.
///
/// # Errors
///
/// [`Error::InvalidTableName`] naming it.
pub fn validate_table_name(table: &str) -> Result<(), Error> {
    let mut parts = table.split('.');
    let valid = parts.clone().count() <= 2 && parts.all(is_identifier);
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidTableName(table.to_owned()))
    }
}

fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers() {
        for good in ["events", "_x", "person_events_v2", "public.events", "A1"] {
            assert!(validate_table_name(good).is_ok(), "{good}");
        }
        let long = "x".repeat(64);
        for bad in [
            "",
            "1events",
            "events;drop",
            "a b",
            "a.b.c",
            ".a",
            "a.",
            "\"quoted\"",
            "é",
            &long,
        ] {
            assert!(
                matches!(validate_table_name(bad), Err(Error::InvalidTableName(name)) if name == bad),
                "{bad}"
            );
        }
    }
}
