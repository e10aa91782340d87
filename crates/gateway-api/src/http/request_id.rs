//! `X-Request-Id`: accepted from the caller when sane, generated otherwise, echoed on every
//! response, put on the request's span and into every problem body; and the one log line of
//! every request.
//!
//! The request span also continues the caller's W3C trace (`traceparent`) when traces are
//! exported, and carries the trace id, so every log line of a request names the trace.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{TraceContextExt, TraceId as ExportedTraceId};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::auth::Principal;
use crate::error::{CURRENT_REQUEST_ID, ProblemNote, RequestId};
use crate::http::trace_context::{TRACEPARENT, TraceId};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn acceptable(value: &HeaderValue) -> Option<String> {
    let value = value.to_str().ok()?;
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| value.to_owned())
}

pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(X_REQUEST_ID)
        .and_then(acceptable)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    req.extensions_mut().insert(Arrived(Instant::now()));
    let trace_id = TraceId::of(req.headers().get(TRACEPARENT));
    req.extensions_mut().insert(trace_id);
    let mut res = CURRENT_REQUEST_ID.scope(id.clone(), next.call(req)).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(res)
}

/// When the request arrived, for the latency on its log line.
#[derive(Debug, Clone, Copy)]
struct Arrived(Instant);

/// The request span: method, route template (not the raw path, which may hold a number), path
/// (masked by the log writer), our request id and the trace id; every log line of the request
/// carries them.
#[derive(Debug)]
pub struct GatewayRootSpan;

impl RootSpanBuilder for GatewayRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        let trace_id = request
            .extensions()
            .get::<TraceId>()
            .cloned()
            .unwrap_or_else(|| TraceId::of(None));
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let span = tracing::info_span!(
            "http_request",
            request_id = %request_id,
            trace_id = tracing::field::Empty,
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.path(),
            http.status_code = tracing::field::Empty,
            otel.name = %format_args!("{} {route}", request.method()),
            otel.kind = "server",
        );
        let trace_id = continue_trace(&span, request.headers(), trace_id);
        request.extensions_mut().insert(trace_id);
        span
    }

    /// One line per request: method, route, status, latency, tenant, request and trace id, with a
    /// problem's code, detail and cause. Server errors are `error` ("request failed"), the rest
    /// `info` ("request completed"). No `Debug` dump of the error: the cause is its message chain.
    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                span.record("http.status_code", status);
                let request = response.request();
                let extensions = request.extensions();
                let latency_ms = extensions
                    .get::<Arrived>()
                    .map(|arrived| arrived.0.elapsed().as_secs_f64() * 1000.0);
                let tenant = extensions.get::<Principal>().map(|p| p.tenant.as_str());
                let request_id = extensions.get::<RequestId>().map(|id| id.0.as_str());
                let trace_id = extensions.get::<TraceId>().map(|id| id.0.as_str());
                let route = request.match_pattern();
                let response_extensions = response.response().extensions();
                let problem = response_extensions.get::<ProblemNote>();
                let _entered = span.enter();
                if response.status().is_server_error() {
                    tracing::error!(
                        method = %request.method(),
                        route = route.as_deref().unwrap_or("unmatched"),
                        status,
                        latency_ms,
                        tenant,
                        request_id,
                        trace_id,
                        code = problem.map(|p| p.code),
                        detail = problem.map(|p| p.detail.as_str()),
                        cause = problem.and_then(|p| p.cause.as_deref()),
                        "request failed"
                    );
                } else {
                    tracing::info!(
                        method = %request.method(),
                        route = route.as_deref().unwrap_or("unmatched"),
                        status,
                        latency_ms,
                        tenant,
                        request_id,
                        trace_id,
                        code = problem.map(|p| p.code),
                        cause = problem.and_then(|p| p.cause.as_deref()),
                        "request completed"
                    );
                }
            }
            Err(error) => {
                let status = error.as_response_error().status_code().as_u16();
                span.record("http.status_code", status);
                span.in_scope(|| tracing::error!(status, error = %error, "request failed"));
            }
        }
    }
}

/// Makes the caller's trace the parent of `span` when traces are exported, and records the trace
/// id on it: the exported trace's, or else `fallback` (the caller's, or one of the request's own).
fn continue_trace(
    span: &Span,
    headers: &actix_web::http::header::HeaderMap,
    fallback: TraceId,
) -> TraceId {
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    });
    // Fails only when no exporter is installed.
    let _ = span.set_parent(parent);
    let exported = span.context().span().span_context().trace_id();
    let trace_id = if exported == ExportedTraceId::INVALID {
        fallback
    } else {
        TraceId(exported.to_string())
    };
    span.record("trace_id", trace_id.0.as_str());
    trace_id
}

struct HeaderExtractor<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}
