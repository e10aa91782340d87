//! Accepting a job: validate, normalise (off the async threads), answer from cache, plan vendor
//! orders, reserve budget, persist. Also the one-number lookup.

use std::time::Duration;

use chrono::Utc;
use domain::{
    Check, CheckOutcome, CheckSet, CheckStatus, E164, NumberResult, ProviderError,
    ProviderErrorKind, normalize_batch,
};
use providers::{PollPolicy, SingleCheck};

use super::cache::Cache;
use super::claims::{self, Claims};
use super::jobs::{self, Counts, DUE, Job, SubOrder};
use super::model::{CreateNumberCheck, InvalidItem, JobStatus, JobWarning, MaxWait};
use super::planner::{self, Candidate};
use super::pool::{self, PoolEntry};
use super::{usage, worker};
use crate::breaker::Refused;
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::state::AppState;

/// Invalid items kept in the job document (all are counted).
const MAX_INVALID_LISTED: usize = 1_000;

/// How long a one-number lookup asks again while the vendor answers "pending".
pub const LOOKUP_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Debug)]
pub struct Accepted {
    pub job: Job,
    /// True when nothing had to be sent to a vendor (all cached, or nothing sendable).
    pub finished: bool,
}

#[allow(clippy::result_large_err)] // ApiError is the crate-wide error of handlers
pub fn parse_max_age(value: Option<&str>, default: Duration) -> Result<Duration, ApiError> {
    match value {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text.trim()).map_err(|_| {
            ApiError::field(
                "max_age",
                "invalid_duration",
                "a duration such as `7d` or `12h`",
            )
        }),
    }
}

/// The request's `max_wait`: a duration (`30s`, `2m`, `0`) or a number of seconds.
#[allow(clippy::result_large_err)] // ApiError is the crate-wide error of handlers
pub fn parse_max_wait(value: Option<&MaxWait>) -> Result<Option<Duration>, ApiError> {
    let invalid = || {
        ApiError::field(
            "max_wait",
            "invalid_duration",
            "a duration such as `30s` or `2m`, or a number of seconds (`0`: never wait)",
        )
    };
    match value {
        None => Ok(None),
        Some(MaxWait::Seconds(secs)) => Duration::try_from_secs_f64(*secs)
            .map(Some)
            .map_err(|_| invalid()),
        Some(MaxWait::Text(text)) => humantime::parse_duration(text.trim())
            .map(Some)
            .map_err(|_| invalid()),
    }
}

pub async fn create(
    state: &AppState,
    tenant: &str,
    req: CreateNumberCheck,
) -> Result<Accepted, ApiError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    let started = std::time::Instant::now();
    if req.numbers.is_empty() || req.numbers.len() > config.max_numbers {
        return Err(ApiError::field(
            "numbers",
            "length",
            format!(
                "between 1 and {} numbers (got {})",
                config.max_numbers,
                req.numbers.len()
            ),
        ));
    }
    let checks = CheckSet::of(&req.checks);
    if checks.is_empty() {
        return Err(ApiError::field("checks", "length", "at least one check"));
    }
    let max_age = parse_max_age(req.max_age.as_deref(), config.max_age)?;
    let window = pool::window(parse_max_wait(req.max_wait.as_ref())?, config.batch_window);
    if let Some(url) = &req.callback_url {
        egress::UrlPolicy::new(config.callback_allow.clone())
            .check(url)
            .await
            .map_err(|refusal| ApiError::url_refused("callback_url", &refusal))?;
        if !config.callback_secrets.contains_key(tenant) {
            return Err(ApiError::field(
                "callback_url",
                "no_secret",
                "no callback signing secret is configured for this tenant",
            ));
        }
    }
    let candidates_from: Vec<domain::ProviderId> = match req.provider.provider() {
        Some(p) => {
            if state.providers.bulk(p).is_none() {
                return Err(ApiError::field(
                    "provider",
                    "not_configured",
                    format!("{p} is not configured"),
                ));
            }
            vec![p]
        }
        None => config.routing.clone(),
    };

    let numbers = req.numbers;
    let default_country = req.default_country;
    let batch =
        tokio::task::spawn_blocking(move || normalize_batch(&numbers, default_country.as_deref()))
            .await
            .map_err(ApiError::internal)?;
    let normalised = started.elapsed();
    if batch.numbers.is_empty() {
        let errors = batch
            .invalid
            .iter()
            .take(100)
            .map(|(index, bad)| FieldError {
                field: format!("numbers[{index}]"),
                code: bad.reason.as_str().to_owned(),
                message: format!(
                    "`{}` is not a phone number ({})",
                    truncate(&bad.input),
                    bad.reason
                ),
            })
            .collect();
        return Err(
            ApiError::validation(errors).with_extension("invalid_count", batch.invalid.len())
        );
    }

    let now = Utc::now();
    let cache = Cache::new(store.clone(), config.cache_scope, tenant, config.cache_ttl);
    let found = cache.lookup(&batch.numbers, &checks, max_age, now).await?;
    let looked_up = started.elapsed();

    let (mut candidates, cooling_down) = candidates(state, candidates_from, &checks).await?;
    for candidate in &mut candidates {
        candidate.pool = !window.is_zero() && candidate.limits.min > 1;
    }
    let unanswerable = checks.difference(&answerable(&candidates));
    let open_numbers = found.misses.clone();
    if !open_numbers.is_empty() && unanswerable == checks {
        return Err(ApiError::field(
            "checks",
            "unsupported",
            "no configured provider answers these checks",
        ));
    }

    // From here on the job holds claims on what it buys: a failure frees them at once.
    let id = format!("nc_{}", uuid::Uuid::now_v7().simple());
    let claims = Claims::new(store.clone(), config.cache_scope, tenant, config.job_ttl);
    claims::keep_alive(store, &id, claims::holder_ttl(config)).await?;
    let split = claims::split(
        &claims,
        &cache,
        &id,
        &open_numbers,
        &checks.difference(&unanswerable),
        max_age,
        now,
    )
    .await;
    let accepted = match split {
        Ok(split) => {
            let inputs = Inputs {
                id: id.clone(),
                tenant,
                req_provider: req.provider,
                callback_url: req.callback_url,
                checks,
                max_age,
                now,
                batch_invalid: batch.invalid,
                duplicates: batch.duplicates,
                total: batch.numbers.len() as u64,
                hits: found.hits,
                open_numbers,
                candidates,
                cooling_down,
                window,
            };
            accept(state, &claims, inputs, split).await
        }
        Err(e) => Err(e.into()),
    };
    if accepted.is_err() {
        // A refused job frees its claims at once (best effort: they lapse with its holder key).
        let _ = claims::gone(store, &id).await;
    }
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

/// What [`create`] knows when it plans: the validated request and the cache lookup.
struct Inputs<'a> {
    id: String,
    tenant: &'a str,
    req_provider: super::model::ProviderChoice,
    callback_url: Option<String>,
    checks: CheckSet,
    max_age: Duration,
    now: chrono::DateTime<Utc>,
    batch_invalid: Vec<(usize, domain::InvalidNumber)>,
    duplicates: usize,
    total: u64,
    hits: Vec<NumberResult>,
    open_numbers: Vec<E164>,
    candidates: Vec<Candidate>,
    cooling_down: Vec<(domain::ProviderId, Duration)>,
    /// How long groups below a vendor's minimum wait for a pool (zero: they do not).
    window: Duration,
}

/// Plans what the job buys, reserves the budget, persists the job.
async fn accept(
    state: &AppState,
    claims: &Claims,
    inputs: Inputs<'_>,
    split: claims::Split,
) -> Result<Accepted, ApiError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    let Inputs {
        id,
        tenant,
        checks,
        now,
        ..
    } = inputs;
    let candidates = inputs.candidates;
    let waits = split.wait;
    let (plan, waited_billed) = {
        let buy = split.buy;
        let waits = waits.clone();
        tokio::task::spawn_blocking(move || {
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
        .await
        .map_err(ApiError::internal)?
    };

    // The caller chose one provider and it is failing: say so now rather than accept a job
    // that cannot be sent. (With `auto` the plan already routed around open circuits.)
    if inputs.req_provider.provider().is_some()
        && !(plan.orders.is_empty() && plan.pooled.is_empty())
        && let Some((provider, retry_after)) = inputs.cooling_down.first().copied()
    {
        return Err(Refused::Open {
            provider,
            retry_after,
        }
        .into());
    }

    let month = usage::month_of(now);
    // Numbers others are buying are reserved too: if their buyer fails, this job buys them.
    let billed = plan.billed() + waited_billed;
    let mut reserved = 0;
    if let Some(budget) = config.budgets.get(tenant).copied()
        && billed > 0
    {
        if let Err(remaining) = usage::reserve(store, tenant, &month, billed, budget).await? {
            return Err(ApiError::new(
                ErrorCode::BudgetExceeded,
                format!("this job would bill {billed} numbers; {remaining} remain in this month's budget"),
            )
            .with_extension("remaining_budget", remaining)
            .with_extension("numbers_to_bill", billed));
        }
        reserved = billed;
    }

    let open_count = inputs.open_numbers.len() as u64;
    let warnings = warnings(&plan, open_count);
    let sub_orders = plan
        .orders
        .iter()
        .enumerate()
        .map(|(index, o)| SubOrder::new(index, o.provider, o.checks, o.start, o.len))
        .collect::<Vec<_>>();
    let mut job = Job {
        id: id.clone(),
        tenant: tenant.to_owned(),
        status: JobStatus::Queued,
        checks,
        provider: inputs.req_provider,
        created_at: now,
        updated_at: now,
        finished_at: None,
        callback_url: inputs.callback_url,
        month: month.clone(),
        reserved,
        counts: Counts {
            total: inputs.total,
            from_cache: inputs.hits.len() as u64,
            answered: 0,
            failed: plan.unplanned_numbers(&checks),
            invalid: inputs.batch_invalid.len() as u64,
            duplicates: inputs.duplicates as u64,
        },
        sub_orders,
        invalid: inputs
            .batch_invalid
            .into_iter()
            .take(MAX_INVALID_LISTED)
            .map(|(index, bad)| InvalidItem {
                index,
                input: bad.input,
                reason: bad.reason,
            })
            .collect(),
        errors: Vec::new(),
        warnings,
        unanswerable: plan.unanswerable,
        failed_providers: Vec::new(),
        waits: Vec::new(),
        wait_lists: 0,
        max_age_ms: Some(inputs.max_age.as_millis() as u64),
        pooled: Vec::new(),
    };

    let ttl = config.job_ttl;
    jobs::put_numbers(store, &id, &plan.numbers, ttl).await?;
    jobs::put_cached_results(store, &id, &inputs.hits, ttl).await?;
    jobs::put_open_numbers(store, &id, &inputs.open_numbers, ttl).await?;
    let reused = jobs::merge_records(store, &id, &split.late_hits, ttl).await?;
    job.counts.from_cache += reused.newly_answered;
    for unplanned in &plan.unplanned {
        let records = jobs::unanswered(
            &unplanned.numbers,
            &unplanned.checks,
            CheckStatus::Unavailable,
            "no_provider",
            None,
        );
        jobs::merge_records(store, &id, &records, ttl).await?;
        claims
            .release(&id, &unplanned.numbers, &unplanned.checks)
            .await?;
    }
    for (checks, numbers) in &waits {
        let wait =
            jobs::put_wait(store, &mut job, *checks, numbers, config.poll_initial, ttl).await?;
        job.waits.push(wait);
    }
    let until = now + chrono::Duration::from_std(inputs.window).unwrap_or_default();
    let scope = super::cache::scope_name(config.cache_scope, tenant);
    for group in &plan.pooled {
        let list = jobs::put_list(store, &mut job, &group.numbers, ttl).await?;
        job.pooled.push(PoolEntry {
            pool: pool::pool_key(
                &scope,
                group.provider,
                &group.checks,
                group.region.as_deref(),
            ),
            batch: None,
            provider: group.provider,
            checks: group.checks,
            region: group.region.clone(),
            list,
            len: group.numbers.len(),
            until,
        });
    }
    let requested = job.counts.total;
    metrics::counter!("number_checks_numbers_requested_total").increment(requested);
    metrics::counter!("number_checks_numbers_from_cache_total").increment(job.counts.from_cache);
    usage::record_request(store, tenant, &month, requested, job.counts.from_cache).await?;

    if job.all_work_done() {
        worker::finish(state, &mut job, now).await?;
        return Ok(Accepted {
            job,
            finished: true,
        });
    }
    claims::keep_alive(store, &id, claims::holder_ttl(config)).await?;
    jobs::save(store, &job, ttl).await?;
    store
        .zadd(DUE, &id, now.timestamp_millis() as f64 / 1000.0)
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
    from: Vec<domain::ProviderId>,
    checks: &CheckSet,
) -> Result<(Vec<Candidate>, Vec<(domain::ProviderId, Duration)>), crate::store::StoreError> {
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

fn truncate(input: &str) -> String {
    input.chars().take(40).collect()
}

/// Parses `registered,profile`.
#[allow(clippy::result_large_err)] // ApiError is the crate-wide error of handlers
pub fn parse_checks(text: &str) -> Result<CheckSet, ApiError> {
    let mut set = CheckSet::empty();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let check = Check::ALL
            .into_iter()
            .find(|c| c.as_str() == part)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("`checks`: unknown check `{}`", truncate(part)),
                )
            })?;
        set.insert(check);
    }
    if set.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "`checks`: at least one check",
        ));
    }
    Ok(set)
}

/// How often a lookup waiting for another request's answer looks at the claims again.
const CLAIM_POLL: Duration = Duration::from_millis(50);

/// One number now: a fresh cached answer, else a single-number provider. When another request
/// (a lookup or a job) is buying the same answers, waits for them (up to [`LOOKUP_DEADLINE`])
/// and serves them as cached; only one of concurrent lookups of a number calls the vendor.
pub async fn lookup_one(
    state: &AppState,
    tenant: &str,
    number: E164,
    checks: CheckSet,
    max_age: Duration,
) -> Result<(NumberResult, bool), ApiError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    // Freshness counts from when the lookup asked: an answer bought while it waited is fresh.
    let asked_at = Utc::now();
    let month = usage::month_of(asked_at);
    let cache = Cache::new(store.clone(), config.cache_scope, tenant, config.cache_ttl);
    let found = cache.lookup(&[number], &checks, max_age, asked_at).await?;
    if let Some(hit) = found.hits.into_iter().next() {
        return Ok(served_from_cache(state, tenant, &month, hit));
    }
    let checker = state
        .providers
        .single_checkers()
        .find(|c| c.accepts(&number) && !c.checks().intersection(&checks).is_empty())
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::ValidationFailed,
                "no single-number provider serves this number's region for these checks; use POST /v1/number-checks",
            )
        })?;
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
) -> Result<Option<NumberResult>, ApiError> {
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
                return Err(ApiError::new(
                    ErrorCode::VendorTimeout,
                    "another request is checking this number right now; retry shortly",
                )
                .with_retry_after(1));
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
) -> Result<(NumberResult, bool), ApiError> {
    let store = &state.store;
    let month = month.to_owned();
    let provider = checker.provider();
    // An open circuit refuses at once: no vendor call, nothing reserved.
    let permit = state.breakers.admit(provider).await?;
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
    match billing {
        Billing::Billed => {
            usage::record_billed(store, tenant, &month, provider, 1).await?;
            state.usage_tally.add(tenant, &month, 1, 0);
            metrics::counter!("number_checks_numbers_billed_total", "provider" => provider.as_str()).increment(1);
        }
        Billing::Unknown => {
            usage::record_unconfirmed(store, tenant, &month, provider, 1).await?;
        }
        Billing::NotBilled if reserved => usage::release(store, tenant, &month, 1).await?,
        Billing::NotBilled => {}
    }
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
            cache.store(std::slice::from_ref(&result), &checks).await?;
            Ok((result, false))
        }
        Ok(SingleCheck::Pending { retry_after }) => Err(ApiError::new(
            ErrorCode::VendorTimeout,
            "the provider is still working on this number; retry shortly",
        )
        .with_retry_after(retry_after.as_secs().max(1))),
        Ok(SingleCheck::Unsupported(_)) => Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "the provider cannot check this number for these checks",
        )),
        Err(e) => Err(ApiError::from(e)),
    }
}

enum Billing {
    Billed,
    NotBilled,
    Unknown,
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
async fn reserve_one(state: &AppState, tenant: &str, month: &str) -> Result<bool, ApiError> {
    let Some(budget) = state.config.number_checks.budgets.get(tenant).copied() else {
        return Ok(false);
    };
    match usage::reserve(&state.store, tenant, month, 1, budget).await? {
        Ok(()) => Ok(true),
        Err(remaining) => Err(ApiError::new(
            ErrorCode::BudgetExceeded,
            "this month's budget is used up",
        )
        .with_extension("remaining_budget", remaining)),
    }
}
