//! Article extraction on 22 saved pages (tests/fixtures/articles/: WordPress, news sites, a
//! newsletter platform, Ghost, Drupal, AMP, a table layout; English, Russian, French, Uzbek,
//! Kazakh) against hand-checked texts. `cargo run --example extract_eval` prints the table.

use std::fs;

use feedcorpus::pipeline::text::boilerplate::strip_boilerplate;
use feedcorpus::pipeline::text::extract::{Article, extract_article, score::word_prf};

const DIR: &str = "tests/fixtures/articles";

struct Page {
    name: String,
    html: String,
    expected: String,
    meta: serde_json::Value,
}

fn pages() -> Vec<Page> {
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(format!("{DIR}/meta.json")).expect("meta"))
            .expect("json");
    let mut out: Vec<Page> = meta
        .as_object()
        .expect("object")
        .iter()
        .map(|(name, m)| Page {
            name: name.clone(),
            html: fs::read_to_string(format!("{DIR}/{name}.html")).expect("html"),
            expected: fs::read_to_string(format!("{DIR}/{name}.txt")).expect("txt"),
            meta: m.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(out.len() >= 20, "{} pages", out.len());
    out
}

/// What a record gets: the extracted body after the boilerplate rules.
fn record_body(a: &Article) -> Vec<String> {
    let mut p = vec![a.title.clone().unwrap_or_default()];
    p.extend(a.paragraphs.iter().cloned());
    strip_boilerplate(&mut p);
    p.remove(0);
    p
}

#[test]
fn pages_extract_to_their_article_text() {
    let mut sum_f1 = 0.0;
    let mut failures = Vec::new();
    let pages = pages();
    for page in &pages {
        let a = extract_article(&page.html, Some("https://example.org/article")).expect(&page.name);
        let s = word_prf(&page.expected, &record_body(&a).join("\n\n"));
        println!(
            "{:<26} P {:.3} R {:.3} F1 {:.3}",
            page.name, s.precision, s.recall, s.f1
        );
        sum_f1 += s.f1;
        // The article is all there, and little else: the page with the table layout keeps some
        // of its sidebar, every other page stays above 0.9.
        let min_f1 = if page.name.starts_with("16-") {
            0.8
        } else {
            0.9
        };
        if s.recall < 0.95 || s.f1 < min_f1 {
            failures.push(format!(
                "{}: P {:.3} R {:.3} F1 {:.3}",
                page.name, s.precision, s.recall, s.f1
            ));
        }
    }
    let mean = sum_f1 / pages.len() as f64;
    println!("mean F1 {mean:.3}");
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(mean >= 0.96, "mean F1 {mean:.3}");
}

/// Cookie banners, comments, sidebars, related links, newsletter and share boxes: none of their
/// text reaches the record.
#[test]
fn chrome_never_reaches_the_record() {
    let chrome: &[(&str, &[&str])] = &[
        (
            "01-",
            &[
                "To provide the best experiences",
                "I am from Tamga",
                "Almaty metro",
                "Gold and glaciers",
                "Faites un don",
                "follow us on",
                "Share this",
            ],
        ),
        (
            "02-",
            &[
                "У нас в Намангане",
                "Читайте также",
                "Цены на муку",
                "Подписывайтесь",
            ],
        ),
        (
            "03-",
            &[
                "agree to cookies",
                "Floods in southern Russia",
                "Related topics",
                "More on this story",
            ],
        ),
        (
            "04-",
            &[
                "Manage cookies",
                "small favour",
                "Most viewed",
                "Sign up to Global Dispatch",
                "Boycott of Uzbek cotton lifted",
            ],
        ),
        (
            "05-",
            &["cookie", "Поддержите", "Самое читаемое", "Читайте также"],
        ),
        (
            "06-",
            &[
                "Нацбанк Кыргызстана",
                "Реклама",
                "Если вы заметили ошибку",
                "Подписывайтесь",
                "троллейбусы",
            ],
        ),
        ("07-", &["Mavzuga oid", "obuna", "Samarqandda"]),
        ("08-", &["cookie", "Оқи отырыңыз", "Соңғы жаңалықтар"]),
        (
            "09-",
            &["reader-supported", "Great piece", "Ready for more"],
        ),
        (
            "12-",
            &[
                "We use cookies",
                "Ranger diaries",
                "Stay in touch",
                "Media contact",
            ],
        ),
        (
            "13-",
            &[
                "Vos choix concernant les cookies",
                "Lire aussi",
                "Il vous reste",
                "Les plus lus",
            ],
        ),
        (
            "14-",
            &[
                "Faites un don",
                "suivez-nous",
                "Articles similaires",
                "Journaliste indépendante",
            ],
        ),
        (
            "15-",
            &["I respectfully disagree", "Aruzhan", "Popular this week"],
        ),
        (
            "17-",
            &["We use cookies", "Advertisement", "Batken rebuilds"],
        ),
        (
            "19-",
            &[
                "Support independent journalism",
                "About the author",
                "Yerevan rents",
            ],
        ),
        ("20-", &["Accept all", "Read Next", "Sponsored"]),
        (
            "21-",
            &[
                "148 partners",
                "Your privacy matters",
                "Follow Almaty Today",
            ],
        ),
        ("22-", &["существует на деньги читателей", "Ещё по теме"]),
    ];
    for page in pages() {
        let a = extract_article(&page.html, None).expect(&page.name);
        let body = record_body(&a).join("\n");
        for (prefix, lines) in chrome {
            if page.name.starts_with(prefix) {
                for l in *lines {
                    assert!(!body.contains(l), "{}: {l:?} in\n{body}", page.name);
                }
            }
        }
    }
}

/// Titles, bylines and dates come from the page's metadata.
#[test]
fn metadata_is_read_from_the_page() {
    let (mut titles, mut authors, mut dates, mut n_authors, mut n_dates) = (0, 0, 0, 0, 0);
    let pages = pages();
    for page in &pages {
        let a = extract_article(&page.html, None).expect(&page.name);
        let m = &page.meta;
        if a.title.as_deref() == m["title"].as_str() {
            titles += 1;
        } else {
            println!("{}: title {:?}", page.name, a.title);
        }
        if let Some(want) = m["author"].as_str() {
            n_authors += 1;
            if a.author.as_deref() == Some(want) {
                authors += 1;
            } else {
                println!("{}: author {:?}", page.name, a.author);
            }
        }
        if let Some(want) = m["published"].as_str() {
            n_dates += 1;
            if a.published
                .map(|d| d.format("%Y-%m-%d").to_string())
                .as_deref()
                == Some(want)
            {
                dates += 1;
            } else {
                println!("{}: published {:?}", page.name, a.published);
            }
        }
    }
    println!(
        "titles {titles}/{}, authors {authors}/{n_authors}, dates {dates}/{n_dates}",
        pages.len()
    );
    assert!(
        titles * 10 >= pages.len() * 9,
        "titles {titles}/{}",
        pages.len()
    );
    assert!(
        authors * 10 >= n_authors * 8,
        "authors {authors}/{n_authors}"
    );
    assert!(dates * 10 >= n_dates * 9, "dates {dates}/{n_dates}");
}

/// The seed feed's descriptions are WordPress teasers ("… […]"), its `content:encoded` is not;
/// the article page built around that content (the site's WordPress chrome) extracts to the same
/// paragraphs the full feed content gives, so a teaser-only feed would yield the full record.
#[test]
fn seed_teasers_are_recognised_and_the_page_gives_the_full_text() {
    use feedcorpus::pipeline::text::extract::{is_teaser, prefer_extracted};
    use feedcorpus::pipeline::text::normalize::{html_paragraphs, normalize_entry};

    let xml = fs::read_to_string("tests/fixtures/novastan-war-in-ukraine.xml").expect("feed");
    let descriptions: Vec<&str> = xml
        .split("<description><![CDATA[")
        .skip(1)
        .filter_map(|s| s.split("]]></description>").next())
        .collect();
    assert_eq!(descriptions.len(), 7);
    for d in &descriptions {
        let mut p = html_paragraphs(d);
        strip_boilerplate(&mut p);
        assert!(is_teaser(&p), "{p:?}");
    }
    let feed = feedcorpus::pipeline::parse::parse_feed(
        xml.as_bytes(),
        None,
        "https://novastan.org/en/tag/war-in-ukraine/feed/",
    )
    .expect("feed");
    for e in &feed.entries {
        assert!(!is_teaser(&normalize_entry(e).paragraphs), "{}", e.key);
    }

    let entry = &feed.entries[0];
    let mut from_feed = normalize_entry(entry).paragraphs;
    strip_boilerplate(&mut from_feed);
    let mut teaser = html_paragraphs(descriptions[0]);
    strip_boilerplate(&mut teaser);

    let html = fs::read_to_string("tests/fixtures/quality/novastan-48744-page.html").expect("page");
    let a = extract_article(&html, entry.url.as_deref()).expect("article");
    assert_eq!(a.title, from_feed.first().cloned());
    assert_eq!(a.author.as_deref(), Some("Emma Collet"));
    assert_eq!(a.published, entry.published);
    let mut from_page = vec![a.title.clone().unwrap_or_default()];
    from_page.extend(a.paragraphs);
    strip_boilerplate(&mut from_page);
    assert_eq!(from_page, from_feed);
    assert!(prefer_extracted(&teaser, &from_page));
}
