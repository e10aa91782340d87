//! The one outbound URL policy of the gateway, for every URL it connects to that it did not
//! configure itself: event subscriptions, job callbacks, vendor result files.
//!
//! - [`AllowList`]: the operator's entries (`scheme://host[:port][/path]`), parsed at config load.
//! - [`UrlPolicy`]: refuses user info, schemes other than http(s), URLs no entry matches (host,
//!   scheme, port, path on segment boundaries), and hosts that are or resolve to non-public
//!   addresses ([`address::classify`]) unless an entry names that host exactly.
//! - [`EgressClient`]: reqwest clients that apply the policy to every request and connect only
//!   to the addresses they checked; no redirects are followed.
//! - [`tls::shared_roots`]: one TLS configuration (the system's roots) for every client.
#![forbid(unsafe_code)]

pub mod address;
mod allow;
mod client;
mod lookup;
mod policy;
pub mod tls;

pub use allow::{AllowEntry, AllowList};
pub use client::{EgressClient, refusal_of};
pub use lookup::{Lookup, Resolver, StaticResolver, SystemResolver};
pub use policy::{Permit, Refusal, Rule, UrlPolicy};
