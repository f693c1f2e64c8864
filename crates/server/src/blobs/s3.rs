//! The S3-compatible backend: `s3://bucket/prefix`, an endpoint (AWS by default, or any
//! S3-compatible server), a region and static credentials. Objects are `<prefix>/<hex id>`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ClientOptions, ObjectStore, RetryConfig};

/// Bytes per part of a multipart upload: S3's smallest part (but the last).
pub(super) const PART_SIZE: usize = 5 * 1024 * 1024;

/// Longest one request (a part, a delete, a listing) may take, retries included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Longest wait for a connection to the endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Retries of a failed request (a refused connection, a 5xx), with backoff.
const RETRIES: usize = 3;

/// Why S3 settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum S3UrlError {
    #[error("the files URL {0:?} is not s3://BUCKET[/PREFIX]")]
    NotS3(String),
    #[error("the bucket name {0:?} is not valid (3 to 63 lowercase letters, digits, '.' or '-')")]
    Bucket(String),
    #[error("the prefix {0:?} is not valid (path segments without '.', '..' or '#')")]
    Prefix(String),
    #[error("the S3 endpoint {0:?} is not an http:// or https:// URL")]
    Endpoint(String),
    #[error(
        "the S3 endpoint {0:?} is plain HTTP: credentials and files would cross the network \
         unencrypted; use https://, or allow HTTP (--s3-allow-http) for a server on this machine"
    )]
    PlainHttp(String),
    #[error("S3 credentials missing: set {0}")]
    Credentials(&'static str),
}

/// Static credentials (no `Debug`/`Display` of the secret).
#[derive(Clone)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// For temporary credentials.
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Where the bucket is and how to reach it.
#[derive(Debug, Clone)]
pub struct S3Options {
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// `http(s)://host[:port]` of an S3-compatible server; AWS for the region when `None`.
    pub endpoint: Option<String>,
    pub region: String,
    /// Whether a plain-HTTP endpoint is allowed (a test server on loopback).
    pub allow_http: bool,
    pub credentials: S3Credentials,
}

impl S3Options {
    /// Checked options from `s3://bucket/prefix` and the rest.
    pub fn new(
        url: &str,
        endpoint: Option<String>,
        region: String,
        allow_http: bool,
        credentials: S3Credentials,
    ) -> Result<Self, S3UrlError> {
        let (bucket, prefix) = parse_url(url)?;
        if let Some(endpoint) = &endpoint {
            let rest = endpoint
                .strip_prefix("https://")
                .or_else(|| endpoint.strip_prefix("http://"))
                .ok_or_else(|| S3UrlError::Endpoint(endpoint.clone()))?;
            if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', '@', ' ']) {
                return Err(S3UrlError::Endpoint(endpoint.clone()));
            }
            if endpoint.starts_with("http://") && !allow_http {
                return Err(S3UrlError::PlainHttp(endpoint.clone()));
            }
        }
        if credentials.access_key_id.is_empty() {
            return Err(S3UrlError::Credentials("AWS_ACCESS_KEY_ID"));
        }
        if credentials.secret_access_key.is_empty() {
            return Err(S3UrlError::Credentials("AWS_SECRET_ACCESS_KEY"));
        }
        Ok(Self {
            bucket,
            prefix,
            endpoint,
            region,
            allow_http,
            credentials,
        })
    }
}

/// `s3://bucket/prefix (endpoint …, region …)`: no credentials.
impl fmt::Display for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}", self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        match &self.endpoint {
            Some(endpoint) => write!(f, " at {endpoint} (region {})", self.region),
            None => write!(f, " (AWS region {})", self.region),
        }
    }
}

/// Bucket and prefix of `s3://bucket[/prefix]`.
fn parse_url(url: &str) -> Result<(String, String), S3UrlError> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| S3UrlError::NotS3(url.to_owned()))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid_bucket {
        return Err(S3UrlError::Bucket(bucket.to_owned()));
    }
    let prefix = prefix.trim_end_matches('/');
    let valid_prefix = prefix.is_empty()
        || (prefix
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
            && !prefix.contains(['#', '?', '\\'])
            && Path::parse(prefix).is_ok());
    if !valid_prefix {
        return Err(S3UrlError::Prefix(prefix.to_owned()));
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// A client of the bucket.
type Store = Arc<dyn ObjectStore>;

/// The store for uploads and deletes (each request under a timeout) and the one for
/// downloads (no overall timeout: the caller applies an idle one).
pub(super) fn open(options: &S3Options) -> Result<(Store, Store), object_store::Error> {
    let client = ClientOptions::new()
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_allow_http(options.allow_http);
    let objects = build(options, client.clone().with_timeout(REQUEST_TIMEOUT))?;
    let reads = build(options, client.with_timeout_disabled())?;
    Ok((objects, reads))
}

fn build(options: &S3Options, client: ClientOptions) -> Result<Store, object_store::Error> {
    let retry = RetryConfig {
        max_retries: RETRIES,
        retry_timeout: REQUEST_TIMEOUT,
        ..RetryConfig::default()
    };
    // Static credentials only: never the instance-metadata service or a profile file.
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&options.bucket)
        .with_region(&options.region)
        .with_access_key_id(&options.credentials.access_key_id)
        .with_secret_access_key(&options.credentials.secret_access_key)
        .with_allow_http(options.allow_http)
        .with_client_options(client)
        .with_retry(retry);
    if let Some(token) = &options.credentials.session_token {
        builder = builder.with_token(token);
    }
    if let Some(endpoint) = &options.endpoint {
        // S3-compatible servers: path-style requests (`endpoint/bucket/key`).
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false);
    }
    let s3 = builder.build()?;
    Ok(if options.prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(PrefixStore::new(s3, options.prefix.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> S3Credentials {
        S3Credentials {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: None,
        }
    }

    fn options(
        url: &str,
        endpoint: Option<&str>,
        allow_http: bool,
    ) -> Result<S3Options, S3UrlError> {
        S3Options::new(
            url,
            endpoint.map(str::to_owned),
            "us-east-1".to_owned(),
            allow_http,
            credentials(),
        )
    }

    #[test]
    fn a_bucket_and_prefix_are_read_from_the_url() {
        let o = options("s3://chat-files/cluster/a/", None, false).expect("valid");
        assert_eq!(
            (o.bucket.as_str(), o.prefix.as_str()),
            ("chat-files", "cluster/a")
        );
        let o = options("s3://chat.files", None, false).expect("valid");
        assert_eq!((o.bucket.as_str(), o.prefix.as_str()), ("chat.files", ""));
    }

    #[test]
    fn bad_urls_endpoints_and_missing_credentials_are_refused() {
        for url in [
            "https://x/y",
            "s3://",
            "s3://ab",
            "s3://Caps",
            "s3://-x-",
            "s3://b_b",
        ] {
            assert!(options(url, None, false).is_err(), "{url}");
        }
        for url in ["s3://bucket//x", "s3://bucket/../x", "s3://bucket/a#b"] {
            assert!(
                matches!(options(url, None, false), Err(S3UrlError::Prefix(_))),
                "{url}"
            );
        }
        assert!(matches!(
            options("s3://bucket", Some("ftp://x"), true),
            Err(S3UrlError::Endpoint(_))
        ));
        assert!(matches!(
            options("s3://bucket", Some("http://127.0.0.1:9000"), false),
            Err(S3UrlError::PlainHttp(_))
        ));
        assert!(options("s3://bucket", Some("http://127.0.0.1:9000"), true).is_ok());
        let mut missing = credentials();
        missing.secret_access_key.clear();
        let refused = S3Options::new("s3://bucket", None, "eu-west-1".to_owned(), false, missing);
        assert!(matches!(
            refused,
            Err(S3UrlError::Credentials("AWS_SECRET_ACCESS_KEY"))
        ));
    }

    #[test]
    fn the_secret_is_never_printed() {
        let o = options("s3://bucket/p", Some("https://s3.example.org"), false).expect("valid");
        let shown = format!("{o} {o:?}");
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(
            shown.contains("s3://bucket/p at https://s3.example.org"),
            "{shown}"
        );
    }
}
