//! A loopback feed farm: N synthetic feeds on 127.0.0.1, deterministic from a seed.
//!
//! Even feed numbers are WordPress-style RSS 2.0 (`content:encoded` in CDATA, `dc:creator`,
//! categories, the "appeared first on" trailer), odd ones Atom 1.0 with escaped HTML content.
//! Every item carries 3–6 KB of paragraph HTML. Item `n` of feed `i` is a pure function of
//! (seed, i, n), so the same feed version is byte-identical across runs and machines.
//!
//! Routes:
//! - `GET /feed/{i}`: the feed, with a strong `ETag` and `Last-Modified`; `If-None-Match` /
//!   `If-Modified-Since` are answered with 304. With `--gzip`, clients that accept gzip get a
//!   pre-compressed body (its own ETag).
//! - `POST /_churn?k=K`: every feed gets K new items at the top; the oldest fall off, so each feed
//!   keeps `--items` items. Answers once the new versions are being served.
//! - `POST /_reset`: back to the first version of every feed.
//! - `GET /_stats`: counters of responses served since start, one `key value` per line.
//! - `GET /_urls`: the feed URLs, one per line.
//!
//! Bodies are rendered once per version and served from memory, so the farm costs little more
//! than the sockets. It binds 127.0.0.1 only, prints its base URL on stdout (and writes it to
//! `--addr-file`), and stops on SIGTERM or SIGINT.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "feedfarm",
    about = "Serves N synthetic RSS/Atom feeds on 127.0.0.1"
)]
struct Args {
    /// Number of feeds
    #[arg(long, default_value_t = 200)]
    feeds: usize,
    /// Items per feed
    #[arg(long, default_value_t = 50)]
    items: usize,
    /// Seed of the synthetic content
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Port on 127.0.0.1 (0: any free port)
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Also write the base URL to this file (written whole, then renamed into place)
    #[arg(long)]
    addr_file: Option<PathBuf>,
    /// Serve gzip-compressed bodies to clients that accept gzip
    #[arg(long)]
    gzip: bool,
    /// Server worker threads (0: one per CPU)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Percent of items that are syndicated news: half of them near-copies of a wire story
    /// (its paragraphs with one of their own), half articles of their own that quote two of
    /// its paragraphs. Stories come from a pool shared by all feeds (one per 20 items).
    #[arg(long, default_value_t = 0)]
    syndicated: u64,
    /// Items of one or two short paragraphs (300–800 bytes of HTML) instead of 3–6 KB
    /// articles: for single feeds of many thousands of items.
    #[arg(long)]
    small_items: bool,
}

/// Where the synthetic timeline starts: 2024-01-01T00:00:00Z.
const EPOCH_2024: u64 = 1_704_067_200;
/// Items of a feed are this far apart (plus a jitter smaller than it), so dates rise with `n`.
const ITEM_SPACING_S: u64 = 4 * 3600;
const MAX_FEEDS: usize = 100_000;
const MAX_ITEMS: usize = 50_000;
const MAX_CHURN: usize = 1_000;

// ---- deterministic content ----

/// SplitMix64: tiny, fast, and good enough for text that only has to look varied.
struct Rng(u64);

impl Rng {
    /// Each (seed, feed, item) gets its own stream. The start state is hashed, not merely
    /// offset: SplitMix64 walks its state in fixed steps, so states that differ by a multiple
    /// of the step would replay each other's text a few words apart.
    fn new(seed: u64, feed: u64, item: u64) -> Rng {
        let mix = |x: u64| Rng(x).next();
        let mut r = Rng(mix(seed ^ mix(feed ^ mix(item ^ 0x6661_726d))));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..hi` (`hi > lo`).
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo) as u64) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.range(0, from.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[rustfmt::skip]
const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "on", "with", "as", "was", "by",
    "at", "from", "it", "an", "be", "this", "which", "or", "are", "have", "not", "has", "but",
    "their", "were", "after", "its", "more", "new", "about", "than", "into", "over", "between",
    "government", "ministry", "border", "election", "parliament", "region", "capital", "river",
    "market", "currency", "harvest", "railway", "pipeline", "students", "teachers", "journalists",
    "court", "decision", "reform", "budget", "water", "energy", "prices", "villages", "mountains",
    "festival", "museum", "language", "history", "archive", "interview", "report", "survey",
    "agreement", "delegation", "summit", "migrants", "workers", "families", "winter", "spring",
    "road", "bridge", "airport", "hospital", "school", "university", "library", "newspaper",
    "Almaty", "Bishkek", "Tashkent", "Dushanbe", "Ashgabat", "Tbilisi", "Kraków", "Zürich",
    "São Paulo", "Ålesund", "Reykjavík", "Łódź", "café", "naïve", "résumé", "coöperation",
    "announced", "reported", "confirmed", "rejected", "expanded", "delayed", "promised", "visited",
    "described", "remained", "increased", "declined", "opened", "closed", "signed", "published",
    "quickly", "slowly", "officially", "reportedly", "finally", "recently", "already", "again",
    "local", "national", "regional", "foreign", "economic", "cultural", "historic", "rural",
    "urban", "independent", "public", "private", "annual", "seasonal", "significant", "modest",
    "€40 million", "12%", "1,500", "twenty", "three", "dozens", "“reform”", "don’t", "it’s",
];

#[rustfmt::skip]
const TAGS: &[&str] = &[
    "Politics", "Economy", "Society", "Culture", "Environment", "Energy", "Transport", "Education",
    "Health", "Migration", "Media", "History", "Sport", "Technology", "Agriculture", "Water",
    "Border", "Elections", "Human rights", "Religion", "Tourism", "Language", "Music", "Film",
    "Literature", "Urbanism", "Diplomacy", "Security", "Trade", "Science",
];

#[rustfmt::skip]
const AUTHORS: &[&str] = &[
    "Emma Collet", "Aigerim Nurlanovna", "Timur Karimov", "Léa Dubois", "Jörg Schäfer",
    "Nargiza Yusupova", "Paul Martin", "Dilnoza Rakhimova", "Ivan Petrenko", "Zoë Van Dyke",
    "Bakhtiyor Aliyev", "Marta Kowalczyk", "Sanjar Tursunov", "Chloé Bernard", "Ruslan Omarov",
    "Ainura Bekova", "Tomás Núñez", "Gulnara Ismailova", "Oliver Hughes", "Farrukh Saidov",
    "Kamila Abdullaeva", "Søren Lund", "Yerlan Seitkali", "Mariam Gelashvili",
];

fn capitalize(s: &str, out: &mut String) {
    let mut chars = s.chars();
    if let Some(c) = chars.next() {
        out.extend(c.to_uppercase());
        out.push_str(chars.as_str());
    }
}

/// One sentence of plain words, with inline markup sprinkled in when `markup` is set.
fn sentence(rng: &mut Rng, feed: usize, markup: bool, out: &mut String) {
    let len = rng.range(6, 19);
    for w in 0..len {
        let word = rng.pick(WORDS);
        if w == 0 {
            capitalize(word, out);
            continue;
        }
        if w == len / 2 && rng.chance(30) {
            out.push(',');
        }
        if markup && rng.chance(3) {
            out.push_str("&nbsp;");
        } else {
            out.push(' ');
        }
        if markup && rng.chance(4) {
            let slug: String = word
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_lowercase();
            out.push_str(&format!(
                "<a href=\"https://farm.example/{feed}/tag/{slug}/\">{word}</a>"
            ));
        } else if markup && rng.chance(2) {
            out.push_str("<strong>");
            out.push_str(word);
            out.push_str("</strong>");
        } else if markup && rng.chance(2) {
            out.push_str("<em>");
            out.push_str(word);
            out.push_str("</em>");
        } else {
            out.push_str(word);
        }
    }
    out.push_str(if rng.chance(8) { "&#8230;" } else { "." });
}

fn paragraph(rng: &mut Rng, feed: usize, out: &mut String) {
    for s in 0..rng.range(2, 6) {
        if s > 0 {
            out.push(' ');
        }
        sentence(rng, feed, true, out);
    }
}

/// Text-only copy of an HTML fragment, for the excerpt: tags dropped, entities left as written.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

struct Item {
    n: usize,
    title: String,
    link: String,
    guid: String,
    author: &'static str,
    categories: Vec<&'static str>,
    published: u64,
    excerpt: String,
    html: String,
}

/// Stories in the shared pool: one per 20 items of the farm.
fn story_pool(args: &Args) -> u64 {
    (args.feeds.saturating_mul(args.items) / 20).max(1) as u64
}

/// A wire story of the shared pool: its paragraphs, the same for every feed that carries it.
fn wire_story(seed: u64, story: u64) -> Vec<String> {
    let mut rng = Rng::new(seed, u64::MAX, story);
    (0..rng.range(4, 9))
        .map(|_| {
            let mut p = String::from("<p>");
            paragraph(&mut rng, 0, &mut p);
            p.push_str("</p>\n");
            p
        })
        .collect()
}

/// The body of a syndicated item: a near-copy of a pool story (one paragraph its own) or an
/// article of its own quoting two of the story's paragraphs.
fn syndicated_html(seed: u64, feed: usize, pool: u64, rng: &mut Rng) -> String {
    let story = wire_story(seed, rng.next() % pool.max(1));
    let own = |rng: &mut Rng| {
        let mut p = String::from("<p>");
        paragraph(rng, feed, &mut p);
        p.push_str("</p>\n");
        p
    };
    let mut html = String::new();
    if rng.chance(50) {
        let mine = rng.range(0, story.len());
        for (i, p) in story.iter().enumerate() {
            if i == mine {
                html.push_str(&own(rng));
            } else {
                html.push_str(p);
            }
        }
    } else {
        let quoted = [rng.range(0, story.len()), rng.range(0, story.len())];
        for i in 0..rng.range(4, 8) {
            html.push_str(&own(rng));
            if let Some(&q) = quoted.get(i) {
                html.push_str(&story[q]);
            }
        }
    }
    html
}

#[cfg(test)]
fn item(seed: u64, feed: usize, n: usize, syndicated: u64, pool: u64) -> Item {
    item_sized(seed, feed, n, syndicated, pool, false)
}

/// [`item`], with `small` bodies of 300–800 bytes.
fn item_sized(seed: u64, feed: usize, n: usize, syndicated: u64, pool: u64, small: bool) -> Item {
    let mut rng = Rng::new(seed, feed as u64, n as u64);
    let mut title = String::new();
    let title_words = rng.range(4, 11);
    for w in 0..title_words {
        let word = rng.pick(WORDS);
        if w == 0 {
            capitalize(word, &mut title);
        } else {
            title.push(' ');
            title.push_str(word);
        }
        if w == 1 && rng.chance(15) {
            title.push_str(" &");
        }
    }
    let slug: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let published = EPOCH_2024
        + n as u64 * ITEM_SPACING_S
        + rng.next() % (ITEM_SPACING_S - 60)
        + feed as u64 % 60;
    let link = format!(
        "https://farm.example/{feed}/{n}/{}/",
        slug.trim_matches('-')
    );
    let author = AUTHORS[rng.range(0, AUTHORS.len())];
    let mut categories = Vec::new();
    for _ in 0..rng.range(1, 6) {
        let t = rng.pick(TAGS);
        if !categories.contains(&t) {
            categories.push(t);
        }
    }

    // 3–6 KB of article HTML: paragraphs, with the odd heading, list, quote or figure.
    let target = if small {
        rng.range(300, 800)
    } else {
        rng.range(3000, 5600)
    };
    let mut html = String::with_capacity(target + 600);
    if rng.chance(syndicated) {
        html = syndicated_html(seed, feed, pool, &mut rng);
    }
    let own_body = html.is_empty();
    let mut first = true;
    while own_body && html.len() < target {
        let kind = if first { 0 } else { rng.range(0, 20) };
        first = false;
        match kind {
            0..=14 => {
                html.push_str("<p>");
                paragraph(&mut rng, feed, &mut html);
                html.push_str("</p>\n");
            }
            15 => {
                html.push_str("<h2>");
                sentence(&mut rng, feed, false, &mut html);
                html.push_str("</h2>\n");
            }
            16 => {
                html.push_str("<ul>");
                for _ in 0..rng.range(2, 5) {
                    html.push_str("<li>");
                    sentence(&mut rng, feed, true, &mut html);
                    html.push_str("</li>");
                }
                html.push_str("</ul>\n");
            }
            17 => {
                html.push_str("<blockquote><p>");
                paragraph(&mut rng, feed, &mut html);
                html.push_str("</p></blockquote>\n");
            }
            18 => {
                let w = rng.range(600, 1200);
                html.push_str(&format!(
                    "<figure class=\"wp-block-image\"><img src=\"https://farm.example/{feed}/img/{n}.jpg\" \
                     alt=\"\" width=\"{w}\" height=\"{}\" loading=\"lazy\" /><figcaption>",
                    w * 2 / 3
                ));
                sentence(&mut rng, feed, false, &mut html);
                html.push_str("</figcaption></figure>\n");
            }
            _ => {
                html.push_str("<p><strong>");
                sentence(&mut rng, feed, false, &mut html);
                html.push_str("</strong></p>\n");
            }
        }
    }
    let plain = strip_tags(&html);
    let mut excerpt: String = plain
        .split_whitespace()
        .take(55)
        .collect::<Vec<_>>()
        .join(" ");
    excerpt.push_str(" [&#8230;]");
    Item {
        n,
        title,
        link,
        guid: format!("https://farm.example/{feed}/?p={n}"),
        author,
        categories,
        published,
        excerpt,
        html,
    }
}

// ---- dates ----

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1–12, day, hour, minute, second) of a Unix time (UTC).
fn civil(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-from-civil, inverted.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

fn rfc2822(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    let wd = DAYS[((secs / 86_400) % 7) as usize];
    let mon = MONTHS[(mo - 1) as usize];
    format!("{wd}, {d:02} {mon} {y} {h:02}:{mi:02}:{s:02} +0000")
}

fn rfc3339(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

// ---- documents ----

fn xml_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

fn render_rss(feed: usize, items: &[Item], updated: u64) -> String {
    let mut out = String::with_capacity(items.iter().map(|i| i.html.len() + 1500).sum());
    out.push_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"\n\
         \txmlns:content=\"http://purl.org/rss/1.0/modules/content/\"\n\
         \txmlns:wfw=\"http://wellformedweb.org/CommentAPI/\"\n\
         \txmlns:dc=\"http://purl.org/dc/elements/1.1/\"\n\
         \txmlns:atom=\"http://www.w3.org/2005/Atom\"\n\
         \txmlns:sy=\"http://purl.org/rss/1.0/modules/syndication/\"\n\
         \txmlns:slash=\"http://purl.org/rss/1.0/modules/slash/\"\n\
         \t>\n\n<channel>\n\t<title>Farm Gazette {feed}</title>\n\
         \t<atom:link href=\"https://farm.example/{feed}/feed/\" rel=\"self\" type=\"application/rss+xml\" />\n\
         \t<link>https://farm.example/{feed}/</link>\n\
         \t<description>News and analysis from region {feed}</description>\n\
         \t<lastBuildDate>{}</lastBuildDate>\n\t<language>en-US</language>\n\
         \t<sy:updatePeriod>\n\thourly\t</sy:updatePeriod>\n\t<sy:updateFrequency>\n\t1\t</sy:updateFrequency>\n\
         \t<generator>https://wordpress.org/?v=6.5.2</generator>\n",
        rfc2822(updated)
    ));
    for it in items {
        out.push_str("\t<item>\n\t\t<title>");
        xml_escape(&it.title, &mut out);
        out.push_str(&format!(
            "</title>\n\t\t<link>{}</link>\n\t\t<comments>{}#respond</comments>\n\
             \t\t<dc:creator><![CDATA[{}]]></dc:creator>\n\t\t<pubDate>{}</pubDate>\n",
            it.link,
            it.link,
            it.author,
            rfc2822(it.published)
        ));
        for c in &it.categories {
            out.push_str(&format!("\t\t<category><![CDATA[{c}]]></category>\n"));
        }
        out.push_str(&format!(
            "\n\t\t<guid isPermaLink=\"false\">{}</guid>\n\n\
             \t\t\t\t\t<description><![CDATA[{}]]></description>\n\
             \t\t\t\t\t\t\t\t\t\t<content:encoded><![CDATA[{}",
            it.guid, it.excerpt, it.html
        ));
        out.push_str("<p>The post <a href=\"");
        out.push_str(&it.link);
        out.push_str("\">");
        xml_escape(&it.title, &mut out);
        out.push_str(&format!(
            "</a> appeared first on <a href=\"https://farm.example/{feed}/\">Farm Gazette {feed}</a>.</p>\n]]></content:encoded>\n\
             \t\t\t\t\t<wfw:commentRss>{}feed/</wfw:commentRss>\n\t\t\t<slash:comments>{}</slash:comments>\n\t\t</item>\n",
            it.link,
            it.n % 7
        ));
    }
    out.push_str("\t</channel>\n</rss>\n");
    out
}

fn render_atom(feed: usize, items: &[Item], updated: u64) -> String {
    let mut out = String::with_capacity(items.iter().map(|i| i.html.len() * 6 / 5 + 1500).sum());
    out.push_str(&format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"en\">\n\
         \x20 <title type=\"text\">Farm Review {feed}</title>\n\
         \x20 <subtitle type=\"text\">Long reads from district {feed}</subtitle>\n\
         \x20 <updated>{}</updated>\n\
         \x20 <id>https://farm.example/{feed}/</id>\n\
         \x20 <link rel=\"alternate\" type=\"text/html\" href=\"https://farm.example/{feed}/\"/>\n\
         \x20 <link rel=\"self\" type=\"application/atom+xml\" href=\"https://farm.example/{feed}/atom.xml\"/>\n\
         \x20 <generator uri=\"https://farm.example/\" version=\"1.0\">farm</generator>\n",
        rfc3339(updated)
    ));
    for it in items {
        out.push_str("  <entry>\n    <title type=\"html\">");
        xml_escape(&it.title, &mut out);
        out.push_str(&format!(
            "</title>\n    <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n\
             \x20   <id>{}</id>\n    <published>{}</published>\n    <updated>{}</updated>\n\
             \x20   <author><name>",
            it.link,
            it.guid,
            rfc3339(it.published),
            rfc3339(it.published + 600),
        ));
        xml_escape(it.author, &mut out);
        out.push_str("</name></author>\n");
        for c in &it.categories {
            out.push_str(&format!(
                "    <category scheme=\"https://farm.example/{feed}/\" term=\"{c}\"/>\n"
            ));
        }
        out.push_str("    <summary type=\"html\">");
        xml_escape(&it.excerpt, &mut out);
        out.push_str(&format!(
            "</summary>\n    <content type=\"html\" xml:base=\"{}\">",
            it.link
        ));
        xml_escape(&it.html, &mut out);
        out.push_str("</content>\n  </entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

// ---- the served state ----

struct Version {
    body: Bytes,
    gz: Option<Bytes>,
    content_type: &'static str,
    etag: String,
    etag_gz: String,
    last_modified: SystemTime,
    last_modified_text: String,
}

struct Farm {
    args: Args,
    base: String,
    /// Newest item number of every feed (all feeds move together).
    head: RwLock<usize>,
    feeds: RwLock<Arc<Vec<Version>>>,
    /// Serializes churns and resets.
    publishing: tokio::sync::Mutex<()>,
    requests: AtomicU64,
    ok: AtomicU64,
    not_modified: AtomicU64,
    not_found: AtomicU64,
    body_bytes: AtomicU64,
    churns: AtomicU64,
}

fn gzip(data: &[u8]) -> std::io::Result<Bytes> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 3),
        flate2::Compression::default(),
    );
    enc.write_all(data)?;
    Ok(Bytes::from(enc.finish()?))
}

fn render_feed(args: &Args, feed: usize, head: usize) -> anyhow::Result<Version> {
    let oldest = head + 1 - args.items;
    let items: Vec<Item> = (oldest..=head)
        .rev()
        .map(|n| {
            item_sized(
                args.seed,
                feed,
                n,
                args.syndicated,
                story_pool(args),
                args.small_items,
            )
        })
        .collect();
    let updated = items.first().map_or(EPOCH_2024, |i| i.published);
    let (text, content_type) = if feed.is_multiple_of(2) {
        (
            render_rss(feed, &items, updated),
            "application/rss+xml; charset=UTF-8",
        )
    } else {
        (
            render_atom(feed, &items, updated),
            "application/atom+xml; charset=utf-8",
        )
    };
    let body = Bytes::from(text.into_bytes());
    let gz = if args.gzip {
        Some(gzip(&body).context("gzip")?)
    } else {
        None
    };
    let last_modified = UNIX_EPOCH + Duration::from_secs(updated);
    let etag = format!("\"{:x}-{feed}-{head}-{}\"", args.seed, args.items);
    Ok(Version {
        etag_gz: format!("{}-gz\"", etag.trim_end_matches('"')),
        etag,
        last_modified,
        last_modified_text: httpdate::fmt_http_date(last_modified),
        body,
        gz,
        content_type,
    })
}

/// Renders every feed at `head`, split over the CPUs.
fn render_all(args: &Args, head: usize) -> anyhow::Result<Vec<Version>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = args.feeds.div_ceil(threads).max(1);
    let ranges: Vec<(usize, usize)> = (0..args.feeds)
        .step_by(chunk)
        .map(|s| (s, (s + chunk).min(args.feeds)))
        .collect();
    let parts: Vec<anyhow::Result<Vec<Version>>> = std::thread::scope(|s| {
        let handles: Vec<_> = ranges
            .iter()
            .map(|&(lo, hi)| {
                s.spawn(move || (lo..hi).map(|f| render_feed(args, f, head)).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("render thread panicked")))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(args.feeds);
    for p in parts {
        all.extend(p?);
    }
    Ok(all)
}

impl Farm {
    /// Moves every feed to the head `next` computes from the current one and swaps the new
    /// versions in; returns the new head.
    async fn publish(self: &Arc<Self>, next: impl FnOnce(usize) -> usize) -> anyhow::Result<usize> {
        let _one_at_a_time = self.publishing.lock().await;
        let head = next(self.current_head());
        let farm = Arc::clone(self);
        let versions = tokio::task::spawn_blocking(move || render_all(&farm.args, head))
            .await
            .context("render task")??;
        let mut feeds = self
            .feeds
            .write()
            .map_err(|_| anyhow::anyhow!("state lock poisoned"))?;
        *feeds = Arc::new(versions);
        drop(feeds);
        *self
            .head
            .write()
            .map_err(|_| anyhow::anyhow!("state lock poisoned"))? = head;
        Ok(head)
    }

    fn current_head(&self) -> usize {
        self.head.read().map(|h| *h).unwrap_or(self.args.items)
    }

    fn snapshot(&self) -> Option<Arc<Vec<Version>>> {
        self.feeds.read().ok().map(|f| Arc::clone(&f))
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// True when the request's validators match the current version (RFC 9110 §13.2.2:
/// `If-None-Match` wins over `If-Modified-Since`).
fn not_modified(req: &HeaderMap, v: &Version) -> bool {
    if let Some(inm) = req.get(header::IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else { return false };
        return inm.split(',').map(str::trim).any(|tag| {
            tag == "*"
                || tag == v.etag
                || tag == v.etag_gz
                || tag.strip_prefix("W/") == Some(v.etag.as_str())
                || tag.strip_prefix("W/") == Some(v.etag_gz.as_str())
        });
    }
    if let Some(ims) = req.get(header::IF_MODIFIED_SINCE) {
        let Some(since) = ims
            .to_str()
            .ok()
            .and_then(|s| httpdate::parse_http_date(s).ok())
        else {
            return false;
        };
        return v.last_modified <= since;
    }
    false
}

fn accepts_gzip(req: &HeaderMap) -> bool {
    req.get_all(header::ACCEPT_ENCODING).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',').any(|part| {
                let mut it = part.split(';');
                let coding = it.next().unwrap_or("").trim();
                let refused = it.any(|p| {
                    let p = p.trim().replace(' ', "");
                    p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
                });
                (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
            })
        })
    })
}

async fn serve_feed(
    State(farm): State<Arc<Farm>>,
    Path(id): Path<String>,
    req: HeaderMap,
) -> Response {
    farm.requests.fetch_add(1, Ordering::Relaxed);
    let feeds = farm.snapshot();
    let found = id
        .parse::<usize>()
        .ok()
        .and_then(|i| feeds.as_ref().and_then(|f| f.get(i)));
    let Some(v) = found else {
        farm.not_found.fetch_add(1, Ordering::Relaxed);
        return text(StatusCode::NOT_FOUND, "no such feed\n".into());
    };
    let gz = if accepts_gzip(&req) {
        v.gz.clone()
    } else {
        None
    };
    let etag = if gz.is_some() { &v.etag_gz } else { &v.etag };
    let mut headers = HeaderMap::new();
    let mut set = |name, value: &str| {
        if let Ok(hv) = HeaderValue::from_str(value) {
            headers.insert(name, hv);
        }
    };
    set(header::ETAG, etag);
    set(header::LAST_MODIFIED, &v.last_modified_text);
    if farm.args.gzip {
        set(header::VARY, "Accept-Encoding");
    }
    if not_modified(&req, v) {
        farm.not_modified.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    set(header::CONTENT_TYPE, v.content_type);
    let body = match gz {
        Some(gz) => {
            set(header::CONTENT_ENCODING, "gzip");
            gz
        }
        None => v.body.clone(),
    };
    farm.ok.fetch_add(1, Ordering::Relaxed);
    farm.body_bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    (StatusCode::OK, headers, Body::from(body)).into_response()
}

#[derive(serde::Deserialize)]
struct ChurnQuery {
    k: Option<usize>,
}

async fn churn(State(farm): State<Arc<Farm>>, Query(q): Query<ChurnQuery>) -> Response {
    let k = q.k.unwrap_or(5);
    if k == 0 || k > MAX_CHURN {
        return text(
            StatusCode::BAD_REQUEST,
            format!("k must be between 1 and {MAX_CHURN}\n"),
        );
    }
    match farm.publish(|head| head + k).await {
        Ok(head) => {
            farm.churns.fetch_add(1, Ordering::Relaxed);
            text(
                StatusCode::OK,
                format!("churned k={k}; newest item of every feed is now {head}\n"),
            )
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")),
    }
}

async fn reset(State(farm): State<Arc<Farm>>) -> Response {
    let items = farm.args.items;
    match farm.publish(|_| items).await {
        Ok(head) => text(
            StatusCode::OK,
            format!("reset; newest item of every feed is {head}\n"),
        ),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")),
    }
}

async fn stats(State(farm): State<Arc<Farm>>) -> Response {
    let feeds = farm.snapshot();
    let (xml, gz) = feeds.as_ref().map_or((0, 0), |f| {
        (
            f.iter().map(|v| v.body.len()).sum::<usize>(),
            f.iter().map(|v| v.gz.as_ref().map_or(0, Bytes::len)).sum(),
        )
    });
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    text(
        StatusCode::OK,
        format!(
            "feeds {}\nitems {}\nhead {}\nchurns {}\nxml_bytes {xml}\ngzip_bytes {gz}\n\
             requests {}\nok {}\nnot_modified {}\nnot_found {}\nbody_bytes {}\n",
            farm.args.feeds,
            farm.args.items,
            farm.current_head(),
            load(&farm.churns),
            load(&farm.requests),
            load(&farm.ok),
            load(&farm.not_modified),
            load(&farm.not_found),
            load(&farm.body_bytes),
        ),
    )
}

async fn urls(State(farm): State<Arc<Farm>>) -> Response {
    let mut out = String::with_capacity(farm.args.feeds * 40);
    for i in 0..farm.args.feeds {
        out.push_str(&format!("{}/feed/{i}\n", farm.base));
    }
    text(StatusCode::OK, out)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        (1..=MAX_FEEDS).contains(&args.feeds),
        "--feeds must be between 1 and {MAX_FEEDS}"
    );
    anyhow::ensure!(
        (1..=MAX_ITEMS).contains(&args.items),
        "--items must be between 1 and {MAX_ITEMS}"
    );
    anyhow::ensure!(
        args.feeds.saturating_mul(args.items) <= 5_000_000,
        "--feeds × --items is at most 5,000,000"
    );
    anyhow::ensure!(
        args.syndicated <= 100,
        "--syndicated is a percentage (0–100)"
    );
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if args.threads > 0 {
        rt.worker_threads(args.threads);
    }
    let rt = rt.enable_all().build().context("tokio runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
        let addr = listener.local_addr().context("local address")?;
        let base = format!("http://{addr}");
        let farm = Arc::new(Farm {
            base: base.clone(),
            head: RwLock::new(args.items),
            feeds: RwLock::new(Arc::new(Vec::new())),
            requests: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
            not_found: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
            churns: AtomicU64::new(0),
            publishing: tokio::sync::Mutex::new(()),
            args: args.clone(),
        });
        // Render before announcing the address, so the first request already finds every feed.
        farm.publish(|head| head).await?;
        let app = Router::new()
            .route("/feed/{id}", get(serve_feed))
            .route("/_churn", post(churn))
            .route("/_reset", post(reset))
            .route("/_stats", get(stats))
            .route("/_urls", get(urls))
            .with_state(Arc::clone(&farm));
        if let Some(path) = &args.addr_file {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, format!("{base}\n"))
                .with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        println!("{base}");
        std::io::stdout().flush().context("stdout")?;
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving")?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_like_the_standards() {
        assert_eq!(rfc2822(EPOCH_2024), "Mon, 01 Jan 2024 00:00:00 +0000");
        assert_eq!(rfc3339(EPOCH_2024 + 59 * 86_400), "2024-02-29T00:00:00Z");
        assert_eq!(
            httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(EPOCH_2024)),
            "Mon, 01 Jan 2024 00:00:00 GMT"
        );
    }

    #[test]
    fn items_are_deterministic_and_sized() {
        let a = item(7, 3, 42, 0, 1);
        let b = item(7, 3, 42, 0, 1);
        assert_eq!(a.html, b.html);
        assert_ne!(a.html, item(8, 3, 42, 0, 1).html);
        assert!((3000..6600).contains(&a.html.len()), "{}", a.html.len());
        assert!(item(7, 3, 43, 0, 1).published > a.published);
        let small = item_sized(7, 3, 42, 0, 1, true);
        assert!(
            (300..1400).contains(&small.html.len()),
            "{}",
            small.html.len()
        );
        assert_eq!(small.title, a.title, "only the body's length differs");
    }

    /// Word triples of an item's text.
    fn triples(it: &Item) -> std::collections::HashSet<String> {
        let text = strip_tags(&it.html).to_lowercase();
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        words.windows(3).map(|w| w.join(" ")).collect()
    }

    #[test]
    fn items_of_other_feeds_and_positions_share_no_text() {
        // Unrelated articles share almost no word triples; a farm whose items did would
        // benchmark the near-duplicate stage on a corpus of copies. The last three pairs are
        // ones an earlier stream layout made near-copies of each other.
        let pairs = [
            ((1, 0, 0), (1, 1, 0)),
            ((1, 0, 0), (1, 0, 1)),
            ((1, 0, 0), (1, 2, 5)),
            ((1, 0, 0), (2, 0, 0)),
            ((1, 4, 46), (1, 2, 42)),
            ((1, 4, 40), (1, 2, 40)),
            ((1, 4, 44), (1, 2, 36)),
        ];
        for ((s1, f1, i1), (s2, f2, i2)) in pairs {
            let a = triples(&item(s1, f1, i1, 0, 1));
            let b = triples(&item(s2, f2, i2, 0, 1));
            let shared = a.intersection(&b).count();
            assert!(
                shared * 20 < a.len().min(b.len()),
                "({s1}, {f1}, {i1}) and ({s2}, {f2}, {i2}) share {shared} of {} triples",
                a.len()
            );
        }
    }

    #[test]
    fn syndicated_items_share_paragraphs_with_the_pool() {
        let pool = 4;
        let items: Vec<Item> = (0..40).map(|n| item(1, n % 5, n, 100, pool)).collect();
        // With four stories behind forty items, every item shares text with another one.
        for (i, a) in items.iter().enumerate() {
            let ta = triples(a);
            let best = items
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, b)| ta.intersection(&triples(b)).count())
                .max()
                .unwrap_or(0);
            assert!(
                best * 5 > ta.len() / 4,
                "item {i} shares {best} of {} triples",
                ta.len()
            );
        }
        // Deterministic, and without the mode nothing changes.
        assert_eq!(item(1, 2, 3, 100, pool).html, item(1, 2, 3, 100, pool).html);
        assert_eq!(item(1, 2, 3, 0, pool).html, item(1, 2, 3, 0, 1).html);
    }
}
