//! The client's IP: the socket peer, or what a trusted reverse proxy says it forwarded for.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|net| net.contains(&ip))
}

/// Parses one `for=` value of RFC 7239 (`192.0.2.1`, `"[2001:db8::1]:443"`, `192.0.2.1:80`).
fn parse_forwarded_node(value: &str) -> Option<IpAddr> {
    let value = value.trim().trim_matches('"');
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    value
        .parse()
        .ok()
        .or_else(|| value.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The chain of forwarded-for addresses, nearest proxy last.
fn forwarded_chain(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let chain: Option<Vec<IpAddr>> = if forwarded.is_empty() {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(parse_forwarded_node)
            .collect()
    } else {
        forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_forwarded_node(value))
                })
            })
            .collect()
    };
    chain.filter(|c| !c.is_empty())
}

/// The client IP. Forwarding headers count only when the peer is a trusted proxy; then the
/// nearest address in the chain that is not itself a trusted proxy is the client.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    let peer_ip = peer.ip().to_canonical();
    if !trusted(peer_ip, proxies) {
        return peer_ip;
    }
    let Some(chain) = forwarded_chain(headers) else {
        return peer_ip;
    };
    chain
        .iter()
        .rev()
        .map(|ip| ip.to_canonical())
        .find(|ip| !trusted(*ip, proxies))
        .or_else(|| chain.first().map(|ip| ip.to_canonical()))
        .unwrap_or(peer_ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, value: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_static(value));
        map
    }

    #[test]
    fn headers_count_only_from_trusted_proxies() {
        let proxy: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let nets: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let xff = headers("x-forwarded-for", "203.0.113.9, 198.51.100.7, 10.0.0.2");
        assert_eq!(
            client_ip(proxy, &xff, &nets),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(proxy, &xff, &[]), proxy.ip());
        let fwd = headers("forwarded", "for=\"[2001:db8::7]:4711\";proto=https");
        assert_eq!(
            client_ip(proxy, &fwd, &nets),
            "2001:db8::7".parse::<IpAddr>().unwrap()
        );
        let garbage = headers("x-forwarded-for", "not-an-ip");
        assert_eq!(client_ip(proxy, &garbage, &nets), proxy.ip());
    }
}
