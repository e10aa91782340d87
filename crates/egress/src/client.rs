//! HTTP clients that reach only what the policy allows.
//!
//! Every request goes through [`EgressClient::request`], which applies the policy first. A host
//! name matched only by a pattern is sent through a client whose resolver applies the address
//! rules to the addresses it returns, so the connection goes to an address that was checked:
//! there is no second resolution a DNS answer could change (rebinding). reqwest does not call a
//! resolver for IP-address hosts; those were checked by the policy before the request. No client
//! follows redirects, and none uses a proxy (through a proxy the resolver would never see the
//! receiver's address).

use std::error::Error as StdError;
use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Client, ClientBuilder, Method, RequestBuilder};

use crate::policy::{Permit, Refusal, UrlPolicy};

/// The clients of one policy.
#[derive(Debug, Clone)]
pub struct EgressClient {
    policy: UrlPolicy,
    /// For hosts an entry names: resolved as usual, the operator allowed them on purpose.
    named: Client,
    /// For hosts matched by a pattern: connects only to checked public addresses.
    guarded: Client,
}

impl EgressClient {
    /// `configure` sets timeouts and the like; redirects and proxies are then turned off.
    pub fn new(
        policy: UrlPolicy,
        configure: impl Fn(ClientBuilder) -> ClientBuilder,
    ) -> Result<Self, reqwest::Error> {
        let base = || {
            crate::tls::shared_roots(configure(Client::builder()))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
        };
        Ok(Self {
            named: base().build()?,
            guarded: base()
                .dns_resolver(GuardedResolver {
                    policy: policy.clone(),
                })
                .build()?,
            policy,
        })
    }

    pub fn policy(&self) -> &UrlPolicy {
        &self.policy
    }

    /// A request to `url`, or the policy's refusal (no connection is made then).
    pub fn request(&self, method: Method, url: &str) -> Result<RequestBuilder, Refusal> {
        let permit = self.policy.permit(url)?;
        Ok(self.request_permitted(method, permit))
    }

    pub fn request_permitted(&self, method: Method, permit: Permit) -> RequestBuilder {
        let client = if permit.host_is_named() {
            &self.named
        } else {
            &self.guarded
        };
        client.request(method, permit.into_url())
    }
}

/// Resolves, applies the address rules, and returns only the addresses it checked.
#[derive(Debug, Clone)]
struct GuardedResolver {
    policy: UrlPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = policy.resolve_public(&name).await?;
            // Port 0: reqwest puts in the URL's port.
            let addrs: Addrs = Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok::<_, Box<dyn StdError + Send + Sync>>(addrs)
        })
    }
}

/// The policy's refusal behind a failed request, when the guarded resolver refused the host.
pub fn refusal_of<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a Refusal> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(refusal) = error.downcast_ref::<Refusal>() {
            return Some(refusal);
        }
        current = error.source();
    }
    None
}
