//! The server as a service, through the real binary: SIGHUP reloads the TLS certificate (and
//! is harmless without TLS), a refused browser Origin is logged with what it was compared
//! with, a bad value from the environment or the config file names its variable or key, and
//! the command-line client trusts a private certificate authority only when told to, and
//! `securechat healthcheck` (the container image's HEALTHCHECK) tells a running server from none.

#[path = "support/spawned.rs"]
mod spawned;
mod support;
#[path = "support/tls.rs"]
mod tls;

use std::io::Write as _;
use std::process::Command;
use std::time::Duration;

use securechat_store_tests::services::http_get;

use spawned::{free_addr, securechat, Served};
use support::{json_lines, of_type, wait, websocket_upgrade_status, User, PASSWORD};
use tls::{probe, Pair, PrivateCa};

/// How long a log line may take to appear after what causes it.
const LOG_PATIENCE: Duration = Duration::from_secs(30);

/// `--tls-cert/--tls-key` for the pair at these paths.
fn tls_options(cert: &std::path::Path, key: &std::path::Path) -> impl FnOnce(&mut Command) {
    let (cert, key) = (cert.to_owned(), key.to_owned());
    move |command| {
        command
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key);
    }
}

/// The certificate a new TLS connection is served, trusting only `expected`, must be it.
fn serves(server: &Served, expected: &Pair, when: &str) {
    match probe(server.addr, &expected.der) {
        Ok((presented, status)) => {
            assert!(
                presented == expected.der,
                "{when}: another certificate was served"
            );
            assert_eq!(status, 200, "{when}: /healthz over TLS");
        }
        Err(e) => panic!("{when}: {e}\n{}", server.log_text()),
    }
}

#[test]
fn sighup_reloads_the_tls_certificate_for_new_connections_and_a_bad_pair_keeps_the_old_one() {
    let data = tempfile::tempdir().expect("data folder");
    let files = tempfile::tempdir().expect("certificate folder");
    let first = Pair::self_signed("first");
    let second = Pair::self_signed("second");
    let (cert, key) = first.write(files.path());
    let mut server = Served::start(data.path(), tls_options(&cert, &key));
    serves(&server, &first, "at start");

    // The files are replaced (a renewal), then SIGHUP: new connections get the new pair.
    second.write(files.path());
    server.signal("HUP");
    assert!(
        server.wait_for("TLS certificate and key reloaded", LOG_PATIENCE),
        "no reload logged:\n{}",
        server.log_text()
    );
    serves(&server, &second, "after the reload");
    assert!(
        probe(server.addr, &first.der).is_err(),
        "the replaced certificate is still served"
    );

    // A broken certificate file: an error in the log, the current pair stays.
    std::fs::write(&cert, "not a certificate\n").expect("break the certificate file");
    server.signal("HUP");
    assert!(
        server.wait_for("cannot reload the TLS certificate and key", LOG_PATIENCE),
        "no reload failure logged:\n{}",
        server.log_text()
    );
    let failure = server.log.last().cloned().unwrap_or_default();
    assert!(
        failure.contains("ERROR")
            && failure.contains(&format!(
                "no certificate (-----BEGIN CERTIFICATE-----) in {}",
                cert.display()
            )),
        "the failure is not an error naming the file and what is wrong with it: {failure}"
    );
    serves(&server, &second, "after a broken certificate file");

    // A certificate and a key that do not belong together (the first certificate, the
    // second key): refused as well.
    std::fs::write(&cert, &first.cert_pem).expect("write the first certificate");
    server.signal("HUP");
    assert!(
        server.wait_for("cannot reload the TLS certificate and key", LOG_PATIENCE),
        "a mismatched pair was not refused:\n{}",
        server.log_text()
    );
    let failure = server.log.last().cloned().unwrap_or_default();
    assert!(
        failure.contains("does not belong to the certificate"),
        "the failure does not say the key is not the certificate's: {failure}"
    );
    serves(&server, &second, "after a mismatched pair");
    assert!(server.running(), "the server died:\n{}", server.log_text());
}

#[test]
fn sighup_without_tls_is_logged_and_ignored() {
    let data = tempfile::tempdir().expect("data folder");
    let mut server = Served::start(data.path(), |_| {});
    server.signal("HUP");
    assert!(
        server.wait_for("SIGHUP ignored", LOG_PATIENCE),
        "SIGHUP not logged:\n{}",
        server.log_text()
    );
    assert!(server.running(), "SIGHUP ended the server");
    let answer = http_get(server.addr, "/healthz");
    assert_eq!(
        answer.map(|(status, _)| status),
        Some(200),
        "the server does not answer after SIGHUP"
    );
}

#[test]
fn a_refused_origin_is_logged_with_the_host_it_was_compared_with_and_the_proxy_hint() {
    let data = tempfile::tempdir().expect("data folder");
    let mut server = Served::start(data.path(), |_| {});
    let port = server.addr.port();

    // As behind a proxy that sends `Host $host` (no port) while the page's origin has one.
    let origin = format!("http://127.0.0.1:{port}");
    assert_eq!(
        websocket_upgrade_status(server.addr, "127.0.0.1", &origin),
        403
    );
    assert!(
        server.wait_for("WebSocket refused", LOG_PATIENCE),
        "no refusal logged:\n{}",
        server.log_text()
    );
    let line = server.log.last().cloned().unwrap_or_default();
    assert!(
        line.contains("WARN")
            && line.contains(&format!("Origin \"{origin}\""))
            && line.contains("Host \"127.0.0.1\"")
            && line.contains("proxy_set_header Host $http_host"),
        "the refusal does not name the Origin, the Host and the proxy hint: {line}"
    );

    // The Host is quoted with its port.
    let host = format!("127.0.0.1:{port}");
    assert_eq!(
        websocket_upgrade_status(server.addr, &host, "https://evil.example"),
        403
    );
    assert!(server.wait_for("WebSocket refused", LOG_PATIENCE));
    let line = server.log.last().cloned().unwrap_or_default();
    assert!(
        line.contains("Origin \"https://evil.example\"")
            && line.contains(&format!("Host \"{host}\"")),
        "{line}"
    );
}

/// `securechat serve` with `adjust`'s environment or options, which must refuse to start;
/// returns its standard error.
fn refused_start(adjust: impl FnOnce(&mut Command)) -> String {
    let data = tempfile::tempdir().expect("data folder");
    let mut command = securechat();
    command
        .args(["serve", "--listen", &free_addr().to_string(), "--data-dir"])
        .arg(data.path())
        .env("RUST_BACKTRACE", "0");
    adjust(&mut command);
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run securechat serve");
    let output = wait(child, &["serve"]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "the server started with a bad setting: {stderr}"
    );
    stderr
}

#[test]
fn a_bad_value_from_the_environment_or_the_config_file_names_the_variable_or_the_key() {
    let stderr = refused_start(|c| {
        c.env("SECURECHAT_ACCESS_TTL_SECS", "abc");
    });
    assert!(
        stderr.contains("SECURECHAT_ACCESS_TTL_SECS") && stderr.contains("'abc'"),
        "{stderr}"
    );
    // One bad item of a list.
    let stderr = refused_start(|c| {
        c.env("SECURECHAT_IP_ALLOW", "10.0.0.0/8,bogus");
    });
    assert!(
        stderr.contains("SECURECHAT_IP_ALLOW") && stderr.contains("'bogus'"),
        "{stderr}"
    );
    // On the command line, the option is named (even with the variable set as well).
    let stderr = refused_start(|c| {
        c.args(["--access-ttl-secs", "xyz"])
            .env("SECURECHAT_ACCESS_TTL_SECS", "60");
    });
    assert!(
        stderr.contains("--access-ttl-secs") && !stderr.contains("SECURECHAT_ACCESS_TTL_SECS"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().expect("config folder");
    let file = dir.path().join("securechat.toml");
    std::fs::write(&file, "access_ttl_secs = \"abc\"\n").expect("config file");
    let stderr = refused_start(|c| {
        c.arg("--config").arg(&file);
    });
    assert!(
        stderr.contains("key `access_ttl_secs`") && stderr.contains(&file.display().to_string()),
        "{stderr}"
    );
    std::fs::write(&file, "lissten = \"127.0.0.1:1\"\n").expect("config file");
    let stderr = refused_start(|c| {
        c.arg("--config").arg(&file);
    });
    assert!(stderr.contains("unknown key `lissten`"), "{stderr}");
}

/// Registers `user` with these extra arguments, which must succeed.
fn register(user: &User, extra: &[&str]) {
    let email = format!("{}@example.org", user.name);
    let mut args = vec![
        "register",
        "--username",
        user.name,
        "--email",
        &email,
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    let out = user.ok(&args, &format!("{PASSWORD}\n"));
    assert!(
        out.contains(&format!("Logged in as {}", user.name)),
        "{out}"
    );
}

#[test]
fn the_cli_trusts_a_private_certificate_authority_only_when_told() {
    let ca = PrivateCa::new();
    let files = tempfile::tempdir().expect("certificate folder");
    let (cert, key) = ca.server.write(files.path());
    let ca_file = files.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).expect("write the CA certificate");
    let ca_path = ca_file.to_str().expect("path");
    let data = tempfile::tempdir().expect("data folder");
    let server = Served::start(data.path(), |c| {
        tls_options(&cert, &key)(c);
        c.args(["--ip-allow", "127.0.0.0/8", "--registration", "open"]);
    });
    let base = format!("https://{}", server.addr);
    let user = |name| User {
        name,
        base: base.clone(),
        config: tempfile::tempdir().expect("config dir"),
    };
    let alice = user("alice");
    let bob = user("bob");

    // Without the CA: said plainly, not "is the server running".
    let email = "alice@example.org";
    let refused = alice.fails(
        &[
            "register",
            "--username",
            "alice",
            "--email",
            email,
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        refused.contains("certificate not trusted (")
            && refused.contains("pass --ca-cert FILE")
            && !refused.contains("is it running"),
        "{refused}"
    );

    // With it, by option or by environment: register, send, receive.
    register(&alice, &["--ca-cert", ca_path]);
    let mut command = bob.command(&[
        "register",
        "--username",
        "bob",
        "--email",
        "bob@example.org",
        "--password-stdin",
    ]);
    let mut child = command
        .env("SECURECHAT_CA_CERT", ca_path)
        .spawn()
        .expect("spawn securechat");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("password");
    let output = wait(child, &["register"]);
    assert!(
        output.status.success(),
        "register with SECURECHAT_CA_CERT: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sent = alice.ok(
        &[
            "send",
            "--to",
            "bob",
            "hello over TLS",
            "--ca-cert",
            ca_path,
        ],
        "",
    );
    let events = json_lines(&bob.ok(&["listen", "--once", "--json", "--ca-cert", ca_path], ""));
    let messages = of_type(&events, "message");
    assert_eq!(messages.len(), 1, "{events:?}");
    assert_eq!(messages[0]["text"], "hello over TLS");
    assert_eq!(messages[0]["msg_id"], sent.trim());

    // The WebSocket refuses the same way without the CA.
    let refused = bob.fails(&["listen", "--once"], "");
    assert!(
        refused.contains("certificate not trusted (") && refused.contains("pass --ca-cert FILE"),
        "{refused}"
    );
    drop(server);
}

#[test]
fn healthcheck_answers_for_a_running_server_and_fails_for_a_missing_one() {
    let data = tempfile::tempdir().expect("data folder");
    let server = Served::start(data.path(), |_| {});
    let check = |listen: String| {
        securechat()
            .args(["healthcheck", "--timeout-secs", "5"])
            .env("SECURECHAT_LISTEN", listen)
            .env_remove("SECURECHAT_TLS_CERT")
            .output()
            .expect("run securechat healthcheck")
    };
    // The address as a container sets it (every interface) is asked on loopback.
    let out = check(format!("0.0.0.0:{}", server.addr.port()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "http://127.0.0.1:{}/healthz: 200",
            server.addr.port()
        )),
        "{stdout}"
    );

    let nobody = free_addr();
    let out = check(nobody.to_string());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("http://{nobody}/healthz: no answer")),
        "{stderr}"
    );
}
