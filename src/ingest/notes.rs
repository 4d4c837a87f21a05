//! The log lines for [`decide`](super::decide)'s notes: one line per event with the feed's name
//! and URL. A server's too-long wait is logged as a warning the first time per feed and process,
//! then at debug level (the asked value stays in `feeds.hints`/`last_error`).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use super::decide::Note;
use crate::model::feed::FeedJob;

/// Which feeds' capped waits were logged already; shared by every fetch task.
#[derive(Debug, Default)]
pub struct NoteLog {
    capped: Mutex<HashSet<i64>>,
}

impl NoteLog {
    pub fn log(&self, job: &FeedJob, notes: &[Note]) {
        for note in notes {
            self.log_one(job, note);
        }
    }

    fn log_one(&self, job: &FeedJob, note: &Note) {
        let (feed, url) = (&job.name, &job.url);
        match note {
            Note::Skipped(reason) => {
                tracing::info!(feed = %feed, url = %url, reason = %reason, "feed skipped")
            }
            Note::Unchanged(status) => {
                tracing::info!(feed = %feed, url = %url, status = %status, "feed unchanged")
            }
            Note::Gap { entries, interval } => tracing::warn!(
                feed = %feed, url = %url, entries, interval_s = interval.as_secs(),
                "every entry is new and older ones scrolled out since the last poll: entries may have been missed; polling more often"
            ),
            Note::Recovered => {
                tracing::warn!(feed = %feed, url = %url, "feed is not well-formed XML; read through recovery")
            }
            Note::Failed { error, errors } => {
                tracing::warn!(feed = %feed, url = %url, error = %error, errors, "feed failed")
            }
            Note::Gone => {
                tracing::error!(feed = %feed, url = %url, "the server says the feed is gone (410); it is disabled until its URL changes in the config")
            }
            Note::Capped(asked) => self.capped(job, *asked),
            Note::Moved(target) => tracing::warn!(feed = %feed, url = %url, moved_to = %target,
                "feed moved permanently (repeated 301/308); polling the new URL — update the config"),
        }
    }

    fn capped(&self, job: &FeedJob, asked: Duration) {
        let first = self
            .capped
            .lock()
            .map(|mut s| s.insert(job.id))
            .unwrap_or(true);
        if first {
            tracing::warn!(
                feed = %job.name, url = %job.url, asked_s = asked.as_secs(), max_interval_s = job.max_wait.as_secs(),
                "the server asks for a longer wait than [poll] max_interval; capped"
            );
        } else {
            tracing::debug!(feed = %job.name, url = %job.url, asked_s = asked.as_secs(), "server wait capped again");
        }
    }
}
