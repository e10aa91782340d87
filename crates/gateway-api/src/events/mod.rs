//! Events: vendor webhooks in, normalised events out (feed, live stream, signed deliveries).
//!
//! - [`inbound`]: the five vendor webhooks, authenticated by a per-deployment secret, read
//!   tolerantly, de-duplicated and turned into [`DomainEvent`]s.
//! - [`ingest`] routes each event to the tenant owning its object ([`crate::ownership`]), keeps the
//!   latest state per object (a projection, see [`latest_state`]), and appends it to the tenant's
//!   stream; events about objects nobody owns go to an `unrouted` log.
//! - [`feed`]: `GET /v1/events` (cursor pages) and `GET /v1/events/stream` (SSE).
//! - [`subscriptions`] and [`delivery`]: signed deliveries to subscribed URLs, with retries.

pub mod delivery;
pub mod feed;
pub mod inbound;
mod legacy_callbacks;
pub mod subscriptions;

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::events::SubjectKind;
use domain::{DomainEvent, Event};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::keys;
use crate::ownership::{self, OwnedKind};
use crate::routes::Routes;
use crate::state::AppState;
use crate::store::{Store, StoreError};
use crate::workers::Workers;

/// Settings of the events capability (`[events]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// The secret the vendor sends in `webhook_secret_header`. Without one every webhook is refused.
    #[serde(serialize_with = "providers::redact::optional_secret")]
    pub webhook_secret: Option<SecretString>,
    /// Header carrying the webhook secret.
    pub webhook_secret_header: String,
    /// Extra path prefix under which the five webhook paths are also served (e.g. `/vendor`):
    /// the vendor's `baseURL` is then `https://gateway.example.com/vendor`. Empty: only the
    /// documented paths.
    pub webhook_base_path: String,
    /// Source IPs (or CIDR ranges) allowed to call the webhooks; empty = any.
    pub webhook_allowed_ips: Vec<String>,
    /// The vendor's time zone, seconds east of UTC (UTC+8).
    pub vendor_utc_offset_secs: i32,
    /// How long a vendor delivery is remembered to recognise it when sent again.
    #[serde(with = "humantime_serde")]
    pub dedupe_ttl: Duration,
    /// Events older than this are removed from the feed.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How often retention is applied.
    #[serde(with = "humantime_serde")]
    pub retention_interval: Duration,
    /// Upper bound of events kept per tenant stream, whatever their age.
    pub stream_max_len: usize,
    /// Where subscriptions may send events: outbound URL policy entries
    /// (`https://hooks.example.com/wa`, `https://*.hooks.example.com`, `http://10.0.0.5:8080/`).
    /// Empty: no subscriptions.
    pub subscription_allow: egress::AllowList,
    /// Delays before each retry of a failed delivery (the first attempt is immediate).
    pub retry_schedule: Vec<String>,
    /// How often each replica looks for due deliveries.
    #[serde(with = "humantime_serde")]
    pub delivery_poll_interval: Duration,
    /// Timeout of one delivery attempt.
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// How long a claimed delivery stays with its replica before another may take it.
    #[serde(with = "humantime_serde")]
    pub delivery_claim_hold: Duration,
    /// Comment lines sent on an idle event stream.
    #[serde(with = "humantime_serde")]
    pub sse_heartbeat: Duration,
    /// An event stream re-reads the store at least this often (appends on other replicas).
    #[serde(with = "humantime_serde")]
    pub sse_poll_interval: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            webhook_secret: None,
            webhook_secret_header: "X-Webhook-Secret".to_owned(),
            webhook_base_path: String::new(),
            webhook_allowed_ips: Vec::new(),
            vendor_utc_offset_secs: 8 * 3600,
            dedupe_ttl: Duration::from_secs(24 * 3600),
            retention: Duration::from_secs(7 * 24 * 3600),
            retention_interval: Duration::from_secs(60),
            stream_max_len: 100_000,
            subscription_allow: egress::AllowList::default(),
            retry_schedule: ["5s", "5m", "30m", "2h", "5h", "10h"]
                .map(str::to_owned)
                .to_vec(),
            delivery_poll_interval: Duration::from_secs(1),
            delivery_timeout: Duration::from_secs(10),
            delivery_claim_hold: Duration::from_secs(60),
            sse_heartbeat: Duration::from_secs(15),
            sse_poll_interval: Duration::from_secs(1),
        }
    }
}

impl EventsConfig {
    /// The retry delays, parsed.
    pub fn retry_delays(&self) -> Vec<Duration> {
        self.retry_schedule
            .iter()
            .filter_map(|d| humantime::parse_duration(d).ok())
            .collect()
    }

    /// Checks the section: every broken rule, each naming its key.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut issues = Vec::new();
        for d in &self.retry_schedule {
            if let Err(e) = humantime::parse_duration(d) {
                issues.push(("events.retry_schedule", format!("`{d}`: {e}")));
            }
        }
        if domain::UtcOffset::from_seconds(self.vendor_utc_offset_secs).is_none() {
            issues.push((
                "events.vendor_utc_offset_secs",
                "not a valid UTC offset".into(),
            ));
        }
        for ip in &self.webhook_allowed_ips {
            if inbound::IpRange::parse(ip).is_none() {
                issues.push((
                    "events.webhook_allowed_ips",
                    format!("`{ip}` is not an IP or CIDR"),
                ));
            }
        }
        let base = &self.webhook_base_path;
        if !base.is_empty() && (!base.starts_with('/') || base.ends_with('/')) {
            issues.push((
                "events.webhook_base_path",
                "starts with `/` and does not end with one (e.g. `/vendor`)".into(),
            ));
        }
        if self.delivery_poll_interval.is_zero() || self.sse_poll_interval.is_zero() {
            issues.push(("events", "poll intervals must be positive".into()));
        }
        if self.delivery_claim_hold <= self.delivery_timeout {
            issues.push((
                "events.delivery_claim_hold",
                "must be longer than delivery_timeout".into(),
            ));
        }
        issues
    }
}

pub fn configure(cfg: &mut Routes) {
    inbound::configure(cfg);
    feed::configure(cfg);
    subscriptions::configure(cfg);
}

/// Starts the background workers of this capability: deliveries and retention.
pub fn spawn_workers(state: &AppState, workers: &mut Workers) {
    if state.config.events.webhook_secret.is_none() {
        tracing::warn!("events.webhook_secret is not set: every vendor webhook will be refused");
    }
    workers.push(tokio::spawn(delivery::run(
        state.clone(),
        workers.shutdown_signal(),
    )));
    workers.push(tokio::spawn(retention_worker(
        state.clone(),
        workers.shutdown_signal(),
    )));
}

fn owned_kind(kind: SubjectKind) -> Option<OwnedKind> {
    match kind {
        SubjectKind::Account => Some(OwnedKind::Account),
        SubjectKind::Session => Some(OwnedKind::Session),
        SubjectKind::Registration => Some(OwnedKind::Registration),
        SubjectKind::ScanTask => Some(OwnedKind::ScanTask),
        SubjectKind::ChatAction => Some(OwnedKind::ChatAction),
        SubjectKind::NumberCheck => None,
    }
}

/// The latest known state of a vendor object, from the events about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"status": "completed", "reason": null, "updated_at": "2025-06-01T08:30:00Z", "event_type": "registration.completed"}))]
pub struct LatestState {
    /// Accounts: `online`, `offline`, `logging_in`, `logging_out`, `disconnected`, `banned`;
    /// registrations: `completed` / `failed`; sessions: `logged_in` / `login_failed`;
    /// scan tasks: the task status (`login_succeeded`, ...).
    pub status: String,
    /// Why, when the vendor said (`pairing_failed`, `network_error`, ...).
    pub reason: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// The event that set it.
    pub event_type: String,
}

/// The latest state of `id`, `None` when no event has been seen for it.
pub async fn latest_state(
    store: &Store,
    kind: OwnedKind,
    id: &str,
) -> Result<Option<LatestState>, StoreError> {
    store.load(&keys::Projection::of(kind, id)).await
}

async fn update_projection(
    state: &AppState,
    event: &DomainEvent,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let subject = event.subject();
    let Some(kind) = owned_kind(subject.kind) else {
        return Ok(());
    };
    let change = event.state_change();
    let latest = LatestState {
        status: change.status,
        reason: change.reason,
        updated_at: now,
        event_type: event.event_type().as_str().to_owned(),
    };
    state
        .store
        .save(&keys::Projection::of(kind, &subject.id), &latest)
        .await
}

/// The tenant an event about a vendor object belongs to: the owner of its subject, else of a
/// related object (the account of a session, the session of an account change).
async fn route(store: &Store, event: &DomainEvent) -> Result<Option<String>, StoreError> {
    let subject = event.subject();
    if let Some(kind) = owned_kind(subject.kind)
        && let Some(tenant) = ownership::owner(store, kind, &subject.id).await?
    {
        return Ok(Some(tenant));
    }
    let fallback = match event {
        DomainEvent::AccountStatusChanged(e) => {
            e.session_id.as_deref().map(|s| (OwnedKind::Session, s))
        }
        DomainEvent::SessionLoginSucceeded(e) | DomainEvent::SessionLoginFailed(e) => {
            e.account.as_deref().map(|a| (OwnedKind::Account, a))
        }
        DomainEvent::RegistrationCompleted(e) | DomainEvent::RegistrationFailed(e) => {
            Some((OwnedKind::Account, e.phone.as_str()))
        }
        _ => None,
    };
    match fallback {
        Some((kind, id)) if !id.is_empty() => ownership::owner(store, kind, id).await,
        _ => Ok(None),
    }
}

/// A new time-ordered event id.
pub(crate) fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

/// What [`ingest`] did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Stored in the tenant's stream.
    Routed { tenant: String, cursor: String },
    /// No tenant owns the object: kept in the unrouted log.
    Unrouted,
}

/// Records an event from the vendor: projection, then the owner's stream (or the unrouted log).
pub async fn ingest(state: &AppState, event: DomainEvent) -> Result<Ingested, StoreError> {
    let now = Utc::now();
    metrics::counter!("events_received_total", "type" => event.event_type().as_str()).increment(1);
    update_projection(state, &event, now).await?;
    match route(&state.store, &event).await? {
        Some(tenant) => {
            let (_, cursor) = append(state, &tenant, new_event_id(), &event, now).await?;
            Ok(Ingested::Routed { tenant, cursor })
        }
        None => {
            metrics::counter!("events_unrouted_total", "type" => event.event_type().as_str())
                .increment(1);
            let stored = Event::new(new_event_id(), now, String::new(), &event);
            let bytes = serde_json::to_vec(&stored)
                .map_err(|e| StoreError::invalid(format!("event: {e}")))?;
            state
                .store
                .stream_append(
                    &keys::UnroutedEvents::new(),
                    &bytes,
                    state.config.events.stream_max_len,
                )
                .await?;
            Ok(Ingested::Unrouted)
        }
    }
}

/// Publishes an event of the gateway's own (e.g. `number_check.completed`,
/// `chat_action.completed`) to `tenant`: feed, stream and subscriptions, like vendor events.
/// Returns the stored event and its cursor.
pub async fn publish(
    state: &AppState,
    tenant: &str,
    event: DomainEvent,
) -> Result<(Event, String), StoreError> {
    publish_as(state, tenant, new_event_id(), event).await
}

/// [`publish`] under an id chosen before: an event that may have to be published again after
/// a failure keeps its id, so consumers can tell the repeat.
pub async fn publish_as(
    state: &AppState,
    tenant: &str,
    id: String,
    event: DomainEvent,
) -> Result<(Event, String), StoreError> {
    let now = Utc::now();
    metrics::counter!("events_received_total", "type" => event.event_type().as_str()).increment(1);
    update_projection(state, &event, now).await?;
    append(state, tenant, id, &event, now).await
}

async fn append(
    state: &AppState,
    tenant: &str,
    id: String,
    event: &DomainEvent,
    now: DateTime<Utc>,
) -> Result<(Event, String), StoreError> {
    let stored = Event::new(id, now, tenant.to_owned(), event);
    let bytes =
        serde_json::to_vec(&stored).map_err(|e| StoreError::invalid(format!("event: {e}")))?;
    let cursor = state
        .store
        .stream_append(
            &keys::TenantEvents::new(tenant),
            &bytes,
            state.config.events.stream_max_len,
        )
        .await?;
    state
        .store
        .hset(
            &keys::EventTenants::new(),
            &[(tenant.to_owned(), b"1".to_vec())],
        )
        .await?;
    delivery::enqueue(state, &stored, &bytes).await?;
    Ok((stored, cursor))
}

/// Removes events older than the retention from every stream, each `retention_interval`.
async fn retention_worker(state: AppState, mut shutdown: crate::workers::Shutdown) {
    let config = &state.config.events;
    loop {
        if let Err(error) = apply_retention(&state).await {
            tracing::warn!(%error, "event retention failed; will retry");
        }
        if shutdown.sleep(config.retention_interval).await {
            return;
        }
    }
}

/// One retention pass; returns how many events were removed.
pub async fn apply_retention(state: &AppState) -> Result<u64, StoreError> {
    let retention = chrono::TimeDelta::from_std(state.config.events.retention)
        .unwrap_or(chrono::TimeDelta::MAX);
    let cutoff = Utc::now()
        .checked_sub_signed(retention)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let min_ms = u64::try_from(cutoff.timestamp_millis()).unwrap_or(0);
    let mut removed = state
        .store
        .stream_trim_before(&keys::UnroutedEvents::new(), min_ms)
        .await?;
    for (tenant, _) in state.store.hgetall(&keys::EventTenants::new()).await? {
        removed += state
            .store
            .stream_trim_before(&keys::TenantEvents::new(&tenant), min_ms)
            .await?;
    }
    Ok(removed)
}
