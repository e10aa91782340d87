//! What every handler can reach.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::TokenVerifier;
use crate::breaker::{Breakers, Policy};
use crate::config::{Config, ConfigError, ConfigIssue, vendor_section};
use crate::http::rate_limit::RateLimiter;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
    pub rate_limiter: RateLimiter,
    /// The one outbound HTTP client, with the configured timeouts.
    pub http: reqwest::Client,
    /// The configured vendor adapters.
    pub providers: Arc<providers::Registry>,
    /// One-number lookups counted in memory until the next flush.
    pub usage_tally: crate::number_checks::usage::Tally,
    /// The circuit breaker of every vendor, shared by all replicas through the store.
    pub breakers: Breakers,
    /// Vendor calls of number-check orders in flight on this replica, per provider.
    pub order_slots: crate::number_checks::slots::OrderSlots,
    pub result_slots: crate::number_checks::slots::ResultSlots,
}

impl AppState {
    pub fn new(config: Config, store: Store) -> anyhow::Result<Self> {
        let http = egress::tls::shared_roots(reqwest::Client::builder())
            .timeout(config.limits.outbound_timeout)
            .connect_timeout(Duration::from_secs(5).min(config.limits.outbound_timeout))
            .build()?;
        // Vendor calls never follow redirects: a redirect could carry credentials to another host.
        let vendor_http = providers::recommended_client(
            Duration::from_secs(5).min(config.limits.outbound_timeout),
            config.limits.outbound_timeout,
            http_workers(&config) * VENDOR_CALLS_PER_WORKER,
        )?;
        let providers = config.build_vendors(vendor_http).map_err(|e| {
            ConfigError::from(ConfigIssue::at(vendor_section(e.provider), e.message))
        })?;
        let breakers = breakers(&config, store.clone());
        let order_slots =
            crate::number_checks::slots::OrderSlots::new(&config.number_checks.order_concurrency);
        let result_slots = crate::number_checks::slots::ResultSlots::new(
            config.number_checks.result_files_in_flight,
        );
        let config = Arc::new(config);
        Ok(Self {
            breakers,
            order_slots,
            result_slots,
            providers: Arc::new(providers),
            verifier: Arc::new(TokenVerifier::from_config(&config, http.clone())),
            rate_limiter: RateLimiter::new(store.clone(), config.clone()),
            usage_tally: Default::default(),
            store,
            http,
            config,
        })
    }
}

/// Vendor calls one HTTP worker is expected to have in flight at once (it serves many requests
/// concurrently): the vendor client keeps this many idle connections per host and worker.
const VENDOR_CALLS_PER_WORKER: usize = 32;

/// The HTTP workers the server runs: `server.workers`, or one per CPU (actix-web's default).
fn http_workers(config: &Config) -> usize {
    if config.server.workers > 0 {
        config.server.workers
    } else {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    }
}

/// Number-check vendors follow `[number_checks]`, account vendors `[accounts]`.
fn breakers(config: &Config, store: Store) -> Breakers {
    let checks = Policy {
        failures: config.number_checks.circuit_failures,
        cooldown: config.number_checks.circuit_cooldown,
    };
    let accounts = Policy {
        failures: config.accounts.circuit_failures,
        cooldown: config.accounts.circuit_cooldown,
    };
    // The longest guarded operation is a one-number lookup asking again while the vendor works,
    // or a result download.
    let probe_ttl = longest_vendor_call(config)
        + crate::number_checks::intake::LOOKUP_DEADLINE
        + Duration::from_secs(5);
    providers::number_check_vendors().into_iter().fold(
        Breakers::new(store, probe_ttl)
            .with_policy(providers::wscrm_accounts::ID, accounts)
            .with_policy(providers::nxcloud::ID, accounts),
        |breakers, provider| breakers.with_policy(provider, checks),
    )
}

/// The longest one vendor call may take, from the configured timeouts.
fn longest_vendor_call(config: &Config) -> Duration {
    let vendors = &config.vendors;
    let calls = [
        vendors.wscrm.as_ref().map(|v| v.timeout_ms),
        vendors.ekycpro.as_ref().map(|v| v.timeout_ms),
        vendors.accuauth.as_ref().map(|v| v.timeout_ms),
        vendors.nxcloud.as_ref().map(|v| v.timeout_ms),
    ];
    let call = Duration::from_millis(calls.into_iter().flatten().max().unwrap_or(0));
    let download = vendors.download.connect_timeout() + vendors.download.timeout();
    call.max(download).max(config.limits.outbound_timeout)
}
