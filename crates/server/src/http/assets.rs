//! The browser client, embedded at compile time (`build.rs` reads `web/app/`): `/` is the
//! app's page and `/app/…` its scripts, styles and icons. Responses carry the usual security
//! headers of the router (a strict CSP among them) plus an ETag, and are revalidated on every
//! load (`no-cache`), so a new server version is picked up at once.
//!
//! For front-end development, the environment variable `SECURECHAT_WEB_DIR` (a path to
//! `web/app`) makes the server read the files from disk on every request instead, so that
//! an edit shows on reload without rebuilding.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// URL path, e.g. `/app/js/main.js`.
    pub path: &'static str,
    pub content_type: &'static str,
    /// Quoted, from the bytes' hash.
    pub etag: &'static str,
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The app's HTML page.
const INDEX: &str = "/app/index.html";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/app/{*path}", get(asset))
}

/// The embedded file at a URL path.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The content type of a file name, as `build.rs` assigns it.
fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "wasm" => "application/wasm",
        "json" | "webmanifest" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Development mode: the file under `SECURECHAT_WEB_DIR` for a URL path below `/app/`.
/// Only plain names (letters, digits, `.`, `_`, `-`, not starting with a dot) are served.
fn from_disk(path: &str) -> Option<Response> {
    let dir = std::env::var_os("SECURECHAT_WEB_DIR")?;
    let relative = path.strip_prefix("/app/")?;
    let plain = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    let mut file = std::path::PathBuf::from(dir);
    for part in relative.split('/') {
        if !plain(part) {
            return Some(ApiError::NotFound.into_response());
        }
        file.push(part);
    }
    Some(match std::fs::read(&file) {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(content_type(path)),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => ApiError::NotFound.into_response(),
    })
}

fn serve(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let etag = HeaderValue::from_static(asset.etag);
    let cache = HeaderValue::from_static("no-cache");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag));
    if fresh {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
        ],
        asset.bytes,
    )
        .into_response()
}

/// `GET /`: the app.
async fn index(headers: HeaderMap) -> Response {
    if let Some(response) = from_disk(INDEX) {
        return response;
    }
    match find(INDEX) {
        Some(asset) => serve(asset, &headers),
        None => ApiError::NotFound.into_response(),
    }
}

/// `GET /app/{path}`: a script, style sheet or image of the app.
async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("/app/{path}");
    if let Some(response) = from_disk(&path) {
        return response;
    }
    match find(&path) {
        Some(asset) => serve(asset, &headers),
        None => ApiError::NotFound.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_match_the_build_script() {
        for asset in ASSETS {
            assert_eq!(
                content_type(asset.path),
                asset.content_type,
                "{}",
                asset.path
            );
        }
    }

    #[test]
    fn the_app_is_embedded_with_types() {
        let index = find(INDEX).expect("index.html is embedded");
        assert_eq!(index.content_type, "text/html; charset=utf-8");
        let main = find("/app/js/main.js").expect("main.js is embedded");
        assert_eq!(main.content_type, "text/javascript; charset=utf-8");
        assert!(find("/app/css/app.css").is_some());
        assert!(find("/app/../Cargo.toml").is_none());
        for asset in ASSETS {
            assert!(asset.etag.starts_with('"') && asset.etag.ends_with('"'));
            assert!(!asset.bytes.is_empty(), "{} is empty", asset.path);
        }
    }

    /// Whether the text has an attribute like ` onclick=`.
    fn has_inline_handler(text: &str) -> bool {
        text.match_indices(" on").any(|(i, _)| {
            let rest = &text[i + 3..];
            let name_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
            name_len > 0 && rest[name_len..].starts_with('=')
        })
    }

    #[test]
    fn pages_have_no_inline_script_or_style() {
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".html")) {
            let text = std::str::from_utf8(asset.bytes).expect("UTF-8 page");
            assert!(!text.contains("<script>"), "{}: inline script", asset.path);
            assert!(!text.contains("<style"), "{}: inline style", asset.path);
            assert!(
                !text.contains("style=\""),
                "{}: style attribute",
                asset.path
            );
            assert!(
                !has_inline_handler(text),
                "{}: inline event handler",
                asset.path
            );
        }
    }
}
