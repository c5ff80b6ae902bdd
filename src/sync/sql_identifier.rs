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

/// Defines a SQL sink's schema type, its builder, and what they share: the seven names (data
/// table, five columns, checkpoint table) with their defaults, one setter per name, `build`
/// (every name an identifier, the columns distinct, the checkpoint table not the data table),
/// `builder` and `table`, and the serde round trip through the builder (loading runs `build`).
/// Each sink adds its SQL in an `impl` of its own. The doc comments of the two types are the
/// caller's, and so are the schema's derives (serde's `try_from`/`into` take the builder's name
/// as a string literal, which a macro cannot build); the setters' docs are written here, with
/// examples naming `$schema`.
macro_rules! table_schema {
    (
        $(#[$schema_doc:meta])*
        pub struct $schema:ident;
        $(#[$builder_doc:meta])*
        pub struct $builder:ident;
        checkpoint_rows: $rows:literal;
    ) => {
        $(#[$schema_doc])*
        pub struct $schema {
            table: String,
            key: String,
            version: String,
            body: String,
            deleted: String,
            updated_at: String,
            checkpoint_table: String,
        }

        $(#[$builder_doc])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $builder {
            table: String,
            #[serde(default = "crate::sync::sql_identifier::default_key")]
            key_column: String,
            #[serde(default = "crate::sync::sql_identifier::default_version")]
            version_column: String,
            #[serde(default = "crate::sync::sql_identifier::default_body")]
            body_column: String,
            #[serde(default = "crate::sync::sql_identifier::default_deleted")]
            deleted_column: String,
            #[serde(default = "crate::sync::sql_identifier::default_updated_at")]
            updated_at_column: String,
            #[serde(default = "crate::sync::sql_identifier::default_checkpoint_table")]
            checkpoint_table: String,
        }

        impl $builder {
            crate::sync::sql_identifier::column_setter!($schema, key_column, "key column", "key", "id");
            crate::sync::sql_identifier::column_setter!($schema, version_column, "version column", "version", "rev");
            crate::sync::sql_identifier::column_setter!($schema, body_column, "JSON body column", "body", "doc");
            crate::sync::sql_identifier::column_setter!($schema, deleted_column, "tombstone flag column", "deleted", "gone");
            crate::sync::sql_identifier::column_setter!($schema, updated_at_column, "write-time column", "updated_at", "ts");

            /// Names the checkpoint table (default `mqsync_checkpoint`); several data tables
            #[doc = concat!("may share one, as each sink records ", $rows, ".")]
            ///
            /// ```
            #[doc = concat!("assert!(mqsync::sync::", stringify!($schema), "::builder(\"t\").checkpoint_table(\"cp\").build().is_ok());")]
            /// ```
            pub fn checkpoint_table(mut self, name: impl Into<String>) -> Self {
                self.checkpoint_table = name.into();
                self
            }

            /// Checks every name against `^[A-Za-z_][A-Za-z0-9_]{0,62}$` (they are spliced into
            /// SQL; 63 bytes is PostgreSQL's limit, and SQLite shares the rule), that the
            /// columns differ, and that the checkpoint table is not the data table.
            ///
            /// # Errors
            ///
            /// [`ConfigError::Invalid`](crate::ConfigError::Invalid) naming the setter
            /// (`table`, `key_column`, ...) and the name;
            /// [`ConfigError::Conflict`](crate::ConfigError::Conflict) for two columns with one
            /// name, or one table for data and checkpoints.
            ///
            /// ```
            #[doc = concat!("let err = mqsync::sync::", stringify!($schema), "::builder(\"t\").body_column(\"key\").build().unwrap_err();")]
            /// assert_eq!(err.field(), "body_column");
            #[doc = concat!("let err = mqsync::sync::", stringify!($schema), "::builder(\"t\").checkpoint_table(\"t\").build().unwrap_err();")]
            /// assert_eq!(err.field(), "checkpoint_table");
            /// ```
            pub fn build(self) -> Result<$schema, crate::ConfigError> {
                crate::sync::sql_identifier::check_schema_names([
                    ("table", &self.table),
                    ("key_column", &self.key_column),
                    ("version_column", &self.version_column),
                    ("body_column", &self.body_column),
                    ("deleted_column", &self.deleted_column),
                    ("updated_at_column", &self.updated_at_column),
                    ("checkpoint_table", &self.checkpoint_table),
                ])?;
                Ok($schema {
                    table: self.table,
                    key: self.key_column,
                    version: self.version_column,
                    body: self.body_column,
                    deleted: self.deleted_column,
                    updated_at: self.updated_at_column,
                    checkpoint_table: self.checkpoint_table,
                })
            }
        }

        impl TryFrom<$builder> for $schema {
            type Error = crate::ConfigError;

            fn try_from(builder: $builder) -> Result<Self, crate::ConfigError> {
                builder.build()
            }
        }

        impl From<$schema> for $builder {
            fn from(schema: $schema) -> Self {
                $builder {
                    table: schema.table,
                    key_column: schema.key,
                    version_column: schema.version,
                    body_column: schema.body,
                    deleted_column: schema.deleted,
                    updated_at_column: schema.updated_at,
                    checkpoint_table: schema.checkpoint_table,
                }
            }
        }

        impl $schema {
            /// A builder for table `table` with the default column names.
            ///
            /// ```
            #[doc = concat!("let schema = mqsync::sync::", stringify!($schema), "::builder(\"orders\").build()?;")]
            /// assert_eq!(schema.table(), "orders");
            /// # Ok::<(), mqsync::ConfigError>(())
            /// ```
            pub fn builder(table: impl Into<String>) -> $builder {
                use crate::sync::sql_identifier as names;
                $builder {
                    table: table.into(),
                    key_column: names::default_key(),
                    version_column: names::default_version(),
                    body_column: names::default_body(),
                    deleted_column: names::default_deleted(),
                    updated_at_column: names::default_updated_at(),
                    checkpoint_table: names::default_checkpoint_table(),
                }
            }

            /// The table's name.
            ///
            /// ```
            #[doc = concat!("assert_eq!(mqsync::sync::", stringify!($schema), "::builder(\"t\").build().unwrap().table(), \"t\");")]
            /// ```
            pub fn table(&self) -> &str {
                &self.table
            }
        }
    };
}
pub(crate) use table_schema;

/// One of [`table_schema!`]'s column setters: `$setter` names the `$what` (default
/// `$default`), with a doc example that sets it to `$example` on `$schema`'s builder.
macro_rules! column_setter {
    ($schema:ident, $setter:ident, $what:literal, $default:literal, $example:literal) => {
        #[doc = concat!("Names the ", $what, " (default `", $default, "`).")]
        ///
        /// ```
        #[doc = concat!("assert!(mqsync::sync::", stringify!($schema), "::builder(\"t\").", stringify!($setter), "(\"", $example, "\").build().is_ok());")]
        /// ```
        pub fn $setter(mut self, name: impl Into<String>) -> Self {
            self.$setter = name.into();
            self
        }
    };
}
pub(crate) use column_setter;

pub(crate) fn default_key() -> String {
    "key".into()
}
pub(crate) fn default_version() -> String {
    "version".into()
}
pub(crate) fn default_body() -> String {
    "body".into()
}
pub(crate) fn default_deleted() -> String {
    "deleted".into()
}
pub(crate) fn default_updated_at() -> String {
    "updated_at".into()
}
pub(crate) fn default_checkpoint_table() -> String {
    "mqsync_checkpoint".into()
}

/// `build`'s checks for a [`table_schema!`] builder's names, in the order table, the five
/// columns, checkpoint table.
pub(crate) fn check_schema_names(names: [(&'static str, &String); 7]) -> Result<(), ConfigError> {
    check_names(&names, 1..6)?;
    let (table, checkpoint_table) = (names[0].1, names[6].1);
    if table == checkpoint_table {
        return Err(ConfigError::Conflict {
            field: "checkpoint_table",
            other: "table",
            reason: format!("both name the table {table:?}"),
        });
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
