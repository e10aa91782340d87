//! Allow-list entries: `scheme://host[:port][/path]`, parsed and checked once at config load.
//!
//! An entry matches a URL on scheme, host, port (the scheme's default when the entry names none)
//! and path prefix on segment boundaries: `/hooks` matches `/hooks` and `/hooks/x`, never
//! `/hooksevil`. The host is an exact name or IP address, `*.example.com` (any name below
//! `example.com`, not `example.com` itself), or `*` (any host). Only an exact host is "named":
//! naming a host is how an operator allows it to resolve to an internal address.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::{Host, Url};

use crate::policy::Rule;

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(Host<String>),
    /// The suffix with its leading dot, e.g. `.example.com`.
    Below(String),
    Any,
}

impl HostPattern {
    fn parse(host: Host<&str>) -> Result<Self, String> {
        let Host::Domain(name) = host else {
            return Ok(Self::Exact(host.to_owned()));
        };
        if name == "*" {
            return Ok(Self::Any);
        }
        if let Some(suffix) = name.strip_prefix("*.")
            && !suffix.is_empty()
            && !suffix.contains('*')
        {
            return Ok(Self::Below(format!(".{suffix}")));
        }
        if name.contains('*') {
            return Err(
                "`*` may only stand for the whole host or its first labels (`*.example.com`)"
                    .into(),
            );
        }
        Ok(Self::Exact(host.to_owned()))
    }

    fn matches(&self, host: &Host<&str>) -> bool {
        match (self, host) {
            (Self::Any, _) => true,
            (Self::Exact(named), host) => *named == host.to_owned(),
            (Self::Below(suffix), Host::Domain(name)) => {
                name.len() > suffix.len() && name.ends_with(suffix.as_str())
            }
            (Self::Below(_), _) => false,
        }
    }
}

/// One allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    raw: String,
    scheme: String,
    host: HostPattern,
    port: u16,
    /// Without a trailing `/`; empty for the whole host.
    path: String,
}

impl AllowEntry {
    /// The entry as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    fn names_host(&self) -> bool {
        matches!(self.host, HostPattern::Exact(_))
    }

    fn path_matches(&self, path: &str) -> bool {
        self.path.is_empty()
            || path
                .strip_prefix(self.path.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

impl FromStr for AllowEntry {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let fail = |why: &str| Err(format!("`{raw}` {why}"));
        let Ok(url) = Url::parse(raw) else {
            return fail("is not a URL (write `https://hooks.example.com/path`)");
        };
        if !matches!(url.scheme(), "http" | "https") {
            return fail("is not an http(s) URL");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return fail("carries user info");
        }
        if url.query().is_some() || url.fragment().is_some() {
            return fail("has a query or fragment");
        }
        // `http://127.0.0.1:` was a string prefix meaning "any port"; the URL parser would read
        // it as the default port. Refuse it so the operator names the port.
        let authority = raw
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default())
            .unwrap_or_default();
        if authority.ends_with(':') {
            return fail("ends its host with `:` but names no port; write the port");
        }
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return fail("has no host");
        };
        let host = HostPattern::parse(host).map_err(|why| format!("`{raw}`: {why}"))?;
        Ok(Self {
            raw: raw.to_owned(),
            scheme: url.scheme().to_owned(),
            host,
            port,
            path: url.path().trim_end_matches('/').to_owned(),
        })
    }
}

impl<'de> Deserialize<'de> for AllowEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// The entries of one allow-list (e.g. `events.subscription_allow`); empty allows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Arc<[AllowEntry]>);

/// As written in configuration: one string per entry.
impl Serialize for AllowList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

impl AllowList {
    pub fn new(entries: Vec<AllowEntry>) -> Self {
        Self(entries.into())
    }

    /// Parses every entry; the error names the first bad one.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| e.as_ref().parse())
            .collect::<Result<Vec<_>, _>>()
            .map(Self::new)
    }

    pub fn entries(&self) -> &[AllowEntry] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an entry matches `url` and, if so, whether a matching entry names its host.
    /// The refusal names the first part no entry matched: host, then scheme, port, path.
    pub(crate) fn match_url(&self, url: &Url) -> Result<Named, Rule> {
        let Some(host) = url.host() else {
            return Err(Rule::HostNotAllowed);
        };
        let port = url.port_or_known_default();
        let default_port = url.port().is_none();
        // Which rule is reported, never whether the URL is allowed: a `*` entry speaks for a
        // host only on its own scheme and, when the URL uses the default port, on its own port;
        // otherwise an unknown host on a default port would be refused for its "port".
        let mut candidates: Vec<&AllowEntry> = self
            .0
            .iter()
            .filter(|e| match e.host {
                HostPattern::Any => {
                    e.scheme == url.scheme() && (!default_port || Some(e.port) == port)
                }
                _ => e.host.matches(&host),
            })
            .collect();
        narrow(&mut candidates, Rule::HostNotAllowed, |_| true)?;
        narrow(&mut candidates, Rule::SchemeNotAllowed, |e| {
            e.scheme == url.scheme()
        })?;
        narrow(&mut candidates, Rule::PortNotAllowed, |e| {
            Some(e.port) == port
        })?;
        narrow(&mut candidates, Rule::PathNotAllowed, |e| {
            e.path_matches(url.path())
        })?;
        Ok(Named(candidates.iter().any(|e| e.names_host())))
    }
}

/// Keeps the entries that pass `keep`; refuses with `rule` when none is left.
fn narrow(
    candidates: &mut Vec<&AllowEntry>,
    rule: Rule,
    keep: impl Fn(&AllowEntry) -> bool,
) -> Result<(), Rule> {
    candidates.retain(|e| keep(e));
    if candidates.is_empty() {
        Err(rule)
    } else {
        Ok(())
    }
}

/// Whether the matching entry names the URL's host exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Named(pub bool);

impl<'de> Deserialize<'de> for AllowList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<AllowEntry>::deserialize(deserializer).map(Self::new)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bad_entries_are_refused_with_a_reason() {
        for (entry, why) in [
            ("hooks.example.com", "not a URL"),
            ("ftp://files.example.com/", "not an http(s)"),
            ("http://user:pw@hooks.example.com/", "user info"),
            ("http://127.0.0.1:", "names no port"),
            ("http://localhost:/x", "names no port"),
            ("https://hooks.example.com/?a=1", "query"),
            ("https://a*.example.com/", "`*` may only"),
            ("https://*.*.example.com/", "`*` may only"),
        ] {
            let err = entry.parse::<AllowEntry>().unwrap_err();
            assert!(err.contains(why), "{entry}: {err}");
        }
    }

    #[test]
    fn entries_keep_what_they_name() {
        let entry: AllowEntry = "http://127.0.0.1:18088/hooks/".parse().unwrap();
        assert_eq!(entry.port, 18088);
        assert_eq!(entry.path, "/hooks");
        assert!(entry.names_host());
        let entry: AllowEntry = "https://*.example.com".parse().unwrap();
        assert_eq!(entry.port, 443);
        assert_eq!(entry.host, HostPattern::Below(".example.com".into()));
        assert!(!entry.names_host());
        let entry: AllowEntry = "http://*:8080/".parse().unwrap();
        assert_eq!(entry.host, HostPattern::Any);
        assert_eq!(entry.path, "");
    }

    #[test]
    fn a_list_deserializes_and_names_its_bad_entry() {
        let list: AllowList =
            serde_json::from_value(serde_json::json!(["https://hooks.example.com/wa"])).unwrap();
        assert_eq!(list.entries().len(), 1);
        let err = serde_json::from_value::<AllowList>(serde_json::json!(["http://127.0.0.1:"]))
            .unwrap_err();
        assert!(err.to_string().contains("http://127.0.0.1:"), "{err}");
    }

    #[test]
    fn matching_reports_the_first_part_that_differs() {
        let list = AllowList::parse(&[
            "https://hooks.example.com/wa",
            "http://127.0.0.1:18088/hooks",
            "https://*.tenants.example.net",
        ])
        .unwrap();
        let check = |url: &str| list.match_url(&Url::parse(url).unwrap());
        assert_eq!(check("https://hooks.example.com/wa"), Ok(Named(true)));
        assert_eq!(
            check("https://hooks.example.com/wa/done?x=1"),
            Ok(Named(true))
        );
        assert_eq!(check("https://HOOKS.example.com:443/wa/"), Ok(Named(true)));
        assert_eq!(check("https://a.tenants.example.net/any"), Ok(Named(false)));
        assert_eq!(
            check("https://tenants.example.net/"),
            Err(Rule::HostNotAllowed)
        );
        assert_eq!(
            check("https://hooks.example.com/wax"),
            Err(Rule::PathNotAllowed)
        );
        assert_eq!(check("https://hooks.example.com/x/../wa"), Ok(Named(true)));
        assert_eq!(
            check("https://hooks.example.com/wa/../admin"),
            Err(Rule::PathNotAllowed)
        );
        assert_eq!(
            check("http://hooks.example.com/wa"),
            Err(Rule::SchemeNotAllowed)
        );
        assert_eq!(
            check("https://hooks.example.com:8443/wa"),
            Err(Rule::PortNotAllowed)
        );
        assert_eq!(
            check("http://127.0.0.1:18089/hooks"),
            Err(Rule::PortNotAllowed)
        );
        assert_eq!(check("http://127.1:18088/hooks"), Ok(Named(true)));
        assert_eq!(check("http://[::1]:18088/hooks"), Err(Rule::HostNotAllowed));
        assert_eq!(
            check("https://hooks.example.com.evil.io/wa"),
            Err(Rule::HostNotAllowed)
        );
        assert_eq!(
            check("https://hooks.example.com./wa"),
            Err(Rule::HostNotAllowed)
        );
    }
}
