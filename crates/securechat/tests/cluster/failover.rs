//! The PostgreSQL primary lost in a burst, and the failover to its synchronous standby done
//! as docs/FAILOVER.md tells an operator: two nodes on a private primary whose every commit
//! waits for a standby (`PgCluster::start_primary`, `start_standby`); senders write
//! steadily; every PostgreSQL process of the primary gets SIGKILL (a lost machine); the
//! nodes refuse sends with the retryable `unavailable` and say so (`/readyz` 503,
//! `securechat_store_unavailable_total`); the standby is promoted, told not to wait for a
//! standby of its own, and every node is restarted on its URL; the clients reconnect and
//! resend what was not acknowledged. The history checker then finds every acknowledged
//! message exactly once, in per-sender order, in the live streams and in every stream read
//! again from the new primary. Then a new standby is built from the new primary and made
//! synchronous, and messages go through again. Last, the price of a synchronous standby: with
//! it stopped, sends get no answer until `synchronous_standby_names` is emptied.
//!
//! Needs PostgreSQL's server programs (initdb, pg_ctl, pg_basebackup) and redis-server;
//! without them it is skipped in one line, except under CI.

use std::time::{Duration, Instant};

use securechat_store_tests::cluster::{PgCluster, StopMode};

use super::procs::{self, http_get, Node};
use super::traffic::Traffic;
use super::{assert_whole, eventually, redis_or_skip, Cluster};

/// The standby's name in replication (`application_name`, `synchronous_standby_names`).
const STANDBY: &str = "standby_a";
/// The standby built afterwards from the new primary.
const NEW_STANDBY: &str = "standby_b";
/// Sender → recipient pairs.
const PAIRS: usize = 4;
/// Messages per sender, one every `GAP` (4 s of sending); the primary dies after `KILL_AFTER`,
/// and what is sent from then on waits in the clients until the nodes are back.
const BURST: usize = 160;
const GAP: Duration = Duration::from_millis(25);
const KILL_AFTER: Duration = Duration::from_millis(1_500);
/// Messages per sender once the new standby streams.
const AFTER: usize = 10;
/// How long the test waits for an answer while the synchronous standby is away.
const NO_ANSWER: Duration = Duration::from_secs(3);
/// How long a node may take to stop before it gets SIGKILL (systemd's `TimeoutStopSec`,
/// 30 s in deploy/systemd). A node whose database is gone cannot drain: each job it has
/// queued waits the pool's 5 s for a connection in turn, so its stop takes 10 to 30 s; the
/// test does not wait for that (nothing acknowledged is lost by SIGKILL).
const STOP_PATIENCE: Duration = Duration::from_secs(5);

/// The nodes' `/readyz` statuses and the sum of their `securechat_store_unavailable_total`,
/// asked of every node at once (while the database is away each answer waits up to the
/// pool's 5 s for a connection).
fn health(nodes: &[Node]) -> (Vec<Option<u16>>, f64) {
    std::thread::scope(|s| {
        let ready: Vec<_> = nodes
            .iter()
            .map(|n| s.spawn(|| http_get(n.addr, "/readyz").map(|(status, _)| status)))
            .collect();
        let unavailable: Vec<_> = nodes
            .iter()
            .map(|n| s.spawn(|| n.metric("securechat_store_unavailable_total")))
            .collect();
        (
            ready
                .into_iter()
                .map(|h| h.join().expect("ask /readyz"))
                .collect(),
            unavailable
                .into_iter()
                .map(|h| h.join().expect("read /metrics"))
                .sum(),
        )
    })
}

/// When each step of the failover happened.
struct Timeline {
    killed: Instant,
    acked_before: usize,
    /// From the kill to the first refusal a client got.
    refused_at: Duration,
    /// … to `/readyz` and the metric read.
    noticed: Duration,
    /// … to the standby promoted and told not to wait for a standby.
    promoted: Duration,
    /// How long each node took to stop (SIGTERM).
    stopping: Vec<Duration>,
    back: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_primary_lost_in_a_burst_fails_over_to_its_synchronous_standby_losing_nothing() {
    if !redis_or_skip() {
        return;
    }
    let started = Instant::now();
    let Some(primary) = tokio::task::block_in_place(|| PgCluster::start_primary(STANDBY)) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have PostgreSQL's server programs (initdb, pg_ctl, pg_basebackup)"
        );
        eprintln!(
            "skipped: PostgreSQL's server programs (initdb, pg_ctl, pg_basebackup) are not \
             installed"
        );
        return;
    };
    let standby = tokio::task::block_in_place(|| primary.start_standby(STANDBY));
    let streaming = primary
        .wait_for_sync_standby(STANDBY, Duration::from_secs(30))
        .await;
    eprintln!(
        "primary and synchronous standby up in {:?} (the standby streaming {streaming:?} after \
         its start)",
        started.elapsed()
    );

    let mut cluster = Cluster::on(primary.url(), 2, &[]);

    // A node pointed at the standby before it is promoted refuses to start: a replica is
    // never served by mistake.
    let mut early = cluster.config.clone();
    early.database_url = standby.url();
    let output = tokio::task::block_in_place(|| {
        let data = tempfile::tempdir().expect("a data folder");
        procs::node_command(procs::free_port([127, 0, 0, 3]), data.path(), &early)
            .output()
            .expect("run a node")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success() && text.contains("read-only replica"),
        "a node on the unpromoted standby did not refuse: {text}"
    );
    let said = text.lines().find(|l| l.contains("read-only replica"));
    eprintln!(
        "a node on the unpromoted standby refused: {}",
        said.unwrap_or("")
    );

    let mut traffic = Traffic::new(&cluster, PAIRS).await;
    traffic.connected().await;
    let sealed = traffic.seal(BURST).await;
    let failover = async {
        tokio::time::sleep(KILL_AFTER).await;
        let acked_before = traffic.acked();
        let killed = Instant::now();
        tokio::task::block_in_place(|| primary.kill());

        // 1. Notice: sends are refused, /readyz answers 503, the metric counts.
        assert!(
            eventually(Duration::from_secs(20), || traffic.refusals().0 > 0).await,
            "no send was refused while the database was away; logs:\n{}",
            cluster.logs()
        );
        let refused_at = killed.elapsed();
        let (ready, unavailable) = tokio::task::block_in_place(|| health(&cluster.nodes));
        assert!(
            ready.iter().all(|s| *s == Some(503)),
            "/readyz while the database is away: {ready:?}"
        );
        assert!(
            unavailable > 0.0,
            "securechat_store_unavailable_total did not count the refusals"
        );
        let noticed = killed.elapsed();

        // 2. Make sure the old primary is down (the test killed it: nothing listens).
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", primary.port())).is_err(),
            "the old primary still accepts connections"
        );
        // 3. Promote the standby; it has no standby of its own yet, so its commits must not
        // wait for one (it copied synchronous_standby_names from the primary).
        tokio::task::block_in_place(|| standby.promote());
        standby
            .execute("ALTER SYSTEM SET synchronous_standby_names = ''")
            .await;
        standby.execute("SELECT pg_reload_conf()").await;
        let promoted = killed.elapsed();

        // 4. Every node on the new primary: a new --database-url, a restart.
        let url = standby.url();
        let stopping = tokio::task::block_in_place(|| {
            std::thread::scope(|s| {
                let restarts: Vec<_> = cluster
                    .nodes
                    .iter_mut()
                    .map(|node| {
                        let url = &url;
                        s.spawn(move || node.restart_on(url, STOP_PATIENCE))
                    })
                    .collect();
                restarts
                    .into_iter()
                    .map(|h| h.join().expect("restart a node"))
                    .collect()
            })
        });
        Timeline {
            killed,
            acked_before,
            refused_at,
            noticed,
            promoted,
            stopping,
            back: Instant::now(),
        }
    };
    let ((), timeline) = tokio::join!(traffic.send(sealed, GAP), failover);

    let history = traffic.settle(Duration::from_secs(30)).await;
    assert_whole("the live sessions, through the failover", &history);
    assert_eq!(
        history.acknowledged,
        PAIRS * BURST,
        "every message was acknowledged in the end (the clients kept and resent them)"
    );
    let replayed = traffic
        .replayed(&cluster.bases_from(0), Duration::from_secs(20))
        .await;
    assert_whole(
        "every recipient's stream read again from seq 0 on the new primary",
        &replayed,
    );
    let (refused, others) = traffic.refusals();
    assert!(
        others.is_empty(),
        "refusals other than the retryable unavailable: {others:?}"
    );
    let out = timeline.back - timeline.killed;
    let longest = traffic.longest_delay((timeline.killed, timeline.back));
    eprintln!(
        "failover: {} acknowledged before the kill, {} in all; {refused} sends refused with \
         `unavailable` while the database was away; found after: {} of {} in the replayed \
         streams. Timeline from the kill: the first refusal at {:?}, /readyz 503 and the \
         metric read at {:?}, the standby promoted at {:?}, the nodes stopped (SIGTERM, \
         SIGKILL after {STOP_PATIENCE:?}) in {:?} and ready on it at {out:?}; the longest wait of a message sent meanwhile, from \
         send to delivery: {longest:?}",
        timeline.acked_before,
        history.acknowledged,
        replayed.delivered,
        replayed.acknowledged,
        timeline.refused_at,
        timeline.noticed,
        timeline.promoted,
        timeline.stopping,
    );

    // 5. A new standby from the new primary, made synchronous: messages go through again.
    let new_standby = tokio::task::block_in_place(|| standby.start_standby(NEW_STANDBY));
    standby
        .execute(&format!(
            "ALTER SYSTEM SET synchronous_standby_names = '{NEW_STANDBY}'"
        ))
        .await;
    standby.execute("SELECT pg_reload_conf()").await;
    standby
        .wait_for_sync_standby(NEW_STANDBY, Duration::from_secs(30))
        .await;
    let sealed = traffic.seal(AFTER).await;
    traffic.send(sealed, GAP).await;
    let history = traffic.settle(Duration::from_secs(30)).await;
    assert_whole("with a new synchronous standby", &history);
    assert_eq!(history.acknowledged, PAIRS * (BURST + AFTER));

    // 6. The price: with the synchronous standby gone, every commit on the primary waits for
    // it, so sends get no answer at all (neither ack nor refusal), until the operator stops
    // the waiting (or the standby comes back); then they are acknowledged.
    tokio::task::block_in_place(|| new_standby.stop(StopMode::Fast));
    let (refused_before, _) = traffic.refusals();
    let sealed = traffic.seal(1).await;
    traffic.send(sealed, GAP).await;
    tokio::time::sleep(NO_ANSWER).await;
    assert_eq!(
        traffic.acked(),
        PAIRS * (BURST + AFTER),
        "acknowledged while the synchronous standby was away"
    );
    let (ready, _) = tokio::task::block_in_place(|| health(&cluster.nodes));
    assert_eq!(
        traffic.refusals().0,
        refused_before,
        "refused while the synchronous standby was away (they wait)"
    );
    standby
        .execute("ALTER SYSTEM SET synchronous_standby_names = ''")
        .await;
    standby.execute("SELECT pg_reload_conf()").await;
    let released = Instant::now();
    let history = traffic.settle(Duration::from_secs(30)).await;
    let answered = released.elapsed();
    assert_whole(
        "after the standby was lost and the waiting stopped",
        &history,
    );
    assert_eq!(history.acknowledged, PAIRS * (BURST + AFTER + 1));
    eprintln!(
        "the synchronous standby stopped: no answer to {PAIRS} sends for {NO_ANSWER:?} \
         (/readyz meanwhile: {ready:?}); acknowledged {answered:?} after \
         synchronous_standby_names was emptied"
    );
    traffic.stop().await;
    eprintln!("the whole failover test took {:?}", started.elapsed());
}
