//! Real Redis engines for tests, started as child processes on free local ports.
//!
//! - [`Standalone`]: one `redis-server` without persistence.
//! - [`Cluster`]: three masters and three replicas (`redis-cli --cluster create`).
//! - [`Sentinel`]: one primary, two replicas and three sentinels watching master [`MASTER_NAME`].
//!
//! Each engine lives in its own temporary directory and is killed when dropped, also when a
//! test panics. Every server runs under a small watchdog shell that holds a pipe from the test
//! process: when the test binary exits for whatever reason (even without running destructors,
//! e.g. engines kept in a `static` and shared by a whole test binary), the pipe closes and the
//! watchdog kills its server. So no engine outlives the tests that started it.
//!
//! Each engine can also be started with an ACL user ([`Acl`]) as its only user (`default` off,
//! replicas and sentinels log in as that user): `start_with_acl`; and with TLS ([`Tls`], a
//! throw-away CA made with `openssl`): `start_with`. A TLS engine keeps its plain port for the
//! harness's own checks and serves TLS only on a port of its own; its servers reach each
//! other over TLS.
//!
//! The binaries (`redis-server`, `redis-cli`) are taken from `PATH`; when one is missing the
//! engine panics with a message saying what to install. Tests never skip.

mod cluster;
mod process;
mod sentinel;
mod tls;

use std::time::Duration;

pub use cluster::Cluster;
pub use process::{Server, Standalone, free_port};
pub use sentinel::{MASTER_NAME, Sentinel};
pub use tls::Tls;

/// How long an engine may take to start or to settle after a failover before the harness
/// gives up with a panic. Generous: CI machines are shared and slow.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// `rediss://127.0.0.1:{port}`.
#[must_use]
pub fn tls_url(port: u16) -> String {
    format!("rediss://127.0.0.1:{port}")
}

/// `redis://127.0.0.1:{port}`.
#[must_use]
pub fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}

/// An ACL user with every permission (`on >password ~* &* +@all`), started as a server's only
/// user: `default` is switched off, so a client without these credentials is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    pub user: String,
    pub password: String,
}

impl Acl {
    #[must_use]
    pub fn new(user: &str, password: &str) -> Acl {
        Acl {
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }

    /// `redis://{user}:{password}@127.0.0.1:{port}`.
    #[must_use]
    pub fn url(&self, port: u16) -> String {
        format!("redis://{}:{}@127.0.0.1:{port}", self.user, self.password)
    }

    /// `redis-server` arguments: the user, `default` off, and the replication login (a
    /// replica, or a primary once it becomes one, logs in to its master as this user).
    pub(crate) fn server_args(&self) -> Vec<String> {
        [
            "--user",
            &self.user,
            "on",
            &format!(">{}", self.password),
            "~*",
            "&*",
            "+@all",
            "--user",
            "default",
            "off",
            "--masteruser",
            &self.user,
            "--masterauth",
            &self.password,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }
}
