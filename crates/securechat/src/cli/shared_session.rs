//! The profile's session as the CLI processes using the profile share it: a refresh happens
//! only under an exclusive lock on `session.lock` in the profile folder, reads
//! `session.json` again first (another process may have refreshed already) and writes the
//! new tokens before the lock is released. Without this, `listen` and another command that
//! refresh together present one refresh token twice, and the server revokes the session.

use std::fs::{File, OpenOptions};

use securechat_client::api::{Session, SessionStore};
use securechat_client::ClientError;

use super::profile::Profile;

const LOCK: &str = "session.lock";

/// [`SessionStore`] over one profile's folder.
pub struct ProfileSession {
    profile: Profile,
}

impl ProfileSession {
    pub fn new(profile: Profile) -> Self {
        Self { profile }
    }

    fn lock_file(&self) -> anyhow::Result<File> {
        self.profile.ensure_dir()?;
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let path = self.profile.dir().join(LOCK);
        options
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))
    }
}

impl ProfileSession {
    /// Stores the tokens of a new login, waiting for a refresh another process is doing so
    /// that it cannot overwrite them afterwards.
    pub fn save_new(&self, session: &Session) -> anyhow::Result<()> {
        let file = self.lock_file()?;
        // Called through the trait: `File::lock` of newer Rust shadows it otherwise.
        fs4::FileExt::lock(&file).map_err(|e| {
            anyhow::anyhow!(
                "cannot lock {}: {e}",
                self.profile.dir().join(LOCK).display()
            )
        })?;
        self.profile.save_session(session)
        // Dropping `file` releases the lock.
    }
}

fn store_error(error: anyhow::Error) -> ClientError {
    ClientError::SessionStore(error.into())
}

impl SessionStore for ProfileSession {
    fn try_lock(&self) -> Result<Option<Box<dyn Send>>, ClientError> {
        let file = self.lock_file().map_err(store_error)?;
        // Called through the trait: `File::try_lock` of newer Rust shadows it otherwise.
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => Ok(Some(Box::new(file))),
            Err(fs4::TryLockError::WouldBlock) => Ok(None),
            Err(fs4::TryLockError::Error(e)) => Err(ClientError::SessionStore(
                format!(
                    "cannot lock {}: {e}",
                    self.profile.dir().join(LOCK).display()
                )
                .into(),
            )),
        }
    }

    fn load(&self) -> Result<Option<Session>, ClientError> {
        self.profile.load_session().map_err(store_error)
    }

    fn save(&self, session: &Session) -> Result<(), ClientError> {
        self.profile.save_session(session).map_err(store_error)
    }
}
