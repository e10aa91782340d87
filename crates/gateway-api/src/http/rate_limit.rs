//! Per-tenant rate limits per route class, in fixed windows.
//!
//! Fixed windows are cheap and the `RateLimit` headers tell the client precisely when the window
//! resets. Two ways to count (`limits.mode`):
//!
//! - `exact` (default): one INCR per request in the store, so every replica shares one count. A
//!   request that also reads the store first (a cached lookup) sends its INCR and its read in one
//!   pipeline: one round trip for both.
//! - `local`: each replica counts in process and, every `limits.sync_interval`, adds what it
//!   counted to the store and reads the total back (Kong's `sync_rate`). No store command per
//!   request; between syncs a replica does not see the others' requests, so a tenant may exceed
//!   its limit by up to replicas × rate × interval.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

use crate::config::{Config, RateLimitMode};
use crate::error::ApiError;
use crate::keys;
use crate::state::AppState;
use crate::store::Store;
use crate::workers::Workers;

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
    /// The in-process counts of `local` mode; `None` in `exact` mode.
    local: Option<Arc<LocalCounts>>,
}

/// What a request reads from the store along with its rate-limit count.
#[derive(Debug, Clone, Copy)]
pub enum StoreRead<'a> {
    /// Values of `fields` in the hash `hash` (`None` for absent ones).
    Fields { hash: &'a str, fields: &'a [String] },
    /// Plain values of `keys` (`None` for absent ones).
    Keys(&'a [String]),
}

impl RateLimiter {
    pub fn new(store: Store, config: Arc<Config>) -> Self {
        let local = (config.limits.mode == RateLimitMode::Local).then(Arc::default);
        Self {
            store,
            config,
            local,
        }
    }

    /// Counts one request of `tenant` on a route of `class`.
    pub async fn check(&self, tenant: &str, class: &str) -> Result<RateDecision, ApiError> {
        let window = Window::now(&self.config, tenant, class);
        let count = match &self.local {
            Some(local) => local.count(&window),
            None => counted(
                self.store
                    .incr(&window.key, 1, Some(window.key_ttl()))
                    .await?,
            ),
        };
        Ok(window.decide(count))
    }

    /// [`RateLimiter::check`], and `read`, in the same store round trip (`exact` mode) or after
    /// the in-process count (`local` mode). The read is empty when the request is over the limit
    /// in `local` mode (it was not needed).
    pub async fn check_reading(
        &self,
        tenant: &str,
        class: &str,
        read: StoreRead<'_>,
    ) -> Result<(RateDecision, Vec<Option<Vec<u8>>>), ApiError> {
        let window = Window::now(&self.config, tenant, class);
        let Some(local) = &self.local else {
            let ttl = Some(window.key_ttl());
            let (count, values) = match read {
                StoreRead::Fields { hash, fields } => {
                    self.store
                        .incr_then_hmget(&window.key, 1, ttl, hash, fields)
                        .await?
                }
                StoreRead::Keys(keys) => {
                    self.store.incr_then_mget(&window.key, 1, ttl, keys).await?
                }
            };
            return Ok((window.decide(counted(count)), values));
        };
        let decision = window.decide(local.count(&window));
        if decision.retry_after.is_some() {
            return Ok((decision, Vec::new()));
        }
        let values = match read {
            StoreRead::Fields { hash, fields } => self
                .store
                .hmget_many(std::slice::from_ref(&hash.to_owned()), fields)
                .await?
                .pop()
                .unwrap_or_default(),
            StoreRead::Keys(keys) => self.store.mget(keys).await?,
        };
        Ok((decision, values))
    }

    /// Adds the in-process counts to the store and takes the totals back (`local` mode; nothing
    /// to do in `exact` mode).
    pub async fn sync(&self) {
        if let Some(local) = &self.local {
            local.sync(&self.store).await;
        }
    }
}

fn counted(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}

/// The current window of one (class, tenant).
struct Window {
    key: String,
    requests: u64,
    per: Duration,
    window_ms: u64,
    now_ms: u64,
    index: u64,
}

impl Window {
    fn now(config: &Config, tenant: &str, class: &str) -> Window {
        let limit = config.rate_limit_for(class);
        let window_ms = u64::try_from(limit.per.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let index = now_ms / window_ms;
        Window {
            key: keys::RateWindow::new(class, tenant, index).into(),
            requests: limit.requests,
            per: limit.per,
            window_ms,
            now_ms,
            index,
        }
    }

    /// The counter outlives its window a little, so a late request of the window still finds it.
    fn key_ttl(&self) -> Duration {
        self.per + Duration::from_secs(1)
    }

    fn ends_at_ms(&self) -> u64 {
        (self.index + 1).saturating_mul(self.window_ms)
    }

    fn decide(&self, count: u64) -> RateDecision {
        let reset = (self.ends_at_ms() - self.now_ms).div_ceil(1000).max(1);
        RateDecision {
            limit: self.requests,
            remaining: self.requests.saturating_sub(count),
            reset,
            window: self.window_ms.div_ceil(1000),
            retry_after: (count > self.requests).then_some(reset),
        }
    }
}

/// `local` mode: the count of each live window of this replica.
#[derive(Debug, Default)]
struct LocalCounts {
    windows: Mutex<HashMap<String, LocalWindow>>,
}

#[derive(Debug)]
struct LocalWindow {
    /// The store's total at the last sync (every replica's requests synced by then).
    synced_total: u64,
    /// This replica's requests since its last sync.
    pending: u64,
    ends_at_ms: u64,
    key_ttl: Duration,
}

impl LocalCounts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LocalWindow>> {
        self.windows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one request in process; returns the window's count as this replica knows it.
    fn count(&self, window: &Window) -> u64 {
        let mut windows = self.lock();
        if let Some(counts) = windows.get_mut(&window.key) {
            counts.pending += 1;
            return counts.synced_total + counts.pending;
        }
        windows.insert(
            window.key.clone(),
            LocalWindow {
                synced_total: 0,
                pending: 1,
                ends_at_ms: window.ends_at_ms(),
                key_ttl: window.key_ttl(),
            },
        );
        1
    }

    /// Adds each window's pending count to the store (INCRBY, with the window's TTL) and keeps
    /// the total it answers; a window that failed keeps its pending count for the next sync.
    /// Ended windows go once synced.
    async fn sync(&self, store: &Store) {
        let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let due: Vec<(String, u64, Duration)> = self
            .lock()
            .iter()
            .filter(|(_, counts)| counts.ends_at_ms > now_ms || counts.pending > 0)
            .map(|(key, counts)| (key.clone(), counts.pending, counts.key_ttl))
            .collect();
        // Sent together: the shared connection pipelines them.
        let totals = futures_util::future::join_all(due.iter().map(|(key, pending, ttl)| {
            store.incr(key, i64::try_from(*pending).unwrap_or(i64::MAX), Some(*ttl))
        }))
        .await;
        let mut windows = self.lock();
        for ((key, pushed, _), total) in due.iter().zip(totals) {
            match (windows.get_mut(key), total) {
                (Some(counts), Ok(total)) => {
                    counts.pending -= pushed;
                    counts.synced_total = counted(total);
                }
                (_, Err(e)) => {
                    tracing::debug!(error = %e, "rate-limit counts not synced; trying again later");
                }
                (None, Ok(_)) => {}
            }
        }
        // A window that ended is kept only while it has counts to push, and not beyond its key.
        windows.retain(|_, counts| {
            let key_gone = counts.ends_at_ms.saturating_add(millis(counts.key_ttl)) <= now_ms;
            counts.ends_at_ms > now_ms || (counts.pending > 0 && !key_gone)
        });
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// In `local` mode, syncs the counts every `limits.sync_interval`, and once more at shutdown.
pub fn spawn_sync(state: &AppState, workers: &mut Workers) {
    if state.config.limits.mode != RateLimitMode::Local {
        return;
    }
    let limiter = state.rate_limiter.clone();
    let every = state.config.limits.sync_interval;
    let mut shutdown = workers.shutdown_signal();
    workers.push(tokio::spawn(async move {
        loop {
            let stopping = shutdown.sleep(every).await;
            limiter.sync().await;
            if stopping {
                return;
            }
        }
    }));
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
