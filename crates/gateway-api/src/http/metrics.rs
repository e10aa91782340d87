//! Prometheus metrics: one process-wide recorder, the help text of every metric, and per-route
//! request metrics.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The recorder's handle, installed on first use. `None` if another recorder was installed
/// first (only possible when embedding the library).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    describe_all();
                    zero_known_series();
                    metrics::gauge!(
                        "build_info",
                        "version" => crate::build_info::VERSION,
                        "revision" => crate::build_info::REVISION
                    )
                    .set(1.0);
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Every metric the gateway records, with its `# HELP` text. A test checks that every name
/// `/metrics` shows is here.
pub const GATEWAY_METRICS: &[(&str, &str)] = &[
    (
        "build_info",
        "The running build: always 1, labelled with version and revision",
    ),
    (
        "http_requests_total",
        "HTTP requests by method, route template and status",
    ),
    (
        "http_request_duration_seconds",
        "HTTP request duration by method, route template and status, seconds",
    ),
    (
        "rate_limit_rejections_total",
        "Requests refused by a per-tenant rate limit, by route class",
    ),
    (
        "vendor_circuit_state",
        "Vendor circuit breaker state: 0 closed, 1 half-open, 2 open",
    ),
    (
        "vendor_circuit_opened_total",
        "Times a vendor circuit opened",
    ),
    (
        "vendor_circuit_refused_total",
        "Vendor calls refused at once because the circuit was open",
    ),
    (
        "due_queue_depth",
        "Work items due now and not yet taken, by queue (cluster-wide)",
    ),
    (
        "number_check_jobs",
        "Unfinished number-check jobs: due now, or waiting for a later step (cluster-wide)",
    ),
    (
        "number_checks_jobs_created_total",
        "Number-check jobs created",
    ),
    (
        "number_checks_jobs_finished_total",
        "Number-check jobs finished, by status",
    ),
    (
        "number_checks_budget_not_given_back_total",
        "Unspent budget (numbers) a finished job could not give back: it stays reserved for the month",
    ),
    (
        "number_checks_numbers_requested_total",
        "Numbers asked for in number-check jobs",
    ),
    (
        "number_checks_numbers_from_cache_total",
        "Numbers answered from the result cache",
    ),
    (
        "number_checks_numbers_billed_total",
        "Numbers a vendor answered (and bills), by provider",
    ),
    (
        "number_checks_cache_lookups_total",
        "Result-cache lookups per number, by result (hit, miss)",
    ),
    (
        "number_checks_callbacks_total",
        "Job callbacks by outcome (delivered, retry, given_up)",
    ),
    (
        "event_deliveries_pending",
        "Event deliveries not yet delivered nor given up (cluster-wide)",
    ),
    (
        "event_deliveries_total",
        "Event delivery attempts by outcome",
    ),
    (
        "event_delivery_lag_seconds",
        "Time from an event to its delivery, seconds",
    ),
    ("events_received_total", "Vendor events received, by type"),
    (
        "events_unrouted_total",
        "Vendor events no tenant owns, by type",
    ),
    (
        "events_webhooks_total",
        "Vendor webhook calls by kind and outcome",
    ),
];

/// Registers the help text of every metric with the recorder.
fn describe_all() {
    let vendor = providers::VENDOR_METRICS.iter();
    for (name, help) in GATEWAY_METRICS.iter().chain(vendor) {
        // The exporter prints the help of a name whichever kind of metric it is.
        metrics::describe_gauge!(*name, *help);
    }
}

/// Counters whose labels are a closed set start at 0, so `rate()` and alerts see them before
/// their first event.
fn zero_known_series() {
    for outcome in ["delivered", "retry_scheduled", "failed", "cancelled"] {
        metrics::counter!("event_deliveries_total", "outcome" => outcome).increment(0);
    }
    for outcome in ["delivered", "retry", "given_up"] {
        metrics::counter!("number_checks_callbacks_total", "outcome" => outcome).increment(0);
    }
    for result in ["hit", "miss"] {
        metrics::counter!("number_checks_cache_lookups_total", "result" => result).increment(0);
    }
    for vendor in providers::vendors() {
        let provider = vendor.id.as_str();
        metrics::counter!("vendor_circuit_opened_total", "provider" => provider).increment(0);
        metrics::counter!("vendor_circuit_refused_total", "provider" => provider).increment(0);
    }
}

pub async fn record_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let res = next.call(req).await?;
    // The route template keeps label cardinality bounded: never the raw path.
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16().to_string();
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status),
    ];
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("http_requests_total", &labels).increment(1);
    Ok(res)
}

/// Anyone can send any method token; only the standard ones get their own series.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}
