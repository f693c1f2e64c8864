//! A real S3-compatible server for the file-storage tests: `moto_server` (PyPI `moto[server]`)
//! started by the test on a free loopback port and stopped when dropped. Without it the S3
//! tests are skipped with one line, except under `CI=true`, where a missing server fails them.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use securechat_server::blobs::{S3Credentials, S3Options};

/// The program started (override with `SECURECHAT_TEST_MOTO_SERVER`).
fn program() -> String {
    std::env::var("SECURECHAT_TEST_MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned())
}

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    http: reqwest::Client,
}

/// A port nothing listens on right now (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Moto {
    /// Starts moto; `None` (after one printed line) when it is not installed outside CI.
    pub async fn start() -> Option<Moto> {
        let port = free_port();
        let spawned = Command::new(program())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!(
                        "{} is required under CI=true: pip install 'moto[server]'",
                        program()
                    );
                }
                eprintln!(
                    "skipped: {} is not installed (pip install 'moto[server]'), so this S3 \
                     file-storage test did not run",
                    program()
                );
                return None;
            }
            Err(e) => panic!("cannot start {}: {e}", program()),
        };
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        moto.wait_until_up().await;
        Some(moto)
    }

    async fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.http.get(&self.endpoint).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{} did not answer on {} within 60 s",
            program(),
            self.endpoint
        );
    }

    /// Creates a bucket (moto needs no signature for it).
    pub async fn create_bucket(&self, bucket: &str) {
        let response = self
            .http
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .expect("create bucket");
        assert!(response.status().is_success(), "{response:?}");
    }

    /// Options for `bucket/prefix` on this server (moto takes any credentials).
    pub fn options(&self, bucket: &str, prefix: &str) -> S3Options {
        S3Options::new(
            &format!("s3://{bucket}/{prefix}"),
            Some(self.endpoint.clone()),
            "us-east-1".to_owned(),
            true,
            S3Credentials {
                access_key_id: "testing".to_owned(),
                secret_access_key: "testing-secret".to_owned(),
                session_token: None,
            },
        )
        .expect("valid S3 options")
    }

    async fn get_text(&self, path_and_query: &str) -> String {
        let response = self
            .http
            .get(format!("{}/{path_and_query}", self.endpoint))
            .send()
            .await
            .expect("bucket request");
        assert!(response.status().is_success(), "{response:?}");
        response.text().await.expect("bucket listing")
    }

    /// Every object key in the bucket (one page: tests hold a few).
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let xml = self.get_text(&format!("{bucket}?list-type=2")).await;
        between_tags(&xml, "Key")
    }

    /// Multipart uploads begun and neither completed nor aborted.
    pub async fn pending_uploads(&self, bucket: &str) -> Vec<String> {
        let xml = self.get_text(&format!("{bucket}?uploads")).await;
        between_tags(&xml, "UploadId")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The texts of every `<tag>…</tag>` in `xml`.
fn between_tags(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(open.as_str())
        .skip(1)
        .filter_map(|rest| rest.split_once(close.as_str()).map(|(v, _)| v.to_owned()))
        .collect()
}
