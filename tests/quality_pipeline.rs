//! Corpus quality through the real binary: full article text for teaser feeds, near-duplicate
//! clusters, language filter, updated entries, and exports in the seeds' forms.

mod common;

use std::fs;

use common::*;

fn para_html(text: &str) -> String {
    text.split("\n\n")
        .map(|p| {
            format!(
                "<p>{}</p>",
                p.trim().replace('&', "&amp;").replace('<', "&lt;")
            )
        })
        .collect()
}

fn item(guid: &str, title: &str, date: &str, html: &str) -> (String, String, String, String) {
    (guid.into(), title.into(), date.into(), html.into())
}

fn with_corpus(setup: &Setup, corpus: &str) {
    let text = fs::read_to_string(&setup.config).expect("read");
    let text = text.replace("full_text = \"never\"\n", corpus);
    fs::write(&setup.config, text).expect("write");
}

#[test]
fn a_summary_only_feed_yields_full_article_records() {
    let server = FeedServer::start();
    // The seed feed without content:encoded: descriptions are teasers ending in "[…]".
    let mut teaser_feed = String::new();
    let mut rest = SEED_FEED;
    while let Some(start) = rest.find("<content:encoded>") {
        teaser_feed.push_str(&rest[..start]);
        let end = rest[start..].find("</content:encoded>").expect("end") + start;
        rest = &rest[end + "</content:encoded>".len()..];
    }
    teaser_feed.push_str(rest);
    let page_path = "/en/kazakhstan/central-asian-prisoners-war-russia-ukraine/";
    let teaser_feed = teaser_feed.replace(
        "<link>https://novastan.org/en/kazakhstan/central-asian-prisoners-war-russia-ukraine/</link>",
        &format!("<link>{}</link>", server.url(page_path)),
    );
    server.set_xml("/feed", teaser_feed.clone());
    server.set(
        page_path,
        Route::Body {
            status: 200,
            content_type: "text/html; charset=utf-8".into(),
            body: fs::read("tests/fixtures/quality/novastan-48744-page.html").expect("page"),
        },
    );
    let setup = Setup::new(&[("novastan", server.url("/feed"))], "");
    with_corpus(&setup, "full_text = \"auto\"\n");
    let (ok, out, err) = setup.poll();
    assert!(ok, "{out}\n{err}");
    assert!(err.contains("full text from the article page"), "{err}");
    let row = &setup.query("SELECT text_source, feed_text, content_text, record_path FROM entries WHERE key = 'https://novastan.org/en/?p=48744'",
    )[0];
    assert_eq!(row[0], "page");
    assert!(
        row[1].contains("[…]"),
        "the feed's teaser is kept: {}",
        row[1]
    );
    let record = fs::read_to_string(setup.corpus().join(&row[3])).expect("record");
    let expected = fs::read_to_string("tests/fixtures/expected/48744.txt").expect("expected");
    assert_eq!(record, expected, "the record holds the whole article");
    // Entries whose page was not served keep their teaser and are still recorded.
    assert_eq!(setup.records().len(), 7);
    assert_eq!(server.count(page_path), 1);
    // A second poll of a changed document (so it is parsed again) fetches no page: the
    // entry is known.
    server.set_xml("/feed", format!("{teaser_feed}\n<!-- edited -->\n"));
    assert!(setup.poll().0);
    assert_eq!(server.count(page_path), 1);
}

#[test]
fn reworded_copies_share_a_cluster_and_distinct_articles_do_not() {
    let read =
        |n: &str| fs::read_to_string(format!("tests/fixtures/quality/{n}.txt")).expect("fixture");
    let server = FeedServer::start();
    let date = "Mon, 01 Jun 2026 10:00:00 +0000";
    server.set_xml(
        "/a",
        rss(&[
            item(
                "https://a.example/1",
                "Record wheat harvest, nowhere to sell",
                date,
                &para_html(&read("wheat-original")),
            ),
            item(
                "https://a.example/2",
                "Plant deal signed",
                date,
                &para_html(&read("nuclear-syndicated-copy")),
            ),
        ]),
    );
    server.set_xml(
        "/b",
        rss(&[
            item(
                "https://b.example/1",
                "Kazakh farmers face grain glut",
                date,
                &para_html(&read("wheat-lightly-edited")),
            ),
            item(
                "https://b.example/2",
                "What the plant means for the region",
                date,
                &para_html(&read("nuclear-other-article")),
            ),
        ]),
    );
    let setup = Setup::new(&[("a", server.url("/a"))], "");
    with_corpus(
        &setup,
        "full_text = \"never\"\nskip_near_duplicates = true\n",
    );
    assert!(setup.poll().0);
    setup.rewrite(&[("a", server.url("/a")), ("b", server.url("/b"))], "");
    with_corpus(
        &setup,
        "full_text = \"never\"\nskip_near_duplicates = true\n",
    );
    assert!(setup.poll().0);
    let cluster = |url: &str| {
        setup.query(&format!("SELECT cluster_id, coalesce(excluded, '-'), coalesce(record_path, '-') FROM entries WHERE url = '{url}'"))[0].clone()
    };
    let (w1, w2) = (
        cluster("https://a.example/1"),
        cluster("https://b.example/1"),
    );
    assert_eq!(
        w1[0], w2[0],
        "a lightly edited re-post joins its original's cluster"
    );
    assert_eq!(w2[1], "near-duplicate");
    assert_eq!(w2[2], "-", "the later copy gets no record");
    let (n1, n2) = (
        cluster("https://a.example/2"),
        cluster("https://b.example/2"),
    );
    assert_ne!(n1[0], n2[0], "two articles on one event stay apart");
    assert_eq!(n2[1], "-");
    assert_eq!(setup.records().len(), 3);
    assert_eq!(
        count(&setup, "SELECT count(*) FROM entries"),
        4,
        "the database keeps every copy"
    );
}

/// A database written by a version whose fingerprints had another format: opening it for
/// writing computes them (and their band keys) again, so a later copy still finds its
/// original.
#[test]
fn fingerprints_of_an_earlier_format_are_computed_again() {
    let read =
        |n: &str| fs::read_to_string(format!("tests/fixtures/quality/{n}.txt")).expect("fixture");
    let server = FeedServer::start();
    let date = "Mon, 01 Jun 2026 10:00:00 +0000";
    let feed =
        |guid: &str, fixture: &str| rss(&[item(guid, "Wheat", date, &para_html(&read(fixture)))]);
    server.set_xml("/a", feed("https://a.example/1", "wheat-original"));
    server.set_xml("/b", feed("https://b.example/1", "wheat-lightly-edited"));
    let corpus = "full_text = \"never\"\nskip_near_duplicates = true\n";
    let setup = Setup::new(&[("a", server.url("/a"))], "");
    with_corpus(&setup, corpus);
    assert!(setup.poll().0);
    // What the earlier format left: a 1,028-byte fingerprint and band keys of its own.
    let old_blob = match setup.backend {
        Backend::Sqlite => "zeroblob(1028)",
        Backend::Postgres => "decode(repeat('00', 1028), 'hex')",
    };
    setup.query(&format!("UPDATE entries SET fingerprint = {old_blob}"));
    // As migration 0008 leaves a database the earlier version wrote: nothing checked yet.
    setup.query("UPDATE fingerprint_check SET checked_to = 0");
    setup.query("DELETE FROM entry_bands");
    setup.query("INSERT INTO entry_bands (band, entry_id) SELECT 12345, id FROM entries");
    setup.rewrite(&[("a", server.url("/a")), ("b", server.url("/b"))], "");
    with_corpus(&setup, corpus);
    assert!(setup.poll().0);
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM entries WHERE length(fingerprint) = 517"
        ),
        2,
        "both fingerprints are of the current format"
    );
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM entry_bands WHERE band = 12345"
        ),
        0
    );
    // The next open reads only entries added since this one checked; on SQLite (one writer,
    // ids in order) the entries this version wrote are marked checked as they commit.
    let checked_through = match setup.backend {
        Backend::Sqlite => "SELECT max(id) FROM entries",
        Backend::Postgres => "SELECT min(id) FROM entries",
    };
    assert_eq!(
        count(&setup, "SELECT checked_to FROM fingerprint_check"),
        count(&setup, checked_through)
    );
    assert_eq!(
        count(&setup, "SELECT count(DISTINCT entry_id) FROM entry_bands"),
        2
    );
    let row = |url: &str| {
        setup.query(&format!(
            "SELECT cluster_id, coalesce(excluded, '-') FROM entries WHERE url = '{url}'"
        ))[0]
            .clone()
    };
    let (a, b) = (row("https://a.example/1"), row("https://b.example/1"));
    assert_eq!(
        a[0], b[0],
        "the copy joins the re-fingerprinted original's cluster"
    );
    assert_eq!(b[1], "near-duplicate");
    assert_eq!(setup.records().len(), 1);
}

/// By default text records keep no HTML in the database (the largest column, which nothing
/// of a text corpus reads); Markdown records keep it; a Markdown export without it still
/// renders every entry, from its text.
#[test]
fn html_is_kept_only_where_markdown_needs_it() {
    let server = FeedServer::start();
    server.set_xml("/feed", SEED_FEED);
    let html_rows = |setup: &Setup| {
        count(
            setup,
            "SELECT count(*) FROM entries WHERE content_html IS NOT NULL",
        )
    };
    let text = Setup::new(&[("novastan", server.url("/feed"))], "");
    assert!(text.poll().0);
    assert_eq!(html_rows(&text), 0);
    assert_eq!(text.records().len(), 7);
    let out = text.dir.path().join("md");
    let o = text
        .cmd(&[
            "export",
            "--format",
            "markdown",
            "--out",
            out.to_str().expect("path"),
        ])
        .output()
        .expect("export");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md: Vec<String> = fs::read_dir(&out)
        .expect("ls")
        .map(|e| fs::read_to_string(e.expect("e").path()).expect("read"))
        .collect();
    assert_eq!(md.len(), 7);
    let passport = md
        .iter()
        .find(|m| m.contains("# “I only needed a passport”"))
        .expect("the 48744 record");
    assert!(passport.contains("Daniel of Galicia") && !passport.contains("](https://en.wikipedia"));

    let markdown = Setup::new(&[("novastan", server.url("/feed"))], "");
    with_corpus(
        &markdown,
        "full_text = \"never\"\nrecord_format = \"markdown\"\n",
    );
    assert!(markdown.poll().0);
    assert_eq!(html_rows(&markdown), 7);
}

#[test]
fn languages_keep_other_entries_out_of_the_corpus_only() {
    let server = FeedServer::start();
    server.set_xml("/feed", SEED_FEED);
    let setup = Setup::new(&[("novastan", server.url("/feed"))], "");
    with_corpus(&setup, "full_text = \"never\"\nlanguages = [\"ru\"]\n");
    assert!(setup.poll().0);
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM entries WHERE language = 'en' AND excluded = 'language'"
        ),
        7
    );
    assert!(setup.records().is_empty());
}

#[test]
fn an_updated_entry_keeps_a_revision_and_never_a_second_record() {
    let server = FeedServer::start();
    let v1 = vec![item(
        "https://e.org/1",
        "Talks",
        "Mon, 01 Jun 2026 10:00:00 +0000",
        "<p>Delegates met on Monday and agreed on a date for the next round of talks.</p>",
    )];
    let v2 = vec![item(
        "https://e.org/1",
        "Talks",
        "Mon, 01 Jun 2026 10:00:00 +0000",
        "<p>Delegates met on Monday and agreed on a date for the next round of talks. Update: the round was moved.</p>",
    )];
    for (mode, rewritten) in [("keep", false), ("rewrite", true)] {
        server.set_xml("/feed", rss(&v1));
        let setup = Setup::new(&[("a", server.url("/feed"))], "");
        with_corpus(
            &setup,
            &format!("full_text = \"never\"\non_update = \"{mode}\"\n"),
        );
        assert!(setup.poll().0);
        let names = setup.records();
        let first = fs::read_to_string(setup.corpus().join(&names[0])).expect("record");
        server.set_xml("/feed", rss(&v2));
        let (ok, out, _) = setup.poll();
        assert!(ok, "{out}");
        assert_eq!(
            setup.records(),
            names,
            "{mode}: still one record under its name"
        );
        let now = fs::read_to_string(setup.corpus().join(&names[0])).expect("record");
        assert_eq!(now.contains("the round was moved"), rewritten, "{mode}");
        assert_eq!(now == first, !rewritten);
        assert_eq!(
            count(&setup, "SELECT count(*) FROM entry_revisions"),
            1,
            "{mode}"
        );
        assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 1);
        assert!(setup.query("SELECT content_text FROM entries")[0][0].contains("moved"));
    }
}

#[test]
fn exports_are_reproducible_and_markdown_has_the_shape_of_seed_002() {
    let server = FeedServer::start();
    server.set_xml("/feed", SEED_FEED);
    let setup = Setup::new(&[("novastan", server.url("/feed"))], "");
    // Markdown made later from the database needs the entries' HTML (its links).
    with_corpus(&setup, "full_text = \"never\"\nkeep_html = true\n");
    assert!(setup.poll().0);
    let export = |format: &str, out: &str| {
        let path = setup.dir.path().join(out);
        let o = setup
            .cmd(&[
                "export",
                "--format",
                format,
                "--out",
                path.to_str().expect("path"),
            ])
            .output()
            .expect("export");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        path
    };
    let dir_bytes = |p: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(p)
            .expect("ls")
            .map(|e| e.expect("e"))
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    fs::read(e.path()).expect("read"),
                )
            })
            .collect();
        v.sort();
        v
    };
    for format in ["text", "markdown"] {
        let a = dir_bytes(&export(format, &format!("{format}-1")));
        let b = dir_bytes(&export(format, &format!("{format}-2")));
        assert_eq!(a.len(), 7);
        assert_eq!(a, b, "{format} export is byte-identical");
    }
    let j1 = fs::read(export("jsonl", "one.jsonl")).expect("read");
    let j2 = fs::read(export("jsonl", "two.jsonl")).expect("read");
    assert_eq!(j1, j2);
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&j1).lines().next().expect("line"))
            .expect("json");
    for field in [
        "key",
        "guid",
        "text",
        "language",
        "cluster_id",
        "text_source",
        "record_path",
        "feeds",
        "content_hash",
    ] {
        assert!(first.get(field).is_some(), "jsonl lacks {field}");
    }
    // The text export equals the corpus the daemon wrote.
    let text = dir_bytes(&setup.dir.path().join("text-1"));
    let corpus: Vec<Vec<u8>> = setup
        .records()
        .iter()
        .map(|n| fs::read(setup.corpus().join(n)).expect("r"))
        .collect();
    let mut exported: Vec<Vec<u8>> = text.into_iter().map(|(_, b)| b).collect();
    let mut corpus = corpus;
    exported.sort();
    corpus.sort();
    assert_eq!(exported, corpus);

    // Seed 002's shape: two blank lines, "# Title", "By [Author](#)", the date written out,
    // the body, "Original url:" and "<url>".
    let md_dir = setup.dir.path().join("markdown-1");
    let md = dir_bytes(&md_dir)
        .into_iter()
        .map(|(_, b)| String::from_utf8(b).expect("utf8"))
        .find(|s| s.contains("# “I only needed a passport”"))
        .expect("the 48744 record");
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(
        &lines[..3],
        [
            "",
            "",
            "# “I only needed a passport” : In Ukraine, Central Asian prisoners of wars caught between loyalty and regret"
        ]
    );
    assert_eq!(lines[4], "By [Emma Collet](#)");
    assert_eq!(lines[6], "June 15, 2026");
    assert!(
        md.contains("[Daniel of Galicia](https://en.wikipedia.org/wiki/Daniel_of_Galicia)"),
        "links stay"
    );
    assert!(md.trim_end().ends_with("Original url:\n\n<https://novastan.org/en/kazakhstan/central-asian-prisoners-war-russia-ukraine/>"));
    let seed =
        fs::read_to_string("tests/fixtures/seeds/002_bb9f8c8eb76952e6.txt").expect("seed 002");
    let seed_lines: Vec<&str> = seed.lines().collect();
    assert!(
        seed_lines[2].starts_with("# ")
            && seed_lines[4].starts_with("By [")
            && seed_lines[6] == "December 28, 2022"
    );
    assert!(!md.contains("Faites un don"), "no donation line");
}

/// Damage done at the source reaches no record: text double-encoded (UTF-8 read as
/// windows-1252), markup escaped twice (Reddit's), UTF-8 served under a Latin-1 label; and an
/// entry of one word is stored but gets no record.
#[test]
fn source_damage_is_repaired_and_short_entries_stay_in_the_database() {
    let server = FeedServer::start();
    server.set_xml(
        "/garbled",
        fs::read("tests/fixtures/quality/feed-mojibake.xml").expect("fixture"),
    );
    server.set_xml(
        "/reddit",
        fs::read("tests/fixtures/quality/feed-twice-escaped.xml").expect("fixture"),
    );
    server.set(
        "/latin",
        Route::Body {
            status: 200,
            content_type: "application/rss+xml; charset=ISO-8859-1".into(),
            body: fs::read("tests/fixtures/feeds/enc-utf8-declared-iso-8859-1.xml")
                .expect("fixture"),
        },
    );
    let setup = Setup::new(
        &[
            ("garbled", server.url("/garbled")),
            ("reddit", server.url("/reddit")),
            ("latin", server.url("/latin")),
        ],
        "",
    );
    let (ok, out, err) = setup.poll();
    assert!(ok, "{out}\n{err}");
    let dir = setup.corpus();
    let texts: Vec<String> = setup
        .records()
        .iter()
        .map(|r| fs::read_to_string(dir.join(r)).expect("record"))
        .collect();
    let all = texts.concat();
    assert_eq!(texts.len(), 3 + 2 + 2, "{all}");
    for garbled in [
        "Ã", "Â", "â€", "Ð", "Ñ€", "SC_OFF", "<div", "<p>", "&lt;", "&quot;",
    ] {
        assert!(!all.contains(garbled), "{garbled:?} in\n{all}");
    }
    for right in [
        "Le dépouillement a commencé à 20 h. Les électeurs n’ont pas attendu : “enfin”, disent-ils — et la soirée fut longue.",
        "Une fête très réussie… selon les habitants, qui haven’t seen such a crowd since 1998.",
        "Национальный банк Кыргызстана сообщил о новом курсе рубля и сома на понедельник.",
        "The city says the first trains run in 2027. Is it \"realistic\" given the budget?",
        "Salaries did not follow.",
        "Une fête très réussie… selon les habitants.",
    ] {
        assert!(all.contains(right), "{right:?} missing from\n{all}");
    }
    // Titles are repaired in the database too; the one-word entry is there, without a record.
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM entries WHERE title IN \
             ('Élections à Montréal : « résultats » attendus', 'Привет из Бишкека: ёлки и щи')"
        ),
        2
    );
    assert_eq!(
        setup.query("SELECT title, excluded, CASE WHEN record_path IS NULL THEN 'none' ELSE 'some' END FROM entries WHERE excluded IS NOT NULL"),
        [["test", "short", "none"]]
    );
}
