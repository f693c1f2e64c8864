//! Where the server keeps file bytes: the local folder `<data-dir>/files` unless
//! `--files-url s3://bucket/prefix` names an S3-compatible bucket. Credentials come only from
//! the standard `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`)
//! environment, never from the command line or the config file.

use std::path::Path;

use anyhow::{bail, Context as _};

use securechat_server::blobs::{Blobs, S3Credentials, S3Options};

/// Region used when none is given (what most S3-compatible servers expect).
const DEFAULT_REGION: &str = "us-east-1";

/// The S3 settings, or `None` for the local folder; refuses S3 options without an S3 URL.
pub fn s3_options(
    url: Option<&str>,
    endpoint: Option<String>,
    region: Option<String>,
    allow_http: Option<bool>,
) -> anyhow::Result<Option<S3Options>> {
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        if endpoint.is_some() || region.is_some() || allow_http.is_some() {
            bail!("--s3-endpoint, --s3-region and --s3-allow-http need --files-url s3://BUCKET[/PREFIX]");
        }
        return Ok(None);
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let credentials = S3Credentials {
        access_key_id: env("AWS_ACCESS_KEY_ID").unwrap_or_default(),
        secret_access_key: env("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
        session_token: env("AWS_SESSION_TOKEN"),
    };
    let options = S3Options::new(
        url,
        endpoint,
        region.unwrap_or_else(|| DEFAULT_REGION.to_owned()),
        allow_http.unwrap_or(false),
        credentials,
    )
    .context("invalid file storage settings")?;
    Ok(Some(options))
}

/// Opens the file store; a bucket must answer first, or the server does not start.
pub async fn open(s3: Option<&S3Options>, data_dir: &Path) -> anyhow::Result<Blobs> {
    let blobs = match s3 {
        None => Blobs::open(data_dir)
            .with_context(|| format!("cannot create the file store in {}", data_dir.display()))?,
        Some(options) => Blobs::s3(options)
            .await
            .with_context(|| format!("cannot use the file storage {options}"))?,
    };
    tracing::info!(files = %blobs.describe(), "file storage ready");
    Ok(blobs)
}
