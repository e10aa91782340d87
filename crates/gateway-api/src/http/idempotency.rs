//! `Idempotency-Key` for every state-changing request, whatever the route.
//!
//! The first request with a key runs and its answer (status, content type, `Location`, body) is
//! kept for `limits.idempotency_ttl`, per tenant. The same key with the same request replays that
//! answer; with a different request it is `409 idempotency_key_reused`; while the first is still
//! running it is `409 idempotency_request_in_flight` with `Retry-After`. Answers that say "try
//! again" (5xx, 429) are not kept, so a retry really runs again.

use std::time::Duration;

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::fallback::RouteTable;
use crate::auth::authenticate_request;
use crate::error::{ApiError, ErrorCode, RequestId};
use crate::keys;
use crate::state::AppState;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// A crashed request frees its key after this long.
const IN_FLIGHT_TTL: Duration = Duration::from_secs(120);

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Record {
    InFlight {
        fingerprint: String,
    },
    Done {
        fingerprint: String,
        status: u16,
        content_type: Option<String>,
        location: Option<String>,
        body: String,
    },
}

impl Record {
    fn fingerprint(&self) -> &str {
        match self {
            Record::InFlight { fingerprint } | Record::Done { fingerprint, .. } => fingerprint,
        }
    }
}

/// A request no operation takes gets its 404 or 405 from the fallback, never a remembered answer
/// or a 409 for a key it shares with a real request. Without a route table (a bare test app)
/// every request counts as routed.
fn is_routed(req: &ServiceRequest) -> bool {
    req.app_data::<web::Data<RouteTable>>()
        .is_none_or(|table| table.accepts(req.method().as_str(), req.path()))
}

pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let changes_state = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) && is_routed(&req);
    let Some(raw_key) = req
        .headers()
        .get(IDEMPOTENCY_KEY)
        .cloned()
        .filter(|_| changes_state)
    else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
    let refuse = |req: ServiceRequest, error: ApiError| {
        Ok(req.into_response(error.to_response(request_id.clone())))
    };

    let key = match raw_key.to_str() {
        Ok(key)
            if !key.is_empty()
                && key.len() <= 255
                && key.bytes().all(|b| (0x21..=0x7e).contains(&b)) =>
        {
            key.to_owned()
        }
        _ => {
            return refuse(
                req,
                ApiError::new(
                    ErrorCode::InvalidHeader,
                    "Idempotency-Key must be 1 to 255 visible ASCII characters",
                )
                .with_extension("header", "Idempotency-Key"),
            );
        }
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // Without a valid token the route answers 401 itself; nothing is remembered for it.
    let Ok(principal) = authenticate_request(req.request(), &state).await else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };

    let length = super::body::content_length(req.headers());
    let mut payload = req.take_payload();
    let body =
        match super::body::read_limited(&mut payload, length, state.config.limits.max_body_bytes)
            .await
        {
            Ok(body) => body,
            Err(error) => return refuse(req, error),
        };
    let fingerprint = {
        let mut hash = Sha256::new();
        hash.update(req.method().as_str());
        hash.update(b" ");
        hash.update(req.uri().path_and_query().map(|p| p.as_str()).unwrap_or(""));
        hash.update(b"\n");
        hash.update(&body);
        hex::encode(hash.finalize())
    };
    req.set_payload(Payload::from(body));

    let store_key = keys::Idempotency::new(
        &principal.tenant,
        &hex::encode(Sha256::digest(key.as_bytes())),
    );
    let claim = serde_json::to_vec(&Record::InFlight {
        fingerprint: fingerprint.clone(),
    })
    .map_err(ApiError::internal)?;
    let mut claimed = false;
    for _ in 0..2 {
        if state
            .store
            .set_nx(&store_key, &claim, Some(IN_FLIGHT_TTL))
            .await
            .map_err(ApiError::from)?
        {
            claimed = true;
            break;
        }
        let Some(existing) = state
            .store
            .get_json::<Record>(&store_key)
            .await
            .map_err(ApiError::from)?
        else {
            // Expired between the two calls: try to claim again.
            continue;
        };
        if existing.fingerprint() != fingerprint {
            return refuse(
                req,
                ApiError::new(
                    ErrorCode::IdempotencyKeyReused,
                    "this Idempotency-Key was already used with a different request; use a new key",
                ),
            );
        }
        return match existing {
            Record::InFlight { .. } => refuse(
                req,
                ApiError::new(
                    ErrorCode::IdempotencyRequestInFlight,
                    "the first request with this Idempotency-Key is still running",
                )
                .with_retry_after(1),
            ),
            Record::Done {
                status,
                content_type,
                location,
                body,
                ..
            } => {
                let body = STANDARD.decode(body).map_err(ApiError::internal)?;
                let mut replay =
                    HttpResponse::build(StatusCode::from_u16(status).map_err(ApiError::internal)?);
                if let Some(content_type) = content_type {
                    replay.insert_header((header::CONTENT_TYPE, content_type));
                }
                if let Some(location) = location {
                    replay.insert_header((header::LOCATION, location));
                }
                replay.insert_header((IDEMPOTENT_REPLAYED, HeaderValue::from_static("true")));
                Ok(req.into_response(replay.body(body)))
            }
        };
    }
    if !claimed {
        return refuse(
            req,
            ApiError::new(ErrorCode::IdempotencyRequestInFlight, "please retry")
                .with_retry_after(1),
        );
    }

    let res = next.call(req).await?;
    let status = res.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        let _ = state.store.delete(&store_key).await;
        return Ok(res.map_into_boxed_body());
    }
    let (http_req, response) = res.into_parts();
    let (head, response_body) = response.into_parts();
    let bytes = match body::to_bytes(response_body).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let _ = state.store.delete(&store_key).await;
            return Err(ApiError::internal("response body could not be read").into());
        }
    };
    let header_text = |name: &HeaderName| {
        head.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let record = Record::Done {
        fingerprint,
        status: status.as_u16(),
        content_type: header_text(&header::CONTENT_TYPE),
        location: header_text(&header::LOCATION),
        body: STANDARD.encode(&bytes),
    };
    if let Err(error) = state
        .store
        .set_json(
            &store_key,
            &record,
            Some(state.config.limits.idempotency_ttl),
        )
        .await
    {
        // The work is done; failing the answer now would make the client repeat it.
        tracing::warn!(%error, "idempotency record not saved");
    }
    let response = head.set_body(bytes).map_into_boxed_body();
    Ok(ServiceResponse::new(http_req, response))
}
