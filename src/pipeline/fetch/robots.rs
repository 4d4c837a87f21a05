//! robots.txt for article pages: fetching a feed's linked pages is crawling, so each site's
//! `robots.txt` (RFC 9309) decides which pages may be fetched, and its `Crawl-delay` how far
//! apart. Feeds themselves are fetched as feed readers do, without it.
//!
//! The rules themselves are parsed by the `texting_robots` crate. Here: what a response means
//! (RFC 9309 §2.3.1: a 4xx means no rules, a 5xx, a 429 or an unreachable site means "disallow
//! everything" for now), how long a verdict is kept, and the bounds a stranger's file gets.
//! Pure: the fetching and the cache live with the fetcher.

use std::time::Duration;

/// The product token matched against `User-agent` lines.
pub const AGENT: &str = "feedcorpus";

/// The part of a robots.txt body that is read (RFC 9309 asks for at least 500 KiB).
pub const MAX_BYTES: usize = 512 * 1024;

/// How long rules from a site that answered are kept.
pub const KEEP: Duration = Duration::from_secs(24 * 3600);

/// How long "site unreachable: disallow all" is kept before asking again.
pub const KEEP_UNREACHABLE: Duration = Duration::from_secs(15 * 60);

/// The longest `Crawl-delay` honoured: a longer one is capped (20 pages a poll at 10 s apart
/// already take over three minutes).
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// What a site's robots.txt says for this crawler.
pub enum Rules {
    /// No usable file (404 and other 4xx): every page may be fetched.
    AllowAll,
    /// The site could not say (5xx, 429, network error): no page is fetched for now.
    DisallowAll(String),
    Parsed(Box<texting_robots::Robot>),
}

impl Rules {
    /// Rules from a response: `status` (`None`: no response at all) and body.
    pub fn from_response(status: Option<u16>, body: &[u8]) -> Rules {
        match status {
            Some(200..=299) => {
                let body = body.get(..MAX_BYTES).unwrap_or(body);
                match texting_robots::Robot::new(AGENT, body) {
                    Ok(r) => Rules::Parsed(Box::new(r)),
                    // A file that cannot be read says nothing.
                    Err(_) => Rules::AllowAll,
                }
            }
            Some(429) => Rules::DisallowAll("robots.txt answered 429".into()),
            Some(400..=499) => Rules::AllowAll,
            Some(s) => Rules::DisallowAll(format!("robots.txt answered {s}")),
            None => Rules::DisallowAll("robots.txt unreachable".into()),
        }
    }

    /// Whether `url` may be fetched; `Err` says why not.
    pub fn check(&self, url: &str) -> Result<(), String> {
        match self {
            Rules::AllowAll => Ok(()),
            Rules::DisallowAll(why) => Err(why.clone()),
            Rules::Parsed(r) if r.allowed(url) => Ok(()),
            Rules::Parsed(_) => Err("robots.txt disallows this page".into()),
        }
    }

    /// The gap the site asks for between requests, capped at [`MAX_DELAY`].
    pub fn delay(&self) -> Option<Duration> {
        match self {
            Rules::Parsed(r) => r
                .delay
                .filter(|d| d.is_finite() && *d > 0.0)
                .and_then(|d| Duration::try_from_secs_f32(d).ok())
                .map(|d| d.min(MAX_DELAY)),
            _ => None,
        }
    }

    /// How long this verdict is kept.
    pub fn keep(&self) -> Duration {
        match self {
            Rules::DisallowAll(_) => KEEP_UNREACHABLE,
            _ => KEEP,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_become_rules() {
        let file = b"User-agent: *\nDisallow: /private/\nCrawl-delay: 3\n\nUser-agent: feedcorpus\nDisallow: /nofeeds/\n";
        // (status, body, url, allowed)
        let table: [(Option<u16>, &[u8], &str, bool); 8] = [
            (Some(200), file, "https://e.org/private/a", true),
            (Some(200), file, "https://e.org/nofeeds/a", false),
            (
                Some(200),
                b"User-agent: *\nDisallow: /private/\n",
                "https://e.org/private/a",
                false,
            ),
            (
                Some(200),
                b"User-agent: *\nDisallow: /private/\n",
                "https://e.org/public/a",
                true,
            ),
            (Some(404), b"", "https://e.org/x", true),
            (Some(503), b"", "https://e.org/x", false),
            (Some(429), b"", "https://e.org/x", false),
            (None, b"", "https://e.org/x", false),
        ];
        for (status, body, url, allowed) in table {
            let rules = Rules::from_response(status, body);
            assert_eq!(rules.check(url).is_ok(), allowed, "{status:?} {url}");
        }
    }

    #[test]
    fn crawl_delay_is_read_and_capped() {
        let r = Rules::from_response(Some(200), b"User-agent: *\nCrawl-delay: 2.5\n");
        assert_eq!(r.delay(), Some(Duration::from_millis(2500)));
        let r = Rules::from_response(Some(200), b"User-agent: *\nCrawl-delay: 99999999\n");
        assert_eq!(r.delay(), Some(MAX_DELAY));
        let r = Rules::from_response(Some(200), b"User-agent: *\nCrawl-delay: nan\n");
        assert_eq!(r.delay(), None);
        assert_eq!(
            Rules::from_response(Some(500), b"").keep(),
            KEEP_UNREACHABLE
        );
    }

    #[test]
    fn hostile_files_are_bounded() {
        let mut big = b"User-agent: *\n".to_vec();
        for i in 0..200_000 {
            big.extend_from_slice(format!("Disallow: /p{i}/*x*y*z$\n").as_bytes());
        }
        let r = Rules::from_response(Some(200), &big);
        assert!(r.check("https://e.org/anything").is_ok());
        assert!(r.check("https://e.org/p7/axyz").is_err());
    }
}
