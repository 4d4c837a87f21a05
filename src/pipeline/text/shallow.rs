//! Bounds how deeply a stranger's HTML nests before any HTML parser or tree walk sees it.
//!
//! Parsers build trees as deep as the markup asks, and the walks over them (ours, and those in
//! the extraction and Markdown crates) recurse once per level: 100,000 nested `<div>`s overflow
//! the stack, and the parser's own "in scope" checks make such a tree quadratic to build. So every
//! HTML text from outside passes through [`bound_depth`] first. It tokenizes just enough of the
//! markup (tags, comments, raw-text elements, quoted attributes) to track the open elements;
//! start tags beyond [`MAX_DEPTH`] are dropped together with their end tags, and their text is
//! kept. A document that never nests that deeply comes back untouched, without a copy.
//!
//! It is not a parser and does not try to be one: elements the HTML parser closes implicitly
//! (`p`, `li`, table cells, …) and void elements are not counted, so it never drops a tag of a
//! document a browser would nest less deeply than the limit.

use std::borrow::Cow;
use std::collections::HashMap;

/// The deepest element nesting kept. Real pages stay well below 100.
pub const MAX_DEPTH: usize = 192;

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "keygen", "frame", "basefont", "bgsound",
];

/// Elements whose end tag the parser implies: a run of them does not nest.
const IMPLIED_END: &[&str] = &[
    "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "tbody", "thead", "tfoot",
    "colgroup", "caption", "rb", "rt", "rtc", "rp",
];

/// Elements whose content is text up to their end tag.
const RAW_TEXT: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript",
];

enum Token {
    /// Text, comments, doctypes: copied.
    Other,
    Start {
        name: String,
        nests: bool,
    },
    End {
        name: String,
    },
}

/// Splits `html` at `pos` (a `<`) into the next token and the position after it.
fn token(html: &str, pos: usize) -> (Token, usize) {
    let bytes = html.as_bytes();
    let rest = &html[pos..];
    if let Some(comment) = rest.strip_prefix("<!--") {
        let end = comment.find("-->").map_or(html.len(), |i| pos + 4 + i + 3);
        return (Token::Other, end);
    }
    if rest.starts_with("<!") || rest.starts_with("<?") {
        let end = rest.find('>').map_or(html.len(), |i| pos + i + 1);
        return (Token::Other, end);
    }
    let (closing, name_start) = if rest.starts_with("</") {
        (true, pos + 2)
    } else {
        (false, pos + 1)
    };
    if !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
        return (Token::Other, pos + 1);
    }
    let mut i = name_start;
    while i < bytes.len()
        && !matches!(
            bytes[i],
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>'
        )
    {
        i += 1;
    }
    let name = html[name_start..i].to_ascii_lowercase();
    // The end of the tag, skipping quoted attribute values.
    let mut quote: Option<u8> = None;
    let mut self_closing = false;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => {
                self_closing = i > 0 && bytes[i - 1] == b'/';
                i += 1;
                break;
            }
            None => {}
        }
        i += 1;
    }
    if closing {
        return (Token::End { name }, i);
    }
    if RAW_TEXT.contains(&name.as_str()) && !self_closing {
        // Skip to the matching end tag; its content is not markup.
        let close = format!("</{name}");
        let end = find_ascii_ci(&html[i..], &close).map_or(html.len(), |j| {
            let after = i + j;
            html[after..]
                .find('>')
                .map_or(html.len(), |k| after + k + 1)
        });
        return (Token::Other, end);
    }
    let nests =
        !self_closing && !VOID.contains(&name.as_str()) && !IMPLIED_END.contains(&name.as_str());
    (Token::Start { name, nests }, i)
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let h = haystack.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Open elements as the bound tracks them.
#[derive(Default)]
struct Open {
    stack: Vec<String>,
    counts: HashMap<String, usize>,
}

impl Open {
    fn push(&mut self, name: String) {
        *self.counts.entry(name.clone()).or_default() += 1;
        self.stack.push(name);
    }

    /// Pops up to and including the innermost `name`; returns the depth it stood at, or `None`
    /// (nothing popped) when no such element is open.
    fn close(&mut self, name: &str) -> Option<usize> {
        if self.counts.get(name).copied().unwrap_or(0) == 0 {
            return None;
        }
        while let Some(top) = self.stack.pop() {
            if let Some(c) = self.counts.get_mut(&top) {
                *c = c.saturating_sub(1);
            }
            if top == name {
                return Some(self.stack.len());
            }
        }
        None
    }
}

/// How deeply `html` nests, as the bound counts it.
fn depth(html: &str) -> usize {
    let mut open = Open::default();
    let mut deepest = 0;
    let mut pos = 0;
    while let Some(i) = html[pos..].find('<') {
        let (t, next) = token(html, pos + i);
        match t {
            Token::Start { name, nests: true } => {
                open.push(name);
                deepest = deepest.max(open.stack.len());
                if deepest > MAX_DEPTH {
                    return deepest;
                }
            }
            Token::End { name } => {
                open.close(&name);
            }
            _ => {}
        }
        pos = next;
    }
    deepest
}

/// `html` with start tags nested deeper than [`MAX_DEPTH`] (and their end tags) removed.
pub fn bound_depth(html: &str) -> Cow<'_, str> {
    if depth(html) <= MAX_DEPTH {
        return Cow::Borrowed(html);
    }
    let mut out = String::with_capacity(html.len());
    let mut open = Open::default();
    let mut pos = 0;
    while let Some(i) = html[pos..].find('<') {
        let at = pos + i;
        out.push_str(&html[pos..at]);
        let (t, next) = token(html, at);
        let keep = match t {
            Token::Start { name, nests: true } => {
                let kept = open.stack.len() < MAX_DEPTH;
                open.push(name);
                kept
            }
            Token::End { name } => open.close(&name).is_none_or(|d| d < MAX_DEPTH),
            _ => true,
        };
        if keep {
            out.push_str(&html[at..next]);
        }
        pos = next;
    }
    out.push_str(&html[pos..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shallow_markup_is_returned_as_it_is() {
        let cases = [
            "",
            "plain text < not a tag",
            "<p>a<p>b<p>c</p>",
            "<div><script>if (a < b) { x = '</div>'; }</script></div>",
            "<!-- <div><div> --><br/><img src='>'>",
        ];
        for html in cases {
            assert!(matches!(bound_depth(html), Cow::Borrowed(_)), "{html}");
        }
        // Thousands of paragraphs and list items without end tags do not nest.
        let flat = "<ul>".to_string() + &"<li><p>item".repeat(5000) + "</ul>";
        assert!(matches!(bound_depth(&flat), Cow::Borrowed(_)));
    }

    #[test]
    fn deep_markup_is_cut_at_the_limit_and_keeps_its_text() {
        let n = 100_000;
        let html = format!(
            "<p>start</p>{}deep text{}<p>end</p>",
            "<div>".repeat(n),
            "</div>".repeat(n)
        );
        let out = bound_depth(&html);
        assert_eq!(out.matches("<div>").count(), MAX_DEPTH);
        assert_eq!(out.matches("</div>").count(), MAX_DEPTH);
        assert!(out.contains("deep text") && out.contains("<p>end</p>"));
        assert_eq!(depth(&out), MAX_DEPTH);
        // Unclosed, mixed-case and with attributes holding `>`.
        let html = "<DIV class='a>b'>".repeat(1000) + "x";
        let out = bound_depth(&html);
        assert_eq!(out.matches("<DIV").count(), MAX_DEPTH);
        assert!(out.ends_with('x'));
    }

    #[test]
    fn stray_end_tags_cost_nothing_and_change_nothing() {
        let html = "</div>".repeat(50_000) + "<b>x</b>";
        assert!(matches!(bound_depth(&html), Cow::Borrowed(_)));
    }
}
