//! Cross-cutting HTTP machinery: request ids, metrics, rate limits, idempotency, error rendering
//! of extractor failures, and the 404/405 fallback.

pub mod body;
pub mod extractors;
pub mod fallback;
pub mod idempotency;
pub mod metrics;
pub mod owned;
pub mod rate_limit;
pub mod request_id;
pub mod trace_context;
