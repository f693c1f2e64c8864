//! Simulated users: registered and logged in through the real client library, each from its
//! own loopback source address.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context as _;
use futures_util::stream::{self, StreamExt as _};

use securechat_client::{Api, KeyRing};
use securechat_proto::ids::UserId;

use crate::net::{http_client, source};
use crate::nodes::Nodes;
use crate::progress::bar;

/// One simulated user.
pub struct BenchUser {
    pub api: Api,
    pub keys: KeyRing,
    pub src: IpAddr,
    /// The node (index into the run's servers) it talks to.
    pub node: usize,
    pub username: String,
    pub password: String,
}

impl BenchUser {
    pub fn id(&self) -> UserId {
        self.keys.user_id()
    }

    /// A current access token.
    pub async fn token(&self) -> anyhow::Result<String> {
        Ok(self.api.access_token().await?)
    }
}

/// A name prefix unique to this run, so runs against the same server never collide.
pub fn run_prefix() -> String {
    format!("b{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// How an account proves its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// OPAQUE (RFC 9807): the password never reaches the server.
    Opaque,
    /// The password grant, checked by the server with Argon2id (accounts made with a
    /// password, as before OPAQUE).
    Password,
}

/// Registers a user on node `node` at `base` (not logged in yet), with OPAQUE.
pub async fn register(
    base: &str,
    node: usize,
    name: String,
    src: IpAddr,
) -> anyhow::Result<BenchUser> {
    register_with(base, node, name, src, Method::Opaque).await
}

/// Registers a user whose password is proved by `method`.
pub async fn register_with(
    base: &str,
    node: usize,
    name: String,
    src: IpAddr,
    method: Method,
) -> anyhow::Result<BenchUser> {
    let api = Api::with_http(base, http_client(src)?)?;
    let keys = KeyRing::generate();
    let password = format!("bench password {name}");
    let request = keys.registration(&name, &format!("{name}@bench.invalid"))?;
    match method {
        Method::Opaque => api.register(request, &password).await,
        Method::Password => api.register_with_password(request, &password).await,
    }
    .with_context(|| format!("registering {name}"))?;
    Ok(BenchUser {
        api,
        keys,
        src,
        node,
        username: name,
        password,
    })
}

/// Registers and logs in one user per entry of `placed` (the node each goes to),
/// `concurrency` at a time; sources start at `first_source`.
pub async fn create(
    nodes: &Nodes,
    prefix: &str,
    placed: &[usize],
    first_source: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<BenchUser>> {
    let count = placed.len();
    let progress = Arc::new(bar(count as u64, "creating users (register + login)"));
    let users: Vec<anyhow::Result<BenchUser>> = stream::iter(0..count)
        .map(|i| {
            let progress = progress.clone();
            let node = placed[i];
            async move {
                let user = register(
                    nodes.base(node),
                    node,
                    format!("{prefix}u{i}"),
                    source(first_source + i),
                )
                .await?;
                user.api.login(&user.username, &user.password).await?;
                progress.inc(1);
                Ok(user)
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    progress.finish_and_clear();
    users.into_iter().collect()
}
