//! HTTP plumbing shared by all adapters: error mapping, capped body reads, URL building, and the
//! per-vendor, per-operation metrics of every vendor call.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use domain::{ProviderError, ProviderErrorKind, ProviderId};
use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::de::DeserializeOwned;
use url::Url;

/// JSON answers of the documented APIs are small; anything far larger is not an answer.
pub(crate) const MAX_JSON_BYTES: u64 = 8 * 1024 * 1024;

/// The client the gateway should inject: no redirects (a redirect could carry vendor
/// credential headers to another host), bounded connect and total time, and idle connections
/// dropped before the usual 5 s keep-alive of HTTP servers ends: a pooled connection reused just
/// as the server closes it fails the call ("error sending request"), which would count as the
/// vendor being unavailable. Connections are kept alive (HTTP/1.1 keep-alive) and reused, up to
/// `idle_per_host` idle ones per vendor host: size it to the vendor calls the process has in
/// flight at once, so a steady load never opens a connection per call and a spike's extra
/// connections are closed rather than kept.
pub fn recommended_client(
    connect_timeout: Duration,
    timeout: Duration,
    idle_per_host: usize,
) -> Result<reqwest::Client, reqwest::Error> {
    egress::tls::shared_roots(reqwest::Client::builder())
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .pool_idle_timeout(IDLE_CONNECTION_TIMEOUT)
        .pool_max_idle_per_host(idle_per_host.max(1))
        .build()
}

/// Shorter than the 5 s idle keep-alive of common servers (actix-web, Node.js, many proxies).
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(4);

/// The W3C propagation headers (`traceparent`, `tracestate`) that continue `span`'s trace in
/// the receiver; empty when traces are not exported.
pub fn trace_headers(span: &tracing::Span) -> HeaderMap {
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let mut headers = HeaderMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&span.context(), &mut HeaderInjector(&mut headers));
    });
    headers
}

/// Writes propagation headers into a request's headers.
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl opentelemetry::propagation::Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(key.as_bytes()),
            reqwest::header::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Who is calling what, for errors, logs and metrics: one per vendor operation.
///
/// Every adapter method starts with an `Op` and makes every error through it, so the metrics are
/// recorded here, in one place, when the `Op` goes out of scope: one call, its latency, and the
/// kind of its first error. An adapter cannot forget them.
#[derive(Debug)]
pub(crate) struct Op {
    pub provider: ProviderId,
    pub name: &'static str,
    started: Instant,
    first_error: OnceLock<&'static str>,
}

impl Op {
    pub fn new(provider: ProviderId, name: &'static str) -> Self {
        Self {
            provider,
            name,
            started: Instant::now(),
            first_error: OnceLock::new(),
        }
    }

    pub fn err(&self, kind: ProviderErrorKind, message: impl Into<String>) -> ProviderError {
        let e = ProviderError::new(kind, self.provider, self.name, message);
        let _ = self.first_error.set(e.kind.code());
        tracing::warn!(
            provider = %self.provider,
            operation = self.name,
            kind = %e.kind,
            message = %e.message,
            "vendor call failed"
        );
        e
    }

    pub fn err_code(
        &self,
        kind: ProviderErrorKind,
        vendor_code: impl Into<String>,
        message: impl Into<String>,
    ) -> ProviderError {
        let code = vendor_code.into();
        let e = ProviderError::new(kind, self.provider, self.name, message)
            .with_vendor_code(code.clone());
        let _ = self.first_error.set(e.kind.code());
        tracing::warn!(
            provider = %self.provider,
            operation = self.name,
            kind = %e.kind,
            vendor_code = %code,
            message = %e.message,
            "vendor call failed"
        );
        e
    }

    /// Sends a vendor request; a transport failure becomes the provider error.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ProviderError> {
        self.send_traced(request)
            .await
            .map_err(|e| self.transport(e))
    }

    /// Sends a vendor request inside a client span that carries the caller's trace on
    /// (`traceparent`), so the vendor's logs can be joined to the gateway's trace.
    pub async fn send_traced(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        use tracing::Instrument;

        let span = tracing::info_span!(
            target: "otel",
            "vendor_call",
            otel.name = %format_args!("{} {}", self.provider, self.name),
            otel.kind = "client",
            vendor = %self.provider,
            operation = self.name,
            http.status_code = tracing::field::Empty,
        );
        let response = request
            .headers(trace_headers(&span))
            .send()
            .instrument(span.clone())
            .await;
        if let Ok(response) = &response {
            span.record("http.status_code", response.status().as_u16());
        }
        response
    }

    /// Transport failures. The URL is dropped from the message: it may carry tokens.
    pub fn transport(&self, e: reqwest::Error) -> ProviderError {
        let kind = if e.is_timeout() {
            ProviderErrorKind::Timeout
        } else if e.is_connect() || e.is_request() {
            ProviderErrorKind::Unavailable
        } else if e.is_body() || e.is_decode() {
            ProviderErrorKind::MalformedAnswer
        } else if e.is_builder() {
            ProviderErrorKind::Config
        } else {
            ProviderErrorKind::Unavailable
        };
        self.err(kind, e.without_url().to_string())
    }

    /// Generic meaning of an HTTP status when the vendor body said nothing more specific.
    pub fn status(&self, status: StatusCode, headers: &HeaderMap) -> ProviderError {
        let kind = status_kind(status, headers);
        self.err_code(kind, status.as_u16().to_string(), format!("HTTP {status}"))
    }

    pub fn json<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, ProviderError> {
        serde_json::from_slice(body).map_err(|e| {
            self.err(
                ProviderErrorKind::MalformedAnswer,
                format!("unreadable JSON answer ({} bytes): {e}", body.len()),
            )
        })
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        let provider = self.provider.as_str();
        let operation = self.name;
        let outcome = if self.first_error.get().is_some() {
            "error"
        } else {
            "ok"
        };
        metrics::counter!("vendor_requests_total", "provider" => provider, "operation" => operation, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("vendor_request_duration_seconds", "provider" => provider, "operation" => operation)
            .record(self.started.elapsed().as_secs_f64());
        if let Some(kind) = self.first_error.get() {
            metrics::counter!("vendor_errors_total", "provider" => provider, "operation" => operation, "kind" => *kind)
                .increment(1);
        }
    }
}

/// The metrics recorded for vendor calls, with their help text, for the exporter to describe.
pub const METRICS: [(&str, &str); 3] = [
    (
        "vendor_requests_total",
        "Vendor calls by provider, operation and outcome (ok, error)",
    ),
    (
        "vendor_request_duration_seconds",
        "Duration of vendor calls by provider and operation, seconds",
    ),
    (
        "vendor_errors_total",
        "Failed vendor calls by provider, operation and error kind",
    ),
];

pub(crate) fn status_kind(status: StatusCode, headers: &HeaderMap) -> ProviderErrorKind {
    match status.as_u16() {
        401 | 403 => ProviderErrorKind::Auth,
        404 | 410 => ProviderErrorKind::NotFound,
        408 | 504 => ProviderErrorKind::Timeout,
        429 => ProviderErrorKind::RateLimited {
            retry_after: retry_after(headers),
        },
        // Redirects are never followed: an API that redirects is not the API we configured.
        300..=399 => ProviderErrorKind::Unavailable,
        400..=499 => ProviderErrorKind::BadRequest,
        _ => ProviderErrorKind::Unavailable,
    }
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// Reads a body while enforcing `cap`; a body cut short by the peer is a malformed answer.
pub(crate) async fn read_capped(
    op: &Op,
    resp: reqwest::Response,
    cap: u64,
) -> Result<Bytes, ProviderError> {
    if let Some(len) = resp.content_length()
        && len > cap
    {
        return Err(op.err(
            ProviderErrorKind::TooLarge,
            format!("answer of {len} bytes exceeds the {cap} byte cap"),
        ));
    }
    let mut buf = BytesMut::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| op.transport(e))?;
        if (buf.len() + chunk.len()) as u64 > cap {
            return Err(op.err(
                ProviderErrorKind::TooLarge,
                format!("answer exceeds the {cap} byte cap"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// `base` + path segments, each percent-encoded (ids from vendors go into paths).
pub(crate) fn endpoint(op: &Op, base: &Url, segments: &[&str]) -> Result<Url, ProviderError> {
    let mut url = base.clone();
    {
        let mut path = url.path_segments_mut().map_err(|()| {
            op.err(
                ProviderErrorKind::Config,
                "base URL cannot take a path (not http/https?)",
            )
        })?;
        path.pop_if_empty();
        path.extend(segments);
    }
    Ok(url)
}

/// Short, single-line excerpt of a vendor message for logs.
pub(crate) fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(200).collect();
    out.retain(|c| !c.is_control());
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn endpoint_keeps_prefix_and_encodes() {
        let op = Op::new(crate::wscrm_screening::ID, "poll");
        let base = Url::parse("https://h.example/wscrm-bus-api/").unwrap();
        let u = endpoint(&op, &base, &["open", "scan", "queryTaskStatus", "a/b?c"]).unwrap();
        assert_eq!(
            u.as_str(),
            "https://h.example/wscrm-bus-api/open/scan/queryTaskStatus/a%2Fb%3Fc"
        );
    }
}
