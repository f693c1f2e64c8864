//! `spawn_app()` and typed helpers shared by the API tests.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use securechat_crypto::binding::publish_key;
use securechat_crypto::identity::{EncryptionKeyPair, IdentityKeyPair};
use securechat_proto::auth::TokenResponse;
use securechat_proto::b64;
use securechat_proto::ids::UserId;
use securechat_server::blobs::Blobs;
use securechat_server::{setup, AppState, Settings};
use securechat_store::Store;
use securechat_store_postgres::{PostgresOptions, PostgresStore};
use securechat_store_sqlite::SqliteStore;
use securechat_store_tests::{backend_under_test, Backend, TestDatabase};

/// What a server keeps between runs: its data folder (blobs, token secret, the SQLite file)
/// and, on PostgreSQL, its own database. Tests run on the backend `SECURECHAT_TEST_BACKEND`
/// names (SQLite by default).
#[derive(Clone)]
pub struct Data {
    pub dir: Arc<TempDir>,
    database: Database,
}

#[derive(Clone)]
enum Database {
    /// `dir/securechat.db`.
    Sqlite,
    /// A test database of its own on the shared PostgreSQL server.
    Postgres(Arc<TestDatabase>),
    /// A PostgreSQL database the test manages itself (a server it stops and starts).
    PostgresAt(String),
}

impl Data {
    /// A fresh data folder and, on PostgreSQL, a fresh database.
    pub async fn new() -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let database = match backend_under_test() {
            Backend::Sqlite => Database::Sqlite,
            Backend::Postgres => Database::Postgres(Arc::new(
                TestDatabase::new(Backend::Postgres)
                    .await
                    .expect("a PostgreSQL test database"),
            )),
        };
        Self { dir, database }
    }

    /// A fresh data folder and the PostgreSQL database at `url`.
    pub fn postgres_at(url: String) -> Self {
        Self {
            dir: Arc::new(tempfile::tempdir().expect("tempdir")),
            database: Database::PostgresAt(url),
        }
    }

    /// SQLite in `dir/securechat.db`, whatever the backend under test (tests of SQLite's own
    /// behaviour: a full disk, a read-only file).
    pub fn sqlite_in(dir: Arc<TempDir>) -> Self {
        Self {
            dir,
            database: Database::Sqlite,
        }
    }

    /// Whether the store is the SQLite file in the data folder.
    pub fn is_sqlite(&self) -> bool {
        matches!(self.database, Database::Sqlite)
    }

    async fn open_store(&self) -> Arc<dyn Store> {
        match &self.database {
            Database::Sqlite => Arc::new(
                SqliteStore::open(&self.dir.path().join("securechat.db"))
                    .await
                    .expect("store"),
            ),
            Database::Postgres(db) => db.open().await,
            Database::PostgresAt(url) => Arc::new(
                PostgresStore::connect(url, PostgresOptions::default())
                    .await
                    .expect("store"),
            ),
        }
    }
}

/// Whether this is the PostgreSQL pass of the API tests (`SECURECHAT_TEST_BACKEND=postgres`).
/// Tests that choose their own database (SQLite's storage faults, the private PostgreSQL of
/// the outage test) run once, in the default pass, and say so here.
pub fn skipped_in_the_postgres_pass() -> bool {
    let skip = matches!(backend_under_test(), Backend::Postgres);
    if skip {
        eprintln!("skipped: this test picks its own database and runs in the default pass");
    }
    skip
}

/// A running server on a random port with its own data folder.
pub struct TestApp {
    pub base: String,
    pub dir: Arc<TempDir>,
    pub data: Data,
    pub store: Arc<dyn Store>,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Test settings: the defaults, except that loopback is exempt from the IP rule and
/// registrations are open and not limited (tests register and log in many users from
/// 127.0.0.1); IP-rule, registration-mode and registration-limit tests set their own.
pub fn test_settings(dir: PathBuf) -> Settings {
    let mut settings = Settings::new(dir);
    settings.ip_rule.allow = vec!["127.0.0.0/8".parse().expect("cidr")];
    settings.registration_limits.per_ip = 0;
    settings.registration_limits.global = 0;
    settings.registration = securechat_server::settings::RegistrationMode::Open;
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_in(Data::new().await, configure).await
}

/// Starts a server on existing data (restart tests).
pub async fn spawn_in(data: Data, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let blobs = Blobs::open(data.dir.path()).expect("file store");
    spawn_with_blobs(data, blobs, configure).await
}

/// Starts a server on existing data with files in `blobs` (an S3 bucket, say).
pub async fn spawn_with_blobs(
    data: Data,
    blobs: Blobs,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let dir = data.dir.clone();
    let mut settings = test_settings(dir.path().to_owned());
    configure(&mut settings);
    setup::prepare_data_dir(dir.path()).expect("data dir");
    let secret = setup::token_secret(dir.path(), None).expect("secret");
    let store = data.open_store().await;
    let state = AppState::new(settings, store.clone(), blobs, &secret);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(securechat_server::serve(
        listener,
        state.clone(),
        None,
        async {
            let _ = stopped.await;
        },
    ));
    TestApp {
        base: format!("http://{addr}"),
        dir,
        data,
        store,
        state,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    /// Stops the server gracefully and hands back its data.
    pub async fn stop(mut self) -> Data {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("serve");
        }
        self.data.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics_text(&self) -> String {
        Client::new()
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// A client whose connections come from the given loopback address (e.g. 127.0.0.2).
    pub fn client_from(&self, ip: &str) -> Client {
        Client::builder()
            .local_address(ip.parse::<IpAddr>().expect("ip"))
            .build()
            .expect("client")
    }

    pub async fn register(&self, user: &TestUser) -> Response {
        self.register_from(&Client::new(), user).await
    }

    pub async fn register_from(&self, client: &Client, user: &TestUser) -> Response {
        client
            .post(self.url("/api/v1/auth/register"))
            .json(&user.register_body())
            .send()
            .await
            .expect("register request")
    }

    /// Registers and checks it worked.
    pub async fn register_ok(&self, user: &TestUser) {
        let response = self.register(user).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "{:?}",
            response.text().await
        );
    }

    pub async fn login_from(&self, client: &Client, login: &str, password: &str) -> Response {
        client
            .post(self.url("/api/v1/auth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", login),
                ("password", password),
            ])
            .send()
            .await
            .expect("token request")
    }

    pub async fn login(&self, user: &TestUser) -> Response {
        self.login_from(&Client::new(), &user.username, &user.password)
            .await
    }

    /// Logs in and returns the token response.
    pub async fn login_ok(&self, user: &TestUser) -> TokenResponse {
        let response = self.login(user).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("token json")
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        Client::new()
            .post(self.url("/api/v1/auth/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .expect("refresh request")
    }

    pub async fn get_authed(&self, path: &str, token: &str) -> Response {
        Client::new()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("get")
    }

    /// POSTs a JSON body without a token: the status and the JSON answer (`Null` when the
    /// body is empty or not JSON).
    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = Client::new()
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("post");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_authed(&self, path: &str, token: &str, body: &Value) -> Response {
        Client::new()
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("post")
    }

    /// The server's token signing secret (for forging tokens in tests).
    pub fn token_secret(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join(setup::SECRET_FILE)).expect("secret file")
    }
}

/// A user with freshly generated keys.
pub struct TestUser {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub password: String,
    pub identity: IdentityKeyPair,
    pub key: EncryptionKeyPair,
}

impl TestUser {
    /// A user with a unique name derived from `prefix`.
    pub fn generate(prefix: &str) -> Self {
        let suffix: u32 = rand::random::<u32>() % 1_000_000;
        let username = format!("{prefix}{suffix}");
        Self {
            id: UserId::generate(),
            email: format!("{username}@example.org"),
            username,
            password: "correct horse battery".to_owned(),
            identity: IdentityKeyPair::generate(&mut rand::rngs::OsRng),
            key: EncryptionKeyPair::generate(&mut rand::rngs::OsRng),
        }
    }

    pub fn register_body(&self) -> Value {
        let key = publish_key(&self.identity, &self.id, &self.key, now_ms());
        json!({
            "user_id": self.id,
            "username": self.username,
            "email": self.email,
            "password": self.password,
            "identity_key": b64::encode(self.identity.public().to_bytes()),
            "encryption_key": key,
        })
    }
}

pub fn now_ms() -> i64 {
    securechat_server::clock::now_ms()
}

/// Asserts a `403` refusal: its `error` code, and words its `message` contains.
pub fn assert_refused(status: StatusCode, body: &Value, code: &str, words: &str) {
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some(code)),
        "{body}"
    );
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{body}");
}

/// Reads the JSON body of an error and returns its `error` code.
pub async fn error_code(response: Response) -> String {
    let body: Value = response.json().await.expect("error json");
    body["error"].as_str().unwrap_or_default().to_owned()
}

/// A registered, logged-in user driven through the real client library.
pub struct Peer {
    pub chat: securechat_client::chat::Chat,
    pub username: String,
    pub password: String,
}

impl TestApp {
    /// Registers a user with fresh keys and logs them in.
    pub async fn peer(&self, prefix: &str) -> Peer {
        let keys = securechat_client::KeyRing::generate();
        let username = format!("{prefix}{}", rand::random::<u32>() % 1_000_000);
        let password = "correct horse battery".to_owned();
        let api = securechat_client::Api::new(&self.base).expect("api");
        let request = keys
            .registration(&username, &format!("{username}@example.org"))
            .expect("registration");
        api.register(request, &password).await.expect("register");
        api.login(&username, &password).await.expect("login");
        Peer {
            chat: securechat_client::chat::Chat::new(api, keys, Default::default()),
            username,
            password,
        }
    }
}

impl Peer {
    pub fn id(&self) -> UserId {
        self.chat.keys.user_id()
    }

    /// Opens an authenticated WebSocket resuming after `since`.
    pub async fn socket(&self, since: u64) -> securechat_client::Socket {
        let token = self.chat.api.access_token().await.expect("token");
        securechat_client::Socket::connect(self.chat.api.base(), &token, since)
            .await
            .expect("socket")
    }

    /// The same account on a new device: same keys, fresh local state, new session.
    pub async fn new_device(&self) -> Peer {
        let keys = securechat_client::KeyRing::from_local_json(&self.chat.keys.to_local_json())
            .expect("keys");
        let api = securechat_client::Api::new(self.chat.api.base()).expect("api");
        api.login(&self.username, &self.password)
            .await
            .expect("login");
        Peer {
            chat: securechat_client::chat::Chat::new(api, keys, Default::default()),
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }
}

impl Peer {
    /// Logs in again on another server (a restarted one, on the same data folder).
    pub async fn log_in_to(&mut self, app: &TestApp) {
        let api = securechat_client::Api::new(&app.base).expect("api");
        api.login(&self.username, &self.password)
            .await
            .expect("login");
        self.chat.api = api;
    }

    /// Replays the whole stream on a new socket and opens every message: their ids, in
    /// stream order.
    pub async fn stored_message_ids(&mut self) -> Vec<String> {
        let mut socket = self.socket(0).await;
        let mut ids = Vec::new();
        loop {
            match next_event(&mut socket).await {
                securechat_proto::ws::ServerEvent::Message {
                    from, ts, envelope, ..
                } => {
                    let opened = self.chat.open(from, ts, &envelope).await.expect("open");
                    ids.push(opened.msg_id.to_b64());
                }
                securechat_proto::ws::ServerEvent::CaughtUp { .. } => break,
                _ => {}
            }
        }
        socket.close().await;
        ids
    }
}

/// The next event within 5 s (a test that waits longer has failed).
pub async fn next_event(
    socket: &mut securechat_client::Socket,
) -> securechat_proto::ws::ServerEvent {
    tokio::time::timeout(std::time::Duration::from_secs(5), socket.next())
        .await
        .expect("no event within 5 s")
        .expect("socket closed")
        .expect("event")
}

/// Skips events (presence, receipts, …) until one matches; 10 s at most.
pub async fn wait_for<T>(
    socket: &mut securechat_client::Socket,
    pick: impl FnMut(securechat_proto::ws::ServerEvent) -> Option<T>,
) -> T {
    wait_for_within(socket, std::time::Duration::from_secs(10), pick).await
}

/// Skips events until one matches, for at most `patience`.
pub async fn wait_for_within<T>(
    socket: &mut securechat_client::Socket,
    patience: std::time::Duration,
    mut pick: impl FnMut(securechat_proto::ws::ServerEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let event = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("the expected event did not come within {patience:?}"))
            .expect("socket closed")
            .expect("event");
        if let Some(found) = pick(event) {
            return found;
        }
    }
}
