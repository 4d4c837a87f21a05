//! The SQLite backend's own tests: batches, savepoints, clustering, read-only opens.

use super::*;
use crate::model::entry::{NewEntry, TextSource};
use crate::model::feed::{FeedStatus, FeedUpdate};
use crate::store::Store;
use sqlx::Row;

/// The SQLite pool under a store, for the tests' own SQL.
fn pool(store: &Store) -> &SqlitePool {
    match store {
        Store::Sqlite(s) => &s.pool,
        Store::Postgres(_) => panic!("these tests open SQLite stores"),
    }
}

fn file(path: &std::path::Path) -> crate::store::Database {
    crate::store::Database::Sqlite(path.to_path_buf())
}

fn ok_update() -> FeedUpdate {
    FeedUpdate {
        status: FeedStatus::Ok,
        ..FeedUpdate::default()
    }
}

fn entry(key: &str, text: &str) -> NewEntry {
    NewEntry {
        key: key.into(),
        guid: Some(key.into()),
        url: None,
        title: Some("t".into()),
        author: None,
        published: Some("2026-06-15T18:23:24Z".into()),
        updated: None,
        record_date: "2026-06-15".into(),
        content_text: text.into(),
        content_hash: crate::model::entry::sha256_hex(text),
        content_html: None,
        feed_text: None,
        feed_hash: crate::model::entry::sha256_hex(text),
        text_source: TextSource::Feed,
        language: None,
        fingerprint: None,
        bands: Vec::new(),
        excluded: None,
        unchanged: false,
    }
}

#[tokio::test]
async fn ingest_dedups_and_links_across_feeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&file(&dir.path().join("db/f.db")))
        .await
        .expect("open");
    let ids = store
        .sync_feeds(&[
            FeedSpec {
                name: "a",
                url: "https://a/feed",
                host: String::new(),
            },
            FeedSpec {
                name: "b",
                url: "https://b/feed",
                host: String::new(),
            },
        ])
        .await
        .expect("sync");
    let batch = vec![entry("k1", "one"), entry("k2", "two"), entry("k3", "")];
    let s = store
        .apply_fetch(ids["a"], &ok_update(), &batch, &IngestRules::plain())
        .await
        .expect("ingest");
    assert_eq!((s.new, s.linked, s.total), (3, 0, 3));
    let s = store
        .apply_fetch(ids["a"], &ok_update(), &batch, &IngestRules::plain())
        .await
        .expect("again");
    assert_eq!((s.new, s.linked), (0, 0));
    let s = store
        .apply_fetch(ids["b"], &ok_update(), &batch[..1], &IngestRules::plain())
        .await
        .expect("b");
    assert_eq!((s.new, s.linked), (0, 1));

    let pending = store.pending_records(100, true).await.expect("pending");
    assert_eq!(pending.len(), 2, "the empty entry has no record to write");
    store
        .set_record_paths(&[(pending[0].entry_id, "005_x.txt".into())])
        .await
        .expect("mark");
    assert_eq!(
        store
            .pending_records(100, true)
            .await
            .expect("pending")
            .len(),
        1
    );
    assert_eq!(store.record_paths().await.expect("paths").len(), 1);
    assert_eq!(store.integrity_check().await.expect("check"), "ok");
}

#[tokio::test]
async fn an_unchanged_entry_is_linked_and_never_inserted_without_its_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&file(&dir.path().join("u.db")))
        .await
        .expect("open");
    let ids = store
        .sync_feeds(&[FeedSpec {
            name: "a",
            url: "https://a/feed",
            host: String::new(),
        }])
        .await
        .expect("sync");
    let rules = IngestRules::plain();
    store
        .apply_fetch(ids["a"], &ok_update(), &[entry("k1", "one")], &rules)
        .await
        .expect("first");
    // The poll's view of k1 as the entry memo gives it: no text, the stored hash; and k2,
    // known when the poll read it, whose row has gone since.
    let unchanged = |key: &str, text: &str| NewEntry {
        content_text: String::new(),
        title: None,
        unchanged: true,
        ..entry(key, text)
    };
    let s = store
        .apply_fetch(
            ids["a"],
            &ok_update(),
            &[unchanged("k1", "one"), unchanged("k2", "two")],
            &rules,
        )
        .await
        .expect("again");
    assert_eq!((s.new, s.updated), (0, 0));
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT key, content_text, title FROM entries ORDER BY key")
            .fetch_all(pool(&store))
            .await
            .expect("rows");
    assert_eq!(rows, vec![("k1".into(), "one".into(), Some("t".into()))]);
}

#[tokio::test]
async fn the_wal_is_bounded_and_read_only_opens_write_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("w.db");
    let store = Store::open(&file(&path)).await.expect("open");
    let limit: i64 = sqlx::query_scalar("PRAGMA journal_size_limit")
        .fetch_one(pool(&store))
        .await
        .expect("pragma");
    assert_eq!(limit, 64 * 1024 * 1024);
    store.close().await;
    let ro = Store::open_existing(&file(&path))
        .await
        .expect("open read-only");
    let write = sqlx::query("CREATE TABLE t (x)").execute(pool(&ro)).await;
    assert!(write.is_err(), "a read-only store must refuse writes");
}

#[tokio::test]
async fn removed_feeds_become_inactive_and_failures_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&file(&dir.path().join("f.db")))
        .await
        .expect("open");
    let ids = store
        .sync_feeds(&[FeedSpec {
            name: "a",
            url: "https://a/feed",
            host: String::new(),
        }])
        .await
        .expect("sync");
    let fail = FeedUpdate {
        status: FeedStatus::Error,
        http_status: Some(404),
        error: Some("HTTP status 404".into()),
        ..FeedUpdate::default()
    };
    store
        .apply_fetch(ids["a"], &fail, &[], &IngestRules::plain())
        .await
        .expect("fail");
    store
        .apply_fetch(ids["a"], &fail, &[], &IngestRules::plain())
        .await
        .expect("fail");
    assert_eq!(
        store.feed_state(ids["a"]).await.expect("state").error_count,
        2
    );
    store.sync_feeds(&[]).await.expect("resync");
    let row = sqlx::query("SELECT active, error_count, last_error FROM feeds WHERE name = 'a'")
        .fetch_one(pool(&store))
        .await
        .expect("row");
    assert_eq!(row.get::<i64, _>(0), 0);
    assert_eq!(row.get::<i64, _>(1), 2);
    assert_eq!(row.get::<String, _>(2), "HTTP status 404");
}

/// An entry with a real fingerprint, so near-duplicate checks have something to compare.
fn fingerprinted(key: &str, text: &str) -> NewEntry {
    let fp = crate::pipeline::text::neardup::fingerprint(text);
    NewEntry {
        bands: crate::pipeline::text::neardup::band_ids(&fp),
        fingerprint: Some(fp.to_bytes()),
        ..entry(key, text)
    }
}

fn near_rules() -> IngestRules<'static> {
    IngestRules {
        skip_near_duplicates: true,
        rewrite_on_update: false,
        near_duplicate: &crate::pipeline::text::quality::near_duplicate,
    }
}

const STORY: &str = "The central bank of Uzbekistan cut its main interest rate by half a point to 13 percent on \
    Thursday, citing a steady slowdown in inflation and calmer food prices across the country. Annual \
    inflation fell to 8.1 percent in May from 9.6 percent at the start of the year, the bank said in a \
    statement, and it expects to reach its target by the end of 2027.";

async fn two_feeds(dir: &tempfile::TempDir) -> (Store, i64, i64) {
    let store = Store::open(&file(&dir.path().join("f.db")))
        .await
        .expect("open");
    let ids = store
        .sync_feeds(&[
            FeedSpec {
                name: "a",
                url: "https://a/feed",
                host: String::new(),
            },
            FeedSpec {
                name: "b",
                url: "https://b/feed",
                host: String::new(),
            },
        ])
        .await
        .expect("sync");
    (store, ids["a"], ids["b"])
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool(store))
        .await
        .expect("count")
}

/// Fetches that change only their feed's status are stored by one statement; one the database
/// refuses makes each be stored alone, and it fails by itself. A learned model is kept apart.
#[tokio::test]
async fn status_only_fetches_are_stored_together_and_a_refused_one_fails_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, a, b) = two_feeds(&dir).await;
    let not_modified = FeedUpdate {
        status: FeedStatus::NotModified,
        http_status: Some(304),
        duration_ms: Some(7),
        ..FeedUpdate::default()
    };
    let failed = FeedUpdate {
        status: FeedStatus::Error,
        error: Some("HTTP status 500".into()),
        ..FeedUpdate::default()
    };
    let learned = FeedUpdate {
        boilerplate: Some("{\"stats\":{\"entries\":3,\"counts\":{}}}".into()),
        ..ok_update()
    };
    let status = |id: i64| {
        sqlx::query_as::<_, (Option<String>, i64, Option<i64>, Option<String>)>(
            "SELECT last_status, error_count, last_duration_ms, last_error FROM feeds WHERE id = ?1",
        )
        .bind(id)
        .fetch_one(pool(&store))
    };
    let writes = [
        FetchWrite {
            feed_id: a,
            update: Some(&not_modified),
            entries: &[],
        },
        FetchWrite {
            feed_id: b,
            update: Some(&failed),
            entries: &[],
        },
    ];
    let results = store
        .apply_fetches(&writes, &IngestRules::plain())
        .await
        .expect("batch");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        status(a).await.expect("a"),
        (Some("not_modified".into()), 0, Some(7), None)
    );
    assert_eq!(
        status(b).await.expect("b"),
        (
            Some("error".into()),
            1,
            None,
            Some("HTTP status 500".into())
        )
    );
    // The database refuses b's status from now on; a's and a model are stored.
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE UPDATE ON feeds WHEN old.name = 'b'
         BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    .execute(pool(&store))
    .await
    .expect("trigger");
    let writes = [
        FetchWrite {
            feed_id: b,
            update: Some(&failed),
            entries: &[],
        },
        FetchWrite {
            feed_id: a,
            update: Some(&failed),
            entries: &[],
        },
        FetchWrite {
            feed_id: a,
            update: Some(&learned),
            entries: &[],
        },
    ];
    let results = store
        .apply_fetches(&writes, &IngestRules::plain())
        .await
        .expect("batch");
    assert!(results[0].is_err(), "{results:?}");
    assert!(results[1].is_ok() && results[2].is_ok(), "{results:?}");
    assert_eq!(status(a).await.expect("a").0.as_deref(), Some("ok"));
    assert_eq!(
        status(b).await.expect("b").1,
        1,
        "b's refused fetch left it as it was"
    );
    assert_eq!(
        store.boilerplate_model(a).await.expect("model"),
        learned.boilerplate
    );
    assert_eq!(store.boilerplate_model(b).await.expect("model"), None);
}

#[tokio::test]
async fn a_fetch_the_database_refuses_fails_alone_in_its_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, a, b) = two_feeds(&dir).await;
    let update = ok_update();
    let first = [entry("k1", "one"), entry("k2", "two")];
    let refused = [entry("k3", "three")];
    // The refused fetch's entry comes again in a later fetch of the same batch.
    let last = [entry("k4", "four"), entry("k3", "three")];
    let writes = [
        FetchWrite {
            feed_id: a,
            update: Some(&update),
            entries: &first,
        },
        // No such feed: its link violates the foreign key.
        FetchWrite {
            feed_id: 9999,
            update: Some(&update),
            entries: &refused,
        },
        FetchWrite {
            feed_id: b,
            update: Some(&update),
            entries: &last,
        },
    ];
    let results = store
        .apply_fetches(&writes, &IngestRules::plain())
        .await
        .expect("batch");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().map(|s| s.new).ok(), Some(2));
    assert!(results[1].is_err(), "{:?}", results[1]);
    assert_eq!(results[2].as_ref().map(|s| s.new).ok(), Some(2));
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM entries ORDER BY id")
        .fetch_all(pool(&store))
        .await
        .expect("keys");
    assert_eq!(keys, ["k1", "k2", "k4", "k3"]);
    // Every stored entry reached the search index once.
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'one OR two OR four'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'three'"
        )
        .await,
        1
    );
    let links: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM feed_entries fe JOIN entries e ON e.id = fe.entry_id
         WHERE e.key = 'k3' AND fe.feed_id = ?1",
    )
    .bind(b)
    .fetch_one(pool(&store))
    .await
    .expect("links");
    assert_eq!(links, 1);
    assert_eq!(store.integrity_check().await.expect("check"), "ok");
}

#[tokio::test]
async fn one_batch_stores_a_shared_entry_once_and_clusters_copies_across_its_fetches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, a, b) = two_feeds(&dir).await;
    let update = ok_update();
    let copy = STORY.replace("Thursday", "Thursday morning");
    let from_a = [fingerprinted("shared", STORY)];
    let from_b = [
        fingerprinted("shared", STORY),
        fingerprinted("copy", &copy),
        fingerprinted(
            "other",
            "Almaty opened a network of bicycle lanes separated from car traffic on Wednesday, the first \
             of its kind in Kazakhstan. The lanes run along two avenues and connect the centre with the \
             university district, the city said.",
        ),
    ];
    let writes = [
        FetchWrite {
            feed_id: a,
            update: Some(&update),
            entries: &from_a,
        },
        FetchWrite {
            feed_id: b,
            update: Some(&update),
            entries: &from_b,
        },
    ];
    let results = store
        .apply_fetches(&writes, &near_rules())
        .await
        .expect("batch");
    let b_stats = results[1].as_ref().expect("b stored");
    assert_eq!((b_stats.new, b_stats.linked), (2, 1));
    let rows: Vec<(String, i64, i64, Option<String>)> =
        sqlx::query_as("SELECT key, id, cluster_id, excluded FROM entries ORDER BY id")
            .fetch_all(pool(&store))
            .await
            .expect("rows");
    let shared_id = rows[0].1;
    assert_eq!(rows[0].0, "shared");
    assert_eq!((rows[1].0.as_str(), rows[1].2), ("copy", shared_id));
    assert_eq!(rows[1].3.as_deref(), Some("near-duplicate"));
    assert_eq!(rows[2].0, "other");
    assert_eq!(
        rows[2].2, rows[2].1,
        "an unrelated story starts its own cluster"
    );
    assert_eq!(count(&store, "SELECT count(*) FROM feed_entries").await, 4);

    // A later transaction finds the cluster through the stored band keys.
    let later = [fingerprinted(
        "late-copy",
        &STORY.replace("percent", "per cent"),
    )];
    let s = store
        .apply_fetch(a, &update, &later, &near_rules())
        .await
        .expect("later");
    assert_eq!(s.new, 1);
    let cluster: i64 = sqlx::query_scalar("SELECT cluster_id FROM entries WHERE key = 'late-copy'")
        .fetch_one(pool(&store))
        .await
        .expect("cluster");
    assert_eq!(cluster, shared_id);
}

#[tokio::test]
async fn an_entry_changed_by_one_fetch_is_checked_against_its_new_text_by_the_next() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, a, b) = two_feeds(&dir).await;
    let update = ok_update();
    store
        .apply_fetch(a, &update, &[entry("k", "first")], &IngestRules::plain())
        .await
        .expect("first");
    let second = [entry("k", "second")];
    let third = [entry("k", "second")];
    let writes = [
        FetchWrite {
            feed_id: a,
            update: Some(&update),
            entries: &second,
        },
        FetchWrite {
            feed_id: b,
            update: Some(&update),
            entries: &third,
        },
    ];
    let results = store
        .apply_fetches(&writes, &IngestRules::plain())
        .await
        .expect("batch");
    assert_eq!(results[0].as_ref().map(|s| s.updated).ok(), Some(1));
    let b_stats = results[1].as_ref().expect("b");
    assert_eq!((b_stats.updated, b_stats.linked, b_stats.new), (0, 1, 0));
    assert_eq!(
        count(&store, "SELECT count(*) FROM entry_revisions").await,
        1
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'second'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'first'"
        )
        .await,
        0
    );
}

#[test]
fn user_words_become_a_safe_fts_query() {
    assert_eq!(fts_query("don't panic", false), "\"don't\" \"panic\"");
    assert_eq!(fts_query("say \"hi\"", false), "\"say\" \"\"\"hi\"\"\"");
    assert_eq!(fts_query("a OR b", true), "a OR b");
}

/// Band rows of new entries are held in memory and written together; a process killed before
/// it wrote them loses nothing: the next open writes them from the stored fingerprints.
#[tokio::test]
async fn band_rows_a_crash_lost_are_written_at_the_next_open() {
    use crate::pipeline::text::neardup;
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, a, _) = two_feeds(&dir).await;
    let update = ok_update();
    let how = crate::store::Refingerprint {
        bytes: neardup::FINGERPRINT_BYTES,
        version: neardup::FORMAT_VERSION,
        compute: &neardup::stored_form,
        bands: &neardup::stored_band_ids,
    };
    store.refresh_fingerprints(&how).await.expect("check");
    let first = [fingerprinted("original", STORY)];
    store
        .apply_fetch(a, &update, &first, &near_rules())
        .await
        .expect("store");
    assert_eq!(
        count(&store, "SELECT count(*) FROM entry_bands").await,
        0,
        "held, not written yet"
    );
    // Killed here: no close, no flush. A new process opens the file.
    drop(store);
    let store = Store::open(&file(&dir.path().join("f.db")))
        .await
        .expect("reopen");
    store.refresh_fingerprints(&how).await.expect("check");
    assert_eq!(
        count(&store, "SELECT count(*) FROM entry_bands").await,
        i64::try_from(neardup::NUM_HASHES / neardup::BAND_ROWS).unwrap_or(0)
    );
    let copy = [fingerprinted(
        "copy",
        &STORY.replace("Thursday", "Thursday morning"),
    )];
    store
        .apply_fetch(a, &update, &copy, &near_rules())
        .await
        .expect("store copy");
    let clusters: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, cluster_id FROM entries ORDER BY id")
            .fetch_all(pool(&store))
            .await
            .expect("rows");
    assert_eq!(clusters[1].1, clusters[0].0, "the copy finds the original");
    store.close().await;
    assert_eq!(
        count_in(&dir, "SELECT count(*) FROM entry_bands").await,
        2 * i64::try_from(neardup::NUM_HASHES / neardup::BAND_ROWS).unwrap_or(0),
        "close writes what is held"
    );
}

async fn count_in(dir: &tempfile::TempDir, sql: &'static str) -> i64 {
    let store = Store::open(&file(&dir.path().join("f.db")))
        .await
        .expect("open");
    count(&store, sql).await
}

/// A start with the feed list the table holds writes nothing; any difference (a URL, a feed
/// added, removed or made active again) is written as before.
#[tokio::test]
async fn an_unchanged_feed_list_is_read_not_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&file(&dir.path().join("f.db")))
        .await
        .expect("open");
    let spec = |name: &'static str, url: &'static str| FeedSpec {
        name,
        url,
        host: String::new(),
    };
    let list = [spec("a", "https://a/feed"), spec("b", "https://b/feed")];
    let first = store.sync_feeds(&list).await.expect("sync");
    // From here on any write to the feed list fails.
    for event in ["INSERT", "UPDATE", "DELETE"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TRIGGER no_{event} BEFORE {event} ON feeds BEGIN SELECT RAISE(FAIL, 'written'); END"
        )))
        .execute(pool(&store))
        .await
        .expect("trigger");
    }
    let again = store.sync_feeds(&list).await.expect("unchanged list");
    assert_eq!(again, first);
    // Each of these differs from the table, so it must be written (and the triggers refuse).
    let changed: [&[FeedSpec<'_>]; 4] = [
        &[spec("a", "https://a/other"), spec("b", "https://b/feed")],
        &[spec("a", "https://a/feed")],
        &[
            spec("a", "https://a/feed"),
            spec("b", "https://b/feed"),
            spec("c", "https://c/feed"),
        ],
        &[spec("a", "https://a/feed"), spec("b", "https://B/feed")],
    ];
    for list in changed {
        let names: Vec<&str> = list.iter().map(|f| f.name).collect();
        assert!(
            store.sync_feeds(list).await.is_err(),
            "{names:?} must be written"
        );
    }
    for event in ["INSERT", "UPDATE", "DELETE"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER no_{event}")))
            .execute(pool(&store))
            .await
            .expect("drop trigger");
    }
    // A feed made inactive and configured again is written active.
    let one = store.sync_feeds(&list[..1]).await.expect("remove b");
    assert_eq!(one.len(), 1);
    let both = store.sync_feeds(&list).await.expect("b again");
    assert_eq!(both, first);
    assert_eq!(
        count(&store, "SELECT count(*) FROM feeds WHERE active = 1").await,
        2
    );
}

/// All feeds' states read in one query (JSON) are each feed's own state; a row a hand edit
/// made unreadable is left out (its own read reports it); bytes JSON cannot carry are read
/// row by row.
#[tokio::test]
async fn feed_states_in_one_query_are_each_feeds_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&file(&dir.path().join("f.db")))
        .await
        .expect("open");
    let names = ["a", "b", "c", "d"];
    let specs: Vec<FeedSpec<'_>> = names
        .iter()
        .map(|n| FeedSpec {
            name: n,
            url: "https://x/feed",
            host: String::new(),
        })
        .collect();
    let ids = store.sync_feeds(&specs).await.expect("sync");
    let edits = [
        "UPDATE feeds SET etag = '\"e\\\\1\"', last_modified = 'Tue, 01 Dec 2026 10:00:00 GMT',
                body_hash = 'h', redirect_count = 2, error_count = 3, interval_secs = 900,
                last_success_at = '2026-12-01T10:00:00.123456Z', next_poll_at = '2026-12-01T11:00:00Z',
                retry_until = 'not a time', hints = '{\"ttl\":60,\"note\":\"é\\n\"}',
                fetch_url = 'https://y/feed', redirect_target = 'https://z/feed',
                disabled_reason = 'gone' WHERE name = 'a'",
        "UPDATE feeds SET interval_secs = NULL, error_count = 0 WHERE name = 'b'",
        // Not a number where one must be: this feed's state does not read.
        "UPDATE feeds SET error_count = 'many' WHERE name = 'c'",
    ];
    for e in edits {
        sqlx::query(e).execute(pool(&store)).await.expect("edit");
    }
    let dump = |s: &FeedState| format!("{s:?}");
    let all = store.feed_states().await.expect("states");
    for n in ["a", "b", "d"] {
        let own = store.feed_state(ids[n]).await.expect("own state");
        assert_eq!(all.get(&ids[n]).map(dump), Some(dump(&own)), "feed {n}");
    }
    assert!(store.feed_state(ids["c"]).await.is_err());
    assert!(
        !all.contains_key(&ids["c"]),
        "an unreadable row is left out"
    );
    // Bytes in a text column: JSON cannot carry them; the rows are read one by one.
    sqlx::query("UPDATE feeds SET etag = x'00ff' WHERE name = 'd'")
        .execute(pool(&store))
        .await
        .expect("edit");
    let again = store.feed_states().await.expect("states");
    assert_eq!(again.get(&ids["a"]).map(dump), all.get(&ids["a"]).map(dump));
    assert!(!again.contains_key(&ids["c"]));
    assert_eq!(
        again.len(),
        2,
        "a and b read, c and d left out: {:?}",
        again.keys()
    );
}

#[test]
fn row_statements_carry_as_many_rows_as_asked() {
    static S: RowStatements =
        RowStatements::new("INSERT INTO t VALUES ", 2, 3, " ON CONFLICT DO NOTHING");
    let table: &[(usize, &str)] = &[
        (0, ""),
        (1, "INSERT INTO t VALUES (?, ?) ON CONFLICT DO NOTHING"),
        (
            3,
            "INSERT INTO t VALUES (?, ?), (?, ?), (?, ?) ON CONFLICT DO NOTHING",
        ),
        (4, ""),
    ];
    for &(n, want) in table {
        assert_eq!(S.text(n), want, "{n} rows");
    }
    // Made once: the same text each time.
    assert!(std::ptr::eq(S.text(3), S.text(3)));
}

/// The writer's to-do list is read from the index of pending entries in record order: no sort
/// of all pending rows (each of which would be read, text and all, to choose the first batch).
#[tokio::test]
async fn pending_records_are_chosen_from_their_index_without_a_sort() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, a, _) = two_feeds(&dir).await;
    let update = ok_update();
    let mut batch = Vec::new();
    for (i, day) in [(0, "12"), (1, "03"), (2, "25"), (3, "03")] {
        let mut e = entry(&format!("k{i}"), &format!("text number {i}"));
        e.published = Some(format!("2026-06-{day}T10:00:00Z"));
        batch.push(e);
    }
    let mut empty = entry("empty", "");
    empty.published = Some("2026-06-01T10:00:00Z".into());
    batch.push(empty);
    store
        .apply_fetch(a, &update, &batch, &near_rules())
        .await
        .expect("store");
    // The statement the store runs, planned.
    let explain = format!("EXPLAIN QUERY PLAN {PENDING_IDS}");
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(explain))
        .bind(500i64)
        .fetch_all(pool(&store))
        .await
        .expect("plan");
    let steps: Vec<&str> = plan.iter().map(|p| p.3.as_str()).collect();
    assert!(
        steps.iter().any(|s| s.contains("entries_pending")),
        "{steps:?}"
    );
    assert!(
        !steps.iter().any(|s| s.contains("TEMP B-TREE")),
        "{steps:?}"
    );
    let keys = |v: Vec<crate::model::record::PendingRecord>| -> Vec<String> {
        v.into_iter().map(|p| p.key).collect()
    };
    let pending = store.pending_records(500, false).await.expect("pending");
    assert_eq!(
        keys(pending),
        ["k1", "k3", "k0", "k2"],
        "oldest first, then by id; no empty text"
    );
    let first = store.pending_records(2, false).await.expect("pending");
    assert_eq!(keys(first), ["k1", "k3"]);
}

#[tokio::test]
async fn known_entries_are_read_from_the_covering_index_or_without_it_when_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, a, _) = two_feeds(&dir).await;
    let update = ok_update();
    let first = [entry("k0", "zero"), entry("k1", "one")];
    store
        .apply_fetch(a, &update, &first, &IngestRules::plain())
        .await
        .expect("first");
    // The statements the store runs, planned: no row of `entries` is read for them.
    for statements in [KNOWN_ROWS, KNOWN_FEED_HASHES] {
        let explain = format!("EXPLAIN QUERY PLAN {}", statements[0]);
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(explain))
            .bind(r#"["k0"]"#)
            .fetch_all(pool(&store))
            .await
            .expect("plan");
        assert!(
            plan.iter()
                .any(|p| p.3.contains("COVERING INDEX entries_key_state")),
            "{plan:?}"
        );
    }
    let hashes = store
        .known_feed_hashes(&["k0", "k1", "unknown"])
        .await
        .expect("hashes");
    let expected: HashMap<String, String> = first
        .iter()
        .map(|e| (e.key.clone(), e.feed_hash.clone()))
        .collect();
    assert_eq!(hashes, expected);
    // The index dropped by hand: the same answers, and known entries are still recognized.
    sqlx::query("DROP INDEX entries_key_state")
        .execute(pool(&store))
        .await
        .expect("drop");
    let again = store
        .known_feed_hashes(&["k0", "k1", "unknown"])
        .await
        .expect("hashes without the index");
    assert_eq!(again, expected);
    let second = [entry("k0", "zero"), entry("k1", "one, changed")];
    let stats = store
        .apply_fetch(a, &update, &second, &IngestRules::plain())
        .await
        .expect("second without the index");
    assert_eq!((stats.new, stats.updated, stats.total), (0, 1, 2));
}
