//! `feedcorpus export`: the corpus regenerated from the database.
//!
//! Output depends only on the database and the options: entries in publication order, records
//! numbered from 000 in that order, JSON fields in a fixed order. Two exports of one database are
//! byte-identical, which makes an export a reproducible dataset snapshot.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::config::RecordFormat;
use crate::corpus::{Form, render_record};
use crate::model::entry::key_hash16;
use crate::model::record::PendingRecord;
use crate::store::{EntryFilter, EntryRow, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Text,
    Markdown,
    Jsonl,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0} exists and is not an empty folder; export into a new or empty one")]
    NotEmpty(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn record_of(e: &EntryRow) -> PendingRecord {
    PendingRecord {
        entry_id: e.id,
        key: e.key.clone(),
        record_date: e.record_date.clone(),
        content_text: e.text.clone(),
        record_path: e.record_path.clone(),
        title: e.title.clone(),
        author: e.author.clone(),
        url: e.url.clone(),
        content_html: e.content_html.clone(),
        record_seq: None,
    }
}

/// Writes the export; returns how many entries (JSONL) or records (text, Markdown) it holds.
/// Text and Markdown skip entries kept out of the corpus (language, near-duplicate) and empty
/// ones; JSONL carries every entry with every stored field. Text records open with the title
/// only when `text_title` (`[corpus] text_title`), as the daemon writes them.
pub async fn export(
    store: &Store,
    filter: &EntryFilter<'_>,
    format: ExportFormat,
    text_title: bool,
    out: &Path,
) -> Result<usize, ExportError> {
    let write_err = |path: &Path, source| ExportError::Write {
        path: path.display().to_string(),
        source,
    };
    match format {
        ExportFormat::Jsonl => {
            let file = fs::File::create(out).map_err(|e| write_err(out, e))?;
            let mut w = std::io::BufWriter::new(file);
            let n = store
                .for_each_entry(filter, |e| {
                    serde_json::to_writer(&mut w, &e)?;
                    w.write_all(b"\n")
                })
                .await?;
            w.flush().map_err(|e| write_err(out, e))?;
            Ok(n)
        }
        ExportFormat::Text | ExportFormat::Markdown => {
            if out.exists()
                && fs::read_dir(out)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(true)
            {
                return Err(ExportError::NotEmpty(out.display().to_string()));
            }
            fs::create_dir_all(out).map_err(|e| write_err(out, e))?;
            let form = Form {
                format: if format == ExportFormat::Markdown {
                    RecordFormat::Markdown
                } else {
                    RecordFormat::Text
                },
                text_title,
            };
            let mut seq = 0usize;
            store
                .for_each_entry(filter, |e| {
                    if e.excluded.is_some() || e.text.is_empty() {
                        return Ok(());
                    }
                    let name = format!("{seq:03}_{}.txt", key_hash16(&e.key));
                    fs::write(out.join(name), render_record(&record_of(&e), form))?;
                    seq += 1;
                    Ok(())
                })
                .await?;
            Ok(seq)
        }
    }
}
