//! Number checks: one API over the screening, ekycpro and accuauth vendors.
//!
//! - [`routes`]: thin handlers, the only module that knows HTTP (it turns the service's errors
//!   into problems); [`model`]: API types; [`intake`]: accepting a job, step by step.
//! - [`planner`]: pure routing and splitting into vendor orders.
//! - [`cache`]: answers per number, each check with its provider and check time;
//!   [`claims`]: who is buying which answers right now, so nobody buys them twice.
//! - [`jobs`]: persisted jobs, sub-orders and result lists; [`worker`]: the background loop
//!   that submits, polls and downloads.
//! - [`pool`]: groups below a vendor's minimum pooled across callers into one order.
//! - [`usage`]: spend ledger and monthly budgets. Every vendor call goes through the vendor's
//!   circuit breaker ([`crate::breaker`]).

pub mod cache;
pub mod claims;
pub mod intake;
pub mod jobs;
pub mod model;
pub mod planner;
pub mod pool;
pub mod routes;
pub mod slots;
mod spread;
pub mod usage;
pub mod worker;

#[cfg(test)]
mod service_boundary;

use std::collections::BTreeMap;
use std::time::Duration;

use domain::ProviderId;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::state::AppState;
use crate::workers::Workers;

/// Who shares cached answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheScope {
    /// One cache for every tenant: a number checked for one tenant is not paid for again by another.
    #[default]
    Shared,
    /// Each tenant has its own cache.
    PerTenant,
}

/// Settings of the number-check capability (`[number_checks]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumberChecksConfig {
    /// Default freshness: an answer younger than this is served from cache, not bought again.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// How long cached answers are kept at all.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    pub cache_scope: CacheScope,
    /// Also read the cache entries of releases that wrote one key per (number, check). Set it
    /// when upgrading from such a release, until `cache_ttl` has passed (their entries have
    /// expired by then); without it those numbers are bought once more. Off: a lookup reads one
    /// entry per number, not one more key per (number, check) missing from it.
    pub legacy_cache_reads: bool,
    /// Largest batch accepted by `POST /v1/number-checks`.
    pub max_numbers: usize,
    /// Provider preference for `provider: auto`; earlier entries are tried first.
    pub routing: Vec<ProviderId>,
    /// How often the worker looks for due jobs.
    #[serde(with = "humantime_serde")]
    pub worker_interval: Duration,
    /// Lease on a job while a replica works on it; renewed while working.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// First wait before polling a submitted vendor order; doubles up to `poll_max`.
    #[serde(with = "humantime_serde")]
    pub poll_initial: Duration,
    #[serde(with = "humantime_serde")]
    pub poll_max: Duration,
    /// Vendor calls of number-check orders (submit, poll, result download) one replica has in
    /// flight at once, per provider: `default` for every provider, or a provider id's own limit
    /// (`order_concurrency = { default = 4, ekycpro = 2 }`). A job's orders are sent, polled and
    /// downloaded concurrently up to this limit, which holds across every job of the replica.
    /// The vendors state no rate limits; the default is modest so a large job does not look
    /// like a burst to them.
    pub order_concurrency: OrderConcurrency,
    /// Result files one replica holds at once, across providers and jobs: from the start of the
    /// download until its answers are written. A parsed file of 20,000 numbers takes tens of MB
    /// until written, and the writes are slower than the downloads, so without this bound a
    /// large job's files pile up in memory (about 1 GB for 50 files). Three keep a file
    /// downloading and parsing while two are written. Orders are still polled up to
    /// `order_concurrency`; a finished order waits here for its turn to be downloaded.
    pub result_files_in_flight: usize,
    /// Consecutive failed polls after which a sub-order fails.
    pub max_poll_errors: u32,
    /// Attempts at downloading and reading a finished order's result file (truncated, garbled
    /// or failed transfers are tried again, each after re-asking the vendor for the file's
    /// location, with the poll back-off in between) before the sub-order fails with
    /// `result_download_failed`. The vendor has billed the order by then, so giving up early
    /// loses paid answers.
    pub download_max_attempts: u32,
    /// Consecutive failures (unavailable, timeout) of a number-check vendor that open its circuit.
    pub circuit_failures: u32,
    /// How long an open circuit keeps a vendor out of routing and refuses calls to it, before
    /// one probe call goes through.
    #[serde(with = "humantime_serde")]
    pub circuit_cooldown: Duration,
    /// Where job callbacks may go: outbound URL policy entries (`https://hooks.example.com/wa`,
    /// `https://*.hooks.example.com`, `http://10.0.0.5:8080/`). Empty: no callbacks.
    pub callback_allow: egress::AllowList,
    /// Callback signing secret per tenant, `whsec_<base64>` as Standard Webhooks (the format of
    /// subscription secrets). Callbacks are deliveries of the job's `number_check.completed`
    /// event, retried on `events.retry_schedule`.
    #[serde(serialize_with = "providers::redact::secret_values")]
    pub callback_secrets: BTreeMap<String, SecretString>,
    /// Monthly budget of billed numbers per tenant; tenants not listed are unlimited.
    pub budgets: BTreeMap<String, u64>,
    /// How long jobs and their results are kept.
    #[serde(with = "humantime_serde")]
    pub job_ttl: Duration,
    /// How long a group below a vendor's minimum (fewer than 500 numbers of one region for
    /// screening) waits to be pooled with other callers' numbers into one order, before it
    /// goes to the fallback provider; a request's `max_wait` shortens it. `0`: never wait.
    #[serde(with = "humantime_serde")]
    pub batch_window: Duration,
}

impl Default for NumberChecksConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(30 * 24 * 3600),
            cache_ttl: Duration::from_secs(90 * 24 * 3600),
            cache_scope: CacheScope::Shared,
            legacy_cache_reads: false,
            max_numbers: 1_000_000,
            routing: providers::bulk_vendors(),
            worker_interval: Duration::from_secs(1),
            lease_ttl: Duration::from_secs(30),
            poll_initial: Duration::from_secs(2),
            poll_max: Duration::from_secs(60),
            order_concurrency: OrderConcurrency::default(),
            result_files_in_flight: 3,
            max_poll_errors: 10,
            download_max_attempts: 6,
            circuit_failures: 5,
            circuit_cooldown: Duration::from_secs(60),
            callback_allow: egress::AllowList::default(),
            callback_secrets: BTreeMap::new(),
            budgets: BTreeMap::new(),
            job_ttl: Duration::from_secs(30 * 24 * 3600),
            batch_window: Duration::ZERO,
        }
    }
}

/// How many order calls a replica has in flight at once, per number-check provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct OrderConcurrency {
    /// The limit of every provider not named.
    pub default: usize,
    /// Limits of single providers, by provider id (`wscrm_screening`, `ekycpro`, `accuauth`).
    #[serde(flatten)]
    pub providers: BTreeMap<ProviderId, usize>,
}

impl Default for OrderConcurrency {
    fn default() -> Self {
        Self {
            default: 4,
            providers: BTreeMap::new(),
        }
    }
}

impl OrderConcurrency {
    /// The limit for `provider`.
    pub fn limit(&self, provider: ProviderId) -> usize {
        self.providers
            .get(&provider)
            .copied()
            .unwrap_or(self.default)
    }

    fn validate(&self) -> Result<(), String> {
        if self.default == 0 {
            return Err("`default` must be at least 1".into());
        }
        if let Some(unknown) = self
            .providers
            .keys()
            .find(|id| providers::vendor(**id).is_none())
        {
            return Err(format!("`{unknown}` is not a known provider"));
        }
        match self.providers.iter().find(|(_, limit)| **limit == 0) {
            Some((provider, _)) => Err(format!("`{provider}` must be at least 1")),
            None => Ok(()),
        }
    }
}

impl NumberChecksConfig {
    /// Checks the section; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.order_concurrency
            .validate()
            .map_err(|e| ("number_checks.order_concurrency", e))?;
        if self.result_files_in_flight == 0 {
            return Err((
                "number_checks.result_files_in_flight",
                "must be at least 1".into(),
            ));
        }
        if let Some(unknown) = self
            .routing
            .iter()
            .find(|id| providers::vendor(**id).is_none())
        {
            return Err((
                "number_checks.routing",
                format!("`{unknown}` is not a known provider"),
            ));
        }
        for (tenant, secret) in &self.callback_secrets {
            if !crate::events::delivery::is_signing_secret(secret.expose_secret()) {
                return Err((
                    "number_checks.callback_secrets",
                    format!(
                        "`{tenant}`: must be `whsec_` followed by a base64 key of at least 16 bytes"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Starts the background workers of this capability.
pub fn spawn_workers(state: &AppState, workers: &mut Workers) {
    worker::spawn(state, workers);
    let mut shutdown = workers.shutdown_signal();
    let state = state.clone();
    workers.push(tokio::spawn(async move {
        while !shutdown.sleep(Duration::from_secs(1)).await {
            if let Err(e) = state.usage_tally.flush(&state.store).await {
                tracing::warn!(error = %e, "usage counters not written yet; kept for the next try");
            }
        }
    }));
}

#[cfg(test)]
mod order_concurrency_tests {
    use serde_json::{Value, json};

    use crate::config::{Config, ConfigError};

    fn with_limits(limits: Value) -> Result<Config, ConfigError> {
        Config::with_overrides(json!({
            "auth": {"allow_dev_secret": true},
            "number_checks": {"order_concurrency": limits}
        }))
    }

    #[test]
    fn a_limit_below_one_or_of_no_provider_is_refused_naming_the_key() {
        for limits in [
            json!({"default": 0}),
            json!({"ekycpro": 0}),
            json!({"no_such_vendor": 2}),
        ] {
            let err = with_limits(limits.clone()).expect_err("refused");
            let text = err.to_string();
            assert!(
                text.contains("number_checks.order_concurrency"),
                "{limits}: {err}"
            );
        }
        let ok = with_limits(json!({"wscrm_screening": 2})).expect("valid");
        let limits = &ok.number_checks.order_concurrency;
        assert_eq!(limits.limit(providers::wscrm_screening::ID), 2);
        assert_eq!(limits.limit(providers::ekycpro::ID), limits.default);
    }
}
