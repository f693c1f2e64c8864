//! `securechat healthcheck`: asks a server on this machine for `/healthz` and exits 0 when it
//! answers 200, 1 otherwise. The container image's HEALTHCHECK runs it, so the image needs no
//! curl; it reads the same SECURECHAT_LISTEN (and SECURECHAT_TLS_CERT) as the server.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;

#[derive(Args)]
pub struct HealthcheckArgs {
    /// The server's listen address; an unspecified address (0.0.0.0, [::]) is asked on
    /// loopback [default: 127.0.0.1:8080].
    #[arg(long, env = "SECURECHAT_LISTEN", value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Set when the server serves TLS itself: the check then uses https (without verifying the
    /// certificate: it only ever asks this server on its own listen address).
    #[arg(
        long,
        env = "SECURECHAT_TLS_CERT",
        value_name = "FILE",
        hide_env_values = true
    )]
    tls_cert: Option<PathBuf>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 4, value_name = "SECS")]
    timeout_secs: u64,
}

/// The URL of `/healthz` for a server listening on `listen`.
fn url(listen: SocketAddr, tls: bool) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{}/healthz", SocketAddr::new(ip, listen.port()))
}

pub fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let listen = args
        .listen
        .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)));
    let url = url(listen, args.tls_cert.is_some());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout_secs))
        .danger_accept_invalid_certs(true)
        .build()
        .context("HTTP client")?;
    let status = crate::backup_cmd::runtime()?
        .block_on(async { client.get(&url).send().await.map(|r| r.status()) })
        .with_context(|| format!("{url}: no answer"))?;
    if !status.is_success() {
        bail!("{url}: {status}");
    }
    println!("{url}: {status}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listen_address_is_asked_on_loopback() {
        let at = |s: &str| s.parse::<SocketAddr>().expect("address");
        assert_eq!(
            url(at("0.0.0.0:8080"), false),
            "http://127.0.0.1:8080/healthz"
        );
        assert_eq!(url(at("[::]:443"), true), "https://[::1]:443/healthz");
        assert_eq!(
            url(at("10.1.2.3:9000"), false),
            "http://10.1.2.3:9000/healthz"
        );
    }
}
