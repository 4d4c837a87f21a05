//! The parse-layer fixtures (tests/fixtures/feeds/, made by generate.py there) and how each is
//! served: the HTTP Content-Type it comes with and the URL it is fetched from.

#![allow(dead_code)]

use std::path::PathBuf;

pub struct Fixture {
    pub file: &'static str,
    pub content_type: Option<&'static str>,
    pub feed_url: &'static str,
}

const RU: &str = "https://vesti.example.kg/rss";
const FR: &str = "https://journal.example.fr/rss";
const DE: &str = "https://zeitung.example.de/rss";

pub const FIXTURES: &[Fixture] = &[
    fx("version-missing.xml", None, RU),
    fx("version-0.9.xml", None, RU),
    fx("version-0.93.xml", None, RU),
    fx("version-0.94.xml", None, RU),
    fx("version-2.00.xml", None, RU),
    fx("version-2.01.xml", None, RU),
    fx("version-2.1.xml", None, RU),
    fx("atom03.xml", None, RU),
    fx("rss090.xml", None, RU),
    fx("rdf-without-namespace.xml", None, RU),
    fx("rss2-userland-namespace.xml", None, RU),
    fx("rss1-items-without-link.xml", None, RU),
    fx(
        "enc-http-charset-windows-1251.xml",
        Some("text/xml; charset=windows-1251"),
        RU,
    ),
    fx(
        "enc-http-charset-koi8-r.xml",
        Some("application/rss+xml; charset=KOI8-R"),
        RU,
    ),
    fx("enc-bom-utf8-wrong-declaration.xml", None, RU),
    fx("enc-declared-utf8-is-windows-1251.xml", None, RU),
    fx("enc-undeclared-windows-1251.xml", None, RU),
    fx("enc-undeclared-koi8-r.xml", None, RU),
    fx("enc-undeclared-windows-1252.xml", None, FR),
    fx("enc-undeclared-iso-8859-1.xml", None, DE),
    fx("enc-utf16be-bom.xml", None, RU),
    fx("enc-utf32le-bom.xml", None, RU),
    fx(
        "enc-dos-cp866-http-charset.xml",
        Some("application/rss+xml; charset=cp866"),
        RU,
    ),
    fx("enc-dos-cp850.xml", None, FR),
    fx("markup-html-entities.xml", None, RU),
    fx("markup-bare-ampersand.xml", None, RU),
    fx("markup-unclosed-void-tags.xml", None, RU),
    fx("markup-mismatched-tags.xml", None, RU),
    fx("markup-truncated.xml", None, RU),
    fx("markup-atom-unknown-type.xml", None, RU),
    fx("rdf-bare-root-iso-8859-1.xml", None, DE),
    fx("rss1-about-is-the-id.xml", None, RU),
    fx("rss2-undeclared-dc.xml", None, RU),
    fx("rss2-itunes-unclosed-category.xml", None, RU),
    fx("atom03-base64.xml", None, RU),
    fx("json-feed-loose.json", Some("application/feed+json"), RU),
    fx(
        "enc-utf8-declared-iso-8859-1.xml",
        Some("application/rss+xml; charset=ISO-8859-1"),
        FR,
    ),
];

const fn fx(
    file: &'static str,
    content_type: Option<&'static str>,
    feed_url: &'static str,
) -> Fixture {
    Fixture {
        file,
        content_type,
        feed_url,
    }
}

pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feeds")
}

impl Fixture {
    pub fn path(&self) -> PathBuf {
        dir().join(self.file)
    }

    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(self.path()).unwrap_or_else(|e| panic!("{}: {e}", self.file))
    }
}

/// Every fixture file on disk is in [`FIXTURES`] (a new file cannot be silently untested).
pub fn assert_table_complete() {
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .expect("fixture folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml") || n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FIXTURES.iter().map(|f| f.file.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}
