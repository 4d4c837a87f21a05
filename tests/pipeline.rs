//! End-to-end: the real binary against a loopback HTTP server and real SQLite files.

mod common;

use std::fs;
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

const KEY_48744: &str = "https://novastan.org/en/?p=48744";

#[test]
fn seed_feed_is_stored_once_and_linked_to_every_feed_carrying_it() {
    let server = FeedServer::start();
    server.set_xml("/tag/feed/", SEED_FEED);
    server.set_xml("/mirror/feed/", SEED_FEED);
    let setup = Setup::new(&[("novastan", server.url("/tag/feed/"))], "");

    let (ok, out, err) = setup.poll();
    assert!(ok, "poll failed:\n{out}\n{err}");
    assert!(out.contains("ok      novastan  7 new"), "{out}");
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 7);
    assert_eq!(setup.records().len(), 7);
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM entries WHERE record_path IS NULL"
        ),
        0
    );

    let (ok, out, _) = setup.poll();
    assert!(ok);
    assert!(out.contains("0 new entries, 0 records written"), "{out}");
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 7);
    assert_eq!(setup.records().len(), 7);

    setup.rewrite(
        &[
            ("novastan", server.url("/tag/feed/")),
            ("mirror", server.url("/mirror/feed/")),
        ],
        "",
    );
    let (ok, out, _) = setup.poll();
    assert!(ok);
    assert!(out.contains("ok      mirror  0 new, 7 linked"), "{out}");
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 7);
    assert_eq!(setup.records().len(), 7);
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM entries e WHERE (SELECT count(*) FROM feed_entries fe \
             WHERE fe.entry_id = e.id) = 2"
        ),
        7,
        "every entry is linked to both feeds"
    );
    let row = &setup.query(&format!(
        "SELECT guid, url, title, author, published FROM entries WHERE key = '{KEY_48744}'"
    ))[0];
    assert_eq!(row[0], KEY_48744);
    assert_eq!(
        row[1],
        "https://novastan.org/en/kazakhstan/central-asian-prisoners-war-russia-ukraine/"
    );
    assert!(
        row[2].starts_with("“I only needed a passport”"),
        "{}",
        row[2]
    );
    assert_eq!(row[3], "Emma Collet");
    assert_eq!(row[4], "2026-06-15T18:23:24Z");
}

#[test]
fn records_match_hand_written_text_and_numbering_continues_after_seeds() {
    let server = FeedServer::start();
    server.set_xml("/feed/", SEED_FEED);
    let setup = Setup::new(&[("novastan", server.url("/feed/"))], "");
    let corpus = setup.corpus();
    fs::create_dir_all(&corpus).expect("corpus dir");
    for seed in fs::read_dir("tests/fixtures/seeds").expect("seeds") {
        let seed = seed.expect("entry").path();
        fs::copy(&seed, corpus.join(seed.file_name().expect("name"))).expect("copy seed");
    }
    fs::copy(
        "tests/fixtures/novastan-war-in-ukraine.xml",
        corpus.join("004_bd3ee2f2bbef7fa1.txt"),
    )
    .expect("copy seed 004");

    let (ok, out, err) = setup.poll();
    assert!(ok, "{out}\n{err}");
    let names = setup.records();
    assert_eq!(names.len(), 12);
    let new: Vec<&String> = names.iter().filter(|n| !n.starts_with("00")).collect();
    let numbers: Vec<&str> = names[5..].iter().map(|n| &n[..3]).collect();
    assert_eq!(
        numbers,
        ["005", "006", "007", "008", "009", "010", "011"],
        "{new:?}"
    );

    for id in ["48744", "43036", "42199"] {
        let key = format!("https://novastan.org/en/?p={id}");
        let hash = feedcorpus::model::entry::key_hash16(&key);
        let name = names
            .iter()
            .find(|n| n.ends_with(&format!("_{hash}.txt")))
            .unwrap_or_else(|| panic!("no record for {key}"));
        let got = fs::read_to_string(corpus.join(name)).expect("read record");
        let want =
            fs::read_to_string(format!("tests/fixtures/expected/{id}.txt")).expect("expected");
        assert_eq!(got, want, "record of {key}");
        assert!(!got.contains('<') && !got.contains("&#") && !got.contains("&amp;"));
        assert!(!got.contains("appeared first on"));
        let db_path = &setup.query(&format!(
            "SELECT record_path FROM entries WHERE key = '{key}'"
        ))[0][0];
        assert_eq!(db_path, name);
    }
    let first = fs::read_to_string(
        corpus.join(
            names
                .iter()
                .find(|n| {
                    n.ends_with(&format!(
                        "_{}.txt",
                        feedcorpus::model::entry::key_hash16(KEY_48744)
                    ))
                })
                .expect("record"),
        ),
    )
    .expect("read");
    assert!(first.starts_with(" date 2026-06-15 "));
    // Records are written oldest publication first.
    let oldest = fs::read_to_string(corpus.join(&names[5])).expect("read");
    assert!(
        oldest.starts_with(" date 2022-04-06 The effects of sanctions against Russia"),
        "{oldest:.80}"
    );
}

#[test]
fn run_picks_up_a_new_item_and_exits_zero_on_sigterm() {
    let server = FeedServer::start();
    let mut items = synthetic_items(1, 3);
    server.set_xml("/feed", rss(&items[1..]));
    let setup = Setup::new(
        &[("live", server.url("/feed"))],
        "[poll]\ninterval = \"1s\"\n",
    );
    let (mut child, mut log) = spawn_logged(setup.cmd(&["run"]));
    let line = log.wait_for("feed fetched", Duration::from_secs(30));
    assert!(line.contains("new=2"), "{line}");
    assert!(
        line.contains("feed=live") && line.contains("url=http://127.0.0.1"),
        "{line}"
    );

    server.set_xml("/feed", rss(&items));
    let line = log.wait_for("new=1", Duration::from_secs(30));
    assert!(line.contains("feed fetched"), "{line}");
    log.wait_for("records written", Duration::from_secs(30));

    signal(&child, Signal::SIGTERM);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 3);
    assert_eq!(setup.records().len(), 3);
    items.clear();
}

#[test]
fn broken_feeds_are_reported_by_name_and_do_not_stop_the_others() {
    let server = FeedServer::start();
    server.set_xml("/good", SEED_FEED);
    server.set_xml("/other-good", rss(&synthetic_items(2, 4)));
    server.set(
        "/html",
        Route::Body {
            status: 200,
            content_type: "text/html".into(),
            body: b"<html><body>Not a feed</body></html>".to_vec(),
        },
    );
    server.set("/hang", Route::Hang);
    let setup = Setup::new(
        &[
            ("good", server.url("/good")),
            ("not-xml", server.url("/html")),
            ("gone", server.url("/missing")),
            ("slow", server.url("/hang")),
            ("other-good", server.url("/other-good")),
        ],
        "",
    );
    // The hanging server must hit the (short) request timeout, not the test's patience.
    let text = fs::read_to_string(&setup.config).expect("read");
    fs::write(
        &setup.config,
        text.replace("timeout = \"5s\"", "timeout = \"2s\""),
    )
    .expect("write");

    let (ok, out, err) = setup.poll();
    assert!(ok, "a failing feed must not fail the poll:\n{out}\n{err}");
    assert!(out.contains("FAILED  not-xml"), "{out}");
    assert!(
        out.contains("FAILED  gone") && out.contains("HTTP status 404"),
        "{out}"
    );
    assert!(
        out.contains("FAILED  slow") && out.contains("timed out"),
        "{out}"
    );
    assert!(out.contains("ok      good  7 new"), "{out}");
    assert!(out.contains("ok      other-good  4 new"), "{out}");
    assert!(out.contains("5 feeds: 2 ok, 3 failed"), "{out}");
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 11);
    assert_eq!(setup.records().len(), 11);
    let failing = setup.query("SELECT name, error_count, last_status FROM feeds WHERE last_status = 'error' ORDER BY name",
    );
    let names: Vec<&str> = failing.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["gone", "not-xml", "slow"]);
    assert!(failing.iter().all(|r| r[1] == "1"));
}

#[test]
fn an_open_read_transaction_does_not_block_a_poll() {
    let server = FeedServer::start();
    server.set_xml("/a", rss(&synthetic_items(1, 5)));
    let setup = Setup::sqlite(&[("a", server.url("/a"))], "");
    let (ok, _, _) = setup.poll();
    assert!(ok);
    server.set_xml("/a", rss(&synthetic_items(1, 9)));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let mut reader = rt.block_on(async {
        let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(setup.db());
        let mut c = sqlx::ConnectOptions::connect(&opts).await.expect("reader");
        sqlx::query("BEGIN").execute(&mut c).await.expect("begin");
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM entries")
            .fetch_one(&mut c)
            .await
            .expect("read");
        assert_eq!(n, 5);
        c
    });
    let (ok, out, err) = setup.poll();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("4 new entries"), "{out}");
    rt.block_on(async {
        // The reader still sees its snapshot, then the new rows after it ends.
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM entries")
            .fetch_one(&mut reader)
            .await
            .expect("read");
        assert_eq!(n, 5);
        sqlx::query("COMMIT")
            .execute(&mut reader)
            .await
            .expect("end");
    });
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 9);
}

#[test]
fn a_read_only_corpus_keeps_entries_and_the_next_poll_writes_the_records() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let server = FeedServer::start();
    server.set_xml("/feed", SEED_FEED);
    let setup = Setup::new(&[("novastan", server.url("/feed"))], "");
    let data = setup.dir.path().join("data");
    let corpus = setup.corpus();
    fs::create_dir_all(&corpus).expect("mkdir");
    // Permissions bind only non-root users; run the daemon as `nobody` when the tests are root.
    let as_root = nix::unistd::geteuid().is_root();
    for p in [setup.dir.path(), data.as_path()] {
        fs::set_permissions(p, fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    fs::set_permissions(&corpus, fs::Permissions::from_mode(0o555)).expect("chmod");
    let run_poll = || {
        let mut cmd = setup.cmd(&["poll"]);
        if as_root {
            cmd.uid(65534).gid(65534);
        }
        let out = cmd.output().expect("poll");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run_poll();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("7 pending, not written"), "{out}\n{err}");
    assert!(err.contains("records not written"), "{err}");
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 7);
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM entries WHERE record_path IS NULL"
        ),
        7
    );
    assert!(setup.records().is_empty());

    fs::set_permissions(&corpus, fs::Permissions::from_mode(0o777)).expect("chmod");
    let (ok, out, err) = run_poll();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("0 new entries, 7 records written"), "{out}");
    assert_eq!(setup.records().len(), 7);
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM entries WHERE record_path IS NULL"
        ),
        0
    );
}

#[test]
fn deleted_records_are_written_again_under_their_name() {
    let server = FeedServer::start();
    server.set_xml("/feed", SEED_FEED);
    let setup = Setup::new(&[("novastan", server.url("/feed"))], "");
    assert!(setup.poll().0);
    let before = setup.records();
    fs::remove_file(setup.corpus().join(&before[2])).expect("rm");
    let (ok, _, err) = setup.poll();
    assert!(ok);
    assert!(err.contains("missing"), "{err}");
    assert_eq!(setup.records(), before);
}

#[test]
fn a_corpus_folder_unchanged_since_its_check_is_trusted_and_a_changed_one_checked_again() {
    let server = FeedServer::start();
    server.set_xml("/feed", SEED_FEED);
    // Only SQLite keeps the mark (a shared folder is checked at every start).
    let setup = Setup::sqlite(&[("novastan", server.url("/feed"))], "");
    assert!(setup.poll().0);
    // The mark is saved once the folder's last change is settled: at the end of a poll, or by
    // the next start's full check (the first start may have marked the empty folder).
    let marked = "SELECT count(*) FROM corpus_marks
                  WHERE records = (SELECT count(*) FROM entries WHERE record_path IS NOT NULL)";
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM entries WHERE record_path IS NOT NULL"
        ),
        7
    );
    let mut polls = 1;
    while count(&setup, marked) == 0 {
        assert!(polls < 5, "no corpus mark after {polls} polls");
        assert!(setup.poll().0);
        polls += 1;
    }
    let before = setup.records();
    // From here every write of the mark is noted.
    setup.query("CREATE TABLE mark_writes (n INTEGER)");
    for event in ["INSERT", "UPDATE"] {
        setup.query(&format!(
            "CREATE TRIGGER mark_{event} AFTER {event} ON corpus_marks
             BEGIN INSERT INTO mark_writes VALUES (1); END"
        ));
    }
    // Behind the folder's back, an entry's record path is edited to name a file that is not
    // there. The folder is as the mark says, so the start does not list it...
    setup.query(
        "UPDATE entries SET record_path = '999' || substr(record_path, instr(record_path, '_'))
         WHERE id = (SELECT min(id) FROM entries)",
    );
    let moved = setup.query("SELECT record_path FROM entries ORDER BY id LIMIT 1")[0][0].clone();
    assert!(moved.starts_with("999_"), "{moved}");
    let (ok, _, err) = setup.poll();
    assert!(ok, "{err}");
    assert!(!err.contains("missing"), "{err}");
    assert_eq!(setup.records(), before);
    // A poll that wrote nothing leaves the mark it trusted as it was.
    assert_eq!(count(&setup, "SELECT count(*) FROM mark_writes"), 0);
    // ...until the folder changes: a file added and removed is enough.
    let stray = setup.corpus().join("stray");
    fs::write(&stray, "x").expect("write");
    fs::remove_file(&stray).expect("rm");
    let (ok, _, err) = setup.poll();
    assert!(ok, "{err}");
    assert!(err.contains("missing"), "{err}");
    assert!(setup.records().contains(&moved), "{moved} written again");
}

#[test]
fn config_errors_name_file_line_and_key_and_exit_nonzero() {
    let setup = Setup::new(
        &[("a", "http://127.0.0.1:9/feed".into())],
        "[poll]\nintervall = \"5m\"\n",
    );
    let (ok, out, err) = setup.poll();
    assert!(!ok, "{out}");
    let path = setup.config.display().to_string();
    let text = fs::read_to_string(&setup.config).expect("config");
    let line = text
        .lines()
        .position(|l| l.starts_with("intervall"))
        .expect("line")
        + 1;
    assert!(
        err.contains(&format!("{path}:{line}: [poll] → intervall")),
        "{err}"
    );
    assert!(!setup.db().exists(), "nothing is created for a bad config");
}

#[test]
fn config_falls_back_to_the_environment() {
    let server = FeedServer::start();
    server.set_xml("/feed", rss(&synthetic_items(1, 2)));
    let setup = Setup::new(&[("env", server.url("/feed"))], "");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedcorpus"))
        .arg("poll")
        .env("FEEDCORPUS_CONFIG", &setup.config)
        .output()
        .expect("poll");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 2);
}

#[test]
fn a_second_instance_on_the_same_sqlite_file_is_refused() {
    let server = FeedServer::start();
    server.set_xml("/feed", rss(&synthetic_items(1, 2)));
    let setup = Setup::sqlite(
        &[("a", server.url("/feed"))],
        "[poll]\ninterval = \"1h\"\nstartup_jitter = \"0s\"\n",
    );
    let (mut child, mut log) = spawn_logged(setup.cmd(&["run"]));
    log.wait_for("feed fetched", Duration::from_secs(30));
    let (ok, _, err) = setup.poll();
    assert!(!ok);
    assert!(err.contains("another feedcorpus process"), "{err}");
    signal(&child, Signal::SIGTERM);
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

#[test]
fn inspect_prints_what_would_be_stored_as_json() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedcorpus"))
        .args([
            "inspect",
            "tests/fixtures/novastan-war-in-ukraine.xml",
            "--json",
        ])
        .env_remove("FEEDCORPUS_CONFIG")
        .output()
        .expect("inspect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["feed"]["title"], "War in Ukraine Archives");
    let entries = v["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 7);
    let e = &entries[0];
    for field in ["key", "guid", "url", "title", "author", "published", "text"] {
        assert!(e.get(field).is_some(), "missing {field}");
    }
    assert_eq!(e["key"], KEY_48744);
    assert_eq!(e["published"], "2026-06-15T18:23:24Z");
    let want = fs::read_to_string("tests/fixtures/expected/48744.txt").expect("expected");
    let text = e["text"].as_str().expect("text");
    // inspect prints the text as stored (title first); the record leaves the title out.
    assert!(text.starts_with("“I only needed a passport”"), "{text}");
    let body = feedcorpus::corpus::without_title(text, e["title"].as_str());
    assert_eq!(format!(" date 2026-06-15 {body}\n\n"), want);
}

#[test]
fn inspect_fetches_a_url_and_stores_nothing() {
    let server = FeedServer::start();
    server.set_xml("/feed", SEED_FEED);
    let dir = tempfile::tempdir().expect("tmp");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedcorpus"))
        .args(["inspect", &server.url("/feed")])
        .current_dir(dir.path())
        .env_remove("FEEDCORPUS_CONFIG")
        .output()
        .expect("inspect");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("key:       https://novastan.org/en/?p=48744"),
        "{text}"
    );
    assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 0);
    assert_eq!(server.requests(), ["/feed"]);
}

#[test]
fn inspect_applies_a_configured_feeds_own_settings() {
    let server = FeedServer::start();
    server.set_xml("/feed", SEED_FEED);
    server.set_xml("/same-feed-elsewhere", SEED_FEED);
    let setup = Setup::new(&[], "");
    let mut config = fs::read_to_string(&setup.config).expect("config");
    config.push_str(&format!(
        "\n[[feeds]]\nname = \"novastan\"\nurl = \"{}\"\nstrip = [\"^Citizens from Central Asia now represent\"]\n",
        server.url("/feed")
    ));
    fs::write(&setup.config, config).expect("write config");
    let text_of = |source: &str| {
        let out = setup
            .cmd(&["inspect", source, "--json"])
            .output()
            .expect("inspect");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .find(|e| e["key"] == KEY_48744)
            .and_then(|e| e["text"].as_str())
            .map(str::to_string)
            .expect("entry 48744")
    };
    let stripped = text_of("novastan");
    let plain = text_of(&server.url("/same-feed-elsewhere"));
    assert!(
        plain.contains("Citizens from Central Asia now represent"),
        "{plain}"
    );
    assert!(
        !stripped.contains("Citizens from Central Asia now represent"),
        "{stripped}"
    );
    assert!(plain.len() > stripped.len());
    // Nothing was stored: no database appeared.
    assert!(!setup.db().exists());
}

/// `tests/fixtures/upgrade/schema6-seed.db` was written by the release before the code moved
/// into its current folders (schema version 6, the seed feed polled once): read-only commands
/// refuse it with a clear message, `poll` migrates it (0007 re-declares the search index, 0011
/// the index of pending entries) and polls on, and search finds the old entries.
#[test]
fn a_database_from_the_previous_layout_opens_and_polls_on() {
    let server = FeedServer::start();
    server.set_xml("/feed", SEED_FEED);
    server.set_xml("/other", rss(&synthetic_items(1, 3)));
    let setup = Setup::sqlite(
        &[
            ("novastan", server.url("/feed")),
            ("other", server.url("/other")),
        ],
        "",
    );
    fs::create_dir_all(setup.db().parent().expect("data dir")).expect("mkdir");
    fs::copy("tests/fixtures/upgrade/schema6-seed.db", setup.db()).expect("copy");
    let versions =
        |setup: &Setup| setup.query("SELECT max(version), count(*) FROM _sqlx_migrations");
    assert_eq!(versions(&setup), [["6", "6"]]);
    // Read-only commands never migrate: they say what to do.
    let out = setup.cmd(&["status", "--json"]).output().expect("status");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("older than this feedcorpus") && err.contains("poll"),
        "{err}"
    );
    let (ok, out, err) = setup.poll();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("ok      novastan  0 new"), "{out}");
    assert!(out.contains("ok      other  3 new"), "{out}");
    assert_eq!(versions(&setup), [["12", "12"]], "six migrations ran");
    // The writer's to-do list is the index of pending entries in record order (0011).
    let pending = setup.query("SELECT sql FROM sqlite_master WHERE name = 'entries_pending'");
    assert!(
        pending
            .first()
            .and_then(|r| r.first())
            .is_some_and(|sql| sql.contains("COALESCE(published, first_seen_at)")),
        "{pending:?}"
    );
    // The boilerplate model moved to its own table and went on learning: the seed's 7 entries
    // counted again on top of the 7 the earlier release had counted.
    assert_eq!(
        setup.query(
            "SELECT json_extract(model, '$.stats.entries') FROM feed_boilerplate
             JOIN feeds ON feeds.id = feed_id WHERE name = 'novastan'"
        ),
        [["14"]]
    );
    assert_eq!(
        setup.query("SELECT count(*) FROM pragma_table_info('feeds') WHERE name = 'boilerplate'"),
        [["0"]]
    );
    // Its fingerprints were of the earlier format: computed again, with their band keys.
    assert_eq!(
        setup.query(
            "SELECT count(*) FROM entries WHERE fingerprint IS NOT NULL AND length(fingerprint) <> 517"
        ),
        [["0"]]
    );
    assert_eq!(
        setup.query("SELECT count(DISTINCT entry_id) FROM entry_bands WHERE band < 2147483648 AND band >= -2147483648"),
        setup.query("SELECT count(*) FROM entries WHERE fingerprint IS NOT NULL")
    );
    let out = setup.cmd(&["status", "--json"]).output().expect("status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The re-declared index holds the old entries too.
    let out = setup.cmd(&["search", "passport"]).output().expect("search");
    let found = String::from_utf8_lossy(&out.stdout);
    assert!(found.contains("passport"), "{found}");
    let rows = setup.query("SELECT count(*), count(DISTINCT key), max(id) FROM entries");
    assert_eq!(rows, [["10", "10", "10"]]);
    // The seed's records were missing from this corpus folder: written again under their
    // recorded names; the new entries' records continue the numbering.
    let records = setup.records();
    assert_eq!(records.len(), 10, "{records:?}");
    let recorded = setup.query("SELECT count(*) FROM entries WHERE record_path IS NOT NULL");
    assert_eq!(recorded, [["10"]]);
}

/// `[corpus] text_title = true` writes the title as the first paragraph (the earlier form), in
/// the records the daemon writes and in `export --format text`; the default leaves it out.
#[test]
fn text_title_puts_the_title_back_in_records_and_exports() {
    let server = FeedServer::start();
    server.set_xml("/feed", SEED_FEED);
    let want_body = fs::read_to_string("tests/fixtures/expected/48744.txt").expect("expected");
    let title = "“I only needed a passport” : In Ukraine, Central Asian prisoners of wars caught between loyalty and regret";
    for (extra, with_title) in [("", false), ("text_title = true\n", true)] {
        let setup = Setup::new(&[("novastan", server.url("/feed"))], extra);
        let (ok, out, err) = setup.poll();
        assert!(ok, "{out}\n{err}");
        let path = setup.query(&format!(
            "SELECT record_path FROM entries WHERE key = '{KEY_48744}'"
        ))[0][0]
            .clone();
        let record = fs::read_to_string(setup.corpus().join(&path)).expect("record");
        let export_dir = setup.dir.path().join("export");
        let out = setup
            .cmd(&[
                "export",
                "--format",
                "text",
                "--out",
                export_dir.to_str().expect("utf-8"),
            ])
            .output()
            .expect("export");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let exported: Vec<String> = fs::read_dir(&export_dir)
            .expect("export folder")
            .filter_map(|e| fs::read_to_string(e.ok()?.path()).ok())
            .collect();
        let want = if with_title {
            want_body.replacen(
                " date 2026-06-15 ",
                &format!(" date 2026-06-15 {title}\n\n"),
                1,
            )
        } else {
            want_body.clone()
        };
        assert_eq!(record, want, "text_title = {with_title}: the record");
        assert!(
            exported.contains(&want),
            "text_title = {with_title}: the export"
        );
    }
}
