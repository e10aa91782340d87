//! The vendor's five webhooks. The vendor calls them without a JWT: a per-deployment secret in a
//! header (compared in constant time) and an optional source-IP allow-list authenticate it.
//! Payloads are read tolerantly (numbers as strings, both online-status envelopes), each record
//! is de-duplicated by a hash of its kind and canonical JSON, and turned into a domain event.
//! Every accepted call is answered `{"code":200,"message":"Success","data":""}` as the vendor
//! expects.

// `ApiError` is the one error type of every route; its helpers return it once per request.
#![allow(clippy::result_large_err)]

use std::net::IpAddr;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Uri;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, post, web};
use domain::{DomainEvent, UtcOffset};
pub use providers::wscrm_webhooks::{WebhookKind, normalise};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};

use crate::error::{ApiError, ErrorCode};
use crate::keys;
use crate::routes::Routes;
use crate::state::AppState;

pub const ONLINE_STATUS_PATH: &str = "/api/callback/whatsapp/onlineStatus";
pub const ACCOUNT_STATUS_PATH: &str = "/callback/gsTask/syncWhatsAppStatus";
pub const REGISTRATION_STATUS_PATH: &str = "/group-dispatch-api/register/syncStatus";
pub const QR_LOGIN_PATH: &str = "/wscrm-bus-api/open/qrCode/syncLoginStatus";
/// The document leaves the scan-task path to the integrator ("baseURL+uri"); this one sits next
/// to the QR login webhook and is what the vendor must be configured with.
pub const SCAN_TASK_PATH: &str = "/wscrm-bus-api/open/qrCodeTask/syncStatus";

/// The five webhook paths vendors call (the chart's webhook Ingress routes exactly these).
pub const ALL_PATHS: [&str; 5] = [
    ONLINE_STATUS_PATH,
    ACCOUNT_STATUS_PATH,
    REGISTRATION_STATUS_PATH,
    QR_LOGIN_PATH,
    SCAN_TASK_PATH,
];

pub fn configure(cfg: &mut Routes) {
    cfg.service(online_status)
        .service(account_status)
        .service(registration_status)
        .service(qr_login)
        .service(scan_task);
}

/// The answer the vendor expects.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"code": 200, "message": "Success", "data": ""}))]
pub struct VendorAck {
    pub code: u16,
    pub message: &'static str,
    pub data: &'static str,
}

/// A vendor payload, read tolerantly (see the examples). Documentation only: the handlers read
/// the raw body.
#[derive(Debug)]
pub struct VendorPayload;

impl utoipa::PartialSchema for VendorPayload {
    fn schema() -> RefOr<Schema> {
        let record = || ObjectBuilder::new().schema_type(Type::Object);
        OneOfBuilder::new()
            .description(Some(
                "A JSON object, or the bare array of objects one vendor document shows",
            ))
            .item(record())
            .item(ArrayBuilder::new().items(record()))
            .into()
    }
}

impl ToSchema for VendorPayload {}

/// Serves the five webhook paths under `events.webhook_base_path` too, by rewriting such a
/// request's path to the documented one before routing.
pub async fn base_path_rewrite(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let base = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.config.events.webhook_base_path.clone())
        .unwrap_or_default();
    if !base.is_empty()
        && let Some(rest) = req.path().strip_prefix(base.as_str())
        && ALL_PATHS.contains(&rest)
    {
        let mut target = rest.to_owned();
        if let Some(query) = req.uri().query() {
            target.push('?');
            target.push_str(query);
        }
        if let Ok(uri) = target.parse::<Uri>() {
            req.match_info_mut().get_mut().update(&uri);
            req.head_mut().uri = uri;
        }
    }
    next.call(req).await
}

/// An IP address or a CIDR range of the allow-list.
#[derive(Debug, Clone, Copy)]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn authenticate(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let config = &state.config.events;
    if !config.webhook_allowed_ips.is_empty() {
        let allowed = req.peer_addr().is_some_and(|peer| {
            config
                .webhook_allowed_ips
                .iter()
                .filter_map(|r| IpRange::parse(r))
                .any(|range| range.contains(peer.ip()))
        });
        if !allowed {
            return Err(ApiError::new(
                ErrorCode::WebhookSourceNotAllowed,
                "this source address may not call the vendor webhooks",
            ));
        }
    }
    let presented = req
        .headers()
        .get(config.webhook_secret_header.as_str())
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let ok = config
        .webhook_secret
        .as_ref()
        .is_some_and(|secret| bool::from(secret.expose_secret().as_bytes().ct_eq(presented)));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidWebhookSecret,
            format!(
                "the `{}` header is missing or wrong",
                config.webhook_secret_header
            ),
        ))
    }
}

async fn receive(
    kind: WebhookKind,
    state: web::Data<AppState>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if let Err(error) = authenticate(&state, &req) {
        metrics::counter!("events_webhooks_total", "kind" => kind.as_str(), "outcome" => "refused")
            .increment(1);
        return Err(error);
    }
    // Read only after authenticating: a stranger's body is never buffered.
    let body = crate::http::body::read_limited(
        &mut payload,
        crate::http::body::content_length(req.headers()),
        state.config.limits.max_body_bytes,
    )
    .await?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let offset =
        UtcOffset::from_seconds(state.config.events.vendor_utc_offset_secs).unwrap_or_default();
    let records = normalise(kind, &value, offset)
        .map_err(|(field, message)| ApiError::field(field, "invalid_webhook_payload", message))?;
    let ttl = state.config.events.dedupe_ttl;
    for (record, event) in records {
        let outcome = if is_duplicate(&state, kind, &record, &event, ttl).await? {
            "duplicate"
        } else {
            super::ingest(&state, event).await?;
            "accepted"
        };
        metrics::counter!("events_webhooks_total", "kind" => kind.as_str(), "outcome" => outcome)
            .increment(1);
    }
    Ok(HttpResponse::Ok().json(VendorAck {
        code: 200,
        message: "Success",
        data: "",
    }))
}

/// A record already seen within the TTL is a duplicate, unless its object has changed state
/// since (an account going online, offline and online again sends the same payload twice).
async fn is_duplicate(
    state: &AppState,
    kind: WebhookKind,
    record: &Value,
    event: &DomainEvent,
    ttl: Duration,
) -> Result<bool, ApiError> {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical_json(record).as_bytes());
    let key = keys::InboundSeen::new(&hex::encode(hasher.finalize()));
    if state.store.set_nx(&key, b"1", Some(ttl)).await? {
        return Ok(false);
    }
    let subject = event.subject();
    let Some(owned) = super::owned_kind(subject.kind) else {
        return Ok(true);
    };
    let latest = super::latest_state(&state.store, owned, &subject.id).await?;
    let change = event.state_change();
    let same = latest.is_some_and(|l| {
        l.status == change.status
            && l.reason == change.reason
            && l.event_type == event.event_type().as_str()
    });
    if !same {
        state.store.set(&key, b"1", Some(ttl)).await?;
    }
    Ok(same)
}

/// JSON with object keys sorted, whatever order the vendor used.
pub fn canonical_json(value: &Value) -> String {
    // serde_json keeps insertion order only with `preserve_order`; writing sorted keys covers both.
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

macro_rules! webhook_route {
    ($name:ident, $path:literal, $kind:expr, $summary:literal, $example:tt) => {
        #[doc = $summary]
        #[utoipa::path(
            tag = "webhooks",
            security(("webhook_secret" = [])),
            request_body(content = VendorPayload, description = "The vendor's payload, read tolerantly", content_type = "application/json", example = json!($example)),
            responses(
                (status = 200, description = "Received (also for a repeated delivery)", body = VendorAck),
                (status = 400, description = "The body is not JSON", body = crate::error::Problem, content_type = "application/problem+json",
                 example = json!(crate::openapi::examples::invalid_json())),
                (status = 413, description = "Body larger than `limits.max_body_bytes`", body = crate::error::Problem, content_type = "application/problem+json",
                 example = json!(crate::openapi::examples::payload_too_large())),
                (status = 401, description = "Missing or wrong webhook secret; nothing is stored", body = crate::error::Problem, content_type = "application/problem+json",
                 example = json!(crate::openapi::examples::invalid_webhook_secret())),
                (status = 403, description = "Source address not in the allow-list", body = crate::error::Problem, content_type = "application/problem+json",
                 example = json!(crate::openapi::examples::webhook_source_not_allowed())),
                (status = 422, description = "A required field is missing or has the wrong type", body = crate::error::Problem, content_type = "application/problem+json",
                 example = json!(crate::openapi::examples::invalid_webhook_payload())),
                (status = 503, description = "Store unavailable; the vendor should retry", body = crate::error::Problem, content_type = "application/problem+json",
                 example = json!(crate::openapi::examples::store_unavailable())),
            )
        )]
        #[post($path)]
        pub async fn $name(
            state: web::Data<AppState>,
            req: HttpRequest,
            payload: web::Payload,
        ) -> Result<HttpResponse, ApiError> {
            receive($kind, state, req, payload).await
        }
    };
}

webhook_route!(
    online_status,
    "/api/callback/whatsapp/onlineStatus",
    WebhookKind::OnlineStatus,
    "Vendor webhook `WA_SYNC_ON_OR_OFF_LINE_STATUS`: accounts going online/offline. Accepts the bare array of the document's example and the `{\"whatsAppList\": [...]}` of its table; each record becomes an `account.online_status_changed` event.",
    [{"whatsId": "8617633819542", "status": 10, "detailStatus": 11, "account": "", "time": "2024-07-03 15:27:00", "platformType": 1}]
);
webhook_route!(
    account_status,
    "/callback/gsTask/syncWhatsAppStatus",
    WebhookKind::AccountStatus,
    "Vendor webhook `CHANNEL_SYNC_STATUS`: an account's status and login state, with a failure reason (1001..1004). Becomes `account.status_changed`.",
    {"whatsApp": "8218132718231", "status": 1, "onlineStatus": 1, "reason": "", "instanceCode": ""}
);
webhook_route!(
    registration_status,
    "/group-dispatch-api/register/syncStatus",
    WebhookKind::RegistrationStatus,
    "Vendor webhook `CHANNEL_REGISTER_STATUS`: the result of a registration. Becomes `registration.completed` or `registration.failed`.",
    {"phone": "861821726232", "status": "1"}
);
webhook_route!(
    qr_login,
    "/wscrm-bus-api/open/qrCode/syncLoginStatus",
    WebhookKind::QrLogin,
    "Vendor webhook `WA_SYNC_QR_LOGIN_STATUS`: a QR / pair-code login succeeded or failed. Becomes `session.login_succeeded` or `session.login_failed`.",
    {"id": "ad518a4271fa43c8937612c5f60396f8", "whatsapp": "817272727272", "status": 1}
);
webhook_route!(
    scan_task,
    "/wscrm-bus-api/open/qrCodeTask/syncStatus",
    WebhookKind::ScanTask,
    "Vendor webhook `SCAN_TASK_STATUS_SYNC`: progress of a PC scan task (70..90). The document gives no path; configure the vendor with this one. Becomes `scan_task.updated`.",
    {"taskId": "f0d485cb2e5e4c5ca21b74e970043e6c", "userId": 10001, "taskStatus": 80, "whatsapp": "86166666666", "updateTime": 1710236000000_i64}
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_ignores_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":[3,{"q":1,"p":2}]}}"#).expect("a");
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":[3,{"p":2,"q":1}],"y":2},"b":1}"#).expect("b");
        assert_eq!(canonical_json(&a), canonical_json(&b));
    }

    #[test]
    fn ip_ranges() {
        let range = IpRange::parse("10.0.0.0/8").expect("cidr");
        assert!(range.contains("10.1.2.3".parse().expect("ip")));
        assert!(!range.contains("11.1.2.3".parse().expect("ip")));
        let one = IpRange::parse("127.0.0.1").expect("ip");
        assert!(one.contains("::ffff:127.0.0.1".parse().expect("mapped")));
        assert!(IpRange::parse("10.0.0.0/33").is_none());
        assert!(IpRange::parse("::1/128").is_some());
    }
}
