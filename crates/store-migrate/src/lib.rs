//! Moves a securechat server from its SQLite database to PostgreSQL: copies every row of a
//! SQLite database (`SqliteStore`'s schema) into an empty PostgreSQL database
//! (`PostgresStore`'s schema), then proves the copy by reading both back.
//!
//! - **All or nothing.** The copy is one PostgreSQL transaction, with the data tables locked
//!   against other writers: until it commits nobody sees any of it, and any failure (a
//!   refused row, a lost connection, a verification that differs) rolls it back, leaving an
//!   empty database that a new run can fill. A half-copied target never looks complete.
//! - **Only into an empty database.** A target with a row in any data table is refused
//!   before anything in it is changed, and checked again under the locks.
//! - **One snapshot of the source.** The source is read in one SQLite read transaction, so
//!   the copy and its verification see the same rows. A source written meanwhile (a server
//!   still running on it: the snapshot would miss its writes) is detected at the end, by
//!   SQLite's `data_version`, and the copy rolled back: stop the server first.
//! - **Chunked.** Each table is read in key order, a page of `Options::chunk_rows` rows at
//!   a time (each page starting after the last row of the one before), and written one
//!   page per statement.
//! - **Verified.** Per table, the row count and a SHA-256 over a canonical serialization of
//!   every row in key order are computed on both sides from what each database returns;
//!   the transaction commits only when every table matches.
//!
//! What PostgreSQL keeps that SQLite only implies is derived: each user's `streams` counter
//! is the last seq of their inbox (0 when empty); `encryption_keys.position` numbers the
//! keys in SQLite's publication order `(created_at, rowid)`; the identity sequences of
//! `messages.id`, `encryption_keys.position` and `security_events.id` continue after the
//! copied values. SQLite's
//! `write_probe` is not data and is not copied.

mod checksum;
mod error;
mod report;
mod source;
mod tables;
mod target;
mod walk;

use std::path::Path;
use std::time::Instant;

use sqlx::{PgConnection, SqliteConnection};

pub use error::MigrateError;
pub use report::{Progress, Report, Summary, TableCheck};
pub use securechat_store_postgres::redacted_url;

use source::Source;
use tables::accounts::{EncryptionKeys, Streams, Users};
use tables::codes::{Invites, PasswordResets};
use tables::groups::{GroupChanges, GroupMembers, Groups};
use tables::messages::{Files, Inbox, Messages};
use tables::security::SecurityEvents;
use tables::sessions::{LoginSources, RefreshTokens, Sessions};
use tables::Table;
use target::{Filling, Target};

/// How a migration runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rows read and written per page (at least 1).
    pub chunk_rows: u32,
}

impl Default for Options {
    /// Pages of 5 000 rows.
    fn default() -> Self {
        Self { chunk_rows: 5_000 }
    }
}

/// Copies the SQLite database at `source` into the empty PostgreSQL database at
/// `target_url`, reporting each copied page to `progress`, and verifies the copy before
/// committing it. Opening the source applies its pending migrations (and rewrites its write
/// probe, which is not data); nothing else in it is changed. See the crate documentation for
/// the guarantees.
pub async fn migrate(
    source: &Path,
    target_url: &str,
    options: &Options,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report, MigrateError> {
    if !source.is_file() {
        return Err(MigrateError::SourceMissing(source.to_owned()));
    }
    let target = Target::connect(target_url).await?;
    let mut source = Source::open(source).await?;
    let mut filling = match target.begin().await {
        Ok(filling) => filling,
        Err(e) => {
            source.close().await;
            return Err(e);
        }
    };
    let filled = fill(&mut source, &mut filling, options, progress).await;
    let unchanged = match filled {
        Ok(_) => source.finish().await,
        Err(_) => {
            source.close().await;
            Ok(())
        }
    };
    match (filled, unchanged) {
        (Ok(report), Ok(())) => {
            filling.commit().await?;
            Ok(report)
        }
        (Err(e), _) | (Ok(_), Err(e)) => {
            filling.abandon().await;
            Err(e)
        }
    }
}

/// Copies every table, then verifies every table; an error when any differs.
async fn fill(
    source: &mut Source,
    target: &mut Filling,
    options: &Options,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report, MigrateError> {
    let chunk = options.chunk_rows.max(1);
    let started = Instant::now();
    {
        let (src, dst) = (source.conn(), target.conn());
        walk::copy::<Users>(src, dst, chunk, progress).await?;
        walk::copy::<Streams>(src, dst, chunk, progress).await?;
        walk::copy::<EncryptionKeys>(src, dst, chunk, progress).await?;
        walk::copy::<Sessions>(src, dst, chunk, progress).await?;
        walk::copy::<RefreshTokens>(src, dst, chunk, progress).await?;
        walk::copy::<LoginSources>(src, dst, chunk, progress).await?;
        walk::copy::<Messages>(src, dst, chunk, progress).await?;
        walk::copy::<Inbox>(src, dst, chunk, progress).await?;
        walk::copy::<Files>(src, dst, chunk, progress).await?;
        walk::copy::<Invites>(src, dst, chunk, progress).await?;
        walk::copy::<PasswordResets>(src, dst, chunk, progress).await?;
        walk::copy::<SecurityEvents>(src, dst, chunk, progress).await?;
        walk::copy::<Groups>(src, dst, chunk, progress).await?;
        walk::copy::<GroupChanges>(src, dst, chunk, progress).await?;
        walk::copy::<GroupMembers>(src, dst, chunk, progress).await?;
    }
    target.continue_identities().await?;
    let copy_time = started.elapsed();

    let started = Instant::now();
    let (src, dst) = (source.conn(), target.conn());
    let tables = vec![
        check::<Users>(src, dst, chunk, progress).await?,
        check::<Streams>(src, dst, chunk, progress).await?,
        check::<EncryptionKeys>(src, dst, chunk, progress).await?,
        check::<Sessions>(src, dst, chunk, progress).await?,
        check::<RefreshTokens>(src, dst, chunk, progress).await?,
        check::<LoginSources>(src, dst, chunk, progress).await?,
        check::<Messages>(src, dst, chunk, progress).await?,
        check::<Inbox>(src, dst, chunk, progress).await?,
        check::<Files>(src, dst, chunk, progress).await?,
        check::<Invites>(src, dst, chunk, progress).await?,
        check::<PasswordResets>(src, dst, chunk, progress).await?,
        check::<SecurityEvents>(src, dst, chunk, progress).await?,
        check::<Groups>(src, dst, chunk, progress).await?,
        check::<GroupChanges>(src, dst, chunk, progress).await?,
        check::<GroupMembers>(src, dst, chunk, progress).await?,
    ];
    if tables.iter().any(|t| !t.matches()) {
        return Err(MigrateError::Mismatch(tables));
    }
    Ok(Report {
        tables,
        copy_time,
        verify_time: started.elapsed(),
    })
}

/// Reads table `T` back from both databases.
async fn check<T: Table>(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
    chunk: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<TableCheck, MigrateError> {
    progress(Progress::Verifying { table: T::NAME });
    Ok(TableCheck {
        table: T::NAME,
        source: walk::source_summary::<T>(source, chunk).await?,
        target: walk::target_summary::<T>(target, chunk).await?,
    })
}
