//! `securechat serve` with files on S3: bad settings and an unreachable bucket stop it at start
//! with a plain message that names the bucket and never the secret.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "do-not-print-this-secret-key";

/// Runs the server with `args` and the test credentials; its exit success and stderr, once it
/// stopped (within 60 s).
fn serve(args: &[&str], with_credentials: bool) -> (bool, String) {
    let data = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_securechat"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("SECURECHAT_CONFIG")
        .env_remove("SECURECHAT_FILES_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if with_credentials {
        command
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", SECRET);
    }
    let mut child = command.spawn().expect("spawn securechat serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("securechat serve {args:?} did not stop within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stderr.contains(SECRET) && !stdout.contains(SECRET),
        "{stderr}{stdout}"
    );
    (output.status.success(), stderr)
}

#[test]
fn an_unreachable_bucket_stops_the_server_at_start() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let (ok, stderr) = serve(
        &[
            "--files-url",
            "s3://nowhere/chat",
            "--s3-endpoint",
            &endpoint,
            "--s3-allow-http",
            "true",
        ],
        true,
    );
    assert!(!ok);
    assert!(
        stderr.contains("cannot use the file storage s3://nowhere/chat"),
        "{stderr}"
    );
    assert!(stderr.contains("is not reachable"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn bad_file_storage_settings_are_refused_with_a_clear_message() {
    let cases: [(&[&str], bool, &str); 4] = [
        (&["--files-url", "ftp://x/y"], true, "is not s3://BUCKET"),
        (&["--files-url", "s3://Bad_Bucket"], true, "bucket name"),
        (
            &[
                "--files-url",
                "s3://bucket",
                "--s3-endpoint",
                "http://127.0.0.1:9",
            ],
            true,
            "--s3-allow-http",
        ),
        (&["--files-url", "s3://bucket"], false, "AWS_ACCESS_KEY_ID"),
    ];
    for (args, with_credentials, expected) in cases {
        let (ok, stderr) = serve(args, with_credentials);
        assert!(!ok, "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let (ok, stderr) = serve(&["--s3-region", "eu-west-1"], true);
    assert!(!ok);
    assert!(stderr.contains("need --files-url"), "{stderr}");
}
