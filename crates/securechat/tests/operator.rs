//! What an operator sees of the binary itself: its version, plain logs when not on a
//! terminal, a `build_info` metric, and a data folder only one server may use.

#[path = "support/spawned.rs"]
mod spawned;

use std::time::Duration;

use securechat_store_tests::services::http_get;

use spawned::{free_addr, securechat, serve, wait_for_line};

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
