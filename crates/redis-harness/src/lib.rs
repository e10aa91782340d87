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
//! The binaries (`redis-server`, `redis-cli`) are taken from `PATH`; when one is missing the
//! engine panics with a message saying what to install. Tests never skip.

mod cluster;
mod process;
mod sentinel;

use std::time::Duration;

pub use cluster::Cluster;
pub use process::{Server, Standalone};
pub use sentinel::{MASTER_NAME, Sentinel};

/// How long an engine may take to start or to settle after a failover before the harness
/// gives up with a panic. Generous: CI machines are shared and slow.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// `redis://127.0.0.1:{port}`.
#[must_use]
pub fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}
