//! Watching the sentinels for a failover while the store is in use.
//!
//! Replication is asynchronous, and during a failover two servers take writes: the old
//! primary keeps answering as a primary until the sentinels reconfigure it, seconds after
//! they promoted a replica, and whatever it took meanwhile is dropped when it resyncs from the
//! new primary. Clients that keep writing to it lose those writes without an error. So, while
//! calls come in, every sentinel is asked (at most every [`CHECK_EVERY`], in the background)
//! about the primary:
//! - a sentinel says a failover is in progress: the store is *switching*, and calls fail fast
//!   with [`crate::StoreError::Unavailable`] (a 503 with Retry-After upstream) instead of
//!   writing to a primary that may be on its way out;
//! - most answering sentinels name another primary than the one the connections go to: they
//!   are dropped, and the next ones go to the new primary.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::sentinel_discovery::Sentinels;

/// How often, at most, the sentinels are asked. Writes the old primary takes between the
/// promotion of a replica and the next check are lost, so this is short: with one check a
/// second, a forced failover under a constant write load lost about 80 of 1600 acknowledged
/// writes; with 100 ms, none in the runs of `tests/store_failover.rs` (a window, not a
/// guarantee). The cost, only while calls come in: one small command per sentinel per check.
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(100);

/// What the sentinels said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing to do (also when no sentinel answered: failing calls handle that).
    Same,
    /// Another server is the primary now.
    Moved,
    /// A failover is under way.
    Switching,
}

/// The primary as one sentinel sees it.
struct Report {
    address: String,
    failing_over: bool,
}

pub(crate) struct SentinelWatch {
    sentinels: Sentinels,
    /// `host:port` of the primary the newest connection went to.
    primary: Mutex<Option<String>>,
    last_check: Mutex<Instant>,
    checking: AtomicBool,
    switching: AtomicBool,
}

impl SentinelWatch {
    pub(crate) fn new(sentinels: Sentinels) -> SentinelWatch {
        SentinelWatch {
            sentinels,
            primary: Mutex::new(None),
            last_check: Mutex::new(Instant::now()),
            checking: AtomicBool::new(false),
            switching: AtomicBool::new(false),
        }
    }

    /// The sentinels, also for finding the primary.
    pub(crate) fn sentinels(&self) -> &Sentinels {
        &self.sentinels
    }

    /// The connections now go to `address`.
    pub(crate) fn connected_to(&self, address: String) {
        *self.primary.lock().unwrap_or_else(PoisonError::into_inner) = Some(address);
    }

    /// A failover was under way at the last check.
    pub(crate) fn switching(&self) -> bool {
        self.switching.load(Ordering::Acquire)
    }

    /// True once every [`CHECK_EVERY`] (and not while a check is under way): the caller then
    /// runs [`SentinelWatch::check`], then [`SentinelWatch::check_finished`].
    pub(crate) fn check_due(&self) -> bool {
        let mut last = self
            .last_check
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.elapsed() < CHECK_EVERY || self.checking.swap(true, Ordering::AcqRel) {
            return false;
        }
        *last = Instant::now();
        true
    }

    /// Ends a check started by [`SentinelWatch::check_due`], finished or not.
    pub(crate) fn check_finished(&self) {
        self.checking.store(false, Ordering::Release);
    }

    /// Asks every sentinel at once; records whether a failover is under way.
    pub(crate) async fn check(&self) -> Verdict {
        let reports: Vec<Report> =
            futures_util::future::join_all((0..self.sentinels.len()).map(|index| self.ask(index)))
                .await
                .into_iter()
                .flatten()
                .collect();
        let failing_over = reports.iter().any(|r| r.failing_over);
        self.switching.store(failing_over, Ordering::Release);
        if failing_over {
            return Verdict::Switching;
        }
        let current = self
            .primary
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(current) = current else {
            return Verdict::Same;
        };
        let elsewhere = reports.iter().filter(|r| r.address != current).count();
        if elsewhere * 2 > reports.len() {
            Verdict::Moved
        } else {
            Verdict::Same
        }
    }

    /// `SENTINEL MASTER <name>` on one sentinel; `None` if it does not answer sensibly.
    async fn ask(&self, index: usize) -> Option<Report> {
        let mut cmd = redis::cmd("SENTINEL");
        cmd.arg("MASTER").arg(self.sentinels.master_name());
        let fields: HashMap<String, String> = self.sentinels.query(index, &cmd).await.ok()?;
        let ip = fields.get("ip")?;
        let port = fields.get("port")?;
        let failing_over = fields
            .get("flags")
            .is_some_and(|flags| flags.split(',').any(|f| f == "failover_in_progress"));
        Some(Report {
            address: format!("{ip}:{port}"),
            failing_over,
        })
    }
}
