//! Cross-cutting HTTP machinery: request ids, metrics, rate limits, idempotency, error rendering
//! of extractor failures, the 404/405 fallback, and the one page shape of every list.

pub mod body;
pub mod extractors;
pub mod fallback;
pub mod idempotency;
pub mod metrics;
pub mod owned;
pub mod page;
pub mod rate_limit;
pub mod request_id;
pub mod trace_context;
