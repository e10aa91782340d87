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
use super::jobs::{self, Counts, DUE, Job, SubOrder};
use super::model::{CreateNumberCheck, InvalidItem, JobStatus, JobWarning, SubOrderState};
use super::planner::{self, Candidate};
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

    let mut candidates = Vec::new();
    let mut cooling_down = Vec::new();
    for provider in candidates_from {
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
            groups: checker.order_groups(&checks),
            healthy: cooldown.is_none(),
        });
    }
    let misses = found.misses;
    let open_numbers = misses.clone();
    let plan = if misses.is_empty() {
        planner::Plan::default()
    } else {
        let checks_for_plan = checks;
        tokio::task::spawn_blocking(move || planner::plan(misses, &checks_for_plan, &candidates))
            .await
            .map_err(ApiError::internal)?
    };
    if !open_numbers.is_empty() && plan.unanswerable == checks {
        return Err(ApiError::field(
            "checks",
            "unsupported",
            "no configured provider answers these checks",
        ));
    }

    // The caller chose one provider and it is failing: say so now rather than accept a job
    // that cannot be sent. (With `auto` the plan already routed around open circuits.)
    if req.provider.provider().is_some()
        && !plan.orders.is_empty()
        && let Some((provider, retry_after)) = cooling_down.first().copied()
    {
        return Err(Refused::Open {
            provider,
            retry_after,
        }
        .into());
    }

    let month = usage::month_of(now);
    let billed = plan.billed();
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

    let id = format!("nc_{}", uuid::Uuid::now_v7().simple());
    let warnings = warnings(&plan, open_numbers.len() as u64);
    let sub_orders = plan
        .orders
        .iter()
        .enumerate()
        .map(|(index, o)| SubOrder {
            index,
            provider: o.provider,
            checks: o.checks,
            start: o.start,
            len: o.len,
            state: SubOrderState::Pending,
            vendor_order_id: None,
            rerouted_from: None,
            tried: Vec::new(),
            billed: false,
            answered: 0,
            submitted_at: None,
            finished_at: None,
            next_poll_at: None,
            poll_delay_ms: 0,
            poll_errors: 0,
            download_errors: 0,
            error: None,
            failure_recorded: false,
        })
        .collect::<Vec<_>>();
    let mut job = Job {
        id: id.clone(),
        tenant: tenant.to_owned(),
        status: JobStatus::Queued,
        checks,
        provider: req.provider,
        created_at: now,
        updated_at: now,
        finished_at: None,
        callback_url: req.callback_url,
        month: month.clone(),
        reserved,
        counts: Counts {
            total: batch.numbers.len() as u64,
            from_cache: found.hits.len() as u64,
            answered: 0,
            failed: plan.unplanned_numbers(&checks),
            invalid: batch.invalid.len() as u64,
            duplicates: batch.duplicates as u64,
        },
        sub_orders,
        invalid: batch
            .invalid
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
    };

    let planned = started.elapsed();
    let ttl = config.job_ttl;
    jobs::put_numbers(store, &id, &plan.numbers, ttl).await?;
    jobs::put_cached_results(store, &id, &found.hits, ttl).await?;
    jobs::put_open_numbers(store, &id, &open_numbers, ttl).await?;
    for unplanned in &plan.unplanned {
        let records = jobs::unanswered(
            &unplanned.numbers,
            &unplanned.checks,
            CheckStatus::Unavailable,
            "no_provider",
            None,
        );
        jobs::merge_records(store, &id, &records, ttl).await?;
    }
    let persisted = started.elapsed();
    let requested = job.counts.total;
    metrics::counter!("number_checks_numbers_requested_total").increment(requested);
    metrics::counter!("number_checks_numbers_from_cache_total").increment(job.counts.from_cache);
    usage::record_request(store, tenant, &month, requested, job.counts.from_cache).await?;

    if job.sub_orders.is_empty() {
        worker::finish(state, &mut job, now).await?;
        return Ok(Accepted {
            job,
            finished: true,
        });
    }
    jobs::save(store, &job, ttl).await?;
    store
        .zadd(DUE, &id, now.timestamp_millis() as f64 / 1000.0)
        .await?;
    metrics::counter!("number_checks_jobs_created_total").increment(1);
    tracing::debug!(
        job = %job.id,
        numbers = job.counts.total,
        normalise_ms = normalised.as_millis() as u64,
        cache_lookup_ms = (looked_up - normalised).as_millis() as u64,
        plan_ms = (planned - looked_up).as_millis() as u64,
        store_numbers_ms = (persisted - planned).as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "number-check job accepted"
    );
    Ok(Accepted {
        job,
        finished: false,
    })
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
        out.push(JobWarning {
            code: "no_provider".into(),
            message: format!(
                "no configured provider takes these numbers for {} (e.g. fewer than a vendor's minimum order); \
                 those checks are `unavailable` in their records",
                names(&unplanned.checks)
            ),
            checks: unplanned.checks,
            numbers: unplanned.numbers.len() as u64,
        });
    }
    out
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

/// One number now: a fresh cached answer, else a single-number provider.
pub async fn lookup_one(
    state: &AppState,
    tenant: &str,
    number: E164,
    checks: CheckSet,
    max_age: Duration,
) -> Result<(NumberResult, bool), ApiError> {
    let config = &state.config.number_checks;
    let store = &state.store;
    let now = Utc::now();
    let month = usage::month_of(now);
    let cache = Cache::new(store.clone(), config.cache_scope, tenant, config.cache_ttl);
    let found = cache.lookup(&[number], &checks, max_age, now).await?;
    if let Some(hit) = found.hits.into_iter().next() {
        state.usage_tally.add(tenant, &month, 1, 1);
        metrics::counter!("number_checks_numbers_from_cache_total").increment(1);
        return Ok((hit, true));
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
