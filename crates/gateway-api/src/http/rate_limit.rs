//! Per-tenant rate limits per route class, counted in the store so every replica shares them.
//!
//! Fixed windows: cheap (one INCR per request), exact across replicas, and the `RateLimit`
//! headers tell the client precisely when the window resets.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

use crate::config::Config;
use crate::error::ApiError;
use crate::keys;
use crate::store::Store;

/// The outcome of counting one request.
#[derive(Debug, Clone)]
pub struct RateDecision {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window resets.
    pub reset: u64,
    pub window: u64,
    /// Set when the request is over the limit.
    pub retry_after: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct RateLimiter {
    store: Store,
    config: Arc<Config>,
}

impl RateLimiter {
    pub fn new(store: Store, config: Arc<Config>) -> Self {
        Self { store, config }
    }

    pub async fn check(&self, tenant: &str, class: &str) -> Result<RateDecision, ApiError> {
        let limit = self.config.rate_limit_for(class);
        let window_ms = u64::try_from(limit.per.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let window = now_ms / window_ms;
        let key = keys::RateWindow::new(class, tenant, window);
        let count = self
            .store
            .incr(&key, 1, Some(limit.per + std::time::Duration::from_secs(1)))
            .await?;
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        let reset = ((window + 1) * window_ms - now_ms).div_ceil(1000).max(1);
        Ok(RateDecision {
            limit: limit.requests,
            remaining: limit.requests.saturating_sub(count),
            reset,
            window: window_ms.div_ceil(1000),
            retry_after: (count > limit.requests).then_some(reset),
        })
    }
}

/// Adds `RateLimit-*` headers to responses of rate-limited routes.
pub async fn rate_limit_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    let decision = res.request().extensions().get::<RateDecision>().cloned();
    if let Some(decision) = decision {
        let headers = res.headers_mut();
        let mut put = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        put("ratelimit-limit", decision.limit.to_string());
        put("ratelimit-remaining", decision.remaining.to_string());
        put("ratelimit-reset", decision.reset.to_string());
        put(
            "ratelimit-policy",
            format!("{};w={}", decision.limit, decision.window),
        );
    }
    Ok(res)
}
