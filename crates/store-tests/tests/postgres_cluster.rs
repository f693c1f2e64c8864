//! The private PostgreSQL server of outage tests: it starts, stops (cleanly or by a crash)
//! and starts again with its data, and a store on it recovers by itself.

use std::time::Duration;

use securechat_store::Store as _;
use securechat_store_postgres::{PostgresOptions, PostgresStore};
use securechat_store_tests::cluster::{PgCluster, StopMode};
use securechat_store_tests::conformance::user;

#[tokio::test]
async fn a_store_outlives_its_server_stopping_and_starting() {
    let Some(cluster) = PgCluster::start() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have PostgreSQL's server programs (initdb, pg_ctl)"
        );
        eprintln!("skipped: PostgreSQL's server programs are not installed");
        return;
    };
    let options = PostgresOptions {
        acquire_timeout: Duration::from_secs(1),
        ..PostgresOptions::default()
    };
    let store = PostgresStore::connect(&cluster.url(), options)
        .await
        .expect("connect");
    let mut names = Vec::new();
    for (n, mode) in [StopMode::Fast, StopMode::Immediate]
        .into_iter()
        .enumerate()
    {
        let name = format!("user{n}");
        user(&store, &name).await;
        names.push(name);
        cluster.stop(mode);
        assert!(
            store.ping().await.is_err(),
            "not ready while stopped ({mode:?})"
        );
        cluster.start_again();
        let mut ready = false;
        for _ in 0..50 {
            if store.ping().await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "ready again after {mode:?}");
    }
    let listed: Vec<String> = securechat_store::Users::list_users(&store)
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(listed, names, "committed accounts survive both stops");
}
