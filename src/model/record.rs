//! A record to write: what the corpus needs of a stored entry.

/// An entry whose record file has to be written (or written again).
#[derive(Debug, Clone)]
pub struct PendingRecord {
    pub entry_id: i64,
    pub key: String,
    pub record_date: String,
    pub content_text: String,
    /// Set when the record was written before (file missing, or to be rewritten).
    pub record_path: Option<String>,
    pub title: Option<String>,
    pub author: Option<String>,
    pub url: Option<String>,
    pub content_html: Option<String>,
    /// The record's number when the database hands numbers out (a shared database); `None`:
    /// the corpus numbers it.
    pub record_seq: Option<u64>,
}
