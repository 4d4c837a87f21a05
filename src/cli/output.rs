//! Text the operator reads: `status`, `feeds list`, `search` and `entries` output, and the
//! translation of command-line words and dates into query bounds.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use feedcorpus::config::Config;
use feedcorpus::store::{FeedRow, InstanceRow, SearchHit, Totals};

/// A `--since`/`--until` value (`YYYY-MM-DD` or RFC 3339) as an RFC 3339 UTC bound. A bare date
/// means the start of that day for `--since` and the end of it for `--until`.
pub fn time_bound(text: &str, until: bool) -> Result<String, String> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d
            .with_timezone(&Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    let day = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .map_err(|_| format!("invalid date {text:?}: write YYYY-MM-DD or an RFC 3339 time"))?;
    let day = if until {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    Ok(format!("{}T00:00:00Z", day.format("%Y-%m-%d")))
}

use feedcorpus::corpus::report::human_bytes;
pub use feedcorpus::corpus::size_on_disk as corpus_size;

#[derive(Debug, Serialize)]
pub struct Status {
    pub config: String,
    pub feeds_configured: usize,
    pub feeds_ok: usize,
    pub feeds_failing: usize,
    pub feeds_disabled: usize,
    pub feeds_never_polled: usize,
    pub totals: Totals,
    pub corpus_dir: String,
    pub corpus_files: u64,
    pub corpus_bytes: u64,
    pub failing: Vec<FeedRow>,
    /// The database (a URL without its password, or the SQLite file).
    pub database: String,
    /// Instances sharing the database that are alive (PostgreSQL).
    pub instances: Vec<InstanceRow>,
}

impl Status {
    pub fn build(
        config: &Config,
        rows: Vec<FeedRow>,
        totals: Totals,
        instances: Vec<InstanceRow>,
    ) -> Status {
        let configured: Vec<&FeedRow> = rows
            .iter()
            .filter(|r| config.feeds.iter().any(|f| f.name == r.name))
            .collect();
        let disabled = configured
            .iter()
            .filter(|r| r.disabled_reason.is_some())
            .count();
        let failing: Vec<FeedRow> = configured
            .iter()
            .filter(|r| r.disabled_reason.is_none() && r.last_status.as_deref() == Some("error"))
            .map(|r| (*r).clone())
            .collect();
        let ok = configured
            .iter()
            .filter(|r| {
                r.disabled_reason.is_none()
                    && matches!(
                        r.last_status.as_deref(),
                        Some("ok" | "not_modified" | "unchanged")
                    )
            })
            .count();
        let never = configured
            .iter()
            .filter(|r| r.last_status.is_none())
            .count()
            + config.feeds.len().saturating_sub(configured.len());
        let (files, bytes) = corpus_size(&config.storage.corpus_dir);
        Status {
            config: config.path.display().to_string(),
            feeds_configured: config.feeds.len(),
            feeds_ok: ok,
            feeds_failing: failing.len(),
            feeds_disabled: disabled,
            feeds_never_polled: never,
            totals,
            corpus_dir: config.storage.corpus_dir.display().to_string(),
            corpus_files: files,
            corpus_bytes: bytes,
            failing,
            database: config.storage.database.to_string(),
            instances,
        }
    }

    pub fn healthy(&self) -> bool {
        self.feeds_failing == 0 && self.totals.records_pending == 0
    }

    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "config:   {}", self.config);
        let _ = writeln!(o, "database: {}", self.database);
        if !self.instances.is_empty() {
            let _ = writeln!(o, "instances: {} running:", self.instances.len());
            for i in &self.instances {
                let _ = writeln!(
                    o,
                    "  {}  started {}, heartbeat {}, {} feed(s) claimed",
                    i.name, i.started_at, i.heartbeat_at, i.leases
                );
            }
        }
        let _ = writeln!(
            o,
            "feeds:    {} configured: {} ok, {} failing, {} disabled, {} not polled yet",
            self.feeds_configured,
            self.feeds_ok,
            self.feeds_failing,
            self.feeds_disabled,
            self.feeds_never_polled
        );
        let _ = writeln!(
            o,
            "entries:  {} stored, {} new today (UTC)",
            self.totals.entries, self.totals.entries_today
        );
        let _ = writeln!(
            o,
            "records:  {} written, {} pending",
            self.totals.records, self.totals.records_pending
        );
        let _ = writeln!(
            o,
            "corpus:   {} ({} files, {})",
            self.corpus_dir,
            self.corpus_files,
            human_bytes(self.corpus_bytes)
        );
        if self.failing.is_empty() {
            let _ = writeln!(
                o,
                "health:   {}",
                if self.healthy() {
                    "OK"
                } else {
                    "records pending"
                }
            );
        } else {
            let _ = writeln!(o, "health:   {} failing feed(s):", self.failing.len());
            for f in &self.failing {
                let _ = writeln!(
                    o,
                    "  {}  {} error(s), last {}: {}",
                    f.name,
                    f.error_count,
                    f.last_fetch_at.as_deref().unwrap_or("-"),
                    f.last_error.as_deref().unwrap_or("-")
                );
            }
        }
        o
    }
}

/// `feeds list`: configured feeds with what the database knows of them.
pub fn feeds_table(config: &Config, rows: &[FeedRow]) -> String {
    let mut lines = vec![[
        "NAME".to_string(),
        "STATUS".into(),
        "ERRORS".into(),
        "ENTRIES".into(),
        "LAST FETCH".into(),
        "NEXT POLL".into(),
        "CLAIMED BY".into(),
        "URL".into(),
    ]];
    for f in &config.feeds {
        let row = rows.iter().find(|r| r.name == f.name);
        let status = match row {
            Some(r) if r.disabled_reason.is_some() => "disabled".to_string(),
            Some(r) => r.last_status.clone().unwrap_or_else(|| "new".into()),
            None => "new".into(),
        };
        lines.push([
            f.name.clone(),
            status,
            row.map(|r| r.error_count.to_string())
                .unwrap_or_else(|| "0".into()),
            row.map(|r| r.entries.to_string())
                .unwrap_or_else(|| "0".into()),
            row.and_then(|r| r.last_fetch_at.clone())
                .unwrap_or_else(|| "-".into()),
            row.and_then(|r| r.next_poll_at.clone())
                .unwrap_or_else(|| "-".into()),
            row.and_then(|r| r.leased_by.clone())
                .unwrap_or_else(|| "-".into()),
            f.url.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for l in &lines {
        let cells: Vec<String> = l
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 7 {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub fn search_text(hits: &[SearchHit]) -> String {
    let mut o = String::new();
    for (i, h) in hits.iter().enumerate() {
        let _ = writeln!(
            o,
            "{}. {}  ({}, {})",
            i + 1,
            h.title.as_deref().unwrap_or("(untitled)"),
            h.feeds,
            h.published
                .as_deref()
                .map(|p| &p[..p.len().min(10)])
                .unwrap_or("undated")
        );
        let _ = writeln!(o, "   {}", h.snippet.replace('\n', " "));
        let _ = writeln!(
            o,
            "   {}  {}",
            h.url.as_deref().unwrap_or("-"),
            h.record_path.as_deref().unwrap_or("")
        );
    }
    if hits.is_empty() {
        o.push_str("no matches\n");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_bounds_cover_whole_days() {
        assert_eq!(
            time_bound("2026-06-15", false),
            Ok("2026-06-15T00:00:00Z".into())
        );
        assert_eq!(
            time_bound("2026-06-15", true),
            Ok("2026-06-16T00:00:00Z".into())
        );
        assert_eq!(
            time_bound("2026-06-15T12:00:00+02:00", false),
            Ok("2026-06-15T10:00:00Z".into())
        );
        assert!(time_bound("June", false).is_err());
        assert_eq!(human_bytes(45_200_000), "45.2 MB");
    }
}
