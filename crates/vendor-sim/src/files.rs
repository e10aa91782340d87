//! Time-limited download URLs for result files. A URL names a token; the workbook is generated
//! from the order's numbers when it is downloaded, so a 20,000-row order costs memory only while
//! one download runs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Which result a token gives access to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    Screening { order_id: String },
    Ekycpro { task_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(FileSource),
    Expired,
    Unknown,
}

/// Expired tokens are remembered this long (so they answer 410, not 404), then forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug)]
struct Entry {
    source: FileSource,
    expires: Instant,
}

#[derive(Debug)]
pub struct FileStore {
    base_url: String,
    ttl: Duration,
    tokens: Mutex<HashMap<String, Entry>>,
}

/// A URL handed out to a client, with the instant it stops working.
#[derive(Debug, Clone)]
pub struct IssuedUrl {
    pub url: String,
    pub expires: Instant,
}

impl FileStore {
    pub fn new(base_url: &str, ttl: Duration) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            ttl,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Entry>) -> R) -> R {
        let mut guard = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// A fresh URL for the source, valid for the configured TTL.
    pub fn issue(&self, source: FileSource) -> IssuedUrl {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let now = Instant::now();
        // A TTL too large for the clock means "never expires" in practice.
        let expires = now
            .checked_add(self.ttl)
            .unwrap_or(now + Duration::from_secs(100 * 365 * 86_400));
        self.with(|m| {
            m.retain(|_, e| e.expires.checked_add(FORGET_AFTER).is_none_or(|t| t > now));
            m.insert(token.clone(), Entry { source, expires });
        });
        IssuedUrl {
            url: format!(
                "{}{}{token}.xlsx",
                self.base_url,
                crate::operations::FILES_PREFIX
            ),
            expires,
        }
    }

    /// Resolves the last path segment of a download URL (`{token}.xlsx`).
    pub fn lookup(&self, file_name: &str) -> Lookup {
        let token = file_name.strip_suffix(".xlsx").unwrap_or(file_name);
        self.with(|m| match m.get(token) {
            None => Lookup::Unknown,
            Some(e) if e.expires <= Instant::now() => Lookup::Expired,
            Some(e) => Lookup::Found(e.source.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_expire() {
        let store = FileStore::new("http://h:1/", Duration::from_millis(30));
        let issued = store.issue(FileSource::Ekycpro {
            task_id: "t".into(),
        });
        assert!(issued.url.starts_with("http://h:1/_sim/files/"));
        let name = issued.url.rsplit('/').next().unwrap_or_default().to_owned();
        assert_eq!(
            store.lookup(&name),
            Lookup::Found(FileSource::Ekycpro {
                task_id: "t".into()
            })
        );
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(store.lookup(&name), Lookup::Expired);
        assert_eq!(store.lookup("nope.xlsx"), Lookup::Unknown);
    }
}
