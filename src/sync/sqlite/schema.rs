//! The table layout of the [`SqliteSink`](super::SqliteSink): which table and columns a
//! [`Change`](crate::sync::Change) is written to, validated identifiers, and the SQL built from them.
//
// Identifiers cannot be bound as parameters, so they are the one thing spliced into SQL text:
// every name is checked against `^[A-Za-z_][A-Za-z0-9_]{0,62}$` before any SQL is built, and is
// then double-quoted as well. Values (keys, versions, bodies, positions) are always bound.

use serde::{Deserialize, Serialize};

crate::sync::sql_identifier::table_schema! {
    /// Where the [`SqliteSink`](super::SqliteSink) writes: one row per entity key. Made by
    /// [`SqliteSchema::builder`] and [`SqliteSchemaBuilder::build`], or loaded from a configuration
    /// file (loading runs the same checks).
    ///
    /// | column (default name) | SQLite type | holds |
    /// |---|---|---|
    /// | `key` | `TEXT PRIMARY KEY` | [`Change::key`](crate::sync::Change::key) |
    /// | `version` | `INTEGER` (NULL if versionless) | [`Change::version`](crate::sync::Change::version) |
    /// | `body` | `TEXT` (JSON; NULL for a tombstone) | the value of an [`Op::Upsert`](crate::sync::Op::Upsert) |
    /// | `deleted` | `INTEGER` 0 / 1 | 1: an [`Op::Delete`](crate::sync::Op::Delete) tombstone |
    /// | `updated_at` | `INTEGER` | when the row was last written, Unix milliseconds |
    ///
    /// and a checkpoint table (default `mqsync_checkpoint`) of `(source TEXT PRIMARY KEY,
    /// position INTEGER)`. An integrated [`Message`](crate::integrate::Message) reaches these
    /// columns through [`Change::from`](crate::sync::Change): its key (or id) is `key`, its version is
    /// `version`, its body object is `body`.
    ///
    /// ```
    /// use mqsync::sync::SqliteSchema;
    ///
    /// let schema = SqliteSchema::builder("orders").key_column("order_id").body_column("doc").build()?;
    /// assert_eq!(schema.table(), "orders");
    /// assert!(SqliteSchema::builder("1orders").build().is_err());
    ///
    /// let loaded: SqliteSchema = toml::from_str("table = \"orders\"\nkey_column = \"order_id\"").unwrap();
    /// assert_eq!(loaded, SqliteSchema::builder("orders").key_column("order_id").build()?);
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(try_from = "SqliteSchemaBuilder", into = "SqliteSchemaBuilder")]
    pub struct SqliteSchema;

    /// Builds a [`SqliteSchema`]: infallible chained setters, then [`build`](Self::build), which
    /// checks every name. Deserializable: `table` and, optionally, `key_column`, `version_column`,
    /// `body_column`, `deleted_column`, `updated_at_column`, `checkpoint_table`.
    ///
    /// ```
    /// use mqsync::sync::SqliteSchema;
    /// use mqsync::ConfigError;
    ///
    /// let err = SqliteSchema::builder("orders").key_column("id; DROP TABLE x").build().unwrap_err();
    /// assert_eq!(err.field(), "key_column");
    /// assert!(err.to_string().contains("id; DROP TABLE x"));
    /// ```
    pub struct SqliteSchemaBuilder;
    checkpoint_rows: "under its own source name";
}

impl SqliteSchema {
    /// `CREATE TABLE IF NOT EXISTS` for the data and checkpoint tables.
    pub(crate) fn create_sql(&self) -> String {
        let Self {
            table,
            key,
            version,
            body,
            deleted,
            updated_at,
            checkpoint_table,
        } = self;
        format!(
            "CREATE TABLE IF NOT EXISTS \"{table}\" (\
               \"{key}\" TEXT PRIMARY KEY NOT NULL, \"{version}\" INTEGER, \"{body}\" TEXT, \
               \"{deleted}\" INTEGER NOT NULL DEFAULT 0, \"{updated_at}\" INTEGER NOT NULL);\n\
             CREATE TABLE IF NOT EXISTS \"{checkpoint_table}\" (\
               source TEXT PRIMARY KEY NOT NULL, position INTEGER NOT NULL);"
        )
    }

    /// The version-checked upsert: parameters `(key, version, body, updated_at)`. It writes only
    /// when the new version wins by [`Change::supersedes`](crate::sync::Change::supersedes): a higher
    /// version, or an equal one over a live row whose JSON text is smaller; versionless rows on
    /// either side always write.
    pub(crate) fn upsert_sql(&self) -> String {
        let Self {
            table,
            key,
            version,
            body,
            deleted,
            updated_at,
            ..
        } = self;
        format!(
            "INSERT INTO \"{table}\" (\"{key}\", \"{version}\", \"{body}\", \"{deleted}\", \"{updated_at}\") \
             VALUES (?1, ?2, ?3, 0, ?4) \
             ON CONFLICT(\"{key}\") DO UPDATE SET \"{version}\" = excluded.\"{version}\", \
               \"{body}\" = excluded.\"{body}\", \"{deleted}\" = 0, \"{updated_at}\" = excluded.\"{updated_at}\" \
             WHERE excluded.\"{version}\" IS NULL OR \"{table}\".\"{version}\" IS NULL \
               OR excluded.\"{version}\" > \"{table}\".\"{version}\" \
               OR (excluded.\"{version}\" = \"{table}\".\"{version}\" AND \"{table}\".\"{deleted}\" = 0 \
                   AND excluded.\"{body}\" > \"{table}\".\"{body}\")"
        )
    }

    /// The version-checked delete, keeping a tombstone: parameters `(key, version,
    /// updated_at)`. At an equal version a delete beats a live row.
    pub(crate) fn delete_sql(&self) -> String {
        let Self {
            table,
            key,
            version,
            body,
            deleted,
            updated_at,
            ..
        } = self;
        format!(
            "INSERT INTO \"{table}\" (\"{key}\", \"{version}\", \"{body}\", \"{deleted}\", \"{updated_at}\") \
             VALUES (?1, ?2, NULL, 1, ?3) \
             ON CONFLICT(\"{key}\") DO UPDATE SET \"{version}\" = excluded.\"{version}\", \
               \"{body}\" = NULL, \"{deleted}\" = 1, \"{updated_at}\" = excluded.\"{updated_at}\" \
             WHERE excluded.\"{version}\" IS NULL OR \"{table}\".\"{version}\" IS NULL \
               OR excluded.\"{version}\" > \"{table}\".\"{version}\" \
               OR (excluded.\"{version}\" = \"{table}\".\"{version}\" AND \"{table}\".\"{deleted}\" = 0)"
        )
    }

    /// Writes a source's resume position: parameters `(source, position)`.
    pub(crate) fn checkpoint_write_sql(&self) -> String {
        format!(
            "INSERT INTO \"{0}\" (source, position) VALUES (?1, ?2) \
             ON CONFLICT(source) DO UPDATE SET position = excluded.position",
            self.checkpoint_table
        )
    }

    /// Reads a source's resume position: parameter `(source)`.
    pub(crate) fn checkpoint_read_sql(&self) -> String {
        format!(
            "SELECT position FROM \"{0}\" WHERE source = ?1",
            self.checkpoint_table
        )
    }

    /// Every live row's key and body.
    pub(crate) fn snapshot_sql(&self) -> String {
        format!(
            "SELECT \"{key}\", \"{body}\" FROM \"{table}\" WHERE \"{deleted}\" = 0 ORDER BY \"{key}\"",
            key = self.key,
            body = self.body,
            table = self.table,
            deleted = self.deleted
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_names_the_field_and_round_trips_through_serde() {
        let err = SqliteSchema::builder("t")
            .checkpoint_table("bad name")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "checkpoint_table");
        let schema = SqliteSchema::builder("t")
            .version_column("rev")
            .build()
            .unwrap();
        let json = serde_json::to_string(&schema).unwrap();
        assert_eq!(serde_json::from_str::<SqliteSchema>(&json).unwrap(), schema);
        let refused = serde_json::from_str::<SqliteSchema>(r#"{"table": "1t"}"#).unwrap_err();
        assert!(refused.to_string().contains("1t"), "{refused}");
    }
}
