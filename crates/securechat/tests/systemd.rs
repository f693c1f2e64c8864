//! The systemd unit (deploy/systemd/securechat.service) passes `systemd-analyze verify`, with
//! its ExecStart pointed at the binary just built (the shipped path, /usr/local/bin, is not
//! installed here), and keeps what the README promises operators: SIGHUP for `systemctl
//! reload`, its own user, the state folder, the hardening. Skipped (one line) without
//! `systemd-analyze`; under CI it must be there.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

const UNIT: &str = include_str!("../../../deploy/systemd/securechat.service");

/// Whether the unit has this `Key=value` line.
fn has(line: &str) -> bool {
    UNIT.lines().any(|l| l.trim() == line)
}

#[test]
fn the_unit_keeps_its_promises() {
    for line in [
        "ExecReload=/bin/kill -HUP $MAINPID",
        "User=securechat",
        "StateDirectory=securechat",
        "EnvironmentFile=-/etc/securechat/securechat.env",
        "Restart=on-failure",
        "CapabilityBoundingSet=",
        "NoNewPrivileges=true",
        "ProtectSystem=strict",
        "ProtectHome=true",
        "PrivateTmp=true",
    ] {
        assert!(
            has(line),
            "deploy/systemd/securechat.service lacks `{line}`"
        );
    }
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file());
    let Some(analyze) = analyze else {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is not installed (Debian package `systemd`), and CI is set"
        );
        let _ = writeln!(
            std::io::stderr(),
            "systemd-analyze not installed (Debian's `systemd`): skipped verifying the unit"
        );
        return;
    };
    let shipped = "ExecStart=/usr/local/bin/securechat ";
    assert!(UNIT.contains(shipped), "the unit's ExecStart changed");
    let dir = tempfile::tempdir().expect("a folder");
    let unit = dir.path().join("securechat.service");
    let here = UNIT.replace(
        shipped,
        &format!("ExecStart={} ", env!("CARGO_BIN_EXE_securechat")),
    );
    std::fs::write(&unit, here).expect("write the unit");
    let output = Command::new(analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("run systemd-analyze verify");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "systemd-analyze verify failed: {said}"
    );
    // Warnings about the unit itself (unknown keys, bad values) do not fail the command.
    assert!(
        !said.contains("securechat.service"),
        "systemd-analyze verify warns about the unit: {said}"
    );
}
