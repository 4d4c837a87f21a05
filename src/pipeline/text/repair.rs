//! Text as its authors meant it: damage done upstream of the feed, undone where that is
//! unambiguous.
//!
//! Two kinds of damage survive every correct decoder because they happened at the source:
//! - **Mojibake**: UTF-8 bytes read as windows-1252 (or Latin-1) somewhere in the publisher's
//!   chain and stored that way, so `haven’t` arrives as `havenâ€™t`, `Café` as `CafÃ©` and
//!   `Привет` as `ÐŸÑ€Ð¸Ð²ÐµÑ‚`. [`mojibake`] maps each run of non-ASCII characters back to the
//!   bytes they were read from and reads those as UTF-8, the way Python pipelines use ftfy.
//! - **HTML escaped twice**: some feeds (Reddit's) escape their HTML once more than XML needs,
//!   so the markup arrives as text. [`unescape_twice_escaped`] undoes one level when the body
//!   is escaped markup and nothing else.
//!
//! Pure functions of text; never touch text that is already right (the tables below hold the
//! cases that must stay unchanged).

use std::borrow::Cow;

use crate::model::entry::{Body, Entry};
use crate::pipeline::text::normalize::BLOCKS;

/// The byte windows-1252 (or, for U+0080–U+009F, Latin-1) maps to `c`, if any.
fn cp1252_byte(c: char) -> Option<u8> {
    let u = u32::from(c);
    if u < 0x80 {
        return None;
    }
    if u <= 0xFF {
        return u8::try_from(u).ok();
    }
    let b = match c {
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '\u{2018}' => 0x91,
        '\u{2019}' => 0x92,
        '\u{201C}' => 0x93,
        '\u{201D}' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        _ => return None,
    };
    Some(b)
}

/// Scripts and symbols a repaired character may be. A two-byte sequence read back from
/// Latin text by accident lands mostly elsewhere (Syriac, Thaana, N'Ko: `Ü…` would be U+0705).
fn plausible(c: char) -> bool {
    matches!(u32::from(c),
        0x00A0..=0x052F // Latin-1, Latin Extended, IPA, Greek, Cyrillic
        | 0x0590..=0x06FF // Hebrew, Arabic
        | 0x0900..=0x0E7F // Indic scripts, Thai
        | 0x10A0..=0x10FF // Georgian
        | 0x1E00..=0x1FFF // Latin Extended Additional, Greek Extended
        | 0x2000..=0x2BFF // punctuation, currency, letterlike, arrows, math, shapes
        | 0x3000..=0x9FFF // CJK
        | 0xAC00..=0xD7AF // Hangul
        | 0xFF00..=0xFFEF // full-width forms
        | 0x1F000..=0x1FAFF // emoji
    )
}

/// Length of the UTF-8 sequence `lead` begins (2–4), or `None` when it begins none.
fn sequence_len(lead: u8) -> Option<usize> {
    match lead {
        0xC2..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF4 => Some(4),
        _ => None,
    }
}

/// One repaired character and how many input characters it replaces.
fn repair_at(chars: &[char]) -> Option<(char, usize)> {
    let lead = cp1252_byte(*chars.first()?)?;
    let len = sequence_len(lead)?;
    let mut bytes = [0u8; 4];
    for (i, c) in chars.get(..len)?.iter().enumerate() {
        *bytes.get_mut(i)? = cp1252_byte(*c)?;
    }
    let s = std::str::from_utf8(bytes.get(..len)?).ok()?;
    let c = s.chars().next()?;
    plausible(c).then_some((c, len))
}

/// Whether a sequence is mojibake beyond doubt: a three- or four-byte one (`â€™`), or one led by
/// `Ã`, `Â`, `Ð` or `Ñ` (`Ã©`, `Â°`, `Ð¿`), which no language writes before such characters.
fn is_telltale(chars: &[char], len: usize) -> bool {
    len >= 3 || matches!(chars.first(), Some('Ã' | 'Â' | 'Ð' | 'Ñ'))
}

/// Repairs UTF-8 that was read as windows-1252 or Latin-1 (once or several times over). Text
/// without an unmistakable sign of it (see [`is_telltale`]) is returned as it is, so rarer
/// pairs that could be real text (`Ä…` is Polish `ą` garbled, but also German before an
/// ellipsis) are only repaired in text that is garbled anyway.
pub fn mojibake(text: &str) -> Cow<'_, str> {
    let mut current: Cow<'_, str> = Cow::Borrowed(text);
    // Text garbled twice is repaired in two rounds; three bound the work.
    for _ in 0..3 {
        match repair_once(&current) {
            Some(fixed) => current = Cow::Owned(fixed),
            None => break,
        }
    }
    current
}

/// Whether some character pair could begin a garbled sequence (a lead byte's character before
/// a continuation byte's): the cheap test that lets right text through without allocating.
fn has_candidate(text: &str) -> bool {
    let mut prev_lead = false;
    for c in text.chars() {
        let b = cp1252_byte(c);
        if prev_lead && b.is_some_and(|b| (0x80..=0xBF).contains(&b)) {
            return true;
        }
        prev_lead = b.is_some_and(|b| (0xC2..=0xF4).contains(&b));
    }
    false
}

fn repair_once(text: &str) -> Option<String> {
    if text.is_ascii() || !has_candidate(text) {
        return None;
    }
    let chars: Vec<char> = text.chars().collect();
    let mut telltale = false;
    let mut i = 0;
    while let Some(rest) = chars.get(i..).filter(|r| !r.is_empty()) {
        match repair_at(rest) {
            Some((_, len)) => {
                telltale |= is_telltale(rest, len);
                i += len;
            }
            None => i += 1,
        }
        if telltale {
            break;
        }
    }
    if !telltale {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(rest) = chars.get(i..).filter(|r| !r.is_empty()) {
        match repair_at(rest) {
            Some((c, len)) => {
                out.push(c);
                i += len;
            }
            None => {
                out.extend(rest.first());
                i += 1;
            }
        }
    }
    Some(out)
}

/// An entry with its title, author and body repaired ([`mojibake`], [`unescape_twice_escaped`]);
/// borrowed as it is when nothing needed it (the common case costs one scan per field).
pub fn entry(e: &Entry) -> Cow<'_, Entry> {
    let title = e.title.as_deref().map(mojibake);
    let author = e.author.as_deref().map(mojibake);
    let body = e.body.as_ref().map(|b| {
        let text = mojibake(&b.text);
        match b.is_html.then(|| unescape_twice_escaped(&text)).flatten() {
            Some(once) => Cow::Owned(once),
            None => text,
        }
    });
    let owned = |c: &Option<Cow<'_, str>>| matches!(c, Some(Cow::Owned(_)));
    if !(owned(&title) || owned(&author) || owned(&body)) {
        return Cow::Borrowed(e);
    }
    let text = |c: Option<Cow<'_, str>>| c.map(Cow::into_owned);
    Cow::Owned(Entry {
        title: text(title),
        author: text(author),
        body: text(body).zip(e.body.as_ref()).map(|(text, b)| Body {
            text,
            is_html: b.is_html,
        }),
        ..e.clone()
    })
}

/// Inline elements whose escaped form (`&lt;em&gt;`) marks a body as HTML escaped twice, beside
/// the block elements ([`BLOCKS`]).
const INLINE_TAGS: &[&str] = &[
    "br", "a", "span", "img", "em", "strong", "b", "i", "u", "sup", "sub", "code", "td", "th",
];

fn is_html_tag(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    BLOCKS.contains(&name.as_str()) || INLINE_TAGS.contains(&name.as_str())
}

/// The element name at the start of what follows a `<` (an end tag's `/` skipped), and the rest.
fn tag_name(after_lt: &str) -> (&str, &str) {
    let name_part = after_lt.strip_prefix('/').unwrap_or(after_lt);
    let end = name_part
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(name_part.len());
    name_part.split_at(end)
}

/// Counts escaped tags (`&lt;p&gt;`, `&lt;/div&gt;`, `&lt;a href=…`, `&lt;!-- … --&gt;`) in `html`.
fn escaped_tags(html: &str) -> usize {
    let mut n = 0;
    let mut rest = html;
    while let Some(i) = rest.find("&lt;") {
        rest = &rest[i + "&lt;".len()..];
        if rest.starts_with("!--") {
            n += 1;
            continue;
        }
        let (name, after) = tag_name(rest);
        let closes = after.starts_with("&gt;")
            || after.starts_with(' ')
            || after.starts_with('/')
            || after.starts_with("&#");
        if closes && is_html_tag(name) {
            n += 1;
        }
    }
    n
}

/// Counts real block tags (`<p>`, `</div>`: [`BLOCKS`]) in `html`. Inline links and line
/// breaks do not count (Reddit appends real `<a>submitted by</a>` links to its twice-escaped
/// body).
fn real_tags(html: &str) -> usize {
    let mut n = 0;
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if BLOCKS.contains(&tag_name(rest).0.to_ascii_lowercase().as_str()) {
            n += 1;
        }
    }
    n
}

/// A body whose markup was escaped twice, escaped once: `&lt;p&gt;Hi&lt;/p&gt;` →
/// `<p>Hi</p>`. Only when escaped tags are the body's markup (at least two, and at least twice
/// as many as real block tags), so an article that shows `&lt;div&gt;` in its text or in a code
/// sample keeps it. `None` when the body is not escaped twice.
pub fn unescape_twice_escaped(html: &str) -> Option<String> {
    let escaped = escaped_tags(html);
    if escaped < 2 || real_tags(html) * 2 > escaped {
        return None;
    }
    Some(
        html.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mojibake_is_repaired() {
        let cases = [
            // French, double-encoded at the source.
            (
                "CafÃ© crÃ¨me, Ã‰lections Ã\u{A0} MontrÃ©al",
                "Café crème, Élections à Montréal",
            ),
            ("Å“ufs et Ã§a", "œufs et ça"),
            // Typographic quotes and dashes (three-byte sequences).
            ("havenâ€™t", "haven’t"),
            ("â€œenfinâ€\u{9D} â€” dit-il", "“enfin” — dit-il"),
            ("Read moreâ€¦", "Read more…"),
            // Cyrillic.
            ("ÐŸÑ€Ð¸Ð²ÐµÑ‚, Ð¼Ð¸Ñ€! Ð’Ñ‘Ð»ÐºÐ¸", "Привет, мир! Вёлки"),
            // Latin-1 rather than windows-1252 (C1 controls for the continuation bytes).
            ("Ã\u{89}tÃ©", "Été"),
            // Garbled twice.
            ("havenÃ¢â‚¬â„¢t", "haven’t"),
            // A weaker pair repaired because the text is garbled anyway.
            ("WÅ‚odzimierz i Ä… â€” ok", "Włodzimierz i ą — ok"),
            // Right and garbled side by side.
            ("déjà vu, CafÃ©", "déjà vu, Café"),
            ("°C â€“ 5 Â°C", "°C – 5 °C"),
            // Emoji.
            ("ðŸ˜€ ok", "😀 ok"),
        ];
        for (garbled, want) in cases {
            assert_eq!(mojibake(garbled), want, "{garbled}");
        }
    }

    #[test]
    fn right_text_is_left_alone() {
        let cases = [
            "Café crème, Élections à Montréal — « résultats » “enfin” haven’t…",
            "Привет, мир! Ёлки, ёжики и щи",
            "Grüße aus Köln: Straßenfest, Dänemark & Österreich",
            // Could be read back as UTF-8, but nothing shows it is garbled.
            "MÜ… BÄ… Øre",
            "ÉCOLE«",
            "naïve résumé 10 °C ±2 µm ½",
            "Ελληνικά, עברית, العربية, 中文, 한국어, हिन्दी",
            "plain ASCII",
            "",
        ];
        for text in cases {
            assert!(matches!(mojibake(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn twice_escaped_html_is_escaped_once() {
        let reddit = "&lt;!-- SC_OFF --&gt;&lt;div class=&quot;md&quot;&gt;&lt;p&gt;Is it \
                      &amp;quot;safe&amp;quot;?&lt;/p&gt;&lt;/div&gt;&lt;!-- SC_ON --&gt; \
                      submitted by &lt;a href=&quot;https://e.com/u&quot;&gt; /u/x &lt;/a&gt;";
        assert_eq!(
            unescape_twice_escaped(reddit).as_deref(),
            Some(
                "<!-- SC_OFF --><div class=\"md\"><p>Is it &quot;safe&quot;?</p></div><!-- SC_ON --> \
                 submitted by <a href=\"https://e.com/u\"> /u/x </a>"
            )
        );
        // Real inline links beside it, as Reddit writes them.
        let mixed = "&lt;!-- SC_OFF --&gt;&lt;div class=&quot;md&quot;&gt;&lt;p&gt;A joke&lt;/p&gt; \
                     &lt;/div&gt;&lt;!-- SC_ON --&gt; submitted by<a href=\"https://e.com/u\">u</a>to\
                     <a href=\"https://e.com/r\">r</a><br/><a href=\"https://e.com/c\">[link]</a>\
                     <a href=\"https://e.com/c\">[89 comments]</a>";
        assert!(
            unescape_twice_escaped(mixed)
                .is_some_and(|h| h.starts_with("<!-- SC_OFF --><div class=\"md\"><p>A joke</p>"))
        );
        let wrapped = "<p>&lt;p&gt;One&lt;/p&gt;&lt;p&gt;Two&lt;/p&gt;&lt;br/&gt;</p>";
        assert_eq!(
            unescape_twice_escaped(wrapped).as_deref(),
            Some("<p><p>One</p><p>Two</p><br/></p>")
        );
        for fine in [
            "<p>Use the &lt;div&gt; element for blocks.</p>",
            "<p>Example:</p><pre><code>&lt;div&gt;&lt;p&gt;Hi&lt;/p&gt;&lt;/div&gt;</code></pre>",
            "<p>a &lt; b and c &gt; d</p>",
            "A plain &lt;3 text",
            "&lt;divider&gt; &lt;param&gt;",
        ] {
            assert_eq!(unescape_twice_escaped(fine), None, "{fine}");
        }
    }
}
