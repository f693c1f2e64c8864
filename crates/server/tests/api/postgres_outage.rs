//! PostgreSQL stopped (cleanly, then by a crash) and started again under a running server
//! that is taking messages from several senders: while the database is away nothing is
//! acknowledged (every send is refused with the retryable `unavailable`, REST answers 503,
//! `/readyz` says so), the server recovers by itself when it returns, and every acknowledged
//! message is stored. The database is a private PostgreSQL server the test starts itself
//! (initdb + pg_ctl on a free port), so it may stop it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::sync::watch;

use securechat_proto::ws::{ServerEvent, WsErrorCode};
use securechat_store_tests::cluster::{PgCluster, StopMode};

use securechat_crypto::envelope::SealedEnvelope;

use crate::faults::{readyz, send_sealed, wait_until_ready, Answer};
use crate::helpers::{spawn_in, wait_for, Data, Peer, TestUser};

/// Senders working at once.
const SENDERS: usize = 4;
/// Messages each sender seals before the outages (sealing asks the server for keys, which
/// it cannot answer while the database is away): more than a sender sends at its pace
/// (`PACE`) for the whole test.
const SEALED: usize = 2_000;
/// The pause after each acknowledged message: the test is about outages, not throughput,
/// and unpaced senders on a fast machine used up their messages before the first outage.
const PACE: Duration = Duration::from_millis(20);

/// What one sender saw.
#[derive(Default)]
struct Tally {
    acked: Vec<String>,
    /// Acks that came after the last outage was over.
    acked_after_healing: usize,
    refused: usize,
}

/// Sends messages one after another until told to stop; every answer is an ack or the
/// retryable `unavailable`.
async fn keep_sending(
    alice: Peer,
    sealed: Vec<SealedEnvelope>,
    stop: watch::Receiver<bool>,
    healed: Arc<AtomicBool>,
) -> Tally {
    let mut socket = alice.socket(0).await;
    wait_for(&mut socket, |e| {
        matches!(e, ServerEvent::CaughtUp { .. }).then_some(())
    })
    .await;
    let mut tally = Tally::default();
    let mut sealed = sealed.into_iter();
    while !*stop.borrow() {
        let Some(envelope) = sealed.next() else {
            panic!(
                "sealed messages ran out: acked {}, refused {}",
                tally.acked.len(),
                tally.refused
            );
        };
        // While the database is away a batch waits for a connection (5 s) before it is
        // refused; under a busy test run an answer may take a few of those.
        let (id, answer) = send_sealed(&mut socket, envelope, Duration::from_secs(60)).await;
        match answer {
            Answer::Acked => {
                tally.acked.push(id);
                if healed.load(Ordering::SeqCst) {
                    tally.acked_after_healing += 1;
                }
                tokio::time::sleep(PACE).await;
            }
            Answer::Refused(code) => {
                assert_eq!(code, WsErrorCode::Unavailable, "only retryable refusals");
                tally.refused += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    socket.close().await;
    tally
}

#[tokio::test]
async fn postgres_going_away_under_load_loses_nothing_acknowledged_and_heals_by_itself() {
    if crate::helpers::skipped_in_the_postgres_pass() {
        return;
    }
    let Some(cluster) = PgCluster::start() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have PostgreSQL's server programs (initdb, pg_ctl)"
        );
        eprintln!("skipped: PostgreSQL's server programs are not installed");
        return;
    };
    let app = spawn_in(Data::postgres_at(cluster.url()), |_| {}).await;
    let bob = app.peer("bob").await;
    let (stop, stopped) = watch::channel(false);
    let healed = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        let mut alice = app.peer(&format!("alice{i}")).await;
        let mut sealed = Vec::with_capacity(SEALED);
        for n in 0..SEALED {
            let body = format!("{i}/{n}:{}", "x".repeat(2_000));
            sealed.push(
                alice
                    .chat
                    .seal_text(bob.id(), &body, false, None)
                    .await
                    .expect("seal"),
            );
        }
        senders.push(keep_sending(alice, sealed, stopped.clone(), healed.clone()));
    }
    let senders = futures_util::future::join_all(senders);
    let outages = async {
        for mode in [StopMode::Fast, StopMode::Immediate] {
            tokio::time::sleep(Duration::from_secs(2)).await;
            cluster.stop(mode);
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(readyz(&app).await, StatusCode::SERVICE_UNAVAILABLE);
            let carol = TestUser::generate("carol");
            assert_eq!(
                app.register(&carol).await.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "a registration while the database is away"
            );
            cluster.start_again();
            wait_until_ready(&app, Duration::from_secs(20)).await;
        }
        healed.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = stop.send(true);
    };
    let (tallies, ()) = tokio::join!(senders, outages);
    let acked: Vec<String> = tallies.iter().flat_map(|t| t.acked.clone()).collect();
    let refused: usize = tallies.iter().map(|t| t.refused).sum();
    assert!(refused > 0, "the outages must refuse some messages");
    // Every sender got through again after the last outage.
    assert!(tallies.iter().all(|t| t.acked_after_healing > 0));

    let data = app.stop().await;
    let app = spawn_in(data, |_| {}).await;
    let mut bob = bob;
    bob.log_in_to(&app).await;
    let stored: std::collections::HashSet<String> =
        bob.stored_message_ids().await.into_iter().collect();
    let missing = acked.iter().filter(|id| !stored.contains(*id)).count();
    eprintln!(
        "acknowledged {}, refused {refused}, stored {}, missing {missing}",
        acked.len(),
        stored.len()
    );
    assert_eq!(missing, 0, "acknowledged messages missing");
    app.stop().await;
}
