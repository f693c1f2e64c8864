//! Which migrations a database holds: named in the start-up log, and checked against the
//! migrations this binary knows so that an older binary refuses a database a newer one
//! upgraded, in plain words.

/// One migration: its number and name (`0006_nodes` for `migrations/0006_nodes.sql`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    /// The file's name after the number, words joined by `_`.
    pub name: String,
}

impl Migration {
    /// From a migration's number and the description sqlx keeps (underscores as spaces).
    pub fn new(version: i64, description: &str) -> Self {
        Self {
            version,
            name: description.trim().replace(' ', "_"),
        }
    }
}

impl std::fmt::Display for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}_{}", self.version, self.name)
    }
}

/// The migrations applied to a database, as its store found them once it had migrated it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    /// How many migrations are applied.
    pub applied: usize,
    /// The newest of them.
    pub latest: Option<Migration>,
}

impl std::fmt::Display for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.latest {
            Some(latest) => write!(f, "{} (latest {latest})", self.applied),
            None => write!(f, "{}", self.applied),
        }
    }
}

/// A database that a newer securechat upgraded: it holds a migration this binary does not
/// know. Nothing was changed in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this database was upgraded by a newer securechat (migration {newest}); this binary \
     ({binary}) knows migrations up to {known}: run the newer binary, or restore a backup \
     taken before the upgrade"
)]
pub struct NewerDatabase {
    /// The newest migration applied to the database.
    pub newest: Migration,
    /// The newest migration this binary has.
    pub known: Migration,
    /// This binary's version.
    pub binary: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_named_as_their_files() {
        let schema = Schema {
            applied: 6,
            latest: Some(Migration::new(6, "nodes")),
        };
        assert_eq!(schema.to_string(), "6 (latest 0006_nodes)");
        let newer = NewerDatabase {
            newest: Migration::new(7, "login sources"),
            known: Migration::new(6, "nodes"),
            binary: "0.2.0",
        };
        assert_eq!(
            newer.to_string(),
            "this database was upgraded by a newer securechat (migration 0007_login_sources); \
             this binary (0.2.0) knows migrations up to 0006_nodes: run the newer binary, or \
             restore a backup taken before the upgrade"
        );
    }
}
