//! Local storage of one profile: `<config>/profiles/<name>/` (mode 0700) holding
//!
//! - `keys.json`: the private keys (`KeyRing::to_local_json`), secret;
//! - `session.json`: the session's tokens (`api::Session`), secret;
//! - `session.lock`: empty; locked while a process refreshes the session (`shared_session`);
//! - `state.json`: pins, seen message ids, counters and the stream position (`ChatState`);
//! - `files.json`: the envelopes of file messages, to download their files later;
//! - `profile.json`: the server, username and user id of the account.
//!
//! Every file is written atomically (temporary file, then rename) with mode 0600.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use securechat_client::api::Session;
use securechat_client::chat::ChatState;
use securechat_client::KeyRing;
use securechat_proto::envelope::Envelope;
use securechat_proto::ids::UserId;

use super::ClientOpts;

const KEYS: &str = "keys.json";
const SESSION: &str = "session.json";
const STATE: &str = "state.json";
const FILES: &str = "files.json";
const INFO: &str = "profile.json";

/// What the profile remembers about its account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileInfo {
    pub server: String,
    pub username: String,
    pub user_id: UserId,
    /// The account has logged in with OPAQUE from this profile: its password is never sent
    /// to the server again (no password-grant fallback).
    #[serde(default)]
    pub opaque: bool,
}

/// A file message as it arrived, to open again when downloading.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedFile {
    pub from: UserId,
    /// Server receive time, Unix ms.
    pub ts: i64,
    pub envelope: Envelope,
    /// The group it was sent in (absent for a 1:1 message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<uuid::Uuid>,
}

/// File messages by message id.
pub type SavedFiles = BTreeMap<String, SavedFile>;

/// One profile's folder.
#[derive(Clone)]
pub struct Profile {
    name: String,
    dir: PathBuf,
}

/// Checks a profile name: it becomes a folder name.
fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        bail!(
            "invalid profile name {name:?}: use 1 to 64 characters of A-Z, a-z, 0-9, '_', '-', '.' \
             (not starting with '.')"
        );
    }
    Ok(())
}

/// The folder holding the profiles.
fn config_root(opts: &ClientOpts) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &opts.config_dir {
        return Ok(dir.clone());
    }
    let dirs = directories::ProjectDirs::from("org", "securechat", "securechat").context(
        "cannot find your configuration folder (no home directory?): pass --config-dir DIR",
    )?;
    Ok(dirs.config_dir().to_owned())
}

impl Profile {
    /// The profile the options name (nothing is created yet).
    pub fn open(opts: &ClientOpts) -> anyhow::Result<Self> {
        check_name(&opts.profile)?;
        let dir = config_root(opts)?.join("profiles").join(&opts.profile);
        Ok(Self {
            name: opts.profile.clone(),
            dir,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Creates the folder (0700) if needed, and tightens its mode if it exists.
    pub fn ensure_dir(&self) -> anyhow::Result<()> {
        create_private_dir(&self.dir)
    }

    fn read_json<T: DeserializeOwned>(&self, file: &str) -> anyhow::Result<Option<T>> {
        let path = self.path(file);
        let Some(text) = read_optional(&path)? else {
            return Ok(None);
        };
        let value = serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged (not the expected JSON)", path.display()))?;
        Ok(Some(value))
    }

    fn write_json<T: Serialize + ?Sized>(&self, file: &str, value: &T) -> anyhow::Result<()> {
        let text = Zeroizing::new(serde_json::to_string_pretty(value)?);
        self.ensure_dir()?;
        write_private(&self.path(file), text.as_bytes())
    }

    fn remove(&self, file: &str) -> anyhow::Result<()> {
        let path = self.path(file);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }

    pub fn load_keys(&self) -> anyhow::Result<Option<KeyRing>> {
        let path = self.path(KEYS);
        let Some(text) = read_optional(&path)? else {
            return Ok(None);
        };
        let keys = KeyRing::from_local_json(&text)
            .map_err(|e| anyhow::anyhow!("{} is damaged: {e}", path.display()))?;
        Ok(Some(keys))
    }

    pub fn save_keys(&self, keys: &KeyRing) -> anyhow::Result<()> {
        self.ensure_dir()?;
        write_private(&self.path(KEYS), keys.to_local_json().as_bytes())
    }

    pub fn remove_keys(&self) -> anyhow::Result<()> {
        self.remove(KEYS)
    }

    pub fn load_session(&self) -> anyhow::Result<Option<Session>> {
        self.read_json(SESSION)
    }

    pub fn save_session(&self, session: &Session) -> anyhow::Result<()> {
        self.write_json(SESSION, session)
    }

    pub fn remove_session(&self) -> anyhow::Result<()> {
        self.remove(SESSION)
    }

    pub fn load_state(&self) -> anyhow::Result<ChatState> {
        Ok(self.read_json(STATE)?.unwrap_or_default())
    }

    pub fn save_state(&self, state: &ChatState) -> anyhow::Result<()> {
        self.write_json(STATE, state)
    }

    pub fn load_files(&self) -> anyhow::Result<SavedFiles> {
        Ok(self.read_json(FILES)?.unwrap_or_default())
    }

    pub fn save_files(&self, files: &SavedFiles) -> anyhow::Result<()> {
        self.write_json(FILES, files)
    }

    /// Forgets the conversation state (it belonged to another account).
    pub fn reset_state(&self) -> anyhow::Result<()> {
        self.remove(STATE)?;
        self.remove(FILES)
    }

    pub fn load_info(&self) -> anyhow::Result<Option<ProfileInfo>> {
        self.read_json(INFO)
    }

    pub fn save_info(&self, info: &ProfileInfo) -> anyhow::Result<()> {
        self.write_json(INFO, info)
    }
}

/// Reads a whole file, `None` when it does not exist. The text is wiped when dropped.
fn read_optional(path: &Path) -> anyhow::Result<Option<Zeroizing<String>>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(Zeroizing::new(text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Creates a folder and its missing parents with mode 0700; an existing folder is set to 0700.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict the folder {}", dir.display()))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temporary file (mode 0600) in the same folder,
/// flushed to disk, then renamed over `path`.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = write_then_rename(&tmp, path, bytes);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

fn write_then_rename(tmp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(tmp)?;
    #[cfg(unix)]
    {
        // A stale temporary file keeps its old mode: set it again.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)?;
    #[cfg(unix)]
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Make the rename itself durable; not every file system allows syncing a folder.
        if let Ok(dir) = fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path, profile: &str) -> ClientOpts {
        ClientOpts {
            server: None,
            profile: profile.to_owned(),
            config_dir: Some(dir.to_owned()),
            ca_cert: None,
        }
    }

    #[test]
    fn profile_names_cannot_escape_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "..", "../x", "a/b", ".hidden", "x y"] {
            assert!(Profile::open(&opts(dir.path(), bad)).is_err(), "{bad:?}");
        }
        let profile = Profile::open(&opts(dir.path(), "work-2")).unwrap();
        assert_eq!(profile.dir(), dir.path().join("profiles").join("work-2"));
    }

    #[test]
    fn files_are_private_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let profile = Profile::open(&opts(dir.path(), "default")).unwrap();
        assert!(profile.load_keys().unwrap().is_none());
        assert!(profile.load_session().unwrap().is_none());
        let keys = KeyRing::generate();
        profile.save_keys(&keys).unwrap();
        let again = profile.load_keys().unwrap().unwrap();
        assert_eq!(again.user_id(), keys.user_id());
        let mut state = profile.load_state().unwrap();
        state.last_seq = 42;
        profile.save_state(&state).unwrap();
        assert_eq!(profile.load_state().unwrap().last_seq, 42);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&profile.dir().join(KEYS)), 0o600);
            assert_eq!(mode(&profile.dir().join(STATE)), 0o600);
            assert_eq!(mode(profile.dir()), 0o700);
        }
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(profile.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    }

    #[test]
    fn a_damaged_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let profile = Profile::open(&opts(dir.path(), "default")).unwrap();
        profile.ensure_dir().unwrap();
        fs::write(profile.dir().join(STATE), "{not json").unwrap();
        let error = profile.load_state().unwrap_err().to_string();
        assert!(error.contains("state.json is damaged"), "{error}");
    }
}
