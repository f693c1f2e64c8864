//! Wire compatibility with earlier releases (docs/API.md, *Stability*).
//!
//! `testdata/wire/v1/<release>.json` holds what a client of that release really sent and
//! received: every HTTP request and response and every WebSocket frame of one scripted chat
//! session, recorded through a proxy between the release's own client library
//! (`crates/client`) and its server. `recorded_sessions_of_earlier_releases_still_work`
//! replays each recording against today's server over real HTTP and real WebSockets:
//!
//! - the recorded accounts are put into the store as that release's server stored them (a
//!   recorded `user_id` is a UUIDv7 of its day, which registration refuses a day later);
//! - every recorded request is sent again, byte for byte where possible: a JSON body as
//!   recorded, a form or binary body as recorded, tokens and file ids the recording got
//!   from the server replaced by those this run gets. A registration body keeps its recorded
//!   members, with fresh values (a new account, as the user id must be of today);
//! - every recorded client frame is sent again on its connection, in the recorded order;
//! - the answers must have the recorded status, and every answer and server frame the
//!   recorded shape: each member the recording holds is there with the same JSON type
//!   (recursively), and enumerated members (`type`, `code`, `reason`, `error`, `token_type`)
//!   have the recorded value. Frames of a type the release never received fail the test
//!   (its client refused unknown frame types), as does a frame a recorded step waited for
//!   that does not come.
//!
//! New members and new routes pass: that is what "additive within a version" allows. A
//! renamed, removed or retyped member fails, as the `presence` change of November did.
//!
//! The recordings are made at a release, never in CI: `record_a_session_of_this_release`
//! (ignored) writes `testdata/wire/v1/<this version>.json` when run by hand
//! (`cargo test -p securechat-server --test api wire::record -- --ignored`).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts as _, Request, State};
use axum::http::header;
use axum::response::{IntoResponse as _, Response};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message as TMessage;

use securechat_client::chat::Chat;
use securechat_client::socket::ws_url;
use securechat_client::{Api, KeyRing, Socket};
use securechat_crypto::binding::{parse_identity_key, verify_published_key};
use securechat_proto::auth::RegisterRequest;
use securechat_proto::b64;
use securechat_proto::email::Email;
use securechat_proto::keys::KeyStatus;
use securechat_proto::username::Username;
use securechat_proto::ws::{ClientFrame, ServerEvent};
use securechat_store::model::{Credential, EncryptionKeyRow, NewUser};

use crate::helpers::{now_ms, spawn_app, wait_for, TestApp, TestUser};

/// One recorded session.
#[derive(Debug, Serialize, Deserialize)]
struct Recording {
    /// The release (`CARGO_PKG_VERSION`) that was recorded.
    release: String,
    /// How it was recorded.
    note: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    Http(Exchange),
    Ws(WsStep),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Exchange {
    method: String,
    /// Path and query.
    path: String,
    /// `content-type` and `authorization`, as sent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<Body>,
    status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response: Option<Body>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Body {
    Json(Value),
    Text(String),
    /// base64url.
    Bytes(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WsStep {
    /// Which connection of the session (numbered from 1 in the order they were opened).
    conn: u32,
    #[serde(flatten)]
    what: WsWhat,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WsWhat {
    /// A client frame, exactly as sent.
    Client(String),
    /// A server frame as received.
    Server(Value),
    /// The connection ended; `client` or `server` closed it.
    Close(String),
}

fn wire_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wire/v1")
}

// ---------------------------------------------------------------------------------------
// Shapes

/// Members whose value, not only type, old clients depend on.
const ENUMERATED: &[&str] = &["type", "code", "reason", "error", "token_type"];

/// Checks that `got` has `recorded`'s shape; returns what differs, at `path`.
fn conforms(recorded: &Value, got: &Value, path: &str) -> Result<(), String> {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    match (recorded, got) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, value) in want {
                let here = format!("{path}.{key}");
                let Some(other) = have.get(key) else {
                    return Err(format!("{here} is missing"));
                };
                if ENUMERATED.contains(&key.as_str()) && value.is_string() && value != other {
                    return Err(format!("{here} was {value}, now {other}"));
                }
                conforms(value, other, &here)?;
            }
            Ok(())
        }
        (Value::Array(want), Value::Array(have)) => match want.first() {
            // The API's arrays hold one kind of item: each one must have the first's shape.
            Some(first) => have
                .iter()
                .enumerate()
                .try_for_each(|(i, item)| conforms(first, item, &format!("{path}[{i}]"))),
            None => Ok(()),
        },
        (want, have) if kind(want) == kind(have) => Ok(()),
        (want, have) => Err(format!(
            "{path} was {}, now {} ({have})",
            kind(want),
            kind(have)
        )),
    }
}

#[test]
fn a_changed_member_does_not_conform() {
    let old = serde_json::json!({"type": "presence", "online": ["a"], "offline": []});
    let batched =
        serde_json::json!({"type": "presence", "online": ["b", "c"], "offline": ["d"], "new": 1});
    assert_eq!(conforms(&old, &batched, "$"), Ok(()));
    let single = serde_json::json!({"type": "presence", "user_id": "a", "online": true});
    assert!(conforms(&old, &single, "$").is_err());
    let mut single_with_lists = single.clone();
    single_with_lists["offline"] = serde_json::json!([]);
    assert_eq!(
        conforms(&old, &single_with_lists, "$"),
        Err("$.online was an array, now a boolean (true)".to_owned())
    );
    let error = serde_json::json!({"type": "error", "code": "not_found", "message": "x"});
    let other = serde_json::json!({"type": "error", "code": "forbidden", "message": "x"});
    assert!(conforms(&error, &other, "$").is_err());
    assert!(conforms(
        &serde_json::json!({"seq": 1}),
        &serde_json::json!({"seq": "1"}),
        "$"
    )
    .is_err());
    assert!(conforms(&serde_json::json!({"seq": 1}), &serde_json::json!({}), "$").is_err());
}

// ---------------------------------------------------------------------------------------
// Recording

/// A proxy in front of a server that records every exchange and frame.
struct Recorder {
    upstream: String,
    http: reqwest::Client,
    steps: Mutex<Vec<Step>>,
    conns: Mutex<u32>,
}

impl Recorder {
    fn steps(&self) -> std::sync::MutexGuard<'_, Vec<Step>> {
        self.steps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, step: Step) {
        self.steps().push(step);
    }

    /// Takes the next place for a step that completes later (an HTTP exchange is placed
    /// when its request arrives, not when its answer does).
    fn reserve(&self) -> usize {
        let mut steps = self.steps();
        steps.push(Step::Ws(WsStep {
            conn: 0,
            what: WsWhat::Close("pending".to_owned()),
        }));
        steps.len() - 1
    }
}

fn body_of(content_type: Option<&str>, bytes: &[u8]) -> Option<Body> {
    if bytes.is_empty() {
        return None;
    }
    let content_type = content_type.unwrap_or_default();
    if content_type.starts_with("application/json") {
        if let Ok(value) = serde_json::from_slice(bytes) {
            return Some(Body::Json(value));
        }
    }
    if content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.starts_with("text/")
    {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return Some(Body::Text(text.to_owned()));
        }
    }
    Some(Body::Bytes(b64::encode(bytes)))
}

async fn proxy(State(rec): State<Arc<Recorder>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    if parts.headers.contains_key(header::UPGRADE) {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => upgrade.on_upgrade(move |socket| relay(rec, socket)),
            Err(rejection) => rejection.into_response(),
        };
    }
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("request body");
    let place = rec.reserve();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let mut forward = rec
        .http
        .request(parts.method.clone(), format!("{}{path}", rec.upstream));
    let mut headers = BTreeMap::new();
    for name in [header::CONTENT_TYPE, header::AUTHORIZATION] {
        if let Some(value) = parts.headers.get(&name) {
            forward = forward.header(&name, value);
            headers.insert(
                name.as_str().to_owned(),
                value.to_str().expect("header text").to_owned(),
            );
        }
    }
    let answer = forward.body(bytes.to_vec()).send().await.expect("upstream");
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let answer_bytes = answer.bytes().await.expect("upstream body");
    rec.steps()[place] = Step::Http(Exchange {
        method: parts.method.as_str().to_owned(),
        path,
        body: body_of(headers.get("content-type").map(String::as_str), &bytes),
        headers,
        status: status.as_u16(),
        response: body_of(
            content_type.as_ref().and_then(|v| v.to_str().ok()),
            &answer_bytes,
        ),
    });
    let mut response = (status, answer_bytes).into_response();
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

async fn relay(rec: Arc<Recorder>, client: WebSocket) {
    let conn = {
        let mut conns = rec
            .conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *conns += 1;
        *conns
    };
    let (upstream, _) = tokio_tungstenite::connect_async(ws_url(&rec.upstream))
        .await
        .expect("upstream socket");
    let (mut up_tx, mut up_rx) = upstream.split();
    let (mut client_tx, mut client_rx) = client.split();
    let ws = |what| Step::Ws(WsStep { conn, what });
    loop {
        tokio::select! {
            message = client_rx.next() => match message {
                Some(Ok(AxMessage::Text(text))) => {
                    rec.push(ws(WsWhat::Client(text.as_str().to_owned())));
                    let _ = up_tx.send(TMessage::text(text.as_str())).await;
                }
                Some(Ok(AxMessage::Close(_)) | Err(_)) | None => {
                    rec.push(ws(WsWhat::Close("client".to_owned())));
                    let _ = up_tx.send(TMessage::Close(None)).await;
                    break;
                }
                Some(Ok(_)) => {}
            },
            message = up_rx.next() => match message {
                Some(Ok(TMessage::Text(text))) => {
                    let frame = serde_json::from_str(text.as_str()).expect("server frame JSON");
                    rec.push(ws(WsWhat::Server(frame)));
                    let _ = client_tx.send(AxMessage::Text(text.as_str().into())).await;
                }
                Some(Ok(TMessage::Close(_)) | Err(_)) | None => {
                    rec.push(ws(WsWhat::Close("server".to_owned())));
                    let _ = client_tx.send(AxMessage::Close(None)).await;
                    break;
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Starts a recording proxy for `upstream`; returns its base URL.
async fn start_proxy(upstream: &str) -> (String, Arc<Recorder>) {
    let rec = Arc::new(Recorder {
        upstream: upstream.to_owned(),
        http: reqwest::Client::new(),
        steps: Mutex::default(),
        conns: Mutex::default(),
    });
    let app = axum::Router::new().fallback(proxy).with_state(rec.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, rec)
}

/// Values the server made that a replay gets anew: they become `{{name#n}}`.
const MINTED: &[&str] = &["access_token", "refresh_token", "file_id"];

fn placeholders(steps: &[Step]) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    for step in steps {
        let Step::Http(Exchange {
            response: Some(Body::Json(Value::Object(members))),
            ..
        }) = step
        else {
            continue;
        };
        for name in MINTED {
            if let Some(Value::String(value)) = members.get(*name) {
                if !found.iter().any(|(_, v)| v == value) {
                    let prefix = format!("{{{{{name}#");
                    let n = found.iter().filter(|(k, _)| k.starts_with(&prefix)).count() + 1;
                    found.push((format!("{{{{{name}#{n}}}}}"), value.clone()));
                }
            }
        }
    }
    found
}

const PASSWORD: &str = "correct horse battery";

async fn until_caught_up(socket: &mut Socket) {
    wait_for(socket, |e| {
        matches!(e, ServerEvent::CaughtUp { .. }).then_some(())
    })
    .await;
}

async fn presence(socket: &mut Socket) {
    wait_for(socket, |e| {
        matches!(e, ServerEvent::Presence { .. }).then_some(())
    })
    .await;
}

#[tokio::test]
#[ignore = "records testdata/wire at a release; run by hand"]
async fn record_a_session_of_this_release() {
    let app = spawn_app().await;
    let (base, rec) = start_proxy(&app.base).await;
    let login = |api: Api, name: &'static str| async move {
        api.login(name, PASSWORD).await.expect("login");
        api
    };

    // Accounts, a wrong password, the directory.
    let (alice_keys, bob_keys) = (KeyRing::generate(), KeyRing::generate());
    let alice_api = Api::new(&base).expect("api");
    let bob_api = Api::new(&base).expect("api");
    for (api, keys, name) in [
        (&alice_api, &alice_keys, "alice"),
        (&bob_api, &bob_keys, "bob"),
    ] {
        let request = keys
            .registration(name, &format!("{name}@example.org"))
            .expect("registration");
        api.register(request, PASSWORD).await.expect("register");
    }
    assert!(Api::new(&base)
        .expect("api")
        .login("alice", "not the password")
        .await
        .is_err());
    let mut alice = Chat::new(
        login(alice_api, "alice").await,
        alice_keys,
        Default::default(),
    );
    let bob = Chat::new(login(bob_api, "bob").await, bob_keys, Default::default());
    let (alice_id, bob_id) = (alice.keys.user_id(), bob.keys.user_id());
    alice.api.users().await.expect("users");
    alice.api.online_users().await.expect("online");

    // Both connect; each sees presence.
    let token = |chat: &Chat| {
        let session = chat.api.session().expect("session");
        session.access_token
    };
    let mut bob_ws = Socket::connect(&base, &token(&bob), 0)
        .await
        .expect("bob ws");
    until_caught_up(&mut bob_ws).await;
    let mut alice_ws = Socket::connect(&base, &token(&alice), 0)
        .await
        .expect("alice ws");
    until_caught_up(&mut alice_ws).await;
    presence(&mut bob_ws).await;
    presence(&mut alice_ws).await;

    // A message, acknowledged and delivered.
    let hello = alice
        .seal_text(bob_id, "hello bob", false, None)
        .await
        .expect("seal");
    alice_ws
        .send(&ClientFrame::Send {
            envelope: hello.envelope.clone(),
        })
        .await
        .expect("send");
    wait_for(&mut alice_ws, |e| {
        matches!(e, ServerEvent::Ack { .. }).then_some(())
    })
    .await;
    let ts = wait_for(&mut bob_ws, |e| match e {
        ServerEvent::Message { ts, .. } => Some(ts),
        _ => None,
    })
    .await;

    let kept = alice
        .seal_text(bob_id, "still here", false, None)
        .await
        .expect("seal");
    alice_ws
        .send(&ClientFrame::Send {
            envelope: kept.envelope,
        })
        .await
        .expect("send");
    wait_for(&mut alice_ws, |e| {
        matches!(e, ServerEvent::Ack { .. }).then_some(())
    })
    .await;
    wait_for(&mut bob_ws, |e| {
        matches!(e, ServerEvent::Message { .. }).then_some(())
    })
    .await;

    // A self-destructing one (5 s).
    let brief = alice
        .seal_text(bob_id, "gone soon", false, Some(5_000))
        .await
        .expect("seal");
    alice_ws
        .send(&ClientFrame::Send {
            envelope: brief.envelope,
        })
        .await
        .expect("send");
    wait_for(&mut alice_ws, |e| {
        matches!(e, ServerEvent::Ack { .. }).then_some(())
    })
    .await;
    wait_for(&mut bob_ws, |e| {
        matches!(e, ServerEvent::Message { .. }).then_some(())
    })
    .await;

    // Bob read it.
    bob_ws
        .send(&ClientFrame::Read {
            peer: Some(alice_id),
            group: None,
            up_to: ts,
        })
        .await
        .expect("read");
    wait_for(&mut alice_ws, |e| {
        matches!(e, ServerEvent::Read { .. }).then_some(())
    })
    .await;

    // Alice deletes the first message; deleting it again is refused.
    for expect_error in [false, true] {
        let tombstone = alice.seal_delete(bob_id, hello.msg_id).await.expect("seal");
        alice_ws
            .send(&ClientFrame::Delete {
                envelope: tombstone.envelope,
            })
            .await
            .expect("delete");
        if expect_error {
            wait_for(&mut alice_ws, |e| {
                matches!(e, ServerEvent::Error { .. }).then_some(())
            })
            .await;
        } else {
            wait_for(&mut alice_ws, |e| {
                matches!(e, ServerEvent::Deleted { .. }).then_some(())
            })
            .await;
            wait_for(&mut bob_ws, |e| {
                matches!(e, ServerEvent::Deleted { .. }).then_some(())
            })
            .await;
        }
    }
    alice_ws.send(&ClientFrame::Ping).await.expect("ping");
    wait_for(&mut alice_ws, |e| {
        matches!(e, ServerEvent::Pong).then_some(())
    })
    .await;

    // The self-destruct time passes.
    for socket in [&mut bob_ws, &mut alice_ws] {
        wait_for(socket, |e| {
            matches!(e, ServerEvent::Deleted { .. }).then_some(())
        })
        .await;
    }

    // REST: history, a file, a new key, a refresh, a password change.
    bob.api.history(alice_id, None, 50).await.expect("history");
    let file = alice
        .api
        .upload(bob_id, (0..=255u8).collect())
        .await
        .expect("upload");
    bob.api.download(&file.file_id).await.expect("download");
    let key = alice.keys.rotate();
    alice.api.publish_key(&key).await.expect("rotate");
    alice.api.user_keys(alice_id).await.expect("keys");
    alice.api.refresh().await.expect("refresh");
    bob.api
        .change_password(PASSWORD, "another correct horse")
        .await
        .expect("password");

    // Bob comes back and replays his whole stream.
    bob_ws.close().await;
    let mut bob_ws = Socket::connect(&base, &token(&bob), 0)
        .await
        .expect("bob ws");
    until_caught_up(&mut bob_ws).await;

    // Alice logs out: her socket is closed.
    alice.api.logout().await.expect("logout");
    wait_for(&mut alice_ws, |e| {
        matches!(e, ServerEvent::Error { .. }).then_some(())
    })
    .await;
    assert!(
        alice_ws.next().await.is_none(),
        "closed after session_revoked"
    );
    wait_for(&mut bob_ws, |e| match e {
        ServerEvent::Presence { offline, .. } if offline.contains(&alice_id) => Some(()),
        _ => None,
    })
    .await;
    bob_ws.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let steps = rec.steps().clone();
    let recording = Recording {
        release: env!("CARGO_PKG_VERSION").to_owned(),
        note: "recorded by crates/server/tests/api/wire.rs (record_a_session_of_this_release) \
               through a proxy between this release's client library and server; \
               {{name#n}} stands for a value the server made"
            .to_owned(),
        steps,
    };
    let mut text = serde_json::to_string_pretty(&recording).expect("json");
    for (name, value) in placeholders(&recording.steps) {
        text = text.replace(&value, &name);
    }
    text.push('\n');
    let path = wire_dir().join(format!("{}.json", env!("CARGO_PKG_VERSION")));
    std::fs::create_dir_all(wire_dir()).expect("testdata/wire/v1");
    std::fs::write(&path, text).expect("write the recording");
    eprintln!("recorded {}", path.display());
}

// ---------------------------------------------------------------------------------------
// Replay

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a replayed step waits for what the recording says came.
const PATIENCE: Duration = Duration::from_secs(10);

struct Replay<'a> {
    app: &'a TestApp,
    release: String,
    http: reqwest::Client,
    bound: HashMap<String, String>,
    conns: HashMap<u32, Conn>,
    /// Every frame type the release received.
    known_types: Vec<String>,
    /// A recorded `presence` frame, to check the received ones against.
    presence: Option<Value>,
}

#[derive(Default)]
struct Conn {
    ws: Option<Ws>,
    /// Recorded frames (not presence) still to come, in order.
    expected: Vec<Value>,
    /// Whether the recording saw presence here, and whether this run did.
    presence_expected: bool,
    presence_seen: bool,
    /// The server closed it in the recording.
    server_closes: bool,
}

impl Replay<'_> {
    fn fill(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (name, value) in &self.bound {
            text = text.replace(name, value);
        }
        assert!(
            !text.contains("{{"),
            "{}: a placeholder was never bound in {text}",
            self.release
        );
        text
    }

    fn context(&self, what: &str) -> String {
        format!("{} recording, {what}", self.release)
    }

    /// Binds the placeholders of a recorded response to this run's values.
    fn bind(&mut self, recorded: &Value, got: &Value) {
        if let (Value::Object(want), Value::Object(have)) = (recorded, got) {
            for (key, value) in want {
                if let (Some(name), Some(Value::String(now))) = (
                    value.as_str().filter(|v| v.starts_with("{{")),
                    have.get(key),
                ) {
                    self.bound.insert(name.to_owned(), now.clone());
                }
            }
        }
    }

    async fn http(&mut self, exchange: &Exchange) {
        let what = self.context(&format!("{} {}", exchange.method, exchange.path));
        let mut body = exchange.body.clone();
        if exchange.path == "/api/v1/auth/register" {
            body = body.map(|b| match b {
                Body::Json(recorded) => Body::Json(fresh_registration(&recorded)),
                other => other,
            });
        }
        let method: reqwest::Method = exchange.method.parse().expect("method");
        let mut request = self
            .http
            .request(method, self.app.url(&self.fill(&exchange.path)));
        for (name, value) in &exchange.headers {
            request = request.header(name, self.fill(value));
        }
        let sent_bytes = match &body {
            None => Vec::new(),
            Some(Body::Json(value)) => self
                .fill(&serde_json::to_string(value).expect("json"))
                .into_bytes(),
            Some(Body::Text(text)) => self.fill(text).into_bytes(),
            Some(Body::Bytes(encoded)) => b64::decode(encoded).expect("recorded bytes"),
        };
        let response = request.body(sent_bytes).send().await.expect(&what);
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        assert_eq!(
            status,
            exchange.status,
            "{what}: status (body {})",
            String::from_utf8_lossy(&bytes)
        );
        match &exchange.response {
            None => {}
            Some(Body::Json(recorded)) => {
                let got: Value = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("{what}: the answer is not JSON: {e}"));
                if let Err(e) = conforms(recorded, &got, "$") {
                    panic!("{what}: the answer changed shape: {e}\n  now: {got}");
                }
                self.bind(recorded, &got);
            }
            Some(Body::Text(text)) => assert_eq!(String::from_utf8_lossy(&bytes), *text, "{what}"),
            Some(Body::Bytes(encoded)) => {
                assert_eq!(b64::encode(&bytes), *encoded, "{what}: the bytes differ");
            }
        }
    }

    async fn open(&mut self, conn: u32) {
        let (ws, _) = tokio_tungstenite::connect_async(ws_url(&self.app.base))
            .await
            .expect("connect");
        self.conns.entry(conn).or_default().ws = Some(ws);
    }

    /// Reads each connection until the frames recorded so far have come.
    async fn settle(&mut self) {
        let ids: Vec<u32> = self.conns.keys().copied().collect();
        for id in ids {
            while !self.conns[&id].expected.is_empty() {
                let frame = self.next_frame(id).await;
                self.check(id, frame);
            }
        }
    }

    async fn next_frame(&mut self, id: u32) -> Option<Value> {
        let release = self.release.clone();
        let conn = self.conns.get_mut(&id).expect("conn");
        let ws = conn.ws.as_mut().expect("open");
        loop {
            let message = tokio::time::timeout(PATIENCE, ws.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{release} recording, connection {id}: still waiting for {:?}",
                        conn.expected.first()
                    )
                });
            match message {
                Some(Ok(TMessage::Text(text))) => {
                    return Some(serde_json::from_str(text.as_str()).expect("server frame JSON"))
                }
                Some(Ok(TMessage::Close(_)) | Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Checks one received frame (`None`: the server closed) against the recording.
    fn check(&mut self, id: u32, frame: Option<Value>) {
        let what = self.context(&format!("connection {id}"));
        let conn = self.conns.get_mut(&id).expect("conn");
        let Some(frame) = frame else {
            assert!(
                conn.expected.is_empty() && conn.server_closes,
                "{what}: closed by the server while {:?} was still to come",
                conn.expected.first()
            );
            conn.ws = None;
            return;
        };
        let kind = frame["type"].as_str().unwrap_or_default().to_owned();
        assert!(
            self.known_types.contains(&kind),
            "{what}: a frame of a type {} never received: {frame}",
            self.release
        );
        if kind == "presence" {
            let recorded = self.presence.as_ref().expect("a recorded presence frame");
            if let Err(e) = conforms(recorded, &frame, "$") {
                panic!("{what}: presence changed shape: {e}\n  now: {frame}");
            }
            conn.presence_seen = true;
            return;
        }
        assert!(
            !conn.expected.is_empty(),
            "{what}: a frame the recording did not have here: {frame}"
        );
        let recorded = conn.expected.remove(0);
        if let Err(e) = conforms(&recorded, &frame, "$") {
            panic!("{what}: a frame changed shape: {e}\n  recorded: {recorded}\n  now: {frame}");
        }
    }

    async fn client_closes(&mut self, id: u32) {
        if self.conns[&id].presence_expected {
            while !self.conns[&id].presence_seen {
                let frame = self.next_frame(id).await;
                self.check(id, frame);
            }
        }
        let conn = self.conns.get_mut(&id).expect("conn");
        if let Some(mut ws) = conn.ws.take() {
            let _ = ws.close(None).await;
        }
    }

    async fn server_closes(&mut self, id: u32) {
        self.conns.get_mut(&id).expect("conn").server_closes = true;
        self.settle().await;
        // Anything after the recorded frames (presence) until the close.
        while self.conns[&id].ws.is_some() {
            let frame = self.next_frame(id).await;
            self.check(id, frame);
        }
    }
}

/// A registration body with the recorded members and fresh values (the recorded user id is
/// too old to register again, and its keys are taken).
fn fresh_registration(recorded: &Value) -> Value {
    let fresh = TestUser::generate("replay").register_body();
    fn refill(recorded: &Value, fresh: &Value) -> Value {
        match (recorded, fresh) {
            (Value::Object(want), Value::Object(have)) => Value::Object(
                want.iter()
                    .map(|(k, v)| {
                        let value = have.get(k).map_or_else(|| v.clone(), |f| refill(v, f));
                        (k.clone(), value)
                    })
                    .collect(),
            ),
            (_, fresh) => fresh.clone(),
        }
    }
    refill(recorded, &fresh)
}

/// Puts a recorded account into the store, as registration would have.
async fn seed(app: &TestApp, body: &Value) {
    let request: RegisterRequest =
        serde_json::from_value(body.clone()).expect("a recorded registration");
    let identity = parse_identity_key(&request.identity_key).expect("identity key");
    let key = verify_published_key(&identity, &request.user_id, &request.encryption_key)
        .expect("recorded key binding");
    let password_hash = app
        .state
        .passwords()
        .hash(
            &request
                .password
                .as_ref()
                .expect("recorded with a password")
                .0,
        )
        .await
        .expect("hash");
    app.store
        .create_user(NewUser {
            id: request.user_id,
            username: Username::parse(&request.username)
                .expect("username")
                .as_str()
                .to_owned(),
            email: Email::parse(&request.email)
                .expect("email")
                .as_str()
                .to_owned(),
            credential: Credential::Argon2(password_hash),
            identity_key: identity.to_bytes(),
            first_key: EncryptionKeyRow {
                key_id: key.key_id,
                x25519: key.x25519.to_bytes(),
                created_at: key.created_at,
                binding_sig: key.binding_sig,
                status: KeyStatus::Active,
            },
            created_at: now_ms(),
            gate: securechat_store::model::Gate::Open,
        })
        .await
        .expect("seed a recorded account");
}

async fn replay(recording: &Recording) {
    let app = spawn_app().await;
    let mut known_types = Vec::new();
    let mut presence = None;
    for step in &recording.steps {
        match step {
            Step::Http(Exchange {
                path,
                body: Some(Body::Json(body)),
                status: 201,
                ..
            }) if path == "/api/v1/auth/register" => seed(&app, body).await,
            Step::Ws(WsStep {
                what: WsWhat::Server(frame),
                ..
            }) => {
                let kind = frame["type"].as_str().expect("type").to_owned();
                if kind == "presence" {
                    presence = Some(frame.clone());
                }
                if !known_types.contains(&kind) {
                    known_types.push(kind);
                }
            }
            _ => {}
        }
    }
    let mut run = Replay {
        app: &app,
        release: recording.release.clone(),
        http: reqwest::Client::new(),
        bound: HashMap::new(),
        conns: HashMap::new(),
        known_types,
        presence,
    };
    for step in &recording.steps {
        match step {
            Step::Http(exchange) => {
                run.settle().await;
                run.http(exchange).await;
            }
            Step::Ws(WsStep { conn, what }) => match what {
                WsWhat::Client(text) => {
                    run.settle().await;
                    if !run.conns.contains_key(conn) {
                        run.open(*conn).await;
                    }
                    let text = run.fill(text);
                    let ws = run.conns.get_mut(conn).and_then(|c| c.ws.as_mut());
                    ws.expect("an open connection")
                        .send(TMessage::text(text))
                        .await
                        .expect("send a recorded frame");
                }
                WsWhat::Server(frame) => {
                    let c = run.conns.entry(*conn).or_default();
                    if frame["type"] == "presence" {
                        c.presence_expected = true;
                    } else {
                        c.expected.push(frame.clone());
                    }
                }
                WsWhat::Close(by) if by == "server" => run.server_closes(*conn).await,
                WsWhat::Close(_) => {
                    run.settle().await;
                    run.client_closes(*conn).await;
                }
            },
        }
    }
    run.settle().await;
}

#[tokio::test]
async fn recorded_sessions_of_earlier_releases_still_work() {
    let mut recordings: Vec<PathBuf> = std::fs::read_dir(wire_dir())
        .expect("testdata/wire/v1")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    recordings.sort();
    assert!(
        !recordings.is_empty(),
        "no recordings in {}",
        wire_dir().display()
    );
    for path in recordings {
        let text = std::fs::read_to_string(&path).expect("read a recording");
        let recording: Recording = serde_json::from_str(&text).expect("a recording");
        let kinds: Vec<&str> = [
            "ready",
            "ack",
            "message",
            "deleted",
            "presence",
            "read",
            "caught_up",
            "error",
            "pong",
        ]
        .into_iter()
        .filter(|kind| {
            !recording.steps.iter().any(|s| {
                matches!(s, Step::Ws(WsStep { what: WsWhat::Server(f), .. }) if f["type"] == *kind)
            })
        })
        .collect();
        assert!(
            kinds.is_empty(),
            "{}: no {kinds:?} frame recorded",
            path.display()
        );
        replay(&recording).await;
    }
}
