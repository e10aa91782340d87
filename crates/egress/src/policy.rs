//! The outbound URL policy: may the gateway connect to this caller-supplied URL?

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use url::{Host, Url};

use crate::address::classify;
use crate::allow::{AllowList, Named};
use crate::lookup::{Resolver, SystemResolver, localhost_addresses};

/// The rule a refused URL broke; `as_str` is the stable code shown to API callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Not an absolute URL.
    InvalidUrl,
    /// Not http(s), or not the scheme the matching entry names.
    SchemeNotAllowed,
    /// `user:password@` in the URL.
    UserinfoNotAllowed,
    /// No entry names or covers the host.
    HostNotAllowed,
    /// The port is not one an entry for this host names (default ports unless named).
    PortNotAllowed,
    /// The path is outside every entry's path for this host.
    PathNotAllowed,
    /// The host is, or resolves to, an address that is not public, and no entry names it.
    AddressNotAllowed,
    /// The host name does not resolve.
    UnresolvableHost,
}

impl Rule {
    pub const ALL: [Rule; 8] = [
        Rule::InvalidUrl,
        Rule::SchemeNotAllowed,
        Rule::UserinfoNotAllowed,
        Rule::HostNotAllowed,
        Rule::PortNotAllowed,
        Rule::PathNotAllowed,
        Rule::AddressNotAllowed,
        Rule::UnresolvableHost,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Rule::InvalidUrl => "invalid_url",
            Rule::SchemeNotAllowed => "scheme_not_allowed",
            Rule::UserinfoNotAllowed => "userinfo_not_allowed",
            Rule::HostNotAllowed => "host_not_allowed",
            Rule::PortNotAllowed => "port_not_allowed",
            Rule::PathNotAllowed => "path_not_allowed",
            Rule::AddressNotAllowed => "address_not_allowed",
            Rule::UnresolvableHost => "unresolvable_host",
        }
    }

    fn explain(self) -> &'static str {
        match self {
            Rule::InvalidUrl => "not an absolute URL",
            Rule::SchemeNotAllowed => {
                "the scheme is not allowed (http or https, as the allow-list names it)"
            }
            Rule::UserinfoNotAllowed => "user info (`user:password@`) is not allowed in the URL",
            Rule::HostNotAllowed => "the host is not on the allow-list",
            Rule::PortNotAllowed => "the port is not on the allow-list for this host",
            Rule::PathNotAllowed => "the path is not under an allowed path for this host",
            Rule::AddressNotAllowed => "the host is or resolves to an address that is not public",
            Rule::UnresolvableHost => "the host name does not resolve",
        }
    }

    /// Whether asking again later could succeed (DNS may answer then); every other refusal
    /// stands until the URL or the configuration changes.
    pub const fn is_transient(self) -> bool {
        matches!(self, Rule::UnresolvableHost)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the policy refused a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {detail}")]
pub struct Refusal {
    pub rule: Rule,
    /// For the caller who sent the URL: never a resolved address.
    pub detail: String,
}

impl Refusal {
    fn new(rule: Rule) -> Self {
        Self {
            rule,
            detail: rule.explain().to_owned(),
        }
    }

    fn with_detail(rule: Rule, detail: impl Into<String>) -> Self {
        Self {
            rule,
            detail: detail.into(),
        }
    }
}

impl From<Rule> for Refusal {
    fn from(rule: Rule) -> Self {
        Self::new(rule)
    }
}

/// A URL the policy allows, and whether an entry names its host (then its addresses are not
/// checked: the operator allowed that receiver on purpose).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit {
    url: Url,
    named: bool,
}

impl Permit {
    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn into_url(self) -> Url {
        self.url
    }

    pub fn host_is_named(&self) -> bool {
        self.named
    }
}

/// One allow-list with the address rules, for one use (subscriptions, callbacks, downloads).
#[derive(Debug, Clone)]
pub struct UrlPolicy {
    allow: AllowList,
    resolver: Arc<dyn Resolver>,
}

impl UrlPolicy {
    /// The policy of `allow`, resolving names with the system resolver.
    pub fn new(allow: AllowList) -> Self {
        Self::with_resolver(allow, Arc::new(SystemResolver))
    }

    pub fn with_resolver(allow: AllowList, resolver: Arc<dyn Resolver>) -> Self {
        Self { allow, resolver }
    }

    pub fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    /// Every rule that needs no DNS: the URL's form, the allow-list, and the address rules for a
    /// host written as an IP address. A host name matched only by a pattern still has to pass
    /// the address rules when it is resolved ([`UrlPolicy::check`], or the guarded client).
    pub fn permit(&self, raw: &str) -> Result<Permit, Refusal> {
        let url = Url::parse(raw.trim()).map_err(|_| Refusal::new(Rule::InvalidUrl))?;
        self.permit_url(&url)
    }

    pub fn permit_url(&self, url: &Url) -> Result<Permit, Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::with_detail(
                Rule::SchemeNotAllowed,
                format!(
                    "the scheme `{}` is not allowed: http or https only",
                    url.scheme()
                ),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Rule::UserinfoNotAllowed.into());
        }
        let Named(named) = self.allow.match_url(url)?;
        if !named {
            let literal = match url.host() {
                Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(class) = literal.and_then(classify) {
                return Err(Refusal::with_detail(
                    Rule::AddressNotAllowed,
                    format!(
                        "the address is {} and no allow-list entry names it",
                        class.as_str()
                    ),
                ));
            }
        }
        Ok(Permit {
            url: url.clone(),
            named,
        })
    }

    /// [`UrlPolicy::permit`], then a host name matched only by a pattern is resolved and every
    /// address it resolves to must be public. Used when a URL is accepted; at connection time
    /// the guarded client applies the same address rules to the addresses it connects to.
    pub async fn check(&self, raw: &str) -> Result<Permit, Refusal> {
        let permit = self.permit(raw)?;
        if !permit.named
            && let Some(Host::Domain(name)) = permit.url.host()
        {
            self.resolve_public(name).await?;
        }
        Ok(permit)
    }

    /// The addresses of `name`, all of them public; refused when any is not.
    pub async fn resolve_public(&self, name: &str) -> Result<Vec<IpAddr>, Refusal> {
        let addrs = match localhost_addresses(name) {
            Some(loopback) => loopback,
            None => self
                .resolver
                .lookup(name)
                .await
                .map_err(|_| Refusal::new(Rule::UnresolvableHost))?,
        };
        if addrs.is_empty() {
            return Err(Rule::UnresolvableHost.into());
        }
        if let Some(class) = addrs.iter().find_map(|ip| classify(*ip)) {
            return Err(Refusal::with_detail(
                Rule::AddressNotAllowed,
                format!(
                    "the host resolves to a {} address and no allow-list entry names it",
                    class.as_str()
                ),
            ));
        }
        Ok(addrs)
    }
}
