//! Every scenario at tiny scale against a real server (in this process, on loopback), checking
//! that each report's counts add up. Timings are never asserted.

use std::process::Command;
use std::sync::Arc;

use serde_json::Value;

use securechat_server::blobs::Blobs;
use securechat_server::{setup, AppState, Settings};
use securechat_store_sqlite::SqliteStore;

struct Server {
    base: String,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = Settings::new(dir.path().to_owned());
    settings.registration = securechat_server::settings::RegistrationMode::Open;
    settings.realtime.max_connections_per_user = 100;
    settings.realtime.frames_per_second = 100_000;
    settings.realtime.frame_burst = 100_000;
    setup::prepare_data_dir(dir.path()).expect("data dir");
    let secret = setup::token_secret(dir.path(), None).expect("secret");
    let store = SqliteStore::open(&dir.path().join("securechat.db"))
        .await
        .expect("store");
    let blobs = Blobs::open(dir.path()).expect("blobs");
    let state = AppState::new(settings, Arc::new(store), blobs, &secret);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(securechat_server::serve(listener, state, None, async {
        let _ = stopped.await;
    }));
    Server {
        base,
        _dir: dir,
        _stop: stop,
    }
}

/// Runs the tool (blocking, off the runtime) and returns its JSON report.
async fn bench(server: &Server, first_source: usize, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("report.json");
    let plot = dir.path().join("plot.svg");
    let mut command = Command::new(env!("CARGO_BIN_EXE_securechat-bench"));
    command
        .args([
            "--server",
            &server.base,
            "--server-pid",
            &std::process::id().to_string(),
        ])
        .args(["--first-source", &first_source.to_string()])
        .arg("--json")
        .arg(&json)
        .arg("--plot")
        .arg(&plot)
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run");
    assert!(
        output.status.success(),
        "{args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(&json).expect("report")).expect("json");
    if report["scenario"] == "register" || report["scenario"] == "connections" {
        let svg = std::fs::read_to_string(&plot).expect("plot written");
        assert!(svg.starts_with("<svg"));
    }
    report
}

fn count(report: &Value, name: &str) -> f64 {
    report["counts"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} missing in {report}"))
}

fn assert_messages_add_up(report: &Value, expected: f64) {
    let sent = count(report, "sent");
    assert_eq!(sent, expected);
    assert_eq!(
        count(report, "delivered") + count(report, "lost (sent - delivered)"),
        sent
    );
    assert_eq!(count(report, "acked") + count(report, "failed"), sent);
    assert_eq!(count(report, "delivered"), sent, "{report}");
    assert_eq!(count(report, "duplicated"), 0.0);
    assert_eq!(count(report, "out_of_order (per sender)"), 0.0);
    assert_eq!(report["rows"][0]["samples"].as_f64(), Some(sent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_at_tiny_scale_and_its_counts_add_up() {
    let server = start().await;

    let report = bench(
        &server,
        0,
        &["register", "--levels", "2,4", "--factor", "1"],
    )
    .await;
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["samples"], 2);
    assert_eq!(rows[1]["samples"], 4);
    assert!(rows.iter().all(|r| r["failures"] == 0));

    let report = bench(&server, 100, &["login", "--users", "3"]).await;
    assert_eq!(report["rows"][0]["samples"], 3);
    assert_eq!(report["rows"][0]["failures"], 0);
    assert!(count(&report, "throughput_fraction_of_hash_bound") > 0.0);

    let report = bench(&server, 0, &["hash", "--iterations", "1"]).await;
    assert!(count(&report, "hash_ms") > 0.0);

    let report = bench(
        &server,
        200,
        &["upload", "--clients", "3", "--size-mib", "0.1"],
    )
    .await;
    assert_eq!(report["rows"][0]["samples"], 3);
    assert_eq!(count(&report, "downloaded_identical"), 3.0);
    assert_eq!(count(&report, "download_mismatch"), 0.0);

    let report = bench(
        &server,
        300,
        &["burst", "--senders", "2", "--messages", "20"],
    )
    .await;
    assert_messages_add_up(&report, 40.0);

    let report = bench(
        &server,
        400,
        &[
            "sustained",
            "--pairs",
            "2",
            "--rate",
            "100",
            "--seconds",
            "1",
        ],
    )
    .await;
    assert_messages_add_up(&report, 100.0);

    let report = bench(
        &server,
        500,
        &[
            "connections",
            "--steps",
            "5,10",
            "--per-user",
            "5",
            "--probe",
            "10",
        ],
    )
    .await;
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[1]["open_ok"], 10);
    assert_eq!(steps[1]["probe_lost"], 0);
    assert_eq!(count(&report, "connect_failures"), 0.0);
}
