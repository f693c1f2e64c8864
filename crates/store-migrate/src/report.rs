//! What a migration tells its caller: progress while it runs, and the verification at the end.

use std::time::Duration;

/// A step of a running migration, for progress output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// `copied` of the `total` rows of `table` are written (once per chunk, and once for an
    /// empty table).
    Copied {
        /// The table being copied.
        table: &'static str,
        /// Rows written so far.
        copied: u64,
        /// Rows the source holds.
        total: u64,
    },
    /// `table` is being read back from both databases and checksummed.
    Verifying {
        /// The table being verified.
        table: &'static str,
    },
}

/// One side of a table's verification.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Rows in the table.
    pub rows: u64,
    /// SHA-256 of the canonical serialization of every row, in key order.
    pub sha256: [u8; 32],
}

impl Summary {
    /// The checksum in lower-case hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

impl std::fmt::Debug for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Summary")
            .field("rows", &self.rows)
            .field("sha256", &self.sha256_hex())
            .finish()
    }
}

/// A table read back from both databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    /// The table's name (the same in both schemas).
    pub table: &'static str,
    /// The SQLite source.
    pub source: Summary,
    /// The PostgreSQL target.
    pub target: Summary,
}

impl TableCheck {
    /// Same row count and same checksum on both sides.
    pub fn matches(&self) -> bool {
        self.source == self.target
    }
}

/// A completed (committed and verified) migration.
#[derive(Debug, Clone)]
pub struct Report {
    /// Every table, in copy order; all of them match.
    pub tables: Vec<TableCheck>,
    /// Time spent copying.
    pub copy_time: Duration,
    /// Time spent verifying.
    pub verify_time: Duration,
}
