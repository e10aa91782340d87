//! One error type for every vendor failure.
//!
//! Adapters translate each vendor's codes into a [`ProviderErrorKind`] (our vocabulary, with a
//! stable [`ProviderErrorKind::code`]); the gateway maps kinds to HTTP answers in one place.
//! `vendor_code` and `message` are for logs only and never carry credentials or unmasked numbers.

use std::fmt;
use std::time::Duration;

use crate::provider_id::ProviderId;

/// What went wrong, in vendor-neutral terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// The vendor refused our credentials or signature, or the account lacks permission.
    Auth,
    /// The paid quota at the vendor is used up.
    QuotaExhausted,
    /// The vendor asks us to slow down; `retry_after` when it said for how long.
    RateLimited { retry_after: Option<Duration> },
    /// The vendor rejected the request as malformed: an adapter or contract problem, never the
    /// caller's to fix.
    BadRequest,
    /// The vendor refused a value the caller chose; `field` names the caller's field when known.
    InvalidInput { field: Option<&'static str> },
    /// Account operations: the cloud-port quota is used up.
    PortQuotaExhausted,
    /// Account operations: the cloud port does not exist (any more) or was released.
    PortReleased,
    /// Account operations: a cloud-PC login needs a pairing target.
    PairingTargetRequired,
    /// The vendor refused the call in the object's current state.
    Conflict,
    /// A business number is not bound to the vendor application (caller-fixable).
    NumberNotBound,
    /// The order, task or endpoint does not exist (or a result link expired).
    NotFound,
    /// The provider cannot answer this request at all (region, checks); nothing was sent.
    Unsupported,
    /// The vendor is down, failing, or unreachable.
    Unavailable,
    /// The vendor did not answer in time.
    Timeout,
    /// The answer could not be understood (bad JSON, truncated body, unexpected file).
    MalformedAnswer,
    /// A result URL pointed outside the vendor's configured hosts, or redirected; not fetched.
    ForbiddenHost,
    /// A result file exceeded the configured size cap.
    TooLarge,
    /// The gateway's own configuration for this vendor is unusable.
    Config,
}

impl ProviderErrorKind {
    /// Stable machine-readable code for problem documents and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Auth => "vendor_auth_failed",
            Self::QuotaExhausted => "vendor_quota_exhausted",
            Self::RateLimited { .. } => "vendor_rate_limited",
            Self::BadRequest => "vendor_rejected_request",
            Self::InvalidInput { .. } => "vendor_rejected_input",
            Self::PortQuotaExhausted => "port_quota_exhausted",
            Self::PortReleased => "session_released",
            Self::PairingTargetRequired => "pairing_target_required",
            Self::Conflict => "vendor_conflict",
            Self::NumberNotBound => "number_not_bound",
            Self::NotFound => "vendor_not_found",
            Self::Unsupported => "unsupported_by_provider",
            Self::Unavailable => "vendor_unavailable",
            Self::Timeout => "vendor_timeout",
            Self::MalformedAnswer => "vendor_malformed_answer",
            Self::ForbiddenHost => "vendor_forbidden_host",
            Self::TooLarge => "vendor_result_too_large",
            Self::Config => "vendor_misconfigured",
        }
    }

    /// Value for a `Retry-After` header, when one is meaningful.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Unavailable | Self::Timeout
        )
    }
}

impl fmt::Display for ProviderErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A failed vendor call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{provider} {operation}: {kind}{}: {message}", vendor_code.as_deref().map(|c| format!(" (vendor code {c})")).unwrap_or_default())]
pub struct ProviderError {
    pub kind: ProviderErrorKind,
    pub provider: ProviderId,
    /// What we were doing, e.g. `submit`, `poll`, `download`.
    pub operation: &'static str,
    /// The vendor's own code or status, when it gave one.
    pub vendor_code: Option<String>,
    /// Detail for logs; masked numbers only, never credentials.
    pub message: String,
}

impl ProviderError {
    pub fn new(
        kind: ProviderErrorKind,
        provider: ProviderId,
        operation: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            provider,
            operation,
            vendor_code: None,
            message: message.into(),
        }
    }

    pub fn with_vendor_code(mut self, code: impl Into<String>) -> Self {
        self.vendor_code = Some(code.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let rl = ProviderErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(rl.retry_after(), Some(Duration::from_secs(3)));
        assert!(rl.is_transient());
        assert!(!ProviderErrorKind::BadRequest.is_transient());
        let e = ProviderError::new(
            ProviderErrorKind::Auth,
            ProviderId::new("vendor_a"),
            "list",
            "signature rejected",
        )
        .with_vendor_code("1003");
        assert_eq!(
            e.to_string(),
            "vendor_a list: vendor_auth_failed (vendor code 1003): signature rejected"
        );
    }
}
