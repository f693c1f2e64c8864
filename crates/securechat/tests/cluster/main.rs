//! Several securechat nodes on one PostgreSQL and one Redis, as real processes on 127.0.0.x
//! ports: what users on different nodes see, what a node killed with SIGKILL in the middle
//! of a burst loses (nothing), what a Redis outage loses (nothing), and a node started with
//! different settings (it refuses).
//!
//! Needs PostgreSQL (SECURECHAT_TEST_POSTGRES_URL) and `redis-server` (each test starts its
//! own on a free port); without them the tests are skipped with one line, except under CI.
//! `failover.rs` runs the nodes on a private primary and its synchronous standby instead
//! (PostgreSQL's server programs), loses the primary in a burst and fails over.

mod checker;
mod clients;
mod failover;
mod procs;
mod traffic;

use std::time::{Duration, Instant};

use securechat_client::chat::msg_id_text;
use securechat_proto::ids::UserId;
use securechat_proto::ws::ClientFrame;
use securechat_store_tests::{postgres_or_skip, Backend, TestDatabase};

use checker::History;
use clients::{person, Person, Session};
use procs::{Node, NodeConfig, RedisServer};
use traffic::Traffic;

const SECRET: &str = "a cluster test token secret, well over 32 bytes long";

/// Whether the cluster tests can run here (PostgreSQL and redis-server).
async fn prerequisites() -> bool {
    postgres_or_skip().await && redis_or_skip()
}

/// Whether redis-server is installed (else one line, and a failure under CI).
fn redis_or_skip() -> bool {
    if procs::installed("redis-server") {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "redis-server is not installed, and CI is set: the cluster tests must run"
    );
    eprintln!("redis-server not installed: cluster tests skipped");
    false
}

/// A database, a Redis and `n` nodes on 127.0.0.1, .2, .3…
struct Cluster {
    /// The test database, unless the test keeps the database itself.
    _database: Option<TestDatabase>,
    redis: RedisServer,
    config: NodeConfig,
    nodes: Vec<Node>,
}

impl Cluster {
    /// `n` nodes on a test database of the shared PostgreSQL.
    async fn start(n: u8, extra: &[&str]) -> Self {
        let database = TestDatabase::new(Backend::Postgres)
            .await
            .expect("a PostgreSQL test database");
        let mut cluster = Self::on(database.url(), n, extra);
        cluster._database = Some(database);
        cluster
    }

    /// `n` nodes on the database at `database_url`, which the caller keeps running.
    fn on(database_url: String, n: u8, extra: &[&str]) -> Self {
        let redis = RedisServer::start("the cluster tests").expect("redis-server (checked)");
        let config = NodeConfig {
            database_url,
            redis_url: redis.url(),
            token_secret: SECRET.to_owned(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        let nodes =
            tokio::task::block_in_place(|| (1..=n).map(|i| Node::start(i, &config)).collect());
        Self {
            _database: None,
            redis,
            config,
            nodes,
        }
    }

    /// Every node's log, for a failure's message.
    fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- node {}\n{}", n.base, n.log_text()))
            .collect()
    }

    /// The nodes' URLs, starting with node `first` (a client's order of preference).
    fn bases_from(&self, first: usize) -> Vec<String> {
        let n = self.nodes.len();
        (0..n)
            .map(|i| self.nodes[(first + i) % n].base.clone())
            .collect()
    }
}

/// Waits until `done` holds, up to `patience`; false if it never did.
async fn eventually(patience: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > patience {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// Waits until `session` connected at least `times` times.
async fn connected(session: &Session, times: u32) {
    assert!(
        eventually(Duration::from_secs(10), || session.lock().connects >= times).await,
        "a session did not connect"
    );
}

async fn seal(
    from: &mut Person,
    to: UserId,
    body: &str,
) -> (String, securechat_proto::envelope::Envelope) {
    let sealed = from
        .chat
        .seal_text(to, body, false, None)
        .await
        .expect("seal a message");
    (msg_id_text(&sealed.msg_id), sealed.envelope)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_files_deletes_expiry_presence_limits_and_revocation_cross_nodes() {
    if !prerequisites().await {
        return;
    }
    let moto = procs::MotoServer::start("the cluster's shared-file checks");
    if let Some(moto) = &moto {
        moto.create_bucket("cluster-files");
    }
    let mut options = vec![
        "--max-connections-per-user",
        "3",
        "--login-failures-per-ip",
        "4",
    ];
    let files = moto.as_ref().map(|m| procs::s3_options(m, "cluster-files"));
    if let Some(files) = &files {
        options.extend(files.iter().map(String::as_str));
    }
    let cluster = Cluster::start(3, &options).await;
    let mut alice = person(&cluster.nodes[0].base, "alice").await;
    let bob = person(&cluster.nodes[1].base, "bob").await;
    let carol = person(&cluster.nodes[2].base, "carol").await;

    let bob_1 = Session::start(cluster.bases_from(1), 0, bob.token.clone());
    let bob_2 = Session::start(cluster.bases_from(2), 0, bob.token.clone());
    let carol_3 = Session::start(cluster.bases_from(2), 0, carol.token.clone());
    for s in [&bob_1, &bob_2, &carol_3] {
        connected(s, 1).await;
    }
    let alice_1 = Session::start(cluster.bases_from(0), 0, alice.token.clone());
    let alice_3 = Session::start(cluster.bases_from(2), 0, alice.token.clone());
    connected(&alice_1, 1).await;
    connected(&alice_3, 1).await;

    // Presence: carol (node 3) is told alice (node 1) came online, and the user list says so.
    assert!(
        eventually(Duration::from_secs(3), || carol_3
            .lock()
            .presence
            .get(&alice.id)
            == Some(&true))
        .await,
        "carol on node 3 was not told that alice on node 1 is online"
    );
    let listed = carol.chat.api.users().await.expect("the user list");
    assert!(listed.iter().any(|u| u.id == alice.id && u.online));

    // A message from node 1 reaches bob's sessions on nodes 2 and 3, and alice's other
    // session (node 3), once each.
    let (id, envelope) = seal(&mut alice, bob.id, "hello across nodes").await;
    let sig = envelope.sig.clone();
    let sent_at = Instant::now();
    alice_1.send(id.clone(), envelope);
    assert!(
        eventually(Duration::from_secs(5), || bob_1
            .lock()
            .messages
            .iter()
            .any(|(_, s)| *s == sig))
        .await,
        "bob on node 2 did not get the message"
    );
    let latency = sent_at.elapsed();
    for (who, session) in [("bob on node 3", &bob_2), ("alice on node 3", &alice_3)] {
        assert!(
            eventually(Duration::from_secs(5), || session
                .lock()
                .messages
                .iter()
                .any(|(_, s)| *s == sig))
            .await,
            "{who} did not get the message"
        );
    }
    eprintln!("cross-node delivery (one message, debug build): {latency:?}");
    assert!(alice_1.lock().acked.contains_key(&id));

    // A file uploaded through node 1 downloads through nodes 2 and 3 (one bucket for all).
    if moto.is_some() {
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let uploaded = alice
            .chat
            .api
            .upload(bob.id, bytes.clone())
            .await
            .expect("upload through node 1");
        for node in [1, 2] {
            let api = securechat_client::Api::with_session(
                &cluster.nodes[node].base,
                bob.chat.api.session().expect("bob's session"),
            )
            .expect("api");
            let got = api.download(&uploaded.file_id).await.expect("download");
            assert!(got == bytes, "the file differs through node {}", node + 1);
        }
    }

    // Deleting it reaches every session of both.
    let target = securechat_crypto::ids::MsgId::from_b64(&id).expect("a msg id");
    let tombstone = alice
        .chat
        .seal_delete(bob.id, target)
        .await
        .expect("seal a deletion");
    alice_1.send_frame(ClientFrame::Delete {
        envelope: tombstone.envelope,
    });
    for (who, session) in [
        ("bob on node 2", &bob_1),
        ("bob on node 3", &bob_2),
        ("alice on node 3", &alice_3),
    ] {
        assert!(
            eventually(Duration::from_secs(5), || session
                .lock()
                .deletions
                .iter()
                .any(|(_, m)| *m == id))
            .await,
            "{who} was not told of the deletion"
        );
    }

    // A self-destructing message expires on every node, whichever runs the expiry.
    let sealed = alice
        .chat
        .seal_text(bob.id, "gone soon", false, Some(5_000))
        .await
        .expect("seal");
    let short = msg_id_text(&sealed.msg_id);
    alice_1.send(short.clone(), sealed.envelope);
    for (who, session) in [("bob on node 2", &bob_1), ("bob on node 3", &bob_2)] {
        assert!(
            eventually(Duration::from_secs(10), || session
                .lock()
                .deletions
                .iter()
                .any(|(_, m)| *m == short))
            .await,
            "{who} was not told the message expired; logs:\n{}",
            cluster.logs()
        );
    }

    // The per-user connection cap counts every node's connections.
    let carol_1 = Session::start(cluster.bases_from(0), 0, carol.token.clone());
    let carol_2 = Session::start(cluster.bases_from(1), 0, carol.token.clone());
    connected(&carol_1, 1).await;
    connected(&carol_2, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = securechat_client::Socket::connect(&cluster.nodes[0].base, &carol.token, 0).await;
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("too many")),
        "a fourth connection (cap 3, over three nodes) was not refused: {:?}",
        refused.map(|_| ())
    );

    // Alice leaves: carol on node 3 is told she is offline.
    alice_1.stop().await;
    alice_3.stop().await;
    assert!(
        eventually(Duration::from_secs(3), || carol_3
            .lock()
            .presence
            .get(&alice.id)
            == Some(&false))
        .await,
        "carol was not told that alice left"
    );

    // Bob logs out through node 1: his sockets on nodes 2 and 3 close within a second, and
    // his token is refused everywhere.
    let out_at = Instant::now();
    bob.chat.api.logout().await.expect("log out");
    for (who, session) in [("node 2", &bob_1), ("node 3", &bob_2)] {
        assert!(
            eventually(Duration::from_secs(1), || session
                .lock()
                .errors
                .iter()
                .any(|e| e.contains("SessionRevoked")))
            .await,
            "bob's socket on {who} was not closed within a second of the logout: {:?}",
            session.lock().errors
        );
    }
    eprintln!(
        "revocation reached the other nodes' sockets in {:?}",
        out_at.elapsed()
    );
    for node in &cluster.nodes {
        let api = securechat_client::Api::new(&node.base).expect("api");
        let status = reqwest::Client::new()
            .get(format!("{}/api/v1/users", api.base()))
            .bearer_auth(&bob.token)
            .send()
            .await
            .expect("a request")
            .status();
        assert_eq!(
            status.as_u16(),
            401,
            "bob's token still works on {}",
            node.base
        );
    }
    for s in [bob_1, bob_2, carol_1, carol_2, carol_3] {
        s.stop().await;
    }

    // Failed logins count on every node: two wrong passwords on node 1, two on node 2,
    // and node 3 refuses the next attempt from the address (limit 4).
    for node in [0, 0, 1, 1] {
        let api = securechat_client::Api::new(&cluster.nodes[node].base).expect("api");
        let wrong = api.login("carol", "not her password").await;
        assert!(wrong.is_err(), "a wrong password was accepted");
    }
    let api = securechat_client::Api::new(&cluster.nodes[2].base).expect("api");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = api.login("carol", clients::PASSWORD).await;
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("429") || e.to_string().to_lowercase().contains("too many")),
        "node 3 let a fifth attempt through after four failures on nodes 1 and 2: {:?}",
        refused.map(|_| ())
    );
}

/// Asserts a history holds every promise, and prints it.
fn assert_whole(what: &str, history: &History) {
    eprintln!("{what}: {history}");
    assert!(history.acknowledged > 0, "{what}: nothing was acknowledged");
    assert_eq!(
        (
            history.lost,
            history.duplicated,
            history.out_of_order,
            history.stream_breaks
        ),
        (0, 0, 0, 0),
        "{what}: {history}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_in_a_burst_loses_nothing() {
    if !prerequisites().await {
        return;
    }
    let mut cluster = Cluster::start(3, &[]).await;
    let mut traffic = Traffic::new(&cluster, 6).await;
    traffic.connected().await;
    // Dave is connected to node 1 only, and does not reconnect: when node 1 dies, the others
    // must take him offline by themselves (his node's heartbeats stop).
    let dave = person(&cluster.nodes[0].base, "dave").await;
    let dave_socket = securechat_client::Socket::connect(&cluster.nodes[0].base, &dave.token, 0)
        .await
        .expect("dave connects to node 1");
    let observer = traffic.observer();
    assert!(
        eventually(Duration::from_secs(3), || observer
            .lock()
            .presence
            .get(&dave.id)
            == Some(&true))
        .await,
        "the observer on node 2 was not told dave is online"
    );
    let mut killed_at = None;
    for round in 0..3 {
        let victim = round % cluster.nodes.len();
        let sealed = traffic.seal(120).await;
        let killer = async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            tokio::task::block_in_place(|| cluster.nodes[victim].kill());
            if round == 0 {
                killed_at = Some(Instant::now());
            }
        };
        // 6 senders, one message each every 10 ms: ≈ 600 messages/s for 1.2 s.
        tokio::join!(traffic.send(sealed, Duration::from_millis(10)), killer);
        if let Some(killed) = killed_at.take() {
            let observer = traffic.observer();
            assert!(
                eventually(Duration::from_secs(5), || observer
                    .lock()
                    .presence
                    .get(&dave.id)
                    == Some(&false))
                .await,
                "dave (only on the killed node 1) was not taken offline"
            );
            eprintln!(
                "dave, connected only to the killed node, went offline after {:?}",
                killed.elapsed()
            );
        }
        let history = traffic.settle(Duration::from_secs(30)).await;
        assert_whole(
            &format!(
                "after round {} (SIGKILL to node {}; counts since the first round)",
                round + 1,
                victim + 1
            ),
            &history,
        );
        tokio::task::block_in_place(|| cluster.nodes[victim].start_again());
    }
    eprintln!(
        "connections made, reconnections included: {}",
        traffic.connects()
    );
    drop(dave_socket);
    traffic.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_loses_nothing_and_delivery_goes_on_from_the_database() {
    if !prerequisites().await {
        return;
    }
    let mut cluster = Cluster::start(3, &[]).await;
    let mut traffic = Traffic::new(&cluster, 3).await;
    traffic.connected().await;
    // 3 senders, one message each every 50 ms, for 16 s; Redis is away from 2 s to 12 s.
    let sealed = traffic.seal(320).await;
    let started = Instant::now();
    let (mut away, mut back) = (started, started);
    let node = &cluster.nodes[0];
    let outage = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        away = Instant::now();
        tokio::task::block_in_place(|| cluster.redis.stop());
        tokio::time::sleep(Duration::from_secs(3)).await;
        let up = tokio::task::block_in_place(|| node.metric("securechat_cluster_redis_up"));
        let ready = tokio::task::block_in_place(|| procs::http_get(node.addr, "/readyz"));
        tokio::time::sleep(Duration::from_secs(7)).await;
        tokio::task::block_in_place(|| cluster.redis.start_again());
        back = Instant::now();
        (up, ready)
    };
    let ((), (up_while_away, ready_while_away)) =
        tokio::join!(traffic.send(sealed, Duration::from_millis(50)), outage);
    let history = traffic.settle(Duration::from_secs(30)).await;
    assert_whole("Redis stopped for 10 s, then started empty", &history);
    assert_eq!(
        up_while_away, 0.0,
        "securechat_cluster_redis_up while Redis was away"
    );
    let (status, body) = ready_while_away.expect("/readyz answered");
    assert_eq!(
        status, 200,
        "the node stays ready (the database works): {body}"
    );
    assert!(
        body.contains("redis") && body.contains("down"),
        "/readyz says Redis is down: {body}"
    );
    let before = traffic.longest_delay((started, away));
    let during = traffic.longest_delay((away, back));
    let after = traffic.longest_delay((back + Duration::from_secs(3), Instant::now()));
    eprintln!(
        "longest delivery delay: before the outage {before:?}, during it {during:?}, \
         from 3 s after Redis came back {after:?}"
    );
    assert!(
        during <= Duration::from_millis(2_500),
        "delivery while Redis was away took {during:?}"
    );
    assert!(
        after <= Duration::from_millis(500),
        "delivery after Redis came back took {after:?}"
    );
    assert!(
        eventually(Duration::from_secs(5), || node
            .metric("securechat_cluster_redis_up")
            == 1.0)
        .await,
        "the node did not report Redis up again"
    );
    traffic.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_with_another_token_secret_refuses_to_start() {
    if !prerequisites().await {
        return;
    }
    let cluster = Cluster::start(2, &[]).await;
    let mut other = cluster.config.clone();
    other.token_secret = "another secret, also well over 32 bytes long".to_owned();
    let started = Instant::now();
    let output = tokio::task::block_in_place(|| {
        let stranger = tempfile::tempdir().expect("a data folder");
        procs::node_command(procs::free_port([127, 0, 0, 3]), stranger.path(), &other)
            .output()
            .expect("run a node")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "the node started: {text}");
    assert!(
        text.contains("settings differ") && text.contains("token secret"),
        "the refusal does not name the token secret: {text}"
    );
    let said = text
        .lines()
        .find(|l| l.contains("settings differ"))
        .unwrap_or("");
    eprintln!("refused in {:?}: {said}", started.elapsed());
}
