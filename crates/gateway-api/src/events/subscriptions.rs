//! Subscriptions: URLs that receive a tenant's events, signed per Standard Webhooks.

// `ApiError` is the one error type of every route; its helpers return it once per request.
#![allow(clippy::result_large_err)]

use actix_web::{HttpResponse, delete, get, post, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use domain::EventType;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::delivery::{self, Delivery};
use crate::auth::{Auth, scope};
use crate::error::ApiError;
use crate::http::owned::Owned;
use crate::http::page::{Order, Page, PageRequest, page_by_key};
use crate::keys;
use crate::ownership::TenantRecord;
use crate::routes::Routes;
use crate::state::AppState;
use crate::store::StoreError;

pub fn configure(cfg: &mut Routes) {
    cfg.service(create_subscription)
        .service(list_subscriptions)
        .service(delete_subscription)
        .service(list_deliveries)
        .service(retry_delivery);
}

const MAX_PER_TENANT: usize = 100;

/// What is stored. The secret is kept to sign deliveries and never shown after creation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSubscription {
    pub id: String,
    pub tenant: String,
    pub url: String,
    /// Empty: every type.
    pub event_types: Vec<EventType>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub secret: String,
}

impl StoredSubscription {
    pub fn wants(&self, event_type: EventType) -> bool {
        self.event_types.is_empty() || self.event_types.contains(&event_type)
    }

    fn view(&self) -> Subscription {
        Subscription {
            id: self.id.clone(),
            url: self.url.clone(),
            event_types: self.event_types.clone(),
            description: self.description.clone(),
            created_at: self.created_at,
        }
    }
}

/// A subscription, as listed (without its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "sub_01928f6b7c2d7e3a9b1c4d5e6f708100",
    "url": "https://hooks.example.com/wa-events",
    "event_types": ["registration.completed", "registration.failed"],
    "description": "CRM sync",
    "created_at": "2025-06-01T08:00:00Z"
}))]
pub struct Subscription {
    pub id: String,
    pub url: String,
    /// The event types delivered; empty means all.
    pub event_types: Vec<EventType>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A new subscription with its signing secret, shown only in this answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "sub_01928f6b7c2d7e3a9b1c4d5e6f708100",
    "url": "https://hooks.example.com/wa-events",
    "event_types": ["registration.completed"],
    "description": null,
    "created_at": "2025-06-01T08:00:00Z",
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
}))]
pub struct SubscriptionCreated {
    #[serde(flatten)]
    pub subscription: Subscription,
    /// `whsec_` + base64 key: verify `webhook-signature` with it. Not retrievable later.
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.com/wa-events", "event_types": ["registration.completed"]}))]
pub struct CreateSubscription {
    /// An http(s) URL the deployment's `events.subscription_allow` list allows (no user info;
    /// a host that is or resolves to a non-public address only if the list names it).
    pub url: String,
    /// Event types to deliver; absent or empty = all.
    #[serde(default)]
    pub event_types: Vec<EventType>,
    pub description: Option<String>,
}

pub(crate) async fn load(
    state: &AppState,
    id: &str,
) -> Result<Option<StoredSubscription>, StoreError> {
    state.store.load(&keys::SubscriptionRecord::new(id)).await
}

/// The tenant's subscriptions, oldest first.
pub(crate) async fn list_stored(
    state: &AppState,
    tenant: &str,
) -> Result<Vec<StoredSubscription>, StoreError> {
    let ids = state
        .store
        .zrange_by_score(
            &keys::TenantSubscriptions::new(tenant),
            f64::NEG_INFINITY,
            f64::INFINITY,
            0,
            MAX_PER_TENANT,
        )
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = ids
        .iter()
        .map(|(id, _)| keys::SubscriptionRecord::new(id).into())
        .collect();
    Ok(state
        .store
        .mget(&keys)
        .await?
        .into_iter()
        .flatten()
        .filter_map(|bytes| serde_json::from_slice::<StoredSubscription>(&bytes).ok())
        .filter(|s| s.tenant == tenant)
        .collect())
}

impl TenantRecord for StoredSubscription {
    const WHAT: &'static str = "subscription";

    async fn load_for(state: &AppState, tenant: &str, id: &str) -> Result<Option<Self>, ApiError> {
        Ok(load(state, id).await?.filter(|sub| sub.tenant == tenant))
    }
}

fn new_secret() -> String {
    let mut key = [0u8; 24];
    rand::rng().fill_bytes(&mut key);
    format!("whsec_{}", BASE64.encode(key))
}

/// The outbound URL policy of subscriptions, applied when one is created (and again by the
/// delivery worker's client at each attempt).
async fn check_url(state: &AppState, url: &str) -> Result<(), ApiError> {
    egress::UrlPolicy::new(state.config.events.subscription_allow.clone())
        .check(url)
        .await
        .map(drop)
        .map_err(|refusal| ApiError::url_refused("url", &refusal))
}

/// Subscribes a URL to the tenant's events. Deliveries are `POST`s of the event JSON with
/// `webhook-id`, `webhook-timestamp` and `webhook-signature` headers (Standard Webhooks); the
/// signing secret is in this answer only.
#[utoipa::path(
    tag = "events",
    security(("bearer" = ["events:write"])),
    request_body = CreateSubscription,
    responses(
        (status = 201, description = "Created; keep the secret", body = SubscriptionCreated),
        (status = 401, description = "Missing or invalid token", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::unauthorized())),
        (status = 403, description = "The token lacks `events:write`", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::events_write_forbidden())),
        (status = 422, description = "URL refused by the outbound URL policy (`url_not_allowed`, the rule in `rule`: `scheme_not_allowed`, `userinfo_not_allowed`, `host_not_allowed`, `port_not_allowed`, `path_not_allowed`, `address_not_allowed`, `unresolvable_host`), not a URL, or unknown event type", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::url_not_allowed("url"))),
        (status = 429, description = "Rate limited", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::rate_limited())),
        (status = 503, description = "Store unavailable", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::store_unavailable())),
    )
)]
#[post("/v1/subscriptions")]
pub async fn create_subscription(
    auth: Auth<scope::EventsWrite>,
    state: web::Data<AppState>,
    body: web::Json<CreateSubscription>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_url(&state, &body.url).await?;
    let tenant = auth.principal.tenant;
    if list_stored(&state, &tenant).await?.len() >= MAX_PER_TENANT {
        return Err(ApiError::field(
            "url",
            "too_many_subscriptions",
            format!("at most {MAX_PER_TENANT} subscriptions per tenant"),
        ));
    }
    let mut event_types = body.event_types;
    event_types.sort_by_key(|t| t.as_str());
    event_types.dedup();
    let now = Utc::now();
    let stored = StoredSubscription {
        id: format!("sub_{}", uuid::Uuid::now_v7().simple()),
        tenant: tenant.clone(),
        url: body.url,
        event_types,
        description: body.description,
        created_at: now,
        secret: new_secret(),
    };
    state
        .store
        .save(&keys::SubscriptionRecord::new(&stored.id), &stored)
        .await?;
    state
        .store
        .zadd(
            &keys::TenantSubscriptions::new(&tenant),
            &stored.id,
            now.timestamp_millis() as f64,
        )
        .await?;
    Ok(HttpResponse::Created().json(SubscriptionCreated {
        subscription: stored.view(),
        secret: stored.secret.clone(),
    }))
}

/// The tenant's subscriptions, oldest first (secrets are never shown again).
#[utoipa::path(
    tag = "events",
    security(("bearer" = ["events:read"])),
    params(PageRequest),
    responses(
        (status = 200, description = "A page of the subscriptions, oldest first", body = Page<Subscription>),
        (status = 401, description = "Missing or invalid token", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::unauthorized())),
        (status = 403, description = "The token lacks `events:read`", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::events_forbidden())),
        (status = 429, description = "Rate limited", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::rate_limited())),
        (status = 503, description = "Store unavailable", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::store_unavailable())),
    )
)]
#[get("/v1/subscriptions")]
pub async fn list_subscriptions(
    auth: Auth<scope::EventsRead>,
    state: web::Data<AppState>,
    page: PageRequest,
) -> Result<web::Json<Page<Subscription>>, ApiError> {
    let subs = list_stored(&state, &auth.principal.tenant).await?;
    // Ids are UUIDv7: their order is the order of creation.
    let views = subs.iter().map(StoredSubscription::view).collect();
    Ok(web::Json(page_by_key(
        views,
        |s: &Subscription| s.id.clone(),
        Order::Ascending,
        &page,
        "subscriptions",
    )?))
}

/// Deletes a subscription; its pending deliveries are cancelled.
#[utoipa::path(
    tag = "events",
    security(("bearer" = ["events:write"])),
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::unauthorized())),
        (status = 403, description = "The token lacks `events:write`", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::events_write_forbidden())),
        (status = 404, description = "No such subscription for this tenant", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::not_found())),
        (status = 503, description = "Store unavailable", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::store_unavailable())),
    )
)]
#[delete("/v1/subscriptions/{id}")]
pub async fn delete_subscription(
    owned: Owned<scope::EventsWrite, StoredSubscription>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sub = owned.record;
    state
        .store
        .delete(&keys::SubscriptionRecord::new(&sub.id))
        .await?;
    state
        .store
        .zrem(&keys::TenantSubscriptions::new(&sub.tenant), &sub.id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The subscription's latest deliveries (the last 1000 are kept), newest first, with every
/// attempt.
#[utoipa::path(
    tag = "events",
    security(("bearer" = ["events:read"])),
    params(("id" = String, Path, description = "Subscription id"), PageRequest),
    responses(
        (status = 200, description = "A page of deliveries, newest first", body = Page<Delivery>),
        (status = 401, description = "Missing or invalid token", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::unauthorized())),
        (status = 403, description = "The token lacks `events:read`", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::events_forbidden())),
        (status = 404, description = "No such subscription for this tenant", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::not_found())),
        (status = 503, description = "Store unavailable", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::store_unavailable())),
    )
)]
#[get("/v1/subscriptions/{id}/deliveries")]
pub async fn list_deliveries(
    owned: Owned<scope::EventsRead, StoredSubscription>,
    state: web::Data<AppState>,
    page: PageRequest,
) -> Result<web::Json<Page<Delivery>>, ApiError> {
    let sub = owned.record;
    let ids: Vec<String> = state
        .store
        .lrange(&keys::DeliveryLog::new(&sub.id), 0, -1)
        .await?
        .iter()
        .map(|id| String::from_utf8_lossy(id).into_owned())
        .collect();
    // Ids are UUIDv7, newest greatest: page the ids, then read only this page's deliveries.
    let list = format!("deliveries/{}", sub.id);
    let ids = page_by_key(ids, Clone::clone, Order::Descending, &page, &list)?;
    let keys: Vec<String> = ids
        .items
        .iter()
        .map(|id| keys::DeliveryRecord::new(id).into())
        .collect();
    let items = state
        .store
        .mget(&keys)
        .await?
        .into_iter()
        .flatten()
        .filter_map(|bytes| serde_json::from_slice::<delivery::StoredDelivery>(&bytes).ok())
        .map(|d| d.delivery)
        .collect();
    Ok(web::Json(Page::new(items, ids.next_cursor)))
}

/// Sends a delivery again now (e.g. after fixing the receiver), whatever its status.
#[utoipa::path(
    tag = "events",
    security(("bearer" = ["events:write"])),
    params(
        ("id" = String, Path, description = "Subscription id"),
        ("delivery_id" = String, Path, description = "Delivery id"),
    ),
    responses(
        (status = 202, description = "Scheduled now", body = Delivery),
        (status = 401, description = "Missing or invalid token", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::unauthorized())),
        (status = 403, description = "The token lacks `events:write`", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::events_write_forbidden())),
        (status = 404, description = "No such subscription or delivery", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::not_found())),
        (status = 503, description = "Store unavailable", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::store_unavailable())),
    )
)]
#[post("/v1/subscriptions/{id}/deliveries/{delivery_id}/retry")]
pub async fn retry_delivery(
    owned: Owned<scope::EventsWrite, StoredSubscription>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, delivery_id) = path.into_inner();
    let sub = owned.record;
    let stored = match delivery::load(&state, &delivery_id).await? {
        Some(d) if d.delivery.subscription_id == sub.id => d,
        _ => return Err(ApiError::not_found("delivery")),
    };
    let delivery = delivery::redeliver(&state, stored).await?;
    Ok(HttpResponse::Accepted().json(delivery))
}
