//! Failed logins without locking the owner out: growing delays per (account, address), the
//! per-account limit only for addresses the account has not logged in from, and a global
//! budget against credential stuffing.

use std::time::Duration;

use reqwest::{Client, Response, StatusCode};

use crate::helpers::{error_code, spawn_app, spawn_app_with, TestUser};

fn retry_after(response: &Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds")
}

#[tokio::test]
async fn failures_from_elsewhere_do_not_lock_the_owner_out_at_a_known_address() {
    let app = spawn_app().await;
    let owner = TestUser::generate("owner");
    app.register_ok(&owner).await;
    let home = app.client_from("127.0.1.1");
    let login = app
        .login_from(&home, &owner.username, &owner.password)
        .await;
    assert_eq!(login.status(), StatusCode::OK);

    // Ten wrong passwords, one from each of ten addresses: no address is slowed down.
    for i in 0..10 {
        let attacker = app.client_from(&format!("127.0.1.{}", 10 + i));
        let failed = app
            .login_from(&attacker, &owner.username, "wrong password!")
            .await;
        assert_eq!(failed.status(), StatusCode::BAD_REQUEST, "attempt {i}");
    }

    // The owner at the usual address still gets in, with the right password.
    let again = app
        .login_from(&home, &owner.username, &owner.password)
        .await;
    let status = again.status();
    println!("owner at the known address after 10 failures elsewhere: {status}");
    assert_eq!(status, StatusCode::OK);

    // An address the account has never logged in from is held to the account's limit.
    let fresh = app.client_from("127.0.1.50");
    let refused = app
        .login_from(&fresh, &owner.username, &owner.password)
        .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&refused) > 0);
    assert_eq!(error_code(refused).await, "rate_limited");
}

#[tokio::test]
async fn one_address_is_slowed_down_with_growing_delays() {
    let app = spawn_app().await;
    let owner = TestUser::generate("owner");
    app.register_ok(&owner).await;
    let attacker = app.client_from("127.0.2.1");
    let wrong = || app.login_from(&attacker, &owner.username, "wrong password!");

    for i in 0..3 {
        assert_eq!(
            wrong().await.status(),
            StatusCode::BAD_REQUEST,
            "attempt {i}"
        );
    }
    // After three failures, each further attempt waits: 1 s, then 2 s, …
    let slowed = wrong().await;
    println!(
        "4th attempt at once: {} (Retry-After {:?})",
        slowed.status(),
        slowed.headers().get("retry-after")
    );
    assert_eq!(slowed.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&slowed), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(wrong().await.status(), StatusCode::BAD_REQUEST);
    let slower = wrong().await;
    assert_eq!(slower.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&slower), 2);
    // Even the right password waits at that address …
    assert_eq!(
        app.login_from(&attacker, &owner.username, &owner.password)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // … but not elsewhere: five failures are under the account's limit.
    let elsewhere = app.client_from("127.0.2.2");
    assert_eq!(
        app.login_from(&elsewhere, &owner.username, &owner.password)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn credential_stuffing_trips_the_global_budget_but_not_known_owners() {
    let app = spawn_app_with(|s| s.login_limits.global = 40).await;
    let known = TestUser::generate("known");
    let newcomer = TestUser::generate("newcomer");
    app.register_ok(&known).await;
    app.register_ok(&newcomer).await;
    let home = app.client_from("127.0.3.200");
    assert_eq!(
        app.login_from(&home, &known.username, &known.password)
            .await
            .status(),
        StatusCode::OK
    );

    // Forty leaked pairs from eight addresses: one failure per account, five per address.
    let clients: Vec<Client> = (1..=8)
        .map(|i| app.client_from(&format!("127.0.3.{i}")))
        .collect();
    for i in 0..40 {
        let status = app
            .login_from(
                &clients[i % clients.len()],
                &format!("victim{i}"),
                &format!("leaked password {i}"),
            )
            .await
            .status();
        assert_eq!(status, StatusCode::BAD_REQUEST, "pair {i}");
    }

    // The budget is used up: an address new to the account is refused …
    let refused = app
        .login_from(
            &app.client_from("127.0.3.100"),
            &newcomer.username,
            &newcomer.password,
        )
        .await;
    println!(
        "newcomer after 40 stuffed pairs: {} (Retry-After {:?})",
        refused.status(),
        refused.headers().get("retry-after")
    );
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&refused) > 0);
    // … while an owner at a known address logs in as usual.
    assert_eq!(
        app.login_from(&home, &known.username, &known.password)
            .await
            .status(),
        StatusCode::OK
    );

    let metrics = app.metrics_text().await;
    assert!(metrics.contains("securechat_login_failure_ratio"));
    assert!(metrics.contains("securechat_rate_limited_total{scope=\"global\"}"));
}
