//! What a command works with: the profile and server it talks to ([`Context`]), and for
//! commands that read or send messages, the logged-in account with its keys ([`Client`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::bail;

use securechat_client::chat::Chat;
use securechat_client::{Api, ClientError, TlsTrust};
use securechat_proto::ids::UserId;
use securechat_proto::username::Username;
use securechat_proto::users::UserSummary;

use super::errors::explain;
use super::profile::{Profile, ProfileInfo, SavedFiles};
use super::shared_session::ProfileSession;
use super::{ClientOpts, DEFAULT_SERVER};

/// The profile and the server of one command.
pub struct Context {
    pub profile: Profile,
    pub server: String,
    pub info: Option<ProfileInfo>,
    /// The certificate authorities trusted for an https:// server.
    pub trust: TlsTrust,
}

fn check_server(server: &str) -> anyhow::Result<()> {
    let rest = server
        .strip_prefix("http://")
        .or_else(|| server.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(()),
        _ => bail!(
            "invalid server URL {server:?}: expected http://HOST[:PORT] or https://HOST[:PORT]"
        ),
    }
}

impl Context {
    /// The profile the options name and the server to use: `--server`, else the one the
    /// profile logged in to, else the default.
    pub fn new(opts: &ClientOpts) -> anyhow::Result<Self> {
        let profile = Profile::open(opts)?;
        let info = profile.load_info()?;
        let server = opts
            .server
            .clone()
            .or_else(|| info.as_ref().map(|i| i.server.clone()))
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        check_server(&server)?;
        let trust = match &opts.ca_cert {
            Some(file) => {
                TlsTrust::with_ca_file(file).map_err(|e| anyhow::anyhow!("--ca-cert: {e}"))?
            }
            None => TlsTrust::system()?,
        };
        Ok(Self {
            profile,
            server: server.trim_end_matches('/').to_owned(),
            info,
            trust,
        })
    }

    /// A client error, said for the user.
    pub fn explain(&self, error: ClientError) -> anyhow::Error {
        explain(error, &self.server)
    }

    /// The `--profile` option to repeat in hints (empty for the default profile).
    pub fn profile_flag(&self) -> String {
        if self.profile.name() == "default" {
            String::new()
        } else {
            format!(" --profile {}", self.profile.name())
        }
    }

    pub fn not_logged_in(&self) -> anyhow::Error {
        anyhow::anyhow!(
            "not logged in (profile \"{}\"): run `securechat login{} --username NAME` first",
            self.profile.name(),
            self.profile_flag()
        )
    }

    pub fn no_keys(&self) -> anyhow::Error {
        anyhow::anyhow!(
            "no keys for this account in profile \"{}\": to read and send messages, run \
             `securechat keys import{} FILE` with a key file made by `securechat keys export` \
             on a device that has them",
            self.profile.name(),
            self.profile_flag()
        )
    }

    /// An API client without a session.
    pub fn api(&self) -> anyhow::Result<Api> {
        Api::trusting(&self.server, self.trust.clone()).map_err(|e| self.explain(e))
    }

    /// An API client with the saved session, shared with the profile's other processes: it
    /// refreshes under the profile's lock and saves every new token pair itself.
    pub fn logged_in(&self) -> anyhow::Result<Api> {
        let session = self
            .profile
            .load_session()?
            .ok_or_else(|| self.not_logged_in())?;
        let api = self.api()?.resuming(session);
        Ok(api.with_store(Arc::new(ProfileSession::new(self.profile.clone()))))
    }

    /// The logged-in account with its keys and conversation state.
    pub fn client(self) -> anyhow::Result<Client> {
        let api = self.logged_in()?;
        let keys = self.profile.load_keys()?.ok_or_else(|| self.no_keys())?;
        let session_user = api.session().map(|s| s.user_id);
        if session_user != Some(keys.user_id()) {
            bail!(
                "profile \"{}\" holds the keys of user {} but is logged in as another user: \
                 log in to the keys' account, or use another --profile",
                self.profile.name(),
                keys.user_id()
            );
        }
        let state = self.profile.load_state()?;
        let files = self.profile.load_files()?;
        Ok(Client {
            ctx: self,
            chat: Chat::new(api, keys, state),
            files,
            names: HashMap::new(),
            looked_up: HashSet::new(),
        })
    }
}

/// Finds a user by username (any case or compatible form) or by user id.
pub fn find_user<'a>(users: &'a [UserSummary], name: &str) -> Option<&'a UserSummary> {
    if let Ok(canonical) = Username::parse(name) {
        if let Some(user) = users.iter().find(|u| u.username == canonical.as_str()) {
            return Some(user);
        }
    }
    let id = name.parse::<UserId>().ok()?;
    users.iter().find(|u| u.id == id)
}

/// A logged-in account ready to send and receive.
pub struct Client {
    pub ctx: Context,
    pub chat: Chat,
    /// File messages, to download their files later.
    pub files: SavedFiles,
    /// Usernames by id, from the directory.
    names: HashMap<UserId, String>,
    /// Ids already looked up in a fresh directory.
    looked_up: HashSet<UserId>,
}

impl Client {
    pub fn me(&self) -> UserId {
        self.chat.keys.user_id()
    }

    pub fn explain(&self, error: ClientError) -> anyhow::Error {
        self.ctx.explain(error)
    }

    /// Saves the conversation state and the file messages (the session saves itself when
    /// it is refreshed).
    pub fn save(&self) -> anyhow::Result<()> {
        self.ctx.profile.save_state(&self.chat.state)?;
        self.ctx.profile.save_files(&self.files)
    }

    /// Saves whatever happened, then returns the command's result.
    pub fn finish<T>(&self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        let saved = self.save();
        match (result, saved) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(e)) => Err(e),
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(save)) => {
                eprintln!("warning: could not save the local state: {save:#}");
                Err(e)
            }
        }
    }

    /// The user directory, fetched now (and remembered for names).
    pub async fn users(&mut self) -> anyhow::Result<Vec<UserSummary>> {
        let users = self
            .chat
            .api
            .users()
            .await
            .map_err(|e| self.ctx.explain(e))?;
        for user in &users {
            self.names.insert(user.id, user.username.clone());
        }
        Ok(users)
    }

    /// Resolves a username (or user id) to a user of the server.
    pub async fn find_user(&mut self, name: &str) -> anyhow::Result<UserSummary> {
        let users = self.users().await?;
        find_user(&users, name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no user named {name:?} on {}", self.ctx.server))
    }

    /// Resolves a username to another user (refusing oneself).
    pub async fn find_peer(&mut self, name: &str) -> anyhow::Result<UserSummary> {
        let user = self.find_user(name).await?;
        if user.id == self.me() {
            bail!("{name:?} is you: conversations are with another user");
        }
        Ok(user)
    }

    /// A user's name for display; the directory is fetched again once for an unknown id.
    pub async fn name_of(&mut self, id: UserId) -> String {
        if !self.names.contains_key(&id) && self.looked_up.insert(id) {
            let _ = self.users().await;
        }
        self.names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}
