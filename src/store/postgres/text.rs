//! What PostgreSQL cannot take as a feed sends it: U+0000 in text, keys too long for a
//! B-tree index entry, times outside `timestamptz`'s range. Each has one answer here, used on
//! the way in (and, for keys, on lookups, so both agree).

use std::borrow::Cow;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sha2::{Digest, Sha256};

/// Text as PostgreSQL can store it: U+0000 becomes U+FFFD.
pub(super) fn clean(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Keys longer than this are stored as their digest: a B-tree index entry holds about 2.7 kB.
const MAX_KEY_BYTES: usize = 1024;

/// The key as the `entries.key` column holds it.
pub(super) fn stored_key(key: &str) -> Cow<'_, str> {
    let key = clean(key);
    if key.len() <= MAX_KEY_BYTES {
        return key;
    }
    Cow::Owned(format!(
        "key-sha256:{}",
        hex::encode(Sha256::digest(key.as_bytes()))
    ))
}

/// An RFC 3339 time `timestamptz` can hold (years 1 to 9999 here); `None` for anything else.
pub(super) fn stored_time(s: &str) -> Option<&str> {
    let t = DateTime::parse_from_rfc3339(s).ok()?;
    (1..=9999).contains(&t.year()).then_some(s)
}

/// A time clamped into years 1 to 9999 (a schedule a feed pushed far out stays far out).
pub(super) fn in_range(t: DateTime<Utc>) -> DateTime<Utc> {
    let lo = NaiveDate::from_ymd_opt(1, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    let hi = NaiveDate::from_ymd_opt(9999, 12, 31).and_then(|d| d.and_hms_opt(23, 59, 59));
    match (lo, hi) {
        (Some(lo), _) if t.naive_utc() < lo => lo.and_utc(),
        (_, Some(hi)) if t.naive_utc() > hi => hi.and_utc(),
        _ => t,
    }
}

/// JSON for a statement's batch parameter, with U+0000 written as U+FFFD (PostgreSQL's `json`
/// refuses `\u0000` when it is read as text).
pub(super) fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, NulFree);
    if serde::Serialize::serialize(value, &mut ser).is_err() {
        return "[]".into();
    }
    String::from_utf8(out).unwrap_or_else(|_| "[]".into())
}

struct NulFree;

impl serde_json::ser::Formatter for NulFree {
    fn write_char_escape<W>(
        &mut self,
        writer: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()>
    where
        W: ?Sized + std::io::Write,
    {
        match escape {
            serde_json::ser::CharEscape::AsciiControl(0) => writer.write_all(b"\\ufffd"),
            other => serde_json::ser::CompactFormatter.write_char_escape(writer, other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_postgresql_cannot_hold_is_made_storable() {
        assert_eq!(clean("a\0b"), "a\u{FFFD}b");
        assert!(matches!(clean("plain"), Cow::Borrowed("plain")));
        let long = "x".repeat(5000);
        let k = stored_key(&long);
        assert!(k.starts_with("key-sha256:") && k.len() == 11 + 64, "{k}");
        assert_eq!(stored_key(&long), k, "the same key maps the same way");
        assert_eq!(stored_key("https://example.org/a"), "https://example.org/a");
        assert_eq!(
            stored_time("2026-06-15T18:23:24Z"),
            Some("2026-06-15T18:23:24Z")
        );
        assert_eq!(stored_time("+10000-01-01T00:00:00Z"), None);
        assert_eq!(stored_time("garbage"), None);
        let far = DateTime::<Utc>::MAX_UTC;
        assert_eq!(in_range(far).year(), 9999);
        assert_eq!(in_range(DateTime::<Utc>::MIN_UTC).year(), 1);
        let j = json(&["a\0b", "c\\u0000d"]);
        assert_eq!(j, r#"["a\ufffdb","c\\u0000d"]"#);
    }
}
