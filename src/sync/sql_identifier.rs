//! The one check every SQL sink runs on the names it splices into SQL text (tables, columns):
//! identifiers cannot be bound as parameters, so each is held to `^[A-Za-z_][A-Za-z0-9_]{0,62}$`
//! before any SQL is built, and is then double-quoted as well. 63 bytes is PostgreSQL's limit
//! (`NAMEDATALEN - 1`); SQLite has none, and shares the rule so that a schema moves between them.

use crate::ConfigError;

/// Whether `name` matches `^[A-Za-z_][A-Za-z0-9_]{0,62}$`.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    first_ok && rest_ok && name.len() <= 63
}

/// Checks `(setter, name)` pairs: the first name that is not an identifier, as a
/// [`ConfigError::Invalid`] naming its setter; then that the names at `columns` (indices into
/// `names`) differ, as a [`ConfigError::Conflict`].
pub(crate) fn check_names(
    names: &[(&'static str, &String)],
    columns: std::ops::Range<usize>,
) -> Result<(), ConfigError> {
    for &(field, name) in names {
        if !is_identifier(name) {
            return Err(ConfigError::Invalid {
                field,
                value: name.clone(),
                reason: "not a plain SQL identifier (letters, digits and '_', not starting \
                         with a digit, at most 63)"
                    .into(),
            });
        }
    }
    let columns = &names[columns];
    for (i, (field, name)) in columns.iter().enumerate() {
        if let Some((other, _)) = columns[..i].iter().find(|(_, n)| n == name) {
            return Err(ConfigError::Conflict {
                field,
                other,
                reason: format!("both name the column {name:?}"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for good in ["t", "_x", "Orders_2024", &"a".repeat(63)] {
            assert!(is_identifier(good), "{good}");
        }
        for bad in ["", "1t", "a-b", "a b", "t\"", "é", &"a".repeat(64), "x;--"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn check_names_names_the_setter() {
        let (t, k, v) = ("t".to_string(), "k".to_string(), "k".to_string());
        let err = check_names(
            &[("table", &t), ("key_column", &k), ("version_column", &v)],
            1..3,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Conflict {
                    field: "version_column",
                    other: "key_column",
                    ..
                }
            ),
            "{err}"
        );
        let bad = "a b".to_string();
        let err = check_names(&[("table", &bad)], 0..1).unwrap_err();
        assert_eq!(err.field(), "table");
    }
}
