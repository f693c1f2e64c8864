//! Cross-site request checks for requests a browser authenticates with a cookie by itself.
//!
//! The refresh cookie is `SameSite=Strict`, but same-site is not same-origin (a sibling
//! subdomain is same-site), and older browsers ignore SameSite. So a cookie-authenticated
//! request must show where it comes from: an `Origin` that is this server's own or one listed
//! in `--allowed-origins`, or, without `Origin`, `Sec-Fetch-Site: same-origin`.

use axum::http::{header, HeaderMap};

/// Whether `origin` (scheme://host[:port]) is this server's (same `Host`) or listed.
pub fn origin_allowed(origin: &str, headers: &HeaderMap, allowed: &[String]) -> bool {
    if !allowed.is_empty() {
        return allowed.iter().any(|a| a.eq_ignore_ascii_case(origin));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or_default();
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

/// Whether a cookie-authenticated request may proceed.
pub fn cookie_request_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) => origin_allowed(origin, headers, allowed),
        Some(Err(_)) => false,
        None => headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("same-origin")),
    }
}

/// Whether a WebSocket may open: a listed or same-host `Origin`. Clients that send no
/// `Origin` (not browsers) pass: the check only stops other web pages from using a visitor's
/// browser.
pub fn websocket_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) => origin_allowed(origin, headers, allowed),
        Some(Err(_)) => false,
        None => true,
    }
}

/// Why a browser request's origin was refused, for the operator's log: the `Origin` received
/// and what it was compared with (the `Host` header, port included, or the
/// `--allowed-origins` list), with what to change behind a reverse proxy. Call it only for a
/// refused request.
pub fn refusal(headers: &HeaderMap, allowed: &[String]) -> String {
    let host = match headers.get(header::HOST).map(|v| v.to_str()) {
        Some(Ok(host)) => format!("Host {host:?}"),
        Some(Err(_)) => "a Host header that is not text".to_owned(),
        None => "no Host header".to_owned(),
    };
    let origin = match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) => origin.to_owned(),
        Some(Err(_)) => return format!("its Origin header is not text (request {host})"),
        None => {
            let fetch_site = headers
                .get("sec-fetch-site")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("absent");
            return format!(
                "no Origin header, and Sec-Fetch-Site is {fetch_site:?}, not \"same-origin\" \
                 (request {host})"
            );
        }
    };
    if !allowed.is_empty() {
        return format!(
            "Origin {origin:?} is not in --allowed-origins ({}); request {host}",
            allowed.join(", ")
        );
    }
    format!(
        "Origin {origin:?} is not this server's own origin, which is taken from the request's \
         {host} (port included). Behind a reverse proxy, the proxy must pass the Host the \
         browser sent, port included (nginx: `proxy_set_header Host $http_host;`, not `$host`, \
         which drops the port), or list the public origin in --allowed-origins"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_the_same_or_listed_origins_or_same_origin_fetches_pass() {
        let host = ("host", "chat.example.org");
        assert!(cookie_request_allowed(
            &headers(&[host, ("origin", "https://chat.example.org")]),
            &[]
        ));
        assert!(!cookie_request_allowed(
            &headers(&[host, ("origin", "https://evil.example")]),
            &[]
        ));
        assert!(!cookie_request_allowed(
            &headers(&[host, ("origin", "null")]),
            &[]
        ));
        assert!(!cookie_request_allowed(&headers(&[host]), &[]));
        assert!(cookie_request_allowed(
            &headers(&[host, ("sec-fetch-site", "same-origin")]),
            &[]
        ));
        assert!(!cookie_request_allowed(
            &headers(&[host, ("sec-fetch-site", "same-site")]),
            &[]
        ));
        let listed = vec!["https://app.example.org".to_owned()];
        assert!(cookie_request_allowed(
            &headers(&[host, ("origin", "https://app.example.org")]),
            &listed
        ));
    }

    #[test]
    fn a_refusal_names_the_origin_the_host_it_was_compared_with_and_the_proxy_hint() {
        let text = refusal(
            &headers(&[
                ("host", "chat.example.org"),
                ("origin", "https://chat.example.org:8443"),
            ]),
            &[],
        );
        assert!(
            text.contains("Origin \"https://chat.example.org:8443\"")
                && text.contains("Host \"chat.example.org\"")
                && text.contains("proxy_set_header Host $http_host"),
            "{text}"
        );
        let listed = vec!["https://app.example.org".to_owned()];
        let text = refusal(
            &headers(&[
                ("host", "api.example.org"),
                ("origin", "https://evil.example"),
            ]),
            &listed,
        );
        assert!(
            text.contains(
                "\"https://evil.example\" is not in --allowed-origins (https://app.example.org)"
            ),
            "{text}"
        );
        let text = refusal(&headers(&[("host", "chat.example.org")]), &[]);
        assert!(text.contains("no Origin header"), "{text}");
    }
}
