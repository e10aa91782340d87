//! Filling a vendor's minimum across callers (`number_checks.batch_window`).
//!
//! A job's group below a vendor's minimum (fewer than 500 numbers of one region for
//! screening) waits, up to the job's window, in a *pool* of groups asking the same checks of
//! the same provider in the same region and cache scope (with `per_tenant`, a pool never mixes
//! tenants). The pool collects groups in a *batch*; when the batch reaches the minimum, one
//! member takes it and places one vendor order with every member's numbers.
//!
//! - Store: [`keys::PoolOpenBatch`] names the pool's open batch; [`keys::PoolBatch`] is the
//!   batch (members, state), changed only by compare-and-set, so
//!   joining, leaving at the end of a window and taking are atomic against each other on
//!   every replica and both store backends.
//! - Exactly one order: taking moves the batch from `open` to `taken` by one job, which then
//!   moves it to `submitting` (written before the vendor call) and to `ordered`, `declined` or
//!   `unknown`. A taker whose replica dies while `taken` is resumed by whichever replica
//!   takes up its job (the batch names the job); one found `submitting` is not sent again
//!   (`unknown`), as for any order whose outcome the gateway did not see.
//! - Numbers are never in two members: members hold the claims on them ([`super::claims`]),
//!   so a number two callers ask is pooled by the first and waited for by the second.
//! - Delivery: each member, seeing the batch `ordered`, turns its group into a running
//!   sub-order on the shared vendor order, polls it and reads its own numbers from the result
//!   file, and bills its tenant for its own numbers only.
//! - End of the window below the minimum, or the vendor declining the order: the group takes
//!   the path it would have taken without pooling (next provider, or `unavailable`).

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{CheckSet, E164, ProviderId};
use serde::{Deserialize, Serialize};

use super::jobs::{self, Job, SubOrder};
use super::model::{JobStatus, SubOrderState};
use super::{intake, worker};
use crate::breaker::Refused;
use crate::keys;
use crate::state::AppState;
use crate::store::{Store, StoreError};

/// Compare-and-set attempts before giving up for this step (the worker tries again).
const CAS_ATTEMPTS: usize = 32;

/// One job's group in a batch: `len` numbers in the job's list `list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub job: String,
    pub tenant: String,
    pub list: usize,
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BatchState {
    /// Collecting groups.
    Open,
    /// Job `by` places the order; nobody joins or leaves any more.
    Taken { by: String },
    /// Job `by` is calling the vendor.
    Submitting { by: String },
    Ordered {
        vendor_order_id: String,
        at: DateTime<Utc>,
    },
    /// The vendor, or its open circuit, refused the order: nothing was billed.
    Declined { code: String, message: String },
    /// The vendor may have accepted (and billed) the order; it is not sent again.
    Unknown { message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub id: String,
    /// The vendor's minimum order when the batch opened.
    pub min: usize,
    /// The vendor's largest order: a group that would overflow it opens the next batch.
    pub max: usize,
    pub members: Vec<Member>,
    pub state: BatchState,
}

impl Batch {
    pub fn new(id: String, min: usize, max: usize) -> Self {
        Self {
            id,
            min,
            max,
            members: Vec::new(),
            state: BatchState::Open,
        }
    }

    pub fn size(&self) -> usize {
        self.members.iter().map(|m| m.len).sum()
    }

    pub fn is_open(&self) -> bool {
        self.state == BatchState::Open
    }

    pub fn has(&self, job: &str, list: usize) -> bool {
        self.members.iter().any(|m| m.job == job && m.list == list)
    }

    /// Adds `member` while the batch is open and has room; true when it was added (false when
    /// it is already in, or the batch is closed or full).
    pub fn join(&mut self, member: Member) -> bool {
        if !self.is_open()
            || self.has(&member.job, member.list)
            || self.size() + member.len > self.max.max(self.min)
        {
            return false;
        }
        self.members.push(member);
        true
    }

    /// Removes the group while the batch is open; true when removed.
    pub fn leave(&mut self, job: &str, list: usize) -> bool {
        if !self.is_open() || !self.has(job, list) {
            return false;
        }
        self.members.retain(|m| !(m.job == job && m.list == list));
        true
    }

    /// Open and at the minimum: one order can be placed.
    pub fn ready(&self) -> bool {
        self.is_open() && self.size() >= self.min.max(1)
    }

    /// Member job `by` takes a ready batch to order it; true when it did.
    pub fn take(&mut self, by: &str) -> bool {
        if !self.ready() || !self.members.iter().any(|m| m.job == by) {
            return false;
        }
        self.state = BatchState::Taken { by: by.to_owned() };
        true
    }

    /// `by` records that it calls the vendor now; true when the batch was `by`'s to order.
    pub fn submitting(&mut self, by: &str) -> bool {
        if self.state != (BatchState::Taken { by: by.to_owned() }) {
            return false;
        }
        self.state = BatchState::Submitting { by: by.to_owned() };
        true
    }

    /// `by` did not call the vendor after all (its intent could not be recorded safely): the
    /// batch is `by`'s to order again; true when it was being submitted by `by`.
    pub fn unsubmit(&mut self, by: &str) -> bool {
        if self.state != (BatchState::Submitting { by: by.to_owned() }) {
            return false;
        }
        self.state = BatchState::Taken { by: by.to_owned() };
        true
    }

    /// The outcome of `by`'s vendor call; true when the batch was being submitted by `by`.
    pub fn settle(&mut self, by: &str, outcome: BatchState) -> bool {
        if self.state != (BatchState::Submitting { by: by.to_owned() }) {
            return false;
        }
        self.state = outcome;
        true
    }
}

/// How long a group waits at most: the request's `max_wait`, capped by the configured window.
pub fn window(max_wait: Option<Duration>, batch_window: Duration) -> Duration {
    max_wait.map_or(batch_window, |w| w.min(batch_window))
}

async fn read(store: &Store, id: &str) -> Result<Option<(Batch, Vec<u8>)>, StoreError> {
    let key = keys::PoolBatch::new(id);
    let Some(raw) = store.get(&key).await? else {
        return Ok(None);
    };
    let batch = serde_json::from_slice(&raw)
        .map_err(|e| StoreError::Corrupt(format!("{key}: invalid JSON: {e}")))?;
    Ok(Some((batch, raw)))
}

fn encode(batch: &Batch) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(batch).map_err(|e| StoreError::invalid(format!("pool batch: {e}")))
}

fn contention() -> StoreError {
    StoreError::Unavailable("a pool batch kept changing under this write; tried again later".into())
}

/// Applies `change` to batch `id` atomically, again on a fresh copy whenever another writer got
/// in first. The batch as stored afterwards, and whether `change` changed it; `None` when the
/// batch is gone.
pub async fn update(
    store: &Store,
    id: &str,
    ttl: Duration,
    change: impl FnMut(&mut Batch) -> bool,
) -> Result<Option<(Batch, bool)>, StoreError> {
    update_with(store, id, ttl, Write::Plain, change).await
}

/// How [`update_with`] writes the batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    Plain,
    /// Held by the store's replicas before it counts (see `Store::compare_and_set_acked`).
    Acked,
}

async fn update_with(
    store: &Store,
    id: &str,
    ttl: Duration,
    write: Write,
    mut change: impl FnMut(&mut Batch) -> bool,
) -> Result<Option<(Batch, bool)>, StoreError> {
    let key = keys::PoolBatch::new(id);
    for _ in 0..CAS_ATTEMPTS {
        let Some((mut batch, raw)) = read(store, id).await? else {
            return Ok(None);
        };
        if !change(&mut batch) {
            return Ok(Some((batch, false)));
        }
        let new = encode(&batch)?;
        let written = match write {
            Write::Plain => {
                store
                    .compare_and_set(&key, Some(&raw), &new, Some(ttl))
                    .await?
            }
            Write::Acked => {
                store
                    .compare_and_set_acked(&key, Some(&raw), &new, Some(ttl))
                    .await?
            }
        };
        if written {
            return Ok(Some((batch, true)));
        }
    }
    Err(contention())
}

/// Opens a new batch and makes it the pool's open one, if the pool still names `current`.
async fn open_batch(
    store: &Store,
    pool: &str,
    current: Option<&str>,
    limits: providers::BatchLimits,
    ttl: Duration,
) -> Result<(), StoreError> {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let batch = Batch::new(id.clone(), limits.min, limits.max);
    store
        .set(&keys::PoolBatch::new(&id), &encode(&batch)?, Some(ttl))
        .await?;
    store
        .compare_and_set(pool, current.map(str::as_bytes), id.as_bytes(), Some(ttl))
        .await?;
    Ok(())
}

/// Puts `member` into `pool`'s open batch (opening one when the last one closed or is full);
/// the batch id. Joining again finds the batch joined before, whatever its state.
pub async fn join(
    store: &Store,
    pool: &str,
    member: &Member,
    limits: providers::BatchLimits,
    ttl: Duration,
) -> Result<String, StoreError> {
    let marker = keys::JobPoolMarker::new(&member.job, member.list);
    if let Some(id) = store
        .get(&marker)
        .await?
        .and_then(|raw| String::from_utf8(raw).ok())
        && read(store, &id)
            .await?
            .is_some_and(|(b, _)| b.has(&member.job, member.list))
    {
        return Ok(id);
    }
    for _ in 0..CAS_ATTEMPTS {
        let current = store
            .get(pool)
            .await?
            .and_then(|raw| String::from_utf8(raw).ok());
        let Some(id) = current else {
            open_batch(store, pool, None, limits, ttl).await?;
            continue;
        };
        store.set(&marker, id.as_bytes(), Some(ttl)).await?;
        match update(store, &id, ttl, |b| b.join(member.clone())).await? {
            Some((batch, _)) if batch.has(&member.job, member.list) => return Ok(id),
            // Closed (taken), full or expired: a fresh batch takes the next groups.
            _ => open_batch(store, pool, Some(&id), limits, ttl).await?,
        }
    }
    Err(contention())
}

/// A job's group waiting in a pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolEntry {
    /// The pool's key ([`keys::PoolOpenBatch`]).
    pub pool: String,
    /// The batch joined; `None` until the worker joins.
    pub batch: Option<String>,
    pub provider: ProviderId,
    pub checks: CheckSet,
    pub region: Option<String>,
    /// The job's list holding the numbers.
    pub list: usize,
    pub len: usize,
    /// End of the window: still below the minimum then, the group takes the fallback path.
    pub until: DateTime<Utc>,
}

/// What became of a waiting group in this step.
enum Outcome {
    Waiting(PoolEntry),
    Ordered {
        vendor_order_id: String,
        at: DateTime<Utc>,
    },
    Fallback,
    Unknown(String),
}

/// Moves each of the job's pooled groups on: join, take and order a full batch, join the
/// ordered vendor order, or fall back when the window closed below the minimum.
pub async fn resolve(state: &AppState, job: &mut Job) -> Result<(), StoreError> {
    let mut i = 0;
    while i < job.pooled.len() {
        let entry = job.pooled[i].clone();
        let outcome = step(state, job, entry).await?;
        let entry = match outcome {
            Outcome::Waiting(entry) => {
                job.pooled[i] = entry;
                i += 1;
                continue;
            }
            // Out of the job before anything is saved: a group is never delivered twice.
            _ => job.pooled.remove(i),
        };
        match outcome {
            Outcome::Ordered {
                vendor_order_id,
                at,
            } => join_order(state, job, &entry, vendor_order_id, at).await?,
            Outcome::Fallback => fall_back(state, job, &entry).await?,
            Outcome::Unknown(message) => record_unknown(state, job, &entry, message).await?,
            Outcome::Waiting(_) => {}
        }
    }
    Ok(())
}

fn member_of(job: &Job, entry: &PoolEntry) -> Member {
    Member {
        job: job.id.clone(),
        tenant: job.tenant.clone(),
        list: entry.list,
        len: entry.len,
    }
}

fn limits(state: &AppState, provider: ProviderId) -> providers::BatchLimits {
    state
        .providers
        .bulk(provider)
        .map_or(providers::BatchLimits { min: 1, max: 1 }, |checker| {
            checker.limits()
        })
}

async fn step(state: &AppState, job: &Job, mut entry: PoolEntry) -> Result<Outcome, StoreError> {
    let store = &state.store;
    let ttl = state.config.number_checks.job_ttl;
    let id = match entry.batch.clone() {
        Some(id) => id,
        None => {
            let limits = limits(state, entry.provider);
            let id = join(store, &entry.pool, &member_of(job, &entry), limits, ttl).await?;
            entry.batch = Some(id.clone());
            id
        }
    };
    let Some((mut batch, _)) = read(store, &id).await? else {
        return Ok(Outcome::Fallback);
    };
    if batch.is_open() {
        if !batch.has(&job.id, entry.list) {
            // Left at the end of its window before a crash kept the job from saying so.
            return Ok(Outcome::Fallback);
        }
        if batch.ready() {
            match update(store, &id, ttl, |b| b.take(&job.id)).await? {
                Some((now, _)) => batch = now,
                None => return Ok(Outcome::Fallback),
            }
        } else if Utc::now() >= entry.until {
            match update(store, &id, ttl, |b| b.leave(&job.id, entry.list)).await? {
                Some((_, true)) | None => return Ok(Outcome::Fallback),
                // Taken meanwhile: the group is in the order after all.
                Some((now, false)) => batch = now,
            }
        }
    }
    let mine = |by: &String| by == &job.id;
    match &batch.state {
        BatchState::Taken { by } if mine(by) => {
            batch = place_order(state, &id, &job.id, &entry).await?;
        }
        BatchState::Submitting { by } if mine(by) => {
            tracing::warn!(job = %job.id, batch = %id, "found a pooled order in flight after a restart; not resubmitting");
            let outcome = BatchState::Unknown {
                message: "the gateway stopped between sending the pooled order and recording \
                          the vendor's answer; it was not sent again to avoid paying twice"
                    .into(),
            };
            if let Some((now, _)) =
                update(store, &id, ttl, |b| b.settle(&job.id, outcome.clone())).await?
            {
                batch = now;
            }
        }
        _ => {}
    }
    Ok(match batch.state {
        BatchState::Ordered {
            vendor_order_id,
            at,
        } => Outcome::Ordered {
            vendor_order_id,
            at,
        },
        BatchState::Declined { .. } => Outcome::Fallback,
        BatchState::Unknown { message } => Outcome::Unknown(message),
        _ => Outcome::Waiting(entry),
    })
}

/// Every member's numbers, once each.
async fn batch_numbers(store: &Store, batch: &Batch) -> Result<Vec<E164>, StoreError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(batch.size());
    for member in &batch.members {
        for number in jobs::read_list(store, &member.job, member.list).await? {
            if seen.insert(number) {
                out.push(number);
            }
        }
    }
    Ok(out)
}

/// The taker sends the batch as one vendor order. The intent is stored before the call, the
/// outcome right after; the batch as stored afterwards.
async fn place_order(
    state: &AppState,
    id: &str,
    taker: &str,
    entry: &PoolEntry,
) -> Result<Batch, StoreError> {
    let store = &state.store;
    let ttl = state.config.number_checks.job_ttl;
    let (provider, checks) = (entry.provider, entry.checks);
    let Some((batch, _)) = read(store, id).await? else {
        return Ok(gone(id));
    };
    let numbers = batch_numbers(store, &batch).await?;
    let marked = update_with(store, id, ttl, Write::Acked, |b| b.submitting(taker)).await;
    let marked = match marked {
        Ok(marked) => marked,
        Err(e) => {
            // Not sent: the mark goes back, or the next attempt would take the order for one
            // lost in flight and never send it (best effort: it then stays unknown, not paid twice).
            let _ = update(store, id, ttl, |b| b.unsubmit(taker)).await;
            return Err(e);
        }
    };
    let Some((batch, true)) = marked else {
        return Ok(read(store, id).await?.map_or_else(|| gone(id), |(b, _)| b));
    };
    let outcome = match state.providers.bulk(provider) {
        None => BatchState::Declined {
            code: "provider_not_configured".into(),
            message: format!("{provider} is not configured"),
        },
        Some(checker) => match state.breakers.admit(provider).await {
            Err(Refused::Open { retry_after, .. }) => BatchState::Declined {
                code: "vendor_unavailable".into(),
                message: format!(
                    "{provider} is unavailable: its circuit is open (for {} s more), so the pooled order was not sent",
                    retry_after.as_secs()
                ),
            },
            Err(Refused::Store(e)) => return Err(e),
            Ok(permit) => {
                let answer = checker.submit(&numbers, &checks).await;
                state.breakers.settle(permit, answer.as_ref().err()).await;
                match answer {
                    Ok(order) => BatchState::Ordered {
                        vendor_order_id: order.as_str().to_owned(),
                        at: Utc::now(),
                    },
                    Err(e) if intake::outcome_unknown(&e) => BatchState::Unknown {
                        message: format!(
                            "{}; whether the pooled order was accepted is unknown, so it was not sent again",
                            crate::vendor_errors::job_error_message(&e)
                        ),
                    },
                    Err(e) => {
                        tracing::warn!(batch = %id, error = %e, "pooled vendor order not accepted");
                        BatchState::Declined {
                            code: e.kind.code().to_owned(),
                            message: crate::vendor_errors::job_error_message(&e),
                        }
                    }
                }
            }
        },
    };
    if let BatchState::Ordered { .. } = &outcome {
        tracing::info!(batch = %id, numbers = numbers.len(), groups = batch.members.len(), %provider, "pooled vendor order placed");
    }
    Ok(update(store, id, ttl, |b| b.settle(taker, outcome.clone()))
        .await?
        .map_or_else(|| gone(id), |(b, _)| b))
}

/// A batch that expired from the store: its members fall back.
fn gone(id: &str) -> Batch {
    Batch {
        state: BatchState::Declined {
            code: "pool_expired".into(),
            message: "the pool expired".into(),
        },
        ..Batch::new(id.to_owned(), 0, 0)
    }
}

/// The group's numbers become a running sub-order of the job on the pooled vendor order, billed
/// to the job's tenant.
async fn join_order(
    state: &AppState,
    job: &mut Job,
    entry: &PoolEntry,
    vendor_order_id: String,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    let numbers = jobs::read_list(store, &job.id, entry.list).await?;
    let start = jobs::append_numbers(store, &job.id, &numbers, config.job_ttl).await?;
    let now = Utc::now();
    let mut sub = SubOrder::new(
        job.sub_orders.len(),
        entry.provider,
        entry.checks,
        start,
        numbers.len(),
    );
    sub.state = SubOrderState::Running;
    sub.vendor_order_id = Some(vendor_order_id);
    sub.billed = true;
    sub.pooled = true;
    sub.submitted_at = Some(at);
    sub.poll_delay_ms = config.poll_initial.as_millis() as u64;
    sub.next_poll_at = Some(now);
    job.sub_orders.push(sub);
    job.status = JobStatus::Running;
    job.updated_at = now;
    jobs::save(store, job, config.job_ttl).await?;
    worker::count_billed_usage(store, job).await?;
    jobs::drop_list(store, &job.id, entry.list).await
}

/// The window closed below the minimum, or the vendor declined: the path without pooling.
async fn fall_back(state: &AppState, job: &mut Job, entry: &PoolEntry) -> Result<(), StoreError> {
    let store = &state.store;
    let numbers = jobs::read_list(store, &job.id, entry.list).await?;
    let unplanned = worker::add_orders(state, job, numbers, entry.checks).await?;
    for (checks, numbers) in unplanned {
        job.warnings
            .push(intake::no_provider_warning(&checks, numbers));
    }
    jobs::drop_list(store, &job.id, entry.list).await
}

/// The pooled order's outcome is unknown: the group is an `unknown` sub-order, its numbers
/// counted as unconfirmed usage of the job's tenant.
async fn record_unknown(
    state: &AppState,
    job: &mut Job,
    entry: &PoolEntry,
    message: String,
) -> Result<(), StoreError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    let numbers = jobs::read_list(store, &job.id, entry.list).await?;
    let start = jobs::append_numbers(store, &job.id, &numbers, config.job_ttl).await?;
    let index = job.sub_orders.len();
    let mut sub = SubOrder::new(index, entry.provider, entry.checks, start, numbers.len());
    sub.pooled = true;
    job.sub_orders.push(sub);
    worker::mark_unknown(store, job, index, message).await?;
    jobs::save(store, job, config.job_ttl).await?;
    jobs::drop_list(store, &job.id, entry.list).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn member(job: &str, len: usize) -> Member {
        Member {
            job: job.into(),
            tenant: format!("tenant-{job}"),
            list: 0,
            len,
        }
    }

    #[test]
    fn a_batch_is_ready_at_the_minimum_and_taken_once() {
        let mut batch = Batch::new("b".into(), 500, 20_000);
        for job in ["a", "b", "c", "d"] {
            assert!(batch.join(member(job, 120)));
            assert!(!batch.ready(), "{} numbers", batch.size());
        }
        assert!(!batch.join(member("a", 120)), "joining twice adds nothing");
        assert_eq!(batch.size(), 480);
        assert!(batch.join(member("e", 120)));
        assert!(batch.ready());
        assert!(!batch.take("stranger"), "only a member takes");
        assert!(batch.take("e"));
        assert!(!batch.take("a"), "taken once");
        assert!(!batch.join(member("f", 120)), "a taken batch is closed");
        assert!(!batch.leave("a", 0), "nobody leaves a taken batch");
        assert_eq!(batch.size(), 600);
    }

    #[test]
    fn a_group_that_would_overflow_the_maximum_is_refused() {
        let mut batch = Batch::new("b".into(), 500, 1_000);
        assert!(batch.join(member("a", 499)));
        assert!(batch.join(member("b", 499)));
        assert!(!batch.join(member("c", 3)), "1,001 is over the maximum");
        assert!(batch.join(member("d", 2)));
        assert_eq!(batch.size(), 1_000);
    }

    #[test]
    fn a_group_leaves_only_an_open_batch() {
        let mut batch = Batch::new("b".into(), 500, 20_000);
        batch.join(member("a", 120));
        batch.join(member("b", 120));
        assert!(batch.leave("a", 0));
        assert!(!batch.leave("a", 0));
        assert_eq!(batch.size(), 120);
        assert!(!batch.take("b"), "below the minimum");
    }

    #[test]
    fn only_the_taker_submits_and_settles() {
        let mut batch = Batch::new("b".into(), 1, 10);
        batch.join(member("a", 1));
        batch.join(member("b", 1));
        assert!(!batch.submitting("a"), "not taken yet");
        assert!(batch.take("a"));
        assert!(!batch.submitting("b"));
        assert!(batch.submitting("a"));
        assert!(!batch.submitting("a"), "a second call would buy twice");
        assert!(
            !batch.unsubmit("b"),
            "only the submitter takes its intent back"
        );
        assert!(batch.unsubmit("a"));
        assert!(
            batch.submitting("a"),
            "taken back, the order is the taker's again"
        );
        let ordered = BatchState::Ordered {
            vendor_order_id: "1".into(),
            at: Utc::now(),
        };
        assert!(!batch.settle("b", ordered.clone()));
        assert!(batch.settle("a", ordered.clone()));
        assert_eq!(batch.state, ordered);
    }

    #[test]
    fn the_window_is_the_request_wait_capped_by_the_configured_one() {
        let window_of = |wait: Option<u64>| {
            window(wait.map(Duration::from_secs), Duration::from_secs(30)).as_secs()
        };
        assert_eq!(window_of(None), 30);
        assert_eq!(window_of(Some(5)), 5);
        assert_eq!(window_of(Some(0)), 0);
        assert_eq!(window_of(Some(600)), 30);
        assert_eq!(
            window(Some(Duration::from_secs(5)), Duration::ZERO),
            Duration::ZERO
        );
    }

    #[test]
    fn pools_are_per_scope_provider_checks_and_region() {
        let checks = CheckSet::of(&[domain::Check::Activity]);
        let shared = keys::PoolOpenBatch::of(
            "shared",
            providers::wscrm_screening::ID,
            &checks,
            Some("IN"),
        );
        assert_eq!(&*shared, "nc:pool:shared:wscrm_screening:activity:IN");
        assert_ne!(
            keys::PoolOpenBatch::of("t:a", providers::wscrm_screening::ID, &checks, Some("IN")),
            keys::PoolOpenBatch::of("t:b", providers::wscrm_screening::ID, &checks, Some("IN"))
        );
        assert_ne!(
            shared,
            keys::PoolOpenBatch::of(
                "shared",
                providers::wscrm_screening::ID,
                &checks,
                Some("US")
            )
        );
    }

    #[tokio::test]
    async fn of_concurrent_takers_one_takes_and_later_groups_open_the_next_batch() {
        let store = Store::memory("pool-test:");
        let limits = providers::BatchLimits {
            min: 500,
            max: 20_000,
        };
        let ttl = Duration::from_secs(60);
        let pool = keys::PoolOpenBatch::of(
            "shared",
            providers::wscrm_screening::ID,
            &CheckSet::of(&[domain::Check::Activity]),
            Some("IN"),
        );
        let pool = &*pool;
        let jobs = ["a", "b", "c", "d", "e"];
        let mut ids = Vec::new();
        for job in jobs {
            ids.push(
                join(&store, pool, &member(job, 120), limits, ttl)
                    .await
                    .unwrap(),
            );
        }
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        let id = ids[0].clone();
        let takes = futures_util::future::join_all(
            jobs.map(|job| update(&store, &id, ttl, move |b| b.take(job))),
        )
        .await;
        let taken = takes
            .into_iter()
            .filter(|t| matches!(t, Ok(Some((_, true)))))
            .count();
        assert_eq!(taken, 1);

        let next = join(&store, pool, &member("f", 120), limits, ttl)
            .await
            .unwrap();
        assert_ne!(next, id, "a taken batch is closed");
        let again = join(&store, pool, &member("a", 120), limits, ttl)
            .await
            .unwrap();
        assert_eq!(again, id, "a group finds the batch it joined");
        let batch = read(&store, &id).await.unwrap().unwrap().0;
        assert_eq!(batch.size(), 600);
    }
}
