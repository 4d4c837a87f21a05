//! Where in the file an error is: line, key and table of a byte offset.

use std::collections::HashMap;
use std::path::Path;

use super::ConfigError;

pub(super) struct Source<'a> {
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
}

impl Source<'_> {
    pub(super) fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text[..offset].bytes().filter(|&b| b == b'\n').count() + 1
    }

    /// Builds an error for the byte offset, naming the key written on that line (or `key` when
    /// given) and the table it sits in.
    pub(super) fn error_at(
        &self,
        offset: usize,
        key: Option<&str>,
        message: String,
    ) -> ConfigError {
        let line = self.line_of(offset);
        let lines: Vec<&str> = self.text.lines().collect();
        let line_text = lines.get(line.saturating_sub(1)).copied().unwrap_or("");
        let key = key.map(str::to_string).or_else(|| key_on_line(line_text));
        let table = table_before(&lines, line);
        let key = match (table, key) {
            (Some(t), Some(k)) => format!("{t} → {k}"),
            (Some(t), None) => t,
            (None, Some(k)) => k,
            (None, None) => "(document)".to_string(),
        };
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            key,
            message,
        }
    }
}

fn key_on_line(line: &str) -> Option<String> {
    let t = line.trim_start();
    if t.starts_with('[') || t.starts_with('#') {
        return None;
    }
    let (k, _) = t.split_once('=')?;
    let k = k.trim().trim_matches('"');
    (!k.is_empty()).then(|| k.to_string())
}

/// The table header in force at `line` (1-based), e.g. `[http]` or `[[feeds]] #2`.
fn table_before(lines: &[&str], line: usize) -> Option<String> {
    let mut header: Option<String> = None;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for l in lines.iter().take(line) {
        let t = l.trim();
        if let Some(rest) = t.strip_prefix("[[") {
            let name = rest.split("]]").next().unwrap_or("").trim().to_string();
            let n = counts.entry(name.clone()).or_default();
            *n += 1;
            header = Some(format!("[[{name}]] #{n}"));
        } else if let Some(rest) = t.strip_prefix('[') {
            let name = rest.split(']').next().unwrap_or("").trim();
            header = Some(format!("[{name}]"));
        }
    }
    header
}
