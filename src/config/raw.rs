//! The config file as written: serde structs that mirror the TOML (unknown keys refused, spans
//! kept where an error must point at a value), and the parsers for its value types (durations,
//! sizes). Validation happens in [`super::sections`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use super::{FullText, OnUpdate, RecordFormat};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) storage: RawStorage,
    #[serde(default)]
    pub(super) poll: RawPoll,
    #[serde(default)]
    pub(super) http: RawHttp,
    #[serde(default)]
    pub(super) metrics: RawMetrics,
    #[serde(default)]
    pub(super) corpus: RawCorpus,
    #[serde(default)]
    pub(super) feeds: Vec<RawFeed>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCorpus {
    pub(super) record_format: Option<RecordFormat>,
    pub(super) text_title: Option<bool>,
    pub(super) min_words: Option<usize>,
    pub(super) languages: Option<Vec<Spanned<String>>>,
    pub(super) skip_near_duplicates: Option<bool>,
    pub(super) on_update: Option<OnUpdate>,
    pub(super) full_text: Option<FullText>,
    pub(super) max_pages_per_poll: Option<usize>,
    pub(super) keep_html: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    pub(super) database: Spanned<String>,
    pub(super) corpus_dir: Spanned<String>,
    pub(super) lease: Option<Spanned<HumanDuration>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPoll {
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) interval: Option<Duration>,
    pub(super) concurrency: Option<Spanned<usize>>,
    #[serde(default, deserialize_with = "de_duration_or_zero")]
    pub(super) startup_jitter: Option<Duration>,
    pub(super) adaptive: Option<bool>,
    /// Kept with their spans: an error about the pair points at the value written.
    pub(super) min_interval: Option<Spanned<HumanDuration>>,
    pub(super) max_interval: Option<Spanned<HumanDuration>>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) max_backoff: Option<Duration>,
    pub(super) max_entries_per_fetch: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) connect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) read_timeout: Option<Duration>,
    pub(super) per_host_connections: Option<Spanned<usize>>,
    #[serde(default, deserialize_with = "de_duration_or_zero")]
    pub(super) per_host_min_gap: Option<Duration>,
    pub(super) user_agent: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "de_size")]
    pub(super) max_body_size: Option<u64>,
    pub(super) max_redirects: Option<usize>,
    pub(super) allow_internal_hosts: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFeed {
    pub(super) url: Spanned<String>,
    pub(super) name: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) interval: Option<Duration>,
    pub(super) schedule: Option<Spanned<String>>,
    pub(super) pin_interval: Option<bool>,
    pub(super) adaptive: Option<bool>,
    pub(super) full_text: Option<FullText>,
    pub(super) strip: Option<Vec<Spanned<String>>>,
    pub(super) languages: Option<Vec<Spanned<String>>>,
    pub(super) min_words: Option<usize>,
}

/// Humane durations ("90s", "15m", "1h 30m"); zero is refused because it would mean "poll in a loop".
/// A humane duration ("90s", "15m", "1h 30m"), greater than zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct HumanDuration(pub(super) Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(HumanDuration)
            .map_err(serde::de::Error::custom)
    }
}

pub(super) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Like [`de_duration`], but "0s" is allowed (it switches the feature off).
pub(super) fn de_duration_or_zero<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(text.trim())
        .map(Some)
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?} ({e}); write e.g. \"0s\", \"500ms\", \"1m\""
            ))
        })
}

/// `path` without `.` components and with each `..` folded into its parent, as written (no
/// symlinks are followed): `/etc/feedcorpus/../data` → `/etc/data`. A `..` above the root
/// stays at the root.
pub fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let at_top = matches!(
                    out.components().next_back(),
                    None | Some(Component::RootDir | Component::Prefix(_) | Component::ParentDir)
                );
                if !at_top {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let dur = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("invalid duration {text:?} ({e}); write e.g. \"90s\", \"15m\", \"1h30m\"")
    })?;
    if dur.is_zero() {
        return Err(format!("duration {text:?} must be greater than zero"));
    }
    Ok(dur)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Int(i64),
    Text(String),
}

pub(super) fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match SizeValue::deserialize(d)? {
        SizeValue::Int(n) if n > 0 => Ok(Some(n as u64)),
        SizeValue::Int(n) => Err(serde::de::Error::custom(format!(
            "size {n} must be greater than zero"
        ))),
        SizeValue::Text(t) => parse_size(&t).map(Some).map_err(serde::de::Error::custom),
    }
}

/// Byte sizes such as "16MiB", "500 KB" or "1048576".
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {text:?}; write e.g. \"16MiB\" or \"500KB\""))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "kib" | "k" => 1024.0,
        "mb" => 1e6,
        "mib" | "m" => 1024.0 * 1024.0,
        "gb" => 1e9,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("invalid size unit {other:?} in {text:?}")),
    };
    let bytes = (num * mult).round();
    if bytes < 1.0 || !bytes.is_finite() {
        return Err(format!("size {text:?} must be greater than zero"));
    }
    Ok(bytes as u64)
}
