//! Name resolution behind the policy: the system resolver, or a fixed table in tests.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::sync::Mutex;

pub type Lookup<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Resolves a host name to its addresses.
pub trait Resolver: Send + Sync + fmt::Debug {
    fn lookup<'a>(&'a self, name: &'a str) -> Lookup<'a>;
}

/// The operating system's resolver (`getaddrinfo`, off the async threads).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup<'a>(&'a self, name: &'a str) -> Lookup<'a> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((name, 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Answers from a table, each name with a queue of answers (the last one repeats): a name can
/// resolve to one address when checked and another when connecting, as in DNS rebinding.
#[derive(Debug, Default)]
pub struct StaticResolver {
    answers: Mutex<HashMap<String, Vec<Vec<IpAddr>>>>,
}

impl StaticResolver {
    pub fn new() -> Self {
        Self::default()
    }

    /// `name` resolves to `addrs` (appended after earlier answers for it).
    pub fn with(self, name: &str, addrs: &[IpAddr]) -> Self {
        if let Ok(mut answers) = self.answers.lock() {
            answers
                .entry(name.to_owned())
                .or_default()
                .push(addrs.to_vec());
        }
        self
    }
}

impl Resolver for StaticResolver {
    fn lookup<'a>(&'a self, name: &'a str) -> Lookup<'a> {
        let answer = self.answers.lock().ok().and_then(|mut answers| {
            let queue = answers.get_mut(name)?;
            if queue.len() > 1 {
                Some(queue.remove(0))
            } else {
                queue.first().cloned()
            }
        });
        Box::pin(async move {
            answer.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such name"))
        })
    }
}

/// `localhost` and names below it are loopback by definition (RFC 6761), whatever DNS says.
pub(crate) fn localhost_addresses(name: &str) -> Option<Vec<IpAddr>> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    (name == "localhost" || name.ends_with(".localhost")).then(|| {
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
    })
}
