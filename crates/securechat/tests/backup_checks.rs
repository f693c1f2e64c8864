//! What `securechat backup` / `securechat restore` refuse, and the server's own schedule,
//! through the real binary: a restore never writes into a data folder or a PostgreSQL
//! database that holds something (both stay as they were), never restores a folder without a
//! complete manifest or with a file that does not match it (naming the file), and a backup is
//! never written over something. The server with `--backup-dir` takes its backup at
//! `--backup-at`, logs it and exports it in `/metrics`; a failing one is logged and counted.
//! Files on S3 stay in the bucket, and the backup says so and lists them.
//! (The restore drill under load is `backup_drill.rs`.)

#[path = "support/spawned.rs"]
mod spawned;
mod support;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use securechat_store_tests::services::{http_get, MotoServer};
use securechat_store_tests::{postgres_or_skip, Backend as StoreBackend, TestDatabase};

use spawned::{securechat, Served};
use support::{texts, wait, User};

/// Runs `securechat ARGS` to its end.
fn run(args: &[&str]) -> Output {
    run_with(args, &[])
}

/// Runs `securechat ARGS` with more environment to its end.
fn run_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = securechat();
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    wait(command.spawn().expect("spawn securechat"), args)
}

fn succeeds(args: &[&str]) -> String {
    let output = run(args);
    let (stdout, stderr) = texts(&output);
    assert!(
        output.status.success(),
        "securechat {args:?} failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

fn fails(args: &[&str]) -> String {
    let output = run(args);
    let (stdout, stderr) = texts(&output);
    assert!(
        !output.status.success(),
        "securechat {args:?} should have failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    stderr
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Copies a folder (a backup) file by file.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn restores_refuse_damaged_backups_and_occupied_targets() {
    let scratch = tempfile::tempdir().expect("scratch");
    let data = scratch.path().join("data");
    let server = Served::start(&data, |c| {
        c.args(["--ip-allow", "127.0.0.0/8", "--registration", "open"]);
    });
    let alice = User {
        name: "alice",
        base: format!("http://{}", server.addr),
        config: tempfile::tempdir().expect("config"),
    };
    let bob = User {
        name: "bob",
        base: alice.base.clone(),
        config: tempfile::tempdir().expect("config"),
    };
    alice.register();
    bob.register();
    let file = alice.dir().join("notes.txt");
    std::fs::write(&file, b"notes").expect("write");
    alice.ok(&["upload", "--to", "bob", path(&file)], "");

    let backup = scratch.path().join("backup");
    let printed = succeeds(&["backup", "--out", path(&backup), "--data-dir", path(&data)]);
    assert!(printed.contains("1 files"), "{printed}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| p.metadata().expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&backup), 0o700, "the backup folder is private");
        assert_eq!(mode(&backup.join("token-signing.key")), 0o600);
        assert_eq!(mode(&backup.join("database.sqlite3")), 0o600);
    }
    assert!(
        !names(scratch.path()).iter().any(|n| n.contains("partial")),
        "nothing of the build is left beside it: {:?}",
        names(scratch.path())
    );
    // A data folder without a database is no server's.
    let said = fails(&[
        "backup",
        "--out",
        path(&scratch.path().join("nothing")),
        "--data-dir",
        path(&scratch.path().join("typo")),
    ]);
    assert!(said.contains("there is no database at"), "{said}");
    assert!(!scratch.path().join("typo").exists());
    // Never written over something.
    let said = fails(&["backup", "--out", path(&backup), "--data-dir", path(&data)]);
    assert!(said.contains("is not empty"), "{said}");
    drop(server);

    // An occupied data folder is refused, and left as it was.
    let occupied = scratch.path().join("occupied");
    std::fs::create_dir(&occupied).expect("mkdir");
    std::fs::write(occupied.join("mine.txt"), b"keep me").expect("write");
    let said = fails(&[
        "restore",
        "--from",
        path(&backup),
        "--data-dir",
        path(&occupied),
    ]);
    assert!(said.contains("is not empty"), "{said}");
    assert_eq!(names(&occupied), ["mine.txt"]);

    // A backup of SQLite does not go into PostgreSQL (nothing is connected to).
    let target = scratch.path().join("target");
    let said = fails(&[
        "restore",
        "--from",
        path(&backup),
        "--data-dir",
        path(&target),
        "--database-url",
        "postgres://nobody@127.0.0.1:1/none",
    ]);
    assert!(said.contains("migrate-store"), "{said}");

    // A manifest that lost a file's entry (its checksum and the file with it) is refused:
    // every file the snapshot named is listed or said missing.
    let short = scratch.path().join("short");
    copy_dir(&backup, &short);
    let manifest_path = short.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).expect("manifest"))
            .expect("json");
    let checksums = manifest["checksums"].as_object_mut().expect("checksums");
    let blob = checksums
        .keys()
        .find(|k| k.starts_with("files/"))
        .cloned()
        .expect("a file blob's entry");
    checksums.remove(&blob);
    std::fs::remove_file(short.join(&blob)).expect("rm blob");
    std::fs::write(&manifest_path, manifest.to_string()).expect("write manifest");
    let said = fails(&[
        "restore",
        "--from",
        path(&short),
        "--data-dir",
        path(&target),
    ]);
    assert!(said.contains("names 1 files but lists 0"), "{said}");
    assert!(!target.exists(), "nothing was written");

    // A folder without its manifest (a backup whose writing did not finish) is no backup.
    let partial = scratch.path().join("partial");
    copy_dir(&backup, &partial);
    std::fs::remove_file(partial.join("manifest.json")).expect("rm");
    let said = fails(&[
        "restore",
        "--from",
        path(&partial),
        "--data-dir",
        path(&target),
    ]);
    assert!(said.contains("not a complete securechat backup"), "{said}");
    assert!(!target.exists(), "nothing was written");

    // One changed byte, in the database or in a file, is found and named.
    for damaged_file in ["database.sqlite3", "files"] {
        let damaged = scratch.path().join(format!("damaged-{damaged_file}"));
        copy_dir(&backup, &damaged);
        let victim = if damaged_file == "files" {
            std::fs::read_dir(damaged.join("files"))
                .expect("files")
                .flatten()
                .next()
                .expect("a file blob")
                .path()
        } else {
            damaged.join(damaged_file)
        };
        let mut bytes = std::fs::read(&victim).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&victim, &bytes).expect("write");
        let said = fails(&[
            "restore",
            "--from",
            path(&damaged),
            "--data-dir",
            path(&target),
        ]);
        let named = victim
            .strip_prefix(&damaged)
            .expect("inside")
            .to_string_lossy()
            .into_owned();
        assert!(
            said.contains("the backup is damaged") && said.contains(&named),
            "{named}: {said}"
        );
        assert!(!target.exists(), "nothing was written");
    }

    // The intact backup restores, and a server starts on it with alice's session.
    let printed = succeeds(&[
        "restore",
        "--from",
        path(&backup),
        "--data-dir",
        path(&target),
    ]);
    assert!(printed.contains("row counts match the backup"), "{printed}");
    let restored = Served::start(&target, |c| {
        c.args(["--ip-allow", "127.0.0.0/8"]);
    });
    let alice = User {
        base: format!("http://{}", restored.addr),
        ..alice
    };
    let out = alice.ok(&["users"], "");
    assert!(out.contains("alice"), "{out}");
}

#[test]
fn a_postgres_restore_goes_into_an_empty_database_only() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Some((source, occupied, fresh)) = runtime.block_on(async {
        if !postgres_or_skip().await {
            return None;
        }
        let make = || async {
            TestDatabase::new(StoreBackend::Postgres)
                .await
                .expect("a PostgreSQL test database")
        };
        let (source, occupied, fresh) = (make().await, make().await, make().await);
        // Migrated by a store: tables, and (in the occupied one) a row.
        source.open().await.close().await;
        let store = occupied.open().await;
        store
            .create_invite(securechat_store::model::NewInvite {
                code_hash: [7; 32],
                note: "mine".to_owned(),
                created_at: 1,
                expires_at: i64::MAX,
            })
            .await
            .expect("an invitation");
        store.close().await;
        Some((source, occupied, fresh))
    }) else {
        return;
    };
    let scratch = tempfile::tempdir().expect("scratch");
    let data = scratch.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    let backup = scratch.path().join("backup");
    let source_url = source.url();
    let printed = succeeds(&[
        "backup",
        "--out",
        path(&backup),
        "--data-dir",
        path(&data),
        "--database-url",
        &source_url,
    ]);
    assert!(printed.contains("database: postgres"), "{printed}");

    let target = scratch.path().join("target");
    let occupied_url = occupied.url();
    let said = fails(&[
        "restore",
        "--from",
        path(&backup),
        "--data-dir",
        path(&target),
        "--database-url",
        &occupied_url,
    ]);
    assert!(said.contains("is not empty"), "{said}");
    assert!(!target.exists(), "nothing was written");
    let invites = runtime.block_on(async {
        let store = occupied.open().await;
        let invites = store.list_invites().await.expect("invites");
        store.close().await;
        invites
    });
    assert_eq!(invites.len(), 1, "the occupied database is unchanged");
    // Without a database URL a PostgreSQL backup has nowhere to go.
    let said = fails(&[
        "restore",
        "--from",
        path(&backup),
        "--data-dir",
        path(&target),
    ]);
    assert!(said.contains("--database-url postgres://"), "{said}");

    let fresh_url = fresh.url();
    let printed = succeeds(&[
        "restore",
        "--from",
        path(&backup),
        "--data-dir",
        path(&target),
        "--database-url",
        &fresh_url,
    ]);
    assert!(printed.contains("row counts match the backup"), "{printed}");
}

/// `HH:MM:SS` a few seconds from now, local time.
fn soon(seconds: i64) -> String {
    (chrono::Local::now() + chrono::Duration::seconds(seconds))
        .format("%H:%M:%S")
        .to_string()
}

/// The value of a metric without labels in a Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn the_server_takes_its_backup_on_schedule_and_exports_how_it_went() {
    let scratch = tempfile::tempdir().expect("scratch");
    let backups = scratch.path().join("backups");
    // A few seconds ahead of each server's start (a server that starts after its time waits
    // for the next day).
    let at = soon(6);
    let mut good = Served::start(&scratch.path().join("data"), |c| {
        c.args([
            "--backup-dir",
            path(&backups),
            "--backup-at",
            &at,
            "--backup-keep",
            "2",
        ]);
    });
    // A folder that cannot be made: below a file.
    let blocker = scratch.path().join("a-file");
    std::fs::write(&blocker, b"").expect("write");
    let at = soon(6);
    let mut bad = Served::start(&scratch.path().join("data2"), |c| {
        c.args([
            "--backup-dir",
            path(&blocker.join("backups")),
            "--backup-at",
            &at,
        ]);
    });
    assert!(
        good.wait_for("backup written", Duration::from_secs(90)),
        "no scheduled backup:\n{}",
        good.log_text()
    );
    assert!(
        bad.wait_for("backup failed", Duration::from_secs(90)),
        "no failed backup:\n{}",
        bad.log_text()
    );
    let written: Vec<String> = names(&backups);
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].starts_with("securechat-backup-"), "{written:?}");
    let manifest = backups.join(&written[0]).join("manifest.json");
    assert!(manifest.is_file());

    let (status, text) = http_get(good.addr, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    let now = chrono::Utc::now().timestamp() as f64;
    let last = metric(&text, "securechat_backup_last_success_timestamp_seconds")
        .expect("the last success time");
    assert!((now - last).abs() < 120.0, "{last} vs {now}");
    assert!(metric(&text, "securechat_backup_last_size_bytes").is_some_and(|b| b > 0.0));
    assert!(metric(&text, "securechat_backup_last_duration_seconds").is_some());
    assert_eq!(metric(&text, "securechat_backup_failures_total"), Some(0.0));
    let (_, text) = http_get(bad.addr, "/metrics").expect("metrics");
    assert_eq!(metric(&text, "securechat_backup_failures_total"), Some(1.0));
    assert!(metric(&text, "securechat_backup_last_success_timestamp_seconds").is_none());

    // What the schedule wrote restores.
    let target = scratch.path().join("restored");
    succeeds(&[
        "restore",
        "--from",
        path(&backups.join(&written[0])),
        "--data-dir",
        path(&target),
    ]);
}

#[test]
fn files_on_s3_stay_in_the_bucket_and_the_backup_lists_them() {
    let Some(moto) = MotoServer::start("the backup of a server whose files are on S3") else {
        return;
    };
    moto.create_bucket("chat-files");
    let credentials = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let s3 = [
        "--files-url",
        "s3://chat-files/backed-up",
        "--s3-endpoint",
        moto.endpoint.as_str(),
        "--s3-allow-http",
        "true",
    ];
    let scratch = tempfile::tempdir().expect("scratch");
    let data = scratch.path().join("data");
    let server = Served::start(&data, |c| {
        c.args(["--ip-allow", "127.0.0.0/8", "--registration", "open"])
            .args(s3)
            .envs(credentials);
    });
    let base = format!("http://{}", server.addr);
    let alice = User {
        name: "alice",
        base: base.clone(),
        config: tempfile::tempdir().expect("config"),
    };
    let bob = User {
        name: "bob",
        base,
        config: tempfile::tempdir().expect("config"),
    };
    alice.register();
    bob.register();
    let file = alice.dir().join("notes.txt");
    std::fs::write(&file, b"notes in a bucket").expect("write");
    alice.ok(&["upload", "--to", "bob", path(&file)], "");

    let backup = scratch.path().join("backup");
    let mut args = vec!["backup", "--out", path(&backup), "--data-dir", path(&data)];
    args.extend(s3);
    let output = run_with(&args, &credentials);
    let (printed, stderr) = texts(&output);
    assert!(output.status.success(), "{printed}{stderr}");
    assert!(
        printed.contains("stay in the bucket s3://chat-files/backed-up"),
        "{printed}"
    );
    drop(server);
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(backup.join("manifest.json")).expect("manifest"),
    )
    .expect("JSON");
    assert_eq!(manifest["files"]["storage"], "s3", "{manifest}");
    assert_eq!(manifest["files"]["count"], 1, "{manifest}");
    assert!(
        manifest["files"]["location"]
            .as_str()
            .is_some_and(|l| l.starts_with("s3://chat-files/backed-up at http://")),
        "{manifest}"
    );
    let listed = std::fs::read_to_string(backup.join("s3-objects.txt")).expect("the list");
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(names(&backup.join("files")).is_empty(), "no blob is copied");

    let target = scratch.path().join("restored");
    let printed = succeeds(&[
        "restore",
        "--from",
        path(&backup),
        "--data-dir",
        path(&target),
    ]);
    assert!(
        printed.contains("in the bucket s3://chat-files"),
        "{printed}"
    );
}
