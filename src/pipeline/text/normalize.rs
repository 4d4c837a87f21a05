//! Entry HTML → the corpus's plain text: one line per paragraph, paragraphs separated by one
//! blank line.
//!
//! html5ever (through `scraper`) parses the markup the way a browser would, so broken feed HTML
//! still yields the text a reader sees. The walk below only decides where paragraphs break and
//! which subtrees are not article text; it never wraps lines, because records are consumed by
//! tools, not terminals.

use ego_tree::NodeRef;
use scraper::{Html, Node};

use crate::model::entry::Entry;

/// Elements whose content is never article text.
const DROPPED: &[&str] = &[
    "script", "style", "iframe", "img", "noscript", "svg", "object", "embed", "video", "audio",
    "canvas", "form", "button", "input", "select", "textarea", "template", "picture", "source",
    "track", "map", "area", "link", "meta", "head", "title",
];

/// Elements that start and end a paragraph.
pub(crate) const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "caption",
    "center",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "legend",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "tfoot",
    "thead",
    "tr",
    "ul",
    "body",
    "html",
];

/// Class-name fragments of page chrome that sites embed in feed content (newsletter sign-up
/// boxes, share bars, related-post widgets).
pub(crate) const CHROME_CLASSES: &[&str] =
    &["newsletter", "sharedaddy", "jp-relatedposts", "addtoany"];

/// The normalized text of an entry: its paragraphs, title first.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub title: Option<String>,
    pub paragraphs: Vec<String>,
}

impl Normalized {
    /// Paragraphs joined by one blank line, as stored in `entries.content_text`.
    pub fn text(&self) -> String {
        self.paragraphs.join("\n\n")
    }
}

/// Normalizes an entry: body to paragraphs, trailer removed, title as first paragraph unless the
/// body already begins with it.
pub fn normalize_entry(entry: &Entry) -> Normalized {
    let title = entry
        .title
        .as_deref()
        .map(inline_text)
        .filter(|t| !t.is_empty());
    let mut paragraphs = match &entry.body {
        Some(b) if b.is_html => html_paragraphs(&b.text),
        Some(b) => plain_paragraphs(&b.text),
        None => Vec::new(),
    };
    strip_wordpress_trailer(&mut paragraphs);
    if let Some(t) = &title {
        let starts_with_title = paragraphs.first().is_some_and(|first| same_text(first, t));
        if !starts_with_title {
            paragraphs.insert(0, t.clone());
        }
    }
    Normalized { title, paragraphs }
}

/// Text of a short HTML snippet such as a title: entities decoded, tags dropped, one line.
pub fn inline_text(html: &str) -> String {
    html_paragraphs(html).join(" ")
}

/// HTML → paragraphs.
pub fn html_paragraphs(html: &str) -> Vec<String> {
    let doc = Html::parse_fragment(&crate::pipeline::text::shallow::bound_depth(html));
    let mut w = Walker::default();
    w.walk(doc.tree.root());
    w.end_paragraph();
    w.paragraphs
}

/// A paragraph with the share of its characters that sit inside links.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedParagraph {
    pub text: String,
    /// Non-space characters inside `<a>` divided by all non-space characters, 0.0–1.0.
    pub link_density: f64,
}

/// HTML → paragraphs as [`html_paragraphs`] makes them, each with its link density: lines made
/// only of links (menus, "related" lists) are chrome in extracted page content.
pub fn html_paragraphs_with_links(html: &str) -> Vec<LinkedParagraph> {
    let doc = Html::parse_fragment(&crate::pipeline::text::shallow::bound_depth(html));
    let mut w = Walker::default();
    w.walk(doc.tree.root());
    w.end_paragraph();
    w.paragraphs
        .into_iter()
        .zip(w.stats)
        .map(|(text, (link, all))| LinkedParagraph {
            text,
            link_density: if all == 0 {
                0.0
            } else {
                link as f64 / all as f64
            },
        })
        .collect()
}

/// Plain text → paragraphs: blank lines separate paragraphs, other whitespace collapses.
pub fn plain_paragraphs(text: &str) -> Vec<String> {
    let mut w = Walker::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            w.end_paragraph();
        } else {
            w.push_text(line);
            w.pending_space = true;
        }
    }
    w.end_paragraph();
    w.paragraphs
}

#[derive(Default)]
struct Walker {
    paragraphs: Vec<String>,
    current: String,
    pending_space: bool,
    /// Per paragraph: (non-space chars inside links, all non-space chars).
    stats: Vec<(usize, usize)>,
    link_depth: usize,
    current_stats: (usize, usize),
}

impl Walker {
    fn walk(&mut self, node: NodeRef<'_, Node>) {
        match node.value() {
            Node::Text(t) => self.push_text(t),
            Node::Element(el) => {
                let name = el.name();
                if DROPPED.contains(&name) || is_chrome(el) {
                    return;
                }
                if name == "br" {
                    self.end_paragraph();
                    return;
                }
                let block = BLOCKS.contains(&name);
                let cell = matches!(name, "td" | "th");
                let link = name == "a";
                if link {
                    self.link_depth += 1;
                }
                if block {
                    self.end_paragraph();
                } else if cell {
                    self.pending_space = true;
                }
                for child in node.children() {
                    self.walk(child);
                }
                if block {
                    self.end_paragraph();
                } else if cell {
                    self.pending_space = true;
                }
                if link {
                    self.link_depth -= 1;
                }
            }
            Node::Document | Node::Fragment => {
                for child in node.children() {
                    self.walk(child);
                }
            }
            _ => {}
        }
    }

    fn push_text(&mut self, text: &str) {
        for c in text.chars() {
            if is_space(c) {
                self.pending_space = true;
            } else if is_invisible(c) {
                continue;
            } else {
                if self.pending_space && !self.current.is_empty() {
                    self.current.push(' ');
                }
                self.pending_space = false;
                self.current.push(c);
                self.current_stats.1 += 1;
                if self.link_depth > 0 {
                    self.current_stats.0 += 1;
                }
            }
        }
    }

    fn end_paragraph(&mut self) {
        let p = self.current.trim();
        if !p.is_empty() {
            self.paragraphs.push(p.to_string());
            self.stats.push(self.current_stats);
        }
        self.current_stats = (0, 0);
        self.current.clear();
        self.pending_space = false;
    }
}

fn is_chrome(el: &scraper::node::Element) -> bool {
    el.classes().any(|c| {
        CHROME_CLASSES
            .iter()
            .any(|chrome| c.to_ascii_lowercase().contains(chrome))
    })
}

/// Every Unicode space, including the non-breaking ones editors scatter through text.
fn is_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{00A0}' | '\u{202F}' | '\u{2007}' | '\u{FEFF}')
}

/// Characters that render as nothing: zero-width space, soft hyphen, word joiner.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{00AD}' | '\u{2060}') || (c.is_control() && c != '\t')
}

/// WordPress appends "The post <title> appeared first on <site>." to feed content.
fn strip_wordpress_trailer(paragraphs: &mut Vec<String>) {
    while paragraphs
        .last()
        .is_some_and(|p| p.starts_with("The post ") && p.contains(" appeared first on "))
    {
        paragraphs.pop();
    }
}

/// Equal ignoring case, spacing and surrounding punctuation.
pub(crate) fn same_text(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let (a, b) = (norm(a), norm(b));
    !a.is_empty() && a == b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entry::Body;

    #[test]
    fn blocks_inline_entities_and_spaces() {
        let html = "<p>One&nbsp;two <em>three</em>,\n  four</p><h2>Head</h2><ul><li>a</li><li>b <a href='x'>link</a></li></ul>\
                    <blockquote>quote</blockquote><p>157<sup>th</sup> &amp; &#8220;q&#8221;</p>";
        assert_eq!(
            html_paragraphs(html),
            vec![
                "One two three, four",
                "Head",
                "a",
                "b link",
                "quote",
                "157th & “q”"
            ]
        );
    }

    #[test]
    fn dropped_elements_and_chrome() {
        let html = "<p>Keep<img src=x alt='no'></p><script>var x=1;</script><style>p{}</style>\
                    <iframe src=y>frame</iframe><div class='hp-newsletter x'><span>Subscribe</span>\
                    <form><input><button>Go</button></form></div><p>End</p>";
        assert_eq!(html_paragraphs(html), vec!["Keep", "End"]);
    }

    #[test]
    fn br_splits_and_broken_markup_is_tolerated() {
        assert_eq!(
            html_paragraphs("<p>a<br>b<br/><br/>c</p><p>unclosed <b>bold"),
            vec!["a", "b", "c", "unclosed bold"]
        );
        assert_eq!(
            html_paragraphs("<table><tr><td>x</td><td>y</td></tr><tr><td>z</td></tr></table>"),
            vec!["x y", "z"]
        );
    }

    fn entry(title: &str, body: &str) -> Entry {
        Entry {
            key: "k".into(),
            guid: None,
            url: None,
            title: Some(title.into()),
            author: None,
            published: None,
            updated: None,
            body: Some(Body {
                text: body.into(),
                is_html: true,
            }),
        }
    }

    #[test]
    fn title_is_first_paragraph_once() {
        let n = normalize_entry(&entry("Big news", "<p>Body.</p>"));
        assert_eq!(n.paragraphs, vec!["Big news", "Body."]);
        let n = normalize_entry(&entry(
            "Moscow&#8217;s parade",
            "<p><a href='u'>Moscow’s parade</a></p><p>Body.</p>",
        ));
        assert_eq!(n.paragraphs, vec!["Moscow’s parade", "Body."]);
        assert_eq!(n.title.as_deref(), Some("Moscow’s parade"));
    }

    #[test]
    fn wordpress_trailer_is_removed() {
        let n = normalize_entry(&entry(
            "T",
            "<p>Body.</p><p>The post <a href='u'>T</a> appeared first on <a href='s'>Site</a>.</p>",
        ));
        assert_eq!(n.text(), "T\n\nBody.");
    }

    #[test]
    fn plain_bodies_keep_their_paragraphs() {
        assert_eq!(
            plain_paragraphs("line one\nline two\n\n\n  second   para \n"),
            vec!["line one line two", "second para"]
        );
    }

    #[test]
    fn link_density_per_paragraph() {
        let ps = html_paragraphs_with_links(
            "<p>Plain text here</p><ul><li><a href='/x'>Menu item</a></li></ul><p>Half <a href='y'>link</a></p>",
        );
        let texts: Vec<&str> = ps.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(
            texts,
            html_paragraphs(
                "<p>Plain text here</p><ul><li><a href='/x'>Menu item</a></li></ul><p>Half <a href='y'>link</a></p>"
            )
        );
        assert_eq!(ps[0].link_density, 0.0);
        assert_eq!(ps[1].link_density, 1.0);
        assert!(
            (ps[2].link_density - 4.0 / 8.0).abs() < 1e-9,
            "{}",
            ps[2].link_density
        );
    }

    #[test]
    fn invisible_characters_go() {
        assert_eq!(inline_text("a\u{200B}b\u{00AD}c\u{00A0}d"), "abc d");
    }
}
