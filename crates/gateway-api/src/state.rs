//! What every handler can reach.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::TokenVerifier;
use crate::config::Config;
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
}

impl AppState {
    pub fn new(config: Config, store: Store) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.limits.outbound_timeout)
            .connect_timeout(Duration::from_secs(5).min(config.limits.outbound_timeout))
            .build()?;
        // Vendor calls never follow redirects: a redirect could carry credentials to another host.
        let vendor_http = providers::recommended_client(
            Duration::from_secs(5).min(config.limits.outbound_timeout),
            config.limits.outbound_timeout,
        )?;
        let providers = providers::build_number_checkers(&config.vendors, vendor_http)
            .map_err(|e| anyhow::anyhow!("configuration key `vendors`: {e}"))?;
        let config = Arc::new(config);
        Ok(Self {
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
