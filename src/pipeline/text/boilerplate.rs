//! Lines that are not the article: site trailers, donation calls, "follow us" and "read also"
//! lines, share bars, and whatever else a feed repeats under every entry.
//!
//! Two mechanisms, both working on normalized paragraphs (one line each):
//! - fixed rules for the chrome every site family writes the same way, in English, French and
//!   Russian (and the Uzbek and Kazakh forms seen in the fixtures);
//! - a per-feed [`BoilerplateModel`] that learns lines recurring across a feed's entries, so a
//!   site's own slogan is caught without a rule for it.
//!
//! Both only ever remove whole, short-ish paragraphs and never the first one (the title), so
//! article prose stays untouched even when a rule is too eager.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Regex, RegexSet};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::pipeline::text::memo::EntryMemo;

/// Paragraphs longer than this (in words) are never boilerplate.
pub const MAX_BOILERPLATE_WORDS: usize = 60;

/// A whole paragraph that is chrome when it matches one of these (case-insensitive).
static LINE_RULES: LazyLock<RegexSet> = LazyLock::new(|| {
    let rules = [
        // WordPress feed trailer.
        r"^the post .+ appeared first on .+$",
        // Social follow lines.
        r"\bfollow us on\b",
        r"^(for more|pour plus|для (большего|новостей)).{0,80}\b(follow|suivez|следите|подписывайтесь)",
        r"\bsuivez-nous sur\b",
        r"^(подписывайтесь|следите за нами|подпишитесь) на (наш|нас|канал|telegram|телеграм)",
        r"(kanalimizga|sahifalarimizga) obuna bo",
        r"^(join|subscribe to) (us|our (channel|newsletter|telegram))",
        // Donation calls.
        r"^(faites un don|make a donation|donate( now| today)?|support us( now| today)?|support (independent|our) journalism|soutenez-nous|поддержите|поддержать|пожертвовать|xayriya)\b",
        r"^(we have a small favour to ask|.*(is|are) a reader-supported publication)",
        r"существует (на деньги|на пожертвования|благодаря) (своих )?читател",
        r"\b(vous pouvez nous soutenir|nous avons besoin de vous|you can support (us|our work)|we need your (support|help)|вы можете поддержать нас|нам нужна ваша поддержка)\b",
        r"^(оформите|сделайте) .{0,30}пожертвование",
        r"(support us|donate|soutenez-nous|поддержите нас|поддержите проект)( now| today| ici)?\s*[!.]?$",
        // Related / read-also / see-also lines.
        r"^(related( article| story| stories| posts?)?|read (also|more|next)|see also|more on this( story)?|lire aussi|à lire aussi|voir aussi|читайте также|смотрите также|по теме|ещё по теме|mavzuga oid|оқи отырыңыз|тақырыпқа қатысты)\s*(:|$)",
        // Share bars.
        r"^(share( this( article| story| post)?)?|поделиться|partager|ulashish|бөлісу)\s*:?\s*((facebook|twitter|x|telegram|whatsapp|e-?mail|vk|вконтакте|linkedin|reddit|print|copy link)[\s,|·]*)*$",
        // Site notices.
        r"^если вы заметили ошибку",
        r"^il vous reste \d+([.,]\d+)? ?% de cet article",
        r"^(this (post|article) is for (paid )?subscribers only|article réservé aux abonnés|subscribe to (continue|read|join))",
        r"^(advertisement|publicité|реклама|sponsored content)$",
        r"^(sign up (to|for)\b|subscribe to our newsletter|abonnez-vous à (la|notre) newsletter|privacy notice: newsletters)",
        r"^(after newsletter promotion|newsletter\b.{0,40})$",
        // Reading-time and counter lines left from article headers.
        r"\b(\d+ min(ute)?s? read|temps de lecture|время чтения)\b",
        r"^[\d\s.,·|/:+%kKmM]+$",
    ];
    // Unicode `\b` keeps the fast (lazy DFA) engines away from non-ASCII text and every
    // paragraph would go through the slow NFA simulation. A word edge written as "start, end or
    // a non-word character" matches the same lines and stays DFA-friendly (only `is_match` is
    // asked, so consuming the neighbouring character does not matter).
    RegexSet::new(
        rules
            .iter()
            .map(|r| format!("(?i){}", r.replace(r"\b", r"(?:^|$|\W)"))),
    )
    .unwrap_or_else(|e| unreachable!("fixed rules compile: {e}"))
});

/// Removes the paragraphs the fixed rules recognise: the WordPress trailer ("The post … appeared
/// first on …"), social-follow lines ("For more news … follow us on …", "suivez-nous sur",
/// "подписывайтесь на наш канал"), donation calls ("Faites un don à Novastan", "Support us",
/// "Donate"), related / read-also lines and share bars. The first paragraph and paragraphs longer
/// than [`MAX_BOILERPLATE_WORDS`] are kept.
pub fn strip_boilerplate(paragraphs: &mut Vec<String>) {
    let mut index = 0;
    paragraphs.retain(|p| {
        let keep = index == 0 || !is_rule_boilerplate(p);
        index += 1;
        keep
    });
}

/// Whether one paragraph is chrome by the fixed rules.
pub fn is_rule_boilerplate(paragraph: &str) -> bool {
    let p = paragraph.trim();
    !p.is_empty()
        && words_up_to(p, MAX_BOILERPLATE_WORDS) <= MAX_BOILERPLATE_WORDS
        && LINE_RULES.is_match(p)
}

/// Removes every match of the feed's own `strip` patterns from each paragraph, then drops the
/// paragraphs left empty. A pattern that should remove a whole line anchors it: `^Photo: .*$`.
pub fn apply_strip_regexes(paragraphs: &mut Vec<String>, patterns: &[Regex]) {
    if patterns.is_empty() {
        return;
    }
    for p in paragraphs.iter_mut() {
        let mut text = p.clone();
        for re in patterns {
            if let std::borrow::Cow::Owned(s) = re.replace_all(&text, "") {
                text = s;
            }
        }
        if text != *p {
            *p = text.split_whitespace().collect::<Vec<_>>().join(" ");
        }
    }
    paragraphs.retain(|p| p.chars().any(char::is_alphanumeric));
}

/// The paragraph's words, counted up to `limit + 1`: only short lines are ever compared with
/// a limit, and an article paragraph need not be counted to the end.
fn words_up_to(s: &str, limit: usize) -> usize {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(limit.saturating_add(1))
        .count()
}

/// What makes two lines "the same line": lower-case letters, digits collapsed to one `0`, single
/// spaces. "Edited by X on 12 May" and "Edited by X on 3 June" stay different; a counter or a
/// year in a slogan does not.
pub fn fingerprint(paragraph: &str) -> String {
    let mut out = String::new();
    for w in paragraph
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        let mut last_digit = false;
        for c in w.chars().flat_map(char::to_lowercase) {
            if c.is_numeric() {
                if !last_digit {
                    out.push('0');
                }
                last_digit = true;
            } else {
                out.push(c);
                last_digit = false;
            }
        }
    }
    out
}

/// The key a line is counted under: 16 hex digits of the SHA-256 of its [`fingerprint`], so a
/// feed's stored model holds a short key per line instead of the line (it is kept for every
/// short paragraph of the feed's recent entries).
pub fn line_key(paragraph: &str) -> String {
    fingerprint_key(&fingerprint(paragraph))
}

/// [`line_key`]s of the lines of one document, each computed once: the model counts a line
/// and then tests it, and a feed's recurring lines come in every entry.
#[derive(Default)]
pub struct LineKeys(HashMap<String, String, foldhash::fast::RandomState>);

impl LineKeys {
    /// The line's [`line_key`].
    pub fn of(&mut self, paragraph: &str) -> &str {
        if !self.0.contains_key(paragraph) {
            self.0.insert(paragraph.to_string(), line_key(paragraph));
        }
        self.0.get(paragraph).map_or("", String::as_str)
    }
}

fn fingerprint_key(fingerprint: &str) -> String {
    let digest = Sha256::digest(fingerprint.as_bytes());
    hex::encode(digest.get(..8).unwrap_or(&digest[..]))
}

fn is_key(k: &str) -> bool {
    k.len() == 16
        && k.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// When a feed's lines recur enough to be called boilerplate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Entries observed before anything is called boilerplate.
    pub min_entries: u32,
    /// Share of observed entries a line must appear in.
    pub min_fraction: f64,
    /// Lines longer than this (in words) are never learned.
    pub max_words: usize,
    /// After this many entries, counts are halved so the model follows the feed's recent entries.
    pub window: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            min_entries: 5,
            min_fraction: 0.5,
            max_words: 40,
            window: 200,
        }
    }
}

/// Per-feed line statistics: in how many of the feed's recent entries each line fingerprint
/// appeared. Serializable, so a feed's model can be stored and carried across runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LineStats {
    /// Entries observed (after halving, the weight of the recent ones).
    pub entries: u32,
    /// Fingerprint → number of entries it appeared in.
    pub counts: HashMap<String, u32>,
}

/// A feed's learned boilerplate: [`LineStats`] plus the [`Thresholds`] that turn counts into a
/// verdict. Call [`observe`](Self::observe) with every new entry's paragraphs, then
/// [`strip`](Self::strip) them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BoilerplateModel {
    pub stats: LineStats,
    pub thresholds: Thresholds,
    /// What the feed's last document made of each of its entries (see [`EntryMemo`]); absent
    /// in models written by earlier versions.
    #[serde(default, skip_serializing_if = "EntryMemo::is_empty")]
    pub memo: EntryMemo,
}

impl BoilerplateModel {
    pub fn new(thresholds: Thresholds) -> Self {
        Self {
            stats: LineStats::default(),
            thresholds,
            memo: EntryMemo::default(),
        }
    }

    /// The model as stored by an earlier version (lines counted under their fingerprint
    /// text) with its counts moved to [`line_key`]s; a current model is returned unchanged.
    pub fn upgraded(mut self) -> Self {
        if self.stats.counts.keys().all(|k| is_key(k)) {
            return self;
        }
        let mut counts: HashMap<String, u32> = HashMap::with_capacity(self.stats.counts.len());
        for (k, c) in self.stats.counts.drain() {
            let key = if is_key(&k) { k } else { fingerprint_key(&k) };
            let slot = counts.entry(key).or_default();
            *slot = (*slot).max(c);
        }
        self.stats.counts = counts;
        self
    }

    /// Counts an entry's lines (each distinct short line once; the first paragraph, the title,
    /// is skipped).
    pub fn observe(&mut self, paragraphs: &[String]) {
        self.observe_with(paragraphs, &mut LineKeys::default());
    }

    /// [`BoilerplateModel::observe`], with the document's keys.
    pub fn observe_with(&mut self, paragraphs: &[String], keys: &mut LineKeys) {
        let seen = self.seen_keys(paragraphs, keys);
        self.observe_keys(&seen);
    }

    /// The keys [`observe`](Self::observe) counts for an entry: each distinct short line after
    /// the title once, in order.
    pub fn seen_keys(&self, paragraphs: &[String], keys: &mut LineKeys) -> Vec<String> {
        let mut distinct = std::collections::HashSet::new();
        let mut seen: Vec<String> = Vec::new();
        for p in paragraphs.iter().skip(1) {
            if !self.is_short(p) {
                continue;
            }
            let f = keys.of(p);
            if distinct.insert(f.to_string()) {
                seen.push(f.to_string());
            }
        }
        seen
    }

    /// Counts one entry whose lines' keys ([`seen_keys`](Self::seen_keys)) are known already:
    /// the same as observing its paragraphs.
    pub fn observe_keys(&mut self, seen: &[String]) {
        for f in seen {
            if let Some(c) = self.stats.counts.get_mut(f.as_str()) {
                *c = c.saturating_add(1);
            } else {
                self.stats.counts.insert(f.clone(), 1);
            }
        }
        self.stats.entries = self.stats.entries.saturating_add(1);
        if self.thresholds.window > 0 && self.stats.entries >= self.thresholds.window {
            self.stats.entries /= 2;
            self.stats.counts.retain(|_, c| {
                *c /= 2;
                *c > 0
            });
        }
    }

    /// Whether a line recurs in enough of the feed's entries to be boilerplate.
    pub fn is_boilerplate(&self, paragraph: &str) -> bool {
        self.is_boilerplate_with(paragraph, &mut LineKeys::default())
    }

    fn is_boilerplate_with(&self, paragraph: &str, keys: &mut LineKeys) -> bool {
        self.stats.entries >= self.thresholds.min_entries
            && self.is_short(paragraph)
            && self.recurs(keys.of(paragraph))
    }

    /// Whether a paragraph is short enough to be learned and judged (1 to `max_words` words).
    fn is_short(&self, paragraph: &str) -> bool {
        let n = words_up_to(paragraph, self.thresholds.max_words);
        n > 0 && n <= self.thresholds.max_words
    }

    /// Whether the line under `key` recurs in enough entries (the paragraph being short).
    fn recurs(&self, key: &str) -> bool {
        let t = &self.thresholds;
        let count = self.stats.counts.get(key).copied().unwrap_or(0);
        self.stats.entries >= t.min_entries
            && f64::from(count) >= t.min_fraction * f64::from(self.stats.entries)
    }

    /// What [`strip`](Self::strip) decides on these paragraphs, line by line: each distinct
    /// short line after the title, with whether the model calls it boilerplate now. Two
    /// states of the model that give the same verdicts strip the paragraphs the same way.
    pub fn verdicts(&self, paragraphs: &[String], keys: &mut LineKeys) -> Vec<(String, bool)> {
        let mut distinct = std::collections::HashSet::new();
        let mut out: Vec<(String, bool)> = Vec::new();
        for p in paragraphs.iter().skip(1) {
            if !self.is_short(p) {
                continue;
            }
            let k = keys.of(p);
            if distinct.insert(k.to_string()) {
                let v = self.recurs(k);
                out.push((k.to_string(), v));
            }
        }
        out
    }

    /// Whether the line under `key` is boilerplate now (for a short line, as
    /// [`verdicts`](Self::verdicts) tells).
    pub fn verdict(&self, key: &str) -> bool {
        self.recurs(key)
    }

    /// Removes learned boilerplate lines, never the first paragraph.
    ///
    /// An entry whose every line after the title recurs (a feed of `Build 41 passed`,
    /// `Item 7 of 9` entries) keeps them: its recurring line is its text, and stripping it
    /// would leave a record of a title alone.
    pub fn strip(&self, paragraphs: &mut Vec<String>) {
        self.strip_with(paragraphs, &mut LineKeys::default());
    }

    /// [`BoilerplateModel::strip`], with the document's keys.
    pub fn strip_with(&self, paragraphs: &mut Vec<String>, keys: &mut LineKeys) {
        let drop: Vec<bool> = paragraphs
            .iter()
            .enumerate()
            .map(|(i, p)| i > 0 && self.is_boilerplate_with(p, keys))
            .collect();
        if paragraphs.len() > 1 && drop.iter().skip(1).all(|d| *d) {
            return;
        }
        let mut flags = drop.into_iter();
        paragraphs.retain(|_| !flags.next().unwrap_or(false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documents_keys_are_the_lines_keys_and_learning_with_them_changes_nothing() {
        let lines = [
            "Support our work",
            "Edited by A. on 12 May",
            "Support our work",
            "12",
            "",
        ];
        let mut keys = LineKeys::default();
        for l in lines {
            assert_eq!(keys.of(l), line_key(l), "{l:?}");
        }
        let doc: Vec<Vec<String>> = (0..8)
            .map(|i| {
                let mut p = vec![
                    format!("Title {i}"),
                    format!("Body line number {i} about wheat."),
                ];
                if i % 3 != 0 {
                    p.push("Support our work".into());
                }
                p
            })
            .collect();
        let (mut plain, mut keyed) = (BoilerplateModel::default(), BoilerplateModel::default());
        let mut keys = LineKeys::default();
        for p in &doc {
            plain.observe(p);
            keyed.observe_with(p, &mut keys);
        }
        assert_eq!(plain.stats, keyed.stats);
        for p in &doc {
            let (mut a, mut b) = (p.clone(), p.clone());
            plain.strip(&mut a);
            keyed.strip_with(&mut b, &mut keys);
            assert_eq!(a, b);
        }
    }

    fn paras(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rules_remove_chrome_in_three_languages() {
        let chrome = [
            "The post Pressure grows appeared first on Novastan English.",
            "For more news and analysis from Central Asia, follow us on Twitter, Facebook, Telegram, Linkedin or Instagram.",
            "Pour plus d’actualités sur l’Asie centrale, suivez-nous sur Twitter, Facebook, Telegram, Linkedin ou Instagram.",
            "Подписывайтесь на наш канал в Telegram, чтобы первыми узнавать главные новости.",
            "Faites un don à Novastan",
            "Novastan est le seul média en français et en allemand spécialisé sur l'Asie centrale. Entièrement associatif, il fonctionne grâce à votre participation. Nous sommes indépendants et pour le rester, nous avons besoin de vous ! Vous pouvez nous soutenir à partir de 2 euros par mois (défiscalisé à 66 %), ou en devenant membre actif par ici.",
            "Novastan is the only European media specialised in Central Asia. Entirely run by volunteers, it relies on the support of its readers. Support us now!",
            "Поддержите «Полюс»",
            "Support us",
            "Donate",
            "Related article: Central Asia Drifts Out of Russia's Orbit",
            "Read also: Kazakhstan's gas",
            "Lire aussi : En Asie centrale, la guerre de l’eau n’aura pas lieu",
            "Читайте также: Старые каналы Ферганы",
            "Share this: Facebook X Email",
            "Поделиться: Telegram ВКонтакте WhatsApp",
            "Если вы заметили ошибку в тексте, выделите её и нажмите Ctrl+Enter.",
            "Il vous reste 62.41% de cet article à lire. La suite est réservée aux abonnés.",
        ];
        for line in chrome {
            assert!(is_rule_boilerplate(line), "kept: {line}");
        }
    }

    #[test]
    fn rules_leave_prose_alone() {
        let prose = [
            "The government says it will support the farmers who lost their harvest.",
            "Many donors followed the appeal, and the fund collected 2 million dollars.",
            "She did not want to share her name with us.",
            "Related factors include the drought and the war, the report says.",
            "“Support us, please,” the villagers told the minister, who promised nothing.",
            "Поддержка фермеров в этом году выросла вдвое.",
        ];
        for line in prose {
            assert!(!is_rule_boilerplate(line), "removed: {line}");
        }
        let long = format!("Donate {}", "word ".repeat(70));
        assert!(
            !is_rule_boilerplate(&long),
            "long paragraphs are never chrome"
        );
    }

    #[test]
    fn first_paragraph_is_never_removed() {
        let mut p = paras(&["Donate", "Body.", "Donate"]);
        strip_boilerplate(&mut p);
        assert_eq!(p, paras(&["Donate", "Body."]));
    }

    #[test]
    fn strip_regexes_cut_matches_and_drop_empty_lines() {
        let mut p = paras(&[
            "Title",
            "ALMATY (Wire) - Prices rose.",
            "Photo: AP",
            "Body.",
        ]);
        let res = vec![
            Regex::new(r"^[A-Z]+ \(Wire\) - ").expect("re"),
            Regex::new(r"^Photo: .*$").expect("re"),
        ];
        apply_strip_regexes(&mut p, &res);
        assert_eq!(p, paras(&["Title", "Prices rose.", "Body."]));
    }

    #[test]
    fn fingerprints_ignore_case_punctuation_and_numbers() {
        assert_eq!(
            fingerprint("Subscribe to our Telegram — 24/7!"),
            fingerprint("subscribe to our telegram 365 7")
        );
        assert_ne!(fingerprint("Edited by Maya"), fingerprint("Edited by Mari"));
    }

    const TOPICS: [&str; 10] = [
        "wheat", "gas", "water", "rail", "cotton", "gold", "power", "roads", "schools", "rents",
    ];

    fn entry(i: usize, extra: &[&str]) -> Vec<String> {
        let topic = TOPICS[i % TOPICS.len()];
        let mut v = vec![
            format!("Title about {topic}"),
            format!("The article says something new about {topic}."),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }

    #[test]
    fn model_learns_lines_recurring_across_entries() {
        let mut m = BoilerplateModel::default();
        let slogan = "Independent news from the steppe since 2001";
        for i in 0..4 {
            m.observe(&entry(i, &[slogan]));
        }
        assert!(!m.is_boilerplate(slogan), "too few entries yet");
        m.observe(&entry(4, &[slogan, "Once-only line"]));
        assert!(m.is_boilerplate(slogan));
        assert!(!m.is_boilerplate("Once-only line"));
        let mut p = entry(9, &[slogan]);
        m.strip(&mut p);
        assert_eq!(p, entry(9, &[]));
        let long = format!("{slogan} {}", "and more words ".repeat(20));
        assert!(!m.is_boilerplate(&long));
    }

    #[test]
    fn models_stored_with_line_text_are_upgraded() {
        let slogan = "Independent news from the steppe since 2001";
        let mut current = BoilerplateModel::default();
        for i in 0..6 {
            current.observe(&entry(i, &[slogan]));
        }
        assert!(current.stats.counts.keys().all(|k| k.len() == 16));
        // The same counts as an earlier version stored them: under the fingerprint text.
        let mut old = current.clone();
        old.stats.counts = [
            (fingerprint(slogan), 6),
            (
                fingerprint("The article says something new about wheat."),
                1,
            ),
        ]
        .into_iter()
        .collect();
        let json = serde_json::to_string(&old).expect("json");
        let back: BoilerplateModel = serde_json::from_str(&json).expect("json");
        let up = back.upgraded();
        assert!(up.is_boilerplate(slogan));
        assert!(!up.is_boilerplate("The article says something new about wheat."));
        assert_eq!(up.stats.counts.get(&line_key(slogan)), Some(&6));
        assert_eq!(current.clone().upgraded(), current);
    }

    #[test]
    fn an_entry_made_only_of_recurring_lines_keeps_them() {
        let mut m = BoilerplateModel::default();
        let status = |i: usize| {
            vec![
                format!("Build {i}"),
                format!("Build {i} of the nightly passed."),
            ]
        };
        for i in 0..6 {
            m.observe(&status(i));
        }
        assert!(m.is_boilerplate("Build 7 of the nightly passed."));
        let mut p = status(7);
        m.strip(&mut p);
        assert_eq!(p, status(7));
        // With a line of its own beside it, the recurring line goes.
        let mut p = status(8);
        p.push("The compiler was upgraded today.".into());
        m.strip(&mut p);
        assert_eq!(p, ["Build 8", "The compiler was upgraded today."]);
    }

    #[test]
    fn a_hand_edited_model_at_the_counters_limit_is_counted_without_overflow() {
        let key = line_key("Support our work");
        let json = format!(
            r#"{{"stats":{{"entries":4294967295,"counts":{{"{key}":4294967295}}}},
               "thresholds":{{"min_entries":5,"min_fraction":0.5,"max_words":40,"window":0}}}}"#
        );
        let mut m: BoilerplateModel = serde_json::from_str(&json).expect("model");
        m.observe(&paras(&["Title", "Support our work"]));
        assert_eq!(m.stats.entries, u32::MAX);
        assert_eq!(m.stats.counts.get(&key), Some(&u32::MAX));
        assert!(m.is_boilerplate("Support our work"));
    }

    #[test]
    fn model_forgets_old_lines_and_round_trips_through_json() {
        let mut m = BoilerplateModel::new(Thresholds {
            window: 10,
            ..Thresholds::default()
        });
        for i in 0..6 {
            m.observe(&entry(i, &["Old slogan"]));
        }
        assert!(m.is_boilerplate("Old slogan"));
        for i in 6..30usize {
            m.observe(&entry(i, &["New slogan"]));
        }
        assert!(!m.is_boilerplate("Old slogan"));
        assert!(m.is_boilerplate("New slogan"));
        assert!(m.stats.entries < 10);
        let json = serde_json::to_string(&m).expect("json");
        let back: BoilerplateModel = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, m);
    }
}
