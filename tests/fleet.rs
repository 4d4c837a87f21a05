//! Several instances on one PostgreSQL database, through the real binary, against a loopback
//! farm of 300 feeds on three hosts (127.0.0.1, 127.0.0.2, 127.0.0.3). These tests always run
//! on PostgreSQL (a throwaway cluster the test process starts), whatever the suite's backend.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

const HOSTS: [&str; 3] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
const FEEDS_PER_HOST: usize = 100;
const ITEMS: usize = 5;
const PER_HOST: usize = 2;

/// The farm: 100 feeds per host, each answering after `delay` (so requests overlap and a limit
/// that is only per instance would show), or only once the test opens the gates.
struct Farm {
    servers: Vec<FeedServer>,
}

impl Farm {
    fn start(delay: Duration) -> Farm {
        Farm::with(|body| Route::Slow { delay, body })
    }

    fn gated() -> Farm {
        Farm::with(|body| Route::Gated { body })
    }

    fn open_gates(&self) {
        for s in &self.servers {
            s.open_gate();
        }
    }

    fn with(route: impl Fn(Vec<u8>) -> Route) -> Farm {
        let servers: Vec<FeedServer> = HOSTS.iter().map(|h| FeedServer::start_on(h)).collect();
        for (h, server) in servers.iter().enumerate() {
            for i in 0..FEEDS_PER_HOST {
                let feed = h * FEEDS_PER_HOST + i;
                server.set(
                    &format!("/f{i}"),
                    route(rss(&synthetic_items(feed, ITEMS)).into_bytes()),
                );
            }
        }
        Farm { servers }
    }

    fn feeds(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (h, server) in self.servers.iter().enumerate() {
            for i in 0..FEEDS_PER_HOST {
                out.push((format!("h{h}-f{i}"), server.url(&format!("/f{i}"))));
            }
        }
        out
    }

    /// Requests per feed (by host and path) with their arrival times.
    fn requests(&self) -> HashMap<(usize, String), Vec<Instant>> {
        let mut out: HashMap<(usize, String), Vec<Instant>> = HashMap::new();
        for (h, server) in self.servers.iter().enumerate() {
            for s in server.seen() {
                out.entry((h, s.path.clone())).or_default().push(s.at);
            }
        }
        for times in out.values_mut() {
            times.sort();
        }
        out
    }

    fn total(&self) -> usize {
        self.servers.iter().map(|s| s.seen().len()).sum()
    }

    fn fetched_at_least(&self, n: usize) -> bool {
        let r = self.requests();
        r.len() == HOSTS.len() * FEEDS_PER_HOST && r.values().all(|v| v.len() >= n)
    }
}

/// Polls `done` every 50 ms until it holds; fails the test after `limit`.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Instances on one database: each its own folder and config (same feed list), edited to the
/// test's lease and the fleet's per-host limit; `shared_corpus`: all write the first one's
/// corpus folder (one machine), else each its own.
fn instances(
    n: usize,
    farm: &Farm,
    interval: &str,
    lease: &str,
    shared_corpus: bool,
) -> Vec<Setup> {
    let feeds = farm.feeds();
    let feeds: Vec<(&str, String)> = feeds.iter().map(|(n, u)| (n.as_str(), u.clone())).collect();
    let extra =
        format!("[poll]\ninterval = \"{interval}\"\nstartup_jitter = \"0s\"\nconcurrency = 16\n");
    let first = Setup::on(Backend::Postgres, &feeds, &extra);
    let mut out = vec![first];
    for _ in 1..n {
        out.push(out[0].sharing(&feeds, &extra));
    }
    let corpus = out[0].corpus();
    for s in &out {
        let mut text = std::fs::read_to_string(&s.config).expect("config");
        text = text
            .replace(
                "per_host_connections = 16",
                &format!("per_host_connections = {PER_HOST}"),
            )
            .replace(
                "corpus_dir = \"data/corpus\"",
                &format!(
                    "corpus_dir = {:?}\nlease = \"{lease}\"",
                    if shared_corpus {
                        corpus.display().to_string()
                    } else {
                        "data/corpus".to_string()
                    }
                ),
            );
        std::fs::write(&s.config, text).expect("config");
    }
    out
}

/// Every record file in these folders: (number, key hash, file name), no name twice.
fn all_records(setups: &[Setup]) -> Vec<(u64, String, String)> {
    let dirs: HashSet<std::path::PathBuf> = setups.iter().map(Setup::corpus).collect();
    let mut out = Vec::new();
    for d in dirs {
        for name in list_records(&d) {
            let (n, hash) = feedcorpus::corpus::parse_record_name(&name).expect("record name");
            out.push((n, hash.to_string(), name.clone()));
        }
    }
    out
}

/// Entries exact (each key once), every entry with one record file, no record number twice.
fn check_corpus(setups: &[Setup]) {
    let db = &setups[0];
    let expected = HOSTS.len() * FEEDS_PER_HOST * ITEMS;
    let rows = db.query("SELECT key, record_path, record_seq FROM entries");
    assert_eq!(rows.len(), expected, "entries stored");
    let keys: HashSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(keys.len(), expected, "a key stored twice");
    assert_eq!(
        count(db, "SELECT count(*) FROM entries WHERE record_path IS NULL"),
        0,
        "records pending"
    );
    let records = all_records(setups);
    let numbers: HashSet<u64> = records.iter().map(|r| r.0).collect();
    let hashes: HashSet<&str> = records.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(numbers.len(), records.len(), "a record number used twice");
    assert_eq!(
        hashes.len(),
        records.len(),
        "two record files for one entry"
    );
    assert_eq!(records.len(), expected, "record files");
    let named: HashSet<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    for (_, _, name) in &records {
        assert!(
            named.contains(name.as_str()),
            "{name} is not any entry's record"
        );
    }
    assert_eq!(db.integrity(), "ok");
}

/// `feedcorpus run` for each setup; the logs are read (and kept) so no instance blocks on them.
fn run_all(setups: &[Setup]) -> (Vec<Spawned>, Vec<LogWatch>) {
    setups.iter().map(|s| spawn_logged(s.cmd(&["run"]))).unzip()
}

fn stop(children: &mut [Spawned]) {
    for c in children.iter() {
        signal(c, Signal::SIGTERM);
    }
    for c in children.iter_mut() {
        let status = c.wait().expect("wait");
        assert!(status.success(), "an instance exited with {status}");
    }
}

#[test]
fn three_instances_fetch_every_feed_once_per_round_within_the_fleets_host_limit() {
    let farm = Farm::start(Duration::from_millis(20));
    let interval = Duration::from_secs(4);
    let setups = instances(3, &farm, "4s", "30s", false);
    let (mut children, _logs) = run_all(&setups);
    wait_until(Duration::from_secs(180), "three rounds", || {
        farm.fetched_at_least(3)
    });
    stop(&mut children);
    // Once per round: a feed's fetches are an interval apart (a second fetch in the same round
    // would follow the first within moments).
    for ((h, path), times) in farm.requests() {
        for pair in times.windows(2) {
            let gap = pair[1].duration_since(pair[0]);
            assert!(
                gap >= interval / 2,
                "{}{path} fetched twice within {gap:?}",
                HOSTS[h]
            );
        }
    }
    for (h, server) in farm.servers.iter().enumerate() {
        assert!(
            server.max_in_flight() <= PER_HOST,
            "{} saw {} requests at once from the fleet",
            HOSTS[h],
            server.max_in_flight()
        );
    }
    // The cold round was shared (which instance gets which claim is the claims' race).
    assert!(
        count(&setups[0], "SELECT count(DISTINCT stored_by) FROM entries") >= 2,
        "one instance stored every entry"
    );
    check_corpus(&setups);
}

#[test]
fn a_killed_instances_feeds_are_taken_over_within_the_lease() {
    let farm = Farm::start(Duration::from_millis(150));
    let setups = instances(3, &farm, "1h", "4s", true);
    let (mut children, _logs) = run_all(&setups);
    let total = HOSTS.len() * FEEDS_PER_HOST;
    wait_until(Duration::from_secs(120), "a third of the round", || {
        farm.total() >= total / 3
    });
    // Mid-round: the second instance holds claims and has fetches in flight.
    let victim = children.remove(1);
    signal(&victim, Signal::SIGKILL);
    let mut victim = victim;
    let _ = victim.wait();
    let killed_at = Instant::now();
    wait_until(Duration::from_secs(120), "every feed fetched", || {
        farm.fetched_at_least(1)
    });
    // The dead instance's feeds came back within the lease (plus a claim's polling).
    assert!(
        killed_at.elapsed() < Duration::from_secs(120),
        "the round took {:?} after the kill",
        killed_at.elapsed()
    );
    // Its stored-but-unwritten records are written by the others once its heartbeat is old.
    let db = &setups[0];
    wait_until(
        Duration::from_secs(60),
        "records of the dead instance",
        || {
            count(db, "SELECT count(*) FROM entries WHERE record_path IS NULL") == 0
                && count(db, "SELECT count(*) FROM entries")
                    == i64::try_from(total * ITEMS).unwrap_or(0)
        },
    );
    stop(&mut children);
    // No feed was fetched twice except the killed instance's in-flight ones (at most its
    // claims), and nothing was lost or duplicated.
    let twice: Vec<_> = farm
        .requests()
        .into_iter()
        .filter(|(_, t)| t.len() > 1)
        .collect();
    assert!(
        twice.len() <= PER_HOST * HOSTS.len(),
        "{} feeds fetched more than once (the dead instance held {} at most)",
        twice.len(),
        PER_HOST * HOSTS.len()
    );
    check_corpus(&setups);
}

#[test]
fn instances_starting_together_on_an_empty_database_make_one_schema_and_one_feed_list() {
    let farm = Farm::gated();
    let setups = instances(2, &farm, "1h", "30s", true);
    let mut polls: Vec<std::process::Child> = setups
        .iter()
        .map(|s| {
            s.cmd(&["poll"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn poll")
        })
        .collect();
    // Both polls have begun their round before any feed answers: they share one round.
    let db = &setups[0];
    wait_until(Duration::from_secs(60), "both polls under way", || {
        count(
            db,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'instances'",
        ) == 1
            && count(
                db,
                "SELECT count(*) FROM instances WHERE round_since IS NOT NULL AND stopped_at IS NULL",
            ) == 2
    });
    farm.open_gates();
    let mut outputs = Vec::new();
    for p in polls.drain(..) {
        let out = p.wait_with_output().expect("wait");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "a poll failed: {text}");
        outputs.push(text);
    }
    assert_eq!(
        db.query("SELECT count(*), count(DISTINCT version) FROM _sqlx_migrations"),
        [["4", "4"]]
    );
    assert_eq!(
        count(db, "SELECT count(*) FROM feeds"),
        i64::try_from(HOSTS.len() * FEEDS_PER_HOST).unwrap_or(0)
    );
    assert_eq!(count(db, "SELECT count(*) FROM instances"), 2);
    // The two polls shared the round: every feed fetched exactly once.
    let requests = farm.requests();
    assert_eq!(requests.len(), HOSTS.len() * FEEDS_PER_HOST);
    for ((h, path), times) in &requests {
        assert_eq!(
            times.len(),
            1,
            "{}{path} fetched {} times; the polls said:\n{}",
            HOSTS[*h],
            times.len(),
            outputs.join("\n")
        );
    }

    check_corpus(&setups);
    // `status` and `feeds list` name the instances (both stopped now: none running).
    let out = setups[1].cmd(&["status"]).output().expect("status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("database: postgres://"), "{text}");
    assert!(
        !text.contains("instances:"),
        "stopped instances are listed: {text}"
    );
}

fn entry(key: &str) -> feedcorpus::model::entry::NewEntry {
    use feedcorpus::model::entry::{NewEntry, TextSource};
    NewEntry {
        key: key.into(),
        guid: Some(key.into()),
        url: Some(key.into()),
        title: Some("One story".into()),
        author: None,
        published: Some("2026-06-15T18:23:24Z".into()),
        updated: None,
        record_date: "2026-06-15".into(),
        content_text: "The same story, carried by two feeds.".into(),
        content_hash: "h".into(),
        content_html: None,
        feed_text: None,
        feed_hash: "h".into(),
        text_source: TextSource::Feed,
        language: None,
        fingerprint: None,
        bands: Vec::new(),
        excluded: None,
        unchanged: false,
    }
}

/// The exact-dedup race: instance A has inserted a key and not committed yet when instance B
/// stores the same key from another feed. B must wait for A, then link the entry to its feed:
/// one entry, two feed links, no error for either.
#[test]
fn one_guid_stored_by_two_instances_at_once_is_one_entry_with_two_feed_links() {
    use feedcorpus::model::feed::{FeedStatus, FeedUpdate};
    use feedcorpus::store::{Database, FeedSpec, IngestRules, Store};
    let url = pg::cluster().create_database();
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let db = Database::Postgres(url.clone());
        let lease = Duration::from_secs(30);
        let b = Store::open_instance(&db, dir.path(), lease)
            .await
            .expect("open");
        let spec = |name: &'static str| FeedSpec {
            name,
            url: "https://e.org/feed",
            host: "e.org:443".into(),
        };
        let ids = b.sync_feeds(&[spec("fa"), spec("fb")]).await.expect("sync");
        // Instance A's transaction, held open after its insert.
        let mut a = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("connect");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "BEGIN;
             INSERT INTO entries (key, record_date, content_text, content_hash, first_seen_at)
                 VALUES ('urn:story:1', '2026-06-15', 'The same story.', 'h0', now());
             INSERT INTO feed_entries (feed_id, entry_id, first_seen_at)
                 SELECT {}, id, now() FROM entries WHERE key = 'urn:story:1';",
            ids["fa"]
        )))
        .execute(&mut a)
        .await
        .expect("A's insert");
        let update = FeedUpdate {
            status: FeedStatus::Ok,
            ..FeedUpdate::default()
        };
        let fb = ids["fb"];
        let store = b.clone();
        let entries = vec![entry("urn:story:1")];
        let storing = tokio::spawn(async move {
            store
                .apply_fetch(fb, &update, &entries, &IngestRules::plain())
                .await
        });
        // B is waiting for A's row lock (the unique index), not finished and not failed.
        let watch = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await;
        let mut watch = watch.expect("connect");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&mut watch)
            .await
            .expect("pg_stat_activity");
            if waiting > 0 {
                break;
            }
            assert!(!storing.is_finished(), "B did not wait for A's insert");
            assert!(Instant::now() < deadline, "B never waited for A");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sqlx::raw_sql("COMMIT")
            .execute(&mut a)
            .await
            .expect("A's commit");
        let stats = storing.await.expect("task").expect("B's store");
        assert_eq!((stats.new, stats.linked), (0, 1), "{stats:?}");
    });
    let rows = pg::run(
        &url,
        "SELECT count(*), (SELECT count(*) FROM feed_entries) FROM entries",
    );
    assert_eq!(rows, [["1", "2"]]);
}

/// Instances of one PostgreSQL database share a corpus folder; an SQLite instance owns its own:
/// neither may write into the other's.
#[test]
fn a_shared_corpus_folder_is_refused_to_an_sqlite_instance_and_back() {
    let server = FeedServer::start();
    server.set_xml("/a.xml", SEED_FEED);
    let feeds = [("a", server.url("/a.xml"))];
    let run = "[poll]\ninterval = \"1h\"\nstartup_jitter = \"0s\"\n";
    let pg = Setup::on(Backend::Postgres, &feeds, run);
    let lite = Setup::sqlite(&feeds, run);
    let point_at = |s: &Setup, dir: &std::path::Path| {
        let text = std::fs::read_to_string(&s.config).expect("config").replace(
            "corpus_dir = \"data/corpus\"",
            &format!("corpus_dir = {:?}", dir.display().to_string()),
        );
        std::fs::write(&s.config, text).expect("config");
    };
    point_at(&lite, &pg.corpus());
    // A PostgreSQL instance runs: the SQLite one is refused its folder.
    let (mut daemon, mut log) = spawn_logged(pg.cmd(&["run"]));
    log.wait_for("feed fetched", Duration::from_secs(60));
    let (ok, _, err) = lite.poll();
    assert!(
        !ok && err.contains("in use by another feedcorpus process"),
        "{err}"
    );
    // A second PostgreSQL instance shares it.
    let second = pg.sharing(&feeds, run);
    point_at(&second, &pg.corpus());
    let (ok, _, err) = second.poll();
    assert!(ok, "{err}");
    signal(&daemon, Signal::SIGTERM);
    let _ = daemon.wait();
    // An SQLite instance runs: a PostgreSQL one is refused the folder.
    let (mut daemon, mut log) = spawn_logged(lite.cmd(&["run"]));
    log.wait_for("daemon started", Duration::from_secs(60));
    let (ok, _, err) = second.poll();
    assert!(
        !ok && err.contains("in use by another feedcorpus process"),
        "{err}"
    );
    signal(&daemon, Signal::SIGTERM);
    let _ = daemon.wait();
}
