//! Result rows into the store's types, for every backend: both select the same columns in the
//! same order, so one function per type reads them (with a type check instead of a panic: a
//! value of the wrong type, written by a user's own tool, is an error naming what was read).

use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{DayCount, EntryRow, FeedRow, SearchHit, StoreError, Totals, WeekShare};
use crate::model::record::PendingRecord;

/// Database errors with what was being done.
pub(crate) trait Context<T> {
    fn ctx(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn ctx(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Query { context, source })
    }
}

/// Reads a column of any backend's row, with a type check instead of a panic: a value of the
/// wrong type (written by a user's own tool, say) is an error naming what was read.
pub(crate) trait Col: Row {
    fn col<'r, T>(&'r self, index: usize) -> Result<T, StoreError>
    where
        T: Decode<'r, Self::Database> + Type<Self::Database>;
}

impl<R: Row> Col for R
where
    usize: ColumnIndex<R>,
{
    fn col<'r, T>(&'r self, index: usize) -> Result<T, StoreError>
    where
        T: Decode<'r, Self::Database> + Type<Self::Database>,
    {
        self.try_get(index)
            .ctx("reading a row (a value of an unexpected type?)")
    }
}

/// A result row read by column index and type: what the shared readers below need.
pub(crate) trait Cells {
    fn text(&self, index: usize) -> Result<String, StoreError>;
    fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError>;
    fn int(&self, index: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError>;
    fn flag(&self, index: usize) -> Result<bool, StoreError>;
    fn real(&self, index: usize) -> Result<f64, StoreError>;
}

impl<R: Row> Cells for R
where
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> f64: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.col(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.col(i)
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.col(i)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.col(i)
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.col(i)
    }
    fn real(&self, i: usize) -> Result<f64, StoreError> {
        self.col(i)
    }
}

/// `id, key, guid, url, title, author, published, updated, record_date, content_text,
/// record_path, first_seen_at, feeds (newline-separated), language, cluster_id, text_source,
/// feed_text, excluded, content_hash, updated_at, content_html`.
pub(crate) fn entry_row(r: &impl Cells) -> Result<EntryRow, StoreError> {
    let feeds = r.opt_text(12)?;
    Ok(EntryRow {
        id: r.int(0)?,
        key: r.text(1)?,
        guid: r.opt_text(2)?,
        url: r.opt_text(3)?,
        title: r.opt_text(4)?,
        author: r.opt_text(5)?,
        published: r.opt_text(6)?,
        updated: r.opt_text(7)?,
        record_date: r.text(8)?,
        text: r.text(9)?,
        record_path: r.opt_text(10)?,
        first_seen_at: r.text(11)?,
        feeds: feeds
            .map(|f| f.split('\n').map(str::to_string).collect())
            .unwrap_or_default(),
        language: r.opt_text(13)?,
        cluster_id: r.opt_int(14)?,
        text_source: r.text(15)?,
        feed_text: r.opt_text(16)?,
        excluded: r.opt_text(17)?,
        content_hash: r.text(18)?,
        updated_at: r.opt_text(19)?,
        content_html: r.opt_text(20)?,
    })
}

/// `name, url, active, last_status, error_count, last_error, last_fetch_at, next_poll_at,
/// disabled_reason, entries` and, where the backend has one, the instance holding the feed.
pub(crate) fn feed_row(r: &impl Cells, leased_by: Option<usize>) -> Result<FeedRow, StoreError> {
    Ok(FeedRow {
        name: r.text(0)?,
        url: r.text(1)?,
        active: r.flag(2)?,
        last_status: r.opt_text(3)?,
        error_count: r.int(4)?,
        last_error: r.opt_text(5)?,
        last_fetch_at: r.opt_text(6)?,
        next_poll_at: r.opt_text(7)?,
        disabled_reason: r.opt_text(8)?,
        entries: r.int(9)?,
        leased_by: leased_by.map(|i| r.opt_text(i)).transpose()?.flatten(),
    })
}

/// `id, key, record_date, content_text, record_path, title, author, url, content_html` and,
/// where the database numbers records, `record_seq`.
pub(crate) fn pending_record(
    r: &impl Cells,
    seq: Option<usize>,
) -> Result<PendingRecord, StoreError> {
    let record_seq = seq.map(|i| r.opt_int(i)).transpose()?.flatten();
    Ok(PendingRecord {
        entry_id: r.int(0)?,
        key: r.text(1)?,
        record_date: r.text(2)?,
        content_text: r.text(3)?,
        record_path: r.opt_text(4)?,
        title: r.opt_text(5)?,
        author: r.opt_text(6)?,
        url: r.opt_text(7)?,
        content_html: r.opt_text(8)?,
        record_seq: record_seq.and_then(|n| u64::try_from(n).ok()),
    })
}

/// `day, key, count`.
pub(crate) fn day_count(r: &impl Cells) -> Result<DayCount, StoreError> {
    Ok(DayCount {
        day: r.text(0)?,
        key: r.text(1)?,
        n: r.int(2)?,
    })
}

/// `week, entries, near_duplicates`.
pub(crate) fn week_share(r: &impl Cells) -> Result<WeekShare, StoreError> {
    Ok(WeekShare {
        week: r.opt_text(0)?.unwrap_or_default(),
        entries: r.int(1)?,
        near_duplicates: r.int(2)?,
    })
}

/// `entries, entries_today, records, records_pending`.
pub(crate) fn totals(r: &impl Cells) -> Result<Totals, StoreError> {
    Ok(Totals {
        entries: r.int(0)?,
        entries_today: r.int(1)?,
        records: r.int(2)?,
        records_pending: r.int(3)?,
    })
}

/// `id, title, url, published, record_path, snippet, rank, feeds`.
pub(crate) fn search_hit(r: &impl Cells) -> Result<SearchHit, StoreError> {
    Ok(SearchHit {
        entry_id: r.int(0)?,
        title: r.opt_text(1)?,
        url: r.opt_text(2)?,
        published: r.opt_text(3)?,
        record_path: r.opt_text(4)?,
        snippet: r.opt_text(5)?.unwrap_or_default(),
        rank: r.real(6)?,
        feeds: r.opt_text(7)?.unwrap_or_default(),
    })
}

/// Hands each streamed entry row to `each`, in order; returns how many. A closed pipe (`| head`)
/// ends the listing; it is not a database error.
pub(crate) async fn each_entry<R: Cells>(
    mut rows: impl futures_util::Stream<Item = Result<R, sqlx::Error>> + Unpin,
    mut each: impl FnMut(EntryRow) -> std::io::Result<()>,
) -> Result<usize, StoreError> {
    use futures_util::TryStreamExt;
    let mut n = 0;
    while let Some(r) = rows.try_next().await.map_err(|source| StoreError::Query {
        context: "listing entries",
        source,
    })? {
        let row = entry_row(&r)?;
        n += 1;
        if let Err(e) = each(row) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                break;
            }
            return Err(StoreError::Output(e));
        }
    }
    Ok(n)
}
