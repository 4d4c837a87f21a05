//! The Markdown record form (seed 002's shape):
//!
//! ```text
//! (blank)
//! (blank)
//! # Title
//! (blank)
//! By [Author](#)
//! (blank)
//! December 28, 2022
//! (blank)
//! (blank)
//! (blank)
//! First paragraph, with [links](https://…) and **bold** / *italic*.
//! (blank)
//! …
//! (blank)
//! Original url:
//! (blank)
//! <https://…>
//! ```
//!
//! with no newline after the closing `>`. Links keep their real, absolute targets (relative ones
//! are resolved against the entry's URL): a `#` placeholder as in the seed would throw away the
//! one thing Markdown adds over the text form. The author has no page in feeds, so the byline
//! keeps the seed's `(#)`. Without an author the byline line and its blank line are left out.
//!
//! dom_query (already in the tree through dom_smoothie) serializes HTML to Markdown; this module
//! cleans the HTML first (the same chrome the text form drops) and lays out the record.

use chrono::{DateTime, FixedOffset};
use dom_query::Document;

use crate::pipeline::text::boilerplate::is_rule_boilerplate;
use crate::pipeline::text::normalize::{CHROME_CLASSES, inline_text, same_text};

/// Elements whose content is not article text in either record form.
const DROPPED: &str = "script, style, iframe, img, noscript, svg, object, embed, video, audio, canvas, \
    form, button, input, select, textarea, template, picture, source, track, map, area, link, meta, \
    head, title";

/// Block elements whose text alone decides whether they are boilerplate.
const BLOCKS: &str = "p, li, h1, h2, h3, h4, h5, h6, blockquote, figcaption, dt, dd, pre";

/// Renders an entry in the Markdown record form. Paragraphs the fixed boilerplate rules
/// recognise are left out, as is a first paragraph that repeats the title.
pub fn render_markdown(
    title: &str,
    author: Option<&str>,
    published: DateTime<FixedOffset>,
    body_html: &str,
    url: &str,
) -> String {
    render_markdown_with(title, author, published, body_html, url, &|p| {
        !is_rule_boilerplate(p)
    })
}

/// [`render_markdown`] with the caller's paragraph filter: `keep` gets each block's plain text
/// (normalized as in the text form) and says whether it stays. Pass a feed's learned
/// [`BoilerplateModel`](crate::pipeline::text::boilerplate::BoilerplateModel) and strip patterns through it so
/// both record forms lose the same lines.
pub fn render_markdown_with(
    title: &str,
    author: Option<&str>,
    published: DateTime<FixedOffset>,
    body_html: &str,
    url: &str,
    keep: &dyn Fn(&str) -> bool,
) -> String {
    let title = inline_text(title);
    let body = body_markdown(body_html, url, &title, keep);
    let mut out = String::from("\n\n# ");
    out.push_str(&title);
    out.push_str("\n\n");
    if let Some(a) = author.map(inline_text).filter(|a| !a.is_empty()) {
        out.push_str(&format!("By [{}](#)\n\n", escape_link_text(&a)));
    }
    out.push_str(&published.format("%B %-d, %Y").to_string());
    out.push_str("\n\n\n\n");
    if !body.is_empty() {
        out.push_str(&body);
        out.push_str("\n\n");
    }
    out.push_str("Original url:\n\n<");
    out.push_str(url);
    out.push('>');
    out
}

fn escape_link_text(s: &str) -> String {
    s.replace('[', "\\[").replace(']', "\\]")
}

/// The body as Markdown paragraphs separated by one blank line.
fn body_markdown(html: &str, base: &str, title: &str, keep: &dyn Fn(&str) -> bool) -> String {
    let doc = Document::fragment(crate::pipeline::text::shallow::bound_depth(html).as_ref());
    doc.select(DROPPED).remove();
    for el in doc.select("[class]").nodes() {
        let class = el.attr("class").map(|c| c.to_ascii_lowercase());
        if class.is_some_and(|c| CHROME_CLASSES.iter().any(|k| c.contains(k))) {
            el.remove_from_parent();
        }
    }
    let base = url::Url::parse(base).ok();
    for a in doc.select("a[href]").nodes() {
        let href = a.attr("href").map(|h| h.to_string()).unwrap_or_default();
        let absolute = base
            .as_ref()
            .and_then(|b| b.join(href.trim()).ok())
            .map(|u| u.to_string());
        match absolute {
            Some(abs) if !href.trim().is_empty() => a.set_attr("href", &abs),
            _ => {}
        }
    }
    let mut first_block = true;
    for el in doc.select(BLOCKS).nodes() {
        // Only innermost blocks: a blockquote's paragraphs are judged one by one.
        if el
            .descendants()
            .iter()
            .any(|d| d.is_element() && is_block_name(d.node_name().as_deref()))
        {
            continue;
        }
        let text = inline_text(&el.html());
        let repeats_title = first_block && same_text(&text, title);
        if !text.is_empty() {
            first_block = false;
        }
        if repeats_title || (!text.is_empty() && !keep(&text)) {
            el.remove_from_parent();
        }
    }
    let md = doc.md(None);
    tidy(&md)
}

fn is_block_name(name: Option<&str>) -> bool {
    name.is_some_and(|n| {
        matches!(
            n,
            "p" | "li"
                | "h1"
                | "h2"
                | "h3"
                | "h4"
                | "h5"
                | "h6"
                | "blockquote"
                | "figcaption"
                | "dt"
                | "dd"
                | "pre"
                | "ul"
                | "ol"
                | "div"
                | "table"
        )
    })
}

/// Paragraphs on one line each, separated by exactly one blank line (a `<br>` inside a
/// paragraph renders as a space, as a Markdown soft break would); non-breaking and invisible
/// characters treated as in the text form.
fn tidy(md: &str) -> String {
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for line in md.lines() {
        let line: String = line
            .chars()
            .filter(|c| !matches!(c, '\u{200B}' | '\u{00AD}' | '\u{2060}'))
            .map(|c| {
                if matches!(c, '\u{00A0}' | '\u{202F}' | '\u{2007}') {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        let line = line.trim_end().trim_end_matches('\\').trim_end();
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(current.join(" "));
                current.clear();
            }
        } else {
            current.push(line.to_string());
        }
    }
    if !current.is_empty() {
        paragraphs.push(current.join(" "));
    }
    for p in paragraphs.iter_mut() {
        *p = unbold_heading(p);
    }
    paragraphs.join("\n\n")
}

/// `## **Heading**` → `## Heading`: editors bold whole headings, which Markdown headings are
/// already.
fn unbold_heading(p: &str) -> String {
    let hashes = p.chars().take_while(|c| *c == '#').count();
    if hashes == 0 || hashes > 6 {
        return p.to_string();
    }
    let (marks, rest) = p.split_at(hashes);
    let inner = rest.trim();
    match inner.strip_prefix("**").and_then(|i| i.strip_suffix("**")) {
        Some(text) if !text.contains("**") && !text.trim().is_empty() => {
            format!("{marks} {}", text.trim())
        }
        _ => p.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2022-12-28T10:00:00+03:00").expect("date")
    }

    #[test]
    fn layout_matches_the_seed_form() {
        let md = render_markdown(
            "Russia and Central Asia",
            Some("Temur Umarov"),
            date(),
            "<p>One <a href='/x'>link</a> and <strong>bold</strong> and <em>it</em>.</p><p>Two.</p>",
            "https://example.org/2022/12/28/a",
        );
        assert_eq!(
            md,
            "\n\n# Russia and Central Asia\n\nBy [Temur Umarov](#)\n\nDecember 28, 2022\n\n\n\n\
             One [link](https://example.org/x) and **bold** and *it*.\n\nTwo.\n\n\
             Original url:\n\n<https://example.org/2022/12/28/a>"
        );
    }

    #[test]
    fn chrome_title_repeat_and_trailer_are_left_out() {
        let md = render_markdown(
            "T",
            None,
            date(),
            "<p><a href='https://s/t'>T</a></p><p>Body.</p><p><strong>Faites un don à Novastan</strong></p>\
             <div class='sharedaddy'><p>Share</p></div><script>x()</script><p><img src=a.png>Last.</p>\
             <p>The post <a href='u'>T</a> appeared first on <a href='s'>Site</a>.</p>",
            "https://s/t",
        );
        assert_eq!(
            md,
            "\n\n# T\n\nDecember 28, 2022\n\n\n\nBody.\n\nLast.\n\nOriginal url:\n\n<https://s/t>"
        );
    }

    #[test]
    fn headings_lose_redundant_bold() {
        assert_eq!(
            unbold_heading("## **Passport promises**"),
            "## Passport promises"
        );
        assert_eq!(unbold_heading("## **a** and **b**"), "## **a** and **b**");
        assert_eq!(unbold_heading("**not a heading**"), "**not a heading**");
    }

    #[test]
    fn caller_filter_applies() {
        let md = render_markdown_with(
            "T",
            None,
            date(),
            "<p>Keep me.</p><p>Drop me.</p>",
            "https://s/t",
            &|p| !p.starts_with("Drop"),
        );
        assert!(md.contains("Keep me.") && !md.contains("Drop me."), "{md}");
    }
}
