//! Accepting a job, in steps that each take and return plain values: validate → read the cache →
//! claim → plan → reserve → persist → answer. [`create`] strings them together. Also the
//! one-number lookup ([`lookup_one`]).
//!
//! Errors are this module's own ([`IntakeError`], [`LookupError`]); the routes turn them into
//! problems.

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{
    Check, CheckOutcome, CheckSet, CheckStatus, E164, InvalidNumber, NormalizedBatch, NumberList,
    NumberResult, ProviderError, ProviderErrorKind, ProviderId, normalize_batch,
};
use providers::{PollPolicy, Registry, SingleCheck};

use super::cache::{Cache, Lookup};
use super::claims::{self, Claims};
use super::jobs::{self, Counts, Job, SubOrder};
use super::model::{
    CreateNumberCheck, InvalidItem, JobStatus, JobWarning, MaxWait, ProviderChoice,
};
use super::planner::{self, Candidate, Plan};
use super::pool::{self, PoolEntry};
use super::{NumberChecksConfig, usage, worker};
use crate::breaker::Refused;
use crate::keys;
use crate::state::AppState;
use crate::store::{Store, StoreError};

/// Invalid items kept in the job document (all are counted).
const MAX_INVALID_LISTED: usize = 1_000;

/// Invalid numbers named in the refusal of a batch without a valid one (all are counted).
pub const MAX_INVALID_REPORTED: usize = 100;

/// How long a one-number lookup asks again while the vendor answers "pending".
pub const LOOKUP_DEADLINE: Duration = Duration::from_secs(20);

/// Why a job was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("between 1 and {max} numbers (got {got})")]
    NumberCount { max: usize, got: usize },
    #[error("at least one check")]
    NoChecks,
    #[error(transparent)]
    MaxAge(#[from] InvalidMaxAge),
    #[error(transparent)]
    MaxWait(#[from] InvalidMaxWait),
    #[error("callback URL refused: {0:?}")]
    CallbackRefused(egress::Refusal),
    #[error("no callback signing secret is configured for this tenant")]
    NoCallbackSecret,
    #[error("{0} is not configured")]
    ProviderNotConfigured(ProviderId),
    /// No input is a number; the first [`MAX_INVALID_REPORTED`] of them, and how many there are.
    #[error("no valid number ({count} invalid)")]
    NoValidNumber {
        invalid: Vec<(usize, InvalidNumber)>,
        count: usize,
    },
    #[error("no configured provider answers these checks")]
    ChecksUnsupported,
    /// The provider the caller chose has an open circuit.
    #[error(transparent)]
    ProviderFailing(Refused),
    #[error("this job would bill {billed} numbers; {remaining} remain in this month's budget")]
    BudgetExceeded { billed: u64, remaining: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a blocking step did not finish")]
    Interrupted(#[from] tokio::task::JoinError),
}

/// A `max_age` that is not a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a duration such as `7d` or `12h`")]
pub struct InvalidMaxAge;

/// A `max_wait` that is neither a duration nor a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a duration such as `30s` or `2m`, or a number of seconds (`0`: never wait)")]
pub struct InvalidMaxWait;

/// A `checks` query that names no check, or an unknown one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidChecks {
    #[error("`checks`: unknown check `{0}`")]
    Unknown(String),
    #[error("`checks`: at least one check")]
    Empty,
}

#[derive(Debug)]
pub struct Accepted {
    pub job: Job,
    /// True when nothing had to be sent to a vendor (all cached, or nothing sendable).
    pub finished: bool,
}

pub fn parse_max_age(value: Option<&str>, default: Duration) -> Result<Duration, InvalidMaxAge> {
    match value {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text.trim()).map_err(|_| InvalidMaxAge),
    }
}

/// The request's `max_wait`: a duration (`30s`, `2m`, `0`) or a number of seconds.
pub fn parse_max_wait(value: Option<&MaxWait>) -> Result<Option<Duration>, InvalidMaxWait> {
    match value {
        None => Ok(None),
        Some(MaxWait::Seconds(secs)) => Duration::try_from_secs_f64(*secs)
            .map(Some)
            .map_err(|_| InvalidMaxWait),
        Some(MaxWait::Text(text)) => humantime::parse_duration(text.trim())
            .map(Some)
            .map_err(|_| InvalidMaxWait),
    }
}

/// What a request asks, once within the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    pub checks: CheckSet,
    pub max_age: Duration,
    /// How long groups below a vendor's minimum wait for a pool (zero: they do not).
    pub window: Duration,
}

pub async fn create(
    state: &AppState,
    tenant: &str,
    req: CreateNumberCheck,
) -> Result<Accepted, IntakeError> {
    let config = &state.config.number_checks;
    let started = std::time::Instant::now();
    let asked = validate(config, &req)?;
    check_callback(config, tenant, req.callback_url.as_deref()).await?;
    let routing = routing_for(&state.providers, req.provider, &config.routing)?;
    let mut batch = normalise(req.numbers, req.default_country).await?;
    refuse_without_valid_number(&batch)?;
    let normalised = started.elapsed();

    let now = Utc::now();
    let cache = Cache::new(
        state.store.clone(),
        config.cache_scope,
        tenant,
        config.cache_ttl,
    )
    .reading_legacy(config.legacy_cache_reads);
    // Read before the lookup: see `claims::split`.
    let releases = worker::claims_of(state, tenant).releases().await?;
    let found = cache
        .lookup(&batch.numbers, &asked.checks, asked.max_age, now)
        .await?;
    let looked_up = started.elapsed();
    // From here on the misses are the numbers worked on: the full list would only hold memory.
    let total = batch.numbers.len();
    batch.numbers = Vec::new();

    let (mut candidates, cooling_down) = candidates(state, routing, &asked.checks).await?;
    for candidate in &mut candidates {
        candidate.pool = !asked.window.is_zero() && candidate.limits.min > 1;
    }
    let unanswerable = refuse_unanswerable(&asked.checks, &candidates, &found.misses)?;

    let intake = Intake {
        id: new_job_id(),
        tenant,
        choice: req.provider,
        callback_url: req.callback_url,
        asked,
        now,
        total,
        batch,
        found,
        releases,
        candidates,
        cooling_down,
        started,
    };
    let accepted = claim_and_accept(state, &cache, intake, unanswerable).await;
    if let Ok(accepted) = &accepted {
        tracing::debug!(
            job = %accepted.job.id,
            numbers = accepted.job.counts.total,
            normalise_ms = normalised.as_millis() as u64,
            cache_lookup_ms = (looked_up - normalised).as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "number-check job accepted"
        );
    }
    accepted
}

/// Step 1: the request's own limits (batch size, checks, `max_age`).
pub fn validate(
    config: &NumberChecksConfig,
    req: &CreateNumberCheck,
) -> Result<Asked, IntakeError> {
    let count = req.numbers.len();
    if count == 0 || count > config.max_numbers {
        return Err(IntakeError::NumberCount {
            max: config.max_numbers,
            got: count,
        });
    }
    let checks = CheckSet::of(&req.checks);
    if checks.is_empty() {
        return Err(IntakeError::NoChecks);
    }
    let max_age = parse_max_age(req.max_age.as_deref(), config.max_age)?;
    let window = pool::window(parse_max_wait(req.max_wait.as_ref())?, config.batch_window);
    Ok(Asked {
        checks,
        max_age,
        window,
    })
}

/// Step 1: a callback URL must pass the outbound policy, and the tenant needs a signing secret.
async fn check_callback(
    config: &NumberChecksConfig,
    tenant: &str,
    url: Option<&str>,
) -> Result<(), IntakeError> {
    let Some(url) = url else {
        return Ok(());
    };
    egress::UrlPolicy::new(config.callback_allow.clone())
        .check(url)
        .await
        .map_err(IntakeError::CallbackRefused)?;
    if !config.callback_secrets.contains_key(tenant) {
        return Err(IntakeError::NoCallbackSecret);
    }
    Ok(())
}

/// Step 1: the providers the job may use, in preference order: the one chosen (which must be
/// configured), else the routing policy.
pub fn routing_for(
    registry: &Registry,
    choice: ProviderChoice,
    routing: &[ProviderId],
) -> Result<Vec<ProviderId>, IntakeError> {
    match choice.provider() {
        Some(p) if registry.bulk(p).is_none() => Err(IntakeError::ProviderNotConfigured(p)),
        Some(p) => Ok(vec![p]),
        None => Ok(routing.to_vec()),
    }
}

/// Step 1: E.164 and deduplicated, off the async threads (a million numbers take a while).
async fn normalise(
    numbers: NumberList,
    default_country: Option<String>,
) -> Result<NormalizedBatch, IntakeError> {
    Ok(
        tokio::task::spawn_blocking(move || normalize_batch(&numbers, default_country.as_deref()))
            .await?,
    )
}

/// Step 1: a batch without a single number is refused, naming the first invalid inputs.
pub fn refuse_without_valid_number(batch: &NormalizedBatch) -> Result<(), IntakeError> {
    if !batch.numbers.is_empty() {
        return Ok(());
    }
    Err(IntakeError::NoValidNumber {
        invalid: batch
            .invalid
            .iter()
            .take(MAX_INVALID_REPORTED)
            .cloned()
            .collect(),
        count: batch.invalid.len(),
    })
}

/// Step 3 (planning inputs): the asked checks no candidate answers. When the cache leaves
/// numbers open and no candidate answers any asked check, the job is refused.
pub fn refuse_unanswerable(
    checks: &CheckSet,
    candidates: &[Candidate],
    misses: &[E164],
) -> Result<CheckSet, IntakeError> {
    let unanswerable = checks.difference(&answerable(candidates));
    if !misses.is_empty() && unanswerable == *checks {
        return Err(IntakeError::ChecksUnsupported);
    }
    Ok(unanswerable)
}

fn new_job_id() -> String {
    format!("nc_{}", uuid::Uuid::now_v7().simple())
}

/// What the job knows once validated and looked up in the cache.
struct Intake<'a> {
    id: String,
    tenant: &'a str,
    choice: ProviderChoice,
    callback_url: Option<String>,
    asked: Asked,
    now: DateTime<Utc>,
    /// Valid distinct numbers of the request.
    total: usize,
    /// The invalid inputs and repeats (its numbers are dropped once looked up).
    batch: NormalizedBatch,
    found: Lookup,
    /// [`Claims::releases`] before the cache lookup.
    releases: claims::Releases,
    candidates: Vec<Candidate>,
    cooling_down: Vec<(ProviderId, Duration)>,
    /// When the request came, for the debug log of where accepting a large job spends its time.
    started: std::time::Instant,
}

/// Step 3: claims what the job buys; from here on a failure frees the claims at once.
async fn claim_and_accept(
    state: &AppState,
    cache: &Cache,
    intake: Intake<'_>,
    unanswerable: CheckSet,
) -> Result<Accepted, IntakeError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    let id = intake.id.clone();
    let claims = worker::claims_of(state, intake.tenant);
    claims::keep_alive(store, &id, claims::holder_ttl(config)).await?;
    let split = claims::split(
        &claims,
        cache,
        &id,
        &intake.found.misses,
        &intake.asked.checks.difference(&unanswerable),
        Some(intake.releases),
        intake.asked.max_age,
        intake.now,
    )
    .await;
    tracing::debug!(
        job = %id,
        at_ms = intake.started.elapsed().as_millis() as u64,
        "claims taken"
    );
    let accepted = match split {
        Ok(split) => accept(state, &claims, intake, split).await,
        Err(e) => Err(e.into()),
    };
    if accepted.is_err() {
        // A refused job frees its claims at once (best effort: they lapse with its holder key).
        let _ = claims::gone(store, &id).await;
    }
    accepted
}

/// Steps 4 to 7: plans what the job buys, reserves the budget, persists the job, answers.
async fn accept(
    state: &AppState,
    claims: &Claims,
    intake: Intake<'_>,
    split: claims::Split,
) -> Result<Accepted, IntakeError> {
    let config = &state.config.number_checks;
    let checks = intake.asked.checks;
    let (plan, waited_billed) = plan_off_thread(
        split.buy,
        split.wait.clone(),
        checks,
        intake.candidates.clone(),
    )
    .await?;
    refuse_if_chosen_provider_failing(intake.choice, &plan, &intake.cooling_down)?;
    tracing::debug!(job = %intake.id, at_ms = intake.started.elapsed().as_millis() as u64, "planned");

    let month = usage::month_of(intake.now);
    // Numbers others are buying are reserved too: if their buyer fails, this job buys them.
    let billed = plan.billed() + waited_billed;
    let budget = config.budgets.get(intake.tenant).copied();
    let reserved = reserve(&state.store, intake.tenant, &month, budget, billed).await?;

    let job = new_job(&intake, &plan, &month, reserved);
    let persisted = Persist {
        plan: &plan,
        hits: &intake.found.hits,
        open_numbers: &intake.found.misses,
        late_hits: &split.late_hits,
        waits: &split.wait,
        now: intake.now,
        window: intake.asked.window,
    };
    let abandoned = Abandoned {
        id: job.id.clone(),
        tenant: job.tenant.clone(),
        month: month.clone(),
        reserved,
    };
    let job = match persist(state, claims, job, persisted).await {
        Ok(job) => job,
        Err(e) => return Err(abandoned.undo(state, e).await),
    };
    tracing::debug!(job = %job.id, at_ms = intake.started.elapsed().as_millis() as u64, "persisted");
    let accepted = if job.all_work_done() {
        finish_now(state, job, intake.now).await?
    } else {
        match queue(state, job, intake.now).await {
            Ok(accepted) => accepted,
            Err(e) => return Err(abandoned.undo(state, e).await),
        }
    };
    count_request(state, &accepted.job).await;
    Ok(accepted)
}

/// A job that failed before it was queued: no worker will ever take it, and the caller gets
/// an error and retries with a new job.
struct Abandoned {
    id: String,
    tenant: String,
    month: String,
    reserved: u64,
}

impl Abandoned {
    /// Gives its budget reservation back (kept by nothing else, it would block the budget
    /// until the month ends), drops its record (its save may have landed with its reply lost)
    /// and frees its claims at once; returns `error`. Best effort: what fails here is logged,
    /// the record and claims lapse on their own, and the reservation then stays until the
    /// month ends, counted by `number_checks_budget_not_given_back_total`.
    async fn undo(self, state: &AppState, error: IntakeError) -> IntakeError {
        let store = &state.store;
        usage::give_back(store, &self.tenant, &self.month, self.reserved, &self.id).await;
        if let Err(e) = store.delete(&keys::JobRecord::new(&self.id)).await {
            tracing::warn!(job = %self.id, error = %e, "record of a job that failed to start left to expire");
        }
        if let Err(e) = claims::gone(store, &self.id).await {
            tracing::debug!(job = %self.id, error = %e, "claims left to lapse");
        }
        error
    }
}

/// Step 4: the orders for what this job buys, and what the numbers others are buying would bill.
async fn plan_off_thread(
    buy: Vec<(CheckSet, Vec<E164>)>,
    waits: Vec<(CheckSet, Vec<E164>)>,
    checks: CheckSet,
    candidates: Vec<Candidate>,
) -> Result<(Plan, u64), IntakeError> {
    Ok(tokio::task::spawn_blocking(move || {
        // Bought later by this job only if their buyer fails, and then without pooling.
        let unpooled: Vec<Candidate> = candidates
            .iter()
            .map(|c| Candidate {
                pool: false,
                ..c.clone()
            })
            .collect();
        let waited = planner::plan_groups(waits, &checks, &unpooled).billed();
        (planner::plan_groups(buy, &checks, &candidates), waited)
    })
    .await?)
}

/// Step 5: the caller chose one provider and it is failing: say so now rather than accept a job
/// that cannot be sent. (With `auto` the plan already routed around open circuits.)
pub fn refuse_if_chosen_provider_failing(
    choice: ProviderChoice,
    plan: &Plan,
    cooling_down: &[(ProviderId, Duration)],
) -> Result<(), IntakeError> {
    match cooling_down.first() {
        Some(&(provider, retry_after))
            if choice.provider().is_some()
                && !(plan.orders.is_empty() && plan.pooled.is_empty()) =>
        {
            Err(IntakeError::ProviderFailing(Refused::Open {
                provider,
                retry_after,
            }))
        }
        _ => Ok(()),
    }
}

/// Step 5: reserves `billed` numbers of the tenant's monthly `budget` (none: unlimited); the
/// numbers reserved.
pub async fn reserve(
    store: &Store,
    tenant: &str,
    month: &str,
    budget: Option<u64>,
    billed: u64,
) -> Result<u64, IntakeError> {
    let Some(budget) = budget else {
        return Ok(0);
    };
    if billed == 0 {
        return Ok(0);
    }
    match usage::reserve(store, tenant, month, billed, budget).await? {
        Ok(()) => Ok(billed),
        Err(remaining) => Err(IntakeError::BudgetExceeded { billed, remaining }),
    }
}

/// Step 6: the job document as accepted: counts, sub-orders, warnings, invalid inputs.
fn new_job(intake: &Intake<'_>, plan: &Plan, month: &str, reserved: u64) -> Job {
    let checks = intake.asked.checks;
    let batch = &intake.batch;
    Job {
        id: intake.id.clone(),
        tenant: intake.tenant.to_owned(),
        status: JobStatus::Queued,
        checks,
        provider: intake.choice,
        created_at: intake.now,
        updated_at: intake.now,
        finished_at: None,
        callback_url: intake.callback_url.clone(),
        month: month.to_owned(),
        reserved,
        counts: Counts {
            total: intake.total as u64,
            from_cache: intake.found.hits.len() as u64,
            answered: 0,
            failed: plan.unplanned_numbers(&checks),
            invalid: batch.invalid.len() as u64,
            duplicates: batch.duplicates as u64,
            cached_at_intake: Some(intake.found.hits.len() as u64),
        },
        sub_orders: sub_orders(plan),
        invalid: listed_invalid(&batch.invalid),
        errors: Vec::new(),
        warnings: warnings(plan, intake.found.misses.len() as u64),
        unanswerable: plan.unanswerable,
        failed_providers: Vec::new(),
        waits: Vec::new(),
        wait_lists: 0,
        max_age_ms: Some(intake.asked.max_age.as_millis() as u64),
        pooled: Vec::new(),
        reservations: 0,
        unpublished_event: None,
        records_in_buckets: true,
    }
}

fn sub_orders(plan: &Plan) -> Vec<SubOrder> {
    plan.orders
        .iter()
        .enumerate()
        .map(|(index, o)| SubOrder::new(index, o.provider, o.checks, o.start, o.len))
        .collect()
}

fn listed_invalid(invalid: &[(usize, InvalidNumber)]) -> Vec<InvalidItem> {
    invalid
        .iter()
        .take(MAX_INVALID_LISTED)
        .map(|(index, bad)| InvalidItem {
            index: *index,
            input: bad.input.clone(),
            reason: bad.reason,
        })
        .collect()
}

/// What [`persist`] writes besides the job document.
struct Persist<'a> {
    plan: &'a Plan,
    hits: &'a [NumberResult],
    open_numbers: &'a [E164],
    late_hits: &'a [NumberResult],
    waits: &'a [(CheckSet, Vec<E164>)],
    now: DateTime<Utc>,
    /// How long pooled groups wait for their batch.
    window: Duration,
}

/// Step 6: the job's number lists, cached answers and waits; what no provider takes is marked
/// `unavailable` and its claims released.
async fn persist(
    state: &AppState,
    claims: &Claims,
    mut job: Job,
    what: Persist<'_>,
) -> Result<Job, IntakeError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    let id = job.id.clone();
    let records = job.records();
    let ttl = config.job_ttl;
    // Different keys: written together, one list is encoded while another is sent.
    tokio::try_join!(
        jobs::put_numbers(store, &id, &what.plan.numbers, ttl),
        jobs::put_cached_results(store, &id, what.hits, ttl),
        jobs::put_open_numbers(store, &id, what.open_numbers, ttl),
    )?;
    if !what.late_hits.is_empty() {
        jobs::merge_answers(store, &records, what.late_hits, ttl, jobs::Source::Reused).await?;
        jobs::recount(store, &mut job).await?;
    }
    for unplanned in &what.plan.unplanned {
        let unanswered = jobs::unanswered(
            &unplanned.numbers,
            &unplanned.checks,
            CheckStatus::Unavailable,
            "no_provider",
            None,
        );
        jobs::merge_records(store, &records, unanswered, ttl).await?;
        claims
            .release(&id, &unplanned.numbers, &unplanned.checks)
            .await?;
    }
    for (checks, numbers) in what.waits {
        let wait =
            jobs::put_wait(store, &mut job, *checks, numbers, config.poll_initial, ttl).await?;
        job.waits.push(wait);
    }
    let until = what.now + chrono::Duration::from_std(what.window).unwrap_or_default();
    let scope = super::cache::scope_name(config.cache_scope, &job.tenant);
    for group in &what.plan.pooled {
        let list = jobs::put_list(store, &mut job, &group.numbers, ttl).await?;
        job.pooled.push(PoolEntry {
            pool: keys::PoolOpenBatch::of(
                &scope,
                group.provider,
                &group.checks,
                group.region.as_deref(),
            )
            .into(),
            batch: None,
            provider: group.provider,
            checks: group.checks,
            region: group.region.clone(),
            list,
            len: group.numbers.len(),
            until,
        });
    }
    Ok(job)
}

/// Counts an accepted job's numbers in the month's usage (`requested`, `saved_by_cache`). Only
/// once the job is queued or finished: a job that fails before is retried by its caller as a
/// new job and would count twice. A failed write does not fail the accepted job: the counts
/// wait in the process's usage tally for its next flush.
async fn count_request(state: &AppState, job: &Job) {
    let (requested, from_cache) = (job.counts.total, job.counts.from_cache);
    metrics::counter!("number_checks_numbers_requested_total").increment(requested);
    metrics::counter!("number_checks_numbers_from_cache_total").increment(from_cache);
    let written =
        usage::record_request(&state.store, &job.tenant, &job.month, requested, from_cache).await;
    if let Err(e) = written {
        tracing::warn!(job = %job.id, error = %e, "request usage left for the next usage flush");
        state
            .usage_tally
            .add(&job.tenant, &job.month, requested, from_cache);
    }
}

/// Step 7, for a job with nothing left to send: finished now (200). When finishing fails, the
/// job is handed to the worker, which publishes its completion if it was saved as finished
/// (and drops the id otherwise).
async fn finish_now(
    state: &AppState,
    mut job: Job,
    now: DateTime<Utc>,
) -> Result<Accepted, IntakeError> {
    if let Err(e) = worker::finish(state, &mut job, now).await {
        let due = now.timestamp_millis() as f64 / 1000.0;
        if let Err(e) = state.store.zadd(&keys::DueJobs::new(), &job.id, due).await {
            tracing::warn!(job = %job.id, error = %e, "a job that failed to finish is not queued");
        }
        return Err(e.into());
    }
    Ok(Accepted {
        job,
        finished: true,
    })
}

/// Step 7: the job is saved and queued for the worker (202).
async fn queue(state: &AppState, job: Job, now: DateTime<Utc>) -> Result<Accepted, IntakeError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    claims::keep_alive(store, &job.id, claims::holder_ttl(config)).await?;
    jobs::save(store, &job, config.job_ttl).await?;
    store
        .zadd(
            &keys::DueJobs::new(),
            &job.id,
            now.timestamp_millis() as f64 / 1000.0,
        )
        .await?;
    metrics::counter!("number_checks_jobs_created_total").increment(1);
    Ok(Accepted {
        job,
        finished: false,
    })
}

/// The providers a job may use for `checks` (`from`, in preference order), and those of them
/// whose circuit is open, with the time left.
pub async fn candidates(
    state: &AppState,
    from: Vec<ProviderId>,
    checks: &CheckSet,
) -> Result<(Vec<Candidate>, Vec<(ProviderId, Duration)>), StoreError> {
    let mut candidates = Vec::new();
    let mut cooling_down = Vec::new();
    for provider in from {
        let Some(checker) = state.providers.bulk(provider) else {
            continue;
        };
        let cooldown = state.breakers.cooling_down(provider).await?;
        if let Some(left) = cooldown {
            cooling_down.push((provider, left));
        }
        candidates.push(Candidate {
            provider,
            checks: checker.checks(),
            limits: checker.limits(),
            one_region_per_order: checker.one_region_per_order(),
            groups: checker.order_groups(checks),
            healthy: cooldown.is_none(),
            pool: false,
        });
    }
    Ok((candidates, cooling_down))
}

/// The checks some candidate answers (with an order group for them).
pub fn answerable(candidates: &[Candidate]) -> CheckSet {
    candidates
        .iter()
        .filter(|c| !c.groups.is_empty())
        .fold(CheckSet::empty(), |acc, c| acc.union(&c.checks))
}

/// The job-level warnings of a plan: asked checks some numbers will not get.
fn warnings(plan: &planner::Plan, open_numbers: u64) -> Vec<JobWarning> {
    let mut out = Vec::new();
    if !plan.unanswerable.is_empty() {
        out.push(JobWarning {
            code: "checks_unanswered".into(),
            message: format!(
                "no configured provider answers {}; those checks are `unavailable` in every record",
                names(&plan.unanswerable)
            ),
            checks: plan.unanswerable,
            numbers: open_numbers,
        });
    }
    for unplanned in &plan.unplanned {
        out.push(no_provider_warning(
            &unplanned.checks,
            unplanned.numbers.len() as u64,
        ));
    }
    out
}

/// No provider takes `numbers` numbers for `checks`.
pub fn no_provider_warning(checks: &CheckSet, numbers: u64) -> JobWarning {
    JobWarning {
        code: "no_provider".into(),
        message: format!(
            "no configured provider takes these numbers for {} (e.g. fewer than a vendor's minimum order); \
             those checks are `unavailable` in their records",
            names(checks)
        ),
        checks: *checks,
        numbers,
    }
}

fn names(checks: &CheckSet) -> String {
    checks
        .iter()
        .map(Check::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first characters of an input, for echoing it back.
pub fn truncate(input: &str) -> String {
    input.chars().take(40).collect()
}

/// Parses `registered,profile`.
pub fn parse_checks(text: &str) -> Result<CheckSet, InvalidChecks> {
    let mut set = CheckSet::empty();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let check = Check::ALL
            .into_iter()
            .find(|c| c.as_str() == part)
            .ok_or_else(|| InvalidChecks::Unknown(truncate(part)))?;
        set.insert(check);
    }
    if set.is_empty() {
        return Err(InvalidChecks::Empty);
    }
    Ok(set)
}

/// Why a one-number lookup has no answer.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("no single-number provider serves this number's region for these checks")]
    NoSingleProvider,
    #[error("another request is checking this number right now")]
    BoughtElsewhere,
    #[error("the provider is still working on this number")]
    StillPending { retry_after: Duration },
    #[error("the provider cannot check this number for these checks")]
    Unsupported,
    #[error(transparent)]
    Vendor(ProviderError),
    /// The provider's circuit is open.
    #[error(transparent)]
    ProviderFailing(Refused),
    #[error("this month's budget is used up ({remaining} remain)")]
    BudgetUsedUp { remaining: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How often a lookup waiting for another request's answer looks at the claims again.
const CLAIM_POLL: Duration = Duration::from_millis(50);

/// The cache a tenant's lookups read: a one-number lookup reads its entry first
/// ([`Cache::entry_read`], along with counting the request), then calls [`lookup_one`].
pub fn lookup_cache(state: &AppState, tenant: &str) -> Cache {
    let config = &state.config.number_checks;
    Cache::new(
        state.store.clone(),
        config.cache_scope,
        tenant,
        config.cache_ttl,
    )
    .reading_legacy(config.legacy_cache_reads)
}

/// One number now: the fresh cached answer `found` (the [`lookup_cache`] lookup made when the
/// lookup asked, at `asked_at`), else a single-number provider. When another request (a lookup
/// or a job) is buying the same answers, waits for them (up to [`LOOKUP_DEADLINE`]) and serves
/// them as cached; only one of concurrent lookups of a number calls the vendor.
pub async fn lookup_one(
    state: &AppState,
    tenant: &str,
    number: E164,
    checks: CheckSet,
    max_age: Duration,
    asked_at: DateTime<Utc>,
    found: Lookup,
) -> Result<(NumberResult, bool), LookupError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    // Freshness counts from when the lookup asked: an answer bought while it waited is fresh.
    let month = usage::month_of(asked_at);
    let cache = lookup_cache(state, tenant);
    if let Some(hit) = found.hits.into_iter().next() {
        return Ok(served_from_cache(state, tenant, &month, hit));
    }
    let checker = state
        .providers
        .single_checkers()
        .find(|c| c.accepts(&number) && !c.checks().intersection(&checks).is_empty())
        .cloned()
        .ok_or(LookupError::NoSingleProvider)?;
    let claims = Claims::new(store.clone(), config.cache_scope, tenant, config.job_ttl);
    let claimable = checks.intersection(&checker.checks());
    let holder = format!("lookup_{}", uuid::Uuid::new_v4().simple());
    claims::keep_alive(store, &holder, claims::holder_ttl(config)).await?;
    let wanted = Wanted {
        number,
        claimable,
        checks,
        max_age,
        asked_at,
    };
    let claimed = claim_or_reuse(&claims, &cache, &holder, &wanted).await;
    let outcome = match claimed {
        Ok(Some(hit)) => Ok(served_from_cache(state, tenant, &month, hit)),
        Ok(None) => {
            let heartbeat = keep_alive_while_buying(state, &holder);
            let bought = buy_one(state, tenant, &month, number, checks, checker, &cache).await;
            heartbeat.abort();
            bought
        }
        Err(e) => Err(e),
    };
    // The answer (if any) is cached by now; what this lookup claimed is free again.
    let _ = claims.release(&holder, &[number], &claimable).await;
    let _ = claims::gone(store, &holder).await;
    outcome
}

/// Claims the number's checks for `holder` (`None`: buy them), or, while another request
/// buys them, waits for its answer and returns it.
/// What a lookup asks: `checks` of `number`, of which it may claim `claimable` (those its
/// provider answers), answered within `max_age` of `asked_at`.
struct Wanted {
    number: E164,
    claimable: CheckSet,
    checks: CheckSet,
    max_age: Duration,
    asked_at: chrono::DateTime<Utc>,
}

async fn claim_or_reuse(
    claims: &Claims,
    cache: &Cache,
    holder: &str,
    wanted: &Wanted,
) -> Result<Option<NumberResult>, LookupError> {
    let Wanted {
        number,
        claimable,
        checks,
        max_age,
        asked_at,
    } = wanted;
    let (number, claimable) = (*number, claimable);
    let deadline = std::time::Instant::now() + LOOKUP_DEADLINE;
    loop {
        let held = claims.take(holder, &[number], claimable).await?;
        if held.iter().all(CheckSet::is_empty) {
            // An answer may have been cached (and its claim freed) just before this claim.
            let found = cache
                .lookup_recent(&[number], checks, *max_age, *asked_at)
                .await?;
            return Ok(found.hits.into_iter().next());
        }
        // Never hold part of the number while waiting for the rest: two lookups could each
        // wait for the other.
        claims.release(holder, &[number], claimable).await?;
        while claims
            .held_elsewhere(holder, &[number], claimable)
            .await?
            .contains(&true)
        {
            if std::time::Instant::now() >= deadline {
                return Err(LookupError::BoughtElsewhere);
            }
            tokio::time::sleep(CLAIM_POLL).await;
        }
        let found = cache.lookup(&[number], checks, *max_age, *asked_at).await?;
        if let Some(hit) = found.hits.into_iter().next() {
            return Ok(Some(hit));
        }
        // The other request ended without an answer: claim it for this lookup.
    }
}

/// Renews the lookup's holder key while it waits for the vendor.
fn keep_alive_while_buying(state: &AppState, holder: &str) -> tokio::task::JoinHandle<()> {
    let store = state.store.clone();
    let holder = holder.to_owned();
    let ttl = claims::holder_ttl(&state.config.number_checks);
    let every = state.config.number_checks.lease_ttl / 3;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if claims::keep_alive(&store, &holder, ttl).await.is_err() {
                tracing::warn!(
                    "cannot renew a lookup's claims; another request may buy its number too"
                );
            }
        }
    })
}

/// Counts an answer served from the cache (not billed) and returns it.
fn served_from_cache(
    state: &AppState,
    tenant: &str,
    month: &str,
    hit: NumberResult,
) -> (NumberResult, bool) {
    state.usage_tally.add(tenant, month, 1, 1);
    metrics::counter!("number_checks_numbers_from_cache_total").increment(1);
    (hit, true)
}

/// Asks the single-number provider, bills and caches its answer.
async fn buy_one(
    state: &AppState,
    tenant: &str,
    month: &str,
    number: E164,
    checks: CheckSet,
    checker: std::sync::Arc<dyn providers::SingleNumberChecker>,
    cache: &Cache,
) -> Result<(NumberResult, bool), LookupError> {
    let month = month.to_owned();
    let provider = checker.provider();
    // An open circuit refuses at once: no vendor call, nothing reserved.
    let permit = state
        .breakers
        .admit(provider)
        .await
        .map_err(LookupError::ProviderFailing)?;
    let reserved = match reserve_one(state, tenant, &month).await {
        Ok(reserved) => reserved,
        Err(refused) => {
            state.breakers.abandon(permit).await;
            return Err(refused);
        }
    };
    let policy = PollPolicy {
        deadline: LOOKUP_DEADLINE,
        ..PollPolicy::default()
    };
    let answer = providers::check_until_done(checker.as_ref(), &number, &checks, policy).await;
    match &answer {
        Ok(SingleCheck::Unsupported(_)) => state.breakers.abandon(permit).await,
        other => state.breakers.settle(permit, other.as_ref().err()).await,
    }
    // The vendor bills an answer; a refusal, an error or "still pending" is not billed, so the
    // reservation goes back. Whether a timed-out or unreadable call was billed is unknown: the
    // reservation stays and the number is counted as unconfirmed.
    let billing = match &answer {
        Ok(SingleCheck::Done(_)) => Billing::Billed,
        Err(e) if outcome_unknown(e) => Billing::Unknown,
        _ => Billing::NotBilled,
    };
    // From here on the vendor call is made: a store failure must not lose its answer or what
    // it cost, so it is logged, never returned.
    settle_lookup_usage(state, tenant, &month, provider, billing, reserved).await;
    match answer {
        Ok(SingleCheck::Done(mut result)) => {
            let answerable = checks.intersection(&checker.checks());
            result.settle(&answerable);
            for check in checks.difference(&answerable).iter() {
                result.checks.insert(
                    check,
                    CheckOutcome::unanswered(CheckStatus::Unavailable, "checks_unanswered"),
                );
            }
            if let Err(e) = cache.store(std::slice::from_ref(&result), &checks).await {
                tracing::warn!(%provider, error = %e, "bought answer returned but not cached");
            }
            Ok((result, false))
        }
        Ok(SingleCheck::Pending { retry_after }) => Err(LookupError::StillPending { retry_after }),
        Ok(SingleCheck::Unsupported(_)) => Err(LookupError::Unsupported),
        Err(e) => Err(LookupError::Vendor(e)),
    }
}

enum Billing {
    Billed,
    NotBilled,
    Unknown,
}

/// Writes a lookup's usage: billed, unconfirmed, or its reservation given back. Usage whose
/// write fails waits in the process's tally for the next flush; a reservation that cannot be
/// given back stays until the month ends (counted, as a job's).
async fn settle_lookup_usage(
    state: &AppState,
    tenant: &str,
    month: &str,
    provider: ProviderId,
    billing: Billing,
    reserved: bool,
) {
    let store = &state.store;
    match billing {
        Billing::Billed => {
            metrics::counter!("number_checks_numbers_billed_total", "provider" => provider.as_str())
                .increment(1);
            state.usage_tally.add(tenant, month, 1, 0);
            if let Err(e) = usage::record_billed(store, tenant, month, provider, 1).await {
                tracing::warn!(%provider, error = %e, "billed usage kept for the next flush");
                state.usage_tally.add_billed(tenant, month, provider, 1);
            }
        }
        Billing::Unknown => {
            if let Err(e) = usage::record_unconfirmed(store, tenant, month, provider, 1).await {
                tracing::warn!(%provider, error = %e, "unconfirmed usage kept for the next flush");
                state
                    .usage_tally
                    .add_unconfirmed(tenant, month, provider, 1);
            }
        }
        Billing::NotBilled if reserved => usage::give_back(store, tenant, month, 1, "lookup").await,
        Billing::NotBilled => {}
    }
}

/// Whether a failed vendor call may still have been carried out (and billed): it timed out, or
/// its answer could not be read.
pub fn outcome_unknown(e: &ProviderError) -> bool {
    matches!(
        e.kind,
        ProviderErrorKind::Timeout | ProviderErrorKind::MalformedAnswer
    )
}

/// Reserves one number of the tenant's budget; false when the tenant has no budget.
async fn reserve_one(state: &AppState, tenant: &str, month: &str) -> Result<bool, LookupError> {
    let Some(budget) = state.config.number_checks.budgets.get(tenant).copied() else {
        return Ok(false);
    };
    match usage::reserve(&state.store, tenant, month, 1, budget).await? {
        Ok(()) => Ok(true),
        Err(remaining) => Err(LookupError::BudgetUsedUp { remaining }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use domain::InvalidReason;
    use providers::BatchLimits;
    use serde_json::json;

    use super::*;
    use crate::number_checks::model::JobView;

    const VENDOR: ProviderId = ProviderId::new("some_vendor");

    fn request(body: serde_json::Value) -> CreateNumberCheck {
        serde_json::from_value(body).unwrap()
    }

    fn config(max_numbers: usize) -> NumberChecksConfig {
        NumberChecksConfig {
            max_numbers,
            ..NumberChecksConfig::default()
        }
    }

    fn numbers(n: usize) -> Vec<E164> {
        (0..n)
            .map(|i| format!("+9198765{i:05}").parse().unwrap())
            .collect()
    }

    /// A candidate answering `registered` in orders of 1 to 10 numbers.
    fn registered_only() -> Candidate {
        let checks = CheckSet::of(&[Check::Registered]);
        Candidate {
            provider: VENDOR,
            checks,
            limits: BatchLimits { min: 1, max: 10 },
            one_region_per_order: false,
            groups: vec![checks],
            healthy: true,
            pool: false,
        }
    }

    #[test]
    fn validation_holds_the_batch_to_its_limits() {
        let config = config(2);
        let three = request(json!({"numbers": ["1", "2", "3"], "checks": ["registered"]}));
        assert!(matches!(
            validate(&config, &three),
            Err(IntakeError::NumberCount { max: 2, got: 3 })
        ));
        let none = request(json!({"numbers": [], "checks": ["registered"]}));
        assert!(matches!(
            validate(&config, &none),
            Err(IntakeError::NumberCount { max: 2, got: 0 })
        ));
        let no_checks = request(json!({"numbers": ["1"], "checks": []}));
        assert!(matches!(
            validate(&config, &no_checks),
            Err(IntakeError::NoChecks)
        ));
        let bad_age =
            request(json!({"numbers": ["1"], "checks": ["registered"], "max_age": "soon"}));
        assert!(matches!(
            validate(&config, &bad_age),
            Err(IntakeError::MaxAge(InvalidMaxAge))
        ));
        let fine = request(
            json!({"numbers": ["1", "2"], "checks": ["registered", "profile"], "max_age": "12h"}),
        );
        assert_eq!(
            validate(&config, &fine).unwrap(),
            Asked {
                checks: CheckSet::of(&[Check::Registered, Check::Profile]),
                max_age: Duration::from_secs(12 * 3600),
                window: Duration::ZERO,
            }
        );
    }

    #[test]
    fn a_chosen_provider_must_be_configured_and_auto_follows_the_routing() {
        let registry = Registry::default();
        let routing = [VENDOR, ProviderId::new("other_vendor")];
        assert!(matches!(
            routing_for(&registry, ProviderChoice::Named(VENDOR), &routing),
            Err(IntakeError::ProviderNotConfigured(p)) if p == VENDOR
        ));
        assert_eq!(
            routing_for(&registry, ProviderChoice::Auto, &routing).unwrap(),
            routing
        );
    }

    #[test]
    fn a_batch_without_a_number_is_refused_naming_the_first_hundred() {
        let bad = |i: usize| {
            (
                i,
                InvalidNumber {
                    input: format!("x{i}"),
                    reason: InvalidReason::NotANumber,
                },
            )
        };
        let batch = NormalizedBatch {
            numbers: Vec::new(),
            invalid: (0..150).map(bad).collect(),
            duplicates: 0,
        };
        match refuse_without_valid_number(&batch) {
            Err(IntakeError::NoValidNumber { invalid, count }) => {
                assert_eq!(count, 150);
                assert_eq!(invalid.len(), MAX_INVALID_REPORTED);
                assert_eq!(invalid[0].1.input, "x0");
            }
            other => panic!("{other:?}"),
        }
        let with_one = NormalizedBatch {
            numbers: numbers(1),
            ..batch
        };
        assert!(refuse_without_valid_number(&with_one).is_ok());
    }

    #[test]
    fn planning_inputs_come_from_what_the_candidates_answer() {
        let candidates = [registered_only()];
        let both = CheckSet::of(&[Check::Registered, Check::Profile]);
        assert_eq!(
            refuse_unanswerable(&both, &candidates, &numbers(1)).unwrap(),
            CheckSet::of(&[Check::Profile])
        );
        let profile = CheckSet::of(&[Check::Profile]);
        assert!(matches!(
            refuse_unanswerable(&profile, &candidates, &numbers(1)),
            Err(IntakeError::ChecksUnsupported)
        ));
        // Everything answered from the cache: nothing to buy, nothing to refuse.
        assert_eq!(
            refuse_unanswerable(&profile, &candidates, &[]).unwrap(),
            profile
        );
        // A candidate without an order group for the asked checks answers none of them.
        let no_groups = Candidate {
            groups: Vec::new(),
            ..registered_only()
        };
        assert!(matches!(
            refuse_unanswerable(&both, &[no_groups], &numbers(1)),
            Err(IntakeError::ChecksUnsupported)
        ));
    }

    #[test]
    fn a_chosen_provider_with_an_open_circuit_refuses_the_job_but_auto_does_not() {
        let checks = CheckSet::of(&[Check::Registered]);
        let plan = planner::plan_groups(vec![(checks, numbers(3))], &checks, &[registered_only()]);
        let cooling = [(VENDOR, Duration::from_secs(30))];
        assert!(matches!(
            refuse_if_chosen_provider_failing(ProviderChoice::Named(VENDOR), &plan, &cooling),
            Err(IntakeError::ProviderFailing(Refused::Open { provider, .. })) if provider == VENDOR
        ));
        assert!(refuse_if_chosen_provider_failing(ProviderChoice::Auto, &plan, &cooling).is_ok());
        assert!(
            refuse_if_chosen_provider_failing(ProviderChoice::Named(VENDOR), &plan, &[]).is_ok()
        );
    }

    #[tokio::test]
    async fn reservation_is_refused_beyond_the_budget_and_skipped_without_one() {
        let store = Store::memory("intake-test");
        assert_eq!(reserve(&store, "t", "2026-11", None, 50).await.unwrap(), 0);
        assert_eq!(
            reserve(&store, "t", "2026-11", Some(10), 0).await.unwrap(),
            0
        );
        assert_eq!(
            reserve(&store, "t", "2026-11", Some(10), 6).await.unwrap(),
            6
        );
        assert!(matches!(
            reserve(&store, "t", "2026-11", Some(10), 5).await,
            Err(IntakeError::BudgetExceeded {
                billed: 5,
                remaining: 4
            })
        ));
        assert_eq!(
            reserve(&store, "t", "2026-11", Some(10), 4).await.unwrap(),
            4
        );
    }

    #[test]
    fn the_accepted_job_sums_up_the_batch_cache_and_plan() {
        let asked = Asked {
            checks: CheckSet::of(&[Check::Registered, Check::Profile]),
            max_age: Duration::from_secs(60),
            window: Duration::ZERO,
        };
        let open = numbers(4);
        let now = Utc::now();
        let hit = NumberResult::empty(numbers(5)[4], VENDOR, now);
        let intake = Intake {
            id: "nc_test".into(),
            tenant: "acme",
            choice: ProviderChoice::Auto,
            callback_url: None,
            asked,
            now,
            total: 5,
            batch: NormalizedBatch {
                numbers: Vec::new(),
                invalid: vec![(
                    7,
                    InvalidNumber {
                        input: "nope".into(),
                        reason: InvalidReason::NotANumber,
                    },
                )],
                duplicates: 2,
            },
            found: Lookup {
                hits: vec![hit],
                misses: open.clone(),
            },
            releases: claims::Releases::default(),
            candidates: vec![registered_only()],
            cooling_down: Vec::new(),
            started: std::time::Instant::now(),
        };
        let plan = planner::plan_groups(
            vec![(asked.checks, open)],
            &asked.checks,
            &intake.candidates,
        );
        let job = new_job(&intake, &plan, "2026-11", 4);

        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(job.reserved, 4);
        assert_eq!(job.counts.total, 5);
        assert_eq!(job.counts.from_cache, 1);
        assert_eq!(job.counts.invalid, 1);
        assert_eq!(job.counts.duplicates, 2);
        assert_eq!(job.invalid[0].index, 7);
        assert_eq!(job.sub_orders.len(), 1);
        assert_eq!(job.sub_orders[0].provider, VENDOR);
        assert_eq!(job.unanswerable, CheckSet::of(&[Check::Profile]));
        let codes: Vec<&str> = job.warnings.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(codes, ["checks_unanswered"]);
        assert_eq!(job.warnings[0].numbers, 4);

        let summary = serde_json::to_value(JobView::from(&job)).unwrap();
        assert_eq!(summary["status"], "queued");
        assert_eq!(summary["provider"], "auto");
        assert_eq!(summary["progress"]["pending"], 4);
        assert_eq!(summary["sub_orders"][0]["provider"], "some_vendor");
        assert_eq!(summary["sub_orders"][0]["numbers"], 4);
    }
}
