//! PostgreSQL's own tools: `pg_dump` for a consistent logical dump, `pg_restore` to load it.
//! They are looked for in `PATH`, then in `/usr/lib/postgresql/<major>/bin` (newest first:
//! a dump needs a `pg_dump` of the server's major version or newer). The database URL goes
//! to them without its password, which travels in `PGPASSWORD` (the command line is visible
//! to every user in `ps`).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use percent_encoding::percent_decode_str;
use zeroize::Zeroizing;

use crate::error::BackupError;

/// Where Debian and Ubuntu install each major version's programs.
const VERSIONED_BINS: &str = "/usr/lib/postgresql";
/// Query parameters of sqlx's URLs that libpq does not know.
const SQLX_ONLY: [&str; 1] = ["statement-cache-capacity"];

/// Finds `tool` (`pg_dump`, `pg_restore`).
pub fn find(tool: &'static str) -> Result<PathBuf, BackupError> {
    let in_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir(VERSIONED_BINS)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let major = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                    Some((major, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    versioned.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    in_path
        .into_iter()
        .chain(versioned.into_iter().map(|(_, dir)| dir))
        .map(|dir| dir.join(tool))
        .find(|candidate| is_executable(candidate))
        .ok_or(BackupError::ToolMissing { tool })
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    path.is_file()
}

/// A database URL as libpq takes it: without its password (and without sqlx's own
/// parameters), and the password apart.
pub struct Connection {
    pub url: String,
    pub password: Option<Zeroizing<String>>,
}

impl Connection {
    /// Splits `url` (`postgres://user:password@host:port/db?sslmode=…`).
    pub fn parse(url: &str) -> Result<Self, BackupError> {
        let mut parsed = url::Url::parse(url)
            .map_err(|e| BackupError::Mismatch(format!("the PostgreSQL URL is not usable: {e}")))?;
        let mut password = parsed
            .password()
            .map(|p| Zeroizing::new(percent_decode_str(p).decode_utf8_lossy().into_owned()));
        parsed
            .set_password(None)
            .map_err(|()| BackupError::Mismatch("the PostgreSQL URL has no host".to_owned()))?;
        let mut kept = Vec::new();
        for (key, value) in parsed.query_pairs() {
            if key == "password" {
                password = Some(Zeroizing::new(value.into_owned()));
            } else if !SQLX_ONLY.contains(&key.as_ref()) {
                kept.push((key.into_owned(), value.into_owned()));
            }
        }
        if kept.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(kept);
        }
        Ok(Self {
            url: parsed.to_string(),
            password,
        })
    }
}

/// Runs a tool with `args` against `connection` (its URL as `--dbname`); its standard error
/// is the failure's text.
pub async fn run(
    tool: &'static str,
    program: &Path,
    args: &[&std::ffi::OsStr],
    connection: &Connection,
) -> Result<(), BackupError> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .arg("--dbname")
        .arg(&connection.url)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(password) = &connection.password {
        command.env("PGPASSWORD", password.as_str());
    }
    let output = command
        .output()
        .await
        .map_err(BackupError::io("cannot run", program))?;
    if output.status.success() {
        return Ok(());
    }
    Err(BackupError::ToolFailed {
        tool,
        status: output.status.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::{find, Connection};

    #[test]
    fn a_missing_tool_is_named_with_where_it_was_looked_for() {
        let said = find("pg_no_such_tool")
            .expect_err("not installed")
            .to_string();
        assert!(
            said.contains("pg_no_such_tool is needed")
                && said.contains("/usr/lib/postgresql/*/bin")
                && said.contains("postgresql-client"),
            "{said}"
        );
    }

    #[test]
    fn the_password_leaves_the_url() {
        let c = Connection::parse("postgres://app:s%40cret@db.example:5432/chat?sslmode=require")
            .expect("parses");
        assert_eq!(c.url, "postgres://app@db.example:5432/chat?sslmode=require");
        assert_eq!(c.password.as_deref().map(String::as_str), Some("s@cret"));
        let c = Connection::parse(
            "postgres://app@db/chat?password=x&statement-cache-capacity=10&sslmode=disable",
        )
        .expect("parses");
        assert_eq!(c.url, "postgres://app@db/chat?sslmode=disable");
        assert_eq!(c.password.as_deref().map(String::as_str), Some("x"));
        let c = Connection::parse("postgres://postgres@127.0.0.1:5432/postgres").expect("parses");
        assert_eq!(c.url, "postgres://postgres@127.0.0.1:5432/postgres");
        assert!(c.password.is_none());
    }
}
