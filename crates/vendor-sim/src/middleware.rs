//! The layer in front of every vendor route: counts the request in the ledger (and as in flight
//! while it is handled), applies faults, then checks the wscrm header credentials.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{Error, web};

use crate::fault_responses as fr;
use crate::faults::FaultKind;
use crate::operations::{self, Operation};
use crate::state::SimState;

/// How long a `hang` fault waits when it names no time: longer than any sensible client timeout.
const DEFAULT_HANG: Duration = Duration::from_secs(3600);

/// The envelope chosen for a wscrm request without the configured headers: HTTP 200, code 401.
fn wscrm_unauthorised() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(serde_json::json!({
        "code": 401,
        "message": "Unauthorized: missing or invalid API credentials",
        "data": null,
    }))
}

fn wscrm_authorised(state: &SimState, req: &ServiceRequest) -> bool {
    state.config.wscrm.headers.iter().all(|(name, value)| {
        req.headers()
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == value)
    })
}

pub async fn vendor_layer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let (Some(op), Some(state)) = (
        operations::classify(req.path()),
        req.app_data::<web::Data<SimState>>().cloned(),
    ) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    state.ledger.count_request(op.vendor, &op.name);
    let _in_flight = InFlight::enter(state.clone(), op.vendor);
    if let Some(traceparent) = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        state.ledger.record_traceparent(op.vendor, traceparent);
    }
    let decision = state.faults.decide(&op);
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    if let Some(fired) = decision.outcome {
        let res = match fired.kind {
            FaultKind::Latency => None,
            FaultKind::ServerError => {
                Some(fr::server_error(op.vendor, fired.status.unwrap_or(500)))
            }
            FaultKind::RateLimit => Some(fr::rate_limited(op.vendor)),
            FaultKind::MalformedJson => Some(fr::malformed_json()),
            FaultKind::ConnectionReset => Some(fr::connection_reset()),
            FaultKind::Hang => {
                let wait = match fired.latency_ms {
                    0 => DEFAULT_HANG,
                    ms => Duration::from_millis(ms),
                };
                tokio::time::sleep(wait).await;
                Some(fr::server_error(op.vendor, 504))
            }
            FaultKind::KeyExpired => Some(fr::accuauth_error(
                StatusCode::UNAUTHORIZED,
                "KEY_EXPIRED",
                "Your API ID has expired",
            )),
            FaultKind::OutOfQuota => Some(fr::accuauth_error(
                StatusCode::FORBIDDEN,
                "OUT_OF_QUOTA",
                "API calls quota exceeded",
            )),
            FaultKind::NoPermission => Some(fr::accuauth_error(
                StatusCode::FORBIDDEN,
                "NO_PERMISSION",
                "You are not authorized to use this API",
            )),
            FaultKind::TruncatedBody => {
                let res = handle(&state, &op, req, next).await?;
                let (req, res) = res.into_parts();
                let cut = fr::truncated(res).await;
                return Ok(ServiceResponse::new(req, cut));
            }
        };
        if let Some(res) = res {
            return Ok(req.into_response(res));
        }
    }
    handle(&state, &op, req, next).await
}

/// Counts a request of a vendor as in flight while it lives.
struct InFlight {
    state: web::Data<SimState>,
    vendor: &'static str,
}

impl InFlight {
    fn enter(state: web::Data<SimState>, vendor: &'static str) -> Self {
        state.ledger.request_started(vendor);
        Self { state, vendor }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.state.ledger.request_ended(self.vendor);
    }
}

/// The request as it is when no fault intervenes.
async fn handle(
    state: &SimState,
    op: &Operation,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if op.vendor == operations::WSCRM && !wscrm_authorised(state, &req) {
        return Ok(req.into_response(wscrm_unauthorised()));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
