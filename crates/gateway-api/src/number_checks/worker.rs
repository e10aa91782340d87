//! The background worker: claims due jobs, holds a per-job lease while working on one, submits
//! vendor orders, polls them with backoff, downloads and records results and finishes jobs (the
//! job's callback is a delivery of its `number_check.completed` event, see
//! [`crate::events::delivery`]).
//!
//! Exactly-once submission across replicas: a replica works on a job only while holding its
//! lease (renewed before every vendor call). Before `submit` the sub-order is saved as
//! `submitting`, and the vendor order id is saved right after. A replica that finds a sub-order
//! still `submitting` cannot know whether the vendor accepted it (a crash between the two
//! writes), so it marks it `unknown` and fails it instead of sending (and paying for) it again.
//! Likewise a submit that timed out or got an unreadable answer is `unknown`, never retried.
//! An `unknown` sub-order keeps its budget reservation and is counted as unconfirmed usage.
//!
//! Every vendor call goes through the vendor's circuit breaker. A submit refused by an open
//! circuit, or refused/failed by the vendor, moves the sub-order to another provider that
//! answers its checks, at most once per provider; a provider that failed a submit gets no other
//! order of the same job. Polls and downloads refused by an open circuit wait for the cool-down.
//!
//! Concurrency: the claimed jobs are worked on together, and a job's due sub-orders are
//! submitted, polled and downloaded concurrently, each vendor call holding one of its provider's
//! slots ([`super::slots`], `order_concurrency` per provider and replica). Changes to the job are
//! made and saved under one lock per job; answers are merged into the numbers' records under
//! another.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::{Mutex, OwnedSemaphorePermit};
use tracing::Instrument as _;

use chrono::{DateTime, Utc};
use domain::{
    Check, CheckSet, CheckStatus, E164, NumberResult, ProviderError, ProviderErrorKind, ProviderId,
};
use providers::{OrderProgress, VendorOrderId};

use super::claims::{self, Claims};
use super::jobs::{self, FailedProvider, Job, SubOrder, Wait};
use super::model::{JobError, JobView, SubOrderState};
use super::slots::{self, Step};
use super::{NumberChecksConfig, cache::Cache, intake, planner, pool, usage};
use crate::breaker::Refused;
use crate::keys;
use crate::state::AppState;
use crate::store::StoreError;
use crate::workers::{Shutdown, Workers};

pub fn spawn(state: &AppState, workers: &mut Workers) {
    let shutdown = workers.shutdown_signal();
    let owner = format!("nc-{}", uuid::Uuid::new_v4().simple());
    let state = state.clone();
    workers.push(tokio::spawn(run(state, owner, shutdown)));
}

fn now_secs() -> f64 {
    Utc::now().timestamp_millis() as f64 / 1000.0
}

fn at_secs(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

async fn run(state: AppState, owner: String, mut shutdown: Shutdown) {
    let config = &state.config.number_checks;
    loop {
        if shutdown.is_requested() {
            break;
        }
        match state
            .store
            .zclaim_due(
                &keys::DueJobs::new(),
                now_secs(),
                config.lease_ttl.as_secs_f64(),
                8,
            )
            .await
        {
            // The claimed jobs are worked on together: their orders share the replica's slots.
            Ok(ids) => {
                join_all(
                    ids.iter()
                        .map(|id| work_on_claimed(&state, id, &owner, &shutdown)),
                )
                .await;
            }
            Err(e) => tracing::warn!(error = %e, "number-check worker cannot read due jobs"),
        }
        if shutdown.sleep(config.worker_interval).await {
            break;
        }
    }
    tracing::debug!("number-check worker stopped");
}

async fn work_on_claimed(state: &AppState, id: &str, owner: &str, shutdown: &Shutdown) {
    if shutdown.is_requested() {
        // Hand it straight back so another replica takes it at once.
        let _ = state
            .store
            .zadd(&keys::DueJobs::new(), id, now_secs())
            .await;
        return;
    }
    let span = crate::telemetry::traced_work(tracing::info_span!(
        "number_check_job",
        job = %id,
        trace_id = tracing::field::Empty,
    ));
    work_on(state, id, owner, shutdown).instrument(span).await;
}

enum Next {
    Done,
    At(f64),
}

async fn work_on(state: &AppState, id: &str, owner: &str, shutdown: &Shutdown) {
    let config = &state.config.number_checks;
    let store = &state.store;
    let lease = keys::JobLease::new(id);
    match store.lease_acquire(&lease, owner, config.lease_ttl).await {
        Ok(true) => {}
        // Another replica holds it; the claim makes it due again after the lease time.
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(job = %id, error = %e, "cannot take job lease");
            return;
        }
    }
    // Heartbeat: the lease is renewed while this replica works, however long a download takes;
    // if a renewal fails, `lost` stops the work before its next write.
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeat = {
        let (store, lease, owner, lost, job) = (
            store.clone(),
            lease.clone(),
            owner.to_owned(),
            lost.clone(),
            id.to_owned(),
        );
        let (ttl, every) = (config.lease_ttl, config.lease_ttl / 3);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if !matches!(store.lease_renew(&lease, &owner, ttl).await, Ok(true)) {
                    lost.store(true, Ordering::SeqCst);
                    return;
                }
                // The job's claims live with its lease.
                let _ = claims::keep_alive(&store, &job, ttl * 2).await;
            }
        })
    };
    let outcome = advance(state, id, owner, shutdown, &lost).await;
    heartbeat.abort();
    let next = match outcome {
        Ok(Next::Done) => store.zrem(&keys::DueJobs::new(), id).await.map(|_| ()),
        Ok(Next::At(at)) => store.zadd(&keys::DueJobs::new(), id, at).await,
        Err(e) => {
            tracing::warn!(job = %id, error = %e, "number-check job step failed; retrying");
            store
                .zadd(
                    &keys::DueJobs::new(),
                    id,
                    now_secs() + config.worker_interval.as_secs_f64(),
                )
                .await
        }
    };
    if let Err(e) = next {
        tracing::warn!(job = %id, error = %e, "cannot reschedule job");
    }
    let _ = store.lease_release(&lease, owner).await;
}

#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("lease lost")]
    LeaseLost,
}

async fn advance(
    state: &AppState,
    id: &str,
    owner: &str,
    shutdown: &Shutdown,
    lost: &AtomicBool,
) -> Result<Next, StepError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    let Some(mut job) = jobs::load(store, id).await? else {
        return Ok(Next::Done);
    };
    if job.status.is_terminal() {
        // A finish that stopped between the final save and its event publishes it now.
        publish_completion(state, &mut job).await?;
        return Ok(Next::Done);
    }
    let lease = Lease {
        store,
        key: keys::JobLease::new(id).into(),
        owner,
        ttl: config.lease_ttl,
        lost,
    };
    claims::keep_alive(store, id, claims::holder_ttl(config)).await?;
    if !shutdown.is_requested() {
        resolve_waits(state, &mut job).await?;
        pool::resolve(state, &mut job).await?;
        lease.ensure().await?;
        settle_interrupted_submits(state, &mut job).await?;
        let due = slots::due(&job, Utc::now());
        let work = Working {
            job: Mutex::new(job),
            merges: Mutex::new(()),
        };
        let outcome = run_due(state, &work, &due, &lease, shutdown).await;
        job = work.job.into_inner();
        outcome?;
    }
    record_failures(state, &mut job).await?;
    let now = Utc::now();
    if job.all_work_done() {
        finish(state, &mut job, now).await?;
        return Ok(Next::Done);
    }
    if job.sub_orders.iter().any(|s| s.billed) && job.status == super::model::JobStatus::Queued {
        job.status = super::model::JobStatus::Running;
    }
    count_billed_usage(store, &mut job).await?;
    job.updated_at = now;
    jobs::save(store, &job, config.job_ttl).await?;
    let next = job
        .sub_orders
        .iter()
        .filter_map(|s| match s.state {
            SubOrderState::Pending | SubOrderState::Submitting => Some(now_secs()),
            SubOrderState::Running => Some(s.next_poll_at.map_or(now_secs(), at_secs)),
            _ => None,
        })
        .chain(
            job.waits
                .iter()
                .map(|w| w.next_check_at.map_or(now_secs(), at_secs)),
        )
        // A pooled group looks at its batch as often as an order is polled at first, and at
        // the end of its window.
        .chain(
            job.pooled
                .iter()
                .map(|p| at_secs(p.until).min(now_secs() + config.poll_initial.as_secs_f64())),
        )
        .fold(f64::INFINITY, f64::min);
    // Back before the job's holder key lapses, so its claims stay alive while it waits.
    let renew_by = now_secs() + config.lease_ttl.as_secs_f64() / 2.0;
    Ok(Next::At(if next.is_finite() {
        next.min(renew_by)
    } else {
        now_secs()
    }))
}

/// The job's lease, checked and renewed before every vendor call.
struct Lease<'a> {
    store: &'a crate::store::Store,
    key: String,
    owner: &'a str,
    ttl: Duration,
    lost: &'a AtomicBool,
}

impl Lease<'_> {
    async fn ensure(&self) -> Result<(), StepError> {
        if self.lost.load(Ordering::SeqCst)
            || !self
                .store
                .lease_renew(&self.key, self.owner, self.ttl)
                .await?
        {
            return Err(StepError::LeaseLost);
        }
        Ok(())
    }
}

/// Sub-orders still `submitting` were being sent when a replica stopped: they become `unknown`.
async fn settle_interrupted_submits(state: &AppState, job: &mut Job) -> Result<(), StoreError> {
    let store = &state.store;
    for i in 0..job.sub_orders.len() {
        if job.sub_orders[i].state != SubOrderState::Submitting {
            continue;
        }
        tracing::warn!(job = %job.id, sub_order = i, "found a submission in flight after a restart; not resubmitting");
        mark_unknown(
            store,
            job,
            i,
            "the gateway stopped between sending this order and recording the vendor's answer; \
             it was not sent again to avoid paying twice"
                .into(),
        )
        .await?;
        jobs::save(store, job, state.config.number_checks.job_ttl).await?;
    }
    Ok(())
}

/// A job being worked on by concurrent steps.
struct Working {
    /// The job is one value in the store: every change to it is made and saved under this lock,
    /// so concurrent steps never overwrite each other's changes. Vendor calls and result writes
    /// are made without it.
    job: Mutex<Job>,
    /// Held while merging answers into the numbers' records (see [`write_results`]).
    merges: Mutex<()>,
}

/// Works on the due sub-orders concurrently, each vendor call in one of its provider's
/// [`slots::OrderSlots`]. Every step runs to its end (a submit is never abandoned between
/// sending and recording the answer); the first error is returned.
async fn run_due(
    state: &AppState,
    work: &Working,
    due: &slots::Due,
    lease: &Lease<'_>,
    shutdown: &Shutdown,
) -> Result<(), StepError> {
    let polls = join_all(
        due.polls
            .iter()
            .map(|i| run_step(state, work, *i, Step::Poll, lease, shutdown)),
    );
    let submits = join_all(
        due.submits
            .iter()
            .map(|lane| submit_lane(state, work, lane, lease, shutdown)),
    );
    let (polled, submitted) = futures_util::future::join(polls, submits).await;
    polled.into_iter().chain(submitted).collect()
}

/// Submits one provider's due orders. A provider that has not accepted an order of this job
/// yet gets the first one alone: when it refuses, the others go elsewhere without being sent
/// to it, so a job whose every provider fails still makes at most one submit per provider.
async fn submit_lane(
    state: &AppState,
    work: &Working,
    lane: &slots::Submits,
    lease: &Lease<'_>,
    shutdown: &Shutdown,
) -> Result<(), StepError> {
    let mut orders = lane.orders.as_slice();
    if lane.first_alone
        && let Some((first, rest)) = orders.split_first()
    {
        run_step(state, work, *first, Step::Submit, lease, shutdown).await?;
        orders = rest;
    }
    join_all(
        orders
            .iter()
            .map(|i| run_step(state, work, *i, Step::Submit, lease, shutdown)),
    )
    .await
    .into_iter()
    .collect()
}

async fn run_step(
    state: &AppState,
    work: &Working,
    i: usize,
    step: Step,
    lease: &Lease<'_>,
    shutdown: &Shutdown,
) -> Result<(), StepError> {
    let provider = work.job.lock().await.sub_orders[i].provider;
    let slot = state.order_slots.acquire(provider).await;
    // A slot may take long to come: the replica may be stopping or have lost the job by then.
    if shutdown.is_requested() {
        return Ok(());
    }
    lease.ensure().await?;
    match step {
        Step::Submit => submit(state, &work.job, i, slot).await,
        Step::Poll => poll(state, work, i, lease, slot).await,
    }
}

/// The in-flight claims of a tenant's jobs.
pub(super) fn claims_of(state: &AppState, tenant: &str) -> Claims {
    let config = &state.config.number_checks;
    Claims::new(
        state.store.clone(),
        config.cache_scope,
        tenant,
        config.job_ttl,
    )
}

fn cache_of(state: &AppState, tenant: &str) -> Cache {
    let config = &state.config.number_checks;
    Cache::new(
        state.store.clone(),
        config.cache_scope,
        tenant,
        config.cache_ttl,
    )
    .reading_legacy(config.legacy_cache_reads)
}

/// Looks at the due [`Wait`]s: numbers whose claims are gone get the cached answers (not
/// billed), or, when their buyer ended without an answer, are claimed and bought by this job
/// (new sub-orders); the others keep waiting, with backoff.
async fn resolve_waits(state: &AppState, job: &mut Job) -> Result<(), StoreError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    let now = Utc::now();
    let claims = claims_of(state, &job.tenant);
    let cache = cache_of(state, &job.tenant);
    let max_age = job.max_age_ms.map_or(config.max_age, Duration::from_millis);
    // Freshness counts from when the job asked: an answer bought since then is fresh whatever
    // its `max_age` (even `0`).
    let asked_at = job.created_at;
    for wait in std::mem::take(&mut job.waits) {
        if wait.next_check_at.is_some_and(|at| at > now) {
            job.waits.push(wait);
            continue;
        }
        let numbers = jobs::read_wait(store, &job.id, &wait).await?;
        let held = claims
            .held_elsewhere(&job.id, &numbers, &wait.checks)
            .await?;
        let (mut still, mut free) = (Vec::new(), Vec::new());
        for (number, held) in numbers.into_iter().zip(held) {
            if held {
                still.push(number);
            } else {
                free.push(number);
            }
        }
        if free.is_empty() {
            job.waits.push(backed_off(config, wait));
            continue;
        }
        // Read before the lookup: see `claims::split`.
        let releases = claims.releases().await?;
        let found = cache.lookup(&free, &wait.checks, max_age, asked_at).await?;
        reuse(state, job, &found.hits).await?;
        let split = claims::split(
            &claims,
            &cache,
            &job.id,
            &found.misses,
            &wait.checks,
            Some(releases),
            max_age,
            asked_at,
        )
        .await?;
        reuse(state, job, &split.late_hits).await?;
        let ttl = config.job_ttl;
        if !still.is_empty() {
            let delay = Duration::from_millis(wait.delay_ms);
            let next = jobs::put_wait(store, job, wait.checks, &still, delay, ttl).await?;
            job.waits.push(backed_off(config, next));
        }
        for (checks, numbers) in &split.wait {
            let next =
                jobs::put_wait(store, job, *checks, numbers, config.poll_initial, ttl).await?;
            job.waits.push(next);
        }
        for (checks, numbers) in split.buy {
            add_orders(state, job, numbers, checks).await?;
        }
        jobs::drop_wait(store, &job.id, &wait).await?;
    }
    Ok(())
}

fn backed_off(config: &NumberChecksConfig, mut wait: Wait) -> Wait {
    let delay = Duration::from_millis(wait.delay_ms.max(1));
    wait.next_check_at = Some(Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default());
    wait.delay_ms = (delay * 2).min(config.poll_max).as_millis() as u64;
    wait
}

/// Takes answers another request bought into the job's records, as cache hits (not billed).
async fn reuse(
    state: &AppState,
    job: &mut Job,
    answers: &[NumberResult],
) -> Result<(), StoreError> {
    if answers.is_empty() {
        return Ok(());
    }
    let ttl = state.config.number_checks.job_ttl;
    let merged = jobs::merge_answers(
        &state.store,
        &job.records(),
        answers,
        ttl,
        jobs::Source::Reused,
    )
    .await?;
    if jobs::counts_added_up(job) {
        job.counts.from_cache += merged.newly_answered;
    } else {
        jobs::recount(&state.store, job).await?;
    }
    // At most once: a merge repeated after a lost reply finds its records answered and adds
    // nothing here, so a failure may leave these short, never doubled.
    metrics::counter!("number_checks_numbers_from_cache_total").increment(merged.newly_answered);
    usage::record_request(
        &state.store,
        &job.tenant,
        &job.month,
        0,
        merged.newly_answered,
    )
    .await
}

/// Plans `checks` of `numbers` (claimed by this job: their buyer ended without an answer, or
/// their pool closed below the minimum) and adds the orders to the job. What no provider takes
/// is `unavailable` (returned: checks and how many numbers), and what the budget no longer
/// allows `failed`, in their records.
pub(super) async fn add_orders(
    state: &AppState,
    job: &mut Job,
    numbers: Vec<E164>,
    checks: CheckSet,
) -> Result<Vec<(CheckSet, u64)>, StoreError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    let ttl = config.job_ttl;
    let claims = claims_of(state, &job.tenant);
    let from = match job.provider.provider() {
        Some(p) => vec![p],
        None => config.routing.clone(),
    };
    let (candidates, _) = intake::candidates(state, from, &checks).await?;
    let plan = planner::plan(numbers.clone(), &checks, &candidates);
    let billed = plan.billed();
    if let Some(budget) = config.budgets.get(&job.tenant).copied()
        && !reserve_more(store, job, billed, budget).await?
    {
        let records = jobs::unanswered(
            &numbers,
            &checks,
            CheckStatus::Failed,
            "budget_exceeded",
            None,
        );
        jobs::merge_records(store, &job.records(), records, ttl).await?;
        claims.release(&job.id, &numbers, &checks).await?;
        job.errors.push(JobError {
            code: "budget_exceeded".into(),
            message: "the answers this job waited for were not bought by another request, \
                      and this month's budget does not allow buying them"
                .into(),
            sub_order: None,
            numbers: numbers.len() as u64,
        });
        return Ok(Vec::new());
    }
    let mut unplanned: Vec<(CheckSet, Vec<E164>)> = plan
        .unplanned
        .iter()
        .map(|u| (u.checks, u.numbers.clone()))
        .collect();
    if !plan.unanswerable.is_empty() {
        unplanned.push((plan.unanswerable, numbers.clone()));
    }
    let mut untaken = Vec::new();
    for (checks, numbers) in unplanned {
        let records = jobs::unanswered(
            &numbers,
            &checks,
            CheckStatus::Unavailable,
            "no_provider",
            None,
        );
        jobs::merge_records(store, &job.records(), records, ttl).await?;
        claims.release(&job.id, &numbers, &checks).await?;
        untaken.push((checks, numbers.len() as u64));
    }
    let start = jobs::append_numbers(store, &job.id, &plan.numbers, ttl).await?;
    for order in &plan.orders {
        let index = job.sub_orders.len();
        job.sub_orders.push(SubOrder::new(
            index,
            order.provider,
            order.checks,
            start + order.start,
            order.len,
        ));
    }
    Ok(untaken)
}

/// Reserves what the job needs beyond its reservation for `billed` more numbers; false when
/// the budget does not allow it. Each reservation is made once under the job's next
/// reservation mark: a step repeated after a failure (the job saved before this reservation)
/// finds it instead of reserving again, which would hold budget no job gives back.
async fn reserve_more(
    store: &crate::store::Store,
    job: &mut Job,
    billed: u64,
    budget: u64,
) -> Result<bool, StoreError> {
    loop {
        let needed = (job.committed() + billed).saturating_sub(job.reserved);
        if needed == 0 {
            return Ok(true);
        }
        let mark = usage::reservation_mark(&job.id, job.reservations);
        match usage::reserve_once(store, &job.tenant, &job.month, needed, budget, &mark).await? {
            Ok(reserved) => {
                job.reserved += reserved;
                job.reservations += 1;
            }
            Err(_) => return Ok(false),
        }
    }
}

fn fail(job: &mut Job, i: usize, code: &str, message: String) {
    let sub = &mut job.sub_orders[i];
    sub.state = SubOrderState::Failed;
    sub.finished_at = Some(Utc::now());
    let unanswered = (sub.len as u64).saturating_sub(sub.answered);
    sub.error = Some(JobError {
        code: code.to_owned(),
        message,
        sub_order: Some(i),
        numbers: unanswered,
    });
}

/// The sub-order's outcome is unknown: the vendor may have accepted (and billed) it. Counted as
/// unconfirmed usage before the job is saved, once: a step repeated after a failure in between
/// finds the order's mark.
pub(super) async fn mark_unknown(
    store: &crate::store::Store,
    job: &mut Job,
    i: usize,
    message: String,
) -> Result<(), StoreError> {
    let sub = &job.sub_orders[i];
    let mark = usage::unconfirmed_mark(&job.id, i);
    usage::record_unconfirmed_once(
        store,
        &job.tenant,
        &job.month,
        sub.provider,
        sub.len as u64,
        &mark,
    )
    .await?;
    let sub = &mut job.sub_orders[i];
    sub.state = SubOrderState::Unknown;
    sub.finished_at = Some(Utc::now());
    sub.error = Some(JobError {
        code: "submission_outcome_unknown".into(),
        message,
        sub_order: Some(i),
        numbers: sub.len as u64,
    });
    Ok(())
}

/// Another configured provider answering all of `sub`'s checks within its limits, which this
/// order has not tried, no order of this job failed at, and whose circuit is not cooling down.
async fn alternative(
    state: &AppState,
    job: &Job,
    i: usize,
) -> Result<Option<(ProviderId, CheckSet)>, StoreError> {
    let sub = &job.sub_orders[i];
    if job.provider.provider().is_some() {
        return Ok(None);
    }
    for provider in &state.config.number_checks.routing {
        if *provider == sub.provider
            || sub.tried.contains(provider)
            || job.failed_providers.iter().any(|f| f.provider == *provider)
        {
            continue;
        }
        let Some(checker) = state.providers.bulk(*provider) else {
            continue;
        };
        let limits = checker.limits();
        if !sub.checks.is_subset(&checker.checks())
            || sub.len < limits.min
            || sub.len > limits.max
            || state.breakers.cooling_down(*provider).await?.is_some()
        {
            continue;
        }
        let groups = checker.order_groups(&sub.checks);
        if groups.len() == 1 {
            return Ok(Some((*provider, groups[0])));
        }
    }
    Ok(None)
}

/// Moves sub-order `i` to an [`alternative`], or fails it with `code` when none is left.
async fn move_on(
    state: &AppState,
    job: &mut Job,
    i: usize,
    code: &str,
    message: String,
) -> Result<(), StoreError> {
    match alternative(state, job, i).await? {
        Some((to, checks)) => reroute(job, i, to, checks),
        None => {
            let tried = &job.sub_orders[i].tried;
            let message = if tried.is_empty() {
                message
            } else {
                let names: Vec<&str> = tried.iter().map(|p| p.as_str()).collect();
                format!("{message} (tried before: {})", names.join(", "))
            };
            fail(job, i, code, message);
        }
    }
    Ok(())
}

/// A submit about to be sent.
struct Sending {
    checker: Arc<dyn providers::BulkNumberChecker>,
    permit: crate::breaker::Permit,
    provider: ProviderId,
    numbers: Vec<E164>,
    checks: CheckSet,
}

/// Sends sub-order `i` (holding its provider's `slot`) and records the answer.
async fn submit(
    state: &AppState,
    job: &Mutex<Job>,
    i: usize,
    slot: Option<OwnedSemaphorePermit>,
) -> Result<(), StepError> {
    let (id, start, len) = {
        let job = job.lock().await;
        (
            job.id.clone(),
            job.sub_orders[i].start,
            job.sub_orders[i].len,
        )
    };
    // Read before the job is locked: other orders' steps go on meanwhile.
    let numbers = jobs::read_numbers(&state.store, &id, start, len).await?;
    let Some(sending) = begin_submit(state, &mut *job.lock().await, i, numbers).await? else {
        return Ok(());
    };
    let Sending {
        checker,
        permit,
        provider,
        numbers,
        checks,
    } = sending;
    let answer = checker.submit(&numbers, &checks).await;
    state.breakers.settle(permit, answer.as_ref().err()).await;
    drop(slot);
    record_submit(state, &mut *job.lock().await, i, provider, answer).await
}

/// Everything before the vendor call of a submit of `numbers`: the order is moved elsewhere or
/// failed when its provider cannot take it; else it is saved as `submitting`.
async fn begin_submit(
    state: &AppState,
    job: &mut Job,
    i: usize,
    numbers: Vec<E164>,
) -> Result<Option<Sending>, StepError> {
    let provider = job.sub_orders[i].provider;
    let Some(checker) = state.providers.bulk(provider) else {
        fail(
            job,
            i,
            "provider_not_configured",
            format!("{provider} is not configured"),
        );
        return Ok(None);
    };
    if let Some(earlier) = job
        .failed_providers
        .iter()
        .find(|f| f.provider == provider)
        .cloned()
    {
        let message = format!(
            "{provider} failed an earlier order of this job ({}); this order was not sent to it",
            earlier.code
        );
        move_on(state, job, i, &earlier.code, message).await?;
        return Ok(None);
    }
    let permit = match state.breakers.admit(provider).await {
        Ok(permit) => permit,
        Err(Refused::Open { retry_after, .. }) => {
            let message = format!(
                "{provider} is unavailable: its circuit is open after repeated failures \
                 (for {} s more), so this order was not sent",
                retry_after.as_secs()
            );
            move_on(state, job, i, "vendor_unavailable", message).await?;
            return Ok(None);
        }
        Err(Refused::Store(e)) => return Err(e.into()),
    };
    if let Err(e) = mark_submitting(state, job, i).await {
        state.breakers.abandon(permit).await;
        return Err(e.into());
    }
    Ok(Some(Sending {
        checker,
        permit,
        provider,
        numbers,
        checks: job.sub_orders[i].checks,
    }))
}

/// Records the vendor's answer to a submit: the order id and the bill, or where the order goes
/// next.
async fn record_submit(
    state: &AppState,
    job: &mut Job,
    i: usize,
    provider: ProviderId,
    answer: Result<VendorOrderId, ProviderError>,
) -> Result<(), StepError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    let now = Utc::now();
    match answer {
        Ok(order) => {
            let sub = &mut job.sub_orders[i];
            sub.state = SubOrderState::Running;
            sub.vendor_order_id = Some(order.as_str().to_owned());
            sub.billed = true;
            sub.submitted_at = Some(now);
            sub.poll_delay_ms = config.poll_initial.as_millis() as u64;
            sub.next_poll_at =
                Some(now + chrono::Duration::from_std(config.poll_initial).unwrap_or_default());
            if job.status == super::model::JobStatus::Queued {
                job.status = super::model::JobStatus::Running;
            }
            job.updated_at = now;
            jobs::save(store, job, config.job_ttl).await?;
            // After the save, so that the order id is kept whatever happens to this write.
            count_billed_usage(store, job).await?;
        }
        Err(e) => {
            tracing::warn!(job = %job.id, sub_order = i, error = %e, "vendor order not accepted");
            if intake::outcome_unknown(&e) {
                // The vendor may have created (and billed) the order without us seeing its id.
                let message = format!(
                    "{}; whether the order was accepted is unknown, so it was not sent again",
                    crate::vendor_errors::job_error_message(&e)
                );
                mark_unknown(store, job, i, message).await?;
            } else {
                job.failed_providers.push(FailedProvider {
                    provider,
                    code: e.kind.code().to_owned(),
                });
                move_on(
                    state,
                    job,
                    i,
                    e.kind.code(),
                    crate::vendor_errors::job_error_message(&e),
                )
                .await?;
            }
            jobs::save(store, job, config.job_ttl).await?;
        }
    }
    Ok(())
}

/// Writes the usage of billed orders that is not in the tenant's ledger yet, each once (under
/// its order's mark): an order is saved as billed before its usage is written, so a write that
/// failed is made by the next step, and one whose reply was lost is not made twice. The flags
/// set here are saved with the job's next save.
pub(super) async fn count_billed_usage(
    store: &crate::store::Store,
    job: &mut Job,
) -> Result<(), StoreError> {
    for i in 0..job.sub_orders.len() {
        let sub = &job.sub_orders[i];
        if !sub.billed || sub.usage_counted {
            continue;
        }
        let (provider, numbers) = (sub.provider, sub.len as u64);
        let month = usage::month_of(sub.submitted_at.unwrap_or(job.created_at));
        let mark = usage::billed_mark(&job.id, i);
        if usage::record_billed_once(store, &job.tenant, &month, provider, numbers, &mark).await? {
            metrics::counter!("number_checks_numbers_billed_total", "provider" => provider.as_str())
                .increment(numbers);
        }
        job.sub_orders[i].usage_counted = true;
    }
    Ok(())
}

/// Records the intent first: if this replica dies during the vendor call, the next one sees
/// `submitting`. With `store.replica_acks` the mark is held by the replicas before the call, so
/// a Redis failover cannot lose it and let another replica send the order again.
async fn mark_submitting(state: &AppState, job: &mut Job, i: usize) -> Result<(), StoreError> {
    let ttl = state.config.number_checks.job_ttl;
    let before = job.sub_orders[i].state;
    job.sub_orders[i].state = SubOrderState::Submitting;
    job.updated_at = Utc::now();
    let marked = jobs::save_acked(&state.store, job, ttl).await;
    if marked.is_err() {
        // Not sent: the mark goes back, or the next attempt would take the order for one lost
        // in flight and never send it (best effort: it then ends unknown, never paid twice).
        job.sub_orders[i].state = before;
        let _ = jobs::save(&state.store, job, ttl).await;
    }
    marked
}

fn reroute(job: &mut Job, i: usize, to: ProviderId, checks: CheckSet) {
    let sub = &mut job.sub_orders[i];
    tracing::info!(job = %job.id, sub_order = i, from = %sub.provider, to = %to, "sub-order rerouted");
    sub.rerouted_from.get_or_insert(sub.provider);
    sub.tried.push(sub.provider);
    sub.provider = to;
    sub.checks = checks;
    sub.state = SubOrderState::Pending;
}

/// Leaves a running sub-order alone until its vendor's circuit lets calls through again.
fn wait_for_circuit(job: &mut Job, i: usize, retry_after: Duration) {
    job.sub_orders[i].next_poll_at =
        Some(Utc::now() + chrono::Duration::from_std(retry_after).unwrap_or_default());
}

/// What a poll (and, when the order is ready, the download of its result file) brought: the
/// records downloaded, then what writing them brought.
enum Polled<T> {
    /// The circuit refused the call; try again after this.
    CircuitOpen(Duration),
    Running,
    PollFailed(ProviderError),
    Ready(T),
    DownloadFailed(ProviderError),
}

/// Polls sub-order `i` (holding its provider's `slot`), downloads its result file when ready and
/// records what came.
async fn poll(
    state: &AppState,
    work: &Working,
    i: usize,
    lease: &Lease<'_>,
    slot: Option<OwnedSemaphorePermit>,
) -> Result<(), StepError> {
    let config = &state.config.number_checks;
    let target = {
        let mut job = work.job.lock().await;
        let target = poll_target(state, &mut job, i);
        if target.is_none() {
            jobs::save(&state.store, &job, config.job_ttl).await?;
        }
        target
    };
    let Some(target) = target else {
        return Ok(());
    };
    let polled = poll_and_download(state, &target).await?;
    drop(slot);
    // The result file is written before the job is locked: other orders' steps go on meanwhile.
    let polled = match polled {
        Polled::Ready(downloaded) => {
            Polled::Ready(write_results(state, &target, &work.merges, downloaded).await?)
        }
        Polled::CircuitOpen(retry_after) => Polled::CircuitOpen(retry_after),
        Polled::Running => Polled::Running,
        Polled::PollFailed(e) => Polled::PollFailed(e),
        Polled::DownloadFailed(e) => Polled::DownloadFailed(e),
    };
    let mut job = work.job.lock().await;
    match polled {
        Polled::Ready(recorded) => {
            complete_sub_order(&mut job, i, &recorded);
            jobs::recount(&state.store, &mut job).await?;
        }
        Polled::CircuitOpen(retry_after) => wait_for_circuit(&mut job, i, retry_after),
        Polled::Running => backoff(config, &mut job.sub_orders[i], false),
        Polled::PollFailed(e) => poll_error(config, &mut job, i, &e),
        Polled::DownloadFailed(e) => download_error(config, &mut job, i, &e),
    }
    if lease.lost.load(Ordering::SeqCst) {
        return Err(StepError::LeaseLost);
    }
    jobs::save(&state.store, &job, config.job_ttl).await?;
    Ok(())
}

/// What a poll needs: the sub-order as it was when the poll started, its adapter and order id.
struct PollTarget {
    job: String,
    records: jobs::Records,
    tenant: String,
    sub: SubOrder,
    checker: Arc<dyn providers::BulkNumberChecker>,
    order: VendorOrderId,
}

/// Sub-order `i`'s [`PollTarget`]; fails the sub-order when its adapter or order id is missing.
fn poll_target(state: &AppState, job: &mut Job, i: usize) -> Option<PollTarget> {
    let provider = job.sub_orders[i].provider;
    let Some(checker) = state.providers.bulk(provider) else {
        fail(
            job,
            i,
            "provider_not_configured",
            format!("{provider} is not configured"),
        );
        return None;
    };
    let Some(order) = job.sub_orders[i]
        .vendor_order_id
        .clone()
        .map(VendorOrderId::new)
    else {
        fail(
            job,
            i,
            "internal_error",
            "the order id was not recorded".into(),
        );
        return None;
    };
    Some(PollTarget {
        job: job.id.clone(),
        records: job.records(),
        tenant: job.tenant.clone(),
        sub: job.sub_orders[i].clone(),
        checker,
        order,
    })
}

/// A result file's records, the order's numbers, and the file's room among those this replica
/// holds ([`slots::ResultSlots`]), kept until they are written.
struct Downloaded {
    records: Vec<NumberResult>,
    numbers: Vec<E164>,
    room: Option<OwnedSemaphorePermit>,
}

async fn poll_and_download(
    state: &AppState,
    target: &PollTarget,
) -> Result<Polled<Downloaded>, StoreError> {
    let (provider, checker, order) = (target.sub.provider, target.checker.as_ref(), &target.order);
    let progress = match state.breakers.call(provider, checker.poll(order)).await {
        Ok(progress) => progress,
        Err(Refused::Open { retry_after, .. }) => return Ok(Polled::CircuitOpen(retry_after)),
        Err(Refused::Store(e)) => return Err(e),
    };
    let location = match progress {
        Ok(OrderProgress::Running { .. }) => return Ok(Polled::Running),
        Ok(OrderProgress::Ready { result }) => result,
        Err(e) => return Ok(Polled::PollFailed(e)),
    };
    let waited = Instant::now();
    let room = state.result_slots.acquire().await;
    let room_wait = waited.elapsed();
    let started = Instant::now();
    // The order's numbers are read from the store while the file downloads.
    let (fetched, numbers) = tokio::join!(
        state
            .breakers
            .call(provider, checker.fetch_results(order, &location)),
        jobs::read_numbers(&state.store, &target.job, target.sub.start, target.sub.len),
    );
    tracing::debug!(
        job = %target.job,
        sub_order = target.sub.index,
        room_wait_ms = room_wait.as_millis() as u64,
        download_ms = started.elapsed().as_millis() as u64,
        "result file downloaded and read"
    );
    match fetched {
        Ok(Ok(records)) => Ok(Polled::Ready(Downloaded {
            records,
            numbers: numbers?,
            room,
        })),
        Ok(Err(e)) => Ok(Polled::DownloadFailed(e)),
        Err(Refused::Open { retry_after, .. }) => Ok(Polled::CircuitOpen(retry_after)),
        Err(Refused::Store(e)) => Err(e),
    }
}

/// A result file that could not be fetched or read is tried again (after polling the order
/// again, which may hand out a fresh link) unless retrying cannot help: the host is not
/// allowed or the file is over the size cap.
fn download_error(config: &NumberChecksConfig, job: &mut Job, i: usize, e: &ProviderError) {
    if matches!(
        e.kind,
        ProviderErrorKind::ForbiddenHost | ProviderErrorKind::TooLarge | ProviderErrorKind::Config
    ) {
        tracing::warn!(job = %job.id, sub_order = i, error = %e, "result file refused");
        fail(
            job,
            i,
            e.kind.code(),
            crate::vendor_errors::job_error_message(e),
        );
        return;
    }
    let sub = &mut job.sub_orders[i];
    sub.download_errors += 1;
    let attempts = sub.download_errors;
    tracing::warn!(job = %job.id, sub_order = i, attempts, error = %e, "result download failed");
    if attempts >= config.download_max_attempts.max(1) {
        fail(
            job,
            i,
            "result_download_failed",
            format!(
                "the result file of {} could not be downloaded and read in {attempts} attempts ({})",
                e.provider,
                download_cause(e)
            ),
        );
    } else {
        backoff(config, sub, true);
    }
}

fn download_cause(e: &ProviderError) -> &'static str {
    match e.kind {
        ProviderErrorKind::MalformedAnswer => "the file arrived truncated or unreadable",
        ProviderErrorKind::Timeout => "the transfer timed out",
        ProviderErrorKind::NotFound => "the file's link expired or is gone",
        ProviderErrorKind::Unavailable => "the transfer failed",
        _ => "the file host refused the download",
    }
}

fn backoff(config: &NumberChecksConfig, sub: &mut jobs::SubOrder, error: bool) {
    let delay = Duration::from_millis(sub.poll_delay_ms.max(1));
    sub.next_poll_at = Some(Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default());
    let next = (delay * 2).min(config.poll_max);
    sub.poll_delay_ms = next.as_millis() as u64;
    if !error {
        sub.poll_errors = 0;
    }
}

fn poll_error(config: &NumberChecksConfig, job: &mut Job, i: usize, e: &ProviderError) {
    tracing::warn!(job = %job.id, sub_order = i, error = %e, "polling a vendor order failed");
    let sub = &mut job.sub_orders[i];
    sub.poll_errors += 1;
    if !e.kind.is_transient() && e.kind != ProviderErrorKind::NotFound
        || sub.poll_errors >= config.max_poll_errors
    {
        fail(
            job,
            i,
            e.kind.code(),
            crate::vendor_errors::job_error_message(e),
        );
    } else {
        backoff(config, sub, true);
    }
}

/// What writing a sub-order's result file brought.
struct Recorded {
    answered: u64,
    newly_answered: u64,
    missing: u64,
    registered_blank: u64,
}

/// Writes a sub-order's answers into its numbers' records: one per number of the order
/// (`numbers`, read while the file downloaded), numbers the result file lacks as `failed`. Also
/// caches the answers and frees their claims. Only the merge into the records waits for
/// `merges`: two orders of the job may answer different checks of one number, and a merge reads
/// the record before writing it. The file's room is given back once its answers are written and
/// dropped, before the claims are freed, so the next file downloads meanwhile.
async fn write_results(
    state: &AppState,
    target: &PollTarget,
    merges: &Mutex<()>,
    downloaded: Downloaded,
) -> Result<Recorded, StoreError> {
    let Downloaded {
        records,
        numbers,
        room,
    } = downloaded;
    let config = &state.config.number_checks;
    let store = &state.store;
    let (id, sub) = (target.job.as_str(), &target.sub);
    // Positions, not the records themselves: a record is large, and a map of them moved each
    // one at every growth of the table and again out of it.
    let mut positions: HashMap<E164, usize> = HashMap::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        positions.insert(record.number, i);
    }
    let mut records: Vec<Option<NumberResult>> = records.into_iter().map(Some).collect();
    let mut answers = Vec::with_capacity(numbers.len());
    let mut missing = Vec::new();
    let mut registered_blank = 0u64;
    for number in &numbers {
        let found = positions
            .remove(number)
            .and_then(|i| records.get_mut(i).and_then(Option::take));
        match found {
            Some(mut record) => {
                record.settle(&sub.checks);
                if record.status(Check::Registered) == Some(CheckStatus::Failed) {
                    registered_blank += 1;
                }
                answers.push(record);
            }
            None => missing.push(*number),
        }
    }
    // Rows of numbers this order did not ask about: nothing to write, no reason to hold them.
    drop(records);
    let gaps = jobs::unanswered(
        &missing,
        &sub.checks,
        CheckStatus::Failed,
        "numbers_missing_from_result",
        Some(sub.provider),
    );
    let answered = answers.len() as u64;
    // Shared by the merge and the cache write, whose tasks each take chunks of it.
    let answers: Arc<[NumberResult]> = answers.into();
    let started = Instant::now();
    let merge = async {
        let _merging = merges.lock().await;
        let locked = started.elapsed();
        let records = &target.records;
        let merged = jobs::merge_answers(
            store,
            records,
            answers.clone(),
            config.job_ttl,
            jobs::Source::Vendor,
        )
        .await?;
        jobs::merge_records(store, records, gaps, config.job_ttl).await?;
        Ok::<_, StoreError>((merged, locked, started.elapsed()))
    };
    let cache = cache_of(state, &target.tenant);
    let cached = async {
        cache.store(answers.clone(), &sub.checks).await?;
        Ok(started.elapsed())
    };
    // Together: one encodes while the other waits for the store.
    let ((merged, lock_wait, merged_at), cached_at) = tokio::try_join!(merge, cached)?;
    drop(answers);
    // Written: the next finished order may fetch its file.
    drop(room);
    let releasing = Instant::now();
    // Cached first, then freed: whoever waits for these answers finds them.
    claims_of(state, &target.tenant)
        .release(id, &numbers, &sub.checks)
        .await?;
    tracing::debug!(
        job = id,
        sub_order = sub.index,
        answered,
        merge_lock_wait_ms = lock_wait.as_millis() as u64,
        merged_ms = merged_at.as_millis() as u64,
        cached_ms = cached_at.as_millis() as u64,
        release_ms = releasing.elapsed().as_millis() as u64,
        "result file written"
    );
    Ok(Recorded {
        answered,
        newly_answered: merged.newly_answered,
        missing: missing.len() as u64,
        registered_blank,
    })
}

/// Marks sub-order `i` completed with what [`write_results`] wrote.
fn complete_sub_order(job: &mut Job, i: usize, recorded: &Recorded) {
    let sub = &mut job.sub_orders[i];
    sub.answered = recorded.answered;
    sub.state = SubOrderState::Completed;
    sub.finished_at = Some(Utc::now());
    if jobs::counts_added_up(job) {
        job.counts.answered += recorded.newly_answered;
    }
    if recorded.missing > 0 {
        job.errors.push(JobError {
            code: "numbers_missing_from_result".into(),
            message: format!(
                "the result file of sub-order {i} lacks {} numbers",
                recorded.missing
            ),
            sub_order: Some(i),
            numbers: recorded.missing,
        });
    }
    if recorded.registered_blank > 0 {
        job.errors.push(JobError {
            code: "registered_missing_from_result".into(),
            message: format!(
                "the result file of sub-order {i} does not say whether {} numbers have WhatsApp",
                recorded.registered_blank
            ),
            sub_order: Some(i),
            numbers: recorded.registered_blank,
        });
    }
}

/// Writes each failed (or unknown) sub-order's checks as `failed` into its numbers' records,
/// with the order's error code as reason; answers another order gave are kept.
async fn record_failures(state: &AppState, job: &mut Job) -> Result<(), StoreError> {
    let store = &state.store;
    let ttl = state.config.number_checks.job_ttl;
    for i in 0..job.sub_orders.len() {
        let sub = &job.sub_orders[i];
        if sub.failure_recorded
            || !matches!(sub.state, SubOrderState::Failed | SubOrderState::Unknown)
        {
            continue;
        }
        let reason = sub
            .error
            .as_ref()
            .map_or("failed", |e| e.code.as_str())
            .to_owned();
        let numbers = jobs::read_numbers(store, &job.id, sub.start, sub.len).await?;
        let failures = jobs::unanswered(
            &numbers,
            &sub.checks,
            CheckStatus::Failed,
            &reason,
            Some(sub.provider),
        );
        jobs::merge_records(store, &job.records(), failures, ttl).await?;
        // No answer is coming: whoever waits for these numbers buys them.
        claims_of(state, &job.tenant)
            .release(&job.id, &numbers, &job.sub_orders[i].checks)
            .await?;
        job.sub_orders[i].failure_recorded = true;
        jobs::save(store, job, ttl).await?;
    }
    Ok(())
}

/// Lowers the job's reservation to what its orders spent (billed, or possibly billed by the
/// vendor); returns the rest, to be given back once the job that no longer holds it is saved.
fn keep_spent_reservation(job: &mut Job) -> u64 {
    let spent: u64 = job
        .sub_orders
        .iter()
        .filter(|s| s.billed || s.state == SubOrderState::Unknown)
        .map(|s| s.len as u64)
        .sum();
    let unspent = job.reserved.saturating_sub(spent);
    job.reserved = job.reserved.min(spent);
    unspent
}

/// Final status, unspent budget back, metrics, then the `number_check.completed` event and
/// the callback. The final save holds the event's id until it is published, so that a failure
/// after it (the job, being finished, is not worked on again) is made good by the next step.
pub async fn finish(state: &AppState, job: &mut Job, now: DateTime<Utc>) -> Result<(), StoreError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    // The counts in hand may miss answers an earlier, failed attempt merged.
    jobs::recount(store, job).await?;
    count_billed_usage(store, job).await?;
    job.finish(now);
    for sub in &job.sub_orders {
        if let Some(e) = &sub.error
            && !job.errors.contains(e)
        {
            job.errors.push(e.clone());
        }
    }
    let unspent = keep_spent_reservation(job);
    job.unpublished_event = Some(crate::events::new_event_id());
    jobs::save(store, job, config.job_ttl).await?;
    // At most once: the finished job saved just before holds only what it spent, so a repeat
    // of this step after any failure finds nothing to give back.
    usage::give_back(store, &job.tenant, &job.month, unspent, &job.id).await;
    forget_usage_marks(state, job).await;
    // Best effort: the job's holder key lapses on its own shortly after.
    if let Err(e) = claims::gone(store, &job.id).await {
        tracing::debug!(job = %job.id, error = %e, "claims left to lapse");
    }
    metrics::counter!("number_checks_jobs_finished_total", "status" => job.status.as_str())
        .increment(1);
    publish_completion(state, job).await?;
    // The counts are final: their sets only cost memory now. Left to expire with the job if
    // this fails, since the job is finished and will not be worked on again.
    if let Err(e) = jobs::drop_tallies(store, &job.id).await {
        tracing::debug!(job = %job.id, error = %e, "count sets left to expire");
    }
    Ok(())
}

/// Publishes a finished job's `number_check.completed` event (feed, stream, subscriptions)
/// and schedules its callback, under the id saved with the final status; then saves that it
/// is out. A repeat after a failure in between publishes the event again with the same id
/// (consumers see it at least once and can tell a repeat by its id); the callback is
/// scheduled once per job whatever happens.
async fn publish_completion(state: &AppState, job: &mut Job) -> Result<(), StoreError> {
    let Some(event_id) = job.unpublished_event.clone() else {
        return Ok(());
    };
    let view = serde_json::to_value(JobView::from(&*job)).unwrap_or_default();
    let summary = serde_json::json!({
        "progress": view.get("progress").cloned().unwrap_or_default(),
        "cost": view.get("cost").cloned().unwrap_or_default(),
        "results": format!("/v1/number-checks/{}/results", job.id),
    });
    let (event, _) = crate::events::publish_as(
        state,
        &job.tenant,
        event_id,
        domain::DomainEvent::NumberCheckCompleted(domain::events::NumberCheckCompleted {
            job_id: job.id.clone(),
            status: job.status.as_str().to_owned(),
            summary,
        }),
    )
    .await?;
    if let Some(url) = &job.callback_url {
        crate::events::delivery::enqueue_job_callback(state, &event, &job.id, url).await?;
    }
    job.unpublished_event = None;
    jobs::save(&state.store, job, state.config.number_checks.job_ttl).await
}

/// Deletes the job's once-only marks from the usage ledger: nothing repeats its usage changes
/// after the final save. Best effort: a mark left behind costs a field and changes no figure.
async fn forget_usage_marks(state: &AppState, job: &Job) {
    let mut by_month: HashMap<String, Vec<String>> = HashMap::new();
    let reservations = (0..job.reservations).map(|n| usage::reservation_mark(&job.id, n));
    by_month
        .entry(job.month.clone())
        .or_default()
        .extend(reservations);
    for (i, sub) in job.sub_orders.iter().enumerate() {
        if sub.state == SubOrderState::Unknown {
            by_month
                .entry(job.month.clone())
                .or_default()
                .push(usage::unconfirmed_mark(&job.id, i));
        }
        if sub.billed {
            let month = usage::month_of(sub.submitted_at.unwrap_or(job.created_at));
            by_month
                .entry(month)
                .or_default()
                .push(usage::billed_mark(&job.id, i));
        }
    }
    for (month, marks) in by_month {
        if let Err(e) = usage::forget_marks(&state.store, &job.tenant, &month, &marks).await {
            tracing::debug!(job = %job.id, error = %e, "usage marks left behind");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use domain::CheckSet;

    use super::*;
    use crate::store::Store;

    fn pending(i: usize, len: usize) -> SubOrder {
        SubOrder::new(i, providers::ekycpro::ID, CheckSet::empty(), i * len, len)
    }

    #[tokio::test]
    async fn a_reservation_repeated_from_the_saved_job_is_not_made_twice() {
        let store = Store::memory("t:");
        // As saved: 100 numbers ordered and reserved at creation; a step then buys 50 more.
        let mut saved = Job::sample(vec![pending(0, 100)]);
        saved.reserved = 100;
        usage::reserve(&store, "t", &saved.month, 100, 1_000)
            .await
            .unwrap()
            .unwrap();
        let mut first = saved.clone();
        assert!(reserve_more(&store, &mut first, 50, 1_000).await.unwrap());
        assert_eq!((first.reserved, first.reservations), (150, 1));
        // The step failed before saving: the next one starts again from the saved job.
        let mut again = saved.clone();
        assert!(reserve_more(&store, &mut again, 50, 1_000).await.unwrap());
        assert_eq!((again.reserved, again.reservations), (150, 1));
        let used = usage::read(&store, "t", &saved.month).await.unwrap();
        assert_eq!(used.committed, 150, "reserved once");

        // Saved with the order it bought: the next purchase is a new reservation, refused
        // past the budget.
        let mut next = again.clone();
        next.sub_orders.push(pending(1, 50));
        assert!(reserve_more(&store, &mut next, 800, 1_000).await.unwrap());
        assert_eq!((next.reserved, next.reservations), (950, 2));
        next.sub_orders.push(pending(2, 800));
        assert!(!reserve_more(&store, &mut next, 51, 1_000).await.unwrap());
        assert_eq!(next.reserved, 950, "a refusal reserves nothing");
        let used = usage::read(&store, "t", &saved.month).await.unwrap();
        assert_eq!(used.committed, 950);
    }

    #[tokio::test]
    async fn a_repeat_that_needs_more_than_the_first_reservation_reserves_the_rest() {
        let store = Store::memory("t:");
        let saved = Job::sample(Vec::new());
        let mut first = saved.clone();
        assert!(reserve_more(&store, &mut first, 30, 1_000).await.unwrap());
        let mut again = saved.clone();
        assert!(reserve_more(&store, &mut again, 45, 1_000).await.unwrap());
        assert_eq!((again.reserved, again.reservations), (45, 2));
        let used = usage::read(&store, "t", &saved.month).await.unwrap();
        assert_eq!(used.committed, 45);
    }
}
