//! Logging and tracing setup.
//!
//! Logs: pretty or JSON, with phone numbers masked on their way out. Masking happens in the
//! writer, below every formatter, so no log line can carry a full number whichever code wrote it
//! (a vendor error message, a request path, a debug dump).
//!
//! Traces: OpenTelemetry over OTLP/HTTP when `traces.otlp_endpoint` is set. The request span
//! takes its parent from a W3C `traceparent`; store commands and vendor calls are spans below it
//! (target [`SPAN_TARGET`]), and vendor calls carry `traceparent` on. Those inner spans are seen
//! by the exporter only, never by the log formatter, so with tracing off they cost nothing.

use std::io::{self, Write};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use serde::{Deserialize, Serialize};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogConfig, LogFormat};

/// Target of the spans only the trace exporter sees (store commands, vendor calls).
pub const SPAN_TARGET: &str = "otel";

/// Settings of trace export (`[traces]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracesConfig {
    /// OTLP/HTTP traces URL, e.g. `http://otel-collector:4318/v1/traces`. Absent: no export.
    pub otlp_endpoint: Option<String>,
    pub protocol: OtlpProtocol,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Share of new traces recorded (0.0 ..= 1.0); a caller's sampled `traceparent` is followed.
    pub sample_ratio: f64,
}

impl Default for TracesConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            protocol: OtlpProtocol::HttpProtobuf,
            service_name: "wa-gateway".to_owned(),
            sample_ratio: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OtlpProtocol {
    HttpProtobuf,
    HttpJson,
}

impl TracesConfig {
    /// Checks the section; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Some(endpoint) = &self.otlp_endpoint {
            let url = url::Url::parse(endpoint)
                .map_err(|e| ("traces.otlp_endpoint", format!("not a URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(("traces.otlp_endpoint", "must be http(s)".into()));
            }
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(("traces.sample_ratio", "between 0.0 and 1.0".into()));
        }
        Ok(())
    }
}

/// A span for one unit of background work (a job step, a delivery attempt, a chat action): the
/// root of a trace of its own, whose id it records in its `trace_id` field (declare it
/// `tracing::field::Empty`), so the log lines of that work name a trace as a request's do.
pub fn traced_work(span: tracing::Span) -> tracing::Span {
    use opentelemetry::trace::{TraceContextExt, TraceId};
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let exported = span.context().span().span_context().trace_id();
    let trace_id = if exported == TraceId::INVALID {
        crate::http::trace_context::TraceId::of(None).0
    } else {
        exported.to_string()
    };
    span.record("trace_id", trace_id.as_str());
    span
}

/// Keeps the trace exporter alive; dropping it sends what is still buffered.
#[derive(Debug)]
pub struct TracesGuard(SdkTracerProvider);

impl Drop for TracesGuard {
    fn drop(&mut self) {
        if let Err(error) = self.0.shutdown() {
            eprintln!("trace export did not finish: {error}");
        }
    }
}

/// Installs the global subscriber. Safe to call more than once (later calls are ignored), so
/// tests that build several applications in one process do not fail.
pub fn init(config: &LogConfig, traces: &TracesConfig) -> Option<TracesGuard> {
    let filter = EnvFilter::try_new(&config.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let base = tracing_subscriber::fmt::layer().with_writer(MaskingStdout);
    let logs = match config.format {
        LogFormat::Json => base
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => base.compact().boxed(),
    }
    .with_filter(filter)
    .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
        meta.target() != SPAN_TARGET
    }));
    let provider = traces.otlp_endpoint.as_ref().and_then(|endpoint| {
        match tracer_provider(endpoint, traces) {
            Ok(provider) => Some(provider),
            Err(error) => {
                eprintln!("traces are not exported: {error}");
                None
            }
        }
    });
    let exporter = provider.as_ref().map(|provider| {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("wa-gateway"))
            .with_filter(EnvFilter::new(format!("info,{SPAN_TARGET}=info")))
    });
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(exporter)
        .try_init()
        .is_ok();
    provider.filter(|_| installed).map(TracesGuard)
}

fn tracer_provider(
    endpoint: &str,
    traces: &TracesConfig,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let protocol = match traces.protocol {
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::Protocol::HttpBinary,
        OtlpProtocol::HttpJson => opentelemetry_otlp::Protocol::HttpJson,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(endpoint)
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(traces.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            traces.sample_ratio,
        ))))
        .with_resource(resource)
        .build())
}

/// `MakeWriter` for stdout that masks phone numbers.
#[derive(Debug, Clone, Copy)]
pub struct MaskingStdout;

impl<'a> MakeWriter<'a> for MaskingStdout {
    type Writer = MaskingWriter<io::Stdout>;
    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter {
            inner: io::stdout(),
        }
    }
}

#[derive(Debug)]
pub struct MaskingWriter<W: Write> {
    inner: W,
}

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Formatters hand over one whole line per write, so a number is never split across calls.
        self.inner.write_all(&mask_numbers(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Masks anything that looks like a phone number: `+` (or `%2B`) and 8..=15 digits, or a bare run
/// of 10..=15 digits. The first 3 and last 4 digits stay, so `+919876542323` → `+91******2323`.
pub fn mask_numbers(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let (prefix_len, min_digits) = if input[i] == b'+' {
            (1, 8)
        } else if input[i..].len() >= 3 && input[i..i + 3].eq_ignore_ascii_case(b"%2B") {
            (3, 8)
        } else if input[i].is_ascii_digit() && (i == 0 || !is_word_byte(input[i - 1])) {
            (0, 10)
        } else {
            out.push(input[i]);
            i += 1;
            continue;
        };
        let start = i + prefix_len;
        let mut end = start;
        while end < input.len() && input[end].is_ascii_digit() {
            end += 1;
        }
        let digits = end - start;
        let bounded = end == input.len() || !is_word_byte(input[end]);
        if (min_digits..=15).contains(&digits) && bounded {
            out.extend_from_slice(&input[i..start]);
            let keep_head = 2.min(digits);
            out.extend_from_slice(&input[start..start + keep_head]);
            out.extend(std::iter::repeat_n(b'*', digits - keep_head - 4));
            out.extend_from_slice(&input[end - 4..end]);
            i = end;
        } else if prefix_len == 0 {
            // A digit run that is not a number (too short, too long, part of a word): copy it whole
            // so its tail is not mistaken for a number.
            out.extend_from_slice(&input[i..end.max(i + 1)]);
            i = end.max(i + 1);
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

#[cfg(test)]
mod tests {
    use super::mask_numbers;

    fn mask(s: &str) -> String {
        String::from_utf8(mask_numbers(s.as_bytes())).expect("utf8")
    }

    #[test]
    fn masks_international_numbers() {
        assert_eq!(
            mask("number +919876542323 checked"),
            "number +91******2323 checked"
        );
        assert_eq!(
            mask("/v1/numbers/%2B14155550123"),
            "/v1/numbers/%2B14*****0123"
        );
        assert_eq!(
            mask(r#"{"n":"91182716322323"}"#),
            r#"{"n":"91********2323"}"#
        );
    }

    #[test]
    fn leaves_other_digits_alone() {
        for s in [
            "latency 1234 ms",
            "id 8639164839053938688 stays",
            "2026-11-22T02:10:44.123456Z",
            "order 330e6b1c1dd62662d0474de6f0003288",
            "v1.2.3",
            "uuid 0192f0a4-6f7c-7a39-9b1e-2b7c8f1f4d21",
        ] {
            assert_eq!(mask(s), s);
        }
    }
}
