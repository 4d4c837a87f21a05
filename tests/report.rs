//! The corpus report in a real browser: headless Chromium loads the page `report --html` wrote
//! and the page the daemon serves at `/`, takes a screenshot, and the numbers it renders are
//! checked against the database. Chromium is told to resolve no host but 127.0.0.1, so it sends
//! nothing off this machine.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

/// Debian's `chromium`, or `$CHROMIUM`.
fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// Runs headless Chromium on `url` with `args` (`--dump-dom`, `--screenshot=…`); returns stdout.
fn browse(profile: &Path, url: &str, args: &[&str]) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--window-size=1100,1500",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({e}); ./scripts/test installs Debian's chromium",
                chromium()
            )
        });
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of the first element `<… id="ID">TEXT<` in the DOM.
fn text_of_id(dom: &str, id: &str) -> String {
    let start = format!("id=\"{id}\">");
    dom.split(&start)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("no element #{id} in the page"))
        .to_string()
}

/// (7 days, 30 days, errors in a row) of the feed's row, as rendered.
fn feed_row(dom: &str, feed: &str) -> (String, String, String) {
    let row = dom
        .split(&format!("<tr data-feed=\"{feed}\">"))
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_else(|| panic!("no row for feed {feed}"));
    let cell = |class: &str| {
        row.split(&format!("class=\"n {class}\">"))
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap_or_else(|| panic!("no {class} cell for {feed}"))
            .to_string()
    };
    (cell("d7"), cell("d30"), cell("errors"))
}

/// Checks the rendered numbers against the database.
fn check_numbers(dom: &str, setup: &Setup) {
    let total = setup.query("SELECT count(*) FROM entries")[0][0].clone();
    assert_eq!(text_of_id(dom, "entries"), total, "entries stored");
    assert_eq!(
        text_of_id(dom, "entries-in-window"),
        total,
        "all entries are new today"
    );
    let records = setup.query("SELECT count(record_path) FROM entries")[0][0].clone();
    assert_eq!(text_of_id(dom, "records"), records);
    let files = setup.records().len().to_string();
    assert_eq!(text_of_id(dom, "corpus-files"), files);
    for row in setup.query(
        "SELECT f.name, (SELECT count(*) FROM feed_entries fe WHERE fe.feed_id = f.id), f.error_count
         FROM feeds f WHERE f.active ORDER BY f.name",
    ) {
        let (d7, d30, errors) = feed_row(dom, &row[0]);
        assert_eq!(d7, row[1], "{}: 7 days", row[0]);
        assert_eq!(d30, row[1], "{}: 30 days", row[0]);
        assert_eq!(errors, row[2], "{}: errors in a row", row[0]);
    }
    // The embedded numbers say the same.
    let json = dom
        .split("id=\"report-data\">")
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .expect("the JSON block");
    let v: serde_json::Value = serde_json::from_str(json).expect("report JSON");
    assert_eq!(v["entries"].to_string(), total);
    assert_eq!(v["feeds"].as_array().map(Vec::len), Some(3));
}

fn polled_setup(server: &FeedServer, extra: &str) -> Setup {
    server.set_xml("/seed", SEED_FEED);
    server.set_xml("/b", rss(&synthetic_items(2, 3)));
    server.set(
        "/broken",
        Route::Body {
            status: 500,
            content_type: "text/plain".into(),
            body: Vec::new(),
        },
    );
    let setup = Setup::new(
        &[
            ("seed", server.url("/seed")),
            ("b", server.url("/b")),
            ("broken", server.url("/broken")),
        ],
        extra,
    );
    let (_, out, err) = setup.poll();
    assert!(out.contains("2 ok, 1 failed"), "{out}\n{err}");
    setup
}

#[test]
fn the_report_page_shows_the_databases_numbers_in_a_browser() {
    let server = FeedServer::start();
    let setup = polled_setup(&server, "");
    let page = setup.dir.path().join("report.html");
    let out = setup
        .cmd(&["report", "--html", page.to_str().expect("utf-8 path")])
        .output()
        .expect("report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = fs::read_to_string(&page).expect("page");
    assert!(
        !html.contains("<script src") && !html.contains("<link"),
        "self-contained"
    );
    let profile = tempfile::tempdir().expect("profile");
    let url = format!("file://{}", page.display());
    let dom = browse(profile.path(), &url, &["--dump-dom"]);
    check_numbers(&dom, &setup);
    assert_eq!(
        dom.matches("class=\"chart\"").count(),
        3,
        "two daily charts and the weekly one"
    );
    assert_eq!(
        dom.matches("class=\"spark\"").count(),
        3,
        "a sparkline per feed"
    );

    let shot = setup.dir.path().join("report.png");
    browse(
        profile.path(),
        &url,
        &[&format!("--screenshot={}", shot.display())],
    );
    let png = fs::read(&shot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        png.len() > 10_000,
        "a rendered page, not a blank one: {} bytes",
        png.len()
    );
}

#[test]
fn the_daemon_serves_the_same_page_at_its_root() {
    let server = FeedServer::start();
    let port = free_port();
    let setup = polled_setup(
        &server,
        &format!("[poll]\ninterval = \"1h\"\n\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let (mut child, mut log) = spawn_logged(setup.cmd(&["run"]));
    log.wait_for("serving metrics", Duration::from_secs(30));
    let profile = tempfile::tempdir().expect("profile");
    let dom = browse(
        profile.path(),
        &format!("http://127.0.0.1:{port}/"),
        &["--dump-dom"],
    );
    signal(&child, Signal::SIGTERM);
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    check_numbers(&dom, &setup);
}
