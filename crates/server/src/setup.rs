//! Start-up checks and first-start initialisation of the data folder.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand::RngCore as _;

/// A start-up problem, said in plain words.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot create or use the data folder {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read or create the token signing secret {path}: {source}")]
    Secret {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the token signing secret in {path} must be at least 32 bytes")]
    ShortSecret { path: PathBuf },
    #[error("the configured token secret must be at least 32 bytes")]
    ShortConfiguredSecret,
}

/// Creates the data folder if missing (mode 0700) and checks that it is writable.
pub fn prepare_data_dir(path: &Path) -> Result<(), SetupError> {
    let wrap = |source| SetupError::DataDir {
        path: path.to_owned(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    // Only the server's user may read the database and the token secret.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(wrap)?;
    let probe = path.join(".write-test");
    std::fs::write(&probe, b"ok").map_err(wrap)?;
    std::fs::remove_file(&probe).map_err(wrap)?;
    Ok(())
}

/// File name of the generated token signing secret inside the data folder.
pub const SECRET_FILE: &str = "token-signing.key";

/// Returns the configured secret, or the one kept in the data folder, generating it (32
/// random bytes, mode 0600) on first start.
pub fn token_secret(data_dir: &Path, configured: Option<&[u8]>) -> Result<Vec<u8>, SetupError> {
    if let Some(secret) = configured {
        if secret.len() < 32 {
            return Err(SetupError::ShortConfiguredSecret);
        }
        return Ok(secret.to_vec());
    }
    let path = data_dir.join(SECRET_FILE);
    let wrap = |source| SetupError::Secret {
        path: path.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(secret) if secret.len() >= 32 => return Ok(secret),
        Ok(_) => return Err(SetupError::ShortSecret { path }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(wrap(e)),
    }
    let mut secret = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(wrap)?;
    file.write_all(&secret).map_err(wrap)?;
    file.sync_all().map_err(wrap)?;
    Ok(secret)
}
