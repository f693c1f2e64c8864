//! `store-history` at tiny scale on each backend: its counts add up, every history page holds
//! exactly the messages expected, and a second run on the same database reuses it instead of
//! filling again. Timings are never asserted.

use std::process::Command;

use serde_json::Value;

use securechat_bench::database::{self, Scratch};

/// Runs `store-history` on `url` and returns its JSON report.
fn store_history(url: &str, messages: u64) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_securechat-bench"))
        .arg("--json")
        .arg(&json)
        .args(["store-history", "--database-url", url])
        .args(["--messages", &messages.to_string()])
        .args(["--pairs", "4", "--page", "20", "--queries", "60"])
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "store-history failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&std::fs::read(&json).expect("report")).expect("json")
}

fn count(report: &Value, name: &str) -> f64 {
    report["counts"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} missing in {report}"))
}

fn row<'a>(report: &'a Value, label: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["label"] == label)
        .unwrap_or_else(|| panic!("row {label} missing in {report}"))
}

fn check_queries(report: &Value) {
    for (label, samples) in [
        ("history, before = None", 30),
        ("history, before = random", 30),
        ("history (all)", 60),
        ("events_since, limit 200", 60),
    ] {
        assert_eq!(row(report, label)["samples"], samples, "{label}");
        assert_eq!(row(report, label)["failures"], 0, "{label}");
    }
    assert_eq!(count(report, "history_unexpected_pages"), 0.0, "{report}");
    assert!(count(report, "history_rows_returned") > 0.0);
    assert!(count(report, "events_returned") > 0.0);
}

/// Fills `url` with 2 500 messages (three batches), then runs again asking for fewer.
fn fills_once_then_reuses(url: &str) {
    let first = store_history(url, 2500);
    assert_eq!(count(&first, "messages_found"), 0.0);
    assert_eq!(count(&first, "fill_messages"), 2500.0);
    assert_eq!(count(&first, "messages_in_store"), 2500.0);
    assert_eq!(row(&first, "fill: append 1000")["samples"], 3);
    check_queries(&first);

    let second = store_history(url, 2000);
    assert_eq!(count(&second, "messages_found"), 2500.0);
    assert_eq!(count(&second, "fill_messages"), 0.0);
    assert_eq!(count(&second, "messages_in_store"), 2500.0);
    assert!(
        second["notes"]
            .as_array()
            .expect("notes")
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.contains("fill skipped"))),
        "{second}"
    );
    check_queries(&second);
}

#[test]
fn store_history_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    fills_once_then_reuses(&format!("sqlite://{}", dir.path().join("h.db").display()));
}

#[test]
fn store_history_on_postgres() {
    let scratch = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(Scratch::create(&database::admin_url(), "sc_bench_test"));
    let scratch = match scratch {
        Ok(scratch) => scratch,
        Err(e) if std::env::var_os("CI").is_none() => {
            println!("PostgreSQL unreachable ({e:#}): skipped");
            return;
        }
        Err(e) => panic!("PostgreSQL unreachable under CI: {e:#}"),
    };
    fills_once_then_reuses(scratch.url());
}
