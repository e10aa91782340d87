//! API types of the number-check routes. No vendor wire type appears here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::{Check, CheckSet, InvalidReason, NumberList, NumberResult, ProviderId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::jobs::{Job, SubOrder};

/// Which provider a job uses; `auto` lets the routing policy choose. The named choices are the
/// registered bulk number-check vendors ([`providers::bulk_vendors`]), so a new vendor needs no
/// edit here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProviderChoice {
    #[default]
    Auto,
    Named(ProviderId),
}

const AUTO: &str = "auto";

impl ProviderChoice {
    pub fn provider(self) -> Option<ProviderId> {
        match self {
            Self::Auto => None,
            Self::Named(id) => Some(id),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => AUTO,
            Self::Named(id) => id.as_str(),
        }
    }

    /// Every accepted spelling: `auto`, then the bulk vendors in registration order.
    pub fn values() -> Vec<&'static str> {
        std::iter::once(AUTO)
            .chain(
                providers::bulk_vendors()
                    .into_iter()
                    .map(ProviderId::as_str),
            )
            .collect()
    }
}

impl std::str::FromStr for ProviderChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == AUTO {
            return Ok(Self::Auto);
        }
        providers::bulk_vendors()
            .into_iter()
            .find(|id| id.as_str() == text)
            .map(Self::Named)
            .ok_or_else(|| {
                format!(
                    "unknown variant `{}`, expected one of {}",
                    text.chars().take(64).collect::<String>(),
                    Self::values()
                        .iter()
                        .map(|v| format!("`{v}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

impl Serialize for ProviderChoice {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProviderChoice {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for ProviderChoice {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "Which provider a job uses; `auto` lets the routing policy choose.",
            ))
            .enum_values(Some(Self::values()))
            .into()
    }
}

impl ToSchema for ProviderChoice {}

/// A batch of numbers to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "numbers": ["+91 98765 43210", "09876543211", "+1 (415) 555-0123"],
    "default_country": "IN",
    "checks": ["registered", "profile"],
    "provider": "auto",
    "max_age": "7d",
    "max_wait": "30s",
    "callback_url": "https://hooks.example.com/wa/number-checks"
}))]
pub struct CreateNumberCheck {
    /// 1 to 1,000,000 numbers (`number_checks.max_numbers`) in any common notation.
    #[schema(value_type = Vec<String>, min_items = 1)]
    pub numbers: NumberList,
    /// ISO 3166-1 alpha-2 country for numbers written without a country code.
    #[serde(default)]
    pub default_country: Option<String>,
    #[schema(min_items = 1)]
    pub checks: Vec<Check>,
    #[serde(default)]
    pub provider: ProviderChoice,
    /// Oldest cached answer accepted, e.g. `7d`, `12h`; default from configuration.
    #[serde(default)]
    #[schema(example = "7d")]
    pub max_age: Option<String>,
    /// How long numbers below a vendor's minimum order (fewer than 500 of one region for
    /// screening) may wait to be pooled with other callers' numbers into one order: a duration
    /// (`30s`, `2m`) or a number of seconds, at most `number_checks.batch_window` (the
    /// default); `0` never waits. Numbers still below the minimum when it ends go to the next
    /// provider, or are `unavailable`.
    #[serde(default)]
    #[schema(example = "30s")]
    pub max_wait: Option<MaxWait>,
    /// Where to POST the finished job (signed per Standard Webhooks): a URL the deployment's
    /// `number_checks.callback_allow` list allows (no user info; a host that is or resolves to a
    /// non-public address only if the list names it).
    #[serde(default)]
    pub callback_url: Option<String>,
}

/// A wait: a duration (`30s`, `2m`) or a number of seconds (`30`, `0`).
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(example = "30s")]
pub enum MaxWait {
    Seconds(f64),
    Text(String),
}

/// Where a job is; the last three are final:
/// - `queued`: accepted, no vendor order sent yet;
/// - `running`: vendor orders are being sent, polled and read;
/// - `completed`: every asked check of every number has its answer (`answered` or
///   `not_registered` in the records);
/// - `completed_with_errors`: finished, but some checks of some numbers have no answer
///   (`unavailable` or `failed` in their records; the reasons are in `warnings` and `errors`);
/// - `failed`: finished without a single answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Accepted; no vendor order sent yet.
    Queued,
    /// Vendor orders are being sent, polled and read.
    Running,
    /// Every asked check of every number has its answer (`answered` or `not_registered`).
    Completed,
    /// Finished, but some checks of some numbers have no answer (`unavailable` or `failed` in
    /// their records; the reasons are in `warnings` and `errors`).
    #[serde(alias = "partially_failed")]
    CompletedWithErrors,
    /// Finished without a single answer.
    Failed,
}

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::CompletedWithErrors | Self::Failed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::CompletedWithErrors => "completed_with_errors",
            Self::Failed => "failed",
        }
    }
}

/// State of one vendor order of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubOrderState {
    /// Not sent yet.
    Pending,
    /// Being sent; seen after a crash it becomes `unknown`.
    Submitting,
    /// Accepted by the vendor, being polled.
    Running,
    Completed,
    Failed,
    /// The gateway cannot tell whether the vendor accepted (and billed) the order; it was not
    /// sent again, to avoid paying twice.
    Unknown,
}

impl SubOrderState {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Unknown)
    }
}

/// An input that is not a usable number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvalidItem {
    /// Position in `numbers`.
    pub index: usize,
    pub input: String,
    pub reason: InvalidReason,
}

/// Something that went wrong in a job; vendor detail stays in the logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobError {
    #[schema(example = "vendor_forbidden_host")]
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_order: Option<usize>,
    /// Numbers affected.
    pub numbers: u64,
}

/// Asked checks that cannot be answered for some numbers, known when the job is accepted; those
/// numbers' records say `unavailable` for them, with this code as `reason`. Nothing is billed for
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobWarning {
    /// `checks_unanswered` (no configured provider answers these checks) or `no_provider` (no
    /// provider takes these numbers for these checks, e.g. fewer than a vendor's minimum order).
    #[schema(example = "no_provider")]
    pub code: String,
    pub message: String,
    pub checks: CheckSet,
    /// Numbers affected.
    pub numbers: u64,
}

/// Counts of numbers (never of records or vendor orders).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Progress {
    /// Valid, distinct numbers in the job.
    pub total: u64,
    pub from_cache: u64,
    /// Numbers with at least one check answered by a vendor for this job.
    pub answered: u64,
    /// Numbers without any answer: no provider takes them, or (final once the job is finished)
    /// every vendor order for them failed.
    pub failed: u64,
    pub pending: u64,
    /// Of `pending`: numbers waiting to be pooled with other callers' numbers (see `pooled`).
    pub pooled: u64,
    pub invalid: u64,
    pub duplicates: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cost {
    /// Numbers sent to (and billed by) vendors.
    pub numbers_billed: u64,
    /// Numbers answered from the cache, not billed.
    pub numbers_from_cache: u64,
    #[serde(serialize_with = "in_registration_order")]
    pub billed_by_provider: BTreeMap<ProviderId, u64>,
    /// Numbers of sub-orders ending `unknown`: the vendor may have billed them.
    pub numbers_unconfirmed: u64,
}

/// Writes the map's vendors in registration order (the order clients have always seen), not by
/// name.
fn in_registration_order<S: serde::Serializer>(
    map: &BTreeMap<ProviderId, u64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let order = providers::vendors();
    let rank = |id: &ProviderId| order.iter().position(|v| v.id == *id).unwrap_or(usize::MAX);
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by_key(|(id, _)| (rank(id), **id));
    let mut out = serializer.serialize_map(Some(entries.len()))?;
    for (id, count) in entries {
        out.serialize_entry(id, count)?;
    }
    out.end()
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubOrderView {
    pub index: usize,
    pub provider: ProviderId,
    pub checks: CheckSet,
    pub numbers: u64,
    pub state: SubOrderState,
    /// The vendor's order id, always a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_order_id: Option<String>,
    /// The provider first chosen, when this order was moved to another one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerouted_from: Option<ProviderId>,
    pub answered: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    /// The vendor order also carries other callers' numbers (a filled pool); `numbers`,
    /// `answered` and the job's cost count this job's numbers only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pooled: bool,
}

/// Numbers below a vendor's minimum order waiting to be pooled with other callers' numbers of
/// the same region (and, with `cache_scope = "per_tenant"`, the same tenant) into one order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PooledView {
    pub provider: ProviderId,
    pub checks: CheckSet,
    /// ISO 3166-1 alpha-2 region of the numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "IN")]
    pub region: Option<String>,
    pub numbers: u64,
    /// When the wait ends: still below the minimum then, the numbers go to the next provider
    /// answering these checks, or are `unavailable` (`no_provider` warning).
    pub wait_until: DateTime<Utc>,
}

impl From<&SubOrder> for SubOrderView {
    fn from(s: &SubOrder) -> Self {
        Self {
            index: s.index,
            provider: s.provider,
            checks: s.checks,
            numbers: s.len as u64,
            state: s.state,
            vendor_order_id: s.vendor_order_id.clone(),
            rerouted_from: s.rerouted_from,
            answered: s.answered,
            submitted_at: s.submitted_at,
            finished_at: s.finished_at,
            error: s.error.clone(),
            pooled: s.pooled,
        }
    }
}

/// A number-check job.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "nc_0192f0a46f7c7a399b1e2b7c8f1f4d21",
    "status": "running",
    "checks": ["registered"],
    "provider": "auto",
    "created_at": "2026-11-22T03:00:00Z",
    "updated_at": "2026-11-22T03:00:05Z",
    "progress": {"total": 45000, "from_cache": 0, "answered": 15000, "failed": 0, "pending": 30000, "pooled": 0, "invalid": 1, "duplicates": 0},
    "cost": {"numbers_billed": 45000, "numbers_from_cache": 0, "billed_by_provider": {"wscrm_screening": 45000}, "numbers_unconfirmed": 0},
    "sub_orders": [{"index": 0, "provider": "wscrm_screening", "checks": ["registered"], "numbers": 15000,
                    "state": "completed", "vendor_order_id": "1812345678901234567", "answered": 15000}],
    "invalid_numbers": [{"index": 7, "input": "12ab", "reason": "not_a_number"}],
    "errors": [],
    "warnings": [],
    "results_url": "/v1/number-checks/nc_0192f0a46f7c7a399b1e2b7c8f1f4d21/results"
}))]
pub struct JobView {
    pub id: String,
    pub status: JobStatus,
    pub checks: CheckSet,
    pub provider: ProviderChoice,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    pub progress: Progress,
    pub cost: Cost,
    pub sub_orders: Vec<SubOrderView>,
    /// Invalid inputs (the first 1,000; `progress.invalid` counts all).
    pub invalid_numbers: Vec<InvalidItem>,
    pub errors: Vec<JobError>,
    /// Asked checks some numbers cannot get, known at acceptance (or when a pool's wait ends
    /// below the minimum).
    pub warnings: Vec<JobWarning>,
    /// Groups waiting to be pooled with other callers' numbers (`number_checks.batch_window`,
    /// `max_wait`); their records say `pending` meanwhile.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pooled: Vec<PooledView>,
    pub results_url: String,
}

impl From<&Job> for JobView {
    fn from(job: &Job) -> Self {
        let mut billed_by_provider = BTreeMap::new();
        for s in job.sub_orders.iter().filter(|s| s.billed) {
            *billed_by_provider.entry(s.provider).or_insert(0) += s.len as u64;
        }
        let c = &job.counts;
        Self {
            id: job.id.clone(),
            status: job.status,
            checks: job.checks,
            provider: job.provider,
            created_at: job.created_at,
            updated_at: job.updated_at,
            finished_at: job.finished_at,
            progress: Progress {
                total: c.total,
                from_cache: c.from_cache,
                answered: c.answered,
                failed: c.failed,
                pending: c.total.saturating_sub(c.from_cache + c.answered + c.failed),
                pooled: job.pooled_numbers(),
                invalid: c.invalid,
                duplicates: c.duplicates,
            },
            cost: Cost {
                numbers_billed: billed_by_provider.values().sum(),
                numbers_from_cache: c.from_cache,
                billed_by_provider,
                numbers_unconfirmed: job
                    .sub_orders
                    .iter()
                    .filter(|s| s.state == SubOrderState::Unknown)
                    .map(|s| s.len as u64)
                    .sum(),
            },
            sub_orders: job.sub_orders.iter().map(SubOrderView::from).collect(),
            invalid_numbers: job.invalid.clone(),
            errors: job.errors.clone(),
            warnings: job.warnings.clone(),
            pooled: job
                .pooled
                .iter()
                .map(|p| PooledView {
                    provider: p.provider,
                    checks: p.checks,
                    region: p.region.clone(),
                    numbers: p.len as u64,
                    wait_until: p.until,
                })
                .collect(),
            results_url: format!("/v1/number-checks/{}/results", job.id),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// A page of results as JSON (default).
    #[default]
    Json,
    /// Every result from the cursor on, one JSON object per line, streamed.
    Ndjson,
    /// Every result from the cursor on, as CSV, streamed.
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// `json` (a page), `ndjson` or `csv` (streamed from the cursor on; `limit` does not apply).
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NumberQuery {
    /// Comma-separated checks, e.g. `registered,profile`.
    pub checks: String,
    /// Country for a number written without a country code.
    pub default_country: Option<String>,
    /// Oldest cached answer accepted, e.g. `7d`.
    pub max_age: Option<String>,
}

/// One number, answered now.
#[derive(Debug, Serialize, ToSchema)]
pub struct NumberLookup {
    pub result: NumberResult,
    /// Whether the answer came from the cache (nothing billed).
    pub from_cache: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `YYYY-MM`; default the current month (UTC).
    #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub month: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetView {
    pub limit: u64,
    /// Numbers reserved this month: billed, possibly billed (unconfirmed), and reserved by jobs
    /// still running. A vendor call that failed without billing gives its reservation back.
    pub committed: u64,
    pub remaining: u64,
}

/// Spend of the calling tenant in one month.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "tenant": "acme", "month": "2026-11",
    "billed": {"wscrm_screening": 45000, "ekycpro": 120}, "billed_total": 45120,
    "unconfirmed": {"wscrm_screening": 1200}, "unconfirmed_total": 1200,
    "saved_by_cache": 45000, "requested": 91320,
    "budget": {"limit": 100000, "committed": 46320, "remaining": 53680}
}))]
pub struct UsageView {
    pub tenant: String,
    pub month: String,
    /// Numbers billed per provider.
    pub billed: BTreeMap<String, u64>,
    pub billed_total: u64,
    /// Numbers a provider may have billed although the gateway never saw the outcome (a timeout,
    /// an unreadable answer, a crash while submitting: sub-orders ending `unknown`). Not in
    /// `billed`; `billed_total + unconfirmed_total` is the most the vendors may charge.
    pub unconfirmed: BTreeMap<String, u64>,
    pub unconfirmed_total: u64,
    /// Numbers answered from the cache instead of being bought.
    pub saved_by_cache: u64,
    /// Valid numbers asked for.
    pub requested: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetView>,
}

/// Problem examples of these routes.
pub mod examples {
    use serde_json::{Value, json};

    fn problem(code: &str, status: u16, title: &str, detail: &str) -> Value {
        json!({
            "type": format!("urn:wa-gateway:problem:{code}"),
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            "request_id": "0192f0a4-6f7c-7a39-9b1e-2b7c8f1f4d21"
        })
    }

    pub fn invalid_numbers() -> Value {
        let mut v = problem(
            "validation_failed",
            422,
            "The request is not valid",
            "`numbers[1]`: not_a_number",
        );
        v["errors"] = json!([{"field": "numbers[1]", "code": "not_a_number", "message": "`12ab` is not a phone number (not_a_number)"}]);
        v
    }

    pub fn too_large() -> Value {
        problem(
            "payload_too_large",
            413,
            "The request body is too large",
            "the body exceeds 33554432 bytes",
        )
    }

    pub fn budget_exceeded() -> Value {
        let mut v = problem(
            "budget_exceeded",
            402,
            "The tenant's budget does not cover this request",
            "this job would bill 1500 numbers; 1000 remain in this month's budget",
        );
        v["remaining_budget"] = json!(1000);
        v
    }

    pub fn not_found() -> Value {
        problem(
            "not_found",
            404,
            "The resource does not exist",
            "number-check job not found",
        )
    }

    pub fn invalid_query(detail: &str) -> Value {
        problem(
            "invalid_query",
            400,
            "The query string is not valid",
            detail,
        )
    }

    pub fn vendor_unavailable() -> Value {
        let mut value = problem(
            "vendor_unavailable",
            503,
            "The vendor is unavailable",
            "accuauth is failing; the gateway is not calling it for 42 s",
        );
        value["provider"] = json!("accuauth");
        value["retry_after"] = json!(42);
        value
    }

    pub fn vendor_unavailable_bulk() -> Value {
        let mut value = problem(
            "vendor_unavailable",
            503,
            "The vendor is unavailable",
            "wscrm_screening is failing; the gateway is not calling it for 42 s",
        );
        value["provider"] = json!("wscrm_screening");
        value["retry_after"] = json!(42);
        value
    }

    pub fn vendor_auth_failed() -> Value {
        let mut value = problem(
            "vendor_auth_failed",
            502,
            "The gateway's vendor credentials were refused",
            "accuauth could not answer (vendor_auth_failed)",
        );
        value["provider"] = json!("accuauth");
        value
    }

    pub fn vendor_timeout() -> Value {
        problem(
            "vendor_timeout",
            504,
            "The vendor did not answer in time",
            "the provider is still working on this number; retry shortly",
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn provider_choices_keep_their_wire_names() {
        let choices = [
            (ProviderChoice::Auto, "auto"),
            (
                ProviderChoice::Named(providers::wscrm_screening::ID),
                "wscrm_screening",
            ),
            (ProviderChoice::Named(providers::ekycpro::ID), "ekycpro"),
        ];
        for (choice, text) in choices {
            assert_eq!(serde_json::to_value(choice).unwrap(), json!(text));
            let back: ProviderChoice = serde_json::from_value(json!(text)).unwrap();
            assert_eq!(back, choice);
        }
        // Only bulk vendors take a whole job; spellings are exact.
        for refused in ["accuauth", "nxcloud", "Ekycpro", "EKYCPRO", ""] {
            assert!(serde_json::from_value::<ProviderChoice>(json!(refused)).is_err());
        }
    }

    #[test]
    fn billed_by_provider_lists_vendors_in_registration_order() {
        let cost = Cost {
            numbers_billed: 3,
            numbers_from_cache: 0,
            billed_by_provider: BTreeMap::from([
                (providers::ekycpro::ID, 1),
                (providers::wscrm_screening::ID, 2),
            ]),
            numbers_unconfirmed: 0,
        };
        assert_eq!(
            serde_json::to_string(&cost).unwrap(),
            r#"{"numbers_billed":3,"numbers_from_cache":0,"billed_by_provider":{"wscrm_screening":2,"ekycpro":1},"numbers_unconfirmed":0}"#
        );
    }
}
