//! The REST API, with the session's tokens refreshed on demand.

use std::sync::Mutex;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use securechat_proto::auth::{
    ChangePasswordRequest, Password, RegisterRequest, RegisterResponse, TokenRequest, TokenResponse,
};
use securechat_proto::ids::UserId;
use securechat_proto::keys::{EncryptionKeyRecord, NewEncryptionKey, UserKeys};
use securechat_proto::messages::{FileUploaded, HistoryPage};
use securechat_proto::users::UserSummary;

use crate::{now_ms, ClientError};

/// Refresh the access token when less than this remains (ms).
const REFRESH_MARGIN_MS: i64 = 60_000;

/// A logged-in session's tokens. Persisted by the CLI (mode 0600); never printed.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    pub user_id: UserId,
    pub access_token: String,
    pub refresh_token: String,
    /// When the access token expires, Unix ms.
    pub access_expires_at: i64,
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
        })
    }
}

/// A REST client for one server.
pub struct Api {
    http: reqwest::Client,
    base: String,
    session: Mutex<Option<Session>>,
}

#[derive(Deserialize)]
struct AnyError {
    error: String,
    #[serde(alias = "error_description")]
    message: Option<String>,
}

async fn check(response: Response) -> Result<Response, ClientError> {
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
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("securechat-client/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            session: Mutex::new(None),
        })
    }

    /// A client using a prepared HTTP client (e.g. bound to a source address).
    pub fn with_http(base: &str, http: reqwest::Client) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            session: Mutex::new(None),
        }
    }

    /// A client resuming a saved session.
    pub fn with_session(base: &str, session: Session) -> Result<Self, ClientError> {
        let api = Self::new(base)?;
        api.set_session(Some(session));
        Ok(api)
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
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

    fn set_session(&self, session: Option<Session>) {
        *self.lock() = session;
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /api/v1/auth/register`.
    pub async fn register(
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

    async fn token(&self, request: &TokenRequest) -> Result<Session, ClientError> {
        let response = self
            .http
            .post(self.url("/api/v1/auth/token"))
            .form(request)
            .send()
            .await?;
        let tokens: TokenResponse = check(response).await?.json().await?;
        let session = Session::from_response(tokens)?;
        self.set_session(Some(session.clone()));
        Ok(session)
    }

    /// Logs in with a username or email and password.
    pub async fn login(&self, login: &str, password: &str) -> Result<Session, ClientError> {
        self.token(&TokenRequest {
            grant_type: "password".to_owned(),
            username: Some(login.to_owned()),
            password: Some(Password(password.to_owned())),
            ..TokenRequest::default()
        })
        .await
    }

    /// Exchanges the refresh token for new tokens (the refresh token rotates).
    pub async fn refresh(&self) -> Result<Session, ClientError> {
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

    /// A valid access token, refreshed first when it is about to expire.
    pub async fn access_token(&self) -> Result<String, ClientError> {
        let session = self.session().ok_or(ClientError::NotLoggedIn)?;
        if session.access_expires_at - now_ms() > REFRESH_MARGIN_MS {
            return Ok(session.access_token);
        }
        Ok(self.refresh().await?.access_token)
    }

    /// Sends an authenticated request; on 401 refreshes once and retries.
    async fn send(
        &self,
        method: Method,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, ClientError> {
        let token = self.access_token().await?;
        let request = build(self.http.request(method.clone(), self.url(path)));
        let response = request.bearer_auth(token).send().await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return check(response).await;
        }
        let token = self.refresh().await?.access_token;
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

    /// Changes the password; every other session is signed out.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<(), ClientError> {
        let body = ChangePasswordRequest {
            current_password: Password(current.to_owned()),
            new_password: Password(new.to_owned()),
        };
        self.send(Method::POST, "/api/v1/auth/password", |r| r.json(&body))
            .await?;
        Ok(())
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

    /// Uploads encrypted bytes for `to`.
    pub async fn upload(
        &self,
        to: UserId,
        ciphertext: Vec<u8>,
    ) -> Result<FileUploaded, ClientError> {
        let path = format!("/api/v1/files?to={to}");
        Ok(self
            .send(Method::POST, &path, |r| {
                r.header("content-type", "application/octet-stream")
                    .body(ciphertext.clone())
            })
            .await?
            .json()
            .await?)
    }

    /// Downloads a file's encrypted bytes.
    pub async fn download(&self, file_id: &str) -> Result<Vec<u8>, ClientError> {
        let response = self
            .send(Method::GET, &format!("/api/v1/files/{file_id}"), |r| r)
            .await?;
        Ok(response.bytes().await?.to_vec())
    }
}
