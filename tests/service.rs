//! Running as a service: reload on SIGHUP, systemd notifications, the unit file.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn sighup_adds_and_removes_feeds_and_a_bad_config_keeps_the_running_one() {
    let server = FeedServer::start();
    server.set_xml("/a", rss(&synthetic_items(1, 2)));
    server.set_xml("/b", rss(&synthetic_items(2, 2)));
    let poll = "[poll]\ninterval = \"1s\"\nstartup_jitter = \"0s\"\n";
    let setup = Setup::new(&[("a", server.url("/a"))], poll);
    let (mut child, mut log) = spawn_logged(setup.cmd(&["run"]));
    log.wait_for("feed=a", WAIT);
    server.wait_for_requests("/a", 2, WAIT);

    setup.rewrite(&[("b", server.url("/b"))], poll);
    signal(&child, Signal::SIGHUP);
    log.wait_for("config reloaded", WAIT);
    server.wait_for_requests("/b", 1, WAIT);
    let a_after_reload = server.count("/a");
    server.wait_for_requests("/b", 3, WAIT);
    // An /a request already in flight at the reload may still land; none after it.
    assert!(
        server.count("/a") <= a_after_reload + 1,
        "a removed feed is no longer polled"
    );
    let a_settled = server.count("/a");
    server.wait_for_requests("/b", 5, WAIT);
    assert_eq!(server.count("/a"), a_settled);
    assert_eq!(
        setup.query("SELECT name, active FROM feeds ORDER BY name"),
        [["a", "0"], ["b", "1"]]
    );

    std::fs::write(&setup.config, "[storage\nnot toml").expect("break the config");
    signal(&child, Signal::SIGHUP);
    let line = log.wait_for("config reload failed", WAIT);
    assert!(line.contains("keeping the running one"), "{line}");
    let b_before = server.count("/b");
    server.wait_for_requests("/b", b_before + 2, WAIT);

    signal(&child, Signal::SIGTERM);
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

#[test]
fn systemd_is_told_ready_status_and_watchdog() {
    let server = FeedServer::start();
    server.set_xml("/a", rss(&synthetic_items(1, 2)));
    let setup = Setup::new(&[("a", server.url("/a"))], "[poll]\ninterval = \"1h\"\n");
    let socket_path = setup.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut cmd = setup.cmd(&["run"]);
    cmd.env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID");
    let (mut child, _log) = spawn_logged(cmd);
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !(seen.contains("READY=1") && seen.contains("WATCHDOG=1") && seen.contains("0 due")) {
        let n = socket
            .recv(&mut buf)
            .expect("a notification within the timeout");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("STATUS=polling 1 feeds"), "{seen}");
    signal(&child, Signal::SIGTERM);
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    let n = socket.recv(&mut buf).expect("stopping");
    let mut rest = String::from_utf8_lossy(&buf[..n]).into_owned();
    while !rest.contains("STOPPING=1") {
        let n = socket.recv(&mut buf).expect("stopping");
        rest.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

fn systemd_analyze() -> Option<std::path::PathBuf> {
    ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
}

#[test]
fn the_unit_is_hardened_and_valid() {
    // The settings the daemon relies on, and its resource bounds.
    let unit = std::fs::read_to_string("systemd/feedcorpus.service").expect("unit");
    for line in [
        "Type=notify",
        "ExecReload=",
        "WatchdogSec=",
        "StateDirectory=feedcorpus",
        "\nMemoryHigh=",
        "\nMemoryMax=",
        "\nTasksMax=",
    ] {
        assert!(unit.contains(line), "{line} missing");
    }
    let analyze = systemd_analyze()
        .expect("systemd-analyze is missing (Debian package systemd; ./scripts/test installs it)");
    let out = std::process::Command::new(&analyze)
        .args(["security", "--offline=yes", "systemd/feedcorpus.service"])
        .output()
        .expect("systemd-analyze security");
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(score <= 1.5, "exposure {score} > 1.5:\n{text}");

    // verify needs the ExecStart binary to exist: point it at the one just built.
    let dir = tempfile::tempdir().expect("tmp");
    let unit = std::fs::read_to_string("systemd/feedcorpus.service")
        .expect("unit")
        .replace(
            "/usr/local/bin/feedcorpus",
            env!("CARGO_BIN_EXE_feedcorpus"),
        );
    let path = dir.path().join("feedcorpus.service");
    std::fs::write(&path, unit).expect("write unit");
    let out = std::process::Command::new(&analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verify failed:\n{stderr}");
    assert!(
        !stderr.contains("feedcorpus.service"),
        "verify complains:\n{stderr}"
    );
}
