//! `securechat migrate-store --from sqlite://PATH --to postgres://…`: copies the server's
//! SQLite database into an empty PostgreSQL database (`securechat-store-migrate`), printing
//! progress, the verification and what to do next.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Args;

use securechat_store_migrate::{migrate, redacted_url, MigrateError, Options, Progress, Report};
use securechat_store_migrate::{Summary, TableCheck};

/// Arguments of `migrate-store`.
#[derive(Debug, Args)]
pub struct MigrateStoreArgs {
    /// The SQLite database to copy: sqlite://PATH (the server's is <data-dir>/securechat.db).
    /// Stop the server first: what it writes during the copy is not copied.
    #[arg(long, value_name = "sqlite://PATH")]
    pub from: String,
    /// The empty PostgreSQL database to fill: postgres://USER[:PASSWORD]@HOST[:PORT]/NAME.
    /// A database holding any data is refused, unchanged.
    #[arg(long, value_name = "postgres://…")]
    pub to: String,
    /// Rows read and written per statement.
    #[arg(long, value_name = "ROWS", default_value_t = 5_000)]
    pub chunk_rows: u32,
}

/// The file a `sqlite://PATH` (or `sqlite:PATH`) URL names.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    match securechat_store_sqlite::file_of_url(url) {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => bail!("--from must be a SQLite URL, sqlite://PATH (got {url:?})"),
    }
}

fn check_postgres_url(url: &str) -> anyhow::Result<()> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(())
    } else {
        bail!(
            "--to must be a PostgreSQL URL, postgres://USER@HOST/NAME (got {:?})",
            redacted_url(url)
        )
    }
}

/// The first 16 hex digits of a checksum (enough to tell two apart at a glance).
fn short(summary: &Summary) -> String {
    summary.sha256_hex()[..16].to_owned()
}

fn print_checks(checks: &[TableCheck]) {
    println!(
        "{:<16} {:>10} {:>10}  {:<16}  {:<16}  RESULT",
        "TABLE", "SQLITE", "POSTGRES", "SQLITE SHA-256", "POSTGRES SHA-256"
    );
    for check in checks {
        println!(
            "{:<16} {:>10} {:>10}  {:<16}  {:<16}  {}",
            check.table,
            check.source.rows,
            check.target.rows,
            short(&check.source),
            short(&check.target),
            if check.matches() { "same" } else { "DIFFERS" }
        );
    }
}

fn print_next_steps(source: &Path, target: &str, report: &Report) {
    let rows: u64 = report.tables.iter().map(|t| t.target.rows).sum();
    println!(
        "Copied {rows} rows in {:.2} s, verified in {:.2} s: every table has the same rows \
         and checksum in both databases.",
        report.copy_time.as_secs_f64(),
        report.verify_time.as_secs_f64()
    );
    // The server's own database is `securechat.db` in its data folder.
    let data_dir = match (source.parent(), source.file_name()) {
        (Some(dir), Some(name)) if name == "securechat.db" => {
            if dir.as_os_str().is_empty() {
                ".".to_owned()
            } else {
                dir.display().to_string()
            }
        }
        _ => "DIR".to_owned(),
    };
    let url = redacted_url(target);
    println!();
    println!(
        "Next: start the server with --database-url {url} and the same --data-dir: file blobs \
         and the token secret stay in the data folder."
    );
    println!("  securechat --data-dir {data_dir} --database-url {url}");
    println!(
        "The SQLite database keeps its data: keep it until the server runs well on PostgreSQL."
    );
}

/// Runs `migrate-store`.
pub fn run(args: MigrateStoreArgs) -> anyhow::Result<()> {
    let source = sqlite_path(&args.from)?;
    check_postgres_url(&args.to)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    println!(
        "Copying {} into {}",
        source.display(),
        redacted_url(&args.to)
    );
    let options = Options {
        chunk_rows: args.chunk_rows,
    };
    let mut verifying = false;
    let mut progress = |step: Progress| match step {
        Progress::Copied {
            table,
            copied,
            total,
        } => println!("{table}: {copied}/{total}"),
        Progress::Verifying { .. } if !verifying => {
            verifying = true;
            println!("Verifying: reading every table back from both databases");
        }
        Progress::Verifying { .. } => {}
    };
    match runtime.block_on(migrate(&source, &args.to, &options, &mut progress)) {
        Ok(report) => {
            print_checks(&report.tables);
            print_next_steps(&source, &args.to, &report);
            Ok(())
        }
        Err(MigrateError::Mismatch(checks)) => {
            print_checks(&checks);
            Err(MigrateError::Mismatch(checks).into())
        }
        Err(
            e @ (MigrateError::Source { .. }
            | MigrateError::Target { .. }
            | MigrateError::Inconsistent(_)
            | MigrateError::Walk { .. }),
        ) => Err(e).context("the copy was rolled back: the PostgreSQL database holds none of it"),
        // The others say what was (not) done themselves.
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_before_anything_runs() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/securechat/securechat.db").expect("path"),
            PathBuf::from("/var/lib/securechat/securechat.db")
        );
        assert_eq!(
            sqlite_path("sqlite:data/securechat.db").expect("path"),
            PathBuf::from("data/securechat.db")
        );
        assert!(sqlite_path("/var/lib/securechat/securechat.db").is_err());
        assert!(sqlite_path("sqlite://").is_err());
        assert!(check_postgres_url("postgresql://u@h/db").is_ok());
        let err = check_postgres_url("mysql://u:pw@h/db").expect_err("not postgres");
        assert!(!err.to_string().contains("pw"), "{err}");
    }
}
