//! The REST API, with the session's tokens refreshed on demand.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use securechat_proto::auth::{
    ForgotPasswordRequest, RegisterRequest, RegisterResponse, ServerInfo, TokenRequest,
    TokenResponse,
};
use securechat_proto::groups::{GroupChangeStored, GroupChanges, GroupSummary, SignedGroupChange};
use securechat_proto::ids::UserId;
use securechat_proto::keys::{EncryptionKeyRecord, NewEncryptionKey, UserKeys};
use securechat_proto::messages::{FileUploaded, HistoryPage};
use securechat_proto::users::UserSummary;

use crate::{now_ms, ClientError, TlsTrust};
use uuid::Uuid;

/// Refresh the access token when less than this remains (ms).
const REFRESH_MARGIN_MS: i64 = 60_000;
/// How long a refresh waits for another process holding the session lock.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// How often the session lock is tried meanwhile.
const LOCK_POLL: Duration = Duration::from_millis(20);

/// Where a session is kept for other processes (the CLI's profile folder). Refresh tokens
/// rotate and the server treats a rotated token presented again as theft, so processes that
/// share a session must refresh one at a time and each must use the token the last one
/// stored: with a store, [`Api`] refreshes only while holding its lock, reads the stored
/// session first, and stores what it gets before letting go.
pub trait SessionStore: Send + Sync {
    /// Tries to take the exclusive lock (across processes); `None` while another holds it.
    /// The lock is released when the returned guard is dropped.
    fn try_lock(&self) -> Result<Option<Box<dyn Send>>, ClientError>;
    /// The stored session (read under the lock).
    fn load(&self) -> Result<Option<Session>, ClientError>;
    /// Stores a session (under the lock).
    fn save(&self, session: &Session) -> Result<(), ClientError>;
}

/// Why a refresh is wanted.
enum Renewal {
    /// The access token is about to expire.
    Expiring,
    /// The server refused this access token.
    Refused(String),
}

/// A logged-in session's tokens. Persisted by the CLI (mode 0600); never printed.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    pub user_id: UserId,
    pub access_token: String,
    pub refresh_token: String,
    /// When the access token expires, Unix ms.
    pub access_expires_at: i64,
    /// The account logged in with OPAQUE: its password is never sent to the server.
    #[serde(default)]
    pub opaque: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl Session {
    fn from_response(response: TokenResponse) -> Result<Self, ClientError> {
        Ok(Self {
            user_id: response.user_id,
            refresh_token: response
                .refresh_token
                .ok_or_else(|| ClientError::Invalid("no refresh token in the response".into()))?,
            access_expires_at: now_ms() + i64::try_from(response.expires_in).unwrap_or(0) * 1000,
            access_token: response.access_token,
            opaque: false,
        })
    }
}

/// Whether the session's access token has more than the refresh margin left.
fn fresh(session: &Session) -> bool {
    session.access_expires_at - now_ms() > REFRESH_MARGIN_MS
}

/// Whether two token pairs belong to one server session: same user, and the same `sid` claim
/// in their access tokens (read, not verified: it only tells this client's sessions apart).
fn same_session(a: &Session, b: &Session) -> bool {
    a.user_id == b.user_id && session_id(&a.access_token) == session_id(&b.access_token)
}

/// The `sid` claim of a JWT access token.
fn session_id(access_token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Claims {
        sid: String,
    }
    let payload = access_token.split('.').nth(1)?;
    let json = securechat_proto::b64::decode(payload).ok()?;
    serde_json::from_slice::<Claims>(&json).ok().map(|c| c.sid)
}

/// Takes the store's lock, waiting for another process that holds it.
async fn lock(store: &dyn SessionStore) -> Result<Box<dyn Send>, ClientError> {
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    loop {
        if let Some(guard) = store.try_lock()? {
            return Ok(guard);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ClientError::SessionStore(
                format!(
                    "another process held the session lock for over {} s",
                    LOCK_WAIT.as_secs()
                )
                .into(),
            ));
        }
        tokio::time::sleep(LOCK_POLL).await;
    }
}

/// A REST client for one server.
pub struct Api {
    pub(crate) http: reqwest::Client,
    /// The certificate authorities trusted for `https://` (and by sockets opened alongside).
    trust: TlsTrust,
    base: String,
    session: Mutex<Option<Session>>,
    store: Option<Arc<dyn SessionStore>>,
}

#[derive(Deserialize)]
struct AnyError {
    error: String,
    #[serde(alias = "error_description")]
    message: Option<String>,
}

pub(crate) async fn check(response: Response) -> Result<Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let (code, message) = match serde_json::from_str::<AnyError>(&text) {
        Ok(e) => (e.error, e.message.unwrap_or_default()),
        Err(_) => ("http".to_owned(), text),
    };
    Err(ClientError::Http {
        status: status.as_u16(),
        code,
        message,
    })
}

impl Api {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`), trusting the
    /// system's certificate authorities.
    pub fn new(base: &str) -> Result<Self, ClientError> {
        Self::trusting(base, TlsTrust::system()?)
    }

    /// A client for the server at `base` trusting the certificate authorities of `trust`.
    pub fn trusting(base: &str, trust: TlsTrust) -> Result<Self, ClientError> {
        let http = trust
            .http_builder()
            .user_agent(concat!("securechat-client/", env!("CARGO_PKG_VERSION")))
            // The server ends an idle keep-alive connection after 10 s (its header timeout);
            // a request sent on one just as it closes fails ("error sending request"). Idle
            // connections are given up here first.
            .pool_idle_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            http,
            trust,
            base: base.trim_end_matches('/').to_owned(),
            session: Mutex::new(None),
            store: None,
        })
    }

    /// A client using a prepared HTTP client (e.g. bound to a source address); sockets opened
    /// for it trust the system's certificate authorities.
    pub fn with_http(base: &str, http: reqwest::Client) -> Result<Self, ClientError> {
        Ok(Self {
            http,
            trust: TlsTrust::system()?,
            base: base.trim_end_matches('/').to_owned(),
            session: Mutex::new(None),
            store: None,
        })
    }

    /// A client resuming a saved session.
    pub fn with_session(base: &str, session: Session) -> Result<Self, ClientError> {
        Ok(Self::new(base)?.resuming(session))
    }

    /// This client, resuming a saved session.
    #[must_use]
    pub fn resuming(self, session: Session) -> Self {
        self.set_session(Some(session));
        self
    }

    /// Keeps the session in `store`, shared with other processes: refreshes are serialised
    /// through its lock and every new token pair is stored there (see [`SessionStore`]).
    #[must_use]
    pub fn with_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The certificate authorities this client trusts (for sockets to the same server).
    pub fn trust(&self) -> &TlsTrust {
        &self.trust
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Session>> {
        self.session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current session (after any refresh), to persist it.
    pub fn session(&self) -> Option<Session> {
        self.lock().clone()
    }

    pub(crate) fn set_session(&self, session: Option<Session>) {
        *self.lock() = session;
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /api/v1/auth/register` with the request as it is (see [`Api::register`]).
    pub async fn register_request(
        &self,
        request: &RegisterRequest,
    ) -> Result<RegisterResponse, ClientError> {
        let response = self
            .http
            .post(self.url("/api/v1/auth/register"))
            .json(request)
            .send()
            .await?;
        Ok(check(response).await?.json().await?)
    }

    /// A token request; the new session is this client's. Returns the server's answer too
    /// (its `opaque_upgrade`).
    pub(crate) async fn token_answer(
        &self,
        request: &TokenRequest,
    ) -> Result<(Session, TokenResponse), ClientError> {
        let response = self
            .http
            .post(self.url("/api/v1/auth/token"))
            .form(request)
            .send()
            .await?;
        let tokens: TokenResponse = check(response).await?.json().await?;
        let mut session = Session::from_response(tokens.clone())?;
        // A refresh keeps what the login was.
        session.opaque = match request.grant_type.as_str() {
            "refresh_token" => self.session().is_some_and(|s| s.opaque),
            grant => grant == securechat_proto::auth::OPAQUE_GRANT,
        };
        self.set_session(Some(session.clone()));
        Ok((session, tokens))
    }

    async fn token(&self, request: &TokenRequest) -> Result<Session, ClientError> {
        Ok(self.token_answer(request).await?.0)
    }

    /// Exchanges the refresh token for new tokens (the refresh token rotates). With a
    /// [`SessionStore`], a newer session another process stored is used instead when its
    /// access token is still good.
    pub async fn refresh(&self) -> Result<Session, ClientError> {
        self.renew(Renewal::Expiring).await
    }

    /// A valid access token, refreshed first when it is about to expire.
    pub async fn access_token(&self) -> Result<String, ClientError> {
        let session = self.session().ok_or(ClientError::NotLoggedIn)?;
        if fresh(&session) {
            return Ok(session.access_token);
        }
        Ok(self.renew(Renewal::Expiring).await?.access_token)
    }

    /// One refresh grant with this client's refresh token.
    async fn refresh_grant(&self) -> Result<Session, ClientError> {
        let refresh = self
            .session()
            .ok_or(ClientError::NotLoggedIn)?
            .refresh_token;
        self.token(&TokenRequest {
            grant_type: "refresh_token".to_owned(),
            refresh_token: Some(refresh),
            ..TokenRequest::default()
        })
        .await
    }

    async fn renew(&self, why: Renewal) -> Result<Session, ClientError> {
        let Some(store) = self.store.clone() else {
            return self.refresh_grant().await;
        };
        let _lock = lock(store.as_ref()).await?;
        let mine = self.session().ok_or(ClientError::NotLoggedIn)?;
        let stored = store.load()?.filter(|s| same_session(s, &mine));
        let Some(stored) = stored else {
            // Logged out, or logged in again (another session) meanwhile: nothing to share,
            // and nothing to overwrite.
            return self.refresh_grant().await;
        };
        if stored.refresh_token != mine.refresh_token {
            // Another process refreshed: its refresh token is the only one still valid.
            self.set_session(Some(stored.clone()));
            let usable = match &why {
                Renewal::Expiring => fresh(&stored),
                Renewal::Refused(token) => {
                    stored.access_token != *token && stored.access_expires_at > now_ms()
                }
            };
            if usable {
                return Ok(stored);
            }
        }
        let renewed = self.refresh_grant().await?;
        store.save(&renewed)?;
        Ok(renewed)
    }

    /// Sends an authenticated request; on 401 refreshes once and retries.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, ClientError> {
        let token = self.access_token().await?;
        let request = build(self.http.request(method.clone(), self.url(path)));
        let response = request.bearer_auth(&token).send().await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return check(response).await;
        }
        let token = self.renew(Renewal::Refused(token)).await?.access_token;
        let request = build(self.http.request(method, self.url(path)));
        check(request.bearer_auth(token).send().await?).await
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        Ok(self.send(Method::GET, path, |r| r).await?.json().await?)
    }

    /// Logs out: the session is revoked on the server and forgotten here.
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.send(Method::POST, "/api/v1/auth/logout", |r| r)
            .await?;
        self.set_session(None);
        Ok(())
    }

    /// Asks the server to mail a reset link (answered the same whether or not the account
    /// exists; 404 when the server sends no mail).
    pub async fn forgot_password(&self, login: &str) -> Result<(), ClientError> {
        let body = ForgotPasswordRequest {
            login: login.to_owned(),
        };
        let response = self
            .http
            .post(self.url("/api/v1/auth/password/forgot"))
            .json(&body)
            .send()
            .await?;
        check(response).await?;
        Ok(())
    }

    /// `GET /api/v1/server`: the version and who may register.
    pub async fn server_info(&self) -> Result<ServerInfo, ClientError> {
        let response = self.http.get(self.url("/api/v1/server")).send().await?;
        Ok(check(response).await?.json().await?)
    }

    /// Every user, with an online flag.
    pub async fn users(&self) -> Result<Vec<UserSummary>, ClientError> {
        self.get_json("/api/v1/users").await
    }

    /// The users online now.
    pub async fn online_users(&self) -> Result<Vec<UserSummary>, ClientError> {
        self.get_json("/api/v1/users/online").await
    }

    /// A user's public keys.
    pub async fn user_keys(&self, user: UserId) -> Result<UserKeys, ClientError> {
        self.get_json(&format!("/api/v1/users/{user}/keys")).await
    }

    /// Publishes a new encryption key.
    pub async fn publish_key(
        &self,
        key: &NewEncryptionKey,
    ) -> Result<EncryptionKeyRecord, ClientError> {
        Ok(self
            .send(Method::POST, "/api/v1/me/keys", |r| r.json(key))
            .await?
            .json()
            .await?)
    }

    /// One page of the conversation with `peer`, newest first.
    pub async fn history(
        &self,
        peer: UserId,
        before: Option<u64>,
        limit: u32,
    ) -> Result<HistoryPage, ClientError> {
        let mut path = format!("/api/v1/conversations/{peer}/messages?limit={limit}");
        if let Some(before) = before {
            path.push_str(&format!("&before={before}"));
        }
        self.get_json(&path).await
    }

    /// One page of a group's messages I received, newest first.
    pub async fn group_history(
        &self,
        group: Uuid,
        before: Option<u64>,
        limit: u32,
    ) -> Result<HistoryPage, ClientError> {
        let mut path = format!("/api/v1/groups/{group}/messages?limit={limit}");
        if let Some(before) = before {
            path.push_str(&format!("&before={before}"));
        }
        self.get_json(&path).await
    }

    /// The groups I am a member of, with each one's last change seq.
    pub async fn my_groups(&self) -> Result<Vec<GroupSummary>, ClientError> {
        self.get_json("/api/v1/groups").await
    }

    /// A group's membership changes from `from` on.
    pub async fn group_changes(&self, group: Uuid, from: u64) -> Result<GroupChanges, ClientError> {
        self.get_json(&format!("/api/v1/groups/{group}/changes?from={from}"))
            .await
    }

    /// Submits the next change of a group's chain (`409 group_conflict` when another came
    /// first).
    pub async fn post_group_change(
        &self,
        group: Uuid,
        change: &SignedGroupChange,
    ) -> Result<GroupChangeStored, ClientError> {
        let path = format!("/api/v1/groups/{group}/changes");
        Ok(self
            .send(Method::POST, &path, |r| r.json(change))
            .await?
            .json()
            .await?)
    }

    /// Uploads an encrypted file for a group's members.
    pub async fn upload_for_group(
        &self,
        group: Uuid,
        ciphertext: Vec<u8>,
    ) -> Result<FileUploaded, ClientError> {
        self.upload_to(&format!("/api/v1/files?group={group}"), ciphertext)
            .await
    }

    async fn upload_to(
        &self,
        path: &str,
        ciphertext: Vec<u8>,
    ) -> Result<FileUploaded, ClientError> {
        Ok(self
            .send(Method::POST, path, |r| {
                r.header("content-type", "application/octet-stream")
                    .body(ciphertext.clone())
            })
            .await?
            .json()
            .await?)
    }

    /// Uploads encrypted bytes for `to`.
    pub async fn upload(
        &self,
        to: UserId,
        ciphertext: Vec<u8>,
    ) -> Result<FileUploaded, ClientError> {
        self.upload_to(&format!("/api/v1/files?to={to}"), ciphertext)
            .await
    }

    /// Downloads a file's encrypted bytes.
    pub async fn download(&self, file_id: &str) -> Result<Vec<u8>, ClientError> {
        let response = self
            .send(Method::GET, &format!("/api/v1/files/{file_id}"), |r| r)
            .await?;
        Ok(response.bytes().await?.to_vec())
    }
}
