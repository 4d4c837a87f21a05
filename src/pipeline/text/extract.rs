//! A saved article page → its main text, in the corpus's paragraph form.
//!
//! Many feeds carry only a teaser, so the article page itself has to be read. Finding the article
//! inside a page of menus, sidebars, comments and banners is a solved problem: dom_smoothie (a
//! port of Mozilla's readability.js) picks the content subtree and cleans it, and trafilatura (a
//! port of the Python library, with another method) gives a second opinion: prose only one of
//! the two kept is dropped ([`agree`]). Both were measured against the other Rust extractors and
//! Python's trafilatura on public page sets with a held-out split (`examples/extract_eval.rs`,
//! `tools/extract-eval/`, figures in the README).
//!
//! Around it this module only does what readability leaves to the caller: furniture named as
//! such in class names (author boxes, share bars, related lists, newsletter and donation boxes)
//! is removed before scoring, unless it wraps the article or most of the page's text; the chosen subtree goes through
//! [`normalize::html_paragraphs`](crate::pipeline::text::normalize::html_paragraphs) so records read like feed
//! text; lines that are only links are dropped; lines that repeat the title or the byline are
//! removed because those travel as metadata; dates readability misses are read from meta tags.

use chrono::{DateTime, FixedOffset};
use dom_smoothie::{Config, Readability};

use crate::pipeline::text::normalize::{
    LinkedParagraph, html_paragraphs, html_paragraphs_with_links, inline_text,
};

/// What a page yields: metadata and the body, one normalized line per paragraph.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Article {
    pub title: Option<String>,
    pub author: Option<String>,
    pub published: Option<DateTime<FixedOffset>>,
    /// The body without the title, in [`normalize::html_paragraphs`](crate::pipeline::text::normalize::html_paragraphs) form.
    pub paragraphs: Vec<String>,
}

impl Article {
    /// Paragraphs joined by one blank line, the form of `entries.content_text`.
    pub fn text(&self) -> String {
        self.paragraphs.join("\n\n")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("the page could not be read: {0}")]
    Parse(String),
    #[error("no article text found in the page")]
    NoContent,
}

/// A paragraph whose characters are this much link text is navigation, not prose.
const MAX_LINK_DENSITY: f64 = 0.75;

/// Extracts the main article of an HTML page. `url` is the page's address, used to resolve
/// relative links and read JSON-LD; an unparsable URL is ignored.
pub fn extract_article(html: &str, url: Option<&str>) -> Result<Article, ExtractError> {
    let url = url.filter(|u| url::Url::parse(u).is_ok());
    let html = crate::pipeline::text::shallow::bound_depth(html);
    let doc = dom_query::Document::from(html.as_ref());
    remove_chrome(&doc);
    let mut readability = Readability::with_document(doc, url, Some(Config::default()))
        .map_err(|e| ExtractError::Parse(e.to_string()))?;
    let page = readability.parse().map_err(|e| match e {
        dom_smoothie::ReadabilityError::GrabFailed => ExtractError::NoContent,
        other => ExtractError::Parse(other.to_string()),
    })?;

    let title = Some(inline_text(&page.title)).filter(|t| !t.is_empty());
    let author = page
        .byline
        .as_deref()
        .map(clean_byline)
        .filter(|a| !a.is_empty());
    let published = page
        .published_time
        .as_deref()
        .and_then(crate::pipeline::parse::parse_date)
        .or_else(|| published_from_markup(&html));
    let paragraphs = body_paragraphs(
        html_paragraphs_with_links(&page.content),
        title.as_deref(),
        author.as_deref(),
    );
    let paragraphs = match second_opinion(&html) {
        Some(theirs) => agree(paragraphs, &theirs, &structure_lines(&page.content)),
        None => paragraphs,
    };
    if paragraphs.is_empty() {
        return Err(ExtractError::NoContent);
    }
    Ok(Article {
        title,
        author,
        published,
        paragraphs,
    })
}

/// Words in class names or ids that name page furniture which sits next to the article and that
/// readability tends to keep with it: author boxes, share bars, related-story lists, newsletter
/// and donation boxes, cookie notices, comment threads. A name matches when one of its words
/// (split at `-`, `_`, spaces and camelCase humps) is the marker, its plural or a close form
/// ("donate", "donation", "sharing"): `comment-list` and `RelatedBlock` match, `commentary` does
/// not.
const CHROME_WORDS: &[&str] = &[
    "share",
    "sharing",
    "sharedaddy",
    "addtoany",
    "social",
    "related",
    "relatedposts",
    "newsletter",
    "subscribe",
    "subscription",
    "donate",
    "donation",
    "cookie",
    "consent",
    "comment",
    "disqus",
    "promo",
    "breadcrumb",
    "recommended",
    "paywall",
];

/// Multi-word names of furniture, matched as a run of words.
const CHROME_PHRASES: &[&[&str]] = &[
    &["author", "box"],
    &["author", "bio"],
    &["author", "card"],
    &["about", "author"],
    &["most", "popular"],
    &["most", "viewed"],
    &["more", "news"],
    &["more", "from"],
];

/// The words of a class or id: `RelatedBlock-module_root` → related, block, module, root.
fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_lowercase();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn is_chrome_word(word: &str) -> bool {
    CHROME_WORDS.iter().any(|m| {
        word == *m || {
            let stem = m.trim_end_matches('e');
            word.strip_prefix(stem).is_some_and(|rest| {
                matches!(rest, "s" | "es" | "e" | "ed" | "ing" | "ion" | "ions")
            })
        }
    })
}

fn is_chrome_name(name: &str) -> bool {
    let words = name_words(name);
    words.iter().any(|w| is_chrome_word(w))
        || CHROME_PHRASES.iter().any(|phrase| {
            words
                .windows(phrase.len())
                .any(|w| w.iter().zip(phrase.iter()).all(|(a, b)| a == b))
        })
}

/// The page with its named furniture removed (the first step of [`extract_article`]), for
/// feeding other extractors the same input in comparisons.
pub fn remove_page_chrome(html: &str) -> String {
    let doc = dom_query::Document::from(crate::pipeline::text::shallow::bound_depth(html).as_ref());
    remove_chrome(&doc);
    doc.html().to_string()
}

/// A `<p>` of this many words is the article's prose, never furniture, however it is named.
const PROSE_WORDS: usize = 30;

/// Elements never removed as chrome however they are named: they hold the article.
const NEVER_CHROME: &[&str] = &["html", "body", "main", "article"];

/// Removes furniture named as such (see [`CHROME_WORDS`]) before readability scores the page,
/// unless it wraps the article (a `main`, `article` or `h1` inside it).
fn remove_chrome(doc: &dom_query::Document) {
    let page_chars = doc
        .select("body")
        .text()
        .chars()
        .filter(|c| !c.is_whitespace())
        .count();
    for el in doc.select("[class], [id]").nodes() {
        let name = el
            .node_name()
            .map(|n| n.to_ascii_lowercase())
            .unwrap_or_default();
        if NEVER_CHROME.contains(&name.as_str()) {
            continue;
        }
        let named_chrome = ["class", "id"].iter().any(|a| {
            el.attr(a)
                .is_some_and(|v| v.split_whitespace().any(is_chrome_name))
        });
        if !named_chrome {
            continue;
        }
        let wraps_article = el.descendants().iter().any(|d| {
            d.node_name()
                .is_some_and(|n| matches!(n.as_ref(), "main" | "article" | "h1"))
        });
        // A wrapper named after one of its parts (`share-zone` around the whole story) holds
        // most of the page's text: that is the article, not furniture.
        let holds_most = || {
            let chars = el.text().chars().filter(|c| !c.is_whitespace()).count();
            chars * 5 >= page_chars * 2
        };
        // A long paragraph is prose whatever its class says (Wired marks the paragraphs
        // behind its paywall `class="paywall"`).
        let is_prose = || name == "p" && word_count(&[el.text()]) >= PROSE_WORDS;
        if !wraps_article && !is_prose() && !holds_most() {
            el.remove_from_parent();
        }
    }
}

/// The body paragraphs trafilatura finds in the page, or `None` when it finds none (or fails).
fn second_opinion(html: &str) -> Option<Vec<String>> {
    let run = || trafilatura::extract(html, &trafilatura::Options::default()).ok();
    // Third-party code on a stranger's page: a panic costs the second opinion only.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).ok()??;
    let paragraphs = html_paragraphs(&result.content_html);
    (!paragraphs.is_empty()).then_some(paragraphs)
}

/// The text of the headings and list items of the chosen content (by [`letters`] key): the
/// article's own structure, which the second opinion often leaves out (subheads, footnotes).
fn structure_lines(content_html: &str) -> std::collections::HashSet<String> {
    let doc = dom_query::Document::from(content_html);
    doc.select("h1, h2, h3, h4, h5, h6, li")
        .iter()
        .map(|el| letters(&el.text()))
        .filter(|k| !k.is_empty())
        .collect()
}

/// A paragraph stays when at least this share of its words is in the second opinion's text.
const SUPPORTED: f64 = 0.5;

/// Our paragraphs that the second extractor supports (most of their words occur in its text),
/// and our headings and list items (`structure`, by [`letters`] key): two extractors with
/// different methods rarely keep the same furniture, so prose only one of them kept is
/// dropped. When that would drop half of the words or more, the second extractor
/// missed the article and ours stands as it is.
pub fn agree(
    ours: Vec<String>,
    theirs: &[String],
    structure: &std::collections::HashSet<String>,
) -> Vec<String> {
    use std::collections::HashSet;
    let words = |p: &str| -> Vec<String> {
        p.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let known: HashSet<String> = theirs.iter().flat_map(|p| words(p)).collect();
    let supported = |p: &str| {
        let w = words(p);
        w.is_empty()
            || structure.contains(&letters(p))
            || w.iter().filter(|x| known.contains(*x)).count() as f64 >= SUPPORTED * w.len() as f64
    };
    let total = word_count(&ours);
    let kept: Vec<String> = ours.iter().filter(|p| supported(p)).cloned().collect();
    if word_count(&kept) * 2 <= total {
        return ours;
    }
    kept
}

/// Meta tags readability does not read, in order of trust.
const DATE_META: &[&str] = &[
    "article:published_time",
    "og:published_time",
    "datepublished",
    "dcterms.date",
    "dcterms.created",
    "dc.date.issued",
    "dc.date",
    "sailthru.date",
    "parsely-pub-date",
    "pubdate",
    "publishdate",
    "date",
];

/// The publication date from `<meta name|property|itemprop=… content=…>` (the names readability
/// misses, e.g. `name="article:published_time"`, `dcterms.date`, `itemprop="datePublished"`),
/// else from the first `<time datetime=…>` of the page.
fn published_from_markup(html: &str) -> Option<DateTime<FixedOffset>> {
    let doc = scraper::Html::parse_document(html);
    let metas = scraper::Selector::parse("meta[content]").ok()?;
    let mut found: Vec<(usize, DateTime<FixedOffset>)> = Vec::new();
    for m in doc.select(&metas) {
        let el = m.value();
        let key = ["property", "name", "itemprop"]
            .iter()
            .find_map(|a| el.attr(a))
            .map(str::to_ascii_lowercase);
        let rank = key.and_then(|k| DATE_META.iter().position(|d| *d == k));
        if let (Some(rank), Some(date)) = (
            rank,
            el.attr("content")
                .and_then(crate::pipeline::parse::parse_date),
        ) {
            found.push((rank, date));
        }
    }
    if let Some((_, d)) = found.into_iter().min_by_key(|(rank, _)| *rank) {
        return Some(d);
    }
    let times = scraper::Selector::parse("time[datetime]").ok()?;
    doc.select(&times).find_map(|t| {
        t.value()
            .attr("datetime")
            .and_then(crate::pipeline::parse::parse_date)
    })
}

/// Drops link-only lines and the lines that repeat metadata.
fn body_paragraphs(
    raw: Vec<LinkedParagraph>,
    title: Option<&str>,
    author: Option<&str>,
) -> Vec<String> {
    let title = title.map(letters);
    let author = author.map(letters);
    raw.into_iter()
        .filter(|p| p.link_density < MAX_LINK_DENSITY)
        .map(|p| p.text)
        .filter(|p| {
            let l = letters(p);
            let byline = l.strip_prefix("by").unwrap_or(&l);
            !(title.as_deref() == Some(l.as_str()) || author.as_deref() == Some(byline))
        })
        .collect()
}

/// "By Jane Doe" → "Jane Doe"; whitespace collapsed.
fn clean_byline(byline: &str) -> String {
    let b = inline_text(byline);
    let trimmed = b.trim();
    for prefix in ["By ", "by ", "BY "] {
        if let Some(rest) = trimmed.strip_prefix(prefix) {
            return rest.trim().to_string();
        }
    }
    trimmed.to_string()
}

/// Lower-case letters and digits only: the comparison key for "same line".
fn letters(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Fewer words than this and a feed's text counts as a summary.
pub const TEASER_MAX_WORDS: usize = 50;

/// Endings that mark a cut-off summary, compared case-insensitively after trailing spaces.
const TEASER_ENDINGS: &[&str] = &[
    "[…]",
    "[...]",
    "[&hellip;]",
    "…",
    "...",
    "read more",
    "read more »",
    "read more →",
    "continue reading",
    "continue reading →",
    "the full article",
    "lire la suite",
    "подробнее",
    "читать далее",
    "читать полностью",
    "batafsil",
];

/// True when a feed's paragraphs look like a summary rather than the article: fewer than
/// [`TEASER_MAX_WORDS`] words, or the last paragraph ends in an ellipsis or a "read more" link
/// text ("[…]", "…", "Read more", "Continue reading", "Lire la suite", "Читать далее", …).
pub fn is_teaser(paragraphs: &[String]) -> bool {
    if word_count(paragraphs) < TEASER_MAX_WORDS {
        return true;
    }
    let Some(last) = paragraphs.iter().rev().find(|p| !p.trim().is_empty()) else {
        return true;
    };
    let end = last.trim_end().to_lowercase();
    let end = end.trim_end_matches(['.', '!', ':', ' ']).trim_end();
    TEASER_ENDINGS.iter().any(|t| {
        let t = t.trim_end_matches(['.', '!', ':', ' ']);
        !t.is_empty() && end.ends_with(t)
    }) || last.trim_end().ends_with("...")
}

/// Words in a text: runs of letters or digits.
pub fn word_count<S: AsRef<str>>(paragraphs: &[S]) -> usize {
    paragraphs
        .iter()
        .map(|p| {
            p.as_ref()
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .count()
        })
        .sum()
}

/// Whether a record should use the extracted page text instead of the feed's: only when the
/// extraction yields more words than the feed gave.
pub fn prefer_extracted(feed: &[String], extracted: &[String]) -> bool {
    word_count(extracted) > word_count(feed)
}

/// Word-level agreement of an extracted text with a hand-checked expected text, as used by the
/// extraction benchmark: bags of lower-cased words, counted with multiplicity.
pub mod score {
    use std::collections::HashMap;

    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Prf {
        pub precision: f64,
        pub recall: f64,
        pub f1: f64,
    }

    fn words(s: &str) -> impl Iterator<Item = String> + '_ {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
    }

    /// Precision = shared words / extracted words; recall = shared words / expected words.
    pub fn word_prf(expected: &str, got: &str) -> Prf {
        let mut want: HashMap<String, usize> = HashMap::new();
        let mut n_expected = 0usize;
        for w in words(expected) {
            *want.entry(w).or_default() += 1;
            n_expected += 1;
        }
        let (mut n_got, mut shared) = (0usize, 0usize);
        for w in words(got) {
            n_got += 1;
            if let Some(c) = want.get_mut(&w).filter(|c| **c > 0) {
                *c -= 1;
                shared += 1;
            }
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let (precision, recall) = (ratio(shared, n_got), ratio(shared, n_expected));
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        Prf {
            precision,
            recall,
            f1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paras(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn prose_named_like_furniture_is_kept() {
        let para = |i: usize| {
            format!(
                "<p class=\"paywall\">Paragraph {i} of the story: the reservoir behind the dam \
                 held less water this spring than in any year since the records began, and the \
                 farmers downstream say the cotton will suffer before the summer is out.</p>"
            )
        };
        let html = format!(
            "<html><head><title>Dam story</title></head><body><header><nav><a href=\"/\">Home</a>\
             </nav></header><article><h1>Dam story</h1>{}<p class=\"paywall\">Subscribe to read \
             on.</p></article><div class=\"newsletter\">Sign up for our daily newsletter \
             today</div></body></html>",
            (0..6).map(para).collect::<String>()
        );
        let a = extract_article(&html, None).expect("article");
        let text = a.text();
        for i in 0..6 {
            assert!(
                text.contains(&format!("Paragraph {i} of the story")),
                "{text}"
            );
        }
        assert!(!text.contains("Subscribe to read on"), "{text}");
        assert!(!text.contains("newsletter"), "{text}");
    }

    #[test]
    fn agreement_drops_what_only_one_extractor_kept() {
        let body = "The dam talks resumed on Monday after a year of silence between the sides.";
        let more = "Farmers downstream say the water will not last the summer.";
        let ours = paras(&[
            body,
            "Photo: Reuters / Jane Roe",
            more,
            "Read also: Prices rise again",
        ]);
        let theirs = paras(&[body, more]);
        // (ours, theirs, expected)
        let cases = [
            (ours.clone(), theirs.clone(), paras(&[body, more])),
            // A second opinion that missed most of the article changes nothing.
            (ours.clone(), paras(&["Subscribe now"]), ours.clone()),
            (ours.clone(), ours.clone(), ours.clone()),
            // Case and punctuation do not matter; half the words are enough.
            (
                paras(&[body, "Water: the SUMMER will tell, locals say"]),
                paras(&[body, more]),
                paras(&[body, "Water: the SUMMER will tell, locals say"]),
            ),
            (Vec::new(), theirs.clone(), Vec::new()),
        ];
        let none = std::collections::HashSet::new();
        for (ours, theirs, want) in cases {
            assert_eq!(
                agree(ours.clone(), &theirs, &none),
                want,
                "{ours:?} / {theirs:?}"
            );
        }
        // The article's own headings and list items stay.
        let structure = structure_lines("<h2>Photo: Reuters / Jane Roe</h2><p>x</p>");
        assert_eq!(
            agree(ours.clone(), &theirs, &structure),
            paras(&[body, "Photo: Reuters / Jane Roe", more])
        );
    }

    const PAGE: &str = r#"<!doctype html><html lang="en"><head><title>Dam talks resume - Example News</title>
        <meta property="og:title" content="Dam talks resume">
        <meta name="author" content="Jane Roe">
        <meta property="article:published_time" content="2026-03-18T06:30:12+01:00"></head>
        <body><nav><ul><li><a href="/a">World</a></li><li><a href="/b">Business</a></li></ul></nav>
        <article><h1>Dam talks resume</h1><p class="byline">By Jane Roe</p>
        <p>Negotiators from the two countries met again on Monday in the capital, the first round of talks since the autumn, and agreed to share data on river flows every week.</p>
        <p>The dam, under construction for a decade, is meant to double the country's electricity output. Downstream farmers fear that filling the reservoir will leave their fields dry in summer.</p>
        <p>A further meeting is planned for May, officials said, when engineers from both sides are to visit the site together and publish a joint report.</p>
        <ul><li><a href="/c">Read more on the region</a></li></ul></article>
        <aside><h2>Most read</h2><ul><li><a href="/x">Something else entirely</a></li></ul></aside>
        <footer><p>© Example News</p></footer></body></html>"#;

    #[test]
    fn extracts_body_and_metadata() {
        let a = extract_article(PAGE, Some("https://example.org/dam")).expect("article");
        assert_eq!(a.title.as_deref(), Some("Dam talks resume"));
        assert_eq!(a.author.as_deref(), Some("Jane Roe"));
        assert_eq!(
            a.published.map(|d| d.to_rfc3339()),
            Some("2026-03-18T06:30:12+01:00".to_string())
        );
        assert_eq!(a.paragraphs.len(), 3, "{:#?}", a.paragraphs);
        assert!(a.paragraphs[0].starts_with("Negotiators from the two countries"));
        assert!(!a.text().contains("Most read") && !a.text().contains("World"));
    }

    #[test]
    fn furniture_names() {
        for chrome in [
            "comment-list",
            "comments-area",
            "RelatedBlock-module_root",
            "DonationBlock-module_root",
            "sd-sharing-enabled",
            "share-buttons",
            "jp-relatedposts",
            "author-box",
            "dcr-most-viewed",
            "eu-cookie-compliance-banner",
            "newsletter-inline",
            "donate-box",
        ] {
            assert!(is_chrome_name(chrome), "{chrome}");
        }
        for content in [
            "commentary",
            "entry-content",
            "article__body",
            "socialism-history",
            "sharepoint",
        ] {
            assert!(!is_chrome_name(content), "{content}");
        }
    }

    #[test]
    fn dates_from_meta_names_readability_misses() {
        let page = PAGE.replace(
            "property=\"article:published_time\"",
            "name=\"dcterms.date\"",
        );
        let a = extract_article(&page, None).expect("article");
        assert_eq!(
            a.published.map(|d| d.to_rfc3339()),
            Some("2026-03-18T06:30:12+01:00".to_string())
        );
        let page = PAGE
            .replace(
                "<meta property=\"article:published_time\" content=\"2026-03-18T06:30:12+01:00\">",
                "",
            )
            .replace(
                "<p class=\"byline\">",
                "<p class=\"byline\"><time datetime=\"2026-03-19\">19 March</time> ",
            );
        let a = extract_article(&page, None).expect("article");
        assert_eq!(
            a.published.map(|d| d.date_naive().to_string()),
            Some("2026-03-19".to_string())
        );
    }

    #[test]
    fn a_bad_url_is_ignored_and_an_empty_page_is_an_error() {
        assert!(extract_article(PAGE, Some("not a url")).is_ok());
        assert!(matches!(
            extract_article(
                "<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav></body></html>",
                None
            ),
            Err(ExtractError::NoContent)
        ));
    }

    #[test]
    fn teasers() {
        assert!(is_teaser(&paras(&["Title", "Short summary."])));
        let long = "word ".repeat(80);
        assert!(!is_teaser(&paras(&["Title", long.trim()])));
        for end in [
            " […]",
            " [...]",
            "…",
            " Read more",
            " Continue reading →",
            " Читать далее",
        ] {
            let p = format!("{}{end}", long.trim());
            assert!(is_teaser(&paras(&["Title", &p])), "{end}");
        }
        assert!(is_teaser(&[]));
    }

    #[test]
    fn extracted_text_wins_only_when_longer() {
        let feed = paras(&["Title", "One two three [...]"]);
        assert!(prefer_extracted(
            &feed,
            &paras(&["One two three four five six"])
        ));
        assert!(!prefer_extracted(&feed, &paras(&["One two"])));
    }

    #[test]
    fn word_scores() {
        let s = score::word_prf("a b c d", "a b x");
        assert!((s.precision - 2.0 / 3.0).abs() < 1e-9);
        assert!((s.recall - 0.5).abs() < 1e-9);
        assert!((s.f1 - 4.0 / 7.0).abs() < 1e-9);
        assert_eq!(score::word_prf("a", "").f1, 0.0);
        assert_eq!(score::word_prf("A a", "a, A!").f1, 1.0);
    }
}
