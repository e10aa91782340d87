//! Signed deliveries of events (Standard Webhooks), with retries on a durable schedule shared by
//! all replicas: the one outbound webhook path of the gateway. It serves two kinds of target:
//! subscriptions (every event of the types they want) and number-check job callbacks (the
//! `number_check.completed` event of one job, to the job's `callback_url`). Both are signed by
//! [`sign`], retried on `events.retry_schedule` and checked against their outbound URL policy at
//! every attempt, here and nowhere else.
//!
//! Each (event, target) pair is a delivery record `delivery:{id}` (a subscription's are also
//! listed in its log), scheduled in the sorted set `events:deliveries:due` (score = when it is
//! due, ms). Every replica claims due deliveries with `zclaim_due` (atomic: one claimer each) and
//! takes a per-delivery lease while sending, so an event reaches a subscription once even with
//! several replicas; a replica that dies mid-way leaves the delivery due again after the hold.

use std::time::{Duration, Instant};

use tracing::Instrument as _;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use domain::Event;
use egress::EgressClient;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;

use super::subscriptions::{self, StoredSubscription};
use crate::keys;
use crate::state::AppState;
use crate::store::StoreError;
use crate::workers::Shutdown;

/// Statuses after which a delivery is not retried.
pub const NON_RETRYABLE: [u16; 6] = [400, 401, 403, 404, 410, 422];
/// How many deliveries a subscription's log lists.
const LOG_LENGTH: i64 = 1000;
const CLAIM_BATCH: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or a retry.
    Pending,
    Delivered,
    /// Refused with a non-retryable status, or out of retries.
    Failed,
    /// The subscription was deleted.
    Cancelled,
}

/// One attempt at delivering.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The subscriber's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why the attempt failed without an answer (timeout, connection refused).
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// A delivery of one event to one subscription.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "dlv_01928f6b7c2d7e3a9b1c4d5e6f708193",
    "subscription_id": "sub_01928f6b7c2d7e3a9b1c4d5e6f708100",
    "event_id": "evt_01928f6b7c2d7e3a9b1c4d5e6f708192",
    "event_type": "registration.completed",
    "status": "delivered",
    "attempts": [
        {"at": "2025-06-01T08:30:00.200Z", "status_code": 503, "error": null, "duration_ms": 41},
        {"at": "2025-06-01T08:30:05.210Z", "status_code": 200, "error": null, "duration_ms": 38}
    ],
    "next_attempt_at": null,
    "created_at": "2025-06-01T08:30:00.130Z"
}))]
pub struct Delivery {
    pub id: String,
    pub subscription_id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Delivery {
    /// A delivery of `event` not attempted yet, due at `now`.
    fn pending(id: String, subscription_id: String, event: &Event, now: DateTime<Utc>) -> Self {
        Self {
            id,
            subscription_id,
            event_id: event.id.clone(),
            event_type: event.event_type.as_str().to_owned(),
            status: DeliveryStatus::Pending,
            attempts: Vec::new(),
            next_attempt_at: Some(now),
            created_at: now,
        }
    }
}

/// Where a delivery goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Target {
    /// The delivery's subscription: its URL and secret are read at each attempt, so a deleted
    /// subscription cancels what it had pending. Records written before targets existed are
    /// subscription deliveries.
    #[default]
    Subscription,
    /// A number-check job's `callback_url`, signed with the tenant's
    /// `number_checks.callback_secrets` entry and allowed by `number_checks.callback_allow`.
    JobCallback { job_id: String, url: String },
}

/// What is stored: the delivery and the exact body to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredDelivery {
    #[serde(flatten)]
    pub delivery: Delivery,
    pub tenant: String,
    pub event_time: DateTime<Utc>,
    pub body: String,
    #[serde(default)]
    pub target: Target,
}

impl StoredDelivery {
    fn pending(delivery: Delivery, event: &Event, body: String, target: Target) -> Self {
        Self {
            delivery,
            tenant: event.tenant.clone(),
            event_time: event.time,
            body,
            target,
        }
    }
}

fn millis(t: DateTime<Utc>) -> f64 {
    // Millisecond timestamps are exact in an f64 for the next 280,000 years.
    t.timestamp_millis() as f64
}

fn record_ttl(state: &AppState) -> Duration {
    state.config.events.retention + Duration::from_secs(24 * 3600)
}

/// Schedules the event for every subscription of its tenant that wants its type.
pub(crate) async fn enqueue(
    state: &AppState,
    event: &Event,
    body: &[u8],
) -> Result<(), StoreError> {
    let subs = subscriptions::list_stored(state, &event.tenant).await?;
    let body = String::from_utf8_lossy(body).into_owned();
    let now = Utc::now();
    for sub in subs.iter().filter(|s| s.wants(event.event_type)) {
        let id = format!("dlv_{}", uuid::Uuid::now_v7().simple());
        let stored = StoredDelivery::pending(
            Delivery::pending(id.clone(), sub.id.clone(), event, now),
            event,
            body.clone(),
            Target::Subscription,
        );
        save(state, &stored).await?;
        let log = keys::DeliveryLog::new(&sub.id);
        state.store.rpush(&log, &[id.clone().into_bytes()]).await?;
        state.store.ltrim(&log, -LOG_LENGTH, -1).await?;
        state
            .store
            .zadd(&keys::DueDeliveries::new(), &id, millis(now))
            .await?;
    }
    Ok(())
}

/// Schedules `event` (a job's `number_check.completed`) for the job's callback URL. One callback
/// per job: finishing a job again (a replica that stopped after publishing) adds no second one.
pub(crate) async fn enqueue_job_callback(
    state: &AppState,
    event: &Event,
    job_id: &str,
    url: &str,
) -> Result<(), StoreError> {
    let body =
        serde_json::to_string(event).map_err(|e| StoreError::invalid(format!("event: {e}")))?;
    let delivery = Delivery::pending(format!("dlv_cb_{job_id}"), String::new(), event, Utc::now());
    let target = Target::JobCallback {
        job_id: job_id.to_owned(),
        url: url.to_owned(),
    };
    schedule_once(
        state,
        &StoredDelivery::pending(delivery, event, body, target),
    )
    .await
}

/// Saves and schedules `stored` unless a delivery with its id exists already.
pub(super) async fn schedule_once(
    state: &AppState,
    stored: &StoredDelivery,
) -> Result<(), StoreError> {
    let bytes =
        serde_json::to_vec(stored).map_err(|e| StoreError::invalid(format!("delivery: {e}")))?;
    let id = &stored.delivery.id;
    if state
        .store
        .set_nx(
            &keys::DeliveryRecord::new(id),
            &bytes,
            Some(record_ttl(state)),
        )
        .await?
    {
        let due = stored
            .delivery
            .next_attempt_at
            .unwrap_or(stored.delivery.created_at);
        state
            .store
            .zadd(&keys::DueDeliveries::new(), id, millis(due))
            .await?;
    }
    Ok(())
}

async fn save(state: &AppState, stored: &StoredDelivery) -> Result<(), StoreError> {
    state
        .store
        .set_json(
            &keys::DeliveryRecord::new(&stored.delivery.id),
            stored,
            Some(record_ttl(state)),
        )
        .await
}

pub(crate) async fn load(state: &AppState, id: &str) -> Result<Option<StoredDelivery>, StoreError> {
    state.store.get_json(&keys::DeliveryRecord::new(id)).await
}

/// Makes a delivery due now (manual redelivery), whatever its status.
pub(crate) async fn redeliver(
    state: &AppState,
    mut stored: StoredDelivery,
) -> Result<Delivery, StoreError> {
    let now = Utc::now();
    stored.delivery.status = DeliveryStatus::Pending;
    stored.delivery.next_attempt_at = Some(now);
    save(state, &stored).await?;
    state
        .store
        .zadd(
            &keys::DueDeliveries::new(),
            &stored.delivery.id,
            millis(now),
        )
        .await?;
    Ok(stored.delivery)
}

/// Whether `secret` is a Standard Webhooks signing secret: `whsec_` + base64 of at least 16 bytes.
pub fn is_signing_secret(secret: &str) -> bool {
    secret
        .strip_prefix("whsec_")
        .and_then(|key| BASE64.decode(key).ok())
        .is_some_and(|key| key.len() >= 16)
}

/// The Standard Webhooks signature header value: `v1,<base64 HMAC-SHA256>` over
/// `{id}.{timestamp}.{body}`, keyed with the base64-decoded part of `whsec_...`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Some(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// One HTTP client per outbound URL policy: each target kind has its own allow-list.
struct Clients {
    subscriptions: EgressClient,
    callbacks: EgressClient,
}

impl Clients {
    fn new(state: &AppState) -> Result<Self, reqwest::Error> {
        let timeout = state.config.events.delivery_timeout;
        let client = |allow: &egress::AllowList| {
            EgressClient::new(egress::UrlPolicy::new(allow.clone()), |builder| {
                builder.timeout(timeout)
            })
        };
        Ok(Self {
            subscriptions: client(&state.config.events.subscription_allow)?,
            callbacks: client(&state.config.number_checks.callback_allow)?,
        })
    }
}

/// The delivery worker of this replica.
pub(crate) async fn run(state: AppState, mut shutdown: Shutdown) {
    let owner = format!("delivery-{}", uuid::Uuid::new_v4().simple());
    let clients = match Clients::new(&state) {
        Ok(clients) => clients,
        Err(error) => {
            tracing::error!(%error, "delivery worker cannot build its HTTP clients");
            return;
        }
    };
    if let Err(error) = super::legacy_callbacks::adopt(&state).await {
        tracing::warn!(%error, "callbacks queued by an earlier version not adopted yet; will retry at the next start");
    }
    let poll = state.config.events.delivery_poll_interval;
    loop {
        if shutdown.sleep(poll).await {
            return;
        }
        loop {
            let hold = state.config.events.delivery_claim_hold.as_millis() as f64;
            let claimed = match state
                .store
                .zclaim_due(
                    &keys::DueDeliveries::new(),
                    millis(Utc::now()),
                    hold,
                    CLAIM_BATCH,
                )
                .await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "claiming due deliveries failed");
                    break;
                }
            };
            let full = claimed.len() == CLAIM_BATCH;
            let attempts = claimed.iter().map(|id| {
                let span = crate::telemetry::traced_work(tracing::info_span!(
                    "event_delivery",
                    delivery = %id,
                    trace_id = tracing::field::Empty,
                ));
                attempt_one(&state, &clients, &owner, id).instrument(span)
            });
            for result in futures_util::future::join_all(attempts).await {
                if let Err(error) = result {
                    tracing::warn!(%error, "delivery attempt could not be recorded");
                }
            }
            if !full || shutdown.is_requested() {
                break;
            }
        }
    }
}

async fn attempt_one(
    state: &AppState,
    clients: &Clients,
    owner: &str,
    id: &str,
) -> Result<(), StoreError> {
    let lease = keys::DeliveryLease::new(id);
    let hold = state.config.events.delivery_claim_hold;
    if !state.store.lease_acquire(&lease, owner, hold).await? {
        return Ok(());
    }
    let result = attempt_leased(state, clients, id).await;
    let _ = state.store.lease_release(&lease, owner).await;
    result
}

async fn attempt_leased(state: &AppState, clients: &Clients, id: &str) -> Result<(), StoreError> {
    let Some(mut stored) = load(state, id).await? else {
        state.store.zrem(&keys::DueDeliveries::new(), id).await?;
        return Ok(());
    };
    if stored.delivery.status != DeliveryStatus::Pending {
        state.store.zrem(&keys::DueDeliveries::new(), id).await?;
        return Ok(());
    }
    let Some(destination) = destination(state, clients, &stored).await? else {
        stored.delivery.status = DeliveryStatus::Cancelled;
        stored.delivery.next_attempt_at = None;
        save(state, &stored).await?;
        state.store.zrem(&keys::DueDeliveries::new(), id).await?;
        metrics::counter!("event_deliveries_total", "outcome" => "cancelled").increment(1);
        return Ok(());
    };
    let started = Instant::now();
    let at = Utc::now();
    let response = send(&destination, &stored, at.timestamp()).await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (status_code, error, permanent) = match response {
        Ok(r) => (Some(r.status().as_u16()), None, false),
        Err(failure) => {
            if failure.permanent {
                tracing::warn!(delivery = %id, reason = %failure.message, "delivery not sent");
            }
            (None, Some(failure.message), failure.permanent)
        }
    };
    stored.delivery.attempts.push(Attempt {
        at,
        status_code,
        error,
        duration_ms,
    });
    let outcome = match status_code {
        Some(code) if (200..300).contains(&code) => {
            let lag = (Utc::now() - stored.event_time).num_milliseconds().max(0) as f64 / 1000.0;
            metrics::histogram!("event_delivery_lag_seconds").record(lag);
            DeliveryStatus::Delivered
        }
        Some(code) if NON_RETRYABLE.contains(&code) => DeliveryStatus::Failed,
        None if permanent => DeliveryStatus::Failed,
        _ => DeliveryStatus::Pending,
    };
    let delays = state.config.events.retry_delays();
    let retry_index = stored.delivery.attempts.len() - 1;
    let next = match (outcome, delays.get(retry_index)) {
        (DeliveryStatus::Pending, Some(delay)) => {
            Some(Utc::now() + chrono::TimeDelta::from_std(*delay).unwrap_or(chrono::TimeDelta::MAX))
        }
        _ => None,
    };
    stored.delivery.status = match (outcome, next) {
        (DeliveryStatus::Pending, None) => DeliveryStatus::Failed,
        (status, _) => status,
    };
    stored.delivery.next_attempt_at = next;
    save(state, &stored).await?;
    let label = match (stored.delivery.status, next) {
        (DeliveryStatus::Delivered, _) => "delivered",
        (DeliveryStatus::Pending, _) => "retry_scheduled",
        _ => "failed",
    };
    metrics::counter!("event_deliveries_total", "outcome" => label).increment(1);
    match next {
        Some(next) => {
            state
                .store
                .zadd(&keys::DueDeliveries::new(), id, millis(next))
                .await
        }
        None => state
            .store
            .zrem(&keys::DueDeliveries::new(), id)
            .await
            .map(|_| ()),
    }
}

/// Where one attempt goes, resolved at the attempt.
struct Destination<'a> {
    url: String,
    /// `None`: nothing to sign with, so nothing is sent (a permanent failure).
    secret: Option<String>,
    client: &'a EgressClient,
}

/// The URL, secret and policy of the delivery's target; `None` when the target is gone (a
/// deleted subscription).
async fn destination<'a>(
    state: &AppState,
    clients: &'a Clients,
    stored: &StoredDelivery,
) -> Result<Option<Destination<'a>>, StoreError> {
    Ok(match &stored.target {
        Target::Subscription => subscriptions::load(state, &stored.delivery.subscription_id)
            .await?
            .map(|sub: StoredSubscription| Destination {
                url: sub.url,
                secret: Some(sub.secret),
                client: &clients.subscriptions,
            }),
        Target::JobCallback { url, .. } => Some(Destination {
            url: url.clone(),
            secret: state
                .config
                .number_checks
                .callback_secrets
                .get(&stored.tenant)
                .map(|s| s.expose_secret().to_owned()),
            client: &clients.callbacks,
        }),
    })
}

/// One signed POST. The policy is applied again at every attempt: the allow-list may have
/// changed, and a name is resolved (and its addresses checked) only now.
async fn send(
    destination: &Destination<'_>,
    stored: &StoredDelivery,
    timestamp: i64,
) -> Result<reqwest::Response, Failure> {
    let event_id = &stored.delivery.event_id;
    let signature = destination
        .secret
        .as_deref()
        .and_then(|secret| sign(secret, event_id, timestamp, &stored.body))
        .ok_or_else(Failure::no_secret)?;
    let request = destination
        .client
        .request(reqwest::Method::POST, &destination.url)
        .map_err(|refusal| Failure::refused(&refusal))?;
    // Each attempt is a client span; the receiver gets its `traceparent`.
    let span = tracing::info_span!(
        target: crate::telemetry::SPAN_TARGET,
        "webhook_delivery",
        otel.name = %format_args!("POST {}", stored.delivery.event_type),
        otel.kind = "client",
        delivery = %stored.delivery.id,
    );
    request
        .headers(providers::trace_headers(&span))
        .header("content-type", "application/json")
        .header("user-agent", "wa-gateway-webhooks/1")
        .header("webhook-id", event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(stored.body.clone())
        .send()
        .instrument(span)
        .await
        .map_err(|e| Failure::of(&e))
}

/// Why an attempt got no answer, as recorded in the attempt.
struct Failure {
    message: String,
    /// Refused by the outbound URL policy for a reason a retry cannot change.
    permanent: bool,
}

impl Failure {
    fn no_secret() -> Self {
        Self {
            message: "no signing secret for this target".to_owned(),
            permanent: true,
        }
    }

    fn refused(refusal: &egress::Refusal) -> Self {
        Self {
            message: format!("url_not_allowed: {}", refusal.rule),
            permanent: !refusal.rule.is_transient(),
        }
    }

    fn of(error: &reqwest::Error) -> Self {
        if let Some(refusal) = egress::refusal_of(error) {
            return Self::refused(refusal);
        }
        let message = if error.is_timeout() {
            "timeout"
        } else if error.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        Self {
            message: message.to_owned(),
            permanent: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }
}
