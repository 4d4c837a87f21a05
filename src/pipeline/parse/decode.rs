//! Feed bytes → UTF-8 text, before any XML parser sees them.
//!
//! XML parsers honour only the encoding declaration, but real feeds are served with the charset in
//! the HTTP header, with a byte-order mark, with a declaration that lies, or with no declaration
//! at all (Russian and Central Asian sites still serve windows-1251 and KOI8-R that way). The order
//! of evidence is the one browsers and lenient feed readers use: BOM, HTTP charset, XML
//! declaration; the first that decodes without errors wins, and byte-statistics detection
//! (chardetng) decides only when none does.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// Text decoded from a feed and the encoding it was read in.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub text: String,
    pub encoding: String,
}

/// A character encoding we can read: WHATWG ones through encoding_rs, plus what it leaves out
/// (UTF-32 and the DOS code pages other than 866).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Charset {
    Web(&'static Encoding),
    Utf32 { big_endian: bool },
    Dos(u16),
}

impl Charset {
    fn name(self) -> String {
        match self {
            Charset::Web(e) => e.name().to_string(),
            Charset::Utf32 { big_endian: true } => "UTF-32BE".into(),
            Charset::Utf32 { big_endian: false } => "UTF-32LE".into(),
            Charset::Dos(cp) => format!("IBM{cp}"),
        }
    }

    /// Wide encodings whose bytes are not ASCII-compatible; a label naming one is only
    /// believable when the bytes look like it.
    fn is_wide(self) -> bool {
        matches!(self, Charset::Utf32 { .. })
            || self == Charset::Web(UTF_16BE)
            || self == Charset::Web(UTF_16LE)
    }

    /// One byte per character: any byte string decodes, so decoding cleanly is no evidence.
    fn is_single_byte(self) -> bool {
        match self {
            Charset::Web(e) => e.is_single_byte(),
            Charset::Utf32 { .. } => false,
            Charset::Dos(_) => true,
        }
    }

    /// Strict decoding: `None` when any byte sequence is invalid in this encoding.
    fn decode_strict(self, bytes: &[u8]) -> Option<String> {
        match self {
            Charset::Web(e) => e
                .decode_without_bom_handling_and_without_replacement(bytes)
                .map(|c| c.into_owned()),
            Charset::Utf32 { big_endian } => decode_utf32(bytes, big_endian, false),
            Charset::Dos(cp) => oem_cp::code_table::DECODING_TABLE_CP_MAP
                .get(&cp)
                .and_then(|t| t.decode_string_checked(bytes)),
        }
    }

    fn decode_lossy(self, bytes: &[u8]) -> String {
        match self {
            Charset::Web(e) => e.decode_without_bom_handling(bytes).0.into_owned(),
            Charset::Utf32 { big_endian } => {
                decode_utf32(bytes, big_endian, true).unwrap_or_default()
            }
            Charset::Dos(cp) => oem_cp::code_table::DECODING_TABLE_CP_MAP
                .get(&cp)
                .map(|t| t.decode_string_lossy(bytes))
                .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned()),
        }
    }
}

/// Decodes a feed document. Never fails: when nothing decodes cleanly the most likely encoding
/// is used with replacement characters.
pub fn decode(bytes: &[u8], content_type: Option<&str>, feed_url: &str) -> Decoded {
    decode_declared(bytes, content_type, declared_encoding(bytes), feed_url)
}

/// Decodes an HTML page (an article page) by the same evidence, with `<meta charset>` (or
/// `http-equiv="Content-Type"`) in the first 1,024 bytes in place of the XML declaration.
pub fn decode_html(bytes: &[u8], content_type: Option<&str>, page_url: &str) -> Decoded {
    let declared = declared_encoding(bytes).or_else(|| meta_charset(bytes));
    decode_declared(bytes, content_type, declared, page_url)
}

fn decode_declared(
    bytes: &[u8],
    content_type: Option<&str>,
    declared: Option<String>,
    feed_url: &str,
) -> Decoded {
    let finish = |cs: Charset, text: String| Decoded {
        text: strip_bom(text),
        encoding: cs.name(),
    };

    // 1. A byte-order mark is unambiguous.
    if let Some((cs, len)) = bom(bytes) {
        let body = &bytes[len..];
        return finish(cs, cs.decode_lossy(body));
    }
    // Without a BOM, UTF-16/32 still shows in the zero bytes around the first `<`.
    let sniffed = sniff_wide(bytes);
    if let Some(cs) = sniffed {
        // A wide document can only be read as what it is; its declaration may refine the
        // byte order but cannot make it ASCII-compatible.
        return finish(cs, cs.decode_lossy(bytes));
    }

    // 2. and 3. Declared encodings, HTTP first, each only if it decodes cleanly.
    let declared = [content_type.and_then(charset_param), declared];
    for label in declared.iter().flatten() {
        let Some(cs) = charset_for_label(label) else {
            continue;
        };
        if cs.is_wide() {
            continue;
        }
        if cs.is_single_byte()
            && let Some(text) = non_ascii_utf8(bytes)
        {
            // Every byte string "decodes" in a single-byte encoding, so a Latin-1 label proves
            // nothing; multi-byte UTF-8 sequences throughout a document do not happen by chance.
            return finish(Charset::Web(UTF_8), text.to_string());
        }
        if let Some(text) = cs.decode_strict(bytes) {
            return finish(cs, text);
        }
    }

    // 4. Undeclared or wrongly declared. XML's default is UTF-8.
    if let Ok(text) = std::str::from_utf8(bytes) {
        return finish(Charset::Web(UTF_8), text.to_string());
    }
    // A UTF-8 document with a stray byte or two is still UTF-8; re-reading its multi-byte
    // characters as a legacy encoding would garble every one of them.
    if mostly_utf8(bytes) {
        return finish(
            Charset::Web(UTF_8),
            String::from_utf8_lossy(bytes).into_owned(),
        );
    }
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    let tld = tld_of(feed_url);
    let guess =
        Charset::Web(detector.guess(tld.as_deref().map(str::as_bytes), Utf8Detection::Deny));
    finish(guess, guess.decode_lossy(bytes))
}

/// The bytes as UTF-8 text when they are valid UTF-8 with at least one multi-byte sequence.
fn non_ascii_utf8(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

fn strip_bom(mut text: String) -> String {
    if text.starts_with('\u{FEFF}') {
        text.drain(..'\u{FEFF}'.len_utf8());
    }
    text
}

fn bom(bytes: &[u8]) -> Option<(Charset, usize)> {
    // UTF-32LE's mark begins with UTF-16LE's, so it is tested first.
    if bytes.starts_with(&[0xFF, 0xFE, 0, 0]) {
        return Some((Charset::Utf32 { big_endian: false }, 4));
    }
    if bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Some((Charset::Utf32 { big_endian: true }, 4));
    }
    Encoding::for_bom(bytes).map(|(e, len)| (Charset::Web(e), len))
}

/// XML 1.0 appendix F: the first four bytes of a document without a BOM.
fn sniff_wide(bytes: &[u8]) -> Option<Charset> {
    match bytes.get(..4)? {
        [0, 0, 0, b] if *b != 0 => Some(Charset::Utf32 { big_endian: true }),
        [b, 0, 0, 0] if *b != 0 => Some(Charset::Utf32 { big_endian: false }),
        [0, a, 0, b] if *a != 0 && *b != 0 => Some(Charset::Web(UTF_16BE)),
        [a, 0, b, 0] if *a != 0 && *b != 0 => Some(Charset::Web(UTF_16LE)),
        _ => None,
    }
}

fn decode_utf32(bytes: &[u8], big_endian: bool, lossy: bool) -> Option<String> {
    let mut out = String::with_capacity(bytes.len() / 4);
    let mut chunks = bytes.chunks_exact(4);
    for c in &mut chunks {
        let arr = [c[0], c[1], c[2], c[3]];
        let v = if big_endian {
            u32::from_be_bytes(arr)
        } else {
            u32::from_le_bytes(arr)
        };
        match char::from_u32(v) {
            Some(ch) => out.push(ch),
            None if lossy => out.push(char::REPLACEMENT_CHARACTER),
            None => return None,
        }
    }
    if !chunks.remainder().is_empty() {
        if !lossy {
            return None;
        }
        out.push(char::REPLACEMENT_CHARACTER);
    }
    Some(out)
}

/// The `charset` parameter of a Content-Type header value.
fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
            .filter(|v| !v.is_empty())
    })
}

/// The `encoding` pseudo-attribute of an XML declaration at the start of ASCII-compatible bytes.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(1024)];
    let head = String::from_utf8_lossy(head);
    let decl = head.trim_start().strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rest[1..];
    let value = &rest[..rest.find(quote)?];
    Some(value.trim().to_string()).filter(|v| !v.is_empty())
}

/// The charset an HTML page's head declares: `<meta charset=…>` or `<meta http-equiv=
/// "Content-Type" content="…; charset=…">`, in the first 1,024 bytes (as browsers prescan).
fn meta_charset(bytes: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
    let mut rest = head.as_str();
    while let Some(i) = rest.find("<meta") {
        rest = &rest[i + "<meta".len()..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        let Some(at) = tag.find("charset") else {
            continue;
        };
        let value = tag[at + "charset".len()..].trim_start().strip_prefix('=')?;
        let value = value.trim_start().trim_start_matches(['"', '\'']);
        let end = value
            .find(|c: char| c == '"' || c == '\'' || c == ';' || c == '/' || c.is_whitespace())
            .unwrap_or(value.len());
        let label = value[..end].trim();
        if !label.is_empty() {
            return Some(label.to_string());
        }
    }
    None
}

/// Maps an encoding label to what can read it. `None` for labels nothing here knows (the
/// caller then moves on to the next piece of evidence).
fn charset_for_label(label: &str) -> Option<Charset> {
    let l = label.trim().to_ascii_lowercase();
    match l.as_str() {
        "utf-32" | "utf32" | "ucs-4" | "utf-32le" => {
            return Some(Charset::Utf32 { big_endian: false });
        }
        "utf-32be" => return Some(Charset::Utf32 { big_endian: true }),
        _ => {}
    }
    if let Some(e) = Encoding::for_label(l.as_bytes()) {
        // "replacement" stands for encodings the web refuses to decode; it would turn the
        // whole document into U+FFFD.
        return (e != encoding_rs::REPLACEMENT).then_some(Charset::Web(e));
    }
    // DOS code pages: cp437, ibm850, 850, csPC850Multilingual…
    let digits: String = l.chars().filter(char::is_ascii_digit).collect();
    let prefix_ok = ["cp", "ibm", "dos", "oem", "cspc", "csibm", ""]
        .iter()
        .any(|p| {
            l.strip_prefix(p)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit() || c == '-'))
        });
    let cp: u16 = digits.parse().ok()?;
    (prefix_ok && oem_cp::code_table::DECODING_TABLE_CP_MAP.get(&cp).is_some())
        .then_some(Charset::Dos(cp))
}

/// True when invalid sequences are rare next to valid multi-byte characters.
fn mostly_utf8(bytes: &[u8]) -> bool {
    let (mut good, mut bad) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        good += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        if !chunk.invalid().is_empty() {
            bad += 1;
        }
    }
    good > 0 && good >= bad * 8
}

/// The top-level domain of the feed's host, a hint for detection (`.ru` favours Cyrillic).
fn tld_of(feed_url: &str) -> Option<String> {
    let url = url::Url::parse(feed_url).ok()?;
    let host = url.host_str()?;
    let tld = host.rsplit('.').next()?.to_ascii_lowercase();
    (tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_lowercase())).then_some(tld)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RU: &str = "<?xml version=\"1.0\"?><rss><title>Ёлки, ёжики и щи: что едят зимой в \
                      Бишкеке</title><description>Щи, пельмени и чай с чабрецом.</description></rss>";

    fn utf16(s: &str, big_endian: bool) -> Vec<u8> {
        s.encode_utf16()
            .flat_map(|u| {
                if big_endian {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    }

    #[test]
    fn utf16_both_orders_with_and_without_bom() {
        for be in [true, false] {
            let mut with_bom = if be {
                vec![0xFE, 0xFF]
            } else {
                vec![0xFF, 0xFE]
            };
            with_bom.extend(utf16(RU, be));
            let d = decode(&with_bom, None, "https://e.ru/");
            assert_eq!(d.text, RU);
            assert_eq!(d.encoding, if be { "UTF-16BE" } else { "UTF-16LE" });
            let d = decode(&utf16(RU, be), None, "https://e.ru/");
            assert_eq!(d.text, RU);
        }
    }

    #[test]
    fn utf32_both_orders() {
        for be in [true, false] {
            let body: Vec<u8> = RU
                .chars()
                .flat_map(|c| {
                    if be {
                        (c as u32).to_be_bytes()
                    } else {
                        (c as u32).to_le_bytes()
                    }
                })
                .collect();
            let d = decode(&body, None, "https://e.ru/");
            assert_eq!(
                (d.text.as_str(), d.encoding.as_str()),
                (RU, if be { "UTF-32BE" } else { "UTF-32LE" })
            );
        }
    }

    #[test]
    fn http_charset_beats_the_declaration_and_a_bad_one_is_skipped() {
        let (bytes, _, _) = encoding_rs::KOI8_R.encode(RU);
        let d = decode(
            &bytes,
            Some("text/xml; charset=\"koi8-r\""),
            "https://e.org/",
        );
        assert_eq!((d.text.as_str(), d.encoding.as_str()), (RU, "KOI8-R"));
        // The header lies (UTF-8), the bytes are windows-1251 with no declaration.
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(RU);
        let d = decode(&bytes, Some("text/xml; charset=utf-8"), "https://e.ru/");
        assert_eq!((d.text.as_str(), d.encoding.as_str()), (RU, "windows-1251"));
    }

    #[test]
    fn dos_code_pages() {
        assert_eq!(charset_for_label("cp850"), Some(Charset::Dos(850)));
        assert_eq!(charset_for_label("IBM437"), Some(Charset::Dos(437)));
        assert_eq!(
            charset_for_label("cp866"),
            Some(Charset::Web(encoding_rs::IBM866))
        );
        assert_eq!(charset_for_label("x-no-such"), None);
        let d = decode(
            b"<?xml version='1.0' encoding='cp437'?><a>\x81ber</a>",
            None,
            "https://e.org/",
        );
        assert_eq!(d.text, "<?xml version='1.0' encoding='cp437'?><a>über</a>");
    }

    #[test]
    fn mostly_utf8_with_a_stray_byte_stays_utf8() {
        let mut bytes = "<a>Ёлки и щи, ёжики и чай</a>".as_bytes().to_vec();
        bytes.insert(5, 0xFF);
        let d = decode(&bytes, None, "https://e.org/");
        assert_eq!(d.encoding, "UTF-8");
        assert!(d.text.contains("ёжики"));
    }

    #[test]
    fn declaration_parsing() {
        assert_eq!(
            declared_encoding(b" <?xml version=\"1.0\" encoding = 'KOI8-R' ?><a/>").as_deref(),
            Some("KOI8-R")
        );
        assert_eq!(declared_encoding(b"<?xml version=\"1.0\"?>"), None);
        assert_eq!(declared_encoding(b"<rss/>"), None);
        assert_eq!(
            charset_param("application/rss+xml;Charset=windows-1251").as_deref(),
            Some("windows-1251")
        );
        assert_eq!(charset_param("text/xml"), None);
    }

    #[test]
    fn utf8_bytes_beat_a_single_byte_label() {
        let fr = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss><title>Café « crème » — œufs</title></rss>";
        let ascii = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss><title>Cafe</title></rss>";
        let (latin, _, _) = encoding_rs::WINDOWS_1252.encode(fr);
        let (cyr, _, _) = encoding_rs::WINDOWS_1251.encode(RU);
        type Case<'a> = (&'a [u8], Option<&'a str>, &'a str, &'a str);
        // (bytes, HTTP content type, expected encoding, expected text)
        let cases: [Case; 7] = [
            (fr.as_bytes(), None, "UTF-8", fr),
            (
                fr.as_bytes(),
                Some("text/xml; charset=windows-1252"),
                "UTF-8",
                fr,
            ),
            (
                RU.as_bytes(),
                Some("text/xml; charset=windows-1251"),
                "UTF-8",
                RU,
            ),
            (RU.as_bytes(), Some("text/xml; charset=cp866"), "UTF-8", RU),
            // Real single-byte text is not valid UTF-8 and keeps its label.
            (&latin, None, "windows-1252", fr),
            (
                &cyr,
                Some("text/xml; charset=windows-1251"),
                "windows-1251",
                RU,
            ),
            // Nothing but ASCII: the label stands (and the text is the same either way).
            (ascii.as_bytes(), None, "windows-1252", ascii),
        ];
        for (bytes, ct, encoding, text) in cases {
            let d = decode(bytes, ct, "https://e.fr/");
            assert_eq!(
                (d.encoding.as_str(), d.text.as_str()),
                (encoding, text),
                "{ct:?}"
            );
        }
    }

    #[test]
    fn html_pages_are_read_by_their_meta_charset() {
        let page = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\"></head><body><p>Ёлки, ёжики и щи</p></body></html>";
        let (cyr, _, _) = encoding_rs::WINDOWS_1251.encode(page);
        let d = decode_html(&cyr, None, "https://e.ru/");
        assert_eq!(
            (d.encoding.as_str(), d.text.as_str()),
            ("windows-1251", page)
        );
        let page = "<meta charset='iso-8859-1'><p>Grüße aus Köln</p>";
        let (latin, _, _) = encoding_rs::WINDOWS_1252.encode(page);
        let d = decode_html(&latin, None, "https://e.de/");
        assert_eq!(
            (d.encoding.as_str(), d.text.as_str()),
            ("windows-1252", page)
        );
        // UTF-8 bytes under a Latin label are UTF-8, as in feeds.
        let d = decode_html(
            page.as_bytes(),
            Some("text/html; charset=iso-8859-1"),
            "https://e.de/",
        );
        assert_eq!((d.encoding.as_str(), d.text.as_str()), ("UTF-8", page));
        assert_eq!(
            meta_charset(b"<meta name=x content=y><meta charset=\"utf-8\">"),
            Some("utf-8".into())
        );
        assert_eq!(meta_charset(b"<p>charset=koi8-r</p>"), None);
    }
}
