//! One fixture per real-world failure class: plain feed-rs gets each one wrong (the test says
//! how), and `parse_feed` reads it with the right entries, titles, dates, encoding and recovery
//! flag.

mod feeds_support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use feedcorpus::pipeline::parse::{ParsedFeed, parse_feed};
use feeds_support::{FIXTURES, Fixture};

/// How plain `feed_rs::parser::parse` gets a fixture wrong.
#[derive(Debug, PartialEq)]
enum Plain {
    /// It returns an error.
    Fails,
    /// It panics.
    Panics,
    /// It reports a feed with no entries and no error.
    NoEntries,
    /// It returns fewer entries than the feed has.
    Drops,
    /// It returns every entry, but titles are wrong (mojibake, literal entities).
    Garbles,
    /// It returns every entry with the right titles, but loses their ids or dates.
    Loses,
}

struct Expect {
    file: &'static str,
    plain: Plain,
    encoding: &'static str,
    recovered: bool,
    /// Title (raw, as the feed gives it) and publication (or update) date in RFC 3339.
    entries: &'static [(&'static str, Option<&'static str>)],
}

const RU: &[(&str, Option<&str>)] = &[
    (
        "Бишкек: курс рубля вырос",
        Some("2026-06-15T09:30:00+06:00"),
    ),
    (
        "Ташкент и Алматы договорились о поездах",
        Some("2026-06-15T12:05:00+06:00"),
    ),
    (
        "Ёлки, ёжики и щи: что едят зимой",
        Some("2026-06-16T08:00:00+06:00"),
    ),
];
const RU_UNDATED: &[(&str, Option<&str>)] = &[
    ("Бишкек: курс рубля вырос", None),
    ("Ташкент и Алматы договорились о поездах", None),
    ("Ёлки, ёжики и щи: что едят зимой", None),
];
const FR: &[(&str, Option<&str>)] = &[
    (
        "Élections à Montréal : « résultats » attendus — “enfin”",
        Some("2026-06-15T18:00:00+02:00"),
    ),
    (
        "Café, crème brûlée et œufs : la fête",
        Some("2026-06-16T07:15:00+02:00"),
    ),
];
const FR_DOS: &[(&str, Option<&str>)] = &[
    (
        "Élections à Montréal : « résultats » attendus - «enfin»",
        Some("2026-06-15T18:00:00+02:00"),
    ),
    (
        "Café, crème brûlée et oeufs : la fête",
        Some("2026-06-16T07:15:00+02:00"),
    ),
];
const DE: &[(&str, Option<&str>)] = &[
    (
        "Grüße aus Köln: Straßenfest à la française",
        Some("2026-06-15T18:00:00+02:00"),
    ),
    (
        "Dänemark & Österreich: «Fußball» am Abend",
        Some("2026-06-16T21:45:00+02:00"),
    ),
];

const fn ok(
    file: &'static str,
    plain: Plain,
    encoding: &'static str,
    entries: &'static [(&'static str, Option<&'static str>)],
) -> Expect {
    Expect {
        file,
        plain,
        encoding,
        recovered: false,
        entries,
    }
}

const fn broken(
    file: &'static str,
    plain: Plain,
    entries: &'static [(&'static str, Option<&'static str>)],
) -> Expect {
    Expect {
        file,
        plain,
        encoding: "UTF-8",
        recovered: true,
        entries,
    }
}

const EXPECT: &[Expect] = &[
    ok("version-missing.xml", Plain::Fails, "UTF-8", RU),
    ok("version-0.9.xml", Plain::Fails, "UTF-8", RU),
    ok("version-0.93.xml", Plain::Fails, "UTF-8", RU),
    ok("version-0.94.xml", Plain::Fails, "UTF-8", RU),
    ok("version-2.00.xml", Plain::Fails, "UTF-8", RU),
    ok("version-2.01.xml", Plain::Fails, "UTF-8", RU),
    ok("version-2.1.xml", Plain::Fails, "UTF-8", RU),
    ok("atom03.xml", Plain::NoEntries, "UTF-8", RU),
    ok("rss090.xml", Plain::NoEntries, "UTF-8", RU_UNDATED),
    ok("rdf-without-namespace.xml", Plain::NoEntries, "UTF-8", RU),
    ok("rss2-userland-namespace.xml", Plain::NoEntries, "UTF-8", RU),
    ok("rss1-items-without-link.xml", Plain::Drops, "UTF-8", RU),
    ok(
        "enc-http-charset-windows-1251.xml",
        Plain::Fails,
        "windows-1251",
        RU,
    ),
    ok("enc-http-charset-koi8-r.xml", Plain::Fails, "KOI8-R", RU),
    ok(
        "enc-bom-utf8-wrong-declaration.xml",
        Plain::Garbles,
        "UTF-8",
        RU,
    ),
    ok(
        "enc-declared-utf8-is-windows-1251.xml",
        Plain::Fails,
        "windows-1251",
        RU,
    ),
    ok(
        "enc-undeclared-windows-1251.xml",
        Plain::Fails,
        "windows-1251",
        RU,
    ),
    // Detection names KOI8-U, the superset of KOI8-R that also has the Ukrainian letters.
    ok("enc-undeclared-koi8-r.xml", Plain::Fails, "KOI8-U", RU),
    ok(
        "enc-undeclared-windows-1252.xml",
        Plain::Fails,
        "windows-1252",
        FR,
    ),
    // ISO-8859-1 is read as its superset windows-1252, as browsers do.
    ok(
        "enc-undeclared-iso-8859-1.xml",
        Plain::Fails,
        "windows-1252",
        DE,
    ),
    ok("enc-utf16be-bom.xml", Plain::Panics, "UTF-16BE", RU),
    ok("enc-utf32le-bom.xml", Plain::Fails, "UTF-32LE", RU),
    ok("enc-dos-cp866-http-charset.xml", Plain::Fails, "IBM866", RU),
    ok("enc-dos-cp850.xml", Plain::Fails, "IBM850", FR_DOS),
    broken(
        "markup-html-entities.xml",
        Plain::Garbles,
        &[
            (
                "«Манас»\u{a0}— эпос на\u{a0}сцене",
                Some("2026-06-15T09:30:00+06:00"),
            ),
            (
                "Café & thé\u{a0}– Бишкек",
                Some("2026-06-15T12:00:00+06:00"),
            ),
        ],
    ),
    broken(
        "markup-bare-ampersand.xml",
        Plain::Fails,
        &[
            (
                "Procter & Gamble открывает склад",
                Some("2026-06-15T09:30:00+06:00"),
            ),
            ("Рынок R&D растёт", Some("2026-06-16T10:00:00+06:00")),
        ],
    ),
    broken(
        "markup-unclosed-void-tags.xml",
        Plain::Fails,
        &[
            ("Фото дня", Some("2026-06-15T09:30:00+06:00")),
            ("Линия<br>разрыва", Some("2026-06-15T11:00:00+06:00")),
        ],
    ),
    broken(
        "markup-mismatched-tags.xml",
        Plain::Fails,
        &[
            (
                "Жирный <b><i>заголовок</b></i>",
                Some("2026-06-15T09:30:00+06:00"),
            ),
            ("Второй материал", Some("2026-06-15T10:30:00+06:00")),
            ("Третий материал", Some("2026-06-15T11:30:00+06:00")),
        ],
    ),
    broken("markup-truncated.xml", Plain::Fails, RU),
    ok(
        "rdf-bare-root-iso-8859-1.xml",
        Plain::Fails,
        "windows-1252",
        DE,
    ),
    ok("rss1-about-is-the-id.xml", Plain::Loses, "UTF-8", RU),
    ok("rss2-undeclared-dc.xml", Plain::Loses, "UTF-8", RU),
    broken("rss2-itunes-unclosed-category.xml", Plain::Fails, RU),
    ok("atom03-base64.xml", Plain::NoEntries, "UTF-8", RU),
    ok("json-feed-loose.json", Plain::Fails, "UTF-8", RU),
    ok(
        "enc-utf8-declared-iso-8859-1.xml",
        Plain::Garbles,
        "UTF-8",
        FR,
    ),
    ok(
        "markup-atom-unknown-type.xml",
        Plain::Fails,
        "UTF-8",
        &[
            (
                "Бишкек: курс рубля вырос",
                Some("2026-06-15T09:30:00+06:00"),
            ),
            ("Ташкент и <b>Алматы</b>", Some("2026-06-15T12:05:00+06:00")),
        ],
    ),
];

fn fixture(file: &str) -> &'static Fixture {
    FIXTURES
        .iter()
        .find(|f| f.file == file)
        .unwrap_or_else(|| panic!("{file} is not in the fixture table"))
}

fn titles_and_dates(feed: &ParsedFeed) -> Vec<(String, Option<String>)> {
    feed.entries
        .iter()
        .map(|e| {
            (
                e.title.clone().unwrap_or_default(),
                e.published.or(e.updated).map(|d| d.to_rfc3339()),
            )
        })
        .collect()
}

fn expected(e: &Expect) -> Vec<(String, Option<String>)> {
    e.entries
        .iter()
        .map(|(t, d)| (t.to_string(), d.map(|d| d.to_string())))
        .collect()
}

/// What plain feed-rs makes of the bytes, compared with the truth.
fn plain_outcome(bytes: &[u8], e: &Expect) -> Option<Plain> {
    let result = catch_unwind(AssertUnwindSafe(|| feed_rs::parser::parse(bytes)));
    let feed = match result {
        Err(_) => return Some(Plain::Panics),
        Ok(Err(_)) => return Some(Plain::Fails),
        Ok(Ok(feed)) => feed,
    };
    if feed.entries.is_empty() {
        return Some(Plain::NoEntries);
    }
    if feed.entries.len() < e.entries.len() {
        return Some(Plain::Drops);
    }
    let titles: Vec<String> = feed
        .entries
        .iter()
        .map(|x| {
            x.title
                .as_ref()
                .map(|t| t.content.clone())
                .unwrap_or_default()
        })
        .collect();
    let want: Vec<String> = e.entries.iter().map(|(t, _)| t.to_string()).collect();
    if titles != want {
        return Some(Plain::Garbles);
    }
    let dates: Vec<Option<i64>> = feed
        .entries
        .iter()
        .map(|x| x.published.or(x.updated).map(|d| d.timestamp()))
        .collect();
    let want_dates: Vec<Option<i64>> = e
        .entries
        .iter()
        .map(|(_, d)| {
            d.and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                .map(|d| d.timestamp())
        })
        .collect();
    let ids_lost = IDS.iter().any(|(file, ids)| {
        *file == e.file
            && feed
                .entries
                .iter()
                .map(|x| x.id.as_str())
                .ne(ids.iter().copied())
    });
    (dates != want_dates || ids_lost).then_some(Plain::Loses)
}

/// Fixtures whose entries carry an id the parse must keep (RSS 1.0's `rdf:about`).
const IDS: &[(&str, &[&str])] = &[(
    "rss1-about-is-the-id.xml",
    &["urn:vesti:101", "urn:vesti:102", "urn:vesti:103"],
)];

#[test]
fn every_fixture_has_an_expectation() {
    feeds_support::assert_table_complete();
    let mut files: Vec<&str> = EXPECT.iter().map(|e| e.file).collect();
    files.sort();
    let mut listed: Vec<&str> = FIXTURES.iter().map(|f| f.file).collect();
    listed.sort();
    assert_eq!(files, listed);
}

#[test]
fn plain_feed_rs_gets_every_fixture_wrong() {
    // Silence the panic message of the one fixture that makes feed-rs panic.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcomes: Vec<(&str, Option<Plain>)> = EXPECT
        .iter()
        .map(|e| (e.file, plain_outcome(&fixture(e.file).bytes(), e)))
        .collect();
    std::panic::set_hook(hook);
    for (e, (file, outcome)) in EXPECT.iter().zip(outcomes) {
        assert_eq!(outcome.as_ref(), Some(&e.plain), "{file}");
    }
}

#[test]
fn parse_feed_reads_every_fixture() {
    for e in EXPECT {
        let fx = fixture(e.file);
        let feed = parse_feed(&fx.bytes(), fx.content_type, fx.feed_url)
            .unwrap_or_else(|err| panic!("{}: {err}", e.file));
        assert_eq!(titles_and_dates(&feed), expected(e), "{}", e.file);
        assert_eq!(feed.encoding, e.encoding, "{}", e.file);
        assert_eq!(feed.recovered, e.recovered, "{}", e.file);
        assert!(
            feed.entries.iter().all(|x| x.url.is_some()),
            "{}: every entry has its link",
            e.file
        );
    }
}

#[test]
fn feed_titles_are_decoded_too() {
    for file in [
        "enc-undeclared-koi8-r.xml",
        "enc-utf16be-bom.xml",
        "atom03.xml",
        "rss090.xml",
    ] {
        let fx = fixture(file);
        let feed = parse_feed(&fx.bytes(), fx.content_type, fx.feed_url).expect(file);
        assert_eq!(feed.title.as_deref(), Some("Вести Кыргызстана"), "{file}");
    }
}

#[test]
fn old_formats_keep_their_structure() {
    let fx = fixture("atom03.xml");
    let feed = parse_feed(&fx.bytes(), None, fx.feed_url).expect("atom 0.3");
    assert_eq!(feed.format, "atom");
    let first = &feed.entries[0];
    assert_eq!(first.guid.as_deref(), Some("tag:vesti.example.kg,2026:101"));
    assert_eq!(
        first.url.as_deref(),
        Some("https://vesti.example.kg/news/101")
    );
    assert_eq!(first.author.as_deref(), Some("Редакция"));
    let body = first.body.as_ref().expect("escaped content");
    assert!(
        body.is_html && body.text.contains("<p>Национальный банк"),
        "{body:?}"
    );

    // RSS 1.0 items without <link> are addressed by their rdf:about.
    let fx = fixture("rss1-items-without-link.xml");
    let feed = parse_feed(&fx.bytes(), None, fx.feed_url).expect("rss 1.0");
    let urls: Vec<_> = feed.entries.iter().map(|e| e.url.as_deref()).collect();
    assert_eq!(
        urls,
        [
            Some("https://vesti.example.kg/news/101"),
            Some("https://vesti.example.kg/news/102"),
            Some("https://vesti.example.kg/news/103"),
        ]
    );
}

#[test]
fn what_feed_rs_misses_is_read() {
    let read = |file: &str| {
        let fx = fixture(file);
        parse_feed(&fx.bytes(), fx.content_type, fx.feed_url).expect(file)
    };
    // RSS 1.0: the item's rdf:about is its id; the link stays its address and, as before,
    // its dedup key (entries stored by earlier versions keep theirs).
    let feed = read("rss1-about-is-the-id.xml");
    let ids: Vec<_> = feed
        .entries
        .iter()
        .map(|e| (e.guid.as_deref(), e.key.as_str(), e.url.as_deref()))
        .collect();
    let link = "https://vesti.example.kg/news/101?utm_source=rss";
    assert_eq!(ids[0], (Some("urn:vesti:101"), link, Some(link)));
    assert_eq!(ids.len(), 3);
    // An undeclared dc: prefix still names Dublin Core.
    let feed = read("rss2-undeclared-dc.xml");
    assert!(
        feed.entries
            .iter()
            .all(|e| e.author.as_deref() == Some("Редакция")),
        "{:?}",
        feed.entries
    );
    // Atom 0.3 Base64 content is decoded.
    let feed = read("atom03-base64.xml");
    let body = feed.entries[0].body.as_ref().expect("content");
    assert!(body.is_html, "{body:?}");
    assert_eq!(
        body.text.trim(),
        "<p>Национальный банк сообщил о новом курсе.</p>"
    );
    // The channel's properties are read too, not only its items.
    let feed = read("rss2-itunes-unclosed-category.xml");
    assert_eq!(feed.title.as_deref(), Some("Вести Кыргызстана"));
    let feed = read("rdf-bare-root-iso-8859-1.xml");
    assert_eq!(feed.title.as_deref(), Some("Die Zeitung"));
    assert_eq!(feed.format, "rss1");
}

#[test]
fn recovered_bodies_keep_their_text() {
    let fx = fixture("markup-unclosed-void-tags.xml");
    let feed = parse_feed(&fx.bytes(), None, fx.feed_url).expect("parses");
    let n = feedcorpus::pipeline::text::normalize::normalize_entry(&feed.entries[0]);
    assert_eq!(n.paragraphs, ["Фото дня", "Первая строка", "вторая строка"]);
    let fx = fixture("markup-truncated.xml");
    let feed = parse_feed(&fx.bytes(), None, fx.feed_url).expect("parses");
    let n = feedcorpus::pipeline::text::normalize::normalize_entry(&feed.entries[2]);
    assert_eq!(n.text(), "Ёлки, ёжики и щи: что едят зимой\n\nЩи, пель");
}

type Breaker = Box<dyn Fn(&str) -> String>;

/// The same document, clean or with defects that need the recovery pass, gives the same
/// entries under the same dedup keys.
#[test]
fn keys_are_the_same_clean_or_recovered() {
    let fx = fixture("version-2.00.xml");
    let clean_text = String::from_utf8(fx.bytes()).expect("utf-8 fixture");
    let clean = parse_feed(clean_text.as_bytes(), None, fx.feed_url).expect("clean");
    assert!(!clean.recovered);
    let defects: [(&str, Breaker); 5] = [
        (
            "bare ampersand",
            Box::new(|s: &str| s.replace("<description>Новости", "<description>A & B")),
        ),
        (
            "undeclared entity",
            Box::new(|s: &str| s.replace("Вести Кыргызстана", "Вести&nbsp;Кыргызстана")),
        ),
        (
            "unclosed void tag in a sibling",
            Box::new(|s: &str| s.replace("<description>Новости", "<description>Новости<br>")),
        ),
        (
            "truncated after the last item",
            Box::new(|s: &str| s[..s.rfind("</channel>").expect("end")].to_string()),
        ),
        (
            "stray end tag",
            Box::new(|s: &str| s.replacen("</item>", "</item></guid>", 1)),
        ),
    ];
    for (what, break_it) in defects {
        let broken = break_it(&clean_text);
        assert_ne!(broken, clean_text, "{what}");
        let feed = parse_feed(broken.as_bytes(), None, fx.feed_url).expect(what);
        assert!(feed.recovered, "{what}");
        assert_eq!(feed.entries, clean.entries, "{what}");
    }
}

#[test]
fn encodings_and_recovery_combine() {
    // windows-1251 without a declaration, with undeclared entities and a truncated end.
    let fx = fixture("version-2.00.xml");
    let text = String::from_utf8(fx.bytes()).expect("utf-8 fixture");
    let text = text.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", "");
    let text = text.replace("Вести Кыргызстана", "Вести&nbsp;&laquo;Кыргызстана&raquo;");
    let text = &text[..text.rfind("</item>").expect("items")];
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(text);
    let feed = parse_feed(&bytes, None, fx.feed_url).expect("parses");
    assert_eq!(feed.encoding, "windows-1251");
    assert!(feed.recovered);
    assert_eq!(feed.title.as_deref(), Some("Вести\u{a0}«Кыргызстана»"));
    assert_eq!(feed.entries.len(), 3);
    assert_eq!(
        feed.entries[2].title.as_deref(),
        Some("Ёлки, ёжики и щи: что едят зимой")
    );
}

#[test]
fn not_a_feed_is_still_an_error() {
    for (bytes, ct) in [
        (&b"<html><body><p>Not found</p></body></html>"[..], None),
        (b"", None),
        (b"\xff\xfe", None),
        (
            b"plain text & nothing else",
            Some("text/plain; charset=utf-8"),
        ),
        (b"<", None),
    ] {
        assert!(
            parse_feed(bytes, ct, "https://e.org/feed").is_err(),
            "{bytes:?}"
        );
    }
}

#[test]
fn one_entry_feed_rs_rejects_does_not_cost_the_others() {
    // Atom content with `src` must be empty; feed-rs fails the whole feed on the second entry.
    let doc = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Вести</title><id>tag:v,2026:feed</id><updated>2026-06-16T08:00:00+06:00</updated>
  <entry><id>tag:v,2026:1</id><title>Первая</title><updated>2026-06-15T09:30:00+06:00</updated></entry>
  <entry><id>tag:v,2026:2</id><title>Вторая</title><updated>2026-06-15T10:30:00+06:00</updated>
    <content type="video/mp4" src="https://v.example/2.mp4">not empty</content></entry>
  <entry><id>tag:v,2026:3</id><title>Третья</title><updated>2026-06-15T11:30:00+06:00</updated></entry>
</feed>"#;
    assert!(feed_rs::parser::parse(doc.as_bytes()).is_err());
    let feed = parse_feed(doc.as_bytes(), None, "https://v.example/feed").expect("salvaged");
    assert!(feed.recovered);
    assert_eq!(feed.title.as_deref(), Some("Вести"));
    let ids: Vec<_> = feed.entries.iter().map(|e| e.guid.as_deref()).collect();
    assert_eq!(ids, [Some("tag:v,2026:1"), Some("tag:v,2026:3")]);
}

#[test]
fn contacts_with_unicode_around_the_address_do_not_crash() {
    // feed-rs slices one byte around the address; here those bytes are inside « and ».
    let rss = "<rss version=\"2.0\"><channel><title>t</title><item><guid>https://v.kg/1</guid>\
               <title>Новость</title><author>Редакция «news@vesti.kg»</author></item></channel></rss>";
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let plain = catch_unwind(AssertUnwindSafe(|| feed_rs::parser::parse(rss.as_bytes())));
    std::panic::set_hook(hook);
    assert!(plain.is_err(), "plain feed-rs panics on this author");
    let feed = parse_feed(rss.as_bytes(), None, "https://v.kg/feed").expect("parses");
    assert_eq!(feed.entries.len(), 1);
    assert!(!feed.recovered);

    let json = r#"{"version": "https://jsonfeed.org/version/1.1", "title": "t",
        "items": [{"id": "1", "title": "Новость", "authors": [{"name": "Редакция «news@vesti.kg»"}]}]}"#;
    let feed = parse_feed(json.as_bytes(), None, "https://v.kg/feed").expect("parses json");
    assert_eq!(feed.format, "json");
    assert_eq!(feed.entries.len(), 1);
}
