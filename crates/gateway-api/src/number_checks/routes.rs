//! Thin handlers: authenticate, parse, call [`super::intake`] / [`super::jobs`], render.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use bytes::Bytes;
use chrono::Utc;
use domain::{Check, CheckSet, E164, NumberResult, normalize};
use futures_util::StreamExt;

use super::intake::{self, IntakeError, InvalidChecks, LookupError};
use super::jobs::{self, CHUNK, Cursor, Job};
use super::model::{
    BudgetView, CreateNumberCheck, ExportFormat, JobView, NumberLookup, NumberQuery, ResultsQuery,
    UsageQuery, UsageView,
};
use super::usage;
use crate::auth::{Auth, Uncounted, scope};
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::http::owned::Owned;
use crate::http::page::{self, Page, PageRequest, PageSize, invalid_cursor};
use crate::http::rate_limit::StoreRead;
use crate::ownership::TenantRecord;
use crate::routes::Routes;
use crate::state::AppState;

/// Page sizes of a job's results, larger than other lists': a job holds up to 1,000,000
/// numbers, and a page of 10,000 keeps reading a whole job to 100 requests.
#[derive(Debug)]
pub struct ResultPages;

impl PageSize for ResultPages {
    const DEFAULT: usize = 1000;
    const MAX: usize = 10_000;
}

pub fn configure(cfg: &mut Routes) {
    cfg.service(create_job)
        .service(get_job)
        .service(get_results)
        .service(get_number)
        .service(get_usage);
}

/// Starts a number-check job.
///
/// Numbers are normalised to E.164 and deduplicated; invalid ones are listed per item in
/// `invalid_numbers`. Numbers with a cached answer younger than `max_age` are not sent to a
/// vendor again. Answers `202` with the job (and `Location`), or `200` with the finished job when
/// nothing had to be sent to a vendor.
#[utoipa::path(
    tag = "number-checks",
    security(("bearer" = ["numbers:check"])),
    request_body = CreateNumberCheck,
    responses(
        (status = 200, description = "Finished at once: no number needed a vendor order (every one answered from cache, or none that a provider takes)", body = JobView),
        (status = 202, description = "Accepted; follow `Location`", body = JobView,
         headers(("Location" = String, description = "The job's URL"))),
        (status = 401, description = "Missing or invalid token", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::unauthorized())),
        (status = 402, description = "The tenant's monthly budget does not cover the numbers to bill", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(super::model::examples::budget_exceeded())),
        (status = 403, description = "The token lacks `numbers:check`", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::forbidden())),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(super::model::examples::too_large())),
        (status = 422, description = "Invalid request: no valid number, more than 1,000,000 numbers, unknown checks (`validation_failed`), or a callback URL refused by the outbound URL policy (`url_not_allowed`, the rule in `rule`: `scheme_not_allowed`, `userinfo_not_allowed`, `host_not_allowed`, `port_not_allowed`, `path_not_allowed`, `address_not_allowed`, `unresolvable_host`)", body = crate::error::Problem, content_type = "application/problem+json",
         examples(
             ("Invalid numbers" = (value = json!(super::model::examples::invalid_numbers()))),
             ("Callback URL not allowed" = (value = json!(crate::openapi::examples::url_not_allowed("callback_url")))),
         )),
        (status = 429, description = "Rate limited", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::rate_limited())),
        (status = 503, description = "The `provider` asked for has an open circuit (`vendor_unavailable`: it failed repeatedly, \
and the gateway does not call it for the rest of its cool-down, given in `Retry-After`), or the store is unavailable \
(`store_unavailable`). With `provider: auto` the job is accepted and routed around open circuits; an order no provider \
can take fails with a per-sub-order `vendor_unavailable` error, without a vendor call.",
         body = crate::error::Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait: the circuit's remaining cool-down (1 for the store)")),
         example = json!(super::model::examples::vendor_unavailable_bulk())),
    )
)]
#[post("/v1/number-checks")]
pub async fn create_job(
    auth: Auth<scope::NumbersCheck>,
    state: web::Data<AppState>,
    body: web::Json<CreateNumberCheck>,
) -> Result<HttpResponse, ApiError> {
    let accepted = intake::create(&state, &auth.principal.tenant, body.into_inner()).await?;
    let view = JobView::from(&accepted.job);
    if accepted.finished {
        return Ok(HttpResponse::Ok().json(view));
    }
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/v1/number-checks/{}", view.id)))
        .json(view))
}

impl TenantRecord for Job {
    const WHAT: &'static str = "number-check job";

    async fn load_for(state: &AppState, tenant: &str, id: &str) -> Result<Option<Job>, ApiError> {
        Ok(jobs::load(&state.store, id)
            .await?
            .filter(|job| job.tenant == tenant))
    }
}

/// A job: status, progress, sub-orders per vendor, cost and errors.
#[utoipa::path(
    tag = "number-checks",
    security(("bearer" = ["numbers:read"])),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 401, description = "Missing or invalid token", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::unauthorized())),
        (status = 403, description = "The token lacks `numbers:read`", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::forbidden())),
        (status = 404, description = "No such job for this tenant", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(super::model::examples::not_found())),
        (status = 503, description = "Store unavailable", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::store_unavailable())),
    )
)]
#[get("/v1/number-checks/{id}")]
pub async fn get_job(
    owned: Owned<scope::NumbersRead, Job>,
) -> Result<web::Json<JobView>, ApiError> {
    Ok(web::Json(JobView::from(&owned.record)))
}

/// A job's results: one record per number (whichever vendor orders answered it), cached answers
/// first. Every asked check is in the record's `checks` with its status (`answered`,
/// `not_registered`, `unavailable`, `failed`, or `pending` while the job runs). JSON pages by
/// default; `format=ndjson` or `format=csv` streams every result from the cursor on (CSV: the
/// fields, then status, provider, check time and reason per check).
#[utoipa::path(
    tag = "number-checks",
    security(("bearer" = ["numbers:read"])),
    params(("id" = String, Path, description = "Job id"), PageRequest<ResultPages>, ResultsQuery),
    responses(
        (status = 200, description = "A page of results (or the NDJSON / CSV export)", body = Page<NumberResult>,
         content((Page<NumberResult> = "application/json"), (String = "application/x-ndjson"), (String = "text/csv"))),
        (status = 400, description = "Invalid limit or format", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(super::model::examples::invalid_query("`limit`: an integer from 1 to 10000"))),
        (status = 401, description = "Missing or invalid token", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::unauthorized())),
        (status = 403, description = "The token lacks `numbers:read`", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::forbidden())),
        (status = 404, description = "No such job for this tenant", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(super::model::examples::not_found())),
        (status = 503, description = "Store unavailable", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::store_unavailable())),
    )
)]
#[get("/v1/number-checks/{id}/results")]
pub async fn get_results(
    owned: Owned<scope::NumbersRead, Job>,
    state: web::Data<AppState>,
    page: PageRequest<ResultPages>,
    query: web::Query<ResultsQuery>,
) -> Result<HttpResponse, ApiError> {
    let job = owned.record;
    // A cursor names a position in one job's results only.
    let list = format!("results/{}", job.id);
    let cursor = match page.position(&list)? {
        None => Cursor::default(),
        Some(position) => Cursor::parse(&position).ok_or_else(invalid_cursor)?,
    };
    let format = query.format.unwrap_or_default();
    if format == ExportFormat::Json {
        let (items, next) = jobs::read_results(&state.store, &job, cursor, page.limit).await?;
        return Ok(HttpResponse::Ok().json(Page::new(
            items,
            next.map(|c| page::cursor(&list, &c.to_string())),
        )));
    }
    let (content_type, head) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", Some(Bytes::from(csv_header()))),
        _ => ("application/x-ndjson", None),
    };
    let store = state.store.clone();
    let job = Arc::new(job);
    let body = futures_util::stream::unfold(Some(cursor), move |cursor| {
        let store = store.clone();
        let job = job.clone();
        async move {
            let cursor = cursor?;
            match jobs::read_results(&store, &job, cursor, CHUNK).await {
                Ok((records, next)) => Some((Ok(render(&records, format)), next)),
                Err(e) => {
                    tracing::error!(error = %e, "results export interrupted");
                    Some((
                        Err(actix_web::error::ErrorServiceUnavailable(
                            "store unavailable",
                        )),
                        None,
                    ))
                }
            }
        }
    });
    let head = futures_util::stream::iter(head.map(Ok::<_, actix_web::Error>));
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .streaming(head.chain(body)))
}

const CSV_FIELDS: &str = "number,registered,business,last_active_at,active_hour,avatar_url,has_avatar,about,status_updated_on,gender,age,provider,checked_at";

/// The fields, then per check (in `Check::ALL` order) its status, provider, check time and reason.
fn csv_header() -> String {
    let mut header = CSV_FIELDS.to_owned();
    for check in Check::ALL {
        for part in ["status", "provider", "checked_at", "reason"] {
            header.push_str(&format!(",{check}_{part}"));
        }
    }
    header.push('\n');
    header
}

fn render(records: &[NumberResult], format: ExportFormat) -> Bytes {
    let mut out = Vec::with_capacity(records.len() * 200);
    for record in records {
        if format == ExportFormat::Csv {
            out.extend_from_slice(csv_line(record).as_bytes());
        } else if let Ok(line) = serde_json::to_vec(record) {
            out.extend_from_slice(&line);
            out.push(b'\n');
        }
    }
    Bytes::from(out)
}

fn csv_line(r: &NumberResult) -> String {
    fn opt<T: ToString>(v: &Option<T>) -> String {
        v.as_ref().map(ToString::to_string).unwrap_or_default()
    }
    fn quoted(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    }
    fn name<T: serde::Serialize>(v: &T) -> String {
        serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
    let mut line = format!(
        "{},{},{},{},{},{},{},{},{},{},{},{},{}",
        r.number,
        opt(&r.registered),
        opt(&r.business),
        r.last_active_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        opt(&r.active_hour),
        quoted(r.avatar_url.as_deref().unwrap_or_default()),
        opt(&r.has_avatar),
        quoted(r.about.as_deref().unwrap_or_default()),
        opt(&r.status_updated_on),
        r.gender.as_ref().map(name).unwrap_or_default(),
        opt(&r.age),
        opt(&r.provider),
        r.checked_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
    );
    for check in Check::ALL {
        let outcome = r.checks.get(&check);
        line.push_str(&format!(
            ",{},{},{},{}",
            outcome.map(|o| name(&o.status)).unwrap_or_default(),
            outcome
                .and_then(|o| o.provider)
                .map(|p| p.to_string())
                .unwrap_or_default(),
            outcome
                .and_then(|o| o.checked_at)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            quoted(
                outcome
                    .and_then(|o| o.reason.as_deref())
                    .unwrap_or_default()
            ),
        ));
    }
    line.push('\n');
    line
}

/// One number now: a fresh cached answer, else a single-number provider (billed).
///
/// While another request (a job, or a concurrent lookup of the same number) is buying the same
/// answer, the lookup waits for it and serves it as cached (not billed).
#[utoipa::path(
    tag = "number-checks",
    security(("bearer" = ["numbers:check"])),
    params(("number" = String, Path, description = "The number, any notation (URL-encode `+` as `%2B`)"), NumberQuery),
    responses(
        (status = 200, description = "The answer", body = NumberLookup),
        (status = 400, description = "Invalid checks or max_age", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(super::model::examples::invalid_query("`max_age`: a duration such as `7d`"))),
        (status = 401, description = "Missing or invalid token", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::unauthorized())),
        (status = 402, description = "Budget used up", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(super::model::examples::budget_exceeded())),
        (status = 403, description = "The token lacks `numbers:check`", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::forbidden())),
        (status = 422, description = "Not a number, or no single-number provider serves it", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(super::model::examples::invalid_numbers())),
        (status = 502, description = "The provider refused the gateway's credentials", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(super::model::examples::vendor_auth_failed())),
        (status = 503, description = "The provider is unavailable (`vendor_unavailable`): it failed, or its circuit is open \
after repeated failures and the gateway does not call it for the rest of the cool-down, given in `Retry-After`; \
nothing is billed or reserved. Or the store is unavailable (`store_unavailable`).",
         body = crate::error::Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait: the circuit's remaining cool-down (1 for the store)")),
         example = json!(super::model::examples::vendor_unavailable())),
        (status = 504, description = "The provider is still working, or another request buying this number's answer \
did not finish within 20 s; retry after `Retry-After`", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(super::model::examples::vendor_timeout())),
    )
)]
#[get("/v1/numbers/{number}")]
pub async fn get_number(
    caller: Uncounted<scope::NumbersCheck>,
    state: web::Data<AppState>,
    number: Result<web::Path<String>, actix_web::Error>,
    query: Result<web::Query<NumberQuery>, actix_web::Error>,
) -> Result<web::Json<NumberLookup>, actix_web::Error> {
    let asked = match (number, query) {
        (Ok(number), Ok(query)) => parse_lookup(&state, &number, &query).map_err(Into::into),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let (number, checks, max_age) = match asked {
        Ok(asked) => asked,
        Err(e) => {
            // Refused input counts against the limit like any other request.
            caller.admit().await?;
            return Err(e);
        }
    };
    // Freshness counts from when the lookup asked: an answer bought while it waited is fresh.
    let asked_at = Utc::now();
    let cache = intake::lookup_cache(&state, &caller.tenant);
    let (entry, fields) = cache.entry_read(&number, &checks);
    // One store round trip for the count and the cached answer; the count decides first.
    let (auth, row) = caller
        .admit_reading(StoreRead::Fields {
            hash: &entry,
            fields: &fields,
        })
        .await?;
    let found = cache
        .lookup_read(number, &checks, row, max_age, asked_at)
        .await
        .map_err(ApiError::from)?;
    let (result, from_cache) = intake::lookup_one(
        &state,
        &auth.principal.tenant,
        number,
        checks,
        max_age,
        asked_at,
        found,
    )
    .await
    .map_err(ApiError::from)?;
    Ok(web::Json(NumberLookup { result, from_cache }))
}

/// The number, checks and `max_age` a one-number lookup asks for.
#[allow(clippy::result_large_err)] // the refusal is the handler's answer, built once
fn parse_lookup(
    state: &AppState,
    number: &str,
    query: &NumberQuery,
) -> Result<(E164, CheckSet, std::time::Duration), ApiError> {
    let checks = intake::parse_checks(&query.checks)?;
    let max_age =
        intake::parse_max_age(query.max_age.as_deref(), state.config.number_checks.max_age)
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    "`max_age`: a duration such as `7d`",
                )
            })?;
    let number = normalize(number, query.default_country.as_deref()).map_err(|e| {
        ApiError::field(
            "number",
            e.reason.as_str(),
            format!("not a phone number ({})", e.reason),
        )
    })?;
    Ok((number, checks, max_age))
}

/// Spend of the calling tenant in a month: numbers billed per provider, numbers possibly billed
/// (outcome unknown to the gateway), numbers saved by the cache, and the budget when one is
/// configured.
#[utoipa::path(
    tag = "number-checks",
    security(("bearer" = ["numbers:read"])),
    params(UsageQuery),
    responses(
        (status = 200, description = "Usage", body = UsageView),
        (status = 400, description = "Invalid month", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(super::model::examples::invalid_query("`month`: YYYY-MM"))),
        (status = 401, description = "Missing or invalid token", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::unauthorized())),
        (status = 403, description = "The token lacks `numbers:read`", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::forbidden())),
        (status = 503, description = "Store unavailable", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::store_unavailable())),
    )
)]
#[get("/v1/usage")]
pub async fn get_usage(
    auth: Auth<scope::NumbersRead>,
    state: web::Data<AppState>,
    query: web::Query<UsageQuery>,
) -> Result<web::Json<UsageView>, ApiError> {
    let month = match &query.month {
        None => usage::month_of(Utc::now()),
        Some(m) => {
            let valid = is_month(m);
            if !valid {
                return Err(ApiError::new(ErrorCode::InvalidQuery, "`month`: YYYY-MM"));
            }
            m.clone()
        }
    };
    let tenant = &auth.principal.tenant;
    state.usage_tally.flush(&state.store).await?;
    let used = usage::read(&state.store, tenant, &month).await?;
    let budget = state
        .config
        .number_checks
        .budgets
        .get(tenant)
        .map(|&limit| BudgetView {
            limit,
            committed: used.committed,
            remaining: limit.saturating_sub(used.committed),
        });
    Ok(web::Json(UsageView {
        tenant: tenant.clone(),
        month,
        billed_total: used.billed.values().sum(),
        billed: used.billed,
        unconfirmed_total: used.unconfirmed.values().sum(),
        unconfirmed: used.unconfirmed,
        saved_by_cache: used.from_cache,
        requested: used.requested,
        budget,
    }))
}

/// `YYYY-MM` with a month from 01 to 12, exactly as the documented pattern says.
fn is_month(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 7
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && matches!((b[5], b[6]), (b'0', b'1'..=b'9') | (b'1', b'0'..=b'2'))
}

// ---- the service's errors as problems: the one place that gives each its API code ----------

impl From<IntakeError> for ApiError {
    fn from(error: IntakeError) -> Self {
        match error {
            IntakeError::NumberCount { max, got } => ApiError::field(
                "numbers",
                "length",
                format!("between 1 and {max} numbers (got {got})"),
            ),
            IntakeError::NoChecks => ApiError::field("checks", "length", "at least one check"),
            IntakeError::MaxAge(e) => ApiError::field("max_age", "invalid_duration", e.to_string()),
            IntakeError::MaxWait(e) => {
                ApiError::field("max_wait", "invalid_duration", e.to_string())
            }
            IntakeError::CallbackRefused(refusal) => {
                ApiError::url_refused("callback_url", &refusal)
            }
            IntakeError::NoCallbackSecret => ApiError::field(
                "callback_url",
                "no_secret",
                "no callback signing secret is configured for this tenant",
            ),
            IntakeError::ProviderNotConfigured(p) => ApiError::field(
                "provider",
                "not_configured",
                format!("{p} is not configured"),
            ),
            IntakeError::NoValidNumber { invalid, count } => {
                ApiError::validation(invalid.iter().map(invalid_number).collect())
                    .with_extension("invalid_count", count)
            }
            IntakeError::ChecksUnsupported => ApiError::field(
                "checks",
                "unsupported",
                "no configured provider answers these checks",
            ),
            IntakeError::ProviderFailing(refused) => refused.into(),
            IntakeError::BudgetExceeded { billed, remaining } => ApiError::new(
                ErrorCode::BudgetExceeded,
                format!(
                    "this job would bill {billed} numbers; {remaining} remain in this month's budget"
                ),
            )
            .with_extension("remaining_budget", remaining)
            .with_extension("numbers_to_bill", billed),
            IntakeError::Store(e) => e.into(),
            IntakeError::Interrupted(e) => ApiError::internal(e),
        }
    }
}

fn invalid_number((index, bad): &(usize, domain::InvalidNumber)) -> FieldError {
    FieldError {
        field: format!("numbers[{index}]"),
        code: bad.reason.as_str().to_owned(),
        message: format!(
            "`{}` is not a phone number ({})",
            intake::truncate(&bad.input),
            bad.reason
        ),
    }
}

impl From<LookupError> for ApiError {
    fn from(error: LookupError) -> Self {
        match error {
            LookupError::NoSingleProvider => ApiError::new(
                ErrorCode::ValidationFailed,
                "no single-number provider serves this number's region for these checks; use POST /v1/number-checks",
            ),
            LookupError::BoughtElsewhere => ApiError::new(
                ErrorCode::VendorTimeout,
                "another request is checking this number right now; retry shortly",
            )
            .with_retry_after(1),
            LookupError::StillPending { retry_after } => ApiError::new(
                ErrorCode::VendorTimeout,
                "the provider is still working on this number; retry shortly",
            )
            .with_retry_after(retry_after.as_secs().max(1)),
            LookupError::Unsupported => ApiError::new(
                ErrorCode::ValidationFailed,
                "the provider cannot check this number for these checks",
            ),
            LookupError::Vendor(e) => e.into(),
            LookupError::ProviderFailing(refused) => refused.into(),
            LookupError::BudgetUsedUp { remaining } => {
                ApiError::new(ErrorCode::BudgetExceeded, "this month's budget is used up")
                    .with_extension("remaining_budget", remaining)
            }
            LookupError::Store(e) => e.into(),
        }
    }
}

impl From<InvalidChecks> for ApiError {
    fn from(error: InvalidChecks) -> Self {
        ApiError::new(ErrorCode::InvalidQuery, error.to_string())
    }
}
