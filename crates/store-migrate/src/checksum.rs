//! The canonical serialization of rows and its SHA-256, computed the same way on both sides.
//!
//! Each value is a tag byte followed by its content: `0` null; `1` an integer as 8 bytes
//! big-endian; `2` bytes and `3` text, each as an 8-byte big-endian length and the bytes.
//! A row is its values in column order; a table is its rows in key order. The encoding is
//! unambiguous (every length is explicit), so two tables hash the same exactly when they
//! hold the same values in the same order.

use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// A row that can be written canonically.
pub(crate) trait Canonical {
    /// Writes every column, in the schema's order.
    fn write(&self, out: &mut Checksum);
}

/// Rows counted and hashed.
#[derive(Default)]
pub(crate) struct Checksum {
    hasher: Sha256,
    rows: u64,
}

impl Checksum {
    /// Adds one row.
    pub(crate) fn row(&mut self, row: &impl Canonical) {
        row.write(self);
        self.rows += 1;
    }

    /// Rows added and their SHA-256.
    pub(crate) fn finish(self) -> (u64, [u8; 32]) {
        (self.rows, self.hasher.finalize().into())
    }

    fn tagged(&mut self, tag: u8, content: &[u8]) {
        self.hasher.update([tag]);
        // usize → u64 never loses anything on the platforms Rust supports.
        self.hasher.update((content.len() as u64).to_be_bytes());
        self.hasher.update(content);
    }

    /// An integer column.
    pub(crate) fn int(&mut self, value: i64) {
        self.hasher.update([1]);
        self.hasher.update(value.to_be_bytes());
    }

    /// A nullable integer column.
    pub(crate) fn opt_int(&mut self, value: Option<i64>) {
        match value {
            Some(v) => self.int(v),
            None => self.hasher.update([0]),
        }
    }

    /// A byte-string column.
    pub(crate) fn bytes(&mut self, value: &[u8]) {
        self.tagged(2, value);
    }

    /// A nullable byte-string column.
    pub(crate) fn opt_bytes(&mut self, value: Option<&[u8]>) {
        match value {
            Some(v) => self.bytes(v),
            None => self.hasher.update([0]),
        }
    }

    /// A UUID column (its 16 bytes).
    pub(crate) fn uuid(&mut self, value: &Uuid) {
        self.bytes(value.as_bytes());
    }

    /// A nullable UUID column.
    pub(crate) fn opt_uuid(&mut self, value: Option<&Uuid>) {
        self.opt_bytes(value.map(|v| &v.as_bytes()[..]));
    }

    /// A text column.
    pub(crate) fn text(&mut self, value: &str) {
        self.tagged(3, value.as_bytes());
    }

    /// A nullable text column.
    pub(crate) fn opt_text(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.text(v),
            None => self.hasher.update([0]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pair(Option<&'static str>, Option<&'static str>);

    impl Canonical for Pair {
        fn write(&self, out: &mut Checksum) {
            out.opt_text(self.0);
            out.opt_text(self.1);
        }
    }

    fn sum(rows: &[Pair]) -> [u8; 32] {
        let mut checksum = Checksum::default();
        rows.iter().for_each(|r| checksum.row(r));
        checksum.finish().1
    }

    #[test]
    fn boundaries_and_nulls_are_part_of_the_value() {
        let a = sum(&[Pair(Some("ab"), Some("c"))]);
        assert_ne!(a, sum(&[Pair(Some("a"), Some("bc"))]));
        assert_ne!(sum(&[Pair(None, Some(""))]), sum(&[Pair(Some(""), None)]));
        assert_eq!(a, sum(&[Pair(Some("ab"), Some("c"))]));
    }

    #[test]
    fn text_and_bytes_differ_and_rows_are_counted() {
        let mut text = Checksum::default();
        text.text("x");
        let mut bytes = Checksum::default();
        bytes.bytes(b"x");
        assert_ne!(text.finish().1, bytes.finish().1);
        let mut two = Checksum::default();
        two.row(&Pair(None, None));
        two.row(&Pair(None, None));
        assert_eq!(two.finish().0, 2);
    }
}
