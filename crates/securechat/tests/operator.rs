//! What an operator sees of the binary itself: its version, plain logs when not on a
//! terminal, a `build_info` metric, a data folder only one server may use, the migrations
//! named at start, and an older binary refusing a database a newer one upgraded.

#[path = "support/spawned.rs"]
mod spawned;

use std::time::{Duration, Instant};

use securechat_store_tests::services::http_get;

use spawned::{free_addr, securechat, serve, serve_with, wait_for_line};

#[test]
fn the_version_is_printed() {
    let output = securechat()
        .arg("--version")
        .output()
        .expect("run --version");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert_eq!(
        text.trim(),
        format!("securechat {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn logs_are_plain_off_a_terminal_and_name_the_version_and_a_second_server_on_the_folder_refuses() {
    let data = tempfile::tempdir().expect("a data folder");
    let (mut first, addr, lines) = serve(data.path());
    let (seen, listening) = wait_for_line(&lines, "listening on", Duration::from_secs(30));
    assert!(listening, "the server did not start: {seen:#?}");
    assert!(
        seen.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes in a log that is not a terminal: {seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("securechat starting") && l.contains(env!("CARGO_PKG_VERSION"))),
        "no start-up line with the version: {seen:#?}"
    );
    let (_, metrics) = http_get(addr, "/metrics").expect("/metrics answers");
    assert!(
        metrics.contains(&format!(
            "securechat_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "no build_info metric"
    );

    // A second server on the same data folder refuses, naming the holder.
    let output = securechat()
        .args(["serve", "--listen", &free_addr().to_string(), "--data-dir"])
        .arg(data.path())
        .output()
        .expect("run a second server");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success(),
        "a second server started on the folder: {text}"
    );
    assert!(
        text.contains("is in use by another securechat process")
            && text.contains(&format!("pid {}", first.id())),
        "the refusal does not say who holds the folder: {text}"
    );

    // Once the first is gone (killed, even), the folder is free again.
    first.kill().expect("kill the first server");
    first.wait().expect("wait for it");
    let (mut again, _, lines) = serve(data.path());
    let (seen, listening) = wait_for_line(&lines, "listening on", Duration::from_secs(30));
    assert!(
        listening,
        "the folder stayed locked after the holder died: {seen:#?}"
    );
    again.kill().expect("kill");
    let _ = again.wait();
}

/// The migrations a backend crate embeds: how many, and the newest's file name.
fn embedded_migrations(backend: &str) -> (usize, String) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(format!("store-{backend}"))
        .join("migrations");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the migrations folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".sql").map(str::to_owned))
        .collect();
    names.sort();
    (names.len(), names.last().cloned().expect("a migration"))
}

/// Starts a server with `options`, expects its start-up line to name the version and the
/// embedded migrations, and stops it.
fn start_and_check_migrations(data: &std::path::Path, options: &[&str], backend: &str) {
    let (mut server, _, lines) = serve_with(data, |c| {
        c.args(options);
    });
    let (seen, ready) = wait_for_line(&lines, "database ready", Duration::from_secs(30));
    let _ = server.kill();
    let _ = server.wait();
    assert!(ready, "the server did not open its database: {seen:#?}");
    let (count, latest) = embedded_migrations(backend);
    let line = seen.last().expect("the line");
    assert!(
        line.contains(&format!("version={}", env!("CARGO_PKG_VERSION")))
            && line.contains(&format!("backend={backend}"))
            && line.contains(&format!("migrations={count} (latest {latest})")),
        "the start-up line does not name the version and the migrations: {line}"
    );
}

/// Runs the server on a database a newer securechat upgraded (a migration after the newest
/// this binary has): it must refuse, in plain words, and leave the database as it was.
fn refuses_a_newer_database(data: &std::path::Path, options: &[&str], backend: &str) -> String {
    let (mut server, _, lines) = serve_with(data, |c| {
        c.args(options);
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = server.kill();
            let seen: Vec<String> = lines.try_iter().collect();
            panic!("the server started on a newer database: {seen:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(100));
    let text = lines.try_iter().collect::<Vec<_>>().join("\n");
    assert_eq!(status.code(), Some(1), "exit status: {text}");
    let (_, latest) = embedded_migrations(backend);
    let future = latest_version(&latest) + 1;
    assert!(
        text.contains(&format!(
            "this database was upgraded by a newer securechat (migration {future:04}_from_the_future); \
             this binary ({}) knows migrations up to {latest}: run the newer binary, or restore \
             a backup taken before the upgrade",
            env!("CARGO_PKG_VERSION")
        )),
        "the refusal is not in plain words: {text}"
    );
    assert!(
        !text.contains("VersionMissing") && !text.contains("was previously applied"),
        "sqlx's own error shows: {text}"
    );
    text
}

fn latest_version(latest: &str) -> i64 {
    latest
        .split('_')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a numbered migration")
}

/// The row a newer securechat's migration leaves in sqlx's table.
fn future_migration_sql(backend: &str) -> String {
    let (_, latest) = embedded_migrations(backend);
    let checksum = if backend == "sqlite" {
        "x'00'"
    } else {
        "'\\x00'::bytea"
    };
    format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ({}, 'from the future', TRUE, {checksum}, 1)",
        latest_version(&latest) + 1
    )
}

#[test]
fn the_start_up_line_names_the_migrations_and_an_older_binary_refuses_a_newer_sqlite_database() {
    let data = tempfile::tempdir().expect("a data folder");
    start_and_check_migrations(data.path(), &[], "sqlite");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let file = data.path().join("securechat.db");
    let rows = |sql: String| {
        runtime.block_on(async {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
                .await
                .expect("open the database");
            if sql.starts_with("INSERT") {
                sqlx::query(&sql).execute(&pool).await.expect("insert");
            }
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
                .fetch_one(&pool)
                .await
                .expect("count");
            pool.close().await;
            count
        })
    };
    let before = rows(future_migration_sql("sqlite"));
    refuses_a_newer_database(data.path(), &[], "sqlite");
    assert_eq!(rows(String::new()), before, "the database was changed");
}

#[test]
fn the_same_on_postgresql() {
    use securechat_store_tests::{postgres_or_skip, Backend, TestDatabase};
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    if !runtime.block_on(postgres_or_skip()) {
        return;
    }
    let database = runtime
        .block_on(TestDatabase::new(Backend::Postgres))
        .expect("a PostgreSQL test database");
    let url = database.url();
    let data = tempfile::tempdir().expect("a data folder");
    let options = ["--database-url", url.as_str()];
    start_and_check_migrations(data.path(), &options, "postgres");

    let rows = |sql: String| {
        runtime.block_on(async {
            let pool = sqlx::PgPool::connect(&url).await.expect("connect");
            if sql.starts_with("INSERT") {
                sqlx::query(&sql).execute(&pool).await.expect("insert");
            }
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
                .fetch_one(&pool)
                .await
                .expect("count");
            pool.close().await;
            count
        })
    };
    let before = rows(future_migration_sql("postgres"));
    refuses_a_newer_database(data.path(), &options, "postgres");
    assert_eq!(rows(String::new()), before, "the database was changed");
}
