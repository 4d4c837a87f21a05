//! The corpus in a picture: one self-contained HTML page (inline SVG, no script, no network)
//! with new entries per day for the last days by feed and by language, a table of feeds with a
//! sparkline each, the near-duplicate share per week, corpus size and records pending.
//!
//! Pure: [`render_html`] turns counts the store made ([`ReportData`]) into the page; `report
//! --html` writes it to a file and the daemon's metrics listener serves it at `/`. The numbers
//! the page shows are also embedded as one JSON block (`<script type="application/json"
//! id="report-data">`), so tools and tests can read them without scraping.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use crate::store::{DayCount, FeedRow, ReportData};

/// Days the charts cover.
pub const DAYS: i64 = 90;

/// Series drawn one by one in a stacked chart; the rest are summed as "other".
const TOP_SERIES: usize = 10;

/// Colours of the stacked series, then "other" in grey.
const PALETTE: [&str; TOP_SERIES] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#d37295",
];
const OTHER: &str = "#bab0ac";

/// Everything the page shows, beyond the store's counts: when, and the corpus folder.
#[derive(Debug, Clone)]
pub struct ReportInput {
    pub data: ReportData,
    /// The last day the charts show (UTC).
    pub today: NaiveDate,
    pub generated_at: String,
    pub corpus_files: u64,
    pub corpus_bytes: u64,
}

/// Counts the report from the store and the corpus folder as of `now`; only configured (active)
/// feeds get a row.
pub async fn gather(
    store: &crate::store::Store,
    corpus_dir: &std::path::Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ReportInput, crate::store::StoreError> {
    let today = now.date_naive();
    let first = today - Duration::days(DAYS - 1);
    let since = format!("{first}T00:00:00Z");
    let midnight = format!("{today}T00:00:00Z");
    let mut data = store.report_data(&since, &midnight).await?;
    data.feeds.retain(|f| f.active);
    let dir = corpus_dir.to_path_buf();
    let (corpus_files, corpus_bytes) =
        tokio::task::spawn_blocking(move || super::size_on_disk(&dir))
            .await
            .unwrap_or((0, 0));
    Ok(ReportInput {
        data,
        today,
        generated_at: crate::model::rfc3339(now),
        corpus_files,
        corpus_bytes,
    })
}

/// The numbers of the page, as the embedded JSON block holds them.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    generated_at: &'a str,
    days: i64,
    entries: i64,
    entries_in_window: i64,
    records: i64,
    records_pending: i64,
    corpus_files: u64,
    corpus_bytes: u64,
    feeds: Vec<FeedSummary<'a>>,
    weeks: Vec<WeekSummary<'a>>,
}

#[derive(Debug, Serialize)]
struct FeedSummary<'a> {
    name: &'a str,
    status: &'a str,
    last_success_at: Option<&'a str>,
    entries_7d: i64,
    entries_30d: i64,
    error_streak: i64,
}

#[derive(Debug, Serialize)]
struct WeekSummary<'a> {
    week: &'a str,
    entries: i64,
    near_duplicates: i64,
}

/// The page.
pub fn render_html(r: &ReportInput) -> String {
    let days: Vec<NaiveDate> = (0..DAYS)
        .rev()
        .map(|back| r.today - Duration::days(back))
        .collect();
    let per_feed = per_feed_days(&r.data.feed_days);
    let summary = summary(r, &days, &per_feed);
    let mut page = String::with_capacity(64 * 1024);
    page.push_str(HEAD);
    let _ = write!(
        page,
        "<h1>feedcorpus</h1><p class=\"muted\">generated {}</p>",
        esc(&r.generated_at)
    );
    page.push_str(&totals_html(&summary));
    page.push_str("<h2>New entries per day, by feed</h2>");
    page.push_str(&stacked_chart(&days, &r.data.by_feed, "feed"));
    page.push_str("<h2>New entries per day, by language</h2>");
    page.push_str(&stacked_chart(&days, &r.data.by_language, "language"));
    page.push_str("<h2>Near-duplicate share per week</h2>");
    page.push_str(&weeks_chart(&summary.weeks));
    page.push_str("<h2>Feeds</h2>");
    page.push_str(&feeds_table(
        &r.data.feeds,
        &summary.feeds,
        &days,
        &per_feed,
    ));
    let json = serde_json::to_string(&summary).unwrap_or_else(|_| "{}".into());
    // `</` would end the script element early; JSON allows `<\/`.
    let _ = write!(
        page,
        "<script type=\"application/json\" id=\"report-data\">{}</script>",
        json.replace("</", "<\\/")
    );
    page.push_str("</body></html>\n");
    page
}

const HEAD: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>feedcorpus report</title><style>\
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}\
h1{margin:0}h2{font-size:16px;margin:28px 0 8px}.muted{color:#777}\
.totals{display:flex;gap:24px;flex-wrap:wrap}.totals div{background:#f4f4f4;padding:8px 12px;border-radius:4px}\
.totals b{display:block;font-size:20px}\
table{border-collapse:collapse;width:100%}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}.bad{color:#b00}\
.legend span{display:inline-block;margin-right:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}\
</style></head><body>";

/// Feed name → day → entries linked that day.
fn per_feed_days(rows: &[DayCount]) -> HashMap<&str, HashMap<&str, i64>> {
    let mut out: HashMap<&str, HashMap<&str, i64>> = HashMap::new();
    for r in rows {
        *out.entry(r.key.as_str())
            .or_default()
            .entry(r.day.as_str())
            .or_default() += r.n;
    }
    out
}

/// Entries of `feed` on the last `n` of `days`.
fn last_days(
    per_feed: &HashMap<&str, HashMap<&str, i64>>,
    feed: &str,
    days: &[NaiveDate],
    n: usize,
) -> i64 {
    let Some(by_day) = per_feed.get(feed) else {
        return 0;
    };
    days.iter()
        .rev()
        .take(n)
        .map(|d| by_day.get(d.to_string().as_str()).copied().unwrap_or(0))
        .sum()
}

fn summary<'a>(
    r: &'a ReportInput,
    days: &[NaiveDate],
    per_feed: &HashMap<&str, HashMap<&str, i64>>,
) -> Summary<'a> {
    let feeds = r
        .data
        .feeds
        .iter()
        .map(|f| FeedSummary {
            name: &f.name,
            status: f.last_status.as_deref().unwrap_or("never polled"),
            last_success_at: r.data.last_success.get(&f.name).map(String::as_str),
            entries_7d: last_days(per_feed, &f.name, days, 7),
            entries_30d: last_days(per_feed, &f.name, days, 30),
            error_streak: f.error_count,
        })
        .collect();
    Summary {
        generated_at: &r.generated_at,
        days: DAYS,
        entries: r.data.totals.entries,
        entries_in_window: in_window(&r.data.by_feed, days),
        records: r.data.totals.records,
        records_pending: r.data.totals.records_pending,
        corpus_files: r.corpus_files,
        corpus_bytes: r.corpus_bytes,
        feeds,
        weeks: r
            .data
            .weeks
            .iter()
            .map(|w| WeekSummary {
                week: &w.week,
                entries: w.entries,
                near_duplicates: w.near_duplicates,
            })
            .collect(),
    }
}

/// New entries on the charts' days.
fn in_window(counts: &[DayCount], days: &[NaiveDate]) -> i64 {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return 0;
    };
    let (first, last) = (first.to_string(), last.to_string());
    counts
        .iter()
        .filter(|c| c.day >= first && c.day <= last)
        .map(|c| c.n)
        .sum()
}

fn totals_html(s: &Summary<'_>) -> String {
    let cells = [
        ("entries", "entries stored", s.entries.to_string()),
        (
            "entries-in-window",
            "new in the last 90 days",
            s.entries_in_window.to_string(),
        ),
        ("records", "records written", s.records.to_string()),
        (
            "records-pending",
            "records pending",
            s.records_pending.to_string(),
        ),
        ("corpus-files", "record files", s.corpus_files.to_string()),
        ("corpus-bytes", "corpus size", human_bytes(s.corpus_bytes)),
    ];
    let mut out = String::from("<div class=\"totals\">");
    for (id, label, value) in cells {
        let _ = write!(out, "<div><b id=\"{id}\">{value}</b>{label}</div>");
    }
    out.push_str("</div>");
    out
}

/// A stacked bar per day: the top series by total in the window, then "other".
fn stacked_chart(days: &[NaiveDate], counts: &[DayCount], what: &str) -> String {
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for c in counts {
        *totals.entry(c.key.as_str()).or_default() += c.n;
    }
    let mut ranked: Vec<(&str, i64)> = totals.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let top: Vec<&str> = ranked.iter().take(TOP_SERIES).map(|(k, _)| *k).collect();
    let series_of = |key: &str| top.iter().position(|t| *t == key).unwrap_or(TOP_SERIES);
    // day index → series → count
    let index: HashMap<String, usize> = days
        .iter()
        .enumerate()
        .map(|(i, d)| (d.to_string(), i))
        .collect();
    let mut grid = vec![[0i64; TOP_SERIES + 1]; days.len()];
    for c in counts {
        if let Some(row) = index.get(&c.day).and_then(|&i| grid.get_mut(i)) {
            row[series_of(&c.key)] += c.n;
        }
    }
    let max = grid
        .iter()
        .map(|r| r.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, left, bottom) = (960.0, 200.0, 40.0, 18.0);
    let plot_w = w - left;
    let plot_h = h - bottom;
    let bar = plot_w / days.len().max(1) as f64;
    let mut svg = format!(
        "<svg class=\"chart\" data-chart=\"{what}\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"new entries per day by {what}\">"
    );
    let _ = write!(
        svg,
        "<text x=\"0\" y=\"12\" font-size=\"11\">{max}</text><text x=\"0\" y=\"{plot_h}\" font-size=\"11\">0</text>"
    );
    for (i, row) in grid.iter().enumerate() {
        let mut y = plot_h;
        for (s, &n) in row.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let bh = n as f64 / max as f64 * plot_h;
            y -= bh;
            let colour = PALETTE.get(s).copied().unwrap_or(OTHER);
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{colour}\"><title>{} {}: {n}</title></rect>",
                left + i as f64 * bar,
                (bar - 1.0).max(1.0),
                days[i],
                esc(top.get(s).copied().unwrap_or("other")),
            );
        }
    }
    for (i, d) in days.iter().enumerate().step_by(15) {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{h}\" font-size=\"10\">{}</text>",
            left + i as f64 * bar,
            d.format("%m-%d")
        );
    }
    svg.push_str("</svg><div class=\"legend\">");
    for (s, key) in top.iter().enumerate() {
        let _ = write!(
            svg,
            "<span><i style=\"background:{}\"></i>{}</span>",
            PALETTE[s],
            esc(key)
        );
    }
    if ranked.len() > TOP_SERIES {
        let _ = write!(
            svg,
            "<span><i style=\"background:{OTHER}\"></i>other</span>"
        );
    }
    if ranked.is_empty() {
        svg.push_str("<span class=\"muted\">no new entries in these days</span>");
    }
    svg.push_str("</div>");
    svg
}

/// One bar per week: the share of its new entries that were near-duplicates.
fn weeks_chart(weeks: &[WeekSummary<'_>]) -> String {
    if weeks.is_empty() {
        return "<p class=\"muted\">no entries in these weeks</p>".into();
    }
    let (w, h, bottom) = (960.0, 120.0, 18.0);
    let plot_h = h - bottom;
    let bar = w / weeks.len() as f64;
    let mut svg = format!(
        "<svg class=\"chart\" data-chart=\"near-duplicates\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"near-duplicate share per week\">"
    );
    for (i, wk) in weeks.iter().enumerate() {
        let share = if wk.entries > 0 {
            wk.near_duplicates as f64 / wk.entries as f64
        } else {
            0.0
        };
        let bh = share * (plot_h - 14.0);
        let x = i as f64 * bar;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#4e79a7\"><title>week of {}: {} of {}</title></rect>\
             <text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\">{:.0}%</text><text x=\"{x:.1}\" y=\"{h}\" font-size=\"10\">{}</text>",
            plot_h - bh,
            (bar - 2.0).max(1.0),
            esc(wk.week),
            wk.near_duplicates,
            wk.entries,
            (plot_h - bh - 2.0).max(10.0),
            share * 100.0,
            esc(wk.week.get(5..).unwrap_or(wk.week)),
        );
    }
    svg.push_str("</svg>");
    svg
}

fn feeds_table(
    rows: &[FeedRow],
    summaries: &[FeedSummary<'_>],
    days: &[NaiveDate],
    per_feed: &HashMap<&str, HashMap<&str, i64>>,
) -> String {
    let mut out = String::from(
        "<table id=\"feeds\"><tr><th>feed</th><th>status</th><th>last success</th><th>7 days</th><th>30 days</th><th>errors in a row</th><th>last 30 days</th></tr>",
    );
    for (row, s) in rows.iter().zip(summaries) {
        let name = esc(&row.name);
        let class = if s.error_streak > 0 {
            " class=\"bad\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr data-feed=\"{name}\"><td>{name}</td><td{class}>{}</td><td>{}</td><td class=\"n d7\">{}</td><td class=\"n d30\">{}</td><td class=\"n errors\">{}</td><td>{}</td></tr>",
            esc(s.status),
            esc(s.last_success_at.unwrap_or("never")),
            s.entries_7d,
            s.entries_30d,
            s.error_streak,
            sparkline(per_feed.get(row.name.as_str()), days),
        );
    }
    out.push_str("</table>");
    out
}

/// Daily counts of the last 30 days as a small line.
fn sparkline(by_day: Option<&HashMap<&str, i64>>, days: &[NaiveDate]) -> String {
    let last: Vec<i64> = days
        .iter()
        .rev()
        .take(30)
        .rev()
        .map(|d| {
            by_day
                .and_then(|m| m.get(d.to_string().as_str()))
                .copied()
                .unwrap_or(0)
        })
        .collect();
    let max = last.iter().copied().max().unwrap_or(0).max(1);
    let points: Vec<String> = last
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{},{:.1}", i * 4, 20.0 - *n as f64 / max as f64 * 18.0))
        .collect();
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 120 22\" width=\"120\" height=\"22\"><polyline fill=\"none\" stroke=\"#4e79a7\" stroke-width=\"1.5\" points=\"{}\"/></svg>",
        points.join(" ")
    )
}

/// Bytes for people: `812 B`, `33.8 MB` (powers of 1000).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Totals, WeekShare};

    fn count(day: &str, key: &str, n: i64) -> DayCount {
        DayCount {
            day: day.into(),
            key: key.into(),
            n,
        }
    }

    fn feed(name: &str, errors: i64) -> FeedRow {
        FeedRow {
            name: name.into(),
            url: format!("https://e.org/{name}"),
            active: true,
            last_status: Some(if errors > 0 { "error" } else { "ok" }.into()),
            error_count: errors,
            last_error: None,
            last_fetch_at: None,
            next_poll_at: None,
            disabled_reason: None,
            entries: 0,
            leased_by: None,
        }
    }

    fn input() -> ReportInput {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
        ReportInput {
            data: ReportData {
                by_feed: vec![
                    count("2026-12-01", "a<b", 3),
                    count("2026-11-20", "quiet", 2),
                    count("2026-08-01", "a<b", 50),
                ],
                by_language: vec![count("2026-12-01", "en", 3), count("2026-11-20", "ru", 2)],
                feed_days: vec![
                    count("2026-12-01", "a<b", 3),
                    count("2026-11-28", "a<b", 1),
                    count("2026-11-20", "quiet", 2),
                ],
                weeks: vec![WeekShare {
                    week: "2026-11-30".into(),
                    entries: 4,
                    near_duplicates: 1,
                }],
                feeds: vec![feed("a<b", 0), feed("quiet", 3)],
                last_success: [("a<b".to_string(), "2026-12-01T10:00:00Z".to_string())]
                    .into_iter()
                    .collect(),
                totals: Totals {
                    entries: 55,
                    entries_today: 3,
                    records: 50,
                    records_pending: 5,
                },
            },
            today,
            generated_at: "2026-12-01T12:00:00Z".into(),
            corpus_files: 50,
            corpus_bytes: 123_456,
        }
    }

    #[test]
    fn the_page_counts_windows_escapes_names_and_embeds_its_numbers() {
        let html = render_html(&input());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(
            !html.contains("http://") && !html.contains("https://e.org"),
            "no links out"
        );
        assert!(html.contains("<tr data-feed=\"a&lt;b\">"), "names escaped");
        assert!(!html.contains("<td>a<b</td>"), "no raw name in the table");
        let json = html
            .split("<script type=\"application/json\" id=\"report-data\">")
            .nth(1)
            .and_then(|r| r.split("</script>").next())
            .unwrap_or("");
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        // (feed, 7 days, 30 days, errors)
        let want = [("a<b", 4, 4, 0), ("quiet", 0, 2, 3)];
        for (i, (name, d7, d30, errors)) in want.iter().enumerate() {
            let f = &v["feeds"][i];
            assert_eq!(f["name"], *name);
            assert_eq!(f["entries_7d"], *d7, "{name} 7d");
            assert_eq!(f["entries_30d"], *d30, "{name} 30d");
            assert_eq!(f["error_streak"], *errors, "{name} errors");
        }
        // The August entries are outside the 90 days but inside the total.
        assert_eq!(v["entries_in_window"], 5);
        assert_eq!(v["entries"], 55);
        assert_eq!(v["records_pending"], 5);
        assert!(html.contains("<b id=\"records-pending\">5</b>"));
        assert!(html.contains("25%"), "near-duplicate share of the week");
    }

    #[test]
    fn more_series_than_colours_sum_into_other() {
        let counts: Vec<DayCount> = (0..14)
            .map(|i| count("2026-12-01", &format!("feed{i:02}"), 14 - i))
            .collect();
        let days = vec![NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default()];
        let svg = stacked_chart(&days, &counts, "feed");
        assert_eq!(svg.matches("<rect").count(), TOP_SERIES + 1);
        assert!(svg.contains(&format!("other: {}", 1 + 2 + 3 + 4)), "{svg}");
        assert!(svg.contains("feed00") && !svg.contains("feed13"));
    }
}
