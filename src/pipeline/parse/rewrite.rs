//! Decoded feed text → the XML feed-rs reads correctly.
//!
//! One streaming pass over quick-xml events serves two purposes. It maps the dialects feed-rs
//! rejects or silently misreads onto the ones it knows (odd `<rss version>` values, Atom 0.3, RSS
//! 0.90 and namespace-less RDF, the UserLand RSS namespace, RSS 1.0 items without `<link>`,
//! free-form `type` attributes), and it is the recovery pass for documents that are not
//! well-formed. In strict mode the first defect stops the pass, so a clean document is read as
//! written; in lenient mode each defect is repaired the way a lenient reader would: HTML
//! entities become characters, a bare `&` is text, markup inside text elements stays text,
//! mismatched end tags close what they match, and a truncated document is closed where it ends.
//! Both modes emit the same bytes for the parts of a document that are well-formed, so an entry
//! reads the same (and keeps its dedup key) whether or not the document around it needed repair.

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::escape::partial_escape;
use quick_xml::events::{BytesRef, BytesStart, Event};

const ATOM_10: &str = "http://www.w3.org/2005/Atom";
const ATOM_03: &str = "http://purl.org/atom/ns#";
const RSS_10: &str = "http://purl.org/rss/1.0/";
const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";

/// Namespaces that name an old RSS vocabulary feed-rs reads as RSS 1.0.
const RSS_090_NAMESPACES: &[&str] = &[
    "http://my.netscape.com/rdf/simple/0.9/",
    "http://channel.netscape.com/rdf/simple/0.9/",
];

/// Elements whose content is text in RSS; markup inside them is HTML to keep, not structure.
const RSS_TEXT_ELEMENTS: &[&str] = &[
    "title",
    "link",
    "description",
    "guid",
    "pubDate",
    "author",
    "comments",
    "category",
    "lastBuildDate",
    "language",
    "copyright",
    "managingEditor",
    "webMaster",
    "generator",
    "docs",
    "ttl",
    "content:encoded",
    "itunes:author",
    "dc:creator",
    "dc:date",
    "dc:subject",
    "dc:description",
    "dc:title",
    "dc:rights",
];

/// Atom text constructs (with their Atom 0.3 names).
const ATOM_TEXT_ELEMENTS: &[&str] = &[
    "title",
    "subtitle",
    "summary",
    "rights",
    "content",
    "tagline",
    "copyright",
];

/// HTML elements that never have content; left open, they would swallow what follows.
const VOID_ELEMENTS: &[&str] = &[
    "br", "hr", "img", "input", "wbr", "area", "col", "embed", "param", "source", "track",
];

/// Root elements of the feed formats feed-rs reads.
const FEED_ROOTS: &[&str] = &["rss", "RDF", "rdf", "feed", "entry"];

/// Prefixes feeds use without declaring them, and the namespaces they stand for. An undeclared
/// prefix hides the element from the parser (`<dc:creator>` would be lost).
const WELL_KNOWN_PREFIXES: &[(&str, &str)] = &[
    ("dc", "http://purl.org/dc/elements/1.1/"),
    ("dcterms", "http://purl.org/dc/terms/"),
    ("content", "http://purl.org/rss/1.0/modules/content/"),
    ("itunes", "http://www.itunes.com/dtds/podcast-1.0.dtd"),
    ("media", "http://search.yahoo.com/mrss/"),
    ("atom", "http://www.w3.org/2005/Atom"),
    ("podcast", "https://podcastindex.org/namespace/1.0"),
    ("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"),
];

/// Where the containing feed structure resumes when a text element was left open.
const STRUCTURE: &[&str] = &[
    "item", "entry", "channel", "feed", "rss", "RDF", "rdf:RDF", "rdf",
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dialect {
    Unknown,
    Rss,
    Rdf,
    Atom,
    Atom03,
}

/// The rewritten document.
#[derive(Debug)]
pub struct Rewritten {
    pub xml: String,
    /// Number of repairs made (0 in strict mode).
    pub repairs: usize,
    /// Byte ranges of the top-level entries (`item`, `entry`) in `xml`.
    pub entries: Vec<std::ops::Range<usize>>,
    /// RSS 1.0: the `rdf:about` of each item the parser will keep (one with a link or an
    /// address), in document order. The item's URI is its identity in RSS 1.0.
    pub rdf_ids: Vec<Option<String>>,
}

/// Why a document is not well-formed (strict mode), or why it is no feed at all.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error("not well-formed: {0}")]
    NotWellFormed(String),
    #[error("no root element")]
    NoRoot,
    #[error("entity expansion exceeds {0} bytes (declared entities referenced too often)")]
    EntityBudget(usize),
    #[error("elements nest deeper than {0} levels")]
    TooDeep(usize),
}

/// The deepest XML nesting a feed may have. Real feeds nest fewer than 10 levels.
pub const MAX_XML_DEPTH: usize = 256;

/// Declared entities may add at most this many bytes, or as many as the document has, in total.
pub const ENTITY_BUDGET: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Strict,
    Lenient,
}

struct Open {
    /// The name as written in the source (end tags are matched against it).
    source_name: String,
    /// The name written to the output.
    out_name: String,
    /// RSS 1.0 item: its `rdf:about` and whether a `<link>` was seen.
    rdf_item: Option<(Option<String>, bool)>,
}

/// A text element being copied. Its content is collected as text (markup inside it included)
/// and written escaped when it ends.
struct Leaf {
    source_name: String,
    /// Markup open inside the text, to tell well-formed from broken.
    inner: Vec<String>,
    text: String,
    /// A person with an e-mail address (`author`, `dc:creator`, …).
    contact: bool,
    /// Atom 0.3 `mode="base64"`: the text is Base64 of the content.
    base64: bool,
}

struct Rewriter {
    mode: Mode,
    out: String,
    stack: Vec<Open>,
    leaf: Option<Leaf>,
    dialect: Dialect,
    root_done: bool,
    entities: HashMap<String, String>,
    /// Bytes declared entities may still expand to, of `entity_limit`.
    entity_budget: usize,
    entity_limit: usize,
    has_doctype: bool,
    repairs: usize,
    entries: Vec<std::ops::Range<usize>>,
    rdf_ids: Vec<Option<String>>,
    /// Output position and stack depth where the current top-level entry began.
    entry_start: Option<(usize, usize)>,
    /// Well-known prefixes the document uses without declaring (declared on the root).
    undeclared: Vec<(&'static str, &'static str)>,
    /// The text element being opened is Atom 0.3 Base64 content.
    base64_next: bool,
}

/// A reader that reports what it can and moves on: end names unchecked, unmatched ends and
/// dangling `&` allowed, text untrimmed.
fn lenient_reader(source: &str) -> Reader<&[u8]> {
    let mut reader = Reader::from_str(source);
    let cfg = reader.config_mut();
    cfg.check_end_names = false;
    cfg.allow_unmatched_ends = true;
    cfg.allow_dangling_amp = true;
    cfg.check_comments = false;
    cfg.expand_empty_elements = false;
    cfg.trim_text(false);
    reader
}

impl Rewriter {
    /// A rewriter for a document of `len` bytes; `repairs` made before (stray `<` escaped).
    fn new(mode: Mode, len: usize, repairs: usize) -> Rewriter {
        let mut out = String::with_capacity(len + 64);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        Rewriter {
            mode,
            out,
            stack: Vec::new(),
            leaf: None,
            dialect: Dialect::Unknown,
            root_done: false,
            entities: HashMap::new(),
            entity_budget: ENTITY_BUDGET.max(len),
            entity_limit: ENTITY_BUDGET.max(len),
            has_doctype: false,
            repairs,
            entries: Vec::new(),
            rdf_ids: Vec::new(),
            entry_start: None,
            undeclared: Vec::new(),
            base64_next: false,
        }
    }

    /// CDATA is text inside a text element, kept as CDATA elsewhere in an element, dropped
    /// outside the root.
    fn cdata(&mut self, c: &str) {
        if let Some(leaf) = &mut self.leaf {
            leaf.text.push_str(c);
        } else if !self.stack.is_empty() {
            self.out.push_str("<![CDATA[");
            self.out.push_str(c);
            self.out.push_str("]]>");
        }
    }
}

/// Rewrites `text` (already UTF-8, declaration and all) for feed-rs.
pub fn rewrite(text: &str, mode: Mode) -> Result<Rewritten, RewriteError> {
    let escaped;
    let mut pre_repairs = 0;
    let source = if mode == Mode::Lenient {
        (escaped, pre_repairs) = escape_stray_lt(text);
        escaped.as_str()
    } else {
        text
    };
    let mut w = Rewriter::new(mode, source.len(), pre_repairs);
    w.undeclared = undeclared_prefixes(source);
    w.run(source)?;
    Ok(Rewritten {
        xml: w.out,
        repairs: w.repairs,
        entries: w.entries,
        rdf_ids: w.rdf_ids,
    })
}

/// What a strict reading of `text` had read when it hit its first defect: the output up to the
/// last entry it completed, closed there, as a well-formed document. `None` when the document
/// has no defect (or is no feed at all). The recovery pass must find at least the entries this
/// document holds.
pub fn strict_prefix(text: &str) -> Option<String> {
    let mut w = Rewriter::new(Mode::Strict, text.len(), 0);
    w.undeclared = undeclared_prefixes(text);
    match w.run(text) {
        Err(RewriteError::NotWellFormed(_)) => {}
        _ => return None,
    }
    // Drop the entry being read (and any text element in it), then close what is open.
    w.leaf = None;
    if let Some((start, depth)) = w.entry_start.take() {
        w.out.truncate(start);
        w.stack.truncate(depth);
    }
    while !w.stack.is_empty() {
        w.pop();
    }
    Some(w.out)
}

impl Rewriter {
    /// The streaming pass over `source`, writing into `self.out`.
    fn run(&mut self, source: &str) -> Result<(), RewriteError> {
        let w = self;
        let mut reader = lenient_reader(source);

        let mut errors = 0usize;
        loop {
            let before = reader.buffer_position();
            let event = match reader.read_event() {
                Ok(e) => e,
                Err(e) => {
                    w.defect(format!("{e} at byte {before}"))?;
                    errors += 1;
                    // Syntax errors at the end are truncation; elsewhere the reader moves past the
                    // bad markup. Stop if it cannot.
                    if reader.buffer_position() <= before || errors > 1000 {
                        break;
                    }
                    continue;
                }
            };
            match event {
                Event::Eof => break,
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::DocType(d) => {
                    w.has_doctype = true;
                    w.entities.extend(internal_entities(&d));
                }
                Event::Start(e) => {
                    if !w.start(&e, false)? {
                        break;
                    }
                }
                Event::Empty(e) => {
                    if !w.start(&e, true)? {
                        break;
                    }
                }
                Event::End(e) => {
                    let name = e.name().as_ref().to_string();
                    w.end(&name)?;
                }
                Event::Text(t) => {
                    let raw: &str = &t;
                    w.text(raw)?;
                }
                Event::CData(c) => w.cdata(&c),
                Event::GeneralRef(r) => w.reference(&r)?,
            }
        }
        if !w.root_done {
            return Err(RewriteError::NoRoot);
        }
        if w.leaf.is_some() || !w.stack.is_empty() {
            w.defect("document ends inside an element".into())?;
            w.close_leaf()?;
            while !w.stack.is_empty() {
                w.pop();
            }
        }
        Ok(())
    }
}

impl Rewriter {
    /// Records a defect: fatal in strict mode, counted in lenient mode.
    fn defect(&mut self, what: String) -> Result<(), RewriteError> {
        match self.mode {
            Mode::Strict => Err(RewriteError::NotWellFormed(what)),
            Mode::Lenient => {
                tracing::trace!(defect = %what, "repaired");
                self.repairs += 1;
                Ok(())
            }
        }
    }

    /// Inside a text element, markup is text: a start tag is kept as written, unless it is
    /// structure (or the element itself again), which closes the text element first. Returns
    /// whether the tag was taken as text.
    fn tag_in_leaf(
        &mut self,
        e: &BytesStart<'_>,
        name: &str,
        empty: bool,
    ) -> Result<bool, RewriteError> {
        let Some(leaf) = &mut self.leaf else {
            return Ok(false);
        };
        if STRUCTURE.contains(&name) || name == leaf.source_name {
            let what = format!("<{}> left open before <{name}>", leaf.source_name);
            self.defect(what)?;
            self.close_leaf()?;
            return Ok(false);
        }
        let raw: &str = e;
        leaf.text.push('<');
        leaf.text.push_str(raw);
        if empty {
            leaf.text.push_str("/>");
        } else {
            leaf.text.push('>');
            // An unclosed one (`<br>`) shows when the text element ends.
            leaf.inner.push(name.to_string());
        }
        Ok(true)
    }

    /// The dialect's rules for an element: its name in the output (Atom 0.3 names become
    /// Atom 1.0's) and whether it is a text element (its content kept as text).
    fn dialect_rules(
        &mut self,
        name: &str,
        is_root: bool,
        attrs: &mut Vec<(String, String)>,
    ) -> (String, bool) {
        let parent = self.stack.last().map(|o| o.out_name.clone());
        let mut out_name = name.to_string();
        let mut text_element = false;
        match self.dialect {
            Dialect::Atom | Dialect::Atom03 if !is_root => {
                let l = local(name);
                if self.dialect == Dialect::Atom03 {
                    let renamed = match l {
                        "issued" => Some("published"),
                        "modified" => Some("updated"),
                        "tagline" => Some("subtitle"),
                        "copyright" => Some("rights"),
                        _ => None,
                    };
                    if let Some(r) = renamed {
                        out_name = with_local(name, r);
                    }
                }
                if ATOM_TEXT_ELEMENTS.contains(&l) {
                    let base64 = self.dialect == Dialect::Atom03
                        && attrs
                            .iter()
                            .any(|(k, v)| k == "mode" && v.trim().eq_ignore_ascii_case("base64"));
                    text_element = normalize_atom_type(l == "content", attrs);
                    if base64 {
                        // Decoded when the element ends; its type says what the bytes are.
                        text_element = true;
                        self.base64_next = true;
                        for (k, v) in attrs.iter_mut() {
                            if k == "type" && v == "xhtml" {
                                *v = "html".into();
                            }
                        }
                    }
                }
            }
            Dialect::Rss | Dialect::Rdf if !is_root => {
                let in_container = parent.as_deref().is_some_and(|p| {
                    matches!(
                        local(p),
                        "item" | "channel" | "image" | "textinput" | "textInput"
                    )
                });
                text_element = in_container && RSS_TEXT_ELEMENTS.contains(&name);
                if local(name) == "link"
                    && let Some(top) = self.stack.last_mut()
                    && let Some((_, has_link)) = &mut top.rdf_item
                {
                    *has_link = true;
                }
            }
            _ => {}
        }
        (out_name, text_element)
    }

    /// Handles a start (or empty) tag. Returns false when the document is over (content
    /// after the root element).
    fn start(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<bool, RewriteError> {
        let name = e.name().as_ref().to_string();
        if self.tag_in_leaf(e, &name, empty)? {
            return Ok(true);
        }
        let Some(name) = self.repaired_name(name)? else {
            return Ok(true);
        };
        if self.stack.len() >= MAX_XML_DEPTH {
            return Err(RewriteError::TooDeep(MAX_XML_DEPTH));
        }
        if self.stack.is_empty() && self.root_done {
            self.defect(format!("<{name}> after the root element"))?;
            return Ok(false);
        }
        if !self.root_done && !FEED_ROOTS.contains(&local(&name)) {
            // Server warnings and other HTML printed before the feed: skipped, not the root.
            self.defect(format!("<{name}> before the feed's root element"))?;
            return Ok(true);
        }
        let mut attrs = attributes(e);
        let is_root = !self.root_done;
        if is_root {
            self.root_done = true;
            self.dialect = root_dialect(&name, &attrs);
            normalize_root(self.dialect, &mut attrs);
            for (prefix, uri) in std::mem::take(&mut self.undeclared) {
                let key = format!("xmlns:{prefix}");
                if !attrs.iter().any(|(k, _)| *k == key) {
                    attrs.push((key, uri.to_string()));
                }
            }
        } else if matches!(local(&name), "item" | "entry" | "channel") {
            self.close_to_container(&name)?;
        }
        normalize_namespaces(&mut attrs);
        let (mut out_name, text_element) = self.dialect_rules(&name, is_root, &mut attrs);
        if is_root && self.dialect == Dialect::Rdf && name == "rdf" {
            // A bare lower-case `<rdf>` root: the parser knows RDF documents by `RDF`.
            out_name = "RDF".into();
        }
        let void = self.mode == Mode::Lenient
            && VOID_ELEMENTS.contains(&local(&name).to_ascii_lowercase().as_str());
        // An Atom entry document is one entry; what it contains is not the feed's entries.
        let in_entry_document = self
            .stack
            .first()
            .is_some_and(|root| local(&root.source_name) == "entry");
        let is_entry = !is_root && !in_entry_document && matches!(local(&name), "item" | "entry");
        let start_pos = self.out.len();
        write_tag(&mut self.out, &out_name, &attrs, empty || void);
        if is_entry && self.entry_start.is_none() {
            if empty || void {
                self.entries.push(start_pos..self.out.len());
            } else {
                self.entry_start = Some((start_pos, self.stack.len()));
            }
        }
        if empty || void {
            return Ok(true);
        }
        let rdf_item = (self.dialect == Dialect::Rdf && local(&name) == "item").then(|| {
            let about = attrs
                .iter()
                .find(|(k, _)| k == "rdf:about" || k == "about")
                .map(|(_, v)| v.clone());
            (about, false)
        });
        self.stack.push(Open {
            source_name: name.clone(),
            out_name,
            rdf_item,
        });
        if text_element {
            let contact = matches!(
                local(&name),
                "author" | "managingEditor" | "webMaster" | "creator"
            );
            self.leaf = Some(Leaf {
                source_name: name,
                inner: Vec::new(),
                text: String::new(),
                contact,
                base64: std::mem::take(&mut self.base64_next),
            });
        }
        Ok(true)
    }

    fn end(&mut self, name: &str) -> Result<(), RewriteError> {
        if self.leaf.is_none() && !is_xml_name(name) {
            let Some(repaired) = self.repaired_name(name.to_string())? else {
                return Ok(());
            };
            return self.end(&repaired);
        }
        if let Some(leaf) = &mut self.leaf {
            if name == leaf.source_name {
                return self.close_leaf();
            }
            if self.stack.iter().any(|o| o.source_name == name) {
                let what = format!("<{}> left open before </{name}>", leaf.source_name);
                self.defect(what)?;
                self.close_leaf()?;
            } else if STRUCTURE.contains(&name) {
                // Feed structure never belongs inside text; a stray one is dropped.
                return self.defect(format!("</{name}> closes nothing"));
            } else {
                let matched = leaf.inner.last().is_some_and(|n| n == name);
                if matched {
                    leaf.inner.pop();
                } else if !(self.mode == Mode::Lenient
                    && VOID_ELEMENTS.contains(&local(name).to_ascii_lowercase().as_str()))
                {
                    self.defect(format!("unexpected </{name}>"))?;
                }
                if let Some(leaf) = &mut self.leaf {
                    leaf.text.push_str("</");
                    leaf.text.push_str(name);
                    leaf.text.push('>');
                }
                return Ok(());
            }
        }
        match self.stack.iter().rposition(|o| o.source_name == name) {
            Some(i) => {
                if i + 1 != self.stack.len() {
                    let open = &self.stack[self.stack.len() - 1].source_name;
                    self.defect(format!("</{name}> closes <{open}>"))?;
                }
                // Lenient RSS: the channel stays open until the root closes, so items written
                // after an early `</channel>` are still the channel's (the parser reads
                // items only there).
                let keep = usize::from(
                    self.mode == Mode::Lenient
                        && self.dialect == Dialect::Rss
                        && i == 1
                        && local(name) == "channel",
                );
                while self.stack.len() > i + keep {
                    self.pop();
                }
            }
            None => {
                let void = self.mode == Mode::Lenient
                    && VOID_ELEMENTS.contains(&local(name).to_ascii_lowercase().as_str());
                if !void {
                    self.defect(format!("</{name}> closes nothing"))?;
                }
            }
        }
        Ok(())
    }

    /// Ends the text element being copied (its end tag is written by the caller's pop).
    fn close_leaf(&mut self) -> Result<(), RewriteError> {
        let Some(leaf) = self.leaf.take() else {
            return Ok(());
        };
        if let Some(open) = leaf.inner.last() {
            self.defect(format!("<{open}> never closed in <{}>", leaf.source_name))?;
        }
        if leaf.base64 {
            let text = decode_base64(&leaf.text).unwrap_or_else(|| {
                tracing::trace!("content marked base64 does not decode; kept as written");
                leaf.text.clone()
            });
            push_text(&mut self.out, &text);
        } else if leaf.contact {
            push_text(&mut self.out, &pad_emails(&leaf.text));
        } else {
            push_text(&mut self.out, &leaf.text);
        }
        if let Some(i) = self
            .stack
            .iter()
            .rposition(|o| o.source_name == leaf.source_name)
        {
            while self.stack.len() > i {
                self.pop();
            }
        }
        Ok(())
    }

    /// An element name as the output can carry it: a name with characters no XML name has
    /// (`<&channel>`, a stray quote) is a defect, repaired by dropping them. `None` when nothing
    /// is left of it (the tag is dropped).
    fn repaired_name(&mut self, name: String) -> Result<Option<String>, RewriteError> {
        if is_xml_name(&name) {
            return Ok(Some(name));
        }
        self.defect(format!("invalid element name <{name}>"))?;
        let kept: String = name
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
            .skip_while(|c| !(c.is_alphabetic() || *c == '_'))
            .collect();
        Ok(Some(kept).filter(|k| !k.is_empty()))
    }

    /// Lenient mode: a channel or an entry begins where it belongs (the channel in the root,
    /// an entry in the channel or the root). Elements left open before it (an unclosed
    /// `<itunes:category>`, an unclosed previous `<item>`) would otherwise swallow it and every
    /// entry after it; they are closed first.
    fn close_to_container(&mut self, name: &str) -> Result<(), RewriteError> {
        if self.mode != Mode::Lenient || self.leaf.is_some() {
            return Ok(());
        }
        let container = if local(name) == "channel" {
            0
        } else {
            self.stack
                .iter()
                .rposition(|o| local(&o.source_name) == "channel")
                .unwrap_or(0)
        };
        if self.stack.len() <= container + 1 {
            return Ok(());
        }
        let open = self.stack[self.stack.len() - 1].source_name.clone();
        self.defect(format!("<{open}> left open before <{name}>"))?;
        while self.stack.len() > container + 1 {
            self.pop();
        }
        Ok(())
    }

    fn pop(&mut self) {
        let Some(open) = self.stack.pop() else {
            return;
        };
        if let Some((about, has_link)) = &open.rdf_item
            && (about.is_some() || *has_link)
        {
            self.rdf_ids.push(about.clone());
        }
        if let Some((Some(about), false)) = &open.rdf_item {
            // feed-rs drops RSS 1.0 items without a link; the item's URI is its address.
            self.out.push_str("<link>");
            self.out.push_str(&partial_escape(about.as_str()));
            self.out.push_str("</link>");
        }
        self.out.push_str("</");
        self.out.push_str(&open.out_name);
        self.out.push('>');
        if let Some((start, depth)) = self.entry_start
            && self.stack.len() == depth
        {
            self.entries.push(start..self.out.len());
            self.entry_start = None;
        }
    }

    fn text(&mut self, raw: &str) -> Result<(), RewriteError> {
        if self.stack.is_empty() {
            return Ok(());
        }
        if raw.contains('&') {
            // quick-xml hands references over separately, so an `&` here stands alone.
            self.defect("bare `&`".into())?;
        }
        match &mut self.leaf {
            // Without references, the raw text is the text (a bare `&` included).
            Some(leaf) => leaf.text.push_str(raw),
            None => self.out.push_str(&raw.replace('&', "&amp;")),
        }
        Ok(())
    }

    fn reference(&mut self, r: &BytesRef<'_>) -> Result<(), RewriteError> {
        if self.stack.is_empty() {
            return Ok(());
        }
        let name = r.to_string();
        let text = if let Some(num) = name.strip_prefix('#') {
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse::<u32>().ok(),
            };
            match code.and_then(char::from_u32).filter(|c| is_xml_char(*c)) {
                Some(c) => c.to_string(),
                None => {
                    self.defect(format!("invalid character reference &{name};"))?;
                    return Ok(());
                }
            }
        } else if let Some(c) = quick_xml::escape::resolve_xml_entity(&name) {
            c.to_string()
        } else if let Some(value) = self.entities.get(&name) {
            // Each reference copies the value: a large one referenced many times is a bomb.
            self.entity_budget = self
                .entity_budget
                .checked_sub(value.len())
                .ok_or(RewriteError::EntityBudget(self.entity_limit))?;
            value.clone()
        } else if let Some(value) = html_entity(&name) {
            // Declared by the HTML DTD that old RSS documents reference; undeclared otherwise.
            if !self.has_doctype {
                self.defect(format!("undeclared entity &{name};"))?;
            }
            value
        } else {
            self.defect(format!("unknown entity &{name};"))?;
            format!("&{name};")
        };
        match &mut self.leaf {
            Some(leaf) => leaf.text.push_str(&text),
            None => self.out.push_str(&partial_escape(text.as_str())),
        }
        Ok(())
    }
}

/// A text element's content as the output carries it. Text with markup in it (an RSS
/// description's HTML) goes out as CDATA, split where it holds `]]>`: quick-xml hands each
/// character reference over as an event of its own, so escaped HTML cost the parser two events
/// per tag and the document a third more bytes. Other text is escaped. The parser reads the
/// same characters either way.
fn push_text(out: &mut String, text: &str) {
    if !text.contains('<') {
        out.push_str(&partial_escape(text));
        return;
    }
    out.push_str("<![CDATA[");
    let mut rest = text;
    while let Some(i) = rest.find("]]>") {
        let (head, tail) = rest.split_at(i + 2);
        out.push_str(head);
        out.push_str("]]><![CDATA[");
        rest = tail;
    }
    out.push_str(rest);
    out.push_str("]]>");
}

/// feed-rs cuts one byte either side of an e-mail address in a contact (`Иван «ivan@x.ru»`)
/// and panics when that character is not ASCII; a space between keeps the cut on a character
/// boundary.
pub fn pad_emails(text: &str) -> String {
    if !text.contains('@') {
        return text.to_string();
    }
    let email_char = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let mut out = String::with_capacity(text.len() + 8);
    let mut prev: Option<char> = None;
    for c in text.chars() {
        if let Some(p) = prev
            && ((!p.is_ascii() && email_char(c)) || (email_char(p) && !c.is_ascii()))
        {
            out.push(' ');
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// The dialect a root element announces.
fn root_dialect(name: &str, attrs: &[(String, String)]) -> Dialect {
    let ns = |prefix: Option<&str>| -> Option<&str> {
        let key = prefix.map_or("xmlns".to_string(), |p| format!("xmlns:{p}"));
        attrs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    };
    let prefix = name.split_once(':').map(|(p, _)| p);
    match local(name) {
        "rss" => Dialect::Rss,
        "RDF" | "rdf" => Dialect::Rdf,
        "feed" => {
            let version = attrs
                .iter()
                .find(|(k, _)| k == "version")
                .map(|(_, v)| v.as_str());
            if ns(prefix).map(str::trim) == Some(ATOM_03) || version == Some("0.3") {
                Dialect::Atom03
            } else {
                Dialect::Atom
            }
        }
        _ => Dialect::Unknown,
    }
}

/// Root attributes as feed-rs needs them to pick the right reader.
fn normalize_root(dialect: Dialect, attrs: &mut Vec<(String, String)>) {
    match dialect {
        Dialect::Rss => {
            // feed-rs knows 0.91, 0.92 and 2.0; every other RSS 0.9x/2.x is read as 2.0.
            match attrs.iter_mut().find(|(k, _)| k == "version") {
                Some((_, v)) if matches!(v.trim(), "0.91" | "0.92" | "2.0") => {}
                Some((_, v)) => *v = "2.0".into(),
                None => attrs.push(("version".into(), "2.0".into())),
            }
            // RSS 2.0 has no namespace; a default one (UserLand's) hides every element.
            attrs.retain(|(k, _)| k != "xmlns");
        }
        Dialect::Rdf => {
            // RSS 0.90, and RDF documents that never name RSS 1.0, hold RSS 1.0 elements.
            attrs.retain(|(k, _)| k != "xmlns");
            attrs.push(("xmlns".into(), RSS_10.into()));
            if !attrs.iter().any(|(k, _)| k == "xmlns:rdf") {
                attrs.push(("xmlns:rdf".into(), RDF.into()));
            }
        }
        Dialect::Atom03 => {
            for (k, v) in attrs.iter_mut() {
                if k == "xmlns" {
                    *v = ATOM_10.into();
                }
            }
            attrs.retain(|(k, _)| k != "version");
        }
        Dialect::Atom | Dialect::Unknown => {}
    }
}

/// Old namespace names that mean a vocabulary feed-rs knows under another name.
fn normalize_namespaces(attrs: &mut [(String, String)]) {
    for (k, v) in attrs.iter_mut() {
        if k == "xmlns" || k.starts_with("xmlns:") {
            let t = v.trim();
            if t == ATOM_03 {
                *v = ATOM_10.into();
            } else if RSS_090_NAMESPACES.contains(&t) {
                *v = RSS_10.into();
            }
        }
    }
}

/// Maps an Atom text construct's `type` onto the values feed-rs accepts (it fails the whole feed
/// on any other). Returns true when the element's content is text (to be copied as text).
fn normalize_atom_type(is_content: bool, attrs: &mut Vec<(String, String)>) -> bool {
    let has_src = attrs.iter().any(|(k, _)| k == "src");
    let mode = attrs
        .iter()
        .find(|(k, _)| k == "mode")
        .map(|(_, v)| v.trim().to_ascii_lowercase());
    attrs.retain(|(k, _)| k != "mode");
    let Some(pos) = attrs.iter().position(|(k, _)| k == "type") else {
        return !has_src;
    };
    let t = attrs[pos].1.trim().to_ascii_lowercase();
    if has_src {
        // With src the type must be a MIME type; a keyword stands for its MIME equivalent.
        let mime = match t.as_str() {
            "text" => "text/plain".to_string(),
            "html" => "text/html".to_string(),
            "xhtml" => "application/xhtml+xml".to_string(),
            _ if is_mime(&t) => t,
            _ => {
                attrs.remove(pos);
                return false;
            }
        };
        attrs[pos].1 = mime;
        return false;
    }
    let keyword = match t.as_str() {
        "text" | "text/plain" | "plain" => "text",
        "html" | "text/html" => "html",
        "xhtml" | "application/xhtml+xml" if mode.as_deref() != Some("escaped") => "xhtml",
        "xhtml" | "application/xhtml+xml" => "html",
        other if is_content && is_mime(other) => {
            attrs[pos].1 = other.to_string();
            return !(other.ends_with("+xml") || other.ends_with("/xml"));
        }
        other if other.contains("html") => "html",
        _ => "text",
    };
    attrs[pos].1 = keyword.to_string();
    keyword != "xhtml"
}

fn is_mime(t: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    let essence = t.split(';').next().unwrap_or("");
    essence
        .split_once('/')
        .is_some_and(|(a, b)| token(a) && token(b))
}

/// Attributes with their values still escaped, as written (broken ones are skipped).
fn attributes(e: &BytesStart<'_>) -> Vec<(String, String)> {
    e.attributes()
        .with_checks(false)
        .filter_map(Result::ok)
        .map(|a| (a.key.as_ref().to_string(), a.value.to_string()))
        .collect()
}

fn write_tag(out: &mut String, name: &str, attrs: &[(String, String)], empty: bool) {
    out.push('<');
    out.push_str(name);
    for (k, v) in attrs {
        out.push(' ');
        out.push_str(k);
        out.push_str("=\"");
        for (i, c) in v.char_indices() {
            match c {
                '"' => out.push_str("&quot;"),
                '<' => out.push_str("&lt;"),
                '&' if !starts_reference(&v[i..]) => out.push_str("&amp;"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push_str(if empty { "/>" } else { ">" });
}

/// Whether `text` (which begins with `&`) begins with a well-formed reference.
fn starts_reference(text: &str) -> bool {
    let body = &text[1..];
    let Some(end) = body.find(';') else {
        return false;
    };
    let name = &body[..end];
    match name.strip_prefix('#') {
        Some(num) => match num.strip_prefix(['x', 'X']) {
            Some(hex) => !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            None => !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()),
        },
        None => {
            name.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        }
    }
}

/// Escapes every `<` that cannot start markup (`a < b`, `<3`), outside comments and CDATA.
fn escape_stray_lt(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut repairs = 0;
    let mut rest = text;
    'scan: while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        for (open, close) in [("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>")] {
            if rest.starts_with(open) {
                let end = rest[open.len()..]
                    .find(close)
                    .map_or(rest.len(), |j| open.len() + j + close.len());
                out.push_str(&rest[..end]);
                rest = &rest[end..];
                continue 'scan;
            }
        }
        let next = &rest[1..];
        match next.chars().next() {
            Some(c) if c.is_alphabetic() || matches!(c, '_' | ':' | '/' | '!') => out.push('<'),
            _ => {
                out.push_str("&lt;");
                repairs += 1;
            }
        }
        rest = next;
    }
    out.push_str(rest);
    (out, repairs)
}

/// `<!ENTITY name "value">` declarations of a DOCTYPE's internal subset.
fn internal_entities(doctype: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = doctype;
    while let Some(i) = rest.find("<!ENTITY") {
        rest = &rest[i + "<!ENTITY".len()..];
        let decl = rest.trim_start();
        if decl.starts_with('%') {
            continue;
        }
        let Some(name_end) = decl.find(char::is_whitespace) else {
            break;
        };
        let name = &decl[..name_end];
        let value = decl[name_end..].trim_start();
        let Some(quote) = value.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        if let Some(end) = value[1..].find(quote) {
            let raw = &value[1..1 + end];
            let resolved = quick_xml::escape::unescape(raw)
                .map_or_else(|_| raw.to_string(), |c| c.into_owned());
            found.push((name.to_string(), resolved));
        }
    }
    found
}

/// The well-known prefixes `source` uses in element names without declaring them anywhere.
fn undeclared_prefixes(source: &str) -> Vec<(&'static str, &'static str)> {
    WELL_KNOWN_PREFIXES
        .iter()
        .copied()
        .filter(|(prefix, _)| {
            source.contains(&format!("<{prefix}:")) && !source.contains(&format!("xmlns:{prefix}"))
        })
        .collect()
}

/// Base64 text (whitespace ignored) as UTF-8 text; `None` when it is not Base64.
fn decode_base64(text: &str) -> Option<String> {
    use base64::Engine;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// An HTML named character reference (`nbsp` → U+00A0), from html5ever's table.
fn html_entity(name: &str) -> Option<String> {
    let &(a, b) = markup5ever::data::NAMED_ENTITIES.get(format!("{name};").as_str())?;
    let mut s = String::new();
    s.push(char::from_u32(a).filter(|_| a != 0)?);
    if b != 0 {
        s.push(char::from_u32(b)?);
    }
    Some(s)
}

/// Whether `name` is an XML name (the ASCII punctuation rules; any letter or digit).
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || matches!(c, '_' | ':'))
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '\u{B7}'))
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, l)| l)
}

fn with_local(name: &str, new_local: &str) -> String {
    match name.rsplit_once(':') {
        Some((p, _)) => format!("{p}:{new_local}"),
        None => new_local.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lenient(s: &str) -> Rewritten {
        rewrite(s, Mode::Lenient).expect("rewrites")
    }

    #[test]
    fn clean_documents_pass_strict_unchanged_in_substance() {
        let doc = "<?xml version=\"1.0\" encoding=\"windows-1251\"?>\n<rss version=\"2.0\"><channel>\
                   <title>A &amp; B</title><item><description><![CDATA[<p>x</p>]]></description></item>\
                   </channel></rss>";
        let r = rewrite(doc, Mode::Strict).expect("well-formed");
        assert_eq!(r.repairs, 0);
        assert!(
            r.xml
                .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        );
        assert!(r.xml.contains("<title>A &amp; B</title>"));
        assert!(
            r.xml
                .contains("<description><![CDATA[<p>x</p>]]></description>")
        );
        assert_eq!(r.xml, lenient(doc).xml, "both modes agree on clean input");
    }

    #[test]
    fn defects_stop_strict_and_are_repaired_leniently() {
        for (doc, expect) in [
            (
                "<rss><channel><title>AT&T</title></channel></rss>",
                "<title>AT&amp;T</title>",
            ),
            (
                "<rss><channel><title>a&nbsp;b</title></channel></rss>",
                "<title>a\u{a0}b</title>",
            ),
            (
                "<rss><channel><title>a &foo; b</title></channel></rss>",
                "<title>a &amp;foo; b</title>",
            ),
            (
                "<rss><channel><title>a < b</title></channel></rss>",
                "<title><![CDATA[a < b]]></title>",
            ),
            (
                "<rss><channel><item><title>t</title></channel></rss>",
                "<title>t</title></item></channel>",
            ),
            (
                "<rss><channel><item><title>cut",
                "<title>cut</title></item></channel></rss>",
            ),
            (
                "<rss><channel></guid><title>x</title></channel></rss>",
                "<channel><title>x</title></channel>",
            ),
            (
                "<rss><channel><title>a<br>b</title></channel></rss>",
                "<title><![CDATA[a<br>b]]></title>",
            ),
            (
                "<rss><channel><title>t</item></channel></rss>",
                "<channel><title>t</title></channel>",
            ),
        ] {
            assert!(rewrite(doc, Mode::Strict).is_err(), "{doc}");
            let r = lenient(doc);
            assert!(r.repairs > 0, "{doc}");
            assert!(r.xml.contains(expect), "{doc}\n→ {}", r.xml);
        }
    }

    #[test]
    fn text_with_markup_goes_out_as_cdata_split_at_its_end_marker() {
        for (text, want) in [
            ("plain", "plain"),
            ("a & b > c", "a &amp; b &gt; c"),
            ("<p>x</p>", "<![CDATA[<p>x</p>]]>"),
            ("<p>]]></p>", "<![CDATA[<p>]]]]><![CDATA[></p>]]>"),
            (
                "<b>]]>]]></b>]]>",
                "<![CDATA[<b>]]]]><![CDATA[>]]]]><![CDATA[></b>]]]]><![CDATA[>]]>",
            ),
            ("<]]]>", "<![CDATA[<]]]]]><![CDATA[>]]>"),
        ] {
            let mut out = String::new();
            push_text(&mut out, text);
            assert_eq!(out, want, "{text}");
        }
    }

    #[test]
    fn markup_inside_rss_text_elements_stays_text() {
        let r = rewrite(
            "<rss version=\"2.0\"><channel><item><description>a<b>b</b></description></item></channel></rss>",
            Mode::Strict,
        )
        .expect("well-formed");
        assert!(
            r.xml
                .contains("<description><![CDATA[a<b>b</b>]]></description>"),
            "{}",
            r.xml
        );
    }

    #[test]
    fn dialects_are_mapped() {
        let r = lenient(
            "<rss version=\"2.01\" xmlns=\"http://backend.userland.com/rss2\"><channel/></rss>",
        );
        assert!(r.xml.contains("<rss version=\"2.0\">"), "{}", r.xml);
        let r = lenient("<rss><channel/></rss>");
        assert!(r.xml.contains("<rss version=\"2.0\">"), "{}", r.xml);
        let r = lenient("<rss version=\"0.91\"><channel/></rss>");
        assert!(r.xml.contains("<rss version=\"0.91\">"), "{}", r.xml);
        let r = lenient(
            "<feed version=\"0.3\" xmlns=\"http://purl.org/atom/ns#\"><entry><issued>x</issued>\
             <title type=\"text/plain\" mode=\"xml\">t</title></entry></feed>",
        );
        assert!(
            r.xml.contains(&format!("<feed xmlns=\"{ATOM_10}\">")),
            "{}",
            r.xml
        );
        assert!(r.xml.contains("<published>x</published>"), "{}", r.xml);
        assert!(
            r.xml.contains("<title type=\"text\">t</title>"),
            "{}",
            r.xml
        );
        let r = lenient(
            "<rdf:RDF xmlns:rdf=\"x\" xmlns=\"http://my.netscape.com/rdf/simple/0.9/\">\
             <item rdf:about=\"https://e.org/1\"><title>t</title></item></rdf:RDF>",
        );
        assert!(r.xml.contains(&format!("xmlns=\"{RSS_10}\"")), "{}", r.xml);
        assert!(
            r.xml
                .contains("<title>t</title><link>https://e.org/1</link></item>"),
            "{}",
            r.xml
        );
    }

    #[test]
    fn html_before_the_root_is_skipped() {
        let doc = "<br />\n<b>Warning</b>: cannot modify header in <b>feed.php</b><br />\n\
                   <?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title></channel></rss>";
        assert!(rewrite(doc, Mode::Strict).is_err());
        let r = lenient(doc);
        assert!(
            r.xml
                .ends_with("<rss version=\"2.0\"><channel><title>t</title></channel></rss>"),
            "{}",
            r.xml
        );
    }

    #[test]
    fn contacts_with_an_address_are_padded() {
        assert_eq!(pad_emails("Иван «ivan@vesti.kg»"), "Иван « ivan@vesti.kg »");
        assert_eq!(pad_emails("ivan@vesti.kg (Иван)"), "ivan@vesti.kg (Иван)");
        assert_eq!(pad_emails("Иван — без адреса"), "Иван — без адреса");
        let r = rewrite(
            "<rss version=\"2.0\"><channel><item><author>\u{fffd}ivan@v.kg&raquo;</author></item></channel></rss>",
            Mode::Lenient,
        )
        .expect("rewrites");
        assert!(
            r.xml.contains("<author>\u{fffd} ivan@v.kg »</author>"),
            "{}",
            r.xml
        );
    }

    #[test]
    fn no_root_is_an_error() {
        assert!(matches!(
            rewrite("<html><p>x</p></html>", Mode::Lenient),
            Err(RewriteError::NoRoot)
        ));
        assert!(matches!(
            rewrite("just text", Mode::Lenient),
            Err(RewriteError::NoRoot)
        ));
        assert!(matches!(
            rewrite("", Mode::Strict),
            Err(RewriteError::NoRoot)
        ));
    }

    #[test]
    fn doctype_entities_are_declared() {
        let doc = "<!DOCTYPE rss [<!ENTITY site \"Vesti &amp; Co\">]><rss><channel><title>&site;</title></channel></rss>";
        let r = rewrite(doc, Mode::Strict).expect("declared entity is fine");
        assert!(r.xml.contains("<title>Vesti &amp; Co</title>"), "{}", r.xml);
    }

    #[test]
    fn bare_ampersand_in_attribute_is_escaped() {
        let r = lenient(
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><link href=\"a?b=1&c=2&amp;d=3\"/></feed>",
        );
        assert!(
            r.xml.contains("href=\"a?b=1&amp;c=2&amp;d=3\""),
            "{}",
            r.xml
        );
    }
}
