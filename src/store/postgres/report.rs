//! The corpus report's counts, one grouped query each; days and weeks are UTC.

use std::collections::HashMap;

use super::{Col, Context, PgStore};
use crate::store::rows;
use crate::store::{DayCount, ReportData, StoreError, WeekShare};

impl PgStore {
    pub async fn report_data(&self, since: &str, today: &str) -> Result<ReportData, StoreError> {
        // Each entry once, under the feed that brought it first (earliest link, then lowest id).
        let by_feed = self
            .day_counts(
                "SELECT to_char(e.first_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
                        coalesce((SELECT f.name FROM feed_entries fe JOIN feeds f ON f.id = fe.feed_id
                                  WHERE fe.entry_id = e.id
                                  ORDER BY fe.first_seen_at, fe.feed_id LIMIT 1), '(no feed)') AS k,
                        count(*)
                 FROM entries e WHERE e.first_seen_at >= $1::timestamptz
                 GROUP BY 1, 2 ORDER BY 1, 2",
                since,
                "counting new entries by feed",
            )
            .await?;
        let by_language = self
            .day_counts(
                "SELECT to_char(first_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                        coalesce(language, 'unknown'), count(*)
                 FROM entries WHERE first_seen_at >= $1::timestamptz GROUP BY 1, 2 ORDER BY 1, 2",
                since,
                "counting new entries by language",
            )
            .await?;
        let feed_days = self
            .day_counts(
                "SELECT to_char(fe.first_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), f.name, count(*)
                 FROM feed_entries fe JOIN feeds f ON f.id = fe.feed_id
                 WHERE fe.first_seen_at >= $1::timestamptz GROUP BY 1, 2 ORDER BY 1, 2",
                since,
                "counting entries per feed and day",
            )
            .await?;
        Ok(ReportData {
            by_feed,
            by_language,
            feed_days,
            weeks: self.weeks(since).await?,
            feeds: self.feed_rows().await?,
            last_success: self.last_success().await?,
            totals: self.totals(today).await?,
        })
    }

    async fn day_counts(
        &self,
        sql: &'static str,
        since: &str,
        context: &'static str,
    ) -> Result<Vec<DayCount>, StoreError> {
        let rows = sqlx::query(sql)
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .ctx(context)?;
        rows.iter().map(rows::day_count).collect()
    }

    /// New entries per week (ISO weeks start on Monday) and how many joined an older entry's
    /// near-duplicate cluster.
    async fn weeks(&self, since: &str) -> Result<Vec<WeekShare>, StoreError> {
        let rows = sqlx::query(
            "SELECT to_char(date_trunc('week', first_seen_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS week,
                    count(*),
                    count(*) FILTER (WHERE cluster_id IS NOT NULL AND cluster_id <> id)
             FROM entries WHERE first_seen_at >= $1::timestamptz GROUP BY 1 ORDER BY 1",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .ctx("counting near-duplicates per week")?;
        rows.iter().map(rows::week_share).collect()
    }

    async fn last_success(&self) -> Result<HashMap<String, String>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, rfc3339(last_success_at) FROM feeds WHERE last_success_at IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await
        .ctx("reading last successes")?;
        rows.iter()
            .map(|r| Ok((r.col::<String>(0)?, r.col::<String>(1)?)))
            .collect()
    }
}
