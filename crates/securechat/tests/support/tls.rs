//! Certificates for the TLS tests, made with rcgen: self-signed pairs and a private
//! certificate authority with a server certificate it signed; and a TLS probe that reports the
//! certificate a server presents.
#![allow(dead_code)] // each test file uses its own part

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};

/// The names every test certificate is for: the loopback address the servers listen on.
const NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// A certificate and its private key, in PEM.
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl Pair {
    /// A self-signed certificate for the loopback names; `label` goes in its subject, so two
    /// pairs differ even when made in the same second.
    pub fn self_signed(label: &str) -> Self {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(NAMES.map(str::to_owned)).expect("params");
        params.distinguished_name.push(DnType::CommonName, label);
        let cert = params.self_signed(&key).expect("self-signed certificate");
        Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// Writes `cert.pem` and `key.pem` in `dir` (replacing what is there); returns their paths.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, &self.cert_pem).expect("write the certificate");
        std::fs::write(&key, &self.key_pem).expect("write the key");
        (cert, key)
    }
}

/// A private certificate authority and a server certificate it signed.
pub struct PrivateCa {
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub server: Pair,
}

impl PrivateCa {
    pub fn new() -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "securechat test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("server key");
        let mut params = CertificateParams::new(NAMES.map(str::to_owned)).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "securechat test server");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        Self {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            server: Pair {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
                der: cert.der().clone(),
            },
        }
    }
}

/// Connects to `addr` over TLS trusting only `trusted`, asks for `/healthz`, and returns the
/// certificate the server presented and the HTTP status; `Err` says why the handshake or the
/// request failed (an untrusted certificate among others).
pub fn probe(
    addr: SocketAddr,
    trusted: &CertificateDer<'static>,
) -> Result<(CertificateDer<'static>, u16), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
    let connection =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let tcp =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("handshake or request: {e}"))?;
    let presented = tls
        .conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.clone().into_owned())
        .ok_or("no certificate presented")?;
    // Read the status line; the server may close without a TLS close_notify afterwards.
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while !response.windows(2).any(|w| w == b"\r\n") {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("reading the response: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP status in {text:?}"))?;
    Ok((presented, status))
}
