//! A real S3-compatible server for the file-storage tests: `moto_server` (PyPI `moto[server]`)
//! started by the test on a free loopback port and stopped when dropped. Without it the S3
//! tests are skipped with one line, except under `CI=true`, where a missing server fails them.

use std::time::{Duration, Instant};

use securechat_store_tests::services::MotoServer;

use securechat_server::blobs::{S3Credentials, S3Options};

pub struct Moto {
    _server: MotoServer,
    pub endpoint: String,
    http: reqwest::Client,
}

impl Moto {
    pub async fn start() -> Option<Moto> {
        let server = MotoServer::start("this S3 file-storage test")?;
        let moto = Moto {
            endpoint: server.endpoint.clone(),
            _server: server,
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
            MotoServer::program(),
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

/// The texts of every `<tag>…</tag>` in `xml`.
fn between_tags(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(open.as_str())
        .skip(1)
        .filter_map(|rest| rest.split_once(close.as_str()).map(|(v, _)| v.to_owned()))
        .collect()
}
