//! The one table from vendor failures to answers: [`ProviderError`] → [`ApiError`] for routes,
//! and [`job_error_message`] for the errors a number-check job reports.
//!
//! Who must act decides the status: a vendor refusing the caller's value is a `4xx` naming the
//! field; a vendor refusing the gateway's own request (our bug or a contract change) is a `500`
//! `vendor_rejected_request`; only a vendor that fails, is slow or answers nonsense is
//! `502`/`503`/`504`. The vendor's own code and message are logged with the request id (the
//! error is the problem's source) and never reach the caller.

use domain::{ProviderError, ProviderErrorKind as K};

use crate::error::{ApiError, ErrorCode, FieldError};

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        let provider = e.provider;
        let (code, detail) = match e.kind {
            K::Auth => (
                ErrorCode::VendorAuthFailed,
                format!("{provider} refused the gateway's credentials"),
            ),
            K::QuotaExhausted => (
                ErrorCode::VendorQuotaExhausted,
                format!("the gateway's quota at {provider} is used up"),
            ),
            K::RateLimited { .. } => (
                ErrorCode::VendorRateLimited,
                format!("{provider} asks the gateway to slow down"),
            ),
            K::BadRequest => (
                ErrorCode::VendorRejectedRequest,
                format!(
                    "{provider} refused the gateway's request; this is the gateway's fault, quote the request id"
                ),
            ),
            K::InvalidInput { field } => {
                let field = field.unwrap_or("request");
                let message = format!("{provider} refused this value");
                return ApiError::validation_with(
                    ErrorCode::VendorRejected,
                    vec![FieldError {
                        field: field.to_owned(),
                        code: "vendor_rejected".to_owned(),
                        message,
                    }],
                )
                .with_extension("provider", provider.as_str())
                .with_source(e);
            }
            K::Unsupported => (
                ErrorCode::VendorRejected,
                format!("{provider} cannot answer this request"),
            ),
            K::NumberNotBound => (
                ErrorCode::NumberNotBound,
                "a number is not bound to the vendor application".to_owned(),
            ),
            K::PortQuotaExhausted => (
                ErrorCode::PortQuotaExhausted,
                "the cloud-port quota is used up; log out or release a session first".to_owned(),
            ),
            K::PortReleased => (
                ErrorCode::SessionReleased,
                "the vendor released this session's cloud port (or does not know the session)"
                    .to_owned(),
            ),
            K::PairingTargetRequired => (
                ErrorCode::PairingTargetRequired,
                "a cloud PC session needs a pairing target listed by GET /v1/pairing-targets"
                    .to_owned(),
            ),
            K::Conflict => (
                ErrorCode::VendorConflict,
                "the vendor refused this in the account's or session's current state".to_owned(),
            ),
            K::NotFound => (
                ErrorCode::NotFound,
                format!("{provider} does not know this object"),
            ),
            K::Unavailable => (
                ErrorCode::VendorUnavailable,
                format!("{provider} is unavailable"),
            ),
            K::Timeout => (
                ErrorCode::VendorTimeout,
                format!("{provider} did not answer in time"),
            ),
            K::MalformedAnswer | K::ForbiddenHost | K::TooLarge => (
                ErrorCode::VendorInvalidAnswer,
                format!("{provider}'s answer could not be used"),
            ),
            K::Config => (
                ErrorCode::Internal,
                "An internal error occurred; quote the request id when reporting it.".to_owned(),
            ),
        };
        let retry_after = e.kind.retry_after();
        let mut error = ApiError::new(code, detail).with_extension("provider", provider.as_str());
        if let Some(retry) = retry_after {
            error = error.with_retry_after(retry.as_secs());
        }
        error.with_source(e)
    }
}

/// What a job's error says about a vendor failure: the kind in words, never the vendor's text
/// (except the refused result host, which is the operator's to fix).
pub fn job_error_message(e: &ProviderError) -> String {
    let provider = e.provider;
    match e.kind {
        K::ForbiddenHost => format!(
            "the result file is not on a configured host of {provider}; it was not downloaded ({})",
            e.message
        ),
        K::Unavailable => format!("{provider} is unavailable"),
        K::Timeout => format!("{provider} did not answer in time"),
        K::RateLimited { .. } => format!("{provider} rate limit reached"),
        K::QuotaExhausted => format!("the quota at {provider} is used up"),
        K::Auth => format!("{provider} refused the gateway's credentials"),
        K::NotFound => format!("{provider} no longer knows this order or its result"),
        K::TooLarge => "the result file exceeds the configured size limit".into(),
        K::MalformedAnswer => format!("{provider}'s answer could not be read"),
        _ => format!("{provider} could not handle the order ({})", e.kind.code()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn answer(kind: K) -> (u16, serde_json::Value) {
        let error = ProviderError::new(
            kind,
            providers::wscrm_accounts::ID,
            "op",
            "vendor said 8613800138000",
        )
        .with_vendor_code("1001");
        let api = ApiError::from(error);
        let problem = serde_json::to_value(api.problem(None)).expect("json");
        (api.code().status().as_u16(), problem)
    }

    /// Every kind, and who must act on it: the caller (4xx), the gateway (500) or the vendor
    /// (502/503/504). No vendor code or vendor text ever reaches the body.
    #[test]
    fn every_kind_has_its_status_and_no_vendor_vocabulary() {
        let table = [
            (K::Auth, 502, "vendor_auth_failed"),
            (K::QuotaExhausted, 429, "vendor_quota_exhausted"),
            (
                K::RateLimited {
                    retry_after: Some(Duration::from_secs(7)),
                },
                429,
                "vendor_rate_limited",
            ),
            (K::BadRequest, 500, "vendor_rejected_request"),
            (
                K::InvalidInput {
                    field: Some("port_type"),
                },
                422,
                "vendor_rejected",
            ),
            (K::Unsupported, 422, "vendor_rejected"),
            (K::NumberNotBound, 422, "number_not_bound"),
            (K::PortQuotaExhausted, 409, "port_quota_exhausted"),
            (K::PortReleased, 410, "session_released"),
            (K::PairingTargetRequired, 422, "pairing_target_required"),
            (K::Conflict, 409, "vendor_conflict"),
            (K::NotFound, 404, "not_found"),
            (K::Unavailable, 503, "vendor_unavailable"),
            (K::Timeout, 504, "vendor_timeout"),
            (K::MalformedAnswer, 502, "vendor_invalid_answer"),
            (K::ForbiddenHost, 502, "vendor_invalid_answer"),
            (K::TooLarge, 502, "vendor_invalid_answer"),
            (K::Config, 500, "internal_error"),
        ];
        for (kind, status, code) in table {
            let (got, problem) = answer(kind);
            assert_eq!(
                (got, problem["code"].as_str()),
                (status, Some(code)),
                "{kind:?}"
            );
            let text = problem.to_string();
            assert!(!text.contains("1001"), "{kind:?}: {text}");
            assert!(!text.contains("vendor said"), "{kind:?}: {text}");
            assert!(problem.get("vendor_code").is_none(), "{kind:?}");
        }
        let (_, problem) = answer(K::InvalidInput {
            field: Some("port_type"),
        });
        assert_eq!(problem["errors"][0]["field"], "port_type");
        let (_, problem) = answer(K::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
        });
        assert_eq!(problem["retry_after"], 7);
    }
}
