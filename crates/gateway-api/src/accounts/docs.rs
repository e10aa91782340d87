//! Documented error responses shared by the account routes: each status with a problem example.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Object, Ref, RefOr, Type};

fn problem(code: &str, status: u16, title: &str, detail: &str, extra: Value) -> Value {
    let mut v = json!({
        "type": format!("urn:wa-gateway:problem:{code}"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": "0192f0a4-6f7c-7a39-9b1e-2b7c8f1f4d21"
    });
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), extra) {
        obj.extend(extra);
    }
    v
}

fn entry(status: u16, description: &str, example: Value) -> (String, RefOr<Response>) {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .example(Some(example))
        .build();
    (
        status.to_string(),
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content("application/problem+json", content)
                .build(),
        ),
    )
}

fn common() -> Vec<(String, RefOr<Response>)> {
    vec![
        entry(
            401,
            "Missing or invalid token",
            crate::openapi::examples::unauthorized(),
        ),
        entry(
            403,
            "The token lacks the route's scope, or the tenant is not configured for account operations",
            problem(
                "tenant_not_configured",
                403,
                "The tenant has no vendor account configured",
                "this tenant has no account-management vendor configured",
                json!({}),
            ),
        ),
        entry(
            429,
            "Rate limited (the gateway's limit, a risk-control limit, or the vendor's)",
            crate::openapi::examples::rate_limited(),
        ),
        entry(
            500,
            "The vendor refused the gateway's own request (`vendor_rejected_request`: the gateway's fault, \
             logged with the request id), or an internal error",
            problem(
                "vendor_rejected_request",
                500,
                "The vendor refused the gateway's request",
                "wscrm_accounts refused the gateway's request; this is the gateway's fault, quote the request id",
                json!({"provider": "wscrm_accounts"}),
            ),
        ),
        entry(
            502,
            "The vendor refused the gateway's credentials (`vendor_auth_failed`) or answered something \
             unusable (`vendor_invalid_answer`)",
            problem(
                "vendor_auth_failed",
                502,
                "The gateway's vendor credentials were refused",
                "wscrm_accounts refused the gateway's credentials",
                json!({"provider": "wscrm_accounts"}),
            ),
        ),
        unavailable(),
        entry(
            504,
            "The vendor did not answer in time",
            problem(
                "vendor_timeout",
                504,
                "The vendor did not answer in time",
                "the vendor did not answer in time",
                json!({}),
            ),
        ),
    ]
}

/// 503: the vendor's circuit is open (with `Retry-After`), the vendor failed, or the store or
/// the vendor configuration is unavailable.
fn unavailable() -> (String, RefOr<Response>) {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .example(Some(problem(
            "vendor_unavailable",
            503,
            "The vendor is unavailable",
            "wscrm_accounts is failing; the gateway is not calling it for 42 s",
            json!({"provider": "wscrm_accounts", "retry_after": 42}),
        )))
        .build();
    let retry_after = HeaderBuilder::new()
        .schema(Some(Object::with_type(Type::Integer)))
        .description(Some(
            "Seconds to wait: the circuit's remaining cool-down (1 for the store)",
        ))
        .build();
    (
        "503".to_owned(),
        RefOr::T(
            ResponseBuilder::new()
                .description(
                    "The vendor is unavailable (`vendor_unavailable`): it failed, or its circuit is open after \
                     repeated failures and the gateway does not call it for the rest of the cool-down, given in \
                     `Retry-After`. Or the store or the vendor configuration is unavailable.",
                )
                .header("Retry-After", retry_after)
                .content("application/problem+json", content)
                .build(),
        ),
    )
}

fn not_found() -> (String, RefOr<Response>) {
    entry(
        404,
        "Unknown id, or an object of another tenant",
        problem(
            "not_found",
            404,
            "The resource does not exist",
            "session not found",
            json!({}),
        ),
    )
}

fn conflict() -> (String, RefOr<Response>) {
    entry(
        409,
        "The lifecycle does not allow this now (`illegal_state`, with `current_state`; no vendor call \
         was made), the vendor refused it in the current state (`vendor_conflict`), or the cloud-port \
         quota is used up (`port_quota_exhausted`)",
        problem(
            "illegal_state",
            409,
            "The current state does not allow this; see `current_state`",
            "fetching a QR or pair code is not allowed while the session is online",
            json!({"current_state": "online"}),
        ),
    )
}

fn gone() -> (String, RefOr<Response>) {
    entry(
        410,
        "The vendor released the session's cloud port",
        problem(
            "session_released",
            410,
            "The session's cloud port was released",
            "the vendor released this session's cloud port (or does not know the session)",
            json!({"provider": "wscrm_accounts"}),
        ),
    )
}

fn invalid() -> (String, RefOr<Response>) {
    entry(
        422,
        "The request is not valid (or a cloud PC session lacks a pairing target: `pairing_target_required`)",
        problem(
            "validation_failed",
            422,
            "The request is not valid",
            "`numbers[0]`: an international number with country code, e.g. +8613800138000",
            json!({"errors": [{"field": "numbers[0]", "code": "invalid_number", "message": "an international number with country code, e.g. +8613800138000"}]}),
        ),
    )
}

/// Errors of list reads.
#[derive(Debug)]
pub struct ListErrors;

impl utoipa::IntoResponses for ListErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        common().into_iter().chain([invalid()]).collect()
    }
}

/// Errors of reads of one object.
#[derive(Debug)]
pub struct ReadErrors;

impl utoipa::IntoResponses for ReadErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        common()
            .into_iter()
            .chain([not_found(), conflict(), gone(), invalid()])
            .collect()
    }
}

/// Errors of state changes.
#[derive(Debug)]
pub struct WriteErrors;

impl utoipa::IntoResponses for WriteErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        common()
            .into_iter()
            .chain([not_found(), conflict(), gone(), invalid()])
            .collect()
    }
}
