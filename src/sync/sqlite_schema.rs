//! The table layout of the [`SqliteSink`](super::SqliteSink): which table and columns a
//! [`Change`](super::Change) is written to, validated identifiers, and the SQL built from them.
//
// Identifiers cannot be bound as parameters, so they are the one thing spliced into SQL text:
// every name is checked against `^[A-Za-z_][A-Za-z0-9_]{0,62}$` before any SQL is built, and is
// then double-quoted as well. Values (keys, versions, bodies, positions) are always bound.

use std::fmt;

/// A table or column name that is not a plain SQL identifier.
///
/// ```
/// use mqsync::sync::SqliteSchema;
///
/// let err = SqliteSchema::new("orders; DROP TABLE x").unwrap_err();
/// assert!(err.to_string().contains("orders; DROP TABLE x"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIdentifier {
    /// The name as given.
    pub name: String,
}

impl fmt::Display for InvalidIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a valid SQL identifier (letters, digits and '_', not starting with a digit, at most 63)",
            self.name
        )
    }
}

impl std::error::Error for InvalidIdentifier {}

/// Whether `name` matches `^[A-Za-z_][A-Za-z0-9_]{0,62}$`.
fn check(name: &str) -> Result<(), InvalidIdentifier> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if first_ok && rest_ok && name.len() <= 63 {
        Ok(())
    } else {
        Err(InvalidIdentifier {
            name: name.to_owned(),
        })
    }
}

/// Where the [`SqliteSink`](super::SqliteSink) writes: one row per entity key.
///
/// | column (default name) | SQLite type | holds |
/// |---|---|---|
/// | `key` | `TEXT PRIMARY KEY` | [`Change::key`](super::Change::key) |
/// | `version` | `INTEGER` (NULL if versionless) | [`Change::version`](super::Change::version) |
/// | `body` | `TEXT` (JSON; NULL for a tombstone) | the value of an [`Op::Upsert`](super::Op::Upsert) |
/// | `deleted` | `INTEGER` 0 / 1 | 1: an [`Op::Delete`](super::Op::Delete) tombstone |
/// | `updated_at` | `INTEGER` | when the row was last written, Unix milliseconds |
///
/// and a checkpoint table (default `mqsync_checkpoint`) of `(source TEXT PRIMARY KEY,
/// position INTEGER)`. An integrated [`Message`](crate::integrate::Message) reaches these
/// columns through [`Change::from`](super::Change): its key (or id) is `key`, its version is
/// `version`, its body object is `body`.
///
/// ```
/// use mqsync::sync::SqliteSchema;
///
/// let schema = SqliteSchema::new("orders")?.key_column("order_id")?.body_column("doc")?;
/// assert_eq!(schema.table(), "orders");
/// assert!(SqliteSchema::new("1orders").is_err());
/// # Ok::<(), mqsync::sync::InvalidIdentifier>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSchema {
    table: String,
    key: String,
    version: String,
    body: String,
    deleted: String,
    updated_at: String,
    checkpoint_table: String,
}

impl SqliteSchema {
    /// The default columns in table `table`.
    pub fn new(table: &str) -> Result<Self, InvalidIdentifier> {
        check(table)?;
        Ok(SqliteSchema {
            table: table.to_owned(),
            key: "key".into(),
            version: "version".into(),
            body: "body".into(),
            deleted: "deleted".into(),
            updated_at: "updated_at".into(),
            checkpoint_table: "mqsync_checkpoint".into(),
        })
    }

    /// The table's name.
    ///
    /// ```
    /// assert_eq!(mqsync::sync::SqliteSchema::new("t").unwrap().table(), "t");
    /// ```
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Names the key column (default `key`).
    ///
    /// ```
    /// assert!(mqsync::sync::SqliteSchema::new("t").unwrap().key_column("id").is_ok());
    /// ```
    pub fn key_column(mut self, name: &str) -> Result<Self, InvalidIdentifier> {
        check(name)?;
        self.key = name.to_owned();
        Ok(self)
    }

    /// Names the version column (default `version`).
    ///
    /// ```
    /// assert!(mqsync::sync::SqliteSchema::new("t").unwrap().version_column("rev").is_ok());
    /// ```
    pub fn version_column(mut self, name: &str) -> Result<Self, InvalidIdentifier> {
        check(name)?;
        self.version = name.to_owned();
        Ok(self)
    }

    /// Names the JSON body column (default `body`).
    ///
    /// ```
    /// assert!(mqsync::sync::SqliteSchema::new("t").unwrap().body_column("doc").is_ok());
    /// ```
    pub fn body_column(mut self, name: &str) -> Result<Self, InvalidIdentifier> {
        check(name)?;
        self.body = name.to_owned();
        Ok(self)
    }

    /// Names the tombstone flag column (default `deleted`).
    ///
    /// ```
    /// assert!(mqsync::sync::SqliteSchema::new("t").unwrap().deleted_column("gone").is_ok());
    /// ```
    pub fn deleted_column(mut self, name: &str) -> Result<Self, InvalidIdentifier> {
        check(name)?;
        self.deleted = name.to_owned();
        Ok(self)
    }

    /// Names the write-time column (default `updated_at`).
    ///
    /// ```
    /// assert!(mqsync::sync::SqliteSchema::new("t").unwrap().updated_at_column("ts").is_ok());
    /// ```
    pub fn updated_at_column(mut self, name: &str) -> Result<Self, InvalidIdentifier> {
        check(name)?;
        self.updated_at = name.to_owned();
        Ok(self)
    }

    /// Names the checkpoint table (default `mqsync_checkpoint`); several data tables may share
    /// one, as each sink records under its own source name.
    ///
    /// ```
    /// assert!(mqsync::sync::SqliteSchema::new("t").unwrap().checkpoint_table("cp").is_ok());
    /// ```
    pub fn checkpoint_table(mut self, name: &str) -> Result<Self, InvalidIdentifier> {
        check(name)?;
        self.checkpoint_table = name.to_owned();
        Ok(self)
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
               \"{key}\" TEXT PRIMARY KEY NOT NULL, \"{version}\" INTEGER, \"{body}\" TEXT, \
               \"{deleted}\" INTEGER NOT NULL DEFAULT 0, \"{updated_at}\" INTEGER NOT NULL);\n\
             CREATE TABLE IF NOT EXISTS \"{checkpoint_table}\" (\
               source TEXT PRIMARY KEY NOT NULL, position INTEGER NOT NULL);"
        )
    }

    /// The version-checked upsert: parameters `(key, version, body, updated_at)`. It writes only
    /// when the new version wins by [`Change::supersedes`](super::Change::supersedes): a higher
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
    fn identifiers() {
        for good in ["t", "_x", "Orders_2024", &"a".repeat(63)] {
            assert!(check(good).is_ok(), "{good}");
        }
        for bad in ["", "1t", "a-b", "a b", "t\"", "é", &"a".repeat(64), "x;--"] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
