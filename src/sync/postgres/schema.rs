//! The table layout of the [`PostgresSink`](super::PostgresSink): which table and columns a
//! [`Change`](crate::sync::Change) is written to, validated identifiers, and the SQL built from
//! them.
//
// Identifiers cannot be bound as parameters, so they are the one thing spliced into SQL text:
// every name is checked by `sql_identifier::check_names` (the SQLite sink's rule) before any SQL
// is built, and is then double-quoted as well. Values (keys, versions, bodies, positions) are
// always bound, as arrays that `UNNEST` turns into rows.

use serde::{Deserialize, Serialize};

crate::sync::sql_identifier::table_schema! {
    /// Where the [`PostgresSink`](super::PostgresSink) writes: one row per entity key. Made by
    /// [`PostgresSchema::builder`] and [`PostgresSchemaBuilder::build`], or loaded from a
    /// configuration file (loading runs the same checks).
    ///
    /// | column (default name) | PostgreSQL type | holds |
    /// |---|---|---|
    /// | `key` | `text PRIMARY KEY` | [`Change::key`](crate::sync::Change::key) |
    /// | `version` | `bigint` (NULL if versionless) | [`Change::version`](crate::sync::Change::version) |
    /// | `body` | `text` (JSON; NULL for a tombstone) | the value of an [`Op::Upsert`](crate::sync::Op::Upsert) |
    /// | `deleted` | `boolean` | true: an [`Op::Delete`](crate::sync::Op::Delete) tombstone |
    /// | `updated_at` | `timestamptz` | when the row was last written (the statement's `now()`) |
    ///
    /// and a checkpoint table (default `mqsync_checkpoint`) of `(source text, table_name text,
    /// position bigint, PRIMARY KEY (source, table_name))`: one row per source *and* data table,
    /// so that two sinks fed by one source keep two resume positions. The body is `text`, not
    /// `jsonb`, because the version rule breaks ties between upserts of one version by comparing
    /// serialized JSON byte by byte ([`Change::supersedes`](crate::sync::Change::supersedes)),
    /// and `jsonb` does not keep that text; query it as `body::jsonb`.
    ///
    /// ```
    /// use mqsync::sync::PostgresSchema;
    ///
    /// let schema = PostgresSchema::builder("orders").key_column("order_id").body_column("doc").build()?;
    /// assert_eq!(schema.table(), "orders");
    /// assert!(PostgresSchema::builder("1orders").build().is_err());
    ///
    /// let loaded: PostgresSchema = toml::from_str("table = \"orders\"\nkey_column = \"order_id\"").unwrap();
    /// assert_eq!(loaded, PostgresSchema::builder("orders").key_column("order_id").build()?);
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(try_from = "PostgresSchemaBuilder", into = "PostgresSchemaBuilder")]
    pub struct PostgresSchema;

    /// Builds a [`PostgresSchema`]: infallible chained setters, then [`build`](Self::build), which
    /// checks every name. Deserializable: `table` and, optionally, `key_column`, `version_column`,
    /// `body_column`, `deleted_column`, `updated_at_column`, `checkpoint_table`.
    ///
    /// ```
    /// use mqsync::sync::PostgresSchema;
    ///
    /// let err = PostgresSchema::builder("orders").key_column("id; DROP TABLE x").build().unwrap_err();
    /// assert_eq!(err.field(), "key_column");
    /// assert!(err.to_string().contains("id; DROP TABLE x"));
    /// ```
    pub struct PostgresSchemaBuilder;
    checkpoint_rows: "under its source's name *and* its data table's name";
}

impl PostgresSchema {
    /// The checkpoint table's name.
    ///
    /// ```
    /// let schema = mqsync::sync::PostgresSchema::builder("t").build().unwrap();
    /// assert_eq!(schema.checkpoint_table(), "mqsync_checkpoint");
    /// ```
    pub fn checkpoint_table(&self) -> &str {
        &self.checkpoint_table
    }

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
               \"{key}\" text PRIMARY KEY NOT NULL, \"{version}\" bigint, \"{body}\" text, \
               \"{deleted}\" boolean NOT NULL DEFAULT false, \
               \"{updated_at}\" timestamptz NOT NULL DEFAULT now());\n\
             CREATE TABLE IF NOT EXISTS \"{checkpoint_table}\" (\
               source text NOT NULL, table_name text NOT NULL, position bigint NOT NULL, \
               PRIMARY KEY (source, table_name));"
        )
    }

    /// One batch in one statement (so in one transaction, one round trip): three
    /// data-modifying CTEs.
    ///
    /// * `$1..$4` (`text[]` keys, `int8[]` versions, `text[]` bodies, `bool[]` deleted): rows
    ///   written only where they win by [`Change::supersedes`](crate::sync::Change::supersedes):
    ///   a versionless row on either side, a higher version, or an equal version over a live row
    ///   when the incoming row is a tombstone or its JSON text is greater byte by byte
    ///   (`COLLATE "C"`, as Rust compares strings).
    /// * `$5..$8`, same shapes: rows written whatever the table holds (a key whose batch held a
    ///   versionless change: applied in order, it would have replaced the row, and what follows
    ///   it in the batch was folded against it; see `sink.rs`).
    /// * `$9` source, `$10` data table's name, `$11` position, `$12` whether to write the
    ///   checkpoint at all.
    ///
    /// The two upserts never share a key, so neither touches a row twice.
    pub(crate) fn apply_sql(&self) -> String {
        let Self {
            table,
            key,
            version,
            body,
            deleted,
            updated_at,
            checkpoint_table,
        } = self;
        let insert = |first: usize| {
            format!(
                "INSERT INTO \"{table}\" AS cur (\"{key}\", \"{version}\", \"{body}\", \"{deleted}\", \"{updated_at}\") \
                 SELECT k, v, b, d, now() FROM UNNEST(${}::text[], ${}::int8[], ${}::text[], ${}::bool[]) AS u(k, v, b, d) \
                 ON CONFLICT (\"{key}\") DO UPDATE SET \"{version}\" = excluded.\"{version}\", \
                   \"{body}\" = excluded.\"{body}\", \"{deleted}\" = excluded.\"{deleted}\", \
                   \"{updated_at}\" = excluded.\"{updated_at}\"",
                first,
                first + 1,
                first + 2,
                first + 3
            )
        };
        format!(
            "WITH versioned AS ({} \
               WHERE excluded.\"{version}\" IS NULL OR cur.\"{version}\" IS NULL \
                 OR excluded.\"{version}\" > cur.\"{version}\" \
                 OR (excluded.\"{version}\" = cur.\"{version}\" AND NOT cur.\"{deleted}\" \
                     AND (excluded.\"{deleted}\" \
                          OR excluded.\"{body}\" COLLATE \"C\" > cur.\"{body}\" COLLATE \"C\")) \
               RETURNING 1), \
             forced AS ({} RETURNING 1), \
             checkpoint AS (INSERT INTO \"{checkpoint_table}\" (source, table_name, position) \
               SELECT $9::text, $10::text, $11::int8 WHERE $12::bool \
               ON CONFLICT (source, table_name) DO UPDATE SET position = excluded.position \
               RETURNING 1) \
             SELECT 1",
            insert(1),
            insert(5),
        )
    }

    /// Writes a source's resume position in this table: parameters `(source, table_name,
    /// position)`.
    pub(crate) fn checkpoint_write_sql(&self) -> String {
        format!(
            "INSERT INTO \"{0}\" (source, table_name, position) VALUES ($1, $2, $3) \
             ON CONFLICT (source, table_name) DO UPDATE SET position = excluded.position",
            self.checkpoint_table
        )
    }

    /// Reads a source's resume position in this table: parameters `(source, table_name)`.
    pub(crate) fn checkpoint_read_sql(&self) -> String {
        format!(
            "SELECT position FROM \"{0}\" WHERE source = $1 AND table_name = $2",
            self.checkpoint_table
        )
    }

    /// Every live row's key and body.
    pub(crate) fn snapshot_sql(&self) -> String {
        format!(
            "SELECT \"{key}\", \"{body}\" FROM \"{table}\" WHERE NOT \"{deleted}\"",
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
        let err = PostgresSchema::builder("t")
            .checkpoint_table("bad name")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "checkpoint_table");
        let err = PostgresSchema::builder("t")
            .checkpoint_table("t")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "checkpoint_table");
        let schema = PostgresSchema::builder("t")
            .version_column("rev")
            .build()
            .unwrap();
        let json = serde_json::to_string(&schema).unwrap();
        assert_eq!(
            serde_json::from_str::<PostgresSchema>(&json).unwrap(),
            schema
        );
        let refused = serde_json::from_str::<PostgresSchema>(r#"{"table": "1t"}"#).unwrap_err();
        assert!(refused.to_string().contains("1t"), "{refused}");
    }

    #[test]
    fn values_are_parameters_and_names_are_quoted() {
        let schema = PostgresSchema::builder("Orders").build().unwrap();
        let sql = schema.apply_sql();
        assert!(sql.contains("INSERT INTO \"Orders\" AS cur"), "{sql}");
        assert!(sql.contains("$12::bool"), "{sql}");
        assert!(!sql.contains("$13"), "{sql}");
    }
}
